"""Records that flow from corpus readers into the index builder and the evaluator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One retrievable passage. `lang` is an ISO 639-1 code when known, else None (detected later)."""

    id: str
    text: str
    title: str = ""
    lang: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: str | None = None


# qrels: query id -> document id -> graded relevance
Qrels = dict[str, dict[str, int]]
