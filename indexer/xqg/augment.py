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

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clir.encoders.models import Encoder, l2_normalise
from clir.records import Document
from clir.text.analyzers import analyzer_for
from indexer.xqg.cache import QueryCache, generate_with_cache
from indexer.xqg.config import XQGConfig
from indexer.xqg.generators import load_generator


def blend(passages: np.ndarray, queries: np.ndarray, owners: np.ndarray, alpha: float, aggregate: str) -> np.ndarray:
    """Vectorised blend: `owners[i]` is the passage row of query vector i."""
    agg = np.zeros_like(passages, dtype=np.float32)
    if len(queries):
        np.add.at(agg, owners, queries)
        if aggregate == "mean":
            counts = np.bincount(owners, minlength=len(passages)).astype(np.float32)
            agg /= np.maximum(counts, 1.0)[:, None]
    return l2_normalise((1.0 - alpha) * passages + alpha * agg)


def blend_queries(config: XQGConfig, passages: np.ndarray, per_doc: list[list[tuple[str, str]]],
                  encoder: Encoder) -> np.ndarray:
    """Passage vectors blended with their generated queries' vectors (encoded here)."""
    texts = [q for qs in per_doc for _, q in qs]
    owners = np.repeat(np.arange(len(per_doc)), [len(qs) for qs in per_doc])
    vectors = encoder.encode_queries(texts) if texts else np.zeros((0, passages.shape[1]), np.float32)
    return blend(passages, vectors, owners, config.alpha, config.aggregate)


@dataclass
class Augmenter:
    config: XQGConfig
    cache_path: Path
    generator: Any = field(init=False)
    cache: QueryCache = field(init=False)
    generated: int = 0
    docs_without: int = 0

    def __post_init__(self) -> None:
        c = self.config
        self.generator = load_generator(c.generator, prompt=c.prompt, seed=c.seed, batch_size=c.batch_size)
        self.cache = QueryCache(self.cache_path, self.generator.name, c.n, c.prompt, c.seed)

    @classmethod
    def for_index(cls, config: XQGConfig, out: Path) -> Augmenter:
        return cls(config, config.cache or out.parent / f"{out.name}.xqg-queries.jsonl")

    def queries(self, docs: Sequence[Document]) -> list[list[tuple[str, str]]]:
        """Per document, its generated (language, query) pairs, generating only what the cache lacks."""
        by_doc = generate_with_cache(self.generator, self.cache, docs, self.config.langs, self.config.n)
        out = [[(lang, q) for lang in self.config.langs for q in by_doc.get(d.id, {}).get(lang, [])] for d in docs]
        self.tally(out)
        return out

    def tally(self, per_doc: list[list[tuple[str, str]]]) -> None:
        """Count generated queries for the manifest (a Ray build generates them in its read stage)."""
        self.generated += sum(len(qs) for qs in per_doc)
        self.docs_without += sum(1 for qs in per_doc if not qs)

    def dense(self, passages: np.ndarray, per_doc: list[list[tuple[str, str]]], encoder: Encoder) -> np.ndarray:
        return blend_queries(self.config, passages, per_doc, encoder)

    def sparse_tokens(self, per_doc: list[list[tuple[str, str]]]) -> list[list[str]]:
        if not self.config.sparse:
            return [[] for _ in per_doc]
        return [[tok for lang, q in qs for tok in analyzer_for(lang).tokens(q)] for qs in per_doc]

    def manifest(self) -> dict[str, Any]:
        c = self.config
        return {"generator": self.generator.name, "langs": c.langs, "n": c.n, "alpha": c.alpha,
                "aggregate": c.aggregate, "sparse_expansion": c.sparse, "prompt": c.prompt, "seed": c.seed,
                "renormalised": True, "queries_generated": self.generated,
                "docs_without_queries": self.docs_without, "cache": str(self.cache_path)}
