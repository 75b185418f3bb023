from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clir.errors import ConfigError
from clir.records import Ranked
from clir.search.fusion import OTHER_SCRIPT, SAME_LANGUAGE, SAME_SCRIPT, Candidates, FusionParams, fuse, propagation
from clir.search.retriever import Retriever


@pytest.fixture(scope="module")
def retriever(any_index):
    """On each backend (the embedded index, a Qdrant collection): the same assertions hold."""
    retriever = Retriever.open(any_index)
    yield retriever
    retriever.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("The cat sleeps on the living room sofa all day.", "fr-cat"),
        ("My bicycle was stolen in front of the station yesterday.", "de-bike"),
        ("Beijing is the capital of China and has many historic sites.", "zh-beijing"),
        ("It snows a lot in Moscow in winter.", "ru-snow"),
        ("The sea is calm today and the fishermen go out in their boats.", "ar-sea"),
    ],
)
def test_english_queries_find_documents_in_other_languages(retriever, query, expected):
    result = retriever.search(query, k=3, mode="dense", query_lang="en")
    assert result.hits[0].id == expected
    assert result.hits[0].dense is not None and result.hits[0].dense.rank == 1
    assert result.hits[0].sparse is None


def test_sparse_finds_chinese_by_a_two_character_word(retriever):
    result = retriever.search("北京", k=3, mode="sparse")
    assert result.query_lang == "zh"
    assert result.hits[0].id == "zh-beijing" and result.hits[0].sparse.score > 0


def test_sparse_uses_the_query_language_stemmer(retriever):
    # "pluies" -> stem "plui"/"pleut" differ; "rivière" plural/singular share the French stem.
    result = retriever.search("rivière", k=3, mode="sparse", query_lang="fr")
    assert result.hits and result.hits[0].id == "fr-rain"


def test_hybrid_reports_both_components_and_rrf_scores(retriever):
    result = retriever.search("Cette montagne a une hauteur de trois mille mètres", k=5, mode="hybrid",
                              fusion=FusionParams(method="rrf"))
    top = result.hits[0]
    assert top.id == "fr-mountain"
    assert top.dense.rank == 1 and top.sparse.rank == 1
    assert top.score == pytest.approx(2 / 61)
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert set(result.timing_ms) == {"encode", "dense", "sparse", "fuse", "total"}


def test_batch_equals_single_searches(retriever):
    queries = ["Tokyo cherry blossoms", "homemade pasta on Sunday", "rocket launch 1969"]
    batch = retriever.search_batch(queries, k=4, mode="hybrid")
    for query, got in zip(queries, batch, strict=True):
        single = retriever.search(query, k=4, mode="hybrid")
        assert [h.id for h in got.hits] == [h.id for h in single.hits]
        np.testing.assert_allclose([h.score for h in got.hits], [h.score for h in single.hits], rtol=1e-5)


def test_bad_mode_and_k(retriever):
    with pytest.raises(ConfigError, match="unknown mode"):
        retriever.search("x", mode="fuzzy")
    with pytest.raises(ConfigError, match="k must be"):
        retriever.search("x", k=0)


def test_k_larger_than_collection(retriever):
    assert len(retriever.search("water", k=100, mode="dense").hits) == 24


def _candidates(dense_rows, dense_scores, sparse_rows, sparse_scores) -> Candidates:
    """Candidates for rows 0..9 from two hand-written top lists (absent: cosine 0.1, BM25 0)."""
    dense = Ranked(np.array(dense_rows), np.array(dense_scores, dtype=np.float32))
    sparse = Ranked(np.array(sparse_rows), np.array(sparse_scores, dtype=np.float32))
    rows = np.arange(10)
    d, s = np.full(10, 0.1, dtype=np.float32), np.zeros(10, dtype=np.float32)
    d[dense.rows], s[sparse.rows] = dense.scores, sparse.scores
    top = np.zeros(5, dtype=np.float32)
    top[: len(sparse)] = sparse.scores
    dense_rank, sparse_rank = np.zeros(10, dtype=np.int64), np.zeros(10, dtype=np.int64)
    dense_rank[dense.rows], sparse_rank[sparse.rows] = np.arange(1, len(dense) + 1), np.arange(1, len(sparse) + 1)
    return Candidates(rows, d, s, dense_rank, sparse_rank, top)


def test_rrf_by_hand():
    c = _candidates([5, 3, 9], [0.9, 0.8, 0.1], [3, 7], [12.0, 4.0])
    scores = fuse(c, FusionParams(method="rrf", dense_weight=1.0, sparse_weight=2.0, rrf_k=60), np.zeros(10, np.int8))
    expected = {5: 1 / 61, 3: 1 / 62 + 2 / 61, 9: 1 / 63, 7: 2 / 62}
    fused = Ranked.top_of(c.rows, scores)
    assert fused.rows[:4].tolist() == sorted(expected, key=lambda r: -expected[r])
    np.testing.assert_allclose(scores[list(expected)], list(expected.values()), rtol=1e-9)
    assert np.count_nonzero(scores) == 4
    assert c.dense_rank[[9, 7, 5]].tolist() == [3, 0, 1]


def test_linear_by_hand():
    c = _candidates([5, 3], [0.9, 0.5], [3, 7], [10.0, 5.0])
    params = FusionParams(method="linear", dense_weight=1.0, sparse_weight=0.5, normalization="minmax")
    scores = fuse(c, params, np.zeros(10, np.int8))
    dense_mm = (c.dense - 0.1) / 0.8
    sparse_mm = c.sparse / 10.0
    np.testing.assert_allclose(scores, dense_mm + 0.5 * sparse_mm, rtol=1e-6)
    z = fuse(c, replace(params, normalization="zscore"), np.zeros(10, np.int8))
    np.testing.assert_allclose(z, (c.dense - c.dense.mean()) / c.dense.std()
                               + 0.5 * (c.sparse - c.sparse.mean()) / c.sparse.std(), rtol=1e-5)


def test_auto_adds_a_kinship_weighted_bonus_only_for_distinctive_matches():
    # One document stands far above a flat BM25 list: a distinctive match (z-score 2 at 5 entries).
    c = _candidates([1, 2, 3], [0.80, 0.79, 0.78], [3], [9.0])
    params = FusionParams(same_lang_weight=0.1, same_script_weight=0.04, other_script_weight=0.01,
                          confidence_lo=0.0, confidence_hi=2.0)
    for kinship, bonus in ((SAME_LANGUAGE, 0.1), (SAME_SCRIPT, 0.04), (OTHER_SCRIPT, 0.01)):
        scores = fuse(c, params, np.full(10, kinship, np.int8))
        assert scores[3] == pytest.approx(0.78 + bonus, rel=1e-6)
        assert scores[1] == pytest.approx(0.80)
    # A flat BM25 list (every entry equal) carries no distinctive evidence: dense order is kept.
    flat = _candidates([1, 2, 3], [0.80, 0.79, 0.78], [1, 2, 3, 4, 5], [3.0] * 5)
    np.testing.assert_allclose(fuse(flat, params, np.full(10, SAME_LANGUAGE, np.int8)), flat.dense)


def test_propagation_lifts_other_languages_near_the_match_only():
    params = FusionParams(propagation_weight=0.04, propagation_floor=0.6, propagation_power=2.0)
    match = np.array([1.0, 0.8, 0.6, 0.3, 1.0])
    kinship = np.array([OTHER_SCRIPT, SAME_SCRIPT, OTHER_SCRIPT, OTHER_SCRIPT, SAME_LANGUAGE], dtype=np.int8)
    lift = propagation(match, kinship, 0.5, params)
    # full weight (times the confidence) at the match's own vector, a quarter halfway up from the floor, nothing at
    # or below it, and nothing in the query's language (BM25 itself speaks for those)
    np.testing.assert_allclose(lift, [0.02, 0.005, 0.0, 0.0, 0.0], atol=1e-12)
    assert propagation(match, kinship, 0.0, params).tolist() == [0.0] * 5
    for bad in ({"propagation_floor": 1.0}, {"propagation_floor": -1.5}, {"propagation_power": 0.0},
                {"propagation_weight": -0.1}, {"propagation_power": float("nan")}):
        with pytest.raises(ConfigError):
            FusionParams(**bad)  # type: ignore[arg-type]


def test_ties_are_deterministic():
    assert Ranked.top_of(np.array([4, 2]), np.array([1.0, 1.0])).rows.tolist() == [2, 4]
    assert Ranked.top_of(np.array([2, 4]), np.array([1.0, 1.0])).rows.tolist() == [2, 4]


def test_bad_fusion_params():
    from clir.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown fusion method"):
        FusionParams(method="max")
    with pytest.raises(ConfigError, match="unknown normalization"):
        FusionParams(normalization="l2")


def test_kinship_follows_language_then_script(retriever):
    every = retriever.search("a document", k=len(retriever), mode="dense", language_balance=False)
    rows = np.array([hit.row for hit in every.hits])
    langs = retriever.store.langs(rows)
    assert {"fr", "de", "es", "ar", "zh", "ru"} <= set(langs.tolist())
    kin = retriever.kinship(rows, "en")
    # English queries: French, German and Spanish documents share the Latin script; Arabic, Chinese and
    # Russian ones do not, and none is in English.
    assert set(kin[np.isin(langs, ["fr", "de", "es"])].tolist()) == {SAME_SCRIPT}
    assert set(kin[np.isin(langs, ["ar", "zh", "ru"])].tolist()) == {OTHER_SCRIPT}
    kin = retriever.kinship(rows, "fr")
    assert set(kin[langs == "fr"].tolist()) == {SAME_LANGUAGE}
    assert set(kin[langs == "de"].tolist()) == {SAME_SCRIPT}
    kin = retriever.kinship(rows, "uk")  # Ukrainian: Cyrillic, like the Russian documents
    assert set(kin[langs == "ru"].tolist()) == {SAME_SCRIPT}
    assert set(kin[langs == "fr"].tolist()) == {OTHER_SCRIPT}
    assert set(retriever.kinship(rows, None).tolist()) == {OTHER_SCRIPT}
