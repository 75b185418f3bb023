"""The index seam over a Qdrant collection: opening it, BM25's collection-wide statistics, and live writes
(upsert and delete, `wait=true`: a write is searchable when it returns). Each search reads through a
`QdrantView` (clir/index/qdrant/view.py).

Rows are point ids (`qdrant_points.point_id`). Qdrant ranks and filters; the project's own fusion runs
above, on the exact scores of both sides, as over the embedded index. Everything Qdrant-specific that
is not a request lives in `qdrant_points`; building a collection is `qdrant_build`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qdrant_client import models

from clir.errors import ConfigError, IndexFormatError
from clir.index.manifest import Manifest
from clir.index.params import BM25Params
from clir.index.qdrant.points import (
    DENSE,
    SPARSE,
    TERMS,
    document_vector,
    payload,
    point_id,
    term_filter,
)
from clir.index.qdrant.view import QdrantSparse, QdrantView, stored
from clir.index.target import QdrantTarget
from clir.index.writes import check_batch_ids, read_only
from clir.records import Filter, PreparedDocument, Ranked, Rows, Scores, StoredDocument, Vectors, content_hash

READY = "ready"


def read_manifest(client: Any, name: str, where: str) -> Manifest:
    """The manifest a build stored in the collection's metadata; one line when there is none."""
    try:
        info = client.get_collection(name)
    except Exception as exc:  # qdrant-client raises ValueError (local) or UnexpectedResponse (server)
        raise IndexFormatError(f"{where}: no such Qdrant collection (build it with `clir index --backend "
                               f"qdrant`): {str(exc).splitlines()[0][:200]}") from None
    meta = info.config.metadata or {}
    if meta.get("clir_state") != READY or "clir_manifest" not in meta:
        raise IndexFormatError(f"{where}: not a complete clir collection (a build that did not finish, or "
                               "a collection clir did not build)")
    return Manifest.parse(meta["clir_manifest"], where)


class QdrantCollection:
    """A clir index in a Qdrant collection: the IndexStore methods (through a fresh view per search)
    and live writes."""

    def __init__(self, target: QdrantTarget, client: Any, manifest: Manifest, writable: bool) -> None:
        self.target = target
        self._client: Any = client
        self.name = target.collection
        self.manifest = manifest
        self.writable = writable
        self.auto_compact = False  # Qdrant's optimizer merges segments itself
        # Local mode runs in this process on plain Python structures: one call at a time.
        self._local_lock = threading.Lock() if target.local else None
        # Local mode (this process alone): BM25's statistics counted once from the points, then kept by writes.
        self._local_counts: tuple[int, Counter[int]] | None = None
        self._counts_lock = threading.Lock()

    @classmethod
    def open(cls, target: QdrantTarget, writable: bool = False) -> QdrantCollection:
        client = target.connect()
        try:
            manifest = read_manifest(client, target.collection, target.location)
        except BaseException:
            client.close()
            raise
        return cls(target, client, manifest, writable)

    @property
    def client(self) -> Any:
        if self._client is None:  # released at an app's shutdown, used again after its restart
            self._client = self.target.connect()
        return self._client

    @contextmanager
    def calls(self) -> Iterator[None]:
        with self._local_lock or nullcontext():
            yield

    @property
    def location(self) -> str:
        return self.target.location

    @property
    def display_name(self) -> str:
        return self.name

    def view(self) -> QdrantView:
        return QdrantView(self)

    def __len__(self) -> int:
        with self.calls():
            return int(self.client.count(self.name, exact=True).count)

    def dense_search(self, vectors: Vectors, k: int, flt: Filter | None = None) -> list[Ranked]:
        return self.view().dense_search(vectors, k, flt)

    def dense_search_by_lang(self, vectors: Vectors, k: int, langs: Sequence[str],
                             flt: Filter | None = None) -> list[dict[str, Ranked]]:
        return self.view().dense_search_by_lang(vectors, k, langs, flt)

    def dense_scores(self, vector: Vectors, rows: Rows) -> Scores:
        return self.view().dense_scores(vector, rows)

    def dense_vectors(self, rows: Rows) -> Vectors:
        return self.view().dense_vectors(rows)

    def sparse_search(self, tokens: list[str], flt: Filter | None = None) -> QdrantSparse:
        return self.view().sparse_search(tokens, flt)

    def ids(self, rows: Sequence[int]) -> list[str]:
        return self.view().ids(rows)

    def titles(self, rows: Sequence[int]) -> list[str]:
        return self.view().titles(rows)

    def langs(self, rows: Rows) -> NDArray[np.str_]:
        return self.view().langs(rows)

    def documents(self, rows: Sequence[int]) -> dict[int, StoredDocument]:
        return self.view().documents(rows)

    def term_statistics(self, terms: Sequence[int]) -> tuple[int, dict[int, int]]:
        """N (the live points) and each term's df (the live points whose `terms` hold it). On a server, counted
        by Qdrant for each call: other replicas write too, and the counts are of the documents themselves, so
        concurrent writers need no shared counter. In local mode (one process), counted once from the points
        and kept by this process's writes: local mode's counts scan every point."""
        if not self.target.local:
            with self.calls():
                n = int(self.client.count(self.name, exact=True).count)
                df = {t: int(self.client.count(self.name, count_filter=term_filter(t), exact=True).count)
                      for t in terms}
            return n, df
        with self._counts_lock:
            if self._local_counts is None:
                counts: Counter[int] = Counter()
                n, offset = 0, None
                while True:
                    with self.calls():
                        found, offset = self.client.scroll(self.name, limit=1024, offset=offset, with_payload=[TERMS])
                    n += len(found)
                    for point in found:
                        counts.update((point.payload or {}).get(TERMS, []))
                    if offset is None:
                        break
                self._local_counts = (n, counts)
            n, counts = self._local_counts
            return n, {t: counts.get(t, 0) for t in terms}

    def _count_writes(self, removed: Sequence[dict[str, Any]], added: Sequence[dict[str, Any]]) -> None:
        """Local mode: the statistics after a write (the payloads of the points it replaced or deleted, and of
        those it wrote)."""
        with self._counts_lock:
            if self._local_counts is None:
                return
            n, counts = self._local_counts
            for p in removed:
                counts.subtract(p.get(TERMS, []))
            for p in added:
                counts.update(p.get(TERMS, []))
            self._local_counts = (n - len(removed) + len(added), +counts)

    def _points(self, doc_ids: Sequence[str], full: bool = False) -> dict[str, dict[str, Any]]:
        """The stored payloads of these ids, by id (a point whose id hash another id shares is not it)."""
        with self.calls():
            points = self.client.retrieve(self.name, ids=[point_id(i) for i in doc_ids],
                                          with_payload=True if full else ["id", TERMS])
        return {p.payload["id"]: {**p.payload, "_row": int(p.id)} for p in points if p.payload}

    def document(self, doc_id: str) -> StoredDocument | None:
        found = self._points([doc_id], full=True).get(doc_id)
        return None if found is None else stored(found["_row"], found)

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        found = self._points(list(dict.fromkeys(doc_ids)))
        return [i for i in doc_ids if i not in found]

    # -- writes -----------------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if not self.writable:
            raise read_only(self.location)

    def upsert(self, docs: Sequence[PreparedDocument]) -> list[str]:
        """Searchable on return (`wait=true`); "created" or "updated" per document."""
        self._check_writable()
        ids = [p.doc.id for p in docs]
        check_batch_ids(ids)
        with self.calls():
            existing = self.client.retrieve(self.name, ids=[point_id(i) for i in ids], with_payload=["id", TERMS])
        held = {int(p.id): (p.payload or {}).get("id") for p in existing}
        for doc_id in ids:
            other = held.get(point_id(doc_id))
            if other is not None and other != doc_id:
                raise ConfigError(f"document ids {doc_id!r} and {other!r} share one Qdrant point id; rename one")
        params = BM25Params(**self.manifest.sparse_params)
        avg = float(self.manifest.raw["sparse"]["avg_doc_len"])
        points = [models.PointStruct(id=point_id(p.doc.id),
                                     payload=payload(p.doc, p.lang, content_hash(p.doc), p.tokens),
                                     vector={DENSE: np.asarray(p.vector, dtype=np.float32).tolist(),
                                             SPARSE: document_vector(p.tokens, params, avg)}) for p in docs]
        with self.calls():
            self.client.upsert(self.name, points=points, wait=True)
        self._count_writes([p.payload or {} for p in existing], [p.payload or {} for p in points])
        return ["updated" if point_id(i) in held else "created" for i in ids]

    def delete(self, doc_ids: Sequence[str]) -> list[str]:
        """Delete the given ids that exist; returns them."""
        self._check_writable()
        stored = self._points(list(dict.fromkeys(doc_ids)))
        found = [i for i in dict.fromkeys(doc_ids) if i in stored]
        if found:
            with self.calls():
                self.client.delete(self.name, points_selector=models.PointIdsList(points=[point_id(i) for i in found]),
                                   wait=True)
            self._count_writes([stored[i] for i in found], [])
        return found

    def compact(self, show_progress: bool = False) -> dict[str, Any]:
        """Nothing to fold: Qdrant merges and vacuums its segments itself."""
        self._check_writable()
        return {}

    def pending(self) -> int:
        return 0

    def stale(self) -> bool:
        """Has a rebuild switched the alias to another collection since the manifest was read? (Points
        written by other replicas are live already: Qdrant serves them.)"""
        with self.calls():
            try:
                current = read_manifest(self.client, self.name, self.location)
            except IndexFormatError:  # mid-switch, or gone: keep serving what is loaded
                return False
        return current.raw != self.manifest.raw

    def reload(self, verify: bool = True) -> None:
        """Re-read the manifest (a rebuild switched the alias to a new collection)."""
        with self.calls():
            self.manifest = read_manifest(self.client, self.name, self.location)

    def languages(self) -> dict[str, int]:
        with self.calls():
            hits = self.client.facet(self.name, key="lang", limit=1000, exact=True).hits
        return {str(h.value) or "und": int(h.count) for h in hits}

    def stats(self) -> dict[str, Any]:
        return {"backend": "qdrant", "collection": self.name, "documents": len(self), "languages": self.languages(),
                "writable": self.writable, "pending_documents": 0, "compactions": 0}

    def release(self) -> None:
        """Close the connection (local mode: let another process open the directory); reopened on use."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        self.release()
