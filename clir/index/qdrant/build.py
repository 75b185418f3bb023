"""Building a clir index into Qdrant: points streamed in batches, resumable, switched in atomically.

A build writes into its own collection, `NAME--<settings fingerprint>`, never into the one searches
use: `NAME` is an alias, moved to the finished collection in one request (Qdrant's alias switch), after
which the collection it pointed to before is deleted. A killed build leaves its collection marked
"building"; re-running the same build (same corpus, same settings) finds it and skips every point
already written with the same content hash, so nothing is encoded twice.

BM25's length normalisation needs the collection's average document length, known only at the end:
points are written with their dense vector first, each document's term counts go to a scratch file,
and the sparse vectors are written once the average is known.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import models
from tqdm.auto import tqdm

from clir.errors import ConfigError
from clir.index.params import BM25Params
from clir.index.qdrant.collection import READY, read_manifest
from clir.index.qdrant.points import (
    COLLECTION_IDF,
    DENSE,
    SPARSE,
    TERMS,
    check_bm25,
    document_vector,
    payload,
    point_id,
)
from clir.index.target import QdrantTarget
from clir.records import Document, Vectors, content_hash
from clir.text.analyzers import ANALYZER_VERSION, analyzer_for

BUILDING = "building"
UPLOAD_BATCH = 256


def physical_name(target: QdrantTarget, fingerprint: str) -> str:
    return f"{target.collection}--{fingerprint[:12]}"


def _metadata(client: Any, name: str) -> dict[str, Any] | None:
    if not client.collection_exists(name):
        return None
    return dict(client.get_collection(name).config.metadata or {})


def _alias_target(client: Any, alias: str) -> str | None:
    for a in client.get_aliases().aliases:
        if a.alias_name == alias:
            return str(a.collection_name)
    return None


def is_built(target: QdrantTarget, fingerprint: str) -> bool:
    """True when the alias already serves a finished build with this fingerprint."""
    client = target.connect()
    try:
        name = physical_name(target, fingerprint)
        meta = _metadata(client, name) or {}
        return meta.get("clir_state") == READY and _alias_target(client, target.collection) == name
    finally:
        client.close()


class QdrantWriter:
    """The build's sink for the qdrant backend, with the embedded `IndexWriter`'s methods: documents
    (languages, BM25 tokens) and vectors of the documents to encode arrive in the same order, possibly
    from two threads; each batch is written once both halves are in."""

    def __init__(self, target: QdrantTarget, dim: int, bm25: BM25Params, fingerprint: str,
                 show_progress: bool = False) -> None:
        check_bm25(bm25)
        self.target, self.dim, self.bm25, self.show_progress = target, dim, bm25, show_progress
        self.client = target.connect()
        self.name = physical_name(target, fingerprint)
        self._open(fingerprint)
        self._scratch = tempfile.TemporaryDirectory(prefix="clir-qdrant-")
        self._terms = open(Path(self._scratch.name) / "terms.jsonl", "w", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self._docs: list[tuple[list[Document], Sequence[str | None], Sequence[list[str]]]] = []
        self._vectors: list[Vectors] = []
        self._fresh: list[list[bool]] = []
        self.langs: Counter[str] = Counter()
        self.documents = self.skipped = self.total_len = 0

    def _open(self, fingerprint: str) -> None:
        alias = self.target.collection
        names = {c.name for c in self.client.get_collections().collections}
        if alias in names:
            raise ConfigError(f"{self.target.location}: a Qdrant collection named {alias!r} exists; clir serves "
                              "an alias of that name (pick another --collection, or delete that collection)")
        meta = _metadata(self.client, self.name)
        if meta is not None and meta.get("clir_target") != alias:
            raise ConfigError(f"{self.target.location}: collection {self.name!r} belongs to another build")
        if meta is None:
            self.client.create_collection(
                self.name,
                vectors_config={DENSE: models.VectorParams(size=self.dim, distance=models.Distance.COSINE,
                                                           on_disk=True)},
                # no IDF modifier: a server's is per shard; queries carry the collection's (points.py)
                sparse_vectors_config={SPARSE: models.SparseVectorParams()},
                on_disk_payload=True,
                metadata={"clir_state": BUILDING, "clir_target": alias, "clir_settings_sha256": fingerprint})
            if not self.target.local:  # local mode filters without indexes (and warns about them)
                for key in ("lang", "meta", "id"):
                    self.client.create_payload_index(self.name, key, models.PayloadSchemaType.KEYWORD)
                self.client.create_payload_index(self.name, TERMS, models.PayloadSchemaType.INTEGER)

    def fresh(self, batch: Sequence[Document]) -> list[bool]:
        """Which documents of the batch still need encoding: not written by an earlier run of this build."""
        with self._lock:
            points = self.client.retrieve(self.name, ids=[point_id(d.id) for d in batch], with_payload=["sha"])
        done = {int(p.id): (p.payload or {}).get("sha") for p in points}
        return [done.get(point_id(d.id)) != content_hash(d) for d in batch]

    def written(self) -> set[str]:
        """The content hashes of every point written so far (a resumed build skips their documents)."""
        hashes: set[str] = set()
        offset = None
        while True:
            with self._lock:
                points, offset = self.client.scroll(self.name, limit=1024, offset=offset, with_payload=["sha"])
            hashes.update(str((p.payload or {}).get("sha")) for p in points)
            if offset is None:
                return hashes

    def add_documents(self, docs: Sequence[Document], langs: Sequence[str | None],
                      tokens: Sequence[list[str]]) -> None:
        with self._lock:
            self._docs.append((list(docs), langs, tokens))
            self._flush()

    def add_vectors(self, vectors: Vectors, fresh: Sequence[bool] | None = None) -> None:
        """The vectors of a batch's fresh documents (the others are written already; None: all fresh)."""
        with self._lock:
            self._vectors.append(np.asarray(vectors, dtype=np.float32))
            self._fresh.append([True] * len(vectors) if fresh is None else list(fresh))
            self._flush()

    def _flush(self) -> None:
        while self._docs and self._vectors and self._fresh:
            (docs, langs, tokens), vectors, fresh = self._docs.pop(0), self._vectors.pop(0), self._fresh.pop(0)
            self.langs.update(lang or "und" for lang in langs)
            points, v = [], iter(vectors)
            for doc, lang, toks, new in zip(docs, langs, tokens, fresh, strict=True):
                self._terms.write(json.dumps([point_id(doc.id), toks]) + "\n")
                self.total_len += len(toks)
                if new:
                    points.append(models.PointStruct(id=point_id(doc.id),
                                                     payload=payload(doc, lang, content_hash(doc), toks),
                                                     vector={DENSE: next(v).tolist()}))
            self.documents += len(docs)
            self.skipped += len(docs) - len(points)
            if points:
                self.client.upsert(self.name, points=points, wait=True)

    def finish(self) -> dict[str, Any]:
        """Write the sparse vectors now that the average length is known; the manifest entries."""
        self._terms.close()
        if self.documents == 0:
            raise ConfigError("the corpus has no documents")
        avg = self.total_len / self.documents
        bar = tqdm(total=self.documents, desc="bm25 -> qdrant", unit="doc", disable=not self.show_progress)
        with open(Path(self._scratch.name) / "terms.jsonl", encoding="utf-8") as fh:
            batch: list[models.PointVectors] = []
            for line in fh:
                pid, toks = json.loads(line)
                batch.append(models.PointVectors(id=pid, vector={SPARSE: document_vector(toks, self.bm25, avg)}))
                if len(batch) == UPLOAD_BATCH:
                    self.client.update_vectors(self.name, points=batch, wait=True)
                    bar.update(len(batch))
                    batch = []
            if batch:
                self.client.update_vectors(self.name, points=batch, wait=True)
                bar.update(len(batch))
        bar.close()
        self._scratch.cleanup()
        stored = int(self.client.count(self.name, exact=True).count)
        if stored != self.documents:
            raise ConfigError(f"{self.target.location}: {self.documents} documents but {stored} points: two ids "
                              "share a Qdrant point id, or the corpus repeats an id")
        return {
            "counts": {"documents": self.documents, "vocab": None},
            "languages": dict(sorted(self.langs.items())),
            "dense": {"kind": "qdrant", "metric": "cosine", "collection": self.name},
            "sparse": {"library": "qdrant", "params": asdict(self.bm25), "avg_doc_len": avg, "idf": COLLECTION_IDF,
                       "analyzer_version": ANALYZER_VERSION,
                       "analyzers": {lang: asdict(analyzer_for(lang).info()) for lang in sorted(self.langs)}},
            "files": {},
        }

    def install(self, manifest: dict[str, Any]) -> None:
        """Mark the collection finished, point the alias at it in one request, then drop what it
        pointed to before (and any other unfinished build of this target)."""
        self.client.update_collection(self.name, metadata={"clir_state": READY, "clir_manifest": manifest})
        alias = self.target.collection
        before = _alias_target(self.client, alias)
        ops: list[Any] = [models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))] if before \
            else []
        ops.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=self.name,
                                                                               alias_name=alias)))
        self.client.update_collection_aliases(change_aliases_operations=ops)
        read_manifest(self.client, alias, self.target.location)  # what servers will read: it parses
        for c in self.client.get_collections().collections:
            meta = _metadata(self.client, c.name) or {}
            if c.name != self.name and meta.get("clir_target") == alias:
                self.client.delete_collection(c.name)

    def close(self) -> None:
        self._scratch.cleanup()
        self.client.close()
