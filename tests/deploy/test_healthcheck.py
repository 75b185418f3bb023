"""The compose healthcheck against a keyed server (issue 14's d12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import free_port
from tests.helpers import ROOT, serve

pytestmark = pytest.mark.multiprocess


def test_d12_the_compose_healthcheck_passes_against_a_keyed_server(index: Path):
    import os
    import signal

    import httpx
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["api"]["healthcheck"]["test"]
    assert command[0] == "CMD"
    port = free_port()
    proc = serve(index, port, env={"CLIR_API_KEY": "s3cret"})
    try:
        probe = [sys.executable if part == "python" else part.replace("8000", str(port)) for part in command[1:]]
        assert subprocess.run(probe, timeout=30).returncode == 0
        assert httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).status_code == 401
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

