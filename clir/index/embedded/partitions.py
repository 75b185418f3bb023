"""Language partitions of the dense index: the top rows of every document language at the cost of one small
search per language, for language balance (docs/fusion.md; costs in docs/benchmarks.md).

A filtered FAISS search cannot do it: restricted to one language of a multilingual collection, an HNSW or
IVF search falls back to a scan of the allowed rows, so one filtered search per language scanned the
collection once per language (78x the plain dense search at 200k passages in 16 languages). Instead:
- a flat index is scanned once for all languages (every score is computed anyway), and each language's
  best rows are picked from that one pass;
- an HNSW or IVF-PQ index is built with a partition per language beside it (`dense_langs/`): a small index
  of that language's vectors (exact below EXACT_PARTITION_ROWS rows, else the collection's kind), whose
  local ids map back to the collection's rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from clir.errors import IndexFormatError
from clir.index.embedded.dense import DenseIndex, build_faiss, search_threads
from clir.index.params import DenseParams
from clir.records import Mask, Rows, Scores, Vectors

PARTITIONS_DIR = "dense_langs"
ROWS_FILE = "rows.npz"
# Up to this many rows a language is scanned exactly: as fast as a graph search there, and exact.
EXACT_PARTITION_ROWS = 4096
# A partition answers top-`quota` lists (about 20), not the collection's top 100: a sparser graph (24 links)
# and a shallower beam (efSearch 96 for the default 128: recall@20 0.95 at 62,500 rows a language, where 80
# gave 0.94) touch less memory per search. Recall and cost by partition size, and 32 links tried, are in
# docs/benchmarks.md; CLIR_EF_SEARCH scales the beam.
PARTITION_HNSW_M = 24
PARTITION_EF_SHARE = 0.75


class Partition(NamedTuple):
    rows: Rows  # the collection's rows of this language, ascending
    dense: DenseIndex  # over those rows' vectors, in that order


def languages_of(row_langs: Sequence[str] | np.ndarray) -> dict[str, Rows]:
    """Each determined language's rows, ascending (undetermined rows, "", are in none)."""
    codes, inverse = np.unique(np.asarray(row_langs, dtype=str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(codes) + 1))
    return {str(code): order[bounds[i]:bounds[i + 1]].astype(np.int64)
            for i, code in enumerate(codes) if str(code)}


def build_partitions(vectors: np.ndarray, row_langs: Sequence[str], params: DenseParams, kind: str,
                     out: Path) -> dict[str, Any] | None:
    """Write a partition per language under out/dense_langs for an HNSW or IVF-PQ collection of several
    languages; returns the manifest entry (None where there is nothing to partition)."""
    groups = languages_of(row_langs)
    if kind == "flat" or len(groups) < 2:
        return None
    root = out / PARTITIONS_DIR
    root.mkdir()
    info: dict[str, Any] = {}
    for i, (lang, rows) in enumerate(sorted(groups.items())):
        sub = np.ascontiguousarray(vectors[rows], dtype=np.float32)
        part_kind = "flat" if len(rows) <= EXACT_PARTITION_ROWS else kind
        index, meta = build_faiss(sub, replace(params, kind=part_kind, nlist=None, hnsw_m=PARTITION_HNSW_M))
        DenseIndex(index, meta["kind"]).save(root / f"{i}.faiss")
        info[lang] = {"file": f"{i}.faiss", "rows": int(len(rows)), "kind": meta["kind"]}
    langs = sorted(groups)
    np.savez(root / ROWS_FILE, langs=np.array(langs, dtype=str), rows=np.concatenate([groups[g] for g in langs]),
             bounds=np.cumsum([0, *(len(groups[g]) for g in langs)]))
    return {"dir": PARTITIONS_DIR, "languages": info}


class LanguagePartitions:
    """The partitions of one loaded index (or, for a flat index, its rows per language only)."""

    def __init__(self, groups: Mapping[str, Rows], parts: Mapping[str, Partition] | None = None) -> None:
        self.groups = dict(groups)
        self.parts = dict(parts or {})

    @classmethod
    def load(cls, root: Path, entry: Mapping[str, Any], n_rows: int, ef_search: int | None = None,
             nprobe: int | None = None) -> LanguagePartitions:
        folder = root / str(entry["dir"])
        try:
            with np.load(folder / ROWS_FILE, allow_pickle=False) as saved:
                rows, bounds = saved["rows"].astype(np.int64), saved["bounds"]
                groups = {str(lang): rows[bounds[i]:bounds[i + 1]] for i, lang in enumerate(saved["langs"])}
            parts = {}
            for lang, meta in entry["languages"].items():
                index = DenseIndex.load(folder / meta["file"], meta["kind"], None, nprobe)
                if index.kind == "hnsw":
                    base = ef_search or index.index.hnsw.efSearch
                    index.index.hnsw.efSearch = max(1, math.ceil(base * PARTITION_EF_SHARE))
                parts[lang] = Partition(groups[lang], index)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise IndexFormatError(f"{root}: cannot load the language partitions ({exc})".splitlines()[0]) from exc
        if sum(len(p.rows) for p in parts.values()) > n_rows or any(p.dense.n_vectors != len(p.rows)
                                                                    for p in parts.values()):
            raise IndexFormatError(f"{root}: the language partitions disagree with the index")
        return cls(groups, parts)

    def top(self, dense: DenseIndex, queries: Vectors, k: int, langs: Sequence[str],
            allowed: Mask | None) -> dict[str, tuple[Rows, Scores]]:
        """The k best rows (and inner products) of each of `langs` for every query, within `allowed`;
        rows are -1 where a language has fewer than k."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        out: dict[str, tuple[Rows, Scores]] = {}
        parted = [lang for lang in langs if lang in self.parts]
        if parted:
            out.update(self._partition_searches(queries, k, parted, allowed))
        rest = [lang for lang in langs if lang not in out]
        one_pass = dense.scores_of_all(queries) if rest else None  # a flat index: every row scored once
        for lang in rest:
            rows = self.groups.get(lang, np.zeros(0, dtype=np.int64))
            local = None if allowed is None else allowed[rows]
            if one_pass is not None:
                out[lang] = _best(one_pass[:, rows], rows, k, local)
            else:  # an index built before partitions: a filtered search per language, as then
                mask = np.zeros(dense.n_vectors, dtype=bool)
                mask[rows] = True if local is None else local
                found, scores = dense.search(queries, k, mask) if mask.any() else _none(len(queries), k)
                out[lang] = (found, scores)
        return out


    def _partition_searches(self, queries: Vectors, k: int, langs: list[str],
                            allowed: Mask | None) -> dict[str, tuple[Rows, Scores]]:
        """Each language's partition searched, the languages shared out over the process's search threads
        (this thread takes the first share). Each search waits on memory, the graphs being out of the caches
        after the encoder has run, so two threads shorten the step (4.3 vs 7.3 ms at 1M, docs/benchmarks.md)."""
        n = min(len(langs), search_threads())
        shares = [langs[i::n] for i in range(n)]
        pending = [_pool(n - 1).submit(self._search_share, queries, k, share, allowed) for share in shares[1:]]
        found = self._search_share(queries, k, shares[0], allowed)
        for future in pending:
            found.update(future.result())
        return {lang: found[lang] for lang in langs}  # in the order asked: ties rank by it downstream

    def _search_share(self, queries: Vectors, k: int, langs: list[str],
                      allowed: Mask | None) -> dict[str, tuple[Rows, Scores]]:
        found = {}
        for lang in langs:
            part = self.parts[lang]
            local = None if allowed is None else allowed[part.rows]
            found[lang] = _to_rows(part.rows, *part.dense.search_mostly(queries, k, local), k)
        return found


@cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """The threads that search partitions beside the calling one, per process (created on first use, so
    after any fork)."""
    return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="clir-partitions")


def _none(n: int, k: int) -> tuple[Rows, Scores]:
    return np.full((n, k), -1, dtype=np.int64), np.full((n, k), -np.inf, dtype=np.float32)


def _to_rows(rows: Rows, found: np.ndarray, scores: Scores, k: int) -> tuple[Rows, Scores]:
    mapped = np.where(found >= 0, rows[np.maximum(found, 0)] if len(rows) else -1, -1)
    return mapped.astype(np.int64, copy=False), scores


def _best(scores: Scores, rows: Rows, k: int, allowed: Mask | None) -> tuple[Rows, Scores]:
    """The k best of each query's scores over `rows` (those `allowed`), in descending order, ties to the
    lower row; padded with -1. (One query at a time: a language holds a few thousand rows, and 1-D calls
    cost a third of their 2-D forms, take_along_axis and a 2-D lexsort.)"""
    n, m = scores.shape
    out_rows, out_scores = _none(n, k)
    if allowed is not None:
        rows, scores = rows[allowed], scores[:, allowed]
        m = len(rows)
    kk = min(k, m)
    for i in range(n if kk else 0):
        s = scores[i]
        part = np.argpartition(-s, kk - 1)[:kk] if kk < m else np.arange(m)
        part = part[np.lexsort((part, -s[part]))]  # descending score, then ascending position (= row)
        out_rows[i, :kk], out_scores[i, :kk] = rows[part], s[part]
    return out_rows, out_scores
