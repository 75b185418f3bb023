"""The records every layer passes around: documents and queries, ranked row lists, filters, and what a
search returns (hits with their dense and sparse score components).

Rows are the integer keys an index store gives its documents (`clir.index.store`); ids are the
corpus's own document ids.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from clir.errors import ConfigError

Rows = NDArray[np.int64]
Scores = NDArray[np.float32]
Mask = NDArray[np.bool_]
Vectors = NDArray[np.float32]
# qrels: query id -> document id -> graded relevance
Qrels = dict[str, dict[str, int]]
MetadataValue = str | int | float | bool


@dataclass(frozen=True)
class Document:
    """One retrievable passage. `lang` is an ISO 639-1 code when known, else None (detected later)."""

    id: str
    text: str
    title: str = ""
    lang: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


INT64 = (-(2**63), 2**63 - 1)


def unpaired_surrogate(text: str) -> bool:
    """True for text no encoder can take: a lone UTF-16 surrogate (JSON's "\\ud800" decodes to one)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def passage_text(doc: Document) -> str:
    """What the encoder and BM25 see: the title leads, as in the e5/xQG passage templates."""
    return f"{doc.title}\n{doc.text}" if doc.title else doc.text


@dataclass(frozen=True)
class StoredDocument:
    """A document as an index holds it: its row, and the language it was indexed with."""

    row: int
    id: str
    title: str
    text: str
    lang: str | None
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "lang": self.lang, "metadata": self.metadata}


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Ranked:
    """The one ranked-list type: rows sorted by descending score (ranks are positions + 1)."""

    rows: Rows
    scores: Scores

    @classmethod
    def empty(cls) -> Ranked:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))

    @classmethod
    def from_search(cls, rows: NDArray[Any], scores: NDArray[Any]) -> Ranked:
        """A nearest-neighbour result row, without FAISS's -1 padding."""
        keep = rows >= 0
        return cls(rows[keep].astype(np.int64, copy=False), scores[keep].astype(np.float32, copy=False))

    @classmethod
    def top_of(cls, rows: NDArray[Any], scores: NDArray[Any], k: int | None = None) -> Ranked:
        """The k best of `rows` (ascending) by descending score, ties broken by the lower row, so results
        are deterministic. Scores are compared as given and returned as float32."""
        n = len(rows)
        k = n if k is None else min(k, n)
        if k <= 0:
            return cls.empty()
        # For short lists one sort of them all is cheaper than the calls of a partial selection.
        if n > max(k, _SORT_ALL):
            kth = np.partition(scores, n - k)[n - k]
            above = scores > kth
            # rows are ascending, so the lowest rows win ties at the cut-off
            tied = np.flatnonzero(scores == kth)[: k - int(above.sum())]
            keep = np.concatenate([np.flatnonzero(above), tied])
            rows, scores = rows[keep], scores[keep]
        order = np.lexsort((rows, -scores))[:k]
        return cls(rows[order].astype(np.int64, copy=False), scores[order].astype(np.float32, copy=False))

    def __len__(self) -> int:
        return len(self.rows)

    def top(self, k: int) -> Ranked:
        return Ranked(self.rows[:k], self.scores[:k])

    def page(self, offset: int, k: int) -> Ranked:
        """Ranks offset + 1 .. offset + k."""
        return Ranked(self.rows[offset:offset + k], self.scores[offset:offset + k])


# Below this many rows, `Ranked.top_of` sorts them all instead of partitioning first.
_SORT_ALL = 1024


# The most metadata keys one filter may hold (each is one lookup per document).
MAX_FILTER_KEYS = 64


@dataclass(frozen=True)
class Filter:
    """Restrict a search to documents in some languages and/or with given metadata values."""

    langs: tuple[str, ...] = ()
    metadata: tuple[tuple[str, MetadataValue], ...] = field(default_factory=tuple)

    @classmethod
    def make(cls, langs: list[str] | None = None, metadata: dict[str, Any] | None = None) -> Filter | None:
        """None when nothing is filtered; ConfigError for values that cannot be compared."""
        if len(metadata or {}) > MAX_FILTER_KEYS:
            raise ConfigError(f"filter.metadata: at most {MAX_FILTER_KEYS} keys")
        for key, value in (metadata or {}).items():
            if not isinstance(value, str | int | float | bool):
                raise ConfigError(f"filter.metadata.{key}: only string, number or boolean values can be matched")
            if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
                raise ConfigError(f"filter.metadata.{key}: integers are matched within the 64-bit range")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"filter.metadata.{key}: numbers must be finite")
        if not langs and not metadata:
            return None
        return cls(tuple(sorted({lang.lower() for lang in langs or ()})), tuple(sorted((metadata or {}).items())))


class Component(NamedTuple):
    """One retriever's view of a hit: its score, and its rank in that retriever's top list (None if
    the document was not in that list and its score was computed for fusion only). A named tuple: a
    search builds two per hit, and a frozen dataclass costs twice as much to build (docs/benchmarks.md)."""

    score: float
    rank: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "rank": self.rank}


@dataclass(slots=True)
class Hit:
    row: int
    id: str
    rank: int
    score: float
    lang: str | None
    dense: Component | None = None
    sparse: Component | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rank": self.rank,
            "score": self.score,
            "lang": self.lang,
            "dense": None if self.dense is None else self.dense.to_dict(),
            "sparse": None if self.sparse is None else self.sparse.to_dict(),
        }


@dataclass
class SearchResult:
    query: str
    query_lang: str | None
    hits: list[Hit]
    timing_ms: dict[str, float] = field(default_factory=dict)
    # the index store view the hits' rows refer to (clir.index.store.IndexStore.view), for rendering
    view: Any = field(default=None, repr=False, compare=False)
    # the query's dense vector (None in sparse mode), for snippets chosen by dense similarity
    vector: Any = field(default=None, repr=False, compare=False)


def content_hash(doc: Document) -> str:
    """What a document's index entry is made from (with the build settings): a resumed build finds the
    entries it already wrote by this and does not encode them again."""
    record = [doc.id, doc.title, doc.text, doc.lang, doc.metadata]
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to index: its language, BM25 tokens and vector."""

    doc: Document
    lang: str | None
    tokens: list[str]
    vector: Vectors
