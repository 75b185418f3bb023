"""How documents become Qdrant points, and filters Qdrant filters (pure functions, no connection).

- Point id: the first 63 bits of sha256(document id). Deterministic, so every replica and every re-run
  agrees on it without a shared counter; the search core uses it as the row. Two ids sharing one
  (about 1 in 2,000 for a 100M collection) are refused when the second is written.
- Sparse vector: one dimension per analysed token (a 32-bit hash of it). A document stores BM25's term
  frequency part, tf / (tf + k1 (1 - b + b dl / avgdl)), with the average length recorded at build time.
  The query carries each term's weight, query count × ln(1 + (N - df + 0.5) / (df + 0.5)), from statistics of
  the whole collection: N = its points, df = its points whose `terms` payload (the document's term ids, an
  integer payload index) holds the term, both counted by Qdrant over live points. Every shard then scores with
  the same statistics, deletions count at once, and replicas writing concurrently need no shared counter: the
  statistics are counts of the documents themselves (docs/scale.md). Collections built before kept Qdrant's
  IDF modifier, computed per shard.
- Metadata filters: each scalar metadata value is also stored as a keyword `["key", value]`, numbers by
  value (1, 1.0 and true match, as in the embedded store), so any key (dots, quotes, accents) matches
  exactly with one keyword condition.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from qdrant_client import models

from clir.errors import ConfigError
from clir.index.params import BM25Params
from clir.records import Document, Filter

DENSE = "dense"
SPARSE = "bm25"
TERMS = "terms"  # a document's distinct term ids: df is a count over them
# the manifest's sparse entry for collections whose queries carry collection-wide IDF
COLLECTION_IDF = "collection"
# what a search reads of each candidate (the rest, text and metadata, only for the hits rendered)
LIGHT_PAYLOAD = ["id", "lang", "title"]


def point_id(doc_id: str) -> int:
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big") >> 1


def term_id(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "big")


def _canonical(value: Any) -> str | None:
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return None  # objects and arrays are stored, not matched


def metadata_terms(metadata: dict[str, Any]) -> list[str]:
    terms = []
    for key, value in metadata.items():
        canon = _canonical(value)
        if canon is not None:
            terms.append(json.dumps([key, canon], ensure_ascii=False))
    return terms


def payload(doc: Document, lang: str | None, digest: str, tokens: Sequence[str]) -> dict[str, Any]:
    return {"id": doc.id, "lang": lang or "", "title": doc.title, "text": doc.text, "metadata": doc.metadata,
            "meta": metadata_terms(doc.metadata), "sha": digest, TERMS: sorted(term_counts(tokens))}


def to_filter(flt: Filter | None, ids: Sequence[int] | None = None) -> models.Filter | None:
    must: list[Any] = []
    if ids is not None:
        must.append(models.HasIdCondition(has_id=[int(i) for i in ids]))
    if flt is not None:
        if flt.langs:
            must.append(models.FieldCondition(key="lang", match=models.MatchAny(any=list(flt.langs))))
        for term in metadata_terms(dict(flt.metadata)):
            must.append(models.FieldCondition(key="meta", match=models.MatchValue(value=term)))
    return models.Filter(must=must) if must else None


def term_counts(tokens: Sequence[str]) -> Counter[int]:
    return Counter(term_id(t) for t in tokens)


def query_vector(tokens: Sequence[str], idf: dict[int, float] | None = None) -> models.SparseVector:
    """A query token repeated counts each time, as in the embedded BM25; with `idf` (term id -> weight), each
    term weighted by it."""
    counts = term_counts(tokens)
    return models.SparseVector(indices=list(counts),
                               values=[float(c) * (idf[t] if idf is not None else 1.0) for t, c in counts.items()])


def lucene_idf(n: int, df: int) -> float:
    """bm25s's (and Qdrant's IDF modifier's) Lucene idf, in float32 as the embedded index stores it."""
    return float(np.float32(np.log1p((n - df + 0.5) / (df + 0.5))))


def term_filter(term: int) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key=TERMS, match=models.MatchValue(value=term))])


def document_vector(tokens: Sequence[str], params: BM25Params, avg_doc_len: float) -> models.SparseVector:
    """BM25's term-frequency part with length normalisation, in float32 as bm25s computes it."""
    counts = term_counts(tokens)
    if not counts:
        return models.SparseVector(indices=[], values=[])
    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    norm = params.k1 * ((1 - params.b) + params.b * len(tokens) / np.float64(avg_doc_len or 1.0))
    weights = (tf / (norm + tf)).astype(np.float32)
    return models.SparseVector(indices=list(counts), values=weights.tolist())


def check_bm25(params: BM25Params) -> None:
    if params.method != "lucene" or params.idf_method not in (None, "lucene"):
        raise ConfigError("the qdrant backend scores BM25 with Lucene's idf (Qdrant's IDF modifier): the BM25 "
                          f"method must be lucene, not {params.method!r}")
