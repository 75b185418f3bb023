"""JSON bodies: requests parsed by pydantic in one step (documented in OpenAPI by hand), responses
rendered by orjson.

The search routes read the raw body and call `Model.model_validate_json` (JSON parsing and validation
in pydantic-core) instead of declaring a body parameter: FastAPI's generic body path (JSON decode, then
dependency solving, then validation of the dict) costs more per request (docs/benchmarks.md). Errors
are raised as FastAPI's RequestValidationError ("loc" starts with "body"), so they become the one error
body, and `request_body` / `add_body_schemas` put the same schemas into /openapi.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

M = TypeVar("M", bound=BaseModel)
REF = "#/components/schemas/{model}"


def parse_body(model: type[M], raw: bytes) -> M:
    """The request body as `model`; malformed JSON or invalid fields raise FastAPI's 422 error."""
    if not raw.strip():
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def json_response(payload: Any) -> Response:
    """`payload` as an application/json response: the same compact JSON as Starlette's JSONResponse,
    rendered by orjson (several times faster)."""
    try:
        body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:  # e.g. a stored integer beyond 64 bits, which JSON itself allows
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=_plain).encode()
    return Response(body, media_type="application/json")


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses `model` itself."""
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def add_body_schemas(app: FastAPI, models: list[type[BaseModel]], extra_routes: Sequence[BaseRoute] = (),
                     limits: Callable[[dict[str, Any]], None] | None = None) -> Callable[[], dict[str, Any]]:
    """An `app.openapi` that also lists `models` (and the models they nest) under components, documents
    `extra_routes` (endpoints served outside the router), and lets `limits` write the server's own limits
    (its settings) into the spec."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=[*app.routes, *extra_routes])
            _, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF)
            spec.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            if limits is not None:
                limits(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi
