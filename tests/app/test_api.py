"""The HTTP API through httpx (FastAPI's TestClient) on real indexes, and one real uvicorn process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.batching import MicroBatcher
from app.main import create_app
from bench.common import free_port
from clir.settings import Settings
from tests.conftest import serve_settings
from tests.helpers import assert_error


@pytest.fixture(scope="module")
def client(any_index) -> TestClient:
    """On each backend (the embedded index, a Qdrant collection): the same assertions hold."""
    settings = serve_settings(any_index, max_query_chars=200, max_batch=4, max_body_bytes=4096)
    with TestClient(create_app(settings)) as c:
        yield c


def test_post_search(client: TestClient):
    r = client.post("/search", json={"query": "The cat sleeps on the living room sofa all day.", "k": 3,
                                     "include_text": True})
    assert r.status_code == 200
    body = r.json()
    assert body["query_lang"] == "en"
    top = body["hits"][0]
    assert top["id"] == "fr-cat" and top["lang"] == "fr" and top["rank"] == 1
    assert top["text"].startswith("Le chat dort") and top["dense"]["rank"] == 1
    assert set(body["timing_ms"]) == {"encode", "dense", "sparse", "fuse", "total"}
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3]


def test_get_search_and_modes(client: TestClient):
    r = client.get("/search", params={"q": "北京", "k": 2, "mode": "sparse"})
    assert r.status_code == 200
    hit = r.json()["hits"][0]
    assert hit["id"] == "zh-beijing" and hit["dense"] is None and hit["sparse"]["rank"] == 1
    assert "text" not in hit or hit["text"] is None
    dense = client.get("/search", params={"q": "Tokyo cherry blossoms in April", "mode": "dense", "k": 1}).json()
    assert dense["hits"][0]["id"] == "ja-tokyo" and dense["hits"][0]["sparse"] is None


def test_fusion_options_and_filters(client: TestClient):
    body = {"query": "Cette montagne a une hauteur de trois mille mètres", "k": 5,
            "fusion": {"method": "rrf", "rrf_k": 10, "weights": {"dense": 1, "sparse": 2}, "depth": 20}}
    top = client.post("/search", json=body).json()["hits"][0]
    assert top["id"] == "fr-mountain" and top["score"] == pytest.approx(1 / 11 + 2 / 11)
    linear = client.post("/search", json={**body, "fusion": {"method": "linear", "normalization": "zscore"}})
    assert linear.status_code == 200 and linear.json()["hits"][0]["id"] == "fr-mountain"
    only_de = client.post("/search", json={"query": "mountain", "k": 10, "filter": {"lang": ["de"]}}).json()
    assert {h["lang"] for h in only_de["hits"]} == {"de"} and len(only_de["hits"]) == 3


def test_batch_encodes_all_queries(client: TestClient):
    r = client.post("/search/batch", json={"queries": ["It snows a lot in Moscow in winter.",
                                                       {"query": "北京", "query_lang": "zh"}], "k": 1})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [res["hits"][0]["id"] for res in results] == ["ru-snow", "zh-beijing"]
    assert results[1]["query_lang"] == "zh"


def test_documents_health_ready_stats_metrics_docs(client: TestClient):
    doc = client.get("/documents/de-bike").json()
    assert doc["lang"] == "de" and doc["text"].startswith("Mein Fahrrad")
    assert client.get("/documents/no-such-doc").status_code == 404
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    assert client.post("/search", json={"query": "bicycle", "k": 1}).status_code == 200  # counted below
    stats = client.get("/stats").json()
    assert stats["documents"] == 24 and stats["encoder"]["dim"] == 384 and stats["uptime_s"] >= 0
    assert any(key.startswith("POST /search ") for key in stats["requests"])
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'clir_requests_total{endpoint="POST /search",status="200"}' in metrics.text
    assert "clir_index_documents 24.0" in metrics.text
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/search/batch" in spec["paths"]
    # the search routes parse their own bodies; OpenAPI must still show the request models
    for path, model in (("/search", "SearchRequest"), ("/search/batch", "BatchRequest")):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
    schemas = spec["components"]["schemas"]
    assert "query" in schemas["SearchRequest"]["required"] and "FusionOptions" in schemas


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   \n"}, "query"),
        ({"query": "x" * 201}, "query"),
        ({"query": "ok", "k": 0}, "k"),
        ({"query": "ok", "k": 1001}, "k"),
        ({"query": "ok", "mode": "fuzzy"}, "mode"),
        ({"query": "ok", "fusion": {"method": "max"}}, "method"),
        ({"query": "ok", "fusion": {"normalization": "l2"}}, "normalization"),
        ({"query": "ok", "query_lang": "not a language"}, "query_lang"),
        ({"query": "ok", "filter": {"metadata": {"year": [1, 2]}}}, "metadata"),
        ({"k": 3}, "query"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client: TestClient, body: dict, field: str):
    message = assert_error(client.post("/search", json=body), 422, "invalid_request", field)
    assert field in message


def test_batch_limits_and_malformed_json(client: TestClient):
    r = client.post("/search/batch", json={"queries": ["a", "b", "c", "d", "e"]})
    assert "batch limit is 4" in assert_error(r, 422, "invalid_request", "queries")
    assert_error(client.post("/search/batch", json={"queries": []}), 422, "invalid_request", "queries")
    assert_error(client.post("/search/batch", json={"queries": ["fine", "  "]}), 422, "invalid_request", "queries")
    r = client.post("/search", content=b'{"query": "unterminated', headers={"content-type": "application/json"})
    assert "JSON" in assert_error(r, 422, "invalid_request")
    r = client.post("/search", content=b"", headers={"content-type": "application/json"})
    assert assert_error(r, 422, "invalid_request") == "body: Field required"


def test_body_size_limit(client: TestClient):
    assert "4096" in assert_error(client.post("/search", json={"query": "x" * 5000}), 413, "payload_too_large")


def test_every_error_status_answers_with_the_one_body(client: TestClient, mini_index: Path):
    assert "no-such-doc" in assert_error(client.get("/documents/no-such-doc"), 404, "not_found")
    assert_error(client.get("/no/such/route"), 404, "not_found")
    assert_error(client.put("/search", json={"query": "x"}), 405, "method_not_allowed")
    assert_error(client.delete("/stats"), 405, "method_not_allowed")
    assert_error(client.get("/search", params={"k": 3}), 422, "invalid_request", "q")
    assert_error(client.get("/search", params={"q": "x", "k": 1001}), 422, "invalid_request", "k")
    assert_error(client.post("/search", json={"query": "x" * 5000}), 413, "payload_too_large")
    with TestClient(create_app(Settings(index=mini_index, api_key="s3cret"))) as c:
        assert_error(c.get("/stats"), 401, "unauthorized")
        assert_error(c.post("/search", json={"query": "cat"}), 401, "unauthorized")
    spec = client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorOut"]["required"] == ["error"]
    assert "422" in spec["paths"]["/search"]["post"]["responses"]


def test_raising_max_k_raises_the_limit(mini_index: Path):
    with TestClient(create_app(Settings(index=mini_index, max_k=2000))) as c:
        r = c.post("/search", json={"query": "water", "k": 1500, "mode": "dense"})
        assert r.status_code == 200 and len(r.json()["hits"]) == 24
        assert_error(c.post("/search", json={"query": "water", "k": 2001}), 422, "invalid_request", "k")


def test_api_key(mini_index: Path):
    with TestClient(create_app(Settings(index=mini_index, api_key="s3cret"))) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200  # probes need no key
        for path in ("/stats", "/metrics", "/search?q=cat", "/documents/fr-cat"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"X-API-Key": "wrong"}).status_code == 401, path
            assert c.get(path, headers={"X-API-Key": "s3cret"}).status_code == 200, path
        assert c.post("/search", json={"query": "cat"}).status_code == 401


def test_english_query_finds_the_french_sample_document(sample_index: Path):
    with TestClient(create_app(Settings(index=sample_index))) as c:
        hits = c.get("/search", params={"q": "There once lived an old man on that island.", "k": 3}).json()["hits"]
        assert hits[0]["id"] == "tatoeba-fra-9" and hits[0]["lang"] == "fr"
        doc = c.get(f"/documents/{hits[0]['id']}").json()
        assert doc["text"] == "Un vieil homme vivait autrefois sur cette île."


@pytest.mark.multiprocess
def test_invalid_index_stops_startup_with_one_line(tmp_path: Path):
    with pytest.raises(SystemExit) as exc:
        create_app(Settings(index=tmp_path / "missing"))
    assert exc.value.code == 2
    done = subprocess.run([sys.executable, "-m", "cli.main", "serve", "--index", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "not a clir index" in done.stderr



@pytest.mark.multiprocess
def test_real_uvicorn_process(mini_index: Path):
    port = free_port()
    env = {**os.environ, "CLIR_API_KEY": "k1", "CLIR_MICRO_BATCH": "true", "CLIR_ACCESS_LOG": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--index", str(mini_index), "--port",
                             str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"X-API-Key": "k1"}
        r = httpx.post(f"{base}/search", json={"query": "My bicycle was stolen at the station", "k": 1},
                       headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()["hits"][0]["id"] == "de-bike"
        assert httpx.get(f"{base}/stats", timeout=5).status_code == 401
        # Concurrent requests from several threads all get the right answer through the micro-batcher.
        answers: list[str] = []

        def ask() -> None:
            res = httpx.post(f"{base}/search", json={"query": "It snows a lot in Moscow in winter.", "k": 1},
                             headers=headers, timeout=30)
            answers.append(res.json()["hits"][0]["id"])

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == ["ru-snow"] * 8
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # CLIR_ACCESS_LOG=true turns uvicorn's access log on (it is off by default)
    assert '"POST /search HTTP/1.1" 200' in proc.stdout.read().decode()


def test_micro_batcher_coalesces_waiting_requests():
    calls: list[int] = []
    release = threading.Event()

    def encode(texts):
        calls.append(len(texts))
        if len(calls) == 1:
            release.wait(5)  # hold the first batch so the others queue behind it
        return np.array([[float(len(t))] for t in texts])

    batcher = MicroBatcher(encode, max_batch=32)
    results: dict[str, float] = {}

    def one(text: str) -> None:
        results[text] = float(batcher.encode([text])[0][0])

    first = threading.Thread(target=one, args=("a",))
    first.start()
    while not calls:
        time.sleep(0.001)
    others = [threading.Thread(target=one, args=("b" * i,)) for i in range(2, 7)]
    for t in others:
        t.start()
    while batcher._queue.qsize() < 5:
        time.sleep(0.001)
    release.set()
    for t in [first, *others]:
        t.join()
    assert calls == [1, 5]
    assert results == {"a": 1.0, **{"b" * i: float(i) for i in range(2, 7)}}


def test_an_unexpected_failure_is_a_500_with_the_one_body(mini_index: Path, monkeypatch: pytest.MonkeyPatch):
    app = create_app(Settings(index=mini_index))

    def broken(doc_id: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.state.service, "document", broken)
    monkeypatch.setattr(app.state.service, "search", lambda *args: broken("x"))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert "RuntimeError" in assert_error(c.get("/documents/fr-cat"), 500, "internal_error")
        assert "RuntimeError" in assert_error(c.post("/search", json={"query": "cat"}), 500, "internal_error")


@pytest.mark.multiprocess
def test_worker_processes_get_the_settings_the_flags_made(mini_index: Path):
    """`clir serve --workers 2`: each worker receives the settings object (the index named only by a flag, the
    key only in the environment), not a copy rebuilt from the environment."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIR_")} | {"CLIR_API_KEY": "k2"}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--index", str(mini_index), "--port",
                             str(port), "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        with httpx.Client(base_url=base, headers={"X-API-Key": "k2"}, timeout=30) as client:
            for _ in range(6):  # new connections: spread over the two workers
                r = client.post("/search", json={"query": "My bicycle was stolen at the station", "k": 1},
                                headers={"Connection": "close"})
                assert r.status_code == 200 and r.json()["hits"][0]["id"] == "de-bike"
            assert client.get("/stats").json()["documents"] == 24
        assert httpx.get(f"{base}/stats", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=60)
