"""What the benchmarks share: ports, a server to time, clients that add little of their own, percentiles.

Run any benchmark from the repository root as a module: `python -m bench.NAME ...`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

# Idle time before each timed call when variants alternate, so none runs in the wake of another's work.
IDLE_GAP_S = 0.01


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of durations in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(values) * 1000, q))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, port: int, extra_env: dict[str, str] | None = None, checkout: Path | None = None,
                 flags: tuple[str, ...] = (), ready: str = "/ready", timeout: float = 300) -> subprocess.Popen:
    """`clir serve` on loopback, returned once `ready` answers 200; from another source tree when `checkout`
    is given."""
    env = {**os.environ, **(extra_env or {}), **({"PYTHONPATH": str(checkout)} if checkout else {})}
    # checkouts from before the layering refactor had the command line in clir/cli.py
    module = "clir.cli" if checkout and not (Path(checkout) / "cli" / "main.py").is_file() else "cli.main"
    proc = subprocess.Popen([sys.executable, "-m", module, "serve", "--index", str(Path(index).resolve()),
                             "--port", str(port), *flags], env=env, cwd=checkout, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, and wait for a clean exit."""
    proc.terminate()
    proc.wait(timeout=60)


class RawHTTP:
    """HTTP/1.1 POST on one keep-alive socket: the request bytes are written at once and the reply is
    read by its Content-Length, with no header objects or parsing beyond that."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = f"{host}:{port}".encode()
        self.buffer = b""

    def post(self, path: str, data: bytes) -> tuple[int, bytes]:
        head = (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (path.encode(), self.host, len(data)))
        self.sock.sendall(head + data)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        header, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = header.split(b"\r\n")
        fields = dict(line.split(b":", 1) for line in lines[1:])
        length = {k.strip().lower(): v for k, v in fields.items()}.get(b"content-length")
        if length is None:
            raise SystemExit(f"POST {path}: reply without Content-Length: {header[:200]!r}")
        while len(self.buffer) < int(length):
            self._fill()
        body, self.buffer = self.buffer[: int(length)], self.buffer[int(length):]
        return int(lines[0].split()[1]), body

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise SystemExit("server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


class Client:
    """POST JSON over one keep-alive connection: a raw socket (default), http.client or httpx."""

    def __init__(self, base: str, kind: str = "raw") -> None:
        host, port = base.removeprefix("http://").split(":")
        self.kind = kind
        self.conn = http.client.HTTPConnection(host, int(port), timeout=300) if kind == "stdlib" else None
        self.httpx = httpx.Client(base_url=base, timeout=300) if kind == "httpx" else None
        self.raw = RawHTTP(host, int(port)) if kind == "raw" else None

    def post(self, path: str, body: dict) -> bytes:
        if self.httpx is not None:
            return self.httpx.post(path, json=body).raise_for_status().content
        if self.raw is not None:
            status, data = self.raw.post(path, json.dumps(body).encode())
            if status != 200:
                raise SystemExit(f"POST {path}: HTTP {status}: {data[:300]!r}")
            return data
        assert self.conn is not None  # kind == "stdlib"
        self.conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"POST {path}: HTTP {response.status}: {data[:300]!r}")
        return data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.httpx is not None:
            self.httpx.close()
        if self.raw is not None:
            self.raw.close()


