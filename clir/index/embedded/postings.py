"""Raw BM25 statistics: term frequencies and document lengths, and BM25 weights computed from them.

bm25s stores final scores, which hold the collection's N, document frequencies and average length as
they were at build time. A collection that takes writes needs the raw counts to score with its live
statistics, so every index also stores its term-frequency postings (term-major CSC, `tf.npz` beside
bm25s's files). `bm25_weights` reproduces bm25s's formulas (same idf and tf components, same
float32 rounding), so weights from live statistics equal a fresh bm25s build of the same documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from clir.errors import IndexFormatError
from clir.index.params import BM25Params

TF_FILE = "tf.npz"
Int32 = NDArray[np.int32]


@dataclass(frozen=True)
class TermPostings:
    """Term t occurs in rows indices[indptr[t]:indptr[t+1]] (ascending) tf[...] times; doc_len per row."""

    indptr: NDArray[np.int64]
    indices: Int32
    tf: Int32
    doc_len: Int32

    @classmethod
    def from_token_ids(cls, ids: Int32, lengths: NDArray[np.int64], n_terms: int) -> TermPostings:
        """From every document's token ids, concatenated, and the documents' lengths."""
        n_docs = len(lengths)
        docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        keys, tf = np.unique(ids.astype(np.int64) * max(n_docs, 1) + docs, return_counts=True)
        terms = keys // max(n_docs, 1)
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=n_terms), out=indptr[1:])
        return cls(indptr, (keys % max(n_docs, 1)).astype(np.int32), tf.astype(np.int32),
                   lengths.astype(np.int32))

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    def save(self, directory: Path) -> None:
        np.savez(directory / TF_FILE, indptr=self.indptr, indices=self.indices, tf=self.tf, doc_len=self.doc_len)

    @classmethod
    def load(cls, directory: Path, n_terms: int, n_docs: int) -> TermPostings | None:
        """The postings saved in `directory`, or None for an index built before they were stored."""
        path = directory / TF_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                postings = cls(z["indptr"], z["indices"], z["tf"], z["doc_len"])
        except (OSError, KeyError, ValueError) as exc:
            raise IndexFormatError(f"{path}: cannot read term frequencies ({exc})") from exc
        if len(postings.indptr) != n_terms + 1 or postings.n_docs != n_docs:
            raise IndexFormatError(f"{path}: term frequencies do not match the BM25 index")
        return postings

    def of(self, term: int) -> tuple[Int32, Int32]:
        start, end = int(self.indptr[term]), int(self.indptr[term + 1])
        return self.indices[start:end], self.tf[start:end]

    def token_counts(self) -> list[dict[int, int]]:
        """Per document, term id -> count: what a rebuild needs to reproduce its BM25 statistics."""
        out: list[dict[int, int]] = [{} for _ in range(self.n_docs)]
        terms = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        for term, row, count in zip(terms.tolist(), self.indices.tolist(), self.tf.tolist(), strict=True):
            out[row][term] = count
        return out


def idf(params: BM25Params, df: int, n: int) -> float:
    """bm25s's idf for `params.idf_method` (default: the method), in Python floats as bm25s computes it."""
    method = params.idf_method or params.method
    if method == "lucene":
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
    if method == "atire":
        return math.log(n / df)
    return math.log(max((n - df + 0.5) / (df + 0.5), 1.0))  # robertson, floored at 0 like bm25s


def bm25_weights(params: BM25Params, tf: NDArray[np.int32], doc_len: NDArray[np.int32], avg_doc_len: float,
                 df: int, n: int) -> NDArray[np.float32]:
    """BM25 contributions of one term to the documents with these term frequencies and lengths, as
    bm25s would store them for a collection of n documents with this average length and df."""
    k1, b = params.k1, params.b
    tf64 = tf.astype(np.float32).astype(np.float64)
    norm = k1 * ((1 - b) + b * doc_len.astype(np.float64) / np.float64(avg_doc_len))
    # lucene and robertson share the tf component; atire scales it by k1 + 1
    tfc = tf64 * (k1 + 1) / (tf64 + norm) if params.method == "atire" else tf64 / (norm + tf64)
    weights: NDArray[np.float32] = (np.float64(np.float32(idf(params, df, n))) * tfc).astype(np.float32)
    return weights
