"""A sharded Qdrant collection scored by Qdrant's own engine: N edge shards (PyPI qdrant-edge-py, the server's
`segment`, `shard` and `sparse` crates in process), points routed to a shard by id, every query sent to every
shard and the answers merged by score — what a server with N shards does.

`EdgeCluster` answers the part of qdrant-client's API that clir's Qdrant backend (clir/index/qdrant) calls, so
`QdrantCollection` runs on it unchanged: the conformance tests (tests/index/test_qdrant_engine.py) and
`python -m bench.qdrant_shards` (docs/scale.md) compare it with qdrant-client's local mode and with the
embedded index.

Routing: a server places a point with a consistent-hash ring over the point id; here a hash of the id modulo N,
which spreads points the same way (uniformly, whatever their content).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import qdrant_edge as qe
from qdrant_client import QdrantClient, models

from clir.index.qdrant.collection import QdrantCollection, read_manifest
from clir.index.target import QdrantTarget

DENSE, SPARSE = "dense", "bm25"


def shard_of(point_id: int, shards: int) -> int:
    return int.from_bytes(hashlib.blake2b(int(point_id).to_bytes(8, "big"), digest_size=8).digest(), "big") % shards


def _condition(c: Any) -> Any:
    if isinstance(c, models.HasIdCondition):
        return qe.HasIdCondition({int(i) for i in c.has_id})
    if isinstance(c, models.FieldCondition):
        match = c.match
        if isinstance(match, models.MatchAny):
            return qe.FieldCondition(c.key, match=qe.MatchAny(list(match.any)))  # type: ignore[arg-type]
        if isinstance(match, models.MatchValue):
            return qe.FieldCondition(c.key, match=qe.MatchValue(match.value))
    raise NotImplementedError(f"filter condition {c!r}")


def _filter(flt: models.Filter | None) -> Any:
    if flt is None:
        return None
    return qe.Filter(must=[_condition(c) for c in flt.must or []] or None,
                     should=[_condition(c) for c in flt.should or []] or None,
                     must_not=[_condition(c) for c in flt.must_not or []] or None)


def _query(query: Any, using: str | None) -> Any:
    if isinstance(query, models.SparseVector):
        return qe.Query.Nearest(qe.SparseVector(list(query.indices), list(query.values)), using=using)
    return qe.Query.Nearest([float(x) for x in query], using=using)


def _payload_selector(with_payload: Any) -> Any:
    if isinstance(with_payload, list):
        return qe.PayloadSelector.Include(with_payload)
    return bool(with_payload)


def _vector(vector: Any) -> Any:
    if isinstance(vector, models.SparseVector):
        return qe.SparseVector(list(vector.indices), list(vector.values))
    return [float(x) for x in vector]


class EdgeCluster:
    """N edge shards under one collection name, with the collection's metadata (clir's manifest) beside them."""

    def __init__(self, root: Path, shards: int, dim: int, name: str, metadata: dict[str, Any], idf: bool = True,
                 keyword_fields: Sequence[str] = ("lang", "meta", "id"), integer_fields: Sequence[str] = ("terms",)
                 ) -> None:
        self.name, self.metadata, self.n = name, metadata, shards
        config = qe.EdgeConfig(vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
                               sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(
                                   modifier=qe.Modifier.Idf if idf else None)})
        shutil.rmtree(root, ignore_errors=True)
        self.shards = [qe.EdgeShard.create(str(root / f"shard-{i}"), config) for i in range(shards)]
        for shard in self.shards:
            for field in keyword_fields:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
            for field in integer_fields:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Integer))

    @classmethod
    def copy_of(cls, client: QdrantClient, name: str, root: Path, shards: int, idf: bool | None = None,
                **options: Any) -> EdgeCluster:
        """The points (vectors and payloads) and metadata of a qdrant-client collection, spread over N shards;
        `idf` overrides whether the sparse vectors get Qdrant's IDF modifier (default: as the source has it)."""
        info = client.get_collection(name)
        params = info.config.params
        if idf is None:
            sparse = (params.sparse_vectors or {}).get(SPARSE)
            idf = sparse is not None and sparse.modifier == models.Modifier.IDF
        dim = params.vectors[DENSE].size  # type: ignore[index]
        cluster = cls(root, shards, dim, name, dict(info.config.metadata or {}), idf=idf, **options)
        offset = None
        while True:
            points, offset = client.scroll(name, limit=512, offset=offset, with_payload=True, with_vectors=True)
            cluster.upsert(name, [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points])
            if offset is None:
                return cluster

    def store(self, writable: bool = True) -> QdrantCollection:
        """clir's Qdrant backend on these shards, as it serves a server (`url`: never dialled, the client is
        this cluster): BM25's statistics are counted by the shards on each search."""
        target = QdrantTarget(self.name, url=f"http://edge-shards.invalid/{self.n}")
        return QdrantCollection(target, self, read_manifest(self, self.name, target.location), writable)

    # -- the qdrant-client calls clir's backend makes --------------------------------------------------

    def get_collection(self, name: str) -> Any:
        return SimpleNamespace(config=SimpleNamespace(metadata=self.metadata))

    def _merged(self, request: Any, answers: Iterable[Sequence[Any]]) -> SimpleNamespace:
        points = sorted((p for answer in answers for p in answer), key=lambda p: (-p.score, int(p.id)))
        return SimpleNamespace(points=[SimpleNamespace(id=int(p.id), score=float(p.score), payload=p.payload)
                                       for p in points[: request.limit]])

    def _request(self, query: Any, using: str | None, limit: int, flt: Any, with_payload: Any) -> Any:
        return qe.QueryRequest(limit=limit, query=_query(query, using), filter=_filter(flt),
                               with_payload=_payload_selector(with_payload))

    def query_points(self, name: str, query: Any, using: str | None = None, limit: int = 10,
                     query_filter: models.Filter | None = None, with_payload: Any = True) -> SimpleNamespace:
        request = self._request(query, using, limit, query_filter, with_payload)
        return self._merged(request, (shard.query(request) for shard in self.shards))

    def query_batch_points(self, name: str, requests: Sequence[models.QueryRequest]) -> list[SimpleNamespace]:
        converted = [self._request(r.query, r.using, r.limit or 10, r.filter, r.with_payload) for r in requests]
        per_shard = [shard.query_batch(qe.QueryBatchRequest(converted)) for shard in self.shards]
        return [self._merged(request, (answers[i] for answers in per_shard))
                for i, request in enumerate(converted)]

    def retrieve(self, name: str, ids: Sequence[int], with_payload: Any = True,
                 with_vectors: Any = False) -> list[SimpleNamespace]:
        vectors = with_vectors if isinstance(with_vectors, list) else bool(with_vectors)
        by_shard: dict[int, list[int]] = {}
        for i in ids:
            by_shard.setdefault(shard_of(int(i), self.n), []).append(int(i))
        found = []
        for s, group in by_shard.items():
            for r in self.shards[s].retrieve(list[Any](group), with_payload=_payload_selector(with_payload),
                                             with_vector=vectors):
                found.append(SimpleNamespace(id=int(r.id), payload=r.payload, vector=r.vector))
        return found

    def count(self, name: str, count_filter: models.Filter | None = None, exact: bool = True) -> SimpleNamespace:
        request = qe.CountRequest(exact=True, filter=_filter(count_filter))
        return SimpleNamespace(count=sum(shard.count(request) for shard in self.shards))

    def facet(self, name: str, key: str, limit: int = 10, exact: bool = False,
              facet_filter: models.Filter | None = None) -> SimpleNamespace:
        totals: dict[Any, int] = {}
        for shard in self.shards:
            for hit in shard.facet(qe.FacetRequest(key, limit=limit, exact=True, filter=_filter(facet_filter))).hits:
                totals[hit.value] = totals.get(hit.value, 0) + int(hit.count)
        hits = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
        return SimpleNamespace(hits=[SimpleNamespace(value=v, count=c) for v, c in hits])

    def upsert(self, name: str, points: Sequence[models.PointStruct], wait: bool = True) -> None:
        by_shard: dict[int, list[Any]] = {}
        for p in points:
            vector = {k: _vector(v) for k, v in dict(p.vector).items()}  # type: ignore[arg-type]
            by_shard.setdefault(shard_of(int(p.id), self.n), []).append(qe.Point(int(p.id), vector, p.payload))
        for s, group in by_shard.items():
            self.shards[s].update(qe.UpdateOperation.upsert_points(group))

    def delete(self, name: str, points_selector: models.PointIdsList, wait: bool = True) -> None:
        by_shard: dict[int, list[int]] = {}
        for i in points_selector.points:
            by_shard.setdefault(shard_of(int(i), self.n), []).append(int(i))
        for s, group in by_shard.items():
            self.shards[s].update(qe.UpdateOperation.delete_points(list[Any](group)))

    def optimize(self) -> None:
        for shard in self.shards:
            shard.optimize()

    def close(self) -> None:
        for shard in self.shards:
            shard.close()
