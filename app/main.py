"""FastAPI application: a thin HTTP skin over the retrieval core (`app.service.SearchService`).

Run with `clir serve --index DIR` or `uvicorn --factory app.main:create_app` (settings from CLIR_*).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.bodies import add_body_schemas
from app.errors import install_error_handlers
from app.guard import GuardMiddleware
from app.hot import HotSearch, openapi_route
from app.metrics import CONTENT_TYPE, Metrics
from app.routes import router
from app.schemas import BatchRequest, DocumentIn, DocumentsIn, ErrorOut, SearchRequest
from app.service import SearchService
from app.write_routes import WRITES
from app.write_routes import router as write_router
from clir.errors import ClirError
from clir.index.prepare import QueryAugmenter
from clir.runtime import configure_gc
from clir.settings import Settings, get_settings
from clir.version import __version__

# The search page (docs/page.md): static files shipped in the package, no build step. Its own files only:
# no inline code, nothing from other origins.
STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; "
                                           "frame-ancestors 'none'; object-src 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _limits(spec: dict[str, Any], settings: Settings) -> None:
    """The settings' limits in the spec, so that what it allows is what this server takes."""
    schemas = spec["components"]["schemas"]
    for name in ("SearchRequest", "BatchRequest"):
        schemas[name]["properties"]["k"]["maximum"] = settings.max_k
        schemas[name]["properties"]["offset"]["maximum"] = settings.max_k
    for name in ("SearchRequest", "BatchQuery"):
        schemas[name]["properties"]["query"]["maxLength"] = settings.max_query_chars
    batch = schemas["BatchRequest"]["properties"]["queries"]
    batch["maxItems"] = settings.max_batch
    for item in batch["items"]["anyOf"]:
        if item.get("type") == "string":
            item["maxLength"] = settings.max_query_chars
    schemas["DocumentsIn"]["properties"]["documents"]["maxItems"] = settings.max_write_batch
    for param in spec["paths"]["/search"]["get"]["parameters"]:
        if param["name"] == "k":
            param["schema"]["maximum"] = settings.max_k
        if param["name"] == "q":
            param["schema"]["maxLength"] = settings.max_query_chars


def create_app(settings: Settings | None = None, augmenter: QueryAugmenter | None = None) -> FastAPI:
    """Build the app and load the index now: a bad index stops start-up with one line. `augmenter` runs
    query generation for documents written to an xQG index (`clir serve` passes indexer/xqg's)."""
    settings = settings or get_settings()
    configure_gc()  # each worker process builds its app here
    try:
        service = SearchService(settings, augmenter)
    except ClirError as exc:
        print(f"clir: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    metrics = Metrics()
    metrics.documents.set_function(lambda: len(service.retriever))  # read at each scrape: writes and reloads
    metrics.watch_caches(lambda: {"query_vectors": service.query_vectors.stats(), "results": service.results.stats()})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        yield
        service.close()  # the writer lock, released on shutdown

    app = FastAPI(title="clir", version=__version__, lifespan=lifespan,
                  description="Cross-lingual retrieval: multilingual dense + language-aware BM25, fused.")
    app.state.service = service
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.refused = set() if settings.writable else WRITES
    # add_middleware puts each new layer outside the ones before: the hot path runs inside the guard,
    # so API key, body limit and metrics apply to it as to every other route.
    app.add_middleware(HotSearch, service=service)
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
    app.add_middleware(GuardMiddleware, api_key=api_key, admin_key=admin_key,
                       allow_remote_writes=settings.allow_remote_writes, max_body_bytes=settings.max_body_bytes,
                       body_timeout_s=settings.body_timeout_s, metrics=metrics)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(write_router)
    if settings.writable:
        print(f"clir: {service.collection.location} is writable; writes "
              + ("need the admin key (CLIR_ADMIN_KEY)" if admin_key else "are taken from any address "
                 "(CLIR_ALLOW_REMOTE_WRITES)" if settings.allow_remote_writes else
                 "are taken from loopback only (set CLIR_ADMIN_KEY to take them from elsewhere)"),
              file=sys.stderr)
    app.openapi = add_body_schemas(app, [SearchRequest, BatchRequest, DocumentIn, DocumentsIn,  # type: ignore[method-assign]
                                         ErrorOut],
                                   extra_routes=[openapi_route()], limits=lambda spec: _limits(spec, settings))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(await service.offload(metrics.render), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    return app
