#!/bin/sh
# The Python base image to build on: prints its name.
#
#   docker/base-image.sh [IMAGE]     (default python:3.11-slim-bookworm, the Dockerfile's PYTHON_IMAGE)
#
# It uses IMAGE when the engine has it or can pull it. Where no registry is reachable, it builds a stand-in
# with the same Python (Debian bookworm's 3.11) from Debian's packages with debootstrap, once: the image
# standin/IMAGE. The stand-in carries this machine's CA bundle and resolver configuration, so pip inside a
# build reaches the same package index this machine does (through the same TLS proxy, if any).
# Any failure is one line on stderr and exit code 1.
set -eu

IMAGE="${1:-python:3.11-slim-bookworm}"
STANDIN="standin/$IMAGE"

fail() {
    echo "docker/base-image.sh: $*" >&2
    exit 1
}

if docker image inspect "$IMAGE" >/dev/null 2>&1 || timeout 120 docker pull -q "$IMAGE" >/dev/null 2>&1; then
    echo "$IMAGE"
    exit 0
fi
if docker image inspect "$STANDIN" >/dev/null 2>&1; then
    echo "$STANDIN"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || fail "$IMAGE cannot be pulled and debootstrap is missing (apt-get install debootstrap)"
[ "$(id -u)" = 0 ] || fail "$IMAGE cannot be pulled, and building a stand-in with debootstrap needs root"
CA="$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "")')"
[ -n "$CA" ] && [ -f "$CA" ] || CA=/etc/ssl/certs/ca-certificates.crt
ROOT="$(mktemp -d "${TMPDIR:-/tmp}/clir-base.XXXXXX")"
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$ROOT" >"$ROOT.log" 2>&1 || fail "debootstrap failed (see $ROOT.log)"
rm -f "$ROOT.log"
# what Debian's slim images leave out too: package lists and caches, documentation, translations
rm -rf "$ROOT"/var/cache/apt/* "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* \
    "$ROOT"/usr/share/locale/* "$ROOT"/var/log/*
mkdir -p "$ROOT$(dirname "$CA")"
cp "$CA" "$ROOT$CA"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
tar -C "$ROOT" -c . | docker import \
    --change "ENV PIP_CERT=$CA" --change "ENV LANG=C.UTF-8" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'CMD ["python3"]' - "$STANDIN" >/dev/null || fail "docker import of the stand-in failed"
echo "$STANDIN"
