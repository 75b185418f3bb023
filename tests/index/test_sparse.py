"""BM25 index on bm25s: parity with rank_bm25, row alignment, top-k semantics, persistence."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from clir.errors import ConfigError, CorpusError, IndexFormatError
from clir.index.embedded.sparse import SparseIndex, SparseIndexBuilder
from clir.index.params import BM25Params
from clir.records import Ranked
from clir.text.analyzers import analyze_batch, analyzer_for

SUBJECTS = ["the river", "a small boat", "the old bridge", "fishermen", "the mill", "two herons",
            "the ferry", "children", "the lock keeper", "a barge"]
VERBS = ["crosses", "flooded", "passes under", "watched", "follows", "reached", "painted", "repairs"]
OBJECTS = ["the town", "the valley", "the harbour", "the meadows", "the market", "the castle",
           "the forest", "the railway", "the stone quay"]


def parity_corpus() -> list[str]:
    """30 English sentences; "water" is in 20 of them, so its Robertson idf is negative."""
    rng = random.Random(7)
    docs = []
    for i in range(30):
        parts = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
                 for _ in range(rng.randint(1, 3))]
        if i % 3 != 0:
            parts.append("water")
        if i % 7 == 0:
            parts.append("rivers and rivers")
        docs.append(". ".join(parts))
    return docs


def build(tmp_path: Path, token_lists: list[list[str]], params: BM25Params | None = None,
          batch: int = 7) -> SparseIndex:
    builder = SparseIndexBuilder(params) if params is not None else SparseIndexBuilder()
    for i in range(0, len(token_lists), batch):
        builder.add(token_lists[i:i + batch])
    builder.build(tmp_path / "bm25", show_progress=False)
    return SparseIndex.load(tmp_path / "bm25")


def full_scores(index: SparseIndex, tokens: list[str]) -> np.ndarray:
    """Every row's score, from the one query API."""
    return index.query(tokens).of(np.arange(index.n_docs))


def search(index: SparseIndex, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    top = index.query(tokens).top(k)
    return top.rows, top.scores


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (1.5, 0.75), (0.9, 0.4)])
def test_atire_robertson_matches_rank_bm25_okapi(tmp_path: Path, k1: float, b: float) -> None:
    docs = parity_corpus()
    corpus_tokens = analyze_batch(docs, ["en"] * len(docs))
    assert sum("water" in t for t in corpus_tokens) > len(docs) / 2
    index = build(tmp_path, corpus_tokens, BM25Params(k1=k1, b=b, method="atire", idf_method="robertson"))
    reference = BM25Okapi(corpus_tokens, k1=k1, b=b, epsilon=0)
    en = analyzer_for("en")
    queries = ["river boat", "flooded valley water", "rivers rivers bridge", "water",
               "herons herons painted the castle", "zeppelin", "the lock keeper repairs the stone quay"]
    for query in queries:
        tokens = en.tokens(query)
        expected = reference.get_scores(tokens)
        got = full_scores(index, tokens)
        assert got.dtype == np.float32 and got.shape == (len(docs),)
        # float32 storage: relative error ~1e-7
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=query)


def test_default_lucene_scores_match_bm25s_own_scorer(tmp_path: Path) -> None:
    docs = parity_corpus()
    index = build(tmp_path, analyze_batch(docs, ["en"] * len(docs)))
    own = bm25s.BM25.load(tmp_path / "bm25")
    assert own.method == "lucene" and own.k1 == 1.2 and own.b == 0.75
    for query in ["river boat boat", "water mill", "castle"]:
        tokens = [t for t in analyzer_for("en").tokens(query) if t in own.vocab_dict]
        np.testing.assert_allclose(full_scores(index, tokens), own.get_scores(tokens), rtol=1e-6)


def test_repeated_query_tokens_count_each_time(tmp_path: Path) -> None:
    index = build(tmp_path, [["a", "b"], ["a", "a", "c"], ["c"]])
    np.testing.assert_allclose(full_scores(index, ["a", "a"]), 2 * full_scores(index, ["a"]), rtol=1e-6)


def test_rows_follow_insertion_order_including_empty_documents(tmp_path: Path) -> None:
    token_lists = [["alpha"], [], ["beta", "gamma"], [], ["delta"], ["alpha", "omega"], []]
    builder = SparseIndexBuilder()
    builder.add(token_lists[:3])
    builder.add([])
    builder.add(token_lists[3:])
    stats = builder.build(tmp_path / "bm25", show_progress=False)
    assert stats == {"documents": 7, "vocab": 5, "avg_doc_len": 6 / 7}
    index = SparseIndex.load(tmp_path / "bm25")
    assert index.n_docs == 7
    assert search(index, ["delta"], 5)[0].tolist() == [4]
    assert search(index, ["omega"], 5)[0].tolist() == [5]
    assert search(index, ["gamma", "beta"], 5)[0].tolist() == [2]
    assert full_scores(index, ["alpha"])[[1, 3, 6]].tolist() == [0, 0, 0]


def test_query_scores_are_consistent_on_both_accumulation_paths(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    token_lists = [[f"t{x}" for x in rng.zipf(1.3, size=rng.integers(1, 40)) if x < 80] for _ in range(400)]
    index = build(tmp_path, token_lists, batch=64)
    queries = [["t1"], ["t3", "t7", "t7", "t40"], ["t2", "t9", "t11", "t2", "t2", "t60", "t13", "t5"], [],
               ["never-seen"], [f"t{i}" for i in range(1, 80)]]  # the last one takes the full-array path
    for query in queries:
        sparse = index.query(query)
        full = sparse.of(np.arange(index.n_docs))
        nonzero = np.flatnonzero(full)
        np.testing.assert_array_equal(sparse.rows, nonzero)
        # lucene's idf is positive: exactly the documents sharing a term score
        assert nonzero.tolist() == [i for i, toks in enumerate(token_lists) if set(toks) & set(query)]
        assert sparse.scores.dtype == np.float32 and np.all(sparse.scores > 0)
        allowed = np.arange(index.n_docs) % 3 == 0
        kept = sparse.restrict(allowed)
        assert np.all(kept.rows % 3 == 0) and len(kept) == int((full[allowed] > 0).sum())
        for k in (1, 10, 1000):
            expected = Ranked.top_of(nonzero, full[nonzero], k)
            np.testing.assert_array_equal(sparse.top(k).rows, expected.rows)


@pytest.mark.parametrize("n", [5, 300, 1024, 1025, 5000])
def test_ranked_top_of_orders_by_score_then_row_on_both_sides_of_the_sort_all_cut(n: int) -> None:
    rng = np.random.default_rng(n)
    scores = np.zeros(6000, dtype=np.float32)
    scores[rng.choice(6000, size=n, replace=False)] = rng.integers(1, 5, size=n)  # ties at every cut-off
    rows = np.flatnonzero(scores)
    for k in (1, 10, 100, n - 1, n, n + 3):
        order = np.lexsort((rows, -scores[rows]))[: max(k, 0)]
        got = Ranked.top_of(rows, scores[rows], k)
        got_rows, got_scores = got.rows, got.scores
        assert got_rows.tolist() == rows[order].tolist()
        assert got_scores.dtype == np.float32 and got_scores.tolist() == scores[rows[order]].tolist()


def test_corpus_of_empty_documents(tmp_path: Path) -> None:
    index = build(tmp_path, [[], [], []])
    assert index.n_docs == 3
    assert search(index, ["a"], 3)[0].size == 0
    assert full_scores(index, ["a"]).tolist() == [0, 0, 0]


def test_search_semantics(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    token_lists = [[f"t{x}" for x in rng.zipf(1.5, size=rng.integers(1, 30)) if x < 60] for _ in range(300)]
    index = build(tmp_path, token_lists, batch=64)
    query = ["t1", "t5", "t9", "t9", "t30"]
    scores = full_scores(index, query)
    for k in (1, 5, 50, 10_000):
        rows, top = search(index, query, k)
        assert rows.dtype == np.int64 and top.dtype == np.float32
        assert len(rows) == min(k, int((scores > 0).sum()))
        assert np.all(top > 0) and np.all(np.diff(top) <= 0)
        np.testing.assert_array_equal(top, scores[rows])
        # nothing left out scores higher than the last hit
        assert np.sort(scores)[::-1][len(rows) - 1] == top[-1]
    assert search(index, query, 0)[0].size == 0
    assert search(index, ["never-seen"], 10)[0].size == 0
    assert search(index, [], 10)[0].size == 0
    assert not full_scores(index, []).any()


def test_ties_are_broken_by_row(tmp_path: Path) -> None:
    index = build(tmp_path, [["x", "y"], ["z"], ["x", "y"], ["x", "y"], ["x", "y"]])
    rows, top = search(index, ["x"], 2)
    assert rows.tolist() == [0, 2]
    assert top[0] == top[1]


def test_chinese_query_finds_chinese_document(tmp_path: Path) -> None:
    docs = [
        ("北京是中华人民共和国的首都，也是全国的政治中心。", "zh"),
        ("上海是中国最大的经济城市，位于长江入海口。", "zh"),
        ("東京は日本の首都で、人口が最も多い都市です。", "ja"),
        ("京都には多くの古い寺院があります。", "ja"),
        ("Beijing hosted the Olympic Games in 2008.", "en"),
        ("The capital of France is Paris.", "en"),
    ]
    index = build(tmp_path, analyze_batch([d for d, _ in docs], [lang for _, lang in docs]))
    rows, _ = search(index, analyzer_for("zh").tokens("北京"), 3)
    assert rows[0] == 0
    rows, _ = search(index, analyzer_for("ja").tokens("東京の首都"), 3)
    assert rows[0] == 2


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError):
        SparseIndex.load(tmp_path / "nowhere")
    with pytest.raises(CorpusError):
        SparseIndexBuilder().build(tmp_path / "empty", show_progress=False)
    with pytest.raises(ConfigError):
        BM25Params(method="bm25+")
    with pytest.raises(ConfigError):
        BM25Params(b=1.5)
    build(tmp_path, [["a"], ["b"]])
    (tmp_path / "bm25" / "vocab.index.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexFormatError):
        SparseIndex.load(tmp_path / "bm25")


def test_raw_postings_reproduce_the_stored_scores_for_every_method(tmp_path: Path) -> None:
    from clir.index.embedded.postings import bm25_weights

    rng = np.random.default_rng(11)
    token_lists = [[f"t{x}" for x in rng.zipf(1.4, size=rng.integers(0, 50)) if x < 120] for _ in range(300)]
    for method, idf_method in (("lucene", None), ("robertson", None), ("atire", "robertson"), ("atire", None)):
        params = BM25Params(k1=1.3, b=0.7, method=method, idf_method=idf_method)
        index = build(tmp_path / method / str(idf_method), token_lists, params, batch=64)
        postings = index.postings
        assert postings is not None and postings.doc_len.tolist() == [len(t) for t in token_lists]
        avg = float(np.mean([len(t) for t in token_lists]))
        for term, term_id in index.vocab.items():
            rows, tf = postings.of(term_id)
            assert tf.tolist() == [token_lists[r].count(term) for r in rows.tolist()]
            weights = bm25_weights(params, tf, postings.doc_len[rows], avg, len(rows), index.n_docs)
            np.testing.assert_allclose(weights, index.query([term]).of(rows.astype(np.int64)), rtol=1e-6)
