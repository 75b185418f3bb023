"""Pure-ASGI middleware: API key, request-size limit and request metrics.

Written against ASGI directly rather than as a BaseHTTPMiddleware, which wraps every response in an
extra task and stream and costs a millisecond or more per request.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from app.errors import error_body
from app.metrics import Metrics

# liveness and readiness carry no data: probes (a compose healthcheck) need no key; nor does the search
# page (/ and its files under /static/), which holds no data either: its own API calls carry the key
OPEN_PATHS = {"/health", "/ready", "/"}
OPEN_PREFIX = "/static/"
WRITE_METHODS = {"PUT", "POST", "DELETE", "PATCH"}
# TestClient reports "testclient" as its address: in-process, like loopback
LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
Scope = dict[str, Any]


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


def is_write(scope: Scope) -> bool:
    """Document writes and admin calls: the requests the admin key (or loopback) guards."""
    path, method = scope["path"], scope["method"]
    return path.startswith("/admin/") or (path.startswith("/documents") and method in WRITE_METHODS)


def is_open(path: str) -> bool:
    """Paths served without the read key."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIX)


class GuardMiddleware:
    """Reads need the read key (CLIR_API_KEY) or the admin key when a read key is set. Writes and admin
    calls need the admin key (CLIR_ADMIN_KEY) when one is set; without one they are taken from loopback
    addresses only, unless CLIR_ALLOW_REMOTE_WRITES."""

    def __init__(self, app: Any, *, api_key: str | None, admin_key: str | None, allow_remote_writes: bool,
                 max_body_bytes: int, body_timeout_s: float, metrics: Metrics) -> None:
        self.body_timeout = body_timeout_s
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.admin_key = admin_key.encode() if admin_key else None
        self.allow_remote_writes = allow_remote_writes
        self.max_body = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            rejection = self._reject(scope)
            if rejection is not None:
                await self._reply(send_status, *rejection)
            else:
                await self.app(scope, self._limited(receive), send_status)
        except BodyTooLarge:
            await self._reply(send_status, 413, f"request body over {self.max_body} bytes")
        except BodyTimeout:  # a client holding a connection with half a body
            await self._reply(send_status, 408, f"request body not received within {self.body_timeout:g} s")
        finally:
            # The route template (/documents/{doc_id}) keeps the label set small; unknown paths share one,
            # the page's files (a mount: no route) another.
            route = getattr(scope.get("route"), "path", None) or (
                "/static" if scope["path"].startswith(OPEN_PREFIX) else "unmatched")
            self.metrics.observe(f"{scope['method']} {route}", status["code"], time.perf_counter() - start)

    def _reject(self, scope: Scope) -> tuple[int, str] | None:
        headers = dict(scope["headers"])
        key = headers.get(b"x-api-key", b"")
        admin = self.admin_key is not None and secrets.compare_digest(key, self.admin_key)
        if is_write(scope):
            if self.admin_key is not None and not admin:
                return 401, "writes and admin calls need the admin key in the X-API-Key header"
            host = (scope.get("client") or ("", 0))[0]
            if self.admin_key is None and not self.allow_remote_writes and host not in LOOPBACK:
                return 403, ("writes are taken from loopback only: set CLIR_ADMIN_KEY (or "
                             "CLIR_ALLOW_REMOTE_WRITES=true) to take them from other addresses")
        elif (self.api_key and not is_open(scope["path"]) and not admin
              and not secrets.compare_digest(key, self.api_key)):
            return 401, "missing or invalid X-API-Key header"
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            return 413, f"request body over {self.max_body} bytes"
        return None

    def _limited(self, receive: Any) -> Any:
        """Count streamed (chunked) bodies too: a missing Content-Length must not bypass the limit. The
        whole body must arrive within body_timeout_s; after it, receive waits as long as the app likes
        (for a disconnect)."""
        seen = 0
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        complete = False

        async def wrapped() -> dict:
            nonlocal seen, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except asyncio.TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        return wrapped

    @staticmethod
    async def _reply(send: Any, status: int, message: str) -> None:
        body = error_body(status, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
