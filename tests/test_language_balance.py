"""Language balance (docs/fusion.md): in a multilingual collection dense candidates come from every document
language and each language's cosines are shifted by the mean of its best ones; on one language it changes
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from clir.corpus.readers import read_corpus
from clir.search.retriever import BALANCE_QUOTA, Retriever
from indexer.build import BuildConfig, build_index
from tests.conftest import SAMPLE

QUERIES = [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def french_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fr") / "index"
    docs = (d for d in read_corpus(SAMPLE / "corpus.jsonl") if d.lang == "fr")
    build_index(docs, out, BuildConfig(show_progress=False))
    return out


def test_on_one_language_the_ranking_is_unchanged(french_only: Path):
    retriever = Retriever.open(french_only)
    assert retriever.balanced_languages(None) == ["fr"]
    for mode in ("dense", "hybrid"):
        on = retriever.search_batch(QUERIES, k=10, mode=mode)
        off = retriever.search_batch(QUERIES, k=10, mode=mode, language_balance=False)
        for a, b in zip(on, off, strict=True):
            assert [(h.id, h.score) for h in a.hits] == [(h.id, h.score) for h in b.hits]


def test_each_language_is_shifted_by_the_mean_of_its_best(sample_index: Path):
    retriever = Retriever.open(sample_index)
    langs = retriever.balanced_languages(None)
    assert langs == ["ar", "de", "es", "fr", "ru", "zh"]
    query = "Where is the nearest train station?"
    vector = retriever.encoder.encode_queries([query])
    store = retriever.store.view()
    means = {}
    for lang in langs:
        plain = retriever.search(query, k=BALANCE_QUOTA, mode="dense", filter=_only(lang), language_balance=False)
        means[lang] = float(np.mean([h.score for h in plain.hits]))
    centre = float(np.mean(list(means.values())))
    balanced = retriever.search(query, k=30, mode="dense")
    assert len({h.lang for h in balanced.hits}) >= 4  # candidates from every language, not the query's first
    rows = np.asarray([h.row for h in balanced.hits])
    cosines = store.dense_scores(vector[0], rows)
    for hit, cosine in zip(balanced.hits, cosines.tolist(), strict=True):
        assert hit.score == pytest.approx(cosine + centre - means[hit.lang], abs=1e-5)
    filtered = retriever.search(query, k=30, mode="dense", filter=_only("fr"))
    assert {h.lang for h in filtered.hits} == {"fr"}  # a language filter leaves one language: nothing to balance


def _only(lang: str):
    from clir.records import Filter

    return Filter.make([lang])


def test_the_request_option(sample_index: Path):
    retriever = Retriever.open(sample_index)
    body = {"query": "Take the elevator to the fifth floor.", "k": 10, "mode": "dense"}
    with TestClient(create_app(Settings(index=sample_index))) as client:
        on = client.post("/search", json=body).json()["hits"]
        off = client.post("/search", json={**body, "language_balance": False}).json()["hits"]
        bad = client.post("/search", json={**body, "language_balance": "no"})
    assert [h["id"] for h in on] == [h.id for h in retriever.search(body["query"], k=10, mode="dense").hits]
    assert [h["id"] for h in off] == [h.id for h in retriever.search(body["query"], k=10, mode="dense",
                                                                     language_balance=False).hits]
    assert on != off and bad.status_code == 422
