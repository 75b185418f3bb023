"""xQG augmentation: blend generated queries into passage vectors and expand the BM25 text with them.

Dense: p' = (1 - alpha) * E(p) + alpha * AGG_i E(q_i), AGG = sum (the authors' fuse_embeds.py) or mean,
then re-normalised to unit length. Re-normalising keeps inner product == cosine, so dense scores stay in
the units the fusion is calibrated in and HNSW/IVF keep working on unit vectors; for one query it only
removes a per-document norm factor (a passage with many aligned queries would otherwise gain length,
and with it score, on every query).

Sparse: the generated queries are appended to the document's BM25 text, each analysed with its own
language's analyzer, so an English query can match a French passage through its English queries.
"""

from __future__ import annotations

import numpy as np

from clir.encoders.models import Encoder, l2_normalise


def blend(passages: np.ndarray, queries: np.ndarray, owners: np.ndarray, alpha: float, aggregate: str) -> np.ndarray:
    """Vectorised blend: `owners[i]` is the passage row of query vector i."""
    agg = np.zeros_like(passages, dtype=np.float32)
    if len(queries):
        np.add.at(agg, owners, queries)
        if aggregate == "mean":
            counts = np.bincount(owners, minlength=len(passages)).astype(np.float32)
            agg /= np.maximum(counts, 1.0)[:, None]
    return l2_normalise((1.0 - alpha) * passages + alpha * agg)


def blend_queries(alpha: float, aggregate: str, passages: np.ndarray, per_doc: list[list[tuple[str, str]]],
                  encoder: Encoder) -> np.ndarray:
    """Passage vectors blended with their generated queries' vectors (encoded here)."""
    texts = [q for qs in per_doc for _, q in qs]
    owners = np.repeat(np.arange(len(per_doc)), [len(qs) for qs in per_doc])
    vectors = encoder.encode_queries(texts) if texts else np.zeros((0, passages.shape[1]), np.float32)
    return blend(passages, vectors, owners, alpha, aggregate)
