"""What a search returns: ranked hits with their dense and sparse score components."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Component:
    """One retriever's view of a hit: its score, and its rank in that retriever's top list (None if
    the document was not in that list and its score was computed for fusion only)."""

    score: float
    rank: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "rank": self.rank}


@dataclass
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "query_lang": self.query_lang,
            "hits": [h.to_dict() for h in self.hits],
            "timing_ms": self.timing_ms,
        }
