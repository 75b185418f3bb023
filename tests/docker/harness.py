"""Driving a real Docker engine from the tests and bench/bench_docker.py: the engine (docker/engine.sh),
the base image (docker/base-image.sh), image builds, compose projects, health and HTTP waits.

Every helper fails with one line naming what went wrong (the command, its exit code and the last line it
printed), never with a bare CalledProcessError.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "docker" / "engine.sh"
BASE_IMAGE = ROOT / "docker" / "base-image.sh"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# the images the tests build; kept (a later run reuses their layers), while the builder stages and the images a
# rebuild replaces are removed when the session ends (see dangling_images)
DEFAULT_IMAGE = "clir-test:default"
FULL_IMAGE = "clir-test:full"


class DockerError(RuntimeError):
    """A docker command failed: one line."""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""


@dataclass
class Docker:
    """A Docker engine: its DOCKER_HOST, and whether this process started it (and so stops it)."""

    host: str
    started: bool
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True, timeout: float = 600, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(args), env={**os.environ, **self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, input=input)
        if check and done.returncode != 0:
            raise DockerError(f"{' '.join(args[:4])} ... exited {done.returncode}: "
                              f"{_last_line(done.stderr) or _last_line(done.stdout)}")
        return done

    def docker(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run("docker", *args, **kwargs)  # type: ignore[arg-type]

    def inspect(self, container: str, fmt: str) -> str:
        return self.docker("inspect", "-f", fmt, container).stdout.strip()

    def image_size(self, image: str) -> int:
        return int(self.docker("image", "inspect", "-f", "{{.Size}}", image).stdout.strip())

    def wait_healthy(self, container: str, timeout: float) -> float:
        """Seconds until Docker reports the container healthy (its HEALTHCHECK); DockerError when it
        exits or is not healthy in time."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            state = self.inspect(container, "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
            if state.endswith("healthy") and not state.endswith("unhealthy"):
                return time.monotonic() - start
            if state.startswith(("exited", "dead")):
                logs = self.docker("logs", "--tail", "5", container, check=False)
                raise DockerError(f"{container} exited before it was healthy: "
                                  f"{_last_line(logs.stderr) or _last_line(logs.stdout)}")
            time.sleep(0.5)
        raise DockerError(f"{container} was not healthy within {timeout:.0f} s")


def _engine_dir() -> Path:
    """Where docker/engine.sh keeps the daemon it starts (its default, or CLIR_DOCKER_DIR)."""
    return Path(os.environ.get("CLIR_DOCKER_DIR", "/var/tmp/clir-docker"))


def start_engine() -> Docker:
    """An engine that answers (docker/engine.sh start: the one configured, or a daemon it starts)."""
    done = subprocess.run([str(ENGINE), "start"], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise DockerError(_last_line(done.stderr) or f"docker/engine.sh start exited {done.returncode}")
    host = done.stdout.strip().splitlines()[-1].split("=", 1)[1]
    started = (_engine_dir() / "started.pid").is_file()
    return Docker(host=host, started=started, env={"DOCKER_HOST": host})


def stop_engine(engine: Docker) -> None:
    if engine.started:
        done = subprocess.run([str(ENGINE), "stop"], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise DockerError(_last_line(done.stderr))


def private_engine(engine: Docker) -> bool:
    """Whether this is the daemon docker/engine.sh starts for the tests (not a user's engine)."""
    return engine.host == f"unix://{_engine_dir() / 'docker.sock'}"


def dangling_images(engine: Docker) -> set[str]:
    """The untagged images nothing builds on. Each multi-stage build leaves its builder stage behind this way
    (0.8 GB default, 1.9 GB full), and a rebuild leaves the image it replaced: runs that keep them fill the disk."""
    return set(engine.docker("image", "ls", "-q", "--no-trunc", "-f", "dangling=true").stdout.split())


def dangling_to_keep(engine: Docker) -> set[str]:
    """At the start of a run, the dangling images it must leave: on the tests' own engine none, every image there
    being the tests' (an earlier run's are removed now, before the builds need the space); on a user's engine,
    those already there."""
    if not private_engine(engine):
        return dangling_images(engine)
    remove_dangling(engine, set())
    return set()


def remove_dangling(engine: Docker, keep: set[str]) -> None:
    """Remove the dangling images not in keep (those that were there before, on an engine that is not the tests').
    One a container still uses (a crashed run's) stays: callers check what is left."""
    gone = sorted(dangling_images(engine) - keep)
    if gone:
        engine.docker("rmi", *gone, timeout=900, check=False)


def base_image(engine: Docker) -> str:
    """The official Python base, or the stand-in docker/base-image.sh builds where it cannot be pulled."""
    return engine.run(str(BASE_IMAGE), timeout=900).stdout.strip().splitlines()[-1]


def _torch_wheels() -> Path | None:
    """The folder pip on this machine finds torch's CPU wheel in (its find-links setting), if any."""
    done = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True)
    for value in re.findall(r"find-links='([^']+)'", done.stdout):
        folder = Path(value.split()[0])
        if folder.is_dir() and any(folder.glob("torch-*.whl")):
            return folder
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


# A fixed port where it is free: the URL is a build argument, and a new one would miss the build cache.
WHEEL_PORT = 38471


@contextmanager
def served_folder(folder: Path) -> Iterator[str]:
    """A folder served over HTTP on loopback (for a --network host build): its URL."""
    handler = partial(_QuietHandler, directory=str(folder))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", WHEEL_PORT), handler)
    except OSError:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def build_image(engine: Docker, tag: str, base: str, variant: str = "default", extra: Sequence[str] = ()) -> float:
    """`docker build` of the checkout as documented for offline machines (legacy builder, host network);
    the full variant takes torch's CPU wheel from this machine's pip folder when it has one. Seconds."""
    args = ["build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, *extra]
    if variant != "default":
        args += ["--build-arg", f"VARIANT={variant}"]
    wheels = _torch_wheels() if variant == "full" else None
    start = time.monotonic()
    with served_folder(wheels) if wheels else _nothing() as url:
        if url:
            args += ["--build-arg", f"TORCH_PIP=--find-links {url}"]
        engine.docker(*args, str(ROOT), env={"DOCKER_BUILDKIT": "0"}, timeout=1800)
    return time.monotonic() - start


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the plugin is installed, else Debian's docker-compose 1.29."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise DockerError("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")


@dataclass
class Compose:
    """One compose project over the repository's docker-compose.yml, with its own variables."""

    engine: Docker
    project: str
    variables: dict[str, str]

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.engine.run(*compose_command(), "-f", str(COMPOSE_FILE), "-p", self.project, *args,
                               check=check, timeout=timeout, env=self.variables)

    def container(self, service: str) -> str:
        ids = self("ps", "-q", service).stdout.split()
        if not ids:
            raise DockerError(f"no container for the service {service!r}")
        return ids[0]

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks of this project still on the engine."""
        label = f"label=com.docker.compose.project={self.project}"
        return {kind: self.engine.docker(kind, "ls", *(["-a"] if kind == "container" else []), "-q", "--filter",
                                         label).stdout.split()
                for kind in ("container", "volume", "network")}


def wait_http(url: str, timeout: float, headers: dict[str, str] | None = None) -> float:
    """Seconds until `url` answers 200."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise DockerError(f"{url} did not answer 200 within {timeout:.0f} s")


def container_names(engine: Docker, prefix: str) -> Sequence[str]:
    return engine.docker("ps", "-a", "--format", "{{.Names}}", "--filter", f"name={prefix}").stdout.split()
