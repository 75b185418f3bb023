"""POST /search's hot path (app/hot.py) against the FastAPI route it stands in front of."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import app.hot
from app.main import create_app
from app.settings import Settings

BODIES = [
    {"query": "The cat sleeps on the living room sofa all day.", "k": 3, "include_text": True},
    {"query": "mountain", "k": 10, "filter": {"lang": ["de"]}},
    {"query": "Cette montagne a une hauteur de trois mille mètres", "fusion": {"method": "rrf", "rrf_k": 10}},
    {"query": "北京", "mode": "sparse", "query_lang": "zh"},
    {"query": "   "},
    {"query": "x" * 201},
    {"query": "ok", "k": 1001},
    {"query": "ok", "mode": "fuzzy"},
    {"query": "ok", "query_lang": "not a language"},
    {"k": 3},
]


@pytest.fixture(scope="module")
def settings(mini_index: Path) -> Settings:
    return Settings(index=mini_index, max_query_chars=200, max_body_bytes=4096)


@pytest.fixture(scope="module")
def hot(settings: Settings) -> TestClient:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def plain(settings: Settings) -> TestClient:
    """The same app without the hot path: FastAPI's own route serves POST /search."""
    fastapi_app = create_app(settings)
    fastapi_app.user_middleware = [m for m in fastapi_app.user_middleware if m.cls is not app.hot.HotSearch]
    with TestClient(fastapi_app) as c:
        yield c


def _comparable(response) -> tuple[int, str, dict]:
    body = response.json()
    body.pop("timing_ms", None)
    return response.status_code, response.headers["content-type"], body


@pytest.mark.parametrize("body", BODIES)
def test_hot_path_and_fastapi_route_answer_alike(hot: TestClient, plain: TestClient, body: dict):
    assert _comparable(hot.post("/search", json=body)) == _comparable(plain.post("/search", json=body))


@pytest.mark.parametrize("raw", [b"", b'{"query": "unterminated', b"[1, 2]"])
def test_malformed_bodies_answer_alike(hot: TestClient, plain: TestClient, raw: bytes):
    headers = {"content-type": "application/json"}
    answers = [_comparable(c.post("/search", content=raw, headers=headers)) for c in (hot, plain)]
    assert answers[0] == answers[1] and answers[0][0] == 422


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

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/search", "raw_path": b"/search", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
    asyncio.run(asgi_app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_hot_path_reads_chunked_bodies_within_the_limit(hot: TestClient):
    body = b'{"query": "It snows a lot in Moscow in winter.", "k": 1}'
    status, answer = _post_in_chunks(hot.app, [body[i:i + 7] for i in range(0, len(body), 7)])
    assert status == 200 and answer["hits"][0]["id"] == "ru-snow"
    big = b'{"query": "' + b"x" * 5000 + b'"}'
    status, answer = _post_in_chunks(hot.app, [big[i:i + 1000] for i in range(0, len(big), 1000)])
    assert status == 413 and "4096" in answer["detail"]
