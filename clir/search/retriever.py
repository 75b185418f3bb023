"""The retrieval core shared by the CLI, the HTTP service and the evaluator.

It encodes queries with the encoder an index was built with, asks the index store (`clir.index.store`)
for dense and sparse candidates, and fuses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from clir.encoders.models import Encoder, canonical_name, load_encoder
from clir.errors import ConfigError
from clir.index.manifest import Manifest
from clir.index.open import open_store
from clir.index.store import IndexStore, SparseMatches
from clir.index.target import QdrantTarget
from clir.records import Component, Filter, Hit, Ranked, Scores, SearchResult, Vectors
from clir.runtime import single_threaded_numpy_blas
from clir.search.fusion import (
    OTHER_SCRIPT,
    SAME_LANGUAGE,
    SAME_SCRIPT,
    Candidates,
    FusionParams,
    Kinship,
    auto_confidence,
    fuse,
    propagation,
)
from clir.search.options import DEFAULT_DEPTH, DEFAULT_K, MODES
from clir.search.snippets import SENTENCE_BUDGET, Snippet, snippets
from clir.text.analyzers import analyzer_for
from clir.text.langid import resolve_query_lang
from clir.text.scripts import script_of

DEFAULT_FUSION = FusionParams()
Encode = Callable[[Sequence[str]], Vectors]
# Language balance (docs/fusion.md, "Multilingual collections"): dense candidates taken per document
# language, and each language's cosines moved toward the level of the languages other than the query's,
# a language's level being the mean of its best BALANCE_LEVEL. The query's own language and the languages
# below that level move all the way; those above it by BALANCE_DOWN of the way (a language whose sentences
# all resemble the query a little, and which holds the answer, is not pushed under the others).
# Tuned on the development data only (bench/tune_balance.py).
BALANCE_QUOTA = 20
BALANCE_LEVEL = 5
BALANCE_DOWN = 0.35


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def language_shifts(best: dict[str, Scores], query_lang: str | None) -> dict[str, float]:
    """Each language's shift, from its best cosines (descending): toward the mean level of the languages other
    than the query's (of all of them when the query's language holds none)."""
    dtype = np.result_type(np.float32, *best.values())
    head = np.zeros((len(best), BALANCE_LEVEL), dtype=dtype)
    counts = np.empty(len(best), dtype=dtype)
    for i, scores in enumerate(best.values()):
        top = scores[:BALANCE_LEVEL]
        head[i, : len(top)] = top
        counts[i] = len(top)
    # one reduction for all languages: the same bits as a numpy mean per language (a test holds it to that; ties
    # rank by these numbers), which cost more than the rest of the step (docs/benchmarks.md)
    levels = dict(zip(best, (head.sum(axis=1) / counts).tolist(), strict=True))
    others = [level for lang, level in levels.items() if lang != query_lang] or list(levels.values())
    centre = float(np.mean(others)) if others else 0.0
    return {lang: (centre - level) * (BALANCE_DOWN if level > centre and lang != query_lang else 1.0)
            for lang, level in levels.items()}


@lru_cache(maxsize=4096)
def _kinship(lang: str | None, doc_lang: str) -> int:
    """A document language's kinship with a query language (None: unknown)."""
    if lang is not None and doc_lang == lang:
        return SAME_LANGUAGE
    script = script_of(lang)
    return SAME_SCRIPT if script is not None and script_of(doc_lang) == script else OTHER_SCRIPT


def propagated(store: IndexStore, c: Candidates, scores: NDArray[np.float64], kinship: Kinship, confidence: float,
               n: int, params: FusionParams) -> NDArray[np.float64]:
    """`auto` fusion under language balance: the candidates in other languages close to BM25's top match lifted
    (clir.search.fusion.propagation). Only those the largest lift could bring into the first `n` are compared with
    the match (one read of their stored vectors)."""
    if params.method != "auto" or params.propagation_weight == 0 or confidence == 0.0 or c.match < 0:
        return scores
    cut = np.partition(scores, len(scores) - n)[len(scores) - n] if len(scores) > n else -np.inf
    near = np.flatnonzero((scores + confidence * params.propagation_weight >= cut) & (kinship != SAME_LANGUAGE))
    if not len(near):
        return scores
    vectors = store.dense_vectors(np.concatenate([c.rows[c.match : c.match + 1], c.rows[near]]))
    lifted: NDArray[np.float64] = scores.copy()
    lifted[near] += propagation(vectors[1:] @ vectors[0], kinship[near], confidence, params)
    return lifted


class _NoMatches:
    """The sparse side of a dense-only search."""

    def top(self, k: int) -> Ranked:
        return Ranked.empty()

    def of(self, rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows), dtype=np.float32)


class Retriever:
    """One index store and its encoder. Thread-safe: it holds no state between searches."""

    def __init__(self, store: IndexStore, encoder: Encoder) -> None:
        store.manifest.check_encoder(encoder.name, store.location)
        single_threaded_numpy_blas()
        self.store = store
        self.encoder = encoder
        self._manifest: Manifest | None = None
        self._candidates: list[str] = []
        # Load the language-ID model and the analyzers now, not in the first request (the first analyzer
        # has a one-time set-up cost; docs/benchmarks.md).
        self.resolve_lang("warm up", None)
        for lang in (*self.query_lang_candidates, None):
            analyzer_for(lang).tokens("warm up")

    @classmethod
    def open(cls, root: str | Path | QdrantTarget, *, encoder: str | Encoder | None = None, verify: bool = True,
             writable: bool = False, threads: int | None = None, ef_search: int | None = None,
             nprobe: int | None = None) -> Retriever:
        """An index (a directory with the writes logged since it was built, or a Qdrant collection) and
        its encoder (the one it records, unless given; a different one is refused before any model
        loads). `threads` caps the index's search threads in this process."""
        store = open_store(root if isinstance(root, QdrantTarget) else Path(root), writable=writable, verify=verify,
                           threads=threads, ef_search=ef_search, nprobe=nprobe)
        return cls.with_encoder(store, encoder)

    @classmethod
    def with_encoder(cls, store: IndexStore, encoder: str | Encoder | None = None) -> Retriever:
        """An open store and its encoder (the one it records, unless given)."""
        if isinstance(encoder, str):
            store.manifest.check_encoder(canonical_name(encoder), store.location)
        model = encoder if encoder is not None and not isinstance(encoder, str) else \
            load_encoder(encoder or store.manifest.encoder_name)
        return cls(store, model)

    @property
    def manifest(self) -> Manifest:
        return self.store.manifest

    def close(self) -> None:
        """Close the store's connection (a Qdrant client, the embedded write log)."""
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    @property
    def query_lang_candidates(self) -> list[str]:
        """The collection's languages plus English: detection restricted to them is far more reliable on
        short queries than open-set detection. Follows the manifest (it changes at compaction)."""
        manifest = self.store.manifest
        if manifest is not self._manifest:
            self._candidates = sorted({*(lang for lang in manifest.languages if lang != "und"), "en"})
            self._manifest = manifest
        return self._candidates

    @property
    def expansion_langs(self) -> frozenset[str]:
        """With xQG sparse expansion every document also carries text in the generation languages: BM25
        evidence in those languages is same-language evidence."""
        return self.store.manifest.expansion_langs

    def __len__(self) -> int:
        return len(self.store)

    def missing_documents(self, doc_ids: Sequence[str]) -> list[str]:
        return self.store.missing(doc_ids)

    def resolve_lang(self, query: str, hint: str | None) -> str | None:
        return resolve_query_lang(query, hint, self.query_lang_candidates)[0]

    def sparse_matches(self, query: str, lang: str | None, flt: Filter | None = None,
                       store: IndexStore | None = None) -> SparseMatches:
        """BM25 evidence for a query analysed as `lang` (None: the neutral analyzer)."""
        return (store or self.store).sparse_search(analyzer_for(lang).tokens(query), flt)

    def kinship(self, rows: np.ndarray, lang: str | None, store: IndexStore | None = None) -> Kinship:
        """Each row's kinship with a query in `lang`: same language (every row, when xQG expansion gave
        every document text in that language), another language in the same script, or another script."""
        if lang is not None and lang in self.expansion_langs:
            return np.full(len(rows), SAME_LANGUAGE, dtype=np.int8)
        # the distinct languages' kinships looked up once, then spread over the rows
        codes, inverse = np.unique((store or self.store).langs(rows), return_inverse=True)
        table = np.array([_kinship(lang, doc_lang) for doc_lang in codes.tolist()], dtype=np.int8)
        return table[inverse.ravel()]

    # -- search ---------------------------------------------------------------------------------

    def search(self, query: str, *, k: int = DEFAULT_K, mode: str = "hybrid", query_lang: str | None = None,
               depth: int | None = None, fusion: FusionParams | None = None,
               filter: Filter | None = None, language_balance: bool = True, offset: int = 0) -> SearchResult:
        return self.search_batch([query], k=k, mode=mode, query_langs=[query_lang], depth=depth, fusion=fusion,
                                 filter=filter, language_balance=language_balance, offset=offset)[0]

    def balanced_languages(self, flt: Filter | None) -> list[str]:
        """The document languages a balanced search takes candidates from: the collection's (those the
        filter allows); fewer than two means nothing to balance."""
        langs = [lang for lang in self.store.manifest.languages if lang != "und"]
        return sorted(lang for lang in langs if flt is None or not flt.langs or lang in flt.langs)

    def dense_candidates(self, store: IndexStore, vectors: Vectors, depth: int, flt: Filter | None,
                         language_balance: bool, query_langs: Sequence[str | None] | None = None
                         ) -> tuple[list[Ranked], list[dict[str, float] | None]]:
        """Each query's dense top list, and under language balance the shift applied to each language.

        Balanced, on a collection of several languages: a quota from every language (one search,
        `dense_search_by_lang`), each language's cosines shifted toward the others' level (`language_shifts`)."""
        langs = self.balanced_languages(flt) if language_balance else []
        if len(langs) < 2:
            return store.dense_search(vectors, depth, flt), [None] * len(vectors)
        quota = max(BALANCE_QUOTA, -(-depth // len(langs)))
        own = list(query_langs) if query_langs is not None else [None] * len(vectors)
        lists: list[Ranked] = []
        shifts: list[dict[str, float] | None] = []
        for per_lang, query_lang in zip(store.dense_search_by_lang(vectors, quota, langs, flt), own, strict=True):
            shift = language_shifts({lang: r.scores for lang, r in per_lang.items() if len(r)}, query_lang)
            rows = np.concatenate([per_lang[lang].rows for lang in shift] or [np.zeros(0, np.int64)])
            scores = np.concatenate([per_lang[lang].scores + np.float32(shift[lang]) for lang in shift]
                                    or [np.zeros(0, np.float32)])
            lists.append(Ranked.top_of(rows, scores, len(rows)))
            shifts.append(shift)
        return lists, shifts

    def search_batch(self, queries: Sequence[str], *, k: int = DEFAULT_K, mode: str = "hybrid",
                     query_langs: Sequence[str | None] | None = None, depth: int | None = None,
                     fusion: FusionParams | None = None, filter: Filter | None = None,
                     encode: Encode | None = None, language_balance: bool = True,
                     offset: int = 0) -> list[SearchResult]:
        """Search several queries; their vectors are encoded as one batch (by `encode` when given:
        the service's micro-batcher, the evaluator's memo). `language_balance` ranks a multilingual
        collection's documents without preferring the query's language (a no-op on one language).
        `offset` pages: hits ranked offset + 1 .. offset + k of the same ranking (the candidates depend
        on the depth only, so pages of one query agree while offset + k stays within the depth)."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        if k < 1:
            raise ConfigError("k must be at least 1")
        if offset < 0:
            raise ConfigError("offset must be at least 0")
        fusion = fusion or DEFAULT_FUSION
        depth = max(offset + k, depth or DEFAULT_DEPTH)
        hints = list(query_langs) if query_langs is not None else [None] * len(queries)
        t0 = time.perf_counter()
        store = self.store.view()  # one view for the whole search: its rows keep their meaning
        timing = dict.fromkeys(("encode", "dense", "sparse"), 0.0)
        # Language ID and BM25 run in this thread, before encoding. Overlapping them with encoding in a
        # worker thread gained nothing measurable: the encoders already keep every core busy (OpenMP).
        start = time.perf_counter()
        langs = [self.resolve_lang(q, h) for q, h in zip(queries, hints, strict=True)]
        sparse: list[SparseMatches] = [_NoMatches()] * len(queries)
        if mode != "dense":
            sparse = [self.sparse_matches(q, lang, filter, store) for q, lang in zip(queries, langs, strict=True)]
        timing["sparse"] = _ms(start)
        dense = [Ranked.empty()] * len(queries)
        shifts: list[dict[str, float] | None] = [None] * len(queries)
        vectors = np.zeros((len(queries), 0), dtype=np.float32)
        if mode != "sparse":
            start = time.perf_counter()
            vectors = (encode or self.encoder.encode_queries)(queries)
            timing["encode"] = _ms(start)
            start = time.perf_counter()
            dense, shifts = self.dense_candidates(store, vectors, depth, filter, language_balance, langs)
            timing["dense"] = _ms(start)
        results = []
        for i, query in enumerate(queries):
            start = time.perf_counter()
            if mode == "hybrid":
                c = self.candidates(vectors[i], dense[i], sparse[i], depth, store, shifts[i])
                hits = self._fused_hits(store, c, langs[i], offset, k, fusion, balanced=shifts[i] is not None)
            elif mode == "dense":
                hits = self._list_hits(store, dense[i].page(offset, k), "dense", offset)
            else:
                hits = self._list_hits(store, sparse[i].top(offset + k).page(offset, k), "sparse", offset)
            per_query = {name: round(value / len(queries), 3) for name, value in timing.items()}
            per_query["fuse"] = _ms(start)
            per_query["total"] = round(_ms(t0) / len(queries), 3)
            results.append(SearchResult(query, langs[i], hits, per_query, view=store,
                                        vector=vectors[i] if mode != "sparse" else None))
        return results

    def snippets(self, result: SearchResult, budget: int = SENTENCE_BUDGET) -> list[Snippet]:
        """A snippet of each hit's text around the query's matching terms (clir.search.snippets), encoding
        at most `budget` sentences for the hits that match no term."""
        docs = result.view.documents([h.row for h in result.hits])
        return snippets(result.query, result.query_lang, result.vector, [docs[h.row] for h in result.hits],
                        self.encoder, budget=budget)

    def candidates(self, vector: Vectors, dense: Ranked, sparse_matches: SparseMatches, depth: int,
                   store: IndexStore | None = None, shift: dict[str, float] | None = None) -> Candidates:
        """Union of the dense and sparse top-`depth` lists with exact scores from both sides (the dense
        scores of BM25-only rows shifted as their language's are, under language balance)."""
        store = store or self.store
        sparse = sparse_matches.top(depth)
        # One sort of the dense rows answers both "which sparse rows are new" and "where does each
        # shared row sit in the dense list" (np.isin builds a table as long as the row range).
        order = np.argsort(dense.rows)
        pos = np.minimum(np.searchsorted(dense.rows[order], sparse.rows), max(len(dense) - 1, 0))
        shared = dense.rows[order[pos]] == sparse.rows if len(dense) else np.zeros(len(sparse), dtype=bool)
        extra_at = np.flatnonzero(~shared)
        extra = sparse.rows[extra_at]
        rows = np.concatenate([dense.rows, extra])
        extra_dense = store.dense_scores(vector, extra)
        if shift and len(extra):
            extra_dense = extra_dense + np.asarray([shift.get(str(lang), 0.0) for lang in store.langs(extra)],
                                                   dtype=np.float32)
        dense_scores = np.concatenate([dense.scores, extra_dense])
        sparse_top = np.zeros(depth, dtype=np.float32)
        sparse_top[: len(sparse)] = sparse.scores
        # rows start with the dense list in its order, then the sparse-only rows in sparse order
        dense_rank = np.zeros(len(rows), dtype=np.int64)
        dense_rank[: len(dense)] = np.arange(1, len(dense) + 1)
        sparse_rank = np.zeros(len(rows), dtype=np.int64)
        sparse_rank[order[pos[shared]]] = np.flatnonzero(shared) + 1
        sparse_rank[len(dense):] = extra_at + 1
        sparse_of = np.concatenate([sparse_matches.of(dense.rows), sparse.scores[extra_at]])
        match = -1 if not len(sparse) else int(order[pos[0]]) if shared[0] else len(dense)
        return Candidates(rows=rows, dense=dense_scores.astype(np.float32), sparse=sparse_of,
                          dense_rank=dense_rank, sparse_rank=sparse_rank, sparse_top=sparse_top, match=match)

    def _fused_hits(self, store: IndexStore, c: Candidates, lang: str | None, offset: int, k: int,
                    fusion: FusionParams, balanced: bool = False) -> list[Hit]:
        kinship = self.kinship(c.rows, lang, store)
        confidence = auto_confidence(c, fusion) if fusion.method == "auto" else 0.0
        scores = fuse(c, fusion, kinship, confidence)
        if balanced:
            scores = propagated(store, c, scores, kinship, confidence, offset + k, fusion)
        fused = Ranked.top_of(np.arange(len(c)), scores, offset + k).page(offset, k)
        at = fused.rows
        rows = c.rows[at]
        ids, langs = store.ids(rows.tolist()), store.langs(rows).tolist()
        # whole columns to Python lists at once: per-element numpy access costs more than the rest of a hit
        columns = zip(rows.tolist(), ids, fused.scores.tolist(), langs, c.dense[at].tolist(),
                      c.dense_rank[at].tolist(), c.sparse[at].tolist(), c.sparse_rank[at].tolist(), strict=True)
        # positional arguments: the evaluator builds 100 hits a query, and keywords cost a third more
        return [Hit(row, doc_id, rank, score, doc_lang or None, Component(dense, dr or None),
                    Component(sparse, sr or None))
                for rank, (row, doc_id, score, doc_lang, dense, dr, sparse, sr) in enumerate(columns, offset + 1)]

    @staticmethod
    def _list_hits(store: IndexStore, ranked: Ranked, side: str, offset: int) -> list[Hit]:
        rows = ranked.rows.tolist()
        ids, langs = store.ids(rows), store.langs(ranked.rows).tolist()
        hits = []
        for rank, (row, doc_id, doc_lang, score) in enumerate(zip(rows, ids, langs, ranked.scores.tolist(),
                                                                  strict=True), offset + 1):
            component = Component(score, rank)
            hits.append(Hit(row=row, id=doc_id, rank=rank, score=score, lang=doc_lang or None,
                            dense=component if side == "dense" else None,
                            sparse=component if side == "sparse" else None))
        return hits
