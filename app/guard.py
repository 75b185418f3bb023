"""Pure-ASGI middleware: API key, request-size limit and request metrics.

Written against ASGI directly rather than as a BaseHTTPMiddleware, which wraps every response in an
extra task and stream and costs a millisecond or more per request.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from app.errors import error_body
from app.metrics import Metrics

OPEN_PATHS = {"/health"}
Scope = dict[str, Any]


class BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    def __init__(self, app: Any, *, api_key: str | None, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
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
        finally:
            # The route template (/documents/{doc_id}) keeps the label set small; unknown paths share one.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(f"{scope['method']} {route}", status["code"], time.perf_counter() - start)

    def _reject(self, scope: Scope) -> tuple[int, str] | None:
        headers = dict(scope["headers"])
        if (self.api_key and scope["path"] not in OPEN_PATHS
                and not secrets.compare_digest(headers.get(b"x-api-key", b""), self.api_key)):
            return 401, "missing or invalid X-API-Key header"
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            return 413, f"request body over {self.max_body} bytes"
        return None

    def _limited(self, receive: Any) -> Any:
        """Count streamed (chunked) bodies too: a missing Content-Length must not bypass the limit."""
        seen = 0

        async def wrapped() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge
            return message

        return wrapped

    @staticmethod
    async def _reply(send: Any, status: int, message: str) -> None:
        body = error_body(status, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
