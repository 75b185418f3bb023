"""Rank fusion of candidate lists (rows of the shared document numbering)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RRF_K = 60.0


@dataclass(frozen=True)
class Ranked:
    """A ranked candidate list: rows sorted by descending score (ranks are positions + 1)."""

    rows: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Ranked:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))

    @classmethod
    def from_search(cls, rows: np.ndarray, scores: np.ndarray) -> Ranked:
        """Drop FAISS's -1 padding."""
        keep = rows >= 0
        return cls(rows[keep].astype(np.int64, copy=False), scores[keep].astype(np.float32, copy=False))

    def __len__(self) -> int:
        return len(self.rows)

    def top(self, k: int) -> Ranked:
        return Ranked(self.rows[:k], self.scores[:k])

    def ranks_of(self, rows: np.ndarray) -> np.ndarray:
        """1-based rank of each given row in this list, 0 where absent."""
        if len(self.rows) == 0:
            return np.zeros(len(rows), dtype=np.int64)
        order = np.argsort(self.rows, kind="stable")
        sorted_rows = self.rows[order]
        pos = np.clip(np.searchsorted(sorted_rows, rows), 0, len(sorted_rows) - 1)
        found = sorted_rows[pos] == rows
        return np.where(found, order[pos] + 1, 0)


def sort_desc(rows: np.ndarray, scores: np.ndarray) -> Ranked:
    """Sort by score descending, ties broken by row so results are deterministic."""
    order = np.lexsort((rows, -scores))
    return Ranked(rows[order], scores[order].astype(np.float32, copy=False))


def rrf(lists: Sequence[Ranked], weights: Sequence[float] | None = None, k: float = DEFAULT_RRF_K) -> Ranked:
    """Weighted reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1."""
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    if len(weights) != len(lists):
        raise ValueError("rrf needs one weight per list")
    parts = [(lst.rows, w / (k + np.arange(1, len(lst) + 1))) for lst, w in zip(lists, weights, strict=True) if w]
    if not parts:
        return Ranked.empty()
    rows = np.concatenate([p[0] for p in parts])
    contrib = np.concatenate([p[1] for p in parts])
    unique, inverse = np.unique(rows, return_inverse=True)
    return sort_desc(unique, np.bincount(inverse, weights=contrib, minlength=len(unique)))
