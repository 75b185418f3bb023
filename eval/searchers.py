"""The in-process searcher evaluation runs on: the retrieval core plus an eval-only query-vector memo."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clir import Index
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import Encoder
from clir.index.target import QdrantTarget
from clir.records import SearchResult, Vectors
from clir.search.retriever import Retriever


class LocalSearcher:
    """A Retriever for one evaluation loop. Each configuration is searched on the same batch of
    queries in turn (dense, then hybrid, ...): the last batch's vectors are remembered so the batch is
    encoded once. That memo is the only state here, and evaluation runs in one thread."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self._last: tuple[tuple[str, ...], Vectors] | None = None

    def encode(self, queries: Sequence[str]) -> Vectors:
        key = tuple(queries)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        vectors = self.retriever.encoder.encode_queries(list(queries))
        self._last = (key, vectors)
        return vectors

    def search_batch(self, queries: Sequence[str], **options: Any) -> list[SearchResult]:
        return self.retriever.search_batch(queries, encode=self.encode, **options)

    def missing_documents(self, doc_ids: Sequence[str]) -> list[str]:
        return self.retriever.missing_documents(doc_ids)

    def summary(self) -> dict[str, Any]:
        return self.retriever.manifest.summary(self.retriever.store.location)


def open_local(index: Path | QdrantTarget, embed_cache: Path | None = None,
               encoder: Encoder | None = None) -> LocalSearcher:
    """An index's in-process searcher (a directory, or a Qdrant collection); query vectors go through
    `embed_cache` when given."""
    retriever = Index.open(index, encoder=encoder).retriever
    if encoder is None and embed_cache is not None:
        retriever.encoder = CachedEncoder(retriever.encoder, embed_cache)
    return LocalSearcher(retriever)
