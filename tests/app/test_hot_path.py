"""POST /search's only implementation, the ASGI path in front of FastAPI's router (app/hot.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import app.hot
from app.main import create_app
from clir.settings import Settings
from tests.helpers import assert_error, post_search_scope

BAD_BODIES = [
    ({"query": "   "}, "query"),
    ({"query": "x" * 201}, "query"),
    ({"query": "ok", "k": 1001}, "k"),
    ({"query": "ok", "mode": "fuzzy"}, "mode"),
    ({"query": "ok", "query_lang": "not a language"}, "query_lang"),
    ({"k": 3}, "query"),
]


@pytest.fixture(scope="module")
def settings(mini_index: Path) -> Settings:
    return Settings(index=mini_index, max_query_chars=200, max_body_bytes=4096)


@pytest.fixture(scope="module")
def hot(settings: Settings) -> TestClient:
    with TestClient(create_app(settings)) as c:
        yield c


def _hits(response) -> list[tuple[str, float]]:
    assert response.status_code == 200, response.text
    return [(h["id"], h["score"]) for h in response.json()["hits"]]


@pytest.mark.parametrize("query", ["The cat sleeps on the living room sofa all day.", "北京", "mountain"])
def test_post_search_answers_as_the_quick_get_form(hot: TestClient, query: str):
    posted = hot.post("/search", json={"query": query, "k": 5, "include_text": True})
    got = hot.get("/search", params={"q": query, "k": 5, "include_text": "true"})
    assert _hits(posted) == _hits(got)
    assert posted.json()["hits"][0]["text"] == got.json()["hits"][0]["text"]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_bodies_get_the_one_error_body(hot: TestClient, body: dict, field: str):
    assert_error(hot.post("/search", json=body), 422, "invalid_request", field)


@pytest.mark.parametrize("raw", [b"", b'{"query": "unterminated', b"[1, 2]"])
def test_malformed_bodies_are_422(hot: TestClient, raw: bytes):
    assert_error(hot.post("/search", content=raw, headers={"content-type": "application/json"}), 422,
                 "invalid_request")


def test_openapi_describes_post_search(hot: TestClient):
    operation = hot.get("/openapi.json").json()["paths"]["/search"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchRequest"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchResponse"}
    # and the router itself has no POST /search: the hot path is the only implementation
    assert not [r for r in hot.app.routes if getattr(r, "path", "") == "/search" and "POST" in r.methods]


def test_hot_path_serves_post_search_and_is_counted(hot: TestClient, monkeypatch: pytest.MonkeyPatch):
    calls = []
    original = app.hot.search_response

    async def spy(service, raw_body):
        calls.append(raw_body)
        return await original(service, raw_body)

    monkeypatch.setattr(app.hot, "search_response", spy)
    before = hot.get("/stats").json()["requests"].get("POST /search 200", 0)
    r = hot.post("/search", json={"query": "My bicycle was stolen at the station", "k": 1})
    assert r.status_code == 200 and r.json()["hits"][0]["id"] == "de-bike"
    assert len(calls) == 1
    assert hot.get("/stats").json()["requests"]["POST /search 200"] == before + 1
    # other methods and paths still go to FastAPI
    assert hot.get("/search", params={"q": "bicycle", "k": 1}).status_code == 200
    assert hot.put("/search", json={"query": "x"}).status_code == 405
    assert len(calls) == 1


def _post_in_chunks(asgi_app, chunks: list[bytes]) -> tuple[int, dict]:
    """POST /search straight through ASGI, the body in several http.request messages, as a server
    passes on a chunked request (TestClient always sends one)."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = post_search_scope((b"transfer-encoding", b"chunked"))
    asyncio.run(asgi_app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_hot_path_reads_chunked_bodies_within_the_limit(hot: TestClient):
    body = b'{"query": "It snows a lot in Moscow in winter.", "k": 1}'
    status, answer = _post_in_chunks(hot.app, [body[i:i + 7] for i in range(0, len(body), 7)])
    assert status == 200 and answer["hits"][0]["id"] == "ru-snow"
    big = b'{"query": "' + b"x" * 5000 + b'"}'
    status, answer = _post_in_chunks(hot.app, [big[i:i + 1000] for i in range(0, len(big), 1000)])
    assert status == 413 and answer["error"]["code"] == "payload_too_large" and "4096" in answer["error"]["message"]
