"""HTTP endpoints (POST /search is app/hot.py). Each validates (schemas), delegates to SearchService
off the event loop, and returns."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.bodies import json_response, parse_body, request_body
from app.schemas import (
    LANG_PATTERN,
    NOT_BLANK,
    BatchRequest,
    BatchResponse,
    DocumentOut,
    ErrorOut,
    SearchRequest,
    SearchResponse,
)
from app.service import SearchService
from clir.search.options import DEFAULT_K, Mode

# Every route may answer with the one error body (app/errors.py).
router = APIRouter(responses={code: {"model": ErrorOut} for code in (401, 413, 422, 503)})


async def get_service(request: Request) -> SearchService:
    # async on purpose: FastAPI runs a plain-def dependency in the thread pool, one more thread hop
    # (two cross-thread wake-ups) on every request.
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(status_code=503, detail="index not loaded")
    return service


Service = Annotated[SearchService, Depends(get_service)]


# The batch route parses its body with pydantic directly (app/bodies.py) and renders its own response:
# the payload is built from already-typed values, and skipping FastAPI's response re-validation saves
# about a millisecond per request. response_model and openapi_extra still document both in OpenAPI.


@router.get("/search", response_model=SearchResponse, summary="Search with one query (quick form)")
async def search_get(service: Service, q: Annotated[str, Query(min_length=1, pattern=NOT_BLANK)],
                     k: Annotated[int, Query(ge=1)] = DEFAULT_K, mode: Mode = "hybrid",
                     lang: Annotated[str | None, Query(min_length=2, max_length=12, pattern=LANG_PATTERN)] = None,
                     include_text: bool = False) -> Response:
    try:
        body = SearchRequest(query=q, k=k, mode=mode, query_lang=lang, include_text=include_text)
    except ValidationError as exc:  # the query string's own checks: name the parameters as sent
        names = {"query": "q", "query_lang": "lang"}
        raise RequestValidationError([{**e, "loc": ("query", *(names.get(str(p), p) for p in e["loc"]))}
                                      for e in exc.errors(include_url=False)]) from None
    return json_response(await service.offload(service.search, body.query, body))


@router.post("/search/batch", response_model=BatchResponse, summary="Search with many queries, encoded as one batch",
             openapi_extra=request_body(BatchRequest))
async def search_batch(request: Request, service: Service) -> Response:
    body = parse_body(BatchRequest, await request.body())
    return json_response(await service.offload(service.search_batch, body.queries, body))


@router.get("/documents/{doc_id:path}", response_model=DocumentOut, summary="One stored document",
            responses={404: {"model": ErrorOut}})
async def document(doc_id: str, service: Service) -> dict[str, Any]:
    doc = await service.offload(service.document, doc_id)
    if doc is None:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r}")
    return doc


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the index is loaded (open without a key, so it says nothing more)")
async def ready(service: Service) -> dict[str, str]:
    return {"status": "ready"}


@router.get("/stats", summary="Index summary, uptime and request counts")
async def stats(request: Request, service: Service) -> dict[str, Any]:
    return service.stats() | {"requests": request.app.state.metrics.counts()}
