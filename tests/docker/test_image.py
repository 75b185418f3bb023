"""The image, run as a user runs it: `docker run -p 8000:8000 clir` serves the bundled sample, as the
non-root user; what the container cannot write gets one line naming the path and the fix; the full variant
carries torch, sentence-transformers and transformers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from bench.common import free_port
from tests.docker.harness import Docker

pytestmark = pytest.mark.docker

# The one-liner builds the sample index (240 passages) before serving: about 25 s on 2 cores
# (docs/deployment.md); the bound leaves room for a slower machine.
HEALTHY_WITHIN_S = 180
QUERY = "Take the elevator to the fifth floor."  # tatoeba-eng-13: its French translation is tatoeba-fra-13
FRENCH = "tatoeba-fra-13"


def _one_line(done, fragment: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and fragment in lines[0], (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    return lines[0]


def test_docker_run_serves_the_sample(engine: Docker, image: str):
    name = f"clir-test-run-{uuid.uuid4().hex[:8]}"
    port = free_port()
    engine.docker("run", "-d", "--name", name, "-p", f"{port}:8000", image)
    try:
        engine.wait_healthy(name, HEALTHY_WITHIN_S)
        assert engine.inspect(name, "{{.Config.User}}") == "clir"
        r = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": QUERY, "k": 3}, timeout=30)
        assert r.status_code == 200, r.text
        hit = r.json()["hits"][0]
        assert hit["id"] == FRENCH and hit["lang"] == "fr"
        stats = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=30).json()
        assert stats["documents"] == 240 and stats["index"] == "current"
        logs = engine.docker("logs", name)
        assert "indexed 240 documents into /index/current" in logs.stdout, logs.stdout + logs.stderr
    finally:
        engine.docker("rm", "-f", "-v", name)  # -v: the anonymous /index, /models and /runs volumes too
    assert name not in engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_what_the_container_cannot_write_is_one_line(engine: Docker, image: str, tmp_path: Path):
    # the volume's mount point itself: it cannot be replaced by a rename
    done = engine.docker("run", "--rm", "-e", "CLIR_INDEX=/index", image, "index", check=False)
    assert "/index is a mount point" in _one_line(done, "use a folder inside it (e.g. /index/current)")
    # a host folder the image's user (10001) may not write
    host = tmp_path / "root-owned"
    host.mkdir()
    os.chmod(host, 0o755)
    done = engine.docker("run", "--rm", "-v", f"{host}:/data", "-e", "CLIR_INDEX=/data/index", image, "index",
                         check=False)
    _one_line(done, "cannot write to /data (user id 10001)")
    assert not any(host.iterdir())


def test_the_full_variant_carries_the_optional_encoders(engine: Docker, full_image: str, image: str):
    done = engine.docker("run", "--rm", "--entrypoint", "python", full_image, "-c",
                         "import torch, sentence_transformers, transformers; print(torch.__version__)")
    assert done.stdout.strip().endswith("+cpu"), done.stdout
    slim = engine.docker("run", "--rm", "--entrypoint", "python", image, "-c",
                         "import importlib.util as u; print([m for m in ('torch', 'transformers', "
                         "'sentence_transformers', 'pip') if u.find_spec(m)])")
    assert slim.stdout.strip() == "[]"
    assert engine.inspect(full_image, '{{index .Config.Labels "org.clir.variant"}}') == "full"
