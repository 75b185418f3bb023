"""What `clir.client` returns and raises: typed results read from the HTTP API's JSON (app/schemas.py),
and the one error type. Kept apart from the transport so both clients, sync and async, read answers
with the same functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from clir.errors import ClirError
from clir.records import Component, Document, MetadataValue

Mode = Literal["hybrid", "dense", "sparse"]
SnippetSource = Literal["lexical", "dense", "opening"]


class SearchOptions(TypedDict, total=False):
    """The options of `search` and `search_batch`; each one left out takes the server's default (given
    here), so a call sends only what it sets and an older server is not sent fields it lacks."""

    k: int  # hits to return (10); offset + k at most the server's max_k
    offset: int  # hits to skip, for paging (0)
    mode: Mode  # "hybrid"
    query_lang: str | None  # the query's language code (None: detected)
    lang: list[str] | None  # keep documents in these languages only (None: all)
    metadata: dict[str, MetadataValue] | None  # keep documents with these metadata values only (None: all)
    include_text: bool  # each hit's text and metadata (False)
    snippet: bool  # each hit's snippet around the query's matching terms (False)
    language_balance: bool  # no document language preferred as such (True)
    fusion: dict[str, Any] | None  # {"method", "rrf_k", "weights", "normalization", "depth"} (None: defaults)


@dataclass(frozen=True)
class HitSnippet:
    """A window of a hit's text; `highlights` are [start, end) offsets into `text` in code points (Python
    string indices), `start` is where `text` starts in the document's text."""

    text: str
    highlights: list[tuple[int, int]]
    source: SnippetSource
    start: int


@dataclass(frozen=True)
class SearchHit:
    id: str
    rank: int
    score: float
    lang: str | None
    title: str
    dense: Component | None  # None in sparse mode
    sparse: Component | None  # None in dense mode
    text: str | None = None  # with include_text
    metadata: dict[str, Any] | None = None  # with include_text
    snippet: HitSnippet | None = None  # with snippet


@dataclass(frozen=True)
class SearchResponse:
    query: str  # as searched: cut to the encoder's window when longer (query_truncated)
    query_lang: str | None
    hits: list[SearchHit]
    timing_ms: dict[str, float]
    query_truncated: bool = False


@dataclass(frozen=True)
class WriteResult:
    """What a write changed. A retried write may count as updated what its lost first attempt created."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    warnings: list[str] = field(default_factory=list)


class ClientError(ClirError):
    """Every failure of a client call, as one line. `status` is the HTTP status, or None when no answer
    came (`code` is then "unreachable"); `code`, `message` and `field` are those of the server's error
    body (app/errors.py) when it sent one; `body` is the answer's parsed JSON, or its text."""

    def __init__(self, status: int | None, code: str, message: str, *, field: str | None = None,
                 body: Any = None, request: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.body = body
        outcome = code if status is None else f"answered {status} {code}"
        super().__init__(" ".join(f"{request} {outcome}: {message}".split()))


def error_of(status: int, body: Any, request: str) -> ClientError:
    """The error of a non-2xx answer: the one error body's fields, or the status alone from a server (or
    proxy) that answered otherwise."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping) and isinstance(error.get("code"), str):
        return ClientError(status, error["code"], str(error.get("message", "")), field=error.get("field"),
                           body=body, request=request)
    return ClientError(status, "http_error", str(body)[:200], body=body, request=request)


def _component(value: Mapping[str, Any] | None) -> Component | None:
    return None if value is None else Component(float(value["score"]), value["rank"])


def _snippet(value: Mapping[str, Any] | None) -> HitSnippet | None:
    if value is None:
        return None
    return HitSnippet(value["text"], [(int(s), int(e)) for s, e in value["highlights"]], value["source"],
                      int(value["start"]))


def _hit(item: Mapping[str, Any]) -> SearchHit:
    return SearchHit(id=item["id"], rank=int(item["rank"]), score=float(item["score"]), lang=item.get("lang"),
                     title=item.get("title") or "", dense=_component(item.get("dense")),
                     sparse=_component(item.get("sparse")), text=item.get("text"), metadata=item.get("metadata"),
                     snippet=_snippet(item.get("snippet")))


def search_response(data: Mapping[str, Any]) -> SearchResponse:
    return SearchResponse(data["query"], data.get("query_lang"), [_hit(h) for h in data["hits"]],
                          dict(data["timing_ms"]), bool(data.get("query_truncated", False)))


def batch_response(data: Mapping[str, Any]) -> list[SearchResponse]:
    return [search_response(r) for r in data["results"]]


def document(data: Mapping[str, Any]) -> Document:
    return Document(id=data["id"], text=data["text"], title=data.get("title") or "", lang=data.get("lang"),
                    metadata=dict(data.get("metadata") or {}))


def write_result(data: Mapping[str, Any]) -> WriteResult:
    """PUT and DELETE answer {"id", "status"}, POST {"created", "updated"}: one shape for all three."""
    status = data.get("status")
    return WriteResult(created=int(data.get("created", status == "created")),
                       updated=int(data.get("updated", status == "updated")),
                       deleted=int(status == "deleted"), warnings=list(data.get("warnings", [])))
