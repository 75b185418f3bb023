"""BM25 over analyzer tokens, stored in bm25s's on-disk format.

Building goes through bm25s.BM25.build_index_from_ids with our own vocabulary, so bm25s never
re-tokenises; the builder keeps token ids as int32 arrays, so memory follows token count, not
text size. Querying reads the saved CSC arrays directly: per query term one vectorised
scatter-add over its postings (bm25s uses np.add.at per term, which is several times slower),
then a partial sort for top-k (`Ranked.top_of`).

rank_bm25 parity: BM25Params(method="atire", idf_method="robertson") reproduces
rank_bm25.BM25Okapi(k1, b, epsilon=0): the same idf ln((N-df+.5)/(df+.5)) floored at 0 and
tf part tf*(k1+1)/(tf+k1*(1-b+b*dl/avgdl)), up to float32 storage (relative error ~1e-7).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from clir.errors import ConfigError, CorpusError, IndexFormatError
from clir.index.embedded.postings import TermPostings
from clir.index.params import BM25Params
from clir.records import Ranked

log = logging.getLogger("clir.sparse")

_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy",
          "vocab.index.json", "params.index.json")


class _DocIds(Sequence[list[int]]):
    """Per-document token-id lists, materialised one document at a time for bm25s."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self._ids = ids
        self._offsets = offsets.tolist()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> list[int]:  # type: ignore[override]
        ids: list[int] = self._ids[self._offsets[i]:self._offsets[i + 1]].tolist()
        return ids

    def __iter__(self) -> Iterator[list[int]]:
        ids, off = self._ids, self._offsets
        for i in range(len(off) - 1):
            yield ids[off[i]:off[i + 1]].tolist()


class SparseIndexBuilder:
    """Accumulates analysed documents in order; row i of the index is the i-th document added."""

    def __init__(self, params: BM25Params | None = None) -> None:
        self.params = params if params is not None else BM25Params()
        self._vocab: dict[str, int] = {}
        self._ids: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []

    @property
    def n_docs(self) -> int:
        return sum(len(x) for x in self._lengths)

    def add(self, token_lists: Sequence[list[str]]) -> None:
        vocab = self._vocab
        intern = vocab.setdefault
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
        # len(vocab) is evaluated before setdefault runs, so a new token gets the next free id
        ids = np.fromiter((intern(tok, len(vocab)) for toks in token_lists for tok in toks),
                          dtype=np.int32, count=int(lengths.sum()))
        self._lengths.append(lengths)
        self._ids.append(ids)

    def build(self, out_dir: Path, show_progress: bool = True) -> dict[str, Any]:
        """Write the bm25s index files into out_dir; returns {"documents", "vocab", "avg_doc_len"}."""
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        n_docs = len(lengths)
        if n_docs == 0:
            raise CorpusError("cannot build a BM25 index from zero documents")
        ids = np.concatenate(self._ids)
        offsets = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        p = self.params
        bm25 = bm25s.BM25(k1=p.k1, b=p.b, method=p.method, idf_method=p.idf_method, backend="numpy")
        # bm25s evaluates dl/avgdl for every document, even empty ones; with an all-empty corpus
        # that is 0/0 over empty arrays, harmless but noisy
        with np.errstate(invalid="ignore", divide="ignore"):
            bm25.scores = bm25.build_index_from_ids(
                unique_token_ids=list(range(len(self._vocab))),
                corpus_token_ids=_DocIds(ids, offsets),
                show_progress=show_progress,
            )
        bm25.vocab_dict = self._vocab
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        bm25.save(out_dir, show_progress=show_progress)
        TermPostings.from_token_ids(ids, lengths, len(self._vocab)).save(Path(out_dir))
        return {"documents": n_docs, "vocab": len(self._vocab), "avg_doc_len": float(lengths.mean())}


class SparseIndex:
    """A loaded BM25 index: scores and top-k over rows in insertion order."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                 vocab: dict[str, int], n_docs: int, params: BM25Params,
                 postings: TermPostings | None = None) -> None:
        self._data = data
        self._indices = indices
        self._indptr = indptr
        self._vocab = vocab
        self.n_docs = n_docs
        self.params = params
        # raw statistics, for collections that take writes (None: an index from before they were stored)
        self.postings = postings

    @classmethod
    def load(cls, dir: Path) -> SparseIndex:
        root = Path(dir)
        missing = [name for name in _FILES if not (root / name).is_file()]
        if missing:
            raise IndexFormatError(f"{root}: BM25 index is missing {', '.join(missing)}")
        try:
            bm25 = bm25s.BM25.load(root, load_corpus=False)
        except (OSError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise IndexFormatError(f"{root}: cannot read BM25 index ({exc})".splitlines()[0]) from exc
        try:
            params = BM25Params(k1=bm25.k1, b=bm25.b, method=bm25.method, idf_method=bm25.idf_method)
        except ConfigError as exc:
            raise IndexFormatError(f"{root}: unsupported BM25 index ({exc})") from exc
        s = bm25.scores
        n_docs = int(s["num_docs"])
        if len(s["indptr"]) != len(bm25.vocab_dict) + 1 or len(s["data"]) != len(s["indices"]):
            raise IndexFormatError(f"{root}: BM25 index arrays do not match its vocabulary")
        postings = TermPostings.load(root, len(bm25.vocab_dict), n_docs)
        return cls(s["data"], s["indices"], s["indptr"], bm25.vocab_dict, n_docs, params, postings)

    @property
    def vocab(self) -> dict[str, int]:
        return self._vocab

    def _full(self, postings: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        out = np.zeros(self.n_docs, dtype=np.float32)
        for rows, weights in postings:
            # rows are distinct within one posting list, so fancy-index += is a correct scatter-add
            out[rows] += weights
        return out

    def query(self, tokens: list[str]) -> SparseScores:
        """BM25 scores of every row as a sparse vector: the rows scoring > 0 and their scores; a token
        repeated in the query counts each time.

        The search path uses this: a query's postings are usually a tiny fraction of the collection,
        and a full score array costs a fresh page-faulted allocation plus a scan per query."""
        postings = self._postings(tokens)
        if not postings:
            return SparseScores.empty()
        if sum(len(rows) for rows, _ in postings) > self.n_docs // 32:
            # sorting long posting lists costs more than one pass over a full score array
            out = self._full(postings)
            rows = np.flatnonzero(out)
            return SparseScores(rows, out[rows])
        rows = np.concatenate([r for r, _ in postings])
        order = np.argsort(rows)
        sorted_rows = rows[order]
        first = np.concatenate([[True], sorted_rows[1:] != sorted_rows[:-1]])
        slot = np.empty(len(rows), dtype=np.int64)
        slot[order] = np.cumsum(first) - 1  # each posting's position among the distinct rows
        rows = sorted_rows[first]
        acc = np.zeros(len(rows), dtype=np.float32)
        start = 0
        for term_rows, weights in postings:  # float32 sums in the same term order as `scores`: equal bits
            acc[slot[start : start + len(term_rows)]] += weights
            start += len(term_rows)
        keep = acc > 0  # a term in every document has idf 0
        return SparseScores(rows[keep].astype(np.int64, copy=False), acc[keep])

    def _postings(self, tokens: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(rows, BM25 contributions) per distinct query term in ascending id order; a repeated token
        counts each time."""
        vocab = self._vocab
        # a handful of tokens: counting them in Python costs a tenth of np.unique's calls, cold
        counts = Counter(vocab[t] for t in tokens if t in vocab)
        out = []
        for term in sorted(counts):
            start, end = int(self._indptr[term]), int(self._indptr[term + 1])
            data = self._data[start:end]
            out.append((self._indices[start:end], data if counts[term] == 1 else data * counts[term]))
        return out


@dataclass(frozen=True)
class SparseScores:
    """One query's BM25 scores as a sparse vector: ascending rows (all scoring > 0) and their scores."""

    rows: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> SparseScores:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.rows)

    def restrict(self, allowed: np.ndarray) -> SparseScores:
        """Only the rows `allowed` (bool per row of the collection) keeps."""
        keep = allowed[self.rows]
        return SparseScores(self.rows[keep], self.scores[keep])

    def of(self, rows: np.ndarray) -> np.ndarray:
        """The score of each given row, 0 where it has none."""
        if len(self.rows) == 0:
            return np.zeros(len(rows), dtype=np.float32)
        pos = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
        return np.where(self.rows[pos] == rows, self.scores[pos], np.float32(0))

    def top(self, k: int) -> Ranked:
        return Ranked.top_of(self.rows, self.scores, k)
