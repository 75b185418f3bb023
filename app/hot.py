"""POST /search, served straight from ASGI in front of FastAPI's router: the endpoint's only
implementation.

The service's budget over raw query encoding is a few milliseconds, and FastAPI's generic path to an
endpoint (route matching, dependency solving, Request/Response wrappers) cost ~0.5 ms of it (see
docs/benchmarks.md). This layer reads the body, parses it with pydantic in one step, calls the service
and renders the response; `openapi_route` describes it in /openapi.json like any route, without
serving it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.bodies import json_response, parse_body, request_body
from app.errors import (
    Overloaded,
    QueryError,
    error_response,
    overloaded_response,
    query_error_response,
    validation_error_response,
)
from app.schemas import ErrorOut, SearchRequest, SearchResponse
from app.service import SearchService

PATH = "/search"
# what GuardMiddleware labels the request's metrics with (the matched route's path)
ROUTE = SimpleNamespace(path=PATH)
ALLOW = "GET, POST"  # GET /search is the router's quick form


async def search_response(service: SearchService, raw_body: bytes) -> Response:
    """POST /search from the raw body to the response, errors included."""
    try:
        body = parse_body(SearchRequest, raw_body)
        return json_response(await service.offload(service.search, body.query, body))
    except RequestValidationError as exc:
        return validation_error_response(exc)
    except QueryError as exc:
        return query_error_response(exc)
    except Overloaded as exc:
        return overloaded_response(exc)


def openapi_route() -> APIRoute:
    """POST /search as OpenAPI describes it (never added to the router: HotSearch serves it)."""

    async def search() -> None:  # pragma: no cover - documentation only
        raise NotImplementedError

    return APIRoute(PATH, search, methods=["POST"], response_model=SearchResponse, summary="Search with one query",
                    openapi_extra=request_body(SearchRequest),
                    responses={code: {"model": ErrorOut} for code in (401, 408, 413, 422, 503)})


class HotSearch:
    def __init__(self, app: Any, *, service: SearchService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _route_path(scope) != PATH or scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        scope["route"] = ROUTE
        if scope["method"] != "POST":  # the router alone knows only GET here: Allow names both
            response = error_response(405, "Method Not Allowed")
            response.headers["Allow"] = ALLOW
            await response(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before sending its body: nobody to answer
        response = await search_response(self.service, body)
        await response(scope, receive, send)


def _route_path(scope: dict[str, Any]) -> str:
    """The path below the app's mount point, as Starlette's router matches it."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


async def _read_body(receive: Any) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
