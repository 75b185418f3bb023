"""The retrieval core shared by the CLI, the HTTP service and the evaluator.

It loads an index directory (validated against its manifest), encodes queries with the encoder the
index was built with, runs dense (FAISS) and sparse (BM25) retrieval and fuses them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clir.errors import ConfigError, IndexFormatError
from clir.fusion import DEFAULT_RRF_K, Ranked, rrf
from indexer.analyzers import analyzer_for
from indexer.dense import DenseIndex
from indexer.docstore import DocStore
from indexer.encoders import Encoder, canonical_name, load_encoder
from indexer.langid import resolve_query_lang
from indexer.manifest import DOCSTORE, FAISS_FILE, SPARSE_DIR, check_encoder, load_manifest
from indexer.sparse import SparseIndex

MODES = ("dense", "sparse", "hybrid")
DEFAULT_DEPTH = 100


@dataclass(frozen=True)
class Component:
    score: float
    rank: int


@dataclass
class Hit:
    row: int
    id: str
    rank: int
    score: float
    lang: str | None
    dense: Component | None = None
    sparse: Component | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rank": self.rank,
            "score": self.score,
            "lang": self.lang,
            "dense": None if self.dense is None else {"score": self.dense.score, "rank": self.dense.rank},
            "sparse": None if self.sparse is None else {"score": self.sparse.score, "rank": self.sparse.rank},
        }


@dataclass
class SearchResult:
    query: str
    query_lang: str | None
    hits: list[Hit]
    timing_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "query_lang": self.query_lang,
            "hits": [h.to_dict() for h in self.hits],
            "timing_ms": self.timing_ms,
        }


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class Retriever:
    """One loaded index. Thread-safe for concurrent searches."""

    def __init__(self, root: Path, manifest: dict[str, Any], docstore: DocStore, dense: DenseIndex,
                 sparse: SparseIndex, encoder: Encoder) -> None:
        self.root = root
        self.manifest = manifest
        self.docstore = docstore
        self.dense = dense
        self.sparse = sparse
        self.encoder = encoder
        langs = [lang for lang in manifest.get("languages", {}) if lang != "und"]
        # Detection restricted to the collection's languages (plus English, the usual query language)
        # is far more reliable on short queries than open-set detection.
        self.query_lang_candidates = sorted({*langs, "en"})
        self._last_encoded: tuple[tuple[str, ...], np.ndarray] | None = None
        # Load the language-ID model now rather than inside the first request.
        self.resolve_lang("warm up", None)

    @classmethod
    def open(cls, root: str | Path, *, encoder: str | Encoder | None = None, verify: bool = True,
             ef_search: int | None = None, nprobe: int | None = None) -> Retriever:
        root = Path(root)
        manifest = load_manifest(root, verify=verify)
        if isinstance(encoder, str):
            check_encoder(manifest, canonical_name(encoder), root)
            encoder = load_encoder(encoder)
        elif encoder is None:
            encoder = load_encoder(manifest["encoder"]["name"])
        check_encoder(manifest, encoder.name, root)
        try:
            docstore = DocStore(root / DOCSTORE)
            dense = DenseIndex.load(root / FAISS_FILE, manifest["dense"]["kind"], ef_search, nprobe)
            sparse = SparseIndex.load(root / SPARSE_DIR)
        except (OSError, RuntimeError, ValueError) as exc:
            raise IndexFormatError(f"{root}: cannot load index files ({exc})".splitlines()[0]) from exc
        n = manifest["counts"]["documents"]
        if not (len(docstore) == dense.n_vectors == sparse.n_docs == n):
            raise IndexFormatError(f"{root}: index parts disagree on the number of documents")
        return cls(root, manifest, docstore, dense, sparse, encoder)

    def __len__(self) -> int:
        return len(self.docstore)

    def missing_documents(self, doc_ids: Sequence[str]) -> list[str]:
        return [doc_id for doc_id in doc_ids if self.docstore.row_of(doc_id) is None]

    # -- components -----------------------------------------------------------------------------

    def resolve_lang(self, query: str, hint: str | None) -> str | None:
        return resolve_query_lang(query, hint, self.query_lang_candidates)[0]

    def dense_candidates(self, vectors: np.ndarray, depth: int) -> list[Ranked]:
        rows, scores = self.dense.search(vectors, depth)
        return [Ranked.from_search(r, s) for r, s in zip(rows, scores, strict=True)]

    def sparse_candidates(self, query: str, lang: str | None, depth: int) -> Ranked:
        rows, scores = self.sparse.search(analyzer_for(lang).tokens(query), depth)
        return Ranked(rows, scores)

    def _encode(self, queries: tuple[str, ...]) -> np.ndarray:
        """Encode, remembering the last batch: evaluating several configurations on the same batch of
        queries (dense, then hybrid) then encodes it once."""
        memo = self._last_encoded
        if memo is not None and memo[0] == queries:
            return memo[1]
        vectors = self.encoder.encode_queries(list(queries))
        self._last_encoded = (queries, vectors)
        return vectors

    # -- search ---------------------------------------------------------------------------------

    def search(self, query: str, *, k: int = 10, mode: str = "hybrid", query_lang: str | None = None,
               depth: int | None = None, rrf_k: float = DEFAULT_RRF_K) -> SearchResult:
        return self.search_batch([query], k=k, mode=mode, query_langs=[query_lang], depth=depth, rrf_k=rrf_k)[0]

    def search_batch(self, queries: Sequence[str], *, k: int = 10, mode: str = "hybrid",
                     query_langs: Sequence[str | None] | None = None, depth: int | None = None,
                     rrf_k: float = DEFAULT_RRF_K) -> list[SearchResult]:
        """Search several queries; their vectors are encoded as one batch."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        if k < 1:
            raise ConfigError("k must be at least 1")
        depth = max(k, depth or DEFAULT_DEPTH)
        hints = list(query_langs) if query_langs is not None else [None] * len(queries)
        t0 = time.perf_counter()
        langs = [self.resolve_lang(q, h) for q, h in zip(queries, hints, strict=True)]
        dense_lists: list[Ranked] = [Ranked.empty()] * len(queries)
        timing = {"encode": 0.0, "dense": 0.0, "sparse": 0.0}
        if mode != "sparse":
            start = time.perf_counter()
            vectors = self._encode(tuple(queries))
            timing["encode"] = _ms(start)
            start = time.perf_counter()
            dense_lists = self.dense_candidates(vectors, depth)
            timing["dense"] = _ms(start)
        sparse_lists: list[Ranked] = [Ranked.empty()] * len(queries)
        if mode != "dense":
            start = time.perf_counter()
            sparse_lists = [self.sparse_candidates(q, lang, depth) for q, lang in zip(queries, langs, strict=True)]
            timing["sparse"] = _ms(start)
        results = []
        for query, lang, dense, sparse in zip(queries, langs, dense_lists, sparse_lists, strict=True):
            start = time.perf_counter()
            fused = dense if mode == "dense" else sparse if mode == "sparse" else rrf([dense, sparse], k=rrf_k)
            hits = self._hits(fused.top(k), dense, sparse)
            per_query = {name: round(value / len(queries), 3) for name, value in timing.items()}
            per_query["fuse"] = _ms(start)
            per_query["total"] = round(_ms(t0) / len(queries), 3)
            results.append(SearchResult(query, lang, hits, per_query))
        return results

    def _hits(self, fused: Ranked, dense: Ranked, sparse: Ranked) -> list[Hit]:
        dense_ranks = dense.ranks_of(fused.rows)
        sparse_ranks = sparse.ranks_of(fused.rows)
        hits = []
        for i, (row, score) in enumerate(zip(fused.rows.tolist(), fused.scores.tolist(), strict=True)):
            dr, sr = int(dense_ranks[i]), int(sparse_ranks[i])
            hits.append(Hit(
                row=row, id=self.docstore.ids[row], rank=i + 1, score=float(score),
                lang=self.docstore.langs[row] or None,
                dense=Component(float(dense.scores[dr - 1]), dr) if dr else None,
                sparse=Component(float(sparse.scores[sr - 1]), sr) if sr else None,
            ))
        return hits
