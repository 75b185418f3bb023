"""The embedded index: an immutable directory of FAISS, bm25s and SQLite files behind `IndexStore`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from clir.errors import IndexFormatError
from clir.index.embedded.dense import DenseIndex, set_search_threads
from clir.index.embedded.docstore import DocStore
from clir.index.embedded.filters import FilterCache
from clir.index.embedded.partitions import LanguagePartitions, languages_of
from clir.index.embedded.sparse import SparseIndex, SparseScores
from clir.index.manifest import DOCSTORE, FAISS_FILE, SPARSE_DIR, Manifest, load_manifest
from clir.records import Filter, Mask, Ranked, Rows, Scores, StoredDocument, Vectors


class LocalIndex:
    """One index directory, loaded: safe to share between threads (nothing in it changes after open)."""

    def __init__(self, root: Path, manifest: Manifest, docstore: DocStore, dense: DenseIndex,
                 sparse: SparseIndex, partitions: LanguagePartitions | None = None) -> None:
        self.root = root
        self.location = str(root)
        self.manifest = manifest
        self._docstore = docstore
        self._dense = dense
        self._sparse = sparse
        self._filters = FilterCache(docstore)
        self._partitions = partitions or LanguagePartitions(languages_of(docstore.langs))

    @classmethod
    def open(cls, root: str | Path, *, verify: bool = True, threads: int | None = None,
             ef_search: int | None = None, nprobe: int | None = None) -> LocalIndex:
        """Load and check an index directory (sha256 of every file when `verify`); IndexFormatError if
        it is missing, corrupted or inconsistent. `threads` caps FAISS's threads (process-wide)."""
        root = Path(root)
        if threads:
            set_search_threads(threads)
        manifest = load_manifest(root, verify=verify)
        try:
            docstore = DocStore(root / DOCSTORE)
            dense = DenseIndex.load(root / FAISS_FILE, manifest.dense_kind, ef_search, nprobe)
            sparse = SparseIndex.load(root / SPARSE_DIR)
        except (OSError, RuntimeError, ValueError) as exc:
            raise IndexFormatError(f"{root}: cannot load index files ({exc})".splitlines()[0]) from exc
        if not (len(docstore) == dense.n_vectors == sparse.n_docs == manifest.documents):
            raise IndexFormatError(f"{root}: index parts disagree on the number of documents")
        entry = manifest.raw["dense"].get("partitions")
        partitions = None if entry is None else \
            LanguagePartitions.load(root, entry, len(docstore), ef_search=ef_search, nprobe=nprobe)
        return cls(root, manifest, docstore, dense, sparse, partitions)

    def __len__(self) -> int:
        return len(self._docstore)

    def view(self) -> LocalIndex:
        return self  # nothing in it changes

    # the parts, for the live index built on top of this one (same package)
    @property
    def docstore(self) -> DocStore:
        return self._docstore

    @property
    def dense(self) -> DenseIndex:
        return self._dense

    @property
    def sparse(self) -> SparseIndex:
        return self._sparse

    def filter_mask(self, flt: Filter | None) -> Mask | None:
        return self._filters.mask(flt)

    def dense_search(self, vectors: Vectors, k: int, flt: Filter | None = None) -> list[Ranked]:
        rows, scores = self._dense.search(vectors, k, self._filters.mask(flt))
        return [Ranked.from_search(r, s) for r, s in zip(rows, scores, strict=True)]

    def dense_search_by_lang(self, vectors: Vectors, k: int, langs: Sequence[str],
                             flt: Filter | None = None) -> list[dict[str, Ranked]]:
        return self.dense_by_lang_within(vectors, k, langs, self._filters.mask(flt))

    def dense_by_lang_within(self, vectors: Vectors, k: int, langs: Sequence[str],
                             allowed: Mask | None) -> list[dict[str, Ranked]]:
        """`dense_search_by_lang` over the rows `allowed` (the live index passes its live rows)."""
        found = self._partitions.top(self._dense, vectors, k, langs, allowed)
        return [{lang: Ranked.from_search(rows[i], scores[i]) for lang, (rows, scores) in found.items()}
                for i in range(len(np.atleast_2d(vectors)))]

    def dense_scores(self, vector: Vectors, rows: Rows) -> Scores:
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        return (self.dense_vectors(rows) @ vector).astype(np.float32, copy=False)

    def dense_vectors(self, rows: Rows) -> Vectors:
        return self._dense.reconstruct(rows) if len(rows) else np.zeros((0, self._dense.dim), dtype=np.float32)

    def sparse_search(self, tokens: list[str], flt: Filter | None = None) -> SparseScores:
        scores = self._sparse.query(tokens)
        allowed = self._filters.mask(flt)
        return scores if allowed is None else scores.restrict(allowed)

    def ids(self, rows: Sequence[int]) -> list[str]:
        ids = self._docstore.ids
        return [ids[r] for r in rows]

    def titles(self, rows: Sequence[int]) -> list[str]:
        titles = self._docstore.titles
        return [titles[r] for r in rows]

    def langs(self, rows: Rows) -> NDArray[np.str_]:
        return self._docstore.langs[rows]

    def documents(self, rows: Sequence[int]) -> dict[int, StoredDocument]:
        return self._docstore.get(rows)

    def document(self, doc_id: str) -> StoredDocument | None:
        return self._docstore.get_by_id(doc_id)

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        return [doc_id for doc_id in doc_ids if self._docstore.row_of(doc_id) is None]
