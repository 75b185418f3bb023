"""Write and admin endpoints: PUT/POST/DELETE /documents, POST /admin/compact and /admin/reload.

A read-only server answers them 405 with the one error body; the guard (app/guard.py) checks the admin
key, or that the request came from loopback.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from app.bodies import json_response, parse_body, request_body
from app.schemas import BatchWriteOut, DocumentIn, DocumentsIn, ErrorOut, WriteOut
from app.service import SearchService
from app.writes import DocumentWriter

router = APIRouter(responses={code: {"model": ErrorOut} for code in (401, 403, 405, 413, 422)})
writes = APIRouter()  # what a read-only server refuses (405): app.state.refused


async def get_writer(request: Request) -> DocumentWriter:
    service: SearchService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(status_code=503, detail="index not loaded")
    if service.writer is None:
        raise HTTPException(status_code=405, detail="this server is read-only: start it with "
                                                    "`clir serve --writable` (CLIR_WRITABLE=true) to take writes")
    return service.writer


Writer = Annotated[DocumentWriter, Depends(get_writer)]


def _service(request: Request) -> SearchService:
    service: SearchService = request.app.state.service
    return service


@writes.put("/documents/{doc_id:path}", response_model=WriteOut, summary="Create or replace one document",
            openapi_extra=request_body(DocumentIn),
            # an id no URL path can hold (a line break) matches no route
            responses={404: {"model": ErrorOut}})
async def put_document(doc_id: str, request: Request, writer: Writer) -> Response:
    body = parse_body(DocumentIn, await request.body())
    return json_response(await _service(request).offload(writer.put, doc_id, body))


@writes.post("/documents", response_model=BatchWriteOut, summary="Create or replace many documents, all or nothing",
             openapi_extra=request_body(DocumentsIn))
async def post_documents(request: Request, writer: Writer) -> Response:
    body = parse_body(DocumentsIn, await request.body())
    return json_response(await _service(request).offload(writer.post, body.documents))


@writes.delete("/documents/{doc_id:path}", response_model=WriteOut, summary="Delete one document",
               responses={404: {"model": ErrorOut}})
async def delete_document(doc_id: str, request: Request, writer: Writer) -> dict[str, Any]:
    result = await _service(request).offload(writer.delete, doc_id)
    if result is None:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r}")
    return result


@writes.post("/admin/compact", summary="Fold pending writes and deletions into new index files")
async def compact(request: Request, writer: Writer) -> dict[str, Any]:
    folded = await _service(request).offload(writer.index.compact)
    return {"status": "compacted" if folded else "nothing to compact", **folded}


@router.post("/admin/reload", summary="Re-open the index directory (a rebuilt index, or writes logged elsewhere)")
async def reload(request: Request) -> dict[str, Any]:
    service = _service(request)
    await service.offload(service.reload)
    return {"status": "reloaded", "documents": len(service.retriever)}


router.include_router(writes)
# (path, method) of every write: a read-only server's 405 names only the methods it does allow
WRITES = {(getattr(route, "path", ""), method) for route in writes.routes for method in getattr(route, "methods", ())}
