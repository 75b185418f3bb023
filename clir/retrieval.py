"""The retrieval core shared by the CLI, the HTTP service and the evaluator.

It loads an index directory (validated against its manifest), encodes queries with the encoder the
index was built with, runs dense (FAISS) and sparse (BM25) retrieval and fuses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clir.errors import ConfigError, IndexFormatError
from clir.filters import Filter, FilterCache
from clir.fusion import Candidates, FusionParams, Ranked, fuse, sort_desc
from clir.results import Component, Hit, SearchResult
from indexer.analyzers import analyzer_for
from indexer.dense import DenseIndex
from indexer.docstore import DocStore
from indexer.encoders import Encoder, canonical_name, load_encoder
from indexer.langid import resolve_query_lang
from indexer.manifest import DOCSTORE, FAISS_FILE, SPARSE_DIR, check_encoder, load_manifest
from indexer.sparse import QueryScores, SparseIndex

MODES = ("dense", "sparse", "hybrid")
DEFAULT_DEPTH = 100
DEFAULT_FUSION = FusionParams()


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
        self.filters = FilterCache(docstore)
        langs = [lang for lang in manifest.get("languages", {}) if lang != "und"]
        # Detection restricted to the collection's languages (plus English, the usual query language)
        # is far more reliable on short queries than open-set detection.
        self.query_lang_candidates = sorted({*langs, "en"})
        self._last_encoded: tuple[tuple[str, ...], np.ndarray] | None = None
        # With xQG sparse expansion every document also carries text in the generation languages:
        # BM25 evidence in those languages is same-language evidence.
        xqg = manifest.get("xqg") or {}
        self.expansion_langs = frozenset(xqg.get("langs", [])) if xqg.get("sparse_expansion") else frozenset()
        # Load the language-ID model and the analyzers now, not in the first request (the first analyzer
        # costs ~0.1-0.5 s of one-time set-up).
        self.resolve_lang("warm up", None)
        for lang in (*self.query_lang_candidates, None):
            analyzer_for(lang).tokens("warm up")

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

    def resolve_lang(self, query: str, hint: str | None) -> str | None:
        return resolve_query_lang(query, hint, self.query_lang_candidates)[0]

    def encode(self, queries: Sequence[str]) -> np.ndarray:
        """Encode, remembering the last batch: evaluating several configurations on the same batch of
        queries (dense, then hybrid) then encodes it once."""
        key = tuple(queries)
        memo = self._last_encoded
        if memo is not None and memo[0] == key:
            return memo[1]
        vectors = self.encoder.encode_queries(list(queries))
        self._last_encoded = (key, vectors)
        return vectors

    # -- search ---------------------------------------------------------------------------------

    def search(self, query: str, *, k: int = 10, mode: str = "hybrid", query_lang: str | None = None,
               depth: int | None = None, fusion: FusionParams | None = None,
               filter: Filter | None = None) -> SearchResult:
        return self.search_batch([query], k=k, mode=mode, query_langs=[query_lang], depth=depth, fusion=fusion,
                                 filter=filter)[0]

    def search_batch(self, queries: Sequence[str], *, k: int = 10, mode: str = "hybrid",
                     query_langs: Sequence[str | None] | None = None, depth: int | None = None,
                     fusion: FusionParams | None = None, filter: Filter | None = None,
                     encode: Callable[[Sequence[str]], np.ndarray] | None = None) -> list[SearchResult]:
        """Search several queries; their vectors are encoded as one batch (by `encode` when given,
        e.g. the service's micro-batcher)."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        if k < 1:
            raise ConfigError("k must be at least 1")
        fusion = fusion or DEFAULT_FUSION
        depth = max(k, depth or DEFAULT_DEPTH)
        hints = list(query_langs) if query_langs is not None else [None] * len(queries)
        t0 = time.perf_counter()
        allowed = self.filters.mask(filter)
        timing = dict.fromkeys(("encode", "dense", "sparse"), 0.0)
        # Language ID and BM25 run in this thread, before encoding. Overlapping them with encoding in a
        # worker thread gained nothing measurable: the encoders already keep every core busy (OpenMP).
        langs, sparse_scores = self._langs_and_bm25(queries, hints, allowed, mode != "dense", timing)
        dense_lists = [Ranked.empty()] * len(queries)
        if mode != "sparse":
            start = time.perf_counter()
            vectors = (encode or self.encode)(queries)
            timing["encode"] = _ms(start)
            start = time.perf_counter()
            rows, scores = self.dense.search(vectors, depth, allowed)
            dense_lists = [Ranked.from_search(r, s) for r, s in zip(rows, scores, strict=True)]
            timing["dense"] = _ms(start)
        results = []
        for i, query in enumerate(queries):
            start = time.perf_counter()
            if mode == "hybrid":
                hits = self._fused_hits(vectors[i], dense_lists[i], sparse_scores[i], langs[i], depth, k, fusion)
            elif mode == "dense":
                hits = self._list_hits(dense_lists[i].top(k), "dense")
            else:
                hits = self._list_hits(Ranked(*sparse_scores[i].top(k)), "sparse")
            per_query = {name: round(value / len(queries), 3) for name, value in timing.items()}
            per_query["fuse"] = _ms(start)
            per_query["total"] = round(_ms(t0) / len(queries), 3)
            results.append(SearchResult(query, langs[i], hits, per_query))
        return results

    def _langs_and_bm25(self, queries: Sequence[str], hints: Sequence[str | None], allowed: np.ndarray | None,
                        sparse: bool, timing: dict[str, float]) -> tuple[list[str | None], list[QueryScores]]:
        """Query languages, and BM25 scores when the mode needs them."""
        start = time.perf_counter()
        langs = [self.resolve_lang(q, h) for q, h in zip(queries, hints, strict=True)]
        out = [QueryScores.empty()] * len(queries)
        for i, (query, lang) in enumerate(zip(queries, langs, strict=True)):
            if not sparse:
                break
            scores = self.sparse.query_scores(analyzer_for(lang).tokens(query))
            out[i] = scores if allowed is None else scores.restrict(allowed)
        timing["sparse"] = _ms(start)
        return langs, out

    def candidates(self, vector: np.ndarray, dense: Ranked, sparse_scores: QueryScores, depth: int) -> Candidates:
        """Union of the dense and sparse top-`depth` lists with exact scores from both sides."""
        sparse = Ranked(*sparse_scores.top(depth))
        # One sort of the dense rows answers both "which sparse rows are new" and "where does each
        # shared row sit in the dense list" (np.isin builds a table as long as the row range: 0.3 ms).
        order = np.argsort(dense.rows)
        pos = np.minimum(np.searchsorted(dense.rows[order], sparse.rows), max(len(dense) - 1, 0))
        shared = dense.rows[order[pos]] == sparse.rows if len(dense) else np.zeros(len(sparse), dtype=bool)
        extra_at = np.flatnonzero(~shared)
        extra = sparse.rows[extra_at]
        rows = np.concatenate([dense.rows, extra])
        dense_scores = np.concatenate([dense.scores, self.dense.reconstruct(extra) @ vector if len(extra) else []])
        sparse_top = np.zeros(depth, dtype=np.float32)
        sparse_top[: len(sparse)] = sparse.scores
        # rows start with the dense list in its order, then the sparse-only rows in sparse order
        dense_rank = np.zeros(len(rows), dtype=np.int64)
        dense_rank[: len(dense)] = np.arange(1, len(dense) + 1)
        sparse_rank = np.zeros(len(rows), dtype=np.int64)
        sparse_rank[order[pos[shared]]] = np.flatnonzero(shared) + 1
        sparse_rank[len(dense):] = extra_at + 1
        sparse_of = np.concatenate([sparse_scores.of(dense.rows), sparse.scores[extra_at]])
        return Candidates(rows=rows, dense=dense_scores.astype(np.float32), sparse=sparse_of,
                          dense_rank=dense_rank, sparse_rank=sparse_rank, sparse_top=sparse_top)

    def _fused_hits(self, vector: np.ndarray, dense: Ranked, sparse_scores: QueryScores, lang: str | None,
                    depth: int, k: int, fusion: FusionParams) -> list[Hit]:
        c = self.candidates(vector, dense, sparse_scores, depth)
        if lang is not None and lang in self.expansion_langs:
            same_lang = np.ones(len(c), dtype=bool)
        else:
            same_lang = self.docstore.langs[c.rows] == (lang or "\0")
        fused = sort_desc(np.arange(len(c)), fuse(c, fusion, same_lang)).top(k)
        hits = []
        for rank, (i, score) in enumerate(zip(fused.rows.tolist(), fused.scores.tolist(), strict=True), 1):
            dr, sr = int(c.dense_rank[i]), int(c.sparse_rank[i])
            hits.append(self._hit(int(c.rows[i]), rank, score,
                                  Component(float(c.dense[i]), dr or None),
                                  Component(float(c.sparse[i]), sr or None)))
        return hits

    def _list_hits(self, ranked: Ranked, side: str) -> list[Hit]:
        hits = []
        for rank, (row, score) in enumerate(zip(ranked.rows.tolist(), ranked.scores.tolist(), strict=True), 1):
            component = Component(float(score), rank)
            hits.append(self._hit(row, rank, float(score), *((component, None) if side == "dense" else
                                                              (None, component))))
        return hits

    def _hit(self, row: int, rank: int, score: float, dense: Component | None, sparse: Component | None) -> Hit:
        return Hit(row=row, id=self.docstore.ids[row], rank=rank, score=score,
                   lang=self.docstore.langs[row] or None, dense=dense, sparse=sparse)
