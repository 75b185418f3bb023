"""The one settings object: every `CLIR_*` environment variable, read once by the command line, the service
(each worker gets it from the process that started it), the image's entry point (`clir settings --shell`)
and the Qdrant target; command-line flags override it."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clir.encoders.models import DEFAULT_BATCH_SIZE, DEFAULT_ENCODER
from clir.errors import ConfigError
from clir.index.params import FAISS_KINDS
from clir.index.target import QdrantTarget, qdrant_target
from clir.search.options import DEFAULT_DEPTH, MAX_DEPTH, MAX_K


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLIR_", extra="ignore")

    index: Path = Field(Path("data/sample-index"), description="index directory to serve")
    backend: Literal["local", "qdrant"] = Field("local", description="local: the index directory; qdrant: a "
                                                                       "Qdrant collection")
    collection: str | None = Field(None, description="qdrant: the collection (alias) to serve")
    qdrant_url: str | None = Field(None, description="qdrant: server URL")
    qdrant_path: Path | None = Field(None, description="qdrant: local mode directory (one process)")
    qdrant_api_key: SecretStr | None = Field(None, description="qdrant: the server's API key")
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, description="uvicorn worker processes (each loads the index)")
    api_key: SecretStr | None = Field(None, description="when set, every endpoint but /health needs X-API-Key")
    writable: bool = Field(False, description="take document writes (PUT/POST/DELETE /documents, /admin/*)")
    admin_key: SecretStr | None = Field(None, description="when set, writes and admin calls need it as X-API-Key")
    allow_remote_writes: bool = Field(False, description="without an admin key, accept writes from any address")
    max_write_batch: int = Field(256, ge=1, description="most documents in one POST /documents")
    max_pending: int = Field(64, ge=1, description="requests admitted to the search and write threads at once "
                                                   "(running or queued); beyond it: 503 with Retry-After")
    body_timeout_s: float = Field(15.0, gt=0, description="seconds a client may take to send its request body")
    verify_checksums: bool = Field(True, description="sha256 every index file at start-up")
    reload_interval_s: float = Field(5.0, ge=0, description="read-only servers: seconds between checks for an "
                                                           "index rebuilt (or written) by another process, "
                                                           "served once found; 0 = never")
    threads: int = Field(0, ge=0, description="FAISS/OpenMP threads per worker, also the threads one search "
                         "shares the language partitions over; 0 = cores / workers")
    max_query_chars: int = Field(2048, ge=1, description="longest accepted query")
    max_k: int = Field(MAX_K, ge=1, description="largest k a search may ask for")
    max_batch: int = Field(256, ge=1, description="most queries in one /search/batch request")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest accepted request body")
    default_depth: int = Field(DEFAULT_DEPTH, ge=1, le=MAX_DEPTH, description="candidates per retriever before fusion")
    ef_search: int | None = Field(None, ge=1, description="HNSW efSearch override")
    nprobe: int | None = Field(None, ge=1, description="IVF nprobe override")
    micro_batch: bool = Field(True, description="encode concurrent single queries as one batch")
    query_cache_size: int = Field(10_000, ge=0, description="query vectors kept in memory (least recently used "
                                                            "out), by the text as encoded: about size x (4 x dim + "
                                                            "query length) bytes, 16 MB for 10,000; 0 = off")
    result_cache_size: int = Field(1_000, ge=0, description="search responses kept (up to 100 hits, no texts: "
                                                            "30 KB each at most), emptied by every write and "
                                                            "reload; not with the qdrant backend; 0 = off")
    micro_batch_max: int = Field(32, ge=1)
    log_level: str = Field("info")
    # Off by default, as in gunicorn: formatting and writing a line per request costs part of the
    # latency budget, and /metrics already counts requests by endpoint and status.
    access_log: bool = Field(False, description="log one line per request (uvicorn's access log)")
    # Indexing in the image (docker/entrypoint.sh builds CLIR_INDEX from it when missing or stale)
    corpus: Path | None = Field(None, description="the corpus the image's entry point indexes")
    corpus_format: str = Field("auto", description="its format")
    encoder: str = Field(DEFAULT_ENCODER, description="the encoder it is indexed with")
    faiss: str = Field("auto", description=f"the FAISS index kind it is indexed with: {', '.join(FAISS_KINDS)}")
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, description="encoder batch size of that build")
    # Evaluation
    server_url: str = Field("http://api:8000", description="the service `clir eval` asks in the image's eval "
                                                           "profile")

    @model_validator(mode="after")
    def _one_writer(self) -> Settings:
        if self.faiss not in FAISS_KINDS:
            raise ValueError(f"CLIR_FAISS must be one of {', '.join(FAISS_KINDS)}, got {self.faiss!r}")
        if self.backend == "qdrant":
            try:
                self.target()
            except ConfigError as exc:  # a missing collection name or address is a settings error
                raise ValueError(str(exc)) from None
            if self.qdrant_path is not None and self.workers > 1:
                raise ValueError("Qdrant local mode (CLIR_QDRANT_PATH) serves one process: CLIR_WORKERS=1, or "
                                 "run a Qdrant server (CLIR_QDRANT_URL)")
        elif self.writable and self.workers > 1:
            raise ValueError("a writable server runs one worker (CLIR_WORKERS=1): one process writes an index")
        return self

    def target(self) -> Path | QdrantTarget:
        """What to serve: the index directory, or the Qdrant collection."""
        key = self.qdrant_api_key.get_secret_value() if self.qdrant_api_key else None
        target = qdrant_target(self.backend, self.collection, self.qdrant_url or None, self.qdrant_path, key)
        return self.index if target is None else target

    def effective_threads(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)


def load_settings(**overrides: object) -> Settings:
    """The environment's settings with the given values (flags) over them, those not None; a bad value is one
    line naming it."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"settings: {'CLIR_' + where.upper() + ': ' if where else ''}{error['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
