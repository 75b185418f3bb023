"""A Python client of the HTTP API (docs/client.md), sync (`Client`) and async (`AsyncClient`):

    from clir.client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as clir:
        for hit in clir.search("the cat sleeps on the sofa", k=5, snippet=True).hits:
            print(hit.rank, hit.id, hit.score, hit.snippet.text if hit.snippet else "")

Each method builds one `_Call` (the request, and how its answer becomes a typed result) with the
functions below, and the two clients only send it: the sync one with httpx.Client and time.sleep, the
async one with httpx.AsyncClient and asyncio.sleep. Requests, retries and answers are read one way.

Every call may be retried, on a failed connection or a 503 (a server shedding load answers 503 with
Retry-After): searches, `get` and `stats` are reads; `upsert` and `delete` name their documents by id,
so a repeated write leaves the index as one write does (a retried write whose first attempt did land may
report as updated what it created; a retried delete may then answer 404). Other statuses never retry.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from clir.client_types import (
    ClientError,
    HitSnippet,
    SearchHit,
    SearchOptions,
    SearchResponse,
    WriteResult,
    batch_response,
    document,
    error_of,
    search_response,
    write_result,
)
from clir.records import Component, Document

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncClient", "Client", "ClientError", "Component", "DocumentLike", "HitSnippet", "SearchHit",
           "SearchOptions", "SearchResponse", "WriteResult"]

T = TypeVar("T")
# A document to write: a Document, or a mapping with "_id" (BEIR's corpus.jsonl) or "id", "text" and
# optionally "title", "lang", "metadata" (any other key is sent as is, and the server names it if unknown).
DocumentLike = Document | Mapping[str, Any]
BatchQuery = str | tuple[str, str | None]

# The longest wait between attempts, whatever backoff or Retry-After say: a client should fail in
# bounded time rather than sleep on a misconfigured header.
MAX_WAIT_S = 30.0
# Transport errors that a repeat cannot fix: a URL without http(s)://, a request httpx itself refused.
_PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_FILTER_KEYS = ("lang", "metadata")


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One request, and how the JSON of its 2xx answer becomes the result. With `missing_ok` a 404 is
    no error: `read(None)` gives the result."""

    method: str
    path: str
    read: Callable[[Any], T]
    body: Any = None
    missing_ok: bool = False


# -- requests --------------------------------------------------------------------------------------


def _document_path(doc_id: str) -> str:
    # Ids may hold "/", "?", "#" or spaces: every character but letters and digits is escaped, and the
    # server's {doc_id:path} route takes the decoded id back whole.
    return "/documents/" + quote(doc_id, safe="")


def _options_body(options: SearchOptions) -> dict[str, Any]:
    """The wire form of the options: None means the server's default, so it is not sent; lang and
    metadata go inside "filter"."""
    unknown = sorted(set(options) - SearchOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"unknown search option {unknown[0]!r} (the options: "
                        f"{', '.join(sorted(SearchOptions.__optional_keys__))})")
    body: dict[str, Any] = {}
    wanted: dict[str, Any] = {}
    for key, value in options.items():
        if value is not None:
            (wanted if key in _FILTER_KEYS else body)[key] = value
    return body | ({"filter": wanted} if wanted else {})


def _batch_query(query: BatchQuery) -> str | dict[str, str | None]:
    if isinstance(query, str):
        return query
    text, lang = query
    return {"query": text, "query_lang": lang}


def _maybe_document(data: Any) -> Document | None:
    return None if data is None else document(data)


def _stats(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _document_fields(doc: DocumentLike) -> tuple[str, dict[str, Any]]:
    """(id, the rest of the document's wire form)."""
    if isinstance(doc, Document):
        return doc.id, {"text": doc.text, "title": doc.title, "lang": doc.lang, "metadata": doc.metadata}
    if not isinstance(doc, Mapping):
        raise TypeError(f"upsert takes Documents or mappings, not {type(doc).__name__}")
    fields = dict(doc)
    ids = [fields.pop(key) for key in ("_id", "id") if key in fields]
    if not ids or not all(isinstance(i, str) and i and i == ids[0] for i in ids):
        raise ValueError(f"upsert: a document needs a non-empty string in '_id' or 'id' (equal if both): got {ids!r}")
    return ids[0], fields


def _search_call(query: str, options: SearchOptions) -> _Call[SearchResponse]:
    return _Call("POST", "/search", search_response, {"query": query} | _options_body(options))


def _batch_call(queries: Sequence[BatchQuery], options: SearchOptions) -> _Call[list[SearchResponse]]:
    return _Call("POST", "/search/batch", batch_response,
                 {"queries": [_batch_query(q) for q in queries]} | _options_body(options))


def _get_call(doc_id: str) -> _Call[Document | None]:
    return _Call("GET", _document_path(doc_id), _maybe_document, missing_ok=True)


def _upsert_call(documents: DocumentLike | Iterable[DocumentLike]) -> _Call[WriteResult]:
    """One document: PUT /documents/{id}. Several: POST /documents, which writes all or none of them (at
    most the server's CLIR_MAX_WRITE_BATCH, 256 by default)."""
    docs = [documents] if isinstance(documents, Document | Mapping) else list(documents)
    if not docs:
        raise ValueError("upsert: no documents given")
    if len(docs) == 1:
        doc_id, fields = _document_fields(docs[0])
        return _Call("PUT", _document_path(doc_id), write_result, fields)
    items = [{"id": doc_id, **fields} for doc_id, fields in map(_document_fields, docs)]
    return _Call("POST", "/documents", write_result, {"documents": items})


def _delete_call(doc_id: str) -> _Call[WriteResult]:
    return _Call("DELETE", _document_path(doc_id), write_result)


_STATS_CALL = _Call("GET", "/stats", _stats)


# -- answers and retries ---------------------------------------------------------------------------

Outcome = httpx.Response | httpx.TransportError


def _retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds; None when absent or an HTTP date (backoff applies then)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # a proxy's HTML page, an empty body
        return response.text


class _Base:
    """What both clients share: options, the retry policy, and reading an answer."""

    def __init__(self, base_url: str, api_key: str | None, retries: int, backoff: float) -> None:
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff must not be negative")
        self.retries = retries
        self.backoff = backoff
        self._origin = base_url.rstrip("/")
        self._headers = {"X-API-Key": api_key} if api_key else {}

    def _wait(self, attempt: int, outcome: Outcome) -> float | None:
        """Seconds to sleep before attempt `attempt + 1`, or None when `outcome` is final."""
        if attempt >= self.retries:
            return None
        if isinstance(outcome, httpx.TransportError):
            wait = None if isinstance(outcome, _PERMANENT) else self.backoff * 2**attempt
        elif outcome.status_code == 503:
            wait = _retry_after(outcome)
            wait = self.backoff * 2**attempt if wait is None else wait
        else:
            return None
        return None if wait is None else min(wait, MAX_WAIT_S)

    def _finish(self, call: _Call[T], outcome: Outcome) -> T:
        """The call's result, or its ClientError."""
        request = f"{call.method} {self._origin}{call.path}"
        if isinstance(outcome, httpx.TransportError):
            raise ClientError(None, "unreachable", f"{type(outcome).__name__}: {outcome}", request=request) \
                from outcome
        if outcome.status_code == 404 and call.missing_ok:
            return call.read(None)
        body = _json(outcome)
        if not outcome.is_success:
            raise error_of(outcome.status_code, body, request)
        try:
            return call.read(body)
        except (KeyError, TypeError, ValueError) as exc:  # not the API's answer: another service, a proxy
            raise ClientError(outcome.status_code, "invalid_response", f"unexpected answer: {type(exc).__name__}: "
                              f"{exc}", body=body, request=request) from exc


class Client(_Base):
    """A sync client; `AsyncClient` has the same methods, awaited. Any non-2xx answer (but a 404 from
    `get`) and any failed connection, once retries are spent, raise ClientError. `transport` replaces
    httpx's (httpx.MockTransport in tests, an httpx.HTTPTransport with its own settings)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, retries, backoff)
        self._http = httpx.Client(base_url=self._origin, headers=self._headers, timeout=timeout, transport=transport)
        self.base_url = str(self._http.base_url)

    def _send(self, call: _Call[T]) -> T:
        attempt = 0
        while True:
            try:
                outcome: Outcome = self._http.request(call.method, call.path, json=call.body)
            except httpx.TransportError as exc:
                outcome = exc
            wait = self._wait(attempt, outcome)
            if wait is None:
                return self._finish(call, outcome)
            time.sleep(wait)
            attempt += 1

    def search(self, query: str, **options: Unpack[SearchOptions]) -> SearchResponse:
        """POST /search. Options (SearchOptions): k=10, offset=0, mode="hybrid", query_lang=None,
        lang=None (document languages), metadata=None (values to match), include_text=False,
        snippet=False, language_balance=True, fusion=None."""
        return self._send(_search_call(query, options))

    def search_batch(self, queries: Sequence[BatchQuery], **options: Unpack[SearchOptions]) -> list[SearchResponse]:
        """POST /search/batch: each query a string, or (text, query_lang); one response per query."""
        return self._send(_batch_call(queries, options))

    def get(self, doc_id: str) -> Document | None:
        """GET /documents/{id}: the stored document, or None when there is none."""
        return self._send(_get_call(doc_id))

    def upsert(self, documents: DocumentLike | Iterable[DocumentLike]) -> WriteResult:
        """Create or replace one document (PUT) or several, all or nothing (POST /documents)."""
        return self._send(_upsert_call(documents))

    def delete(self, doc_id: str) -> WriteResult:
        """DELETE /documents/{id}; ClientError 404 when there is no such document."""
        return self._send(_delete_call(doc_id))

    def stats(self) -> dict[str, Any]:
        """GET /stats: the index summary, counts, uptime and request counts."""
        return self._send(_STATS_CALL)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncClient(_Base):
    """The async twin of `Client`: the same options, methods and errors, awaited."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, retries, backoff)
        self._http = httpx.AsyncClient(base_url=self._origin, headers=self._headers, timeout=timeout,
                                       transport=transport)
        self.base_url = str(self._http.base_url)

    async def _send(self, call: _Call[T]) -> T:
        attempt = 0
        while True:
            try:
                outcome: Outcome = await self._http.request(call.method, call.path, json=call.body)
            except httpx.TransportError as exc:
                outcome = exc
            wait = self._wait(attempt, outcome)
            if wait is None:
                return self._finish(call, outcome)
            await asyncio.sleep(wait)
            attempt += 1

    async def search(self, query: str, **options: Unpack[SearchOptions]) -> SearchResponse:
        return await self._send(_search_call(query, options))

    async def search_batch(self, queries: Sequence[BatchQuery],
                           **options: Unpack[SearchOptions]) -> list[SearchResponse]:
        return await self._send(_batch_call(queries, options))

    async def get(self, doc_id: str) -> Document | None:
        return await self._send(_get_call(doc_id))

    async def upsert(self, documents: DocumentLike | Iterable[DocumentLike]) -> WriteResult:
        return await self._send(_upsert_call(documents))

    async def delete(self, doc_id: str) -> WriteResult:
        return await self._send(_delete_call(doc_id))

    async def stats(self) -> dict[str, Any]:
        return await self._send(_STATS_CALL)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
