"""A live collection: the immutable base files plus the documents written since, searchable at once.

Rows 0..n_base-1 are the base's; a document written since gets the next delta row n_base + j (an update
gets a new row; its old row, base or delta, is marked dead). Rows never change meaning until a
compaction folds everything into new base files. Searches see dead rows filtered out inside both
retrievers, before ranking, like a filter; BM25 is scored from the raw term frequencies with the
statistics of the live documents (N, document frequencies, average length), so scores equal those of a
fresh build of the same documents. With nothing written since the base, the base's own stored scores
are used, unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clir.index.embedded.local import LocalIndex
from clir.index.embedded.postings import TermPostings, bm25_weights
from clir.index.embedded.sparse import SparseScores
from clir.index.manifest import Manifest
from clir.index.writes import predates_live_writes
from clir.records import Filter, Mask, PreparedDocument, Ranked, Rows, Scores, StoredDocument, Vectors

_EMPTY = np.zeros(0, dtype=np.int32)


class LiveView:
    """The base and the delta as one index store. Writes append to it in place (under the owner's lock);
    what a row holds never changes, so a search that reads while a write lands sees a consistent index."""

    def __init__(self, base: LocalIndex) -> None:
        self.base = base
        self.manifest: Manifest = base.manifest
        self.location = base.location
        self.n_base = len(base)
        postings = base.sparse.postings
        self.base_postings: TermPostings | None = postings
        self.base_dead = np.zeros(self.n_base, dtype=bool)
        self.base_len = int(postings.doc_len.sum()) if postings is not None else 0
        self.base_live = self.n_base
        dim = base.manifest.encoder_dim
        self.docs: list[StoredDocument] = []
        self.tokens: list[list[str]] = []
        self.doc_len: list[int] = []
        self.vectors = np.zeros((64, dim), dtype=np.float32)
        self.dead = np.zeros(64, dtype=bool)
        self.langs_arr = np.zeros(64, dtype="<U16")
        self.postings: dict[str, tuple[NDArray[np.int32], NDArray[np.int32]]] = {}
        self.row_of_id: dict[str, int] = {}  # live delta documents -> their delta position j
        self.delta_len = 0

    # -- state -------------------------------------------------------------------------------------

    @property
    def n_delta(self) -> int:
        return len(self.docs)

    @property
    def pending(self) -> bool:
        """Anything written since the base?"""
        return self.n_delta > 0 or self.base_live < self.n_base

    def __len__(self) -> int:
        return self.base_live + len(self.row_of_id)

    def view(self) -> LiveView:
        return self

    def _base_row(self, doc_id: str) -> int | None:
        row = self.base.docstore.row_of(doc_id)
        return None if row is None or self.base_dead[row] else row

    def contains(self, doc_id: str) -> bool:
        return doc_id in self.row_of_id or self._base_row(doc_id) is not None

    # -- writes (the owner holds its write lock) ------------------------------------------------------

    def hide(self, doc_id: str) -> None:
        j = self.row_of_id.pop(doc_id, None)
        if j is not None:
            self.dead[j] = True
            self.delta_len -= self.doc_len[j]
        row = self._base_row(doc_id)
        if row is not None:
            self.base_dead[row] = True
            self.base_live -= 1
            if self.base_postings is not None:
                self.base_len -= int(self.base_postings.doc_len[row])

    def append(self, p: PreparedDocument) -> None:
        j = self.n_delta
        if j == len(self.dead):  # grow: a copy, which searches reading the old arrays never notice
            self.vectors = np.concatenate([self.vectors, np.zeros_like(self.vectors)])
            self.dead = np.concatenate([self.dead, np.zeros_like(self.dead)])
            self.langs_arr = np.concatenate([self.langs_arr, np.zeros_like(self.langs_arr)])
        # Readers take a row once it is in `docs`, and find it through the postings: everything a row
        # holds is in place before either.
        self.vectors[j] = p.vector
        self.langs_arr[j] = p.lang or ""
        self.tokens.append(p.tokens)
        self.doc_len.append(len(p.tokens))
        d = p.doc
        self.docs.append(StoredDocument(self.n_base + j, d.id, d.title, d.text, p.lang, d.metadata))
        for term, count in Counter(p.tokens).items():
            rows, tf = self.postings.get(term, (_EMPTY, _EMPTY))
            self.postings[term] = (np.append(rows, np.int32(j)), np.append(tf, np.int32(count)))
        self.delta_len += len(p.tokens)
        self.row_of_id[d.id] = j

    # -- filters ------------------------------------------------------------------------------------

    def _delta_mask(self, flt: Filter | None) -> Mask:
        n = self.n_delta
        mask = ~self.dead[:n]
        if flt is None:
            return mask
        if flt.langs:
            mask &= np.isin(self.langs_arr[:n], list(flt.langs))
        for key, value in flt.metadata:
            # SQLite's json_extract compares JSON true as 1, as Python's True == 1
            mask &= np.fromiter((d.metadata.get(key, _MISSING) == value for d in self.docs[:n]), dtype=bool, count=n)
        return mask

    def _base_mask(self, flt: Filter | None) -> Mask:
        mask = ~self.base_dead
        allowed = self.base.filter_mask(flt)
        return mask if allowed is None else mask & allowed

    # -- IndexStore ------------------------------------------------------------------------------------

    def dense_search(self, vectors: Vectors, k: int, flt: Filter | None = None) -> list[Ranked]:
        if not self.pending:
            return self.base.dense_search(vectors, k, flt)
        vectors = np.atleast_2d(vectors)
        rows, scores = self._base_dense(vectors, k, flt)
        delta = self._delta_scores(vectors, self._delta_mask(flt))
        return [self._merge(Ranked.from_search(rows[i], scores[i]), delta[i], k) for i in range(len(vectors))]

    def dense_search_by_lang(self, vectors: Vectors, k: int, langs: Sequence[str],
                             flt: Filter | None = None) -> list[dict[str, Ranked]]:
        if not self.pending:
            return self.base.dense_search_by_lang(vectors, k, langs, flt)
        vectors = np.atleast_2d(vectors)
        base = self.base.dense_by_lang_within(vectors, k, langs, self._base_mask(flt))
        allowed = self._delta_mask(flt)
        delta = {lang: self._delta_scores(vectors, allowed & (self.langs_arr[: self.n_delta] == lang))
                 for lang in langs}
        return [{lang: self._merge(per[lang], delta[lang][i], k) for lang in langs}
                for i, per in enumerate(base)]

    def _delta_scores(self, vectors: Vectors, allowed: Mask) -> Scores:
        """Every delta vector's score for each query in one pass over the contiguous rows (rows not
        allowed: -inf), with einsum's single-threaded loop: a BLAS call here woke its own thread pool
        beside FAISS's and the encoder's, and cost more than it saved (docs/benchmarks.md)."""
        n = self.n_delta
        return np.where(allowed, np.einsum("qd,nd->qn", vectors, self.vectors[:n]), -np.inf).astype(np.float32)

    def _merge(self, base: Ranked, delta: Scores, k: int) -> Ranked:
        """The k best of a base list and one query's delta scores."""
        finite = np.isfinite(delta)
        kk = min(k, int(finite.sum()))
        top = np.argpartition(-delta, kk - 1)[:kk] if 0 < kk < len(delta) else np.flatnonzero(finite)
        top = np.sort(top)
        merged_rows = np.concatenate([base.rows, top.astype(np.int64) + self.n_base])
        merged_scores = np.concatenate([base.scores, delta[top]])
        order = np.argsort(merged_rows, kind="stable")  # ascending rows: ties go to the lower row
        return Ranked.top_of(merged_rows[order], merged_scores[order], k)

    def _base_dense(self, vectors: Vectors, k: int, flt: Filter | None) -> tuple[Rows, Scores]:
        """The base's k best live rows per query (within the filter)."""
        if self.base_live == 0:
            return np.full((len(vectors), 1), -1, dtype=np.int64), np.zeros((len(vectors), 1), dtype=np.float32)
        return self.base.dense.search_mostly(vectors, k, self._base_mask(flt))

    def dense_scores(self, vector: Vectors, rows: Rows) -> Scores:
        in_base = rows < self.n_base
        out = np.empty(len(rows), dtype=np.float32)
        out[in_base] = self.base.dense_scores(vector, rows[in_base])
        out[~in_base] = self.vectors[rows[~in_base] - self.n_base] @ vector
        return out

    def dense_vectors(self, rows: Rows) -> Vectors:
        if not self.pending:
            return self.base.dense_vectors(rows)
        in_base = rows < self.n_base
        out = np.empty((len(rows), self.vectors.shape[1]), dtype=np.float32)
        out[in_base] = self.base.dense_vectors(rows[in_base])
        out[~in_base] = self.vectors[rows[~in_base] - self.n_base]
        return out

    def sparse_search(self, tokens: list[str], flt: Filter | None = None) -> SparseScores:
        if not self.pending:
            return self.base.sparse_search(tokens, flt)
        if self.base_postings is None:
            raise predates_live_writes(self.location)
        n = len(self)
        if n == 0:
            return SparseScores.empty()
        avg = (self.base_len + self.delta_len) / n
        vocab, base = self.base.sparse.vocab, self.base_postings
        delta_dl = np.asarray(self.doc_len, dtype=np.int32)
        parts: list[tuple[Rows, Scores]] = []
        for term, count in sorted(Counter(tokens).items()):
            b_rows, b_tf = base.of(vocab[term]) if term in vocab else (_EMPTY, _EMPTY)
            keep = ~self.base_dead[b_rows]
            b_rows, b_tf = b_rows[keep], b_tf[keep]
            d_rows, d_tf = self.postings.get(term, (_EMPTY, _EMPTY))
            keep = ~self.dead[d_rows]
            d_rows, d_tf = d_rows[keep], d_tf[keep]
            df = len(b_rows) + len(d_rows)
            if df == 0:
                continue
            weights = bm25_weights(self.base.sparse.params, np.concatenate([b_tf, d_tf]),
                                   np.concatenate([base.doc_len[b_rows], delta_dl[d_rows]]), avg, df, n)
            rows = np.concatenate([b_rows.astype(np.int64), d_rows.astype(np.int64) + self.n_base])
            parts.append((rows, weights if count == 1 else weights * np.float32(count)))
        scores = _accumulate(parts)
        allowed = None if flt is None else np.concatenate([self._base_mask(flt), self._delta_mask(flt)])
        return scores if allowed is None else scores.restrict(allowed)

    def ids(self, rows: Sequence[int]) -> list[str]:
        base, n_base = self.base.docstore.ids, self.n_base
        return [base[r] if r < n_base else self.docs[r - n_base].id for r in rows]

    def titles(self, rows: Sequence[int]) -> list[str]:
        base, n_base = self.base.docstore.titles, self.n_base
        return [base[r] if r < n_base else self.docs[r - n_base].title for r in rows]

    def langs(self, rows: Rows) -> NDArray[np.str_]:
        rows = np.asarray(rows, dtype=np.int64)
        if not self.n_delta:
            return self.base.langs(rows)
        in_base = rows < self.n_base
        out = np.empty(len(rows), dtype=self.langs_arr.dtype)
        out[in_base] = self.base.langs(rows[in_base])
        out[~in_base] = self.langs_arr[rows[~in_base] - self.n_base]
        return out

    def documents(self, rows: Sequence[int]) -> dict[int, StoredDocument]:
        out = self.base.documents([r for r in rows if r < self.n_base])
        out.update({r: self.docs[r - self.n_base] for r in rows if r >= self.n_base})
        return out

    def document(self, doc_id: str) -> StoredDocument | None:
        j = self.row_of_id.get(doc_id)
        if j is not None:
            return self.docs[j]
        row = self._base_row(doc_id)
        return None if row is None else self.base.documents([row]).get(row)

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        return [doc_id for doc_id in doc_ids if not self.contains(doc_id)]

    def languages(self) -> dict[str, int]:
        """Live documents per language ("und" when undetermined)."""
        if not self.pending:
            return self.manifest.languages
        base = self.base.langs(np.flatnonzero(~self.base_dead))
        delta = self.langs_arr[: self.n_delta][~self.dead[: self.n_delta]]
        values, counts = np.unique(np.concatenate([base.astype(str), delta.astype(str)]), return_counts=True)
        return {str(v) or "und": int(c) for v, c in zip(values, counts, strict=True)}

    def counts(self) -> dict[str, Any]:
        """What /stats says about the writes: live documents, and what compaction would fold in."""
        return {"documents": len(self), "languages": self.languages(), "base_documents": self.n_base,
                "pending_documents": len(self.row_of_id),
                "deleted_not_compacted": int(self.n_base - self.base_live + self.dead[: self.n_delta].sum()),
                "segments": 1 + (self.n_delta > 0)}


_MISSING = object()


def _accumulate(parts: list[tuple[Rows, Scores]]) -> SparseScores:
    """Sum per-term contributions per row (float32, in term order, as the base index does)."""
    if not parts:
        return SparseScores.empty()
    rows = np.concatenate([r for r, _ in parts])
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    first = np.concatenate([[True], sorted_rows[1:] != sorted_rows[:-1]])
    slot = np.empty(len(rows), dtype=np.int64)
    slot[order] = np.cumsum(first) - 1
    acc = np.zeros(int(first.sum()), dtype=np.float32)
    start = 0
    for term_rows, weights in parts:
        acc[slot[start : start + len(term_rows)]] += weights
        start += len(term_rows)
    unique = sorted_rows[first]
    keep = acc > 0
    return SparseScores(unique[keep], acc[keep])
