"""422 responses shared by FastAPI's exception handlers and the hot search path (app/hot.py).

The body is FastAPI's shape ("detail": a list of {loc, msg, type}) with a one-line "message" naming
the fields first.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.service import QueryError


def _unprocessable(errors: list[dict]) -> JSONResponse:
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse(status_code=422, content={"message": summary, "detail": errors})


def query_error_response(exc: QueryError) -> JSONResponse:
    loc = ["body", *exc.field.split(".")] if exc.field else ["body"]
    return _unprocessable([{"loc": loc, "msg": str(exc), "type": "value_error"}])


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    return _unprocessable([{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()])
