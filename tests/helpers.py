"""Small helpers shared by several test modules."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.common import start_server  # one definition of each: the benchmarks'

ROOT = Path(__file__).resolve().parents[1]  # the repository
FIXTURES = ROOT / "tests" / "fixtures"


def assert_one_line_error(done: subprocess.CompletedProcess, fragment: str) -> None:
    """A CLI failure as users should see it: exit code 2 and one stderr line naming the problem."""
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0]


def assert_error(response, status: int, code: str, field: str | None = None) -> str:
    """The one error body of the HTTP API (app/errors.py), exactly; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"] and "\n" not in error["message"]
    if field is not None:
        assert error["field"] is not None and field in error["field"].split("."), body
    return error["message"]


def serve(index, port: int, *flags: str, env: dict | None = None) -> subprocess.Popen:
    """`clir serve` in a subprocess on loopback, returned once /health answers (checksums skipped)."""
    return start_server(index, port, {"CLIR_VERIFY_CHECKSUMS": "false", **(env or {})}, flags=flags, ready="/health",
                        timeout=120)


def post_search_scope(*headers: tuple[bytes, bytes]) -> dict:
    """The ASGI scope of a `POST /search` from loopback with these headers, for driving the app directly."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/search", "raw_path": b"/search", "root_path": "", "query_string": b"",
            "headers": [(b"content-type", b"application/json"), *headers],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
