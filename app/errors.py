"""The one error body of the HTTP API, for every 4xx and 5xx from every layer:

    {"error": {"code": "invalid_request", "message": "k: Input should be greater than or equal to 1", "field": "k"}}

`code` is stable and machine-readable (one per status, below); `message` is one line naming the field
when there is one; `field` is the dotted path of the (first) offending field in the body or query
string, else null. Validation (pydantic), service checks, 401, 404, 405, 413, 503 and unexpected
failures (500) all answer in this shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

log = logging.getLogger("clir.app")

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         408: "request_timeout", 413: "payload_too_large", 422: "invalid_request", 500: "internal_error",
         503: "unavailable"}
RETRY_AFTER_S = 1


class Overloaded(Exception):
    """More requests are admitted than the service takes at once: 503 with Retry-After."""


class QueryError(ValueError):
    """A request that passed schema validation but cannot be served; becomes a 422 naming `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def error_body(status: int, message: str, field: str | None = None) -> bytes:
    code = CODES.get(status, "client_error" if status < 500 else "server_error")
    return orjson.dumps({"error": {"code": code, "message": message, "field": field}})


def error_response(status: int, message: str, field: str | None = None) -> Response:
    return Response(error_body(status, message, field), status_code=status, media_type="application/json")


def _field(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """("body", "queries", 0, "query") -> "queries.0.query"; the body or query string itself -> None."""
    return ".".join(str(p) for p in loc[1:]) or None


def validation_error_response(exc: RequestValidationError) -> Response:
    errors = exc.errors()
    message = "; ".join(f"{_field(e['loc']) or e['loc'][0]}: {e['msg']}" for e in errors)
    return error_response(422, " ".join(message.split()), _field(errors[0]["loc"]) if errors else None)


def overloaded_response(exc: Overloaded) -> Response:
    response = error_response(503, str(exc))
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def query_error_response(exc: QueryError) -> Response:
    return error_response(422, f"{exc.field}: {exc}", exc.field)


def _leaves(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves: FastAPI (0.16x) keeps an included router as one entry (no prefix here)."""
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            yield from _leaves(inner)
        else:
            yield route


def _methods(app: FastAPI, request: Request) -> set[str]:
    """The methods the request's path allows here (not those a read-only server refuses: `app.state.refused`,
    (path, method) pairs)."""
    methods: set[str] = set()
    refused: set[tuple[str, str]] = getattr(app.state, "refused", set())
    for route in _leaves(app.router.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            path = getattr(route, "path", "")
            methods |= {m for m in getattr(route, "methods", None) or () if (path, m) not in refused}
    return methods - {"HEAD"} | ({"POST"} if request.url.path == "/search" else set())


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError) -> Response:
        return query_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return validation_error_response(exc)

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> Response:
        return overloaded_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        response = error_response(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # the route that answered knows only its own methods: name every route's
            response.headers["Allow"] = ", ".join(sorted(_methods(app, request)))
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")
