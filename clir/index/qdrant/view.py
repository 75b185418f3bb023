"""One search's reads of a Qdrant collection: dense and sparse candidates, exact scores of given points on either
side, and documents from payloads (the IndexStore methods; `QdrantCollection.view()` makes one per search).
BM25's query weights use the collection's statistics (`QdrantStore.term_statistics`, clir/index/qdrant/points.py)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from qdrant_client import models

from clir.index.manifest import Manifest
from clir.index.qdrant.points import (
    COLLECTION_IDF,
    DENSE,
    LIGHT_PAYLOAD,
    SPARSE,
    lucene_idf,
    query_vector,
    term_counts,
    to_filter,
)
from clir.records import Filter, Ranked, Rows, Scores, StoredDocument, Vectors


class QdrantStore(Protocol):
    """What a view reads through: the collection (clir/index/qdrant/collection.py's QdrantCollection)."""

    name: str
    manifest: Manifest

    @property
    def location(self) -> str: ...

    @property
    def client(self) -> Any: ...

    def __len__(self) -> int: ...

    def calls(self) -> AbstractContextManager[None]: ...

    def term_statistics(self, terms: Sequence[int]) -> tuple[int, dict[int, int]]: ...

    def document(self, doc_id: str) -> StoredDocument | None: ...

    def missing(self, doc_ids: Sequence[str]) -> list[str]: ...


class QdrantSparse:
    """One query's BM25 evidence from Qdrant: its top list (fetched once, batched with the other
    queries of the same search), and the scores of given points (a query restricted to them)."""

    def __init__(self, view: QdrantView, vector: models.SparseVector, flt: Filter | None) -> None:
        self.view, self.vector, self.filter = view, vector, flt
        self.fetched: Ranked | None = None
        self.limit = 0

    def top(self, k: int) -> Ranked:
        if not self.vector.indices:
            return Ranked.empty()
        if self.fetched is None or k > self.limit:
            self.view.fetch_sparse(k)
        assert self.fetched is not None
        return Ranked(self.fetched.rows[:k], self.fetched.scores[:k])

    def of(self, rows: Rows) -> Scores:
        out = np.zeros(len(rows), dtype=np.float32)
        if not self.vector.indices or not len(rows):
            return out
        found = self.view.query(self.vector, SPARSE, len(rows), to_filter(self.filter, rows.tolist()))
        score = dict(zip(found.rows.tolist(), found.scores.tolist(), strict=True))
        return np.asarray([score.get(r, 0.0) for r in rows.tolist()], dtype=np.float32)


class QdrantView:
    """One search's reads: the payloads of the points it saw are kept, so rendering its hits asks again
    only for texts."""

    def __init__(self, store: QdrantStore) -> None:
        self.store = store
        self.manifest = store.manifest
        self.location = store.location
        self._seen: dict[int, dict[str, Any]] = {}
        self._sparse: list[QdrantSparse] = []
        self._n: int | None = None  # the collection's points and terms' document counts, for this search's IDF
        self._df: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.store)

    def view(self) -> QdrantView:
        return self

    # -- requests ---------------------------------------------------------------------------------

    def _ranked(self, points: Sequence[Any]) -> Ranked:
        for p in points:
            self._seen[int(p.id)] = p.payload or {}
        return Ranked(np.asarray([int(p.id) for p in points], dtype=np.int64),
                      np.asarray([p.score for p in points], dtype=np.float32))

    def query(self, query: Any, using: str, limit: int, flt: models.Filter | None) -> Ranked:
        with self.store.calls():
            found = self.store.client.query_points(self.store.name, query=query, using=using, limit=limit,
                                                   query_filter=flt, with_payload=LIGHT_PAYLOAD)
        return self._ranked(found.points)

    def _batch(self, queries: Sequence[Any], using: str, limit: int, flt: models.Filter | None) -> list[Ranked]:
        requests = [models.QueryRequest(query=q, using=using, limit=limit, filter=flt, with_payload=LIGHT_PAYLOAD)
                    for q in queries]
        with self.store.calls():
            responses = self.store.client.query_batch_points(self.store.name, requests=requests)
        return [self._ranked(r.points) for r in responses]

    def fetch_sparse(self, k: int) -> None:
        """The top lists of every sparse query of this search not fetched this deep yet, in one request
        per filter."""
        todo = [s for s in self._sparse if s.vector.indices and (s.fetched is None or s.limit < k)]
        for flt in {s.filter for s in todo}:
            group = [s for s in todo if s.filter == flt]
            for s, ranked in zip(group, self._batch([s.vector for s in group], SPARSE, k, to_filter(flt)),
                                 strict=True):
                s.fetched, s.limit = ranked, k

    def _payloads(self, rows: Sequence[int], full: bool = False) -> dict[int, dict[str, Any]]:
        """Payloads by row: the light fields from what this search saw (asked for when unseen), or the
        whole payload. A point deleted since the search keeps what the search saw of it."""
        want = [int(r) for r in rows if full or int(r) not in self._seen]
        got: dict[int, dict[str, Any]] = {}
        if want:
            with self.store.calls():
                points = self.store.client.retrieve(self.store.name, ids=want,
                                                    with_payload=True if full else LIGHT_PAYLOAD)
            got = {int(p.id): p.payload or {} for p in points}
            if not full:
                self._seen.update(got)
        return {int(r): got.get(int(r)) or self._seen.get(int(r), {}) for r in rows}

    # -- the IndexStore methods ---------------------------------------------------------------------

    def dense_search(self, vectors: Vectors, k: int, flt: Filter | None = None) -> list[Ranked]:
        if not len(vectors):
            return []
        return self._batch([v.tolist() for v in np.asarray(vectors, dtype=np.float32)], DENSE, k, to_filter(flt))

    def dense_search_by_lang(self, vectors: Vectors, k: int, langs: Sequence[str],
                             flt: Filter | None = None) -> list[dict[str, Ranked]]:
        """One batch request: a query per vector and language, each filtered to its language (a keyword
        payload index on `lang` keeps a filtered search a graph search on a server)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if not len(vectors) or not langs:
            return [{} for _ in range(len(vectors))]
        filters = [to_filter(Filter.make([lang], dict(flt.metadata) if flt else None)) for lang in langs]
        requests = [models.QueryRequest(query=v.tolist(), using=DENSE, limit=k, filter=f, with_payload=LIGHT_PAYLOAD)
                    for v in vectors for f in filters]
        with self.store.calls():
            responses = self.store.client.query_batch_points(self.store.name, requests=requests)
        ranked = [self._ranked(r.points) for r in responses]
        return [dict(zip(langs, ranked[i * len(langs):(i + 1) * len(langs)], strict=True))
                for i in range(len(vectors))]

    def dense_scores(self, vector: Vectors, rows: Rows) -> Scores:
        """Inner products with the stored vectors (Qdrant keeps cosine vectors normalised, as ours are)."""
        found, matrix = self._stored_vectors(rows)
        scores: Scores = np.full(len(rows), -1.0, dtype=np.float32)  # deleted since the search: the lowest cosine
        if found:
            scores[found] = matrix @ np.asarray(vector, dtype=np.float32)
        return scores

    def dense_vectors(self, rows: Rows) -> Vectors:
        found, matrix = self._stored_vectors(rows)
        out = np.zeros((len(rows), self.store.manifest.encoder_dim), dtype=np.float32)
        if found:
            out[found] = matrix
        return out

    def _stored_vectors(self, rows: Rows) -> tuple[list[int], Vectors]:
        """The positions in `rows` of the points still stored, and their vectors, in one request."""
        if not len(rows):
            return [], np.zeros((0, 0), dtype=np.float32)
        with self.store.calls():
            points = self.store.client.retrieve(self.store.name, ids=[int(r) for r in rows], with_vectors=[DENSE])
        stored = {int(p.id): p.vector[DENSE] for p in points}
        found = [i for i, r in enumerate(rows.tolist()) if int(r) in stored]
        return found, np.asarray([stored[int(rows[i])] for i in found], dtype=np.float32)

    def idf(self, terms: Sequence[int]) -> dict[int, float]:
        """Collection-wide IDF of `terms` (QdrantCollection.term_statistics), each counted once for this search."""
        todo = [t for t in dict.fromkeys(terms) if t not in self._df]
        if todo or self._n is None:
            self._n, counted = self.store.term_statistics(todo)
            self._df.update(counted)
        return {t: lucene_idf(self._n, self._df[t]) for t in terms}

    def sparse_search(self, tokens: list[str], flt: Filter | None = None) -> QdrantSparse:
        collection_idf = self.manifest.raw["sparse"].get("idf") == COLLECTION_IDF
        vector = query_vector(tokens, self.idf(list(term_counts(tokens))) if collection_idf else None)
        matches = QdrantSparse(self, vector, flt)
        self._sparse.append(matches)
        return matches

    def ids(self, rows: Sequence[int]) -> list[str]:
        found = self._payloads(rows)
        return [str(found[int(r)].get("id", "")) for r in rows]

    def titles(self, rows: Sequence[int]) -> list[str]:
        found = self._payloads(rows)
        return [str(found[int(r)].get("title", "")) for r in rows]

    def langs(self, rows: Rows) -> NDArray[np.str_]:
        found = self._payloads(list(rows))
        return np.asarray([str(found[int(r)].get("lang", "")) for r in rows], dtype=np.str_)

    def documents(self, rows: Sequence[int]) -> dict[int, StoredDocument]:
        found = self._payloads(rows, full=True)
        return {int(r): stored(int(r), found[int(r)]) for r in rows}

    def document(self, doc_id: str) -> StoredDocument | None:
        return self.store.document(doc_id)

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        return self.store.missing(doc_ids)


def stored(row: int, p: dict[str, Any]) -> StoredDocument:
    return StoredDocument(row=row, id=p.get("id", ""), title=p.get("title", ""), text=p.get("text", ""),
                          lang=p.get("lang") or None, metadata=p.get("metadata") or {})
