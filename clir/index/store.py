"""The storage seam: the one interface the search core talks to an index through.

An index store holds documents under integer rows (keys it assigns; stable while the store is open)
and answers the questions retrieval asks: nearest neighbours of query vectors, BM25 evidence for a
query's tokens, exact scores of given rows on either side (fusion needs both scores of every
candidate), and the documents behind rows. `clir.index.embedded.local.LocalIndex` implements it over FAISS,
bm25s and SQLite files; a mutable index or a distributed engine implements the same methods, so
nothing above this package touches FAISS, bm25s, SQLite or a remote engine directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from clir.index.manifest import Manifest
from clir.records import Filter, PreparedDocument, Ranked, Rows, Scores, StoredDocument, Vectors


class SparseMatches(Protocol):
    """One query's BM25 evidence: its top list, and the exact score of any row (0 without a shared term)."""

    def top(self, k: int) -> Ranked: ...

    def of(self, rows: Rows) -> Scores: ...


class IndexStore(Protocol):
    @property
    def location(self) -> str: ...

    @property
    def manifest(self) -> Manifest: ...

    def __len__(self) -> int: ...

    def view(self) -> IndexStore:
        """A view whose rows keep their meaning for as long as it is held: one search (and the rendering
        of its hits) reads one view, whatever writes or compactions land meanwhile."""
        ...

    def dense_search(self, vectors: Vectors, k: int, flt: Filter | None = None) -> list[Ranked]:
        """The k nearest rows of each query vector (inner product), restricted to `flt`."""
        ...

    def dense_search_by_lang(self, vectors: Vectors, k: int, langs: Sequence[str],
                             flt: Filter | None = None) -> list[dict[str, Ranked]]:
        """For each query vector, the k nearest rows of each document language in `langs` (within `flt`):
        language balance's candidates, at the cost of about one search (clir.index.embedded.partitions)."""
        ...

    def dense_scores(self, vector: Vectors, rows: Rows) -> Scores:
        """The inner product of one query vector with the stored vectors of `rows`."""
        ...

    def dense_vectors(self, rows: Rows) -> Vectors:
        """The stored vectors of `rows` (float32; zeros for a row deleted since the search)."""
        ...

    def sparse_search(self, tokens: list[str], flt: Filter | None = None) -> SparseMatches:
        """BM25 evidence for one query's analysed tokens, restricted to `flt`."""
        ...

    def ids(self, rows: Sequence[int]) -> list[str]: ...

    def titles(self, rows: Sequence[int]) -> list[str]: ...

    def langs(self, rows: Rows) -> NDArray[np.str_]:
        """The language each row was indexed with ("" when undetermined)."""
        ...

    def documents(self, rows: Sequence[int]) -> dict[int, StoredDocument]: ...

    def document(self, doc_id: str) -> StoredDocument | None: ...

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        """The given ids the index does not hold."""
        ...


class WritableStore(IndexStore, Protocol):
    """An index that takes live writes: the embedded `Collection` or a Qdrant collection. A write is
    durable and searchable when the call returns."""

    writable: bool
    auto_compact: bool

    @property
    def display_name(self) -> str:
        """The index's name for /stats and messages (never a server's file-system path)."""
        ...

    def upsert(self, docs: Sequence[PreparedDocument]) -> list[str]:
        """"created" or "updated" per document."""
        ...

    def delete(self, doc_ids: Sequence[str]) -> list[str]:
        """The given ids that existed, now deleted."""
        ...

    def compact(self, show_progress: bool = False) -> dict[str, Any]: ...

    def stale(self) -> bool:
        """Has another process rebuilt the index, or written to it, since it was loaded? (`reload` then
        serves what it holds now.)"""
        ...

    def reload(self, verify: bool = True) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def release(self) -> None:
        """Give back what only this process may hold (Qdrant local mode's directory) until next used."""
        ...

    def close(self) -> None: ...
