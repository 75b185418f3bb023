"""Writing an index directory's parts: the one writer behind `clir index` and compaction.

Documents (with their languages and BM25 tokens) and their vectors are added in the same row order,
possibly from two threads (the build analyses a batch while the encoder works on it); `finish` builds
FAISS and BM25 and returns the manifest entries that describe the parts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from clir.errors import ConfigError
from clir.index.embedded.dense import DenseIndex, build_faiss
from clir.index.embedded.docstore import DocStoreWriter
from clir.index.embedded.partitions import build_partitions
from clir.index.embedded.sparse import SparseIndexBuilder
from clir.index.manifest import DOCSTORE, FAISS_FILE, SPARSE_DIR
from clir.index.params import BM25Params, DenseParams
from clir.records import Document, Vectors
from clir.text.analyzers import ANALYZER_VERSION, analyzer_for

VECTORS_SCRATCH = "vectors.f32"


class IndexWriter:
    def __init__(self, root: Path, dim: int, dense: DenseParams, bm25: BM25Params, show_progress: bool = False) -> None:
        self.root = root
        self.dim = dim
        self.dense_params = dense
        self.bm25_params = bm25
        self.show_progress = show_progress
        self.docstore = DocStoreWriter(root / DOCSTORE)
        self.sparse = SparseIndexBuilder(bm25)
        self.vectors_path = root / VECTORS_SCRATCH
        self.vectors = open(self.vectors_path, "wb")  # noqa: SIM115 - closed in finish()
        self.langs: Counter[str] = Counter()
        self.row_langs: list[str] = []  # per row, for the dense index's language partitions

    def written(self) -> set[str]:
        """Content hashes of documents written by an earlier run: none (a build starts a new directory)."""
        return set()

    def fresh(self, batch: Sequence[Document]) -> list[bool]:
        """Which documents of a batch need encoding: all of them (a build writes a new directory)."""
        return [True] * len(batch)

    def add_documents(self, docs: Sequence[Document], langs: Sequence[str | None],
                      tokens: Sequence[list[str]]) -> None:
        self.langs.update(lang or "und" for lang in langs)
        self.row_langs.extend(lang or "" for lang in langs)
        self.sparse.add(tokens)
        self.docstore.add(docs, langs)

    def add_vectors(self, vectors: Vectors, fresh: Sequence[bool] | None = None) -> None:
        """The vectors of a batch's documents (all fresh: a directory build encodes every document)."""
        if fresh is not None and not all(fresh):
            raise ValueError("an index directory is built from every document's vector")
        self.vectors.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())

    def finish(self) -> dict[str, Any]:
        """Build FAISS and BM25; the manifest entries for counts, languages, dense and sparse."""
        self.vectors.close()
        self.docstore.close()
        n = self.docstore.count
        if n == 0:
            raise ConfigError("the corpus has no documents")
        vectors = np.memmap(self.vectors_path, dtype=np.float32, mode="r", shape=(n, self.dim))
        index, dense_info = build_faiss(vectors, self.dense_params)
        DenseIndex(index, dense_info["kind"]).save(self.root / FAISS_FILE)
        del index
        partitions = build_partitions(vectors, self.row_langs, self.dense_params, dense_info["kind"], self.root)
        if partitions is not None:
            dense_info["partitions"] = partitions
        del vectors
        self.vectors_path.unlink()
        sparse_stats = self.sparse.build(self.root / SPARSE_DIR, show_progress=self.show_progress)
        return {
            "counts": {"documents": n, "vocab": sparse_stats["vocab"]},
            "languages": dict(sorted(self.langs.items())),
            "dense": {**dense_info, "metric": "inner_product", "params": self.dense_params.to_dict()},
            "sparse": {
                "library": "bm25s",
                "params": asdict(self.bm25_params),
                "avg_doc_len": sparse_stats["avg_doc_len"],
                "analyzer_version": ANALYZER_VERSION,
                "analyzers": {lang: asdict(analyzer_for(lang).info()) for lang in sorted(self.langs)},
            },
        }
