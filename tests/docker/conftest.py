"""The Docker end-to-end tests' engine and images (make docker-test; `make test` and CI run them too).

An engine that answers is used as it is; otherwise docker/engine.sh starts one (root, Debian's docker.io) and
stops it when the session ends. The images are built from the checkout on the official Python base, or on the
stand-in docker/base-image.sh makes where no registry is reachable. Without an engine these tests fail with
one line saying why: they never skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.docker.harness import (
    DEFAULT_IMAGE,
    FULL_IMAGE,
    Docker,
    DockerError,
    base_image,
    build_image,
    dangling_images,
    dangling_to_keep,
    remove_dangling,
    start_engine,
    stop_engine,
)


def _objects(docker: Docker) -> dict[str, set[str]]:
    return {kind: set(docker.docker(kind, "ls", *(["-a"] if kind == "container" else []), "-q").stdout.split())
            for kind in ("container", "volume", "network")}


@pytest.fixture(scope="session")
def engine() -> Iterator[Docker]:
    """The engine; when the session ends, no container, volume, network or dangling image the tests made is left
    on it (on the tests' own engine, no dangling image at all), and a daemon the session started is stopped."""
    try:
        docker = start_engine()
    except DockerError as exc:
        pytest.fail(f"no Docker engine: {exc}", pytrace=False)
    before = _objects(docker)
    kept = dangling_to_keep(docker)
    yield docker
    remove_dangling(docker, kept)
    left = {kind: sorted(ids - before[kind]) for kind, ids in _objects(docker).items()}
    left["dangling image"] = sorted(dangling_images(docker) - kept)
    stop_engine(docker)
    assert left == {"container": [], "volume": [], "network": [], "dangling image": []}


@pytest.fixture(scope="session")
def base(engine: Docker) -> str:
    try:
        return base_image(engine)
    except DockerError as exc:
        pytest.fail(f"no base image: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def image(engine: Docker, base: str) -> str:
    """The default image, built from the checkout exactly as docs/deployment.md says."""
    try:
        build_image(engine, DEFAULT_IMAGE, base)
    except DockerError as exc:
        pytest.fail(f"building the default image failed: {exc}", pytrace=False)
    return DEFAULT_IMAGE


@pytest.fixture(scope="session")
def full_image(engine: Docker, base: str, image: str) -> str:
    try:
        build_image(engine, FULL_IMAGE, base, variant="full")
    except DockerError as exc:
        pytest.fail(f"building the full image failed: {exc}", pytrace=False)
    return FULL_IMAGE
