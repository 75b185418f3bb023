from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clir.errors import ConfigError
from clir.fusion import Ranked, rrf
from clir.retrieval import Retriever


@pytest.fixture(scope="module")
def retriever(mini_index: Path) -> Retriever:
    return Retriever.open(mini_index)


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
    result = retriever.search("Cette montagne a une hauteur de trois mille mètres", k=5, mode="hybrid")
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


def test_rrf_by_hand():
    a = Ranked(np.array([5, 3, 9]), np.array([0.9, 0.8, 0.1], dtype=np.float32))
    b = Ranked(np.array([3, 7]), np.array([12.0, 4.0], dtype=np.float32))
    fused = rrf([a, b], weights=[1.0, 2.0], k=60)
    expected = {5: 1 / 61, 3: 1 / 62 + 2 / 61, 9: 1 / 63, 7: 2 / 62}
    assert fused.rows.tolist() == sorted(expected, key=lambda r: -expected[r])
    np.testing.assert_allclose(fused.scores, sorted(expected.values(), reverse=True), rtol=1e-6)
    assert a.ranks_of(np.array([9, 7, 5])).tolist() == [3, 0, 1]


def test_rrf_ties_are_deterministic():
    a = Ranked(np.array([4]), np.array([1.0], dtype=np.float32))
    b = Ranked(np.array([2]), np.array([1.0], dtype=np.float32))
    assert rrf([a, b]).rows.tolist() == [2, 4]
    assert rrf([b, a]).rows.tolist() == [2, 4]
