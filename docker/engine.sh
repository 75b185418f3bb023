#!/bin/sh
# A Docker engine for the end-to-end tests (make docker-test) on a machine where none runs.
#
#   docker/engine.sh start   print DOCKER_HOST=... of an engine that answers: the one DOCKER_HOST (or the
#                            default socket) names, else a daemon started here under $CLIR_DOCKER_DIR
#   docker/engine.sh stop    stop the daemon `start` started (nothing when it started none)
#
# The daemon adds no iptables rules (published ports go through Docker's userland proxy); its default bridge
# (docker0, so that a plain `docker run -p` works) is removed again by `stop`. Starting one needs root and
# Debian's docker.io (installed here when apt-get can).
# Any failure is one line on stderr and exit code 1.
set -eu

DIR="${CLIR_DOCKER_DIR:-/var/tmp/clir-docker}"
SOCK="$DIR/docker.sock"

fail() {
    echo "docker/engine.sh: $*" >&2
    exit 1
}

answers() {
    DOCKER_HOST="$1" timeout 10 docker info >/dev/null 2>&1
}

install_packages() {
    missing=""
    command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing="$missing docker-compose"
    command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        fail "no Docker engine answers and$missing are missing: install them (apt-get install$missing) or start an engine and set DOCKER_HOST"
    fi
    log="$DIR/apt.log"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; } \
        >"$log" 2>&1 || fail "apt-get install$missing failed (see $log)"
}

start() {
    for host in "${DOCKER_HOST:-}" "unix:///var/run/docker.sock" "unix://$SOCK"; do
        if [ -n "$host" ] && answers "$host"; then
            echo "DOCKER_HOST=$host"
            return 0
        fi
    done
    mkdir -p "$DIR"
    install_packages
    [ "$(id -u)" = 0 ] || fail "no Docker engine answers, and starting one needs root (or set DOCKER_HOST to one)"
    rm -f "$SOCK" "$DIR/dockerd.pid" "$DIR/made-docker0"
    ip link show docker0 >/dev/null 2>&1 || touch "$DIR/made-docker0"
    # setsid: the daemon outlives this shell (and the test process that called it) until `stop`
    setsid dockerd --iptables=false --ip6tables=false \
        --data-root "$DIR/root" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
        -H "unix://$SOCK" >"$DIR/dockerd.log" 2>&1 </dev/null &
    echo $! >"$DIR/started.pid"
    tries=0
    until answers "unix://$SOCK"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 60 ] || ! kill -0 "$(cat "$DIR/started.pid")" 2>/dev/null; then
            fail "dockerd did not answer within 60 s: $(tail -n 1 "$DIR/dockerd.log")"
        fi
        sleep 1
    done
    echo "DOCKER_HOST=unix://$SOCK"
}

stop() {
    [ -f "$DIR/started.pid" ] || return 0
    pid="$(cat "$DIR/started.pid")"
    rm -f "$DIR/started.pid"
    kill "$pid" 2>/dev/null || return 0
    tries=0
    while kill -0 "$pid" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -gt 30 ] && fail "dockerd (pid $pid) did not stop within 30 s"
        sleep 1
    done
    if [ -f "$DIR/made-docker0" ]; then
        rm -f "$DIR/made-docker0"
        ip link delete docker0 2>/dev/null || true
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) fail "usage: docker/engine.sh start|stop" ;;
esac
