"""Small helpers shared by several test modules."""

from __future__ import annotations

import socket
import subprocess


def assert_one_line_error(done: subprocess.CompletedProcess, fragment: str) -> None:
    """A CLI failure as users should see it: exit code 2 and one stderr line naming the problem."""
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
