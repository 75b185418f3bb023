"""HTTP endpoints. Each one validates (schemas), delegates to SearchService off the event loop, returns."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.bodies import parse_body, request_body
from app.schemas import BatchRequest, BatchResponse, DocumentOut, Mode, SearchRequest, SearchResponse
from app.service import SearchService

router = APIRouter()


async def get_service(request: Request) -> SearchService:
    # async on purpose: FastAPI runs a plain-def dependency in the thread pool, one more thread hop
    # (two cross-thread wake-ups) on every request.
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(status_code=503, detail="index not loaded")
    return service


Service = Annotated[SearchService, Depends(get_service)]


# The search routes parse their bodies with pydantic directly (app/bodies.py) and return JSONResponse:
# the payload is built from already-typed values, and skipping FastAPI's response re-validation saves
# about a millisecond per request. response_model and openapi_extra still document both in OpenAPI.


@router.post("/search", response_model=SearchResponse, summary="Search with one query",
             openapi_extra=request_body(SearchRequest))
async def search(request: Request, service: Service) -> JSONResponse:
    body = parse_body(SearchRequest, await request.body())
    return JSONResponse(await run_in_threadpool(service.search, body.query, body))


@router.get("/search", response_model=SearchResponse, summary="Search with one query (quick form)")
async def search_get(service: Service, q: Annotated[str, Query(min_length=1)],
                     k: Annotated[int, Query(ge=1, le=1000)] = 10, mode: Mode = "hybrid",
                     lang: Annotated[str | None, Query(min_length=2, max_length=12)] = None,
                     include_text: bool = False) -> JSONResponse:
    body = SearchRequest(query=q, k=k, mode=mode, query_lang=lang, include_text=include_text)
    return JSONResponse(await run_in_threadpool(service.search, body.query, body))


@router.post("/search/batch", response_model=BatchResponse, summary="Search with many queries, encoded as one batch",
             openapi_extra=request_body(BatchRequest))
async def search_batch(request: Request, service: Service) -> JSONResponse:
    body = parse_body(BatchRequest, await request.body())
    return JSONResponse(await run_in_threadpool(service.search_batch, body.queries, body))


@router.get("/documents/{doc_id:path}", response_model=DocumentOut, summary="One stored document")
async def document(doc_id: str, service: Service) -> dict[str, Any]:
    doc = await run_in_threadpool(service.document, doc_id)
    if doc is None:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r}")
    return doc


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the index is loaded")
async def ready(service: Service) -> dict[str, Any]:
    return {"status": "ready", "documents": len(service.retriever)}


@router.get("/stats", summary="Index summary, uptime and request counts")
async def stats(request: Request, service: Service) -> dict[str, Any]:
    return service.stats() | {"requests": request.app.state.metrics.counts()}
