"""clir.client against real `clir serve` processes (reads with an API key, writes on a private copy), and
its retries against small scripted HTTP servers on loopback; then `clir eval --server`, which uses it."""

from __future__ import annotations

import asyncio
import filecmp
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.common import free_port
from clir.client import AsyncClient, Client, ClientError, HitSnippet, SearchHit, SearchResponse, WriteResult
from clir.corpus.readers import read_corpus, write_beir
from clir.errors import ClirError
from clir.records import Component, Document, Query
from eval.client import RemoteSearcher
from eval.searchers import open_local
from tests.helpers import serve

CAT = "The cat sleeps on the living room sofa all day."
KEY = "secret"


@contextmanager
def _server(index: Path, *flags: str, env: dict | None = None) -> Iterator[str]:
    port = free_port()
    proc = serve(index, port, *flags, env=env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def reader(mini_index: Path) -> Iterator[str]:
    """A read-only server that wants the API key."""
    with _server(mini_index, env={"CLIR_API_KEY": KEY}) as url:
        yield url


@pytest.fixture(scope="module")
def writer(mini_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A writable server over a private copy (writes from loopback need no key)."""
    copy = tmp_path_factory.mktemp("client") / "index"
    shutil.copytree(mini_index, copy)
    with _server(copy, "--writable") as url:
        yield url


# -- reads -----------------------------------------------------------------------------------------


def test_search_returns_typed_hits(reader: str):
    with Client(reader, api_key=KEY) as clir:
        result = clir.search(CAT, k=5, query_lang="en", include_text=True)
    assert isinstance(result, SearchResponse) and result.query == CAT and result.query_lang == "en"
    assert not result.query_truncated and result.timing_ms["total"] > 0
    top = result.hits[0]
    assert isinstance(top, SearchHit) and top.id == "fr-cat" and top.rank == 1 and top.lang == "fr"
    assert isinstance(top.dense, Component) and isinstance(top.sparse, Component)  # hybrid: both components
    assert top.text == "Le chat dort sur le canapé du salon toute la journée." and top.metadata == {}
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(result.hits, result.hits[1:], strict=False))
    assert top.snippet is None  # not asked for


def test_options_reach_the_server(reader: str):
    with Client(reader, api_key=KEY) as clir:
        dense = clir.search(CAT, k=3, mode="dense")
        german = clir.search(CAT, k=10, lang=["de"])
        rrf = clir.search(CAT, k=3, fusion={"method": "rrf", "rrf_k": 10})
    assert all(h.sparse is None and h.dense is not None for h in dense.hits) and dense.hits[0].text is None
    assert german.hits and {h.lang for h in german.hits} == {"de"}
    # RRF scores are sums of 1 / (rrf_k + rank): the best possible is 2 / 11
    assert 0 < rrf.hits[0].score <= 2 / 11 + 1e-9


def test_offset_pages_through_one_ranking(reader: str):
    with Client(reader, api_key=KEY) as clir:
        first = clir.search(CAT, k=4)
        second = clir.search(CAT, k=2, offset=2)
    assert [h.id for h in second.hits] == [h.id for h in first.hits[2:4]]
    assert [h.rank for h in second.hits] == [3, 4]


def test_snippets_mark_the_matching_terms(reader: str):
    with Client(reader, api_key=KEY) as clir:
        french = clir.search("Le chat dort sur le canapé", k=3, query_lang="fr", snippet=True)
        english = clir.search(CAT, k=3, snippet=True)
    top = french.hits[0]
    assert top.id == "fr-cat" and isinstance(top.snippet, HitSnippet) and top.snippet.source == "lexical"
    marked = {top.snippet.text[s:e].lower() for s, e in top.snippet.highlights}
    assert {"chat", "canapé"} <= marked, marked
    assert all(isinstance(h.snippet, HitSnippet) and h.snippet.source in ("lexical", "dense", "opening")
               for h in english.hits)


def test_search_batch_with_languages_per_query(reader: str):
    with Client(reader, api_key=KEY) as clir:
        results = clir.search_batch([(CAT, "en"), ("北京是中国的首都", "zh"), "Зимой в Москве много снега"], k=3)
    assert [r.hits[0].id for r in results] == ["fr-cat", "zh-beijing", "ru-snow"]
    assert [r.query_lang for r in results] == ["en", "zh", "ru"]  # the last one detected


def test_get_and_stats(reader: str):
    with Client(reader, api_key=KEY) as clir:
        doc = clir.get("zh-beijing")
        assert clir.get("no-such-document") is None
        stats = clir.stats()
    assert doc == Document(id="zh-beijing", text="北京是中国的首都，有很多历史古迹。", title="", lang="zh", metadata={})
    assert stats["documents"] == 24


def test_server_errors_raise_one_client_error(reader: str):
    with Client(reader) as anonymous, pytest.raises(ClientError) as caught:
        anonymous.search(CAT)
    error = caught.value
    assert isinstance(error, ClirError)
    assert (error.status, error.code, error.field) == (401, "unauthorized", None)
    assert error.message == "missing or invalid X-API-Key header" and error.body["error"]["code"] == "unauthorized"
    assert str(error) == f"POST {reader}/search answered 401 unauthorized: missing or invalid X-API-Key header"
    with Client(reader, api_key=KEY) as clir:
        with pytest.raises(ClientError) as caught:
            clir.search(CAT, k=0)
        assert (caught.value.status, caught.value.code, caught.value.field) == (422, "invalid_request", "k")
        with pytest.raises(ClientError) as caught:
            clir.upsert(Document(id="x", text="a read-only server takes no writes"))
        assert (caught.value.status, caught.value.code) == (405, "method_not_allowed")
        with pytest.raises(TypeError, match="unknown search option 'kk'"):
            clir.search(CAT, kk=3)  # type: ignore[call-arg]


# -- writes ----------------------------------------------------------------------------------------


def test_upsert_get_search_delete(writer: str):
    otter = Document(id="zz-otter", text="The sea otter cracks shellfish open with a stone on its belly.",
                     lang="en", metadata={"kind": "animal"})
    odd = "dir/a b?c#d%"  # every character a URL path treats specially
    with Client(writer) as clir:
        assert clir.upsert(otter) == WriteResult(created=1)
        assert clir.get("zz-otter") == otter
        many = [{"_id": f"zz-lighthouse-{i}", "text": f"Lighthouse keeper number {i} trims the lamp.", "lang": "en",
                 "metadata": {"kind": "lighthouse"}} for i in range(3)]
        many.append({"id": odd, "text": "An odd id.", "lang": "en"})
        assert clir.upsert(many) == WriteResult(created=4)
        assert clir.upsert(many[:2]) == WriteResult(updated=2)
        assert clir.get(odd) == Document(id=odd, text="An odd id.", lang="en")
        found = clir.search("lighthouse keeper", k=10, metadata={"kind": "lighthouse"})
        assert sorted(h.id for h in found.hits) == [f"zz-lighthouse-{i}" for i in range(3)]
        assert clir.search("sea otter shellfish", k=1).hits[0].id == "zz-otter"
        assert clir.delete("zz-otter") == WriteResult(deleted=1)
        assert clir.get("zz-otter") is None
        with pytest.raises(ClientError) as caught:
            clir.delete("zz-otter")
        assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_upsert_refuses_documents_without_an_id(writer: str):
    with Client(writer) as clir:
        with pytest.raises(ValueError, match="'_id' or 'id'"):
            clir.upsert({"text": "no id"})
        with pytest.raises(ValueError, match="'_id' or 'id'"):
            clir.upsert([{"_id": "a", "id": "b", "text": "two ids"}, {"id": "c", "text": "fine"}])
        with pytest.raises(ValueError, match="no documents"):
            clir.upsert([])
        assert clir.get("c") is None  # nothing was sent


# -- retries ---------------------------------------------------------------------------------------

SEARCH_BODY = {"query": "q", "query_lang": "en", "timing_ms": {"total": 1.0}, "query_truncated": False,
               "hits": [{"id": "d1", "rank": 1, "score": 0.5, "dense": {"score": 0.5, "rank": 1}, "sparse": None,
                         "lang": "en", "title": "", "snippet": {"text": "a cat", "highlights": [[2, 5]],
                                                                 "source": "lexical", "start": 0}}]}
UNAVAILABLE = (503, {"Retry-After": "0"}, {"error": {"code": "unavailable", "message": "busy", "field": None}})
INVALID = (422, {}, {"error": {"code": "invalid_request", "message": "k: too small", "field": "k"}})
OK = (200, {}, SEARCH_BODY)


class _Scripted:
    """A server on loopback answering from a script (its last answer repeats) and recording the bodies it
    was sent; it starts listening `delay` seconds after entering, for clients that must wait for it."""

    def __init__(self, *answers: tuple[int, dict, dict], delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.seen: list[dict] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.delay = delay
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        time.sleep(self.delay)
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._http.script = self  # type: ignore[attr-defined]
        self._started.set()
        self._http.serve_forever(poll_interval=0.05)

    def answer(self, body: dict) -> tuple[int, dict, dict]:
        self.seen.append(body)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def __enter__(self) -> _Scripted:
        self._thread.start()
        if self.delay == 0.0:
            self._started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._started.wait(self.delay + 5)
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, headers, body = self.server.script.answer(sent)  # type: ignore[attr-defined]
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        pass


def test_503_is_retried_after_retry_after():
    with _Scripted(UNAVAILABLE, UNAVAILABLE, OK) as server, Client(server.url, backoff=60) as clir:
        started = time.monotonic()
        result = clir.search("q", k=1)
    # Retry-After: 0 was obeyed over a 60 s backoff, and the one request was sent three times
    assert time.monotonic() - started < 10
    assert server.seen == [{"query": "q", "k": 1}] * 3
    assert result.hits[0].snippet == HitSnippet("a cat", [(2, 5)], "lexical", 0)


def test_503_retries_are_bounded():
    with _Scripted(UNAVAILABLE) as server, Client(server.url, retries=2) as clir, \
            pytest.raises(ClientError) as caught:
        clir.search("q")
    assert len(server.seen) == 3
    assert (caught.value.status, caught.value.code, caught.value.message) == (503, "unavailable", "busy")


def test_other_statuses_are_not_retried():
    with _Scripted(INVALID, OK) as server, Client(server.url, backoff=0) as clir, pytest.raises(ClientError) as caught:
        clir.search("q")
    assert len(server.seen) == 1
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, "invalid_request", "k")


def test_a_failed_connection_is_retried_until_the_server_is_up():
    with _Scripted(OK, delay=1.0) as server, Client(server.url, retries=6, backoff=0.2) as clir:
        started = time.monotonic()
        result = clir.search("q")
        assert time.monotonic() - started >= 0.9
    assert result.hits[0].id == "d1" and len(server.seen) == 1


def test_an_unreachable_server_fails_in_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retries=0) as clir, pytest.raises(ClientError) as caught:
        clir.stats()
    assert caught.value.status is None and caught.value.code == "unreachable"
    assert str(caught.value).startswith(f"GET {url}/stats unreachable: ConnectError") and "\n" not in str(caught.value)


def test_an_answer_that_is_not_the_api_is_a_client_error():
    with _Scripted((200, {}, {"unexpected": True})) as server, Client(server.url) as clir, \
            pytest.raises(ClientError) as caught:
        clir.search("q")
    assert (caught.value.status, caught.value.code) == (200, "invalid_response")


# -- async -----------------------------------------------------------------------------------------


@pytest.mark.multiprocess
def test_async_reads(reader: str):
    async def run() -> tuple:
        async with AsyncClient(reader, api_key=KEY) as clir:
            return (await clir.search(CAT, k=3, snippet=True), await clir.search_batch([("北京", "zh")], k=1),
                    await clir.get("fr-cat"), await clir.get("nope"), await clir.stats())

    result, batch, doc, missing, stats = asyncio.run(run())
    assert result.hits[0].id == "fr-cat" and isinstance(result.hits[0].snippet, HitSnippet)
    assert batch[0].hits[0].id == "zh-beijing" and batch[0].query_lang == "zh"
    assert doc is not None and doc.lang == "fr" and missing is None and stats["documents"] == 24


@pytest.mark.multiprocess
def test_async_writes(writer: str):
    async def run() -> tuple:
        async with AsyncClient(writer) as clir:
            created = await clir.upsert([Document(id=f"zz-async-{i}", text=f"Async document {i} about kites.",
                                                  lang="en") for i in range(2)])
            found = await clir.get("zz-async-1")
            deleted = await clir.delete("zz-async-0")
            return created, found, deleted, await clir.get("zz-async-0")

    created, found, deleted, gone = asyncio.run(run())
    assert created == WriteResult(created=2) and deleted == WriteResult(deleted=1)
    assert found is not None and found.text == "Async document 1 about kites." and gone is None


@pytest.mark.multiprocess
def test_async_errors_and_retries(reader: str):
    async def unauthorized() -> None:
        async with AsyncClient(reader) as clir:
            await clir.search(CAT)

    with pytest.raises(ClientError) as caught:
        asyncio.run(unauthorized())
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")

    async def retried(url: str) -> SearchResponse:
        async with AsyncClient(url, backoff=60) as clir:
            return await clir.search("q", k=1)

    with _Scripted(UNAVAILABLE, UNAVAILABLE, OK) as server:
        assert asyncio.run(retried(server.url)).hits[0].id == "d1"
    assert len(server.seen) == 3


# -- clir eval --server ----------------------------------------------------------------------------

QUERIES = [Query("q-cat", CAT, "en"), Query("q-beijing", "Beijing is the capital of China.", "en"),
           Query("q-snow", "It snows a lot in Moscow in winter.", "en"), Query("q-water", "rivers and the sea", None)]
QRELS = {"q-cat": {"fr-cat": 1}, "q-beijing": {"zh-beijing": 1}, "q-snow": {"ru-snow": 1},
         "q-water": {"fr-rain": 2, "ar-sea": 1, "ghost-doc": 1}}


def test_remote_searcher_matches_the_local_one(reader: str, mini_index: Path):
    remote = RemoteSearcher(reader, api_key=KEY)
    local = open_local(mini_index)
    texts, langs = [q.text for q in QUERIES], [q.lang for q in QUERIES]
    for mode in ("dense", "sparse", "hybrid"):
        theirs = remote.search_batch(texts, k=5, depth=20, query_langs=langs, mode=mode)
        ours = local.search_batch(texts, k=5, depth=20, query_langs=langs, mode=mode)
        assert [[(h.id, h.rank, h.score, h.dense, h.sparse) for h in r.hits] for r in theirs] == \
            [[(h.id, h.rank, h.score, h.dense, h.sparse) for h in r.hits] for r in ours], mode
        assert all(h.row == -1 for r in theirs for h in r.hits)
    assert remote.missing_documents(["fr-cat", "ghost-doc", "zh-tea"]) == ["ghost-doc"]
    assert remote.summary()["server"] == reader


def test_remote_searcher_errors(reader: str):
    with pytest.raises(ClirError, match="cannot reach the server at"):
        RemoteSearcher(f"http://127.0.0.1:{free_port()}", retries=0)
    with pytest.raises(ClientError, match="401 unauthorized"):
        RemoteSearcher(reader, api_key="wrong")


@pytest.mark.multiprocess
def test_clir_eval_through_the_server_writes_the_local_run_files(reader: str, mini_index: Path, mini_corpus: Path,
                                                                 tmp_path: Path):
    dataset = tmp_path / "beir"
    write_beir(dataset, read_corpus(mini_corpus), QUERIES, QRELS)
    outs = {"local": ["--index", str(mini_index)], "server": ["--server", reader]}
    for name, where in outs.items():
        done = subprocess.run([sys.executable, "-m", "cli.main", "eval", *where, "--dataset", str(dataset),
                               "--configs", "dense,hybrid", "--out", str(tmp_path / name), "--quiet"],
                              env={**os.environ, "CLIR_API_KEY": KEY}, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
    for config in ("dense", "hybrid"):
        assert filecmp.cmp(tmp_path / "local" / f"{config}.run", tmp_path / "server" / f"{config}.run", shallow=False)
    metrics = json.loads((tmp_path / "server" / "metrics.json").read_text())
    assert metrics["queries"] == 4 and metrics["index"]["server"] == reader
