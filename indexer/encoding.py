"""Batches of documents encoded for the index writer: here, in this process (`indexer/ray_build.py`
encodes them on a Ray cluster and yields the same batches)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clir.encoders.models import Encoder
from clir.index.writer import IndexWriter
from clir.records import Document, passage_text
from indexer.xqg.augment import Augmenter

if TYPE_CHECKING:
    from clir.index.qdrant_build import QdrantWriter


def _batched(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    it = iter(docs)
    while batch := list(itertools.islice(it, size)):
        yield batch


@dataclass
class EncodedBatch:
    """A batch of documents on its way to the index: which of them still need encoding (a resumed
    Qdrant build skips the others), their generated queries (xQG), and the vectors of those encoded."""

    docs: list[Document]
    fresh: list[bool]
    generated: list[list[tuple[str, str]]] | None
    vectors: np.ndarray


def encode_here(docs: Iterable[Document], writer: IndexWriter | QdrantWriter, encoder: Encoder,
                augmenter: Augmenter | None, batch_size: int) -> Iterator[EncodedBatch]:
    """Batches encoded in this process, skipping the documents the writer already holds."""
    for batch in _batched(docs, batch_size):
        fresh = writer.fresh(batch)
        texts = [passage_text(d) for i, d in enumerate(batch) if fresh[i]]
        generated = augmenter.queries(batch) if augmenter else None
        vectors = (encoder.encode_passages(texts, batch_size=batch_size) if texts
                   else np.zeros((0, encoder.dim), dtype=np.float32))
        if generated is not None and augmenter is not None:
            vectors = augmenter.dense(vectors, [g for g, f in zip(generated, fresh, strict=True) if f], encoder)
        yield EncodedBatch(batch, fresh, generated, vectors)
