"""Compaction: the live documents of a collection written into new base files, built aside.

The base's documents keep their vectors (as the dense index stores them) and their BM25 token counts
(from the raw postings), so nothing is re-encoded; documents written since come from the delta. The
result is a complete index directory, manifest included, that the collection then swaps in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from clir.index.embedded.live import LiveView
from clir.index.embedded.writer import IndexWriter
from clir.index.manifest import Manifest, write_manifest
from clir.index.params import BM25Params, DenseParams
from clir.records import Document, Mask

_CHUNK = 1024
# manifest entries that describe the parts and are written anew
_REBUILT = ("format_version", "files", "counts", "languages", "dense", "sparse", "created", "lang_source")


@dataclass(frozen=True)
class Frozen:
    """What is live as of one write: the base rows still served, and the delta's first n rows' deaths."""

    seq: int
    base_dead: Mask
    n_delta: int
    delta_dead: Mask

    @classmethod
    def of(cls, view: LiveView, seq: int) -> Frozen:
        return cls(seq, view.base_dead.copy(), view.n_delta, view.dead[: view.n_delta].copy())


def write_compacted(view: LiveView, frozen: Frozen, out: Path, show_progress: bool = False) -> Manifest:
    raw = view.manifest.raw
    postings = view.base_postings
    assert postings is not None  # a collection that took writes has them
    writer = IndexWriter(out, view.manifest.encoder_dim, DenseParams(**raw["dense"]["params"]),
                         BM25Params(**raw["sparse"]["params"]), show_progress)
    terms = list(view.base.sparse.vocab)  # ids are insertion order: position == id
    counts = postings.token_counts()
    base_rows = np.flatnonzero(~frozen.base_dead)
    for start in range(0, len(base_rows), _CHUNK):
        chunk = base_rows[start : start + _CHUNK].tolist()
        stored = view.base.documents(chunk)
        docs = [stored[r] for r in chunk]
        writer.add_documents([Document(d.id, d.text, d.title, d.lang, d.metadata) for d in docs],
                             [d.lang for d in docs],
                             [[terms[t] for t, c in counts[r].items() for _ in range(c)] for r in chunk])
        writer.add_vectors(view.base.dense.reconstruct(np.asarray(chunk, dtype=np.int64)))
    delta_rows = np.flatnonzero(~frozen.delta_dead).tolist()
    for start in range(0, len(delta_rows), _CHUNK):
        chunk = delta_rows[start : start + _CHUNK]
        docs = [view.docs[j] for j in chunk]
        writer.add_documents([Document(d.id, d.text, d.title, d.lang, d.metadata) for d in docs],
                             [d.lang for d in docs], [view.tokens[j] for j in chunk])
        writer.add_vectors(view.vectors[chunk])
    parts = writer.finish()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    kept = {k: v for k, v in raw.items() if k not in _REBUILT}
    return write_manifest(out, {"created": now, **kept, **parts,
                                "compaction": {"at": now, "seq": frozen.seq, "base_documents": view.n_base,
                                               "kept_from_base": len(base_rows), "from_writes": len(delta_rows)}})
