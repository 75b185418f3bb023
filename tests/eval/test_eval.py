"""`clir eval` end to end on real indexes, and its measures checked against hand computation."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import ir_measures
import numpy as np
import pytest

from clir.corpus.readers import read_corpus, write_beir
from clir.records import Document, Query
from eval.measures import MEASURE_NAMES, per_query, randomization_test
from tests.helpers import FIXTURES, assert_one_line_error

CLI = [sys.executable, "-m", "cli.main"]
QUERIES = [
    Query("q-cat", "The cat sleeps on the living room sofa all day.", "en"),
    Query("q-bike", "My bicycle was stolen in front of the station yesterday.", "en"),
    Query("q-beijing", "Beijing is the capital of China and has many historic sites.", "en"),
    Query("q-snow", "It snows a lot in Moscow in winter.", "en"),
    Query("q-water", "rivers and the sea", "en"),
    Query("q-none", "a query whose only judged document is not in the corpus", "en"),
]
QRELS = {
    "q-cat": {"fr-cat": 1},
    "q-bike": {"de-bike": 2, "fr-train": 1},
    "q-beijing": {"zh-beijing": 1},
    "q-snow": {"ru-snow": 1},
    "q-water": {"fr-rain": 2, "ar-sea": 1, "nl-canal": 1},
    "q-none": {"ghost-doc": 1},
}


@pytest.fixture(scope="module")
def mini_dataset(mini_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "mini-beir"
    write_beir(out, read_corpus(mini_corpus), QUERIES, QRELS)
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600)


def _read_run(path: Path) -> dict[str, list[tuple[str, float]]]:
    run: dict[str, list[tuple[str, float]]] = {}
    for line in path.read_text().splitlines():
        qid, q0, doc, rank, score, tag = line.split()
        assert q0 == "Q0" and tag == path.stem
        run.setdefault(qid, []).append((doc, float(score)))
        assert int(rank) == len(run[qid])
    return run


def _ndcg10_by_hand(ranked: list[str], judged: dict[str, int]) -> float:
    dcg = sum(judged.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:10]))
    ideal = sorted(judged.values(), reverse=True)[:10]
    return dcg / sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))


def _rr10_by_hand(ranked: list[str], judged: dict[str, int]) -> float:
    return next((1 / (i + 1) for i, doc in enumerate(ranked[:10]) if judged.get(doc, 0) > 0), 0.0)


def test_measures_by_hand_on_a_fixed_run():
    qrels = {"a": {"d1": 2, "d4": 1}, "b": {"d9": 1}, "c": {"d2": 1}}
    run = {"a": [("d3", 3.0), ("d1", 2.5), ("d7", 2.0), ("d4", 1.0)], "b": [("d5", 1.0), ("d6", 0.9)]}
    values = per_query(qrels, run, ["a", "b", "c"])
    ndcg, rr = MEASURE_NAMES.index("nDCG@10"), MEASURE_NAMES.index("RR@10")
    expected_a = (2 / math.log2(3) + 1 / math.log2(5)) / (2 + 1 / math.log2(3))
    assert values[0, ndcg] == pytest.approx(expected_a, abs=1e-9)
    assert values[0, rr] == pytest.approx(0.5, abs=1e-9)
    assert values[1].tolist() == [0.0] * len(MEASURE_NAMES)
    assert values[2].tolist() == [0.0] * len(MEASURE_NAMES)  # no results: zero, not dropped


@pytest.mark.multiprocess
def test_clir_eval_matches_hand_computation_and_ir_measures(mini_index: Path, mini_dataset: Path, tmp_path: Path):
    out = tmp_path / "ev"
    done = run_cli("eval", "--index", str(mini_index), "--dataset", str(mini_dataset), "--configs",
                   "dense,sparse,hybrid", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["queries"] == 6 and set(metrics["configs"]) == {"dense", "sparse", "hybrid"}
    assert metrics["warnings"]["qrels document id not in corpus"]["count"] == 1
    assert metrics["warnings"]["judged document not in index"]["count"] == 1
    for config in ("dense", "hybrid"):
        run = _read_run(out / f"{config}.run")
        ranked = {qid: [doc for doc, _ in docs] for qid, docs in run.items()}
        by_hand_ndcg = np.mean([_ndcg10_by_hand(ranked.get(q, []), QRELS[q]) for q in QRELS])
        by_hand_rr = np.mean([_rr10_by_hand(ranked.get(q, []), QRELS[q]) for q in QRELS])
        tool = ir_measures.calc_aggregate(
            [ir_measures.nDCG @ 10, ir_measures.RR @ 10],
            [ir_measures.Qrel(q, d, r) for q, docs in QRELS.items() for d, r in docs.items()],
            [ir_measures.ScoredDoc(q, d, s) for q, docs in run.items() for d, s in docs])
        assert tool[ir_measures.nDCG @ 10] == pytest.approx(by_hand_ndcg, abs=1e-9)
        assert metrics["configs"][config]["nDCG@10"] == pytest.approx(by_hand_ndcg, abs=1e-9)
        assert tool[ir_measures.RR @ 10] == pytest.approx(by_hand_rr, abs=1e-9)
        assert metrics["configs"][config]["RR@10"] == pytest.approx(by_hand_rr, abs=1e-9)
        assert len(run) == len(QRELS)  # every query retrieved something, so means agree with trec_eval
    assert metrics["configs"]["dense"]["RR@10"] > 0.75  # cross-lingual retrieval works
    rows = list(csv.DictReader((out / "per_query.tsv").open(), delimiter="\t"))
    assert len(rows) == 18 and {r["query_lang"] for r in rows} == {"en"}
    assert {r["doc_lang"] for r in rows if r["qid"] == "q-water"} == {"mixed"}
    per_lang = metrics["per_language"]["dense"]
    assert per_lang["en->fr"]["queries"] == 1 and per_lang["en->mixed"]["queries"] == 2
    # Queries whose relevant documents span languages, judged on one language's documents at a time.
    langs = {"de-bike": "de", "fr-train": "fr", "fr-rain": "fr", "ar-sea": "ar", "nl-canal": "nl"}
    ranked = {qid: [doc for doc, _ in docs] for qid, docs in _read_run(out / "dense.run").items()}
    by_doc = metrics["per_document_language"]["dense"]
    assert set(by_doc) == {"ar", "de", "fr", "nl"} and by_doc["fr"]["queries"] == 2
    for lang, values in by_doc.items():
        judged = {q: {d: r for d, r in QRELS[q].items() if langs[d] == lang} for q in ("q-bike", "q-water")}
        by_hand = [_rr10_by_hand(ranked[q], docs) for q, docs in judged.items() if docs]
        assert values["RR@10"] == pytest.approx(np.mean(by_hand), abs=1e-9)
    assert "## Per relevant-document language" in (out / "report.md").read_text()
    assert set(metrics["significance"]["p_values"]) == {"sparse", "hybrid"}
    chart = ET.parse(out / "report.svg").getroot()  # well-formed SVG: bars for 3 configs x 3 measures + pairs
    svg = "{http://www.w3.org/2000/svg}"
    bars = [r for r in chart.iter(f"{svg}rect") if r.find(f"{svg}title") is not None]
    assert len(bars) >= 9 and any("hybrid nDCG@10" in b[0].text for b in bars)
    assert "| dense |" in (out / "report.md").read_text()


@pytest.mark.multiprocess
def test_compare_merges_runs(mini_index: Path, mini_dataset: Path, tmp_path: Path):
    for name, configs in (("one", "dense"), ("two", "sparse,hybrid")):
        assert run_cli("eval", "--index", str(mini_index), "--dataset", str(mini_dataset), "--configs", configs,
                       "--out", str(tmp_path / name), "--quiet").returncode == 0
    done = run_cli("eval", "--compare", str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "cmp"))
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    assert list(merged["configs"]) == ["one/dense", "two/sparse", "two/hybrid"]
    assert "two/hybrid" in (tmp_path / "cmp" / "report.svg").read_text()


@pytest.mark.multiprocess
def test_clirudit_fixture_end_to_end(tmp_path: Path):
    fixture = FIXTURES / "clirudit"
    index = tmp_path / "idx"
    assert run_cli("index", "--corpus", str(fixture), "--out", str(index), "--quiet").returncode == 0
    done = run_cli("eval", "--index", str(index), "--dataset", str(fixture), "--out", str(tmp_path / "ev"),
                   "--quiet")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["dataset"]["format"] == "clirudit" and metrics["dataset"]["split"] == "en_fr.test"
    assert metrics["queries"] == 2
    assert metrics["configs"]["dense"]["P@1"] == 1.0
    assert set(metrics["per_language"]["dense"]) == {"en->fr"}


@pytest.mark.multiprocess
def test_max_queries_samples_reproducibly(mini_index: Path, mini_dataset: Path, tmp_path: Path):
    picked = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        out = tmp_path / name
        assert run_cli("eval", "--index", str(mini_index), "--dataset", str(mini_dataset), "--configs", "sparse",
                       "--max-queries", "3", "--sample-seed", seed, "--out", str(out), "--quiet").returncode == 0
        picked.append(sorted({line.split()[0] for line in (out / "sparse.run").read_text().splitlines()} |
                             {r.split("\t")[1] for r in (out / "per_query.tsv").read_text().splitlines()[1:]}))
    assert len(picked[0]) == 3 and picked[0] == picked[1] and picked[0] != picked[2]



@pytest.mark.multiprocess
def test_bad_datasets_are_refused_clearly(mini_index: Path, mini_dataset: Path, tmp_path: Path):
    args = ["eval", "--index", str(mini_index), "--out", str(tmp_path / "ev"), "--quiet", "--dataset"]
    assert_one_line_error(run_cli(*args, str(tmp_path / "missing")), "no such file or directory")
    assert_one_line_error(run_cli(*args, str(mini_dataset), "--split", "dev"), "dev")
    empty = tmp_path / "empty"
    write_beir(empty, read_corpus(mini_dataset), QUERIES, {})
    assert_one_line_error(run_cli(*args, str(empty)), "no relevance judgements")
    other = tmp_path / "other"
    write_beir(other, [Document("x", "un autre document", lang="fr")], QUERIES[:1], {"q-cat": {"x": 1}})
    assert_one_line_error(run_cli(*args, str(other)), "dataset/index mismatch")
    assert_one_line_error(run_cli("eval", "--index", str(mini_index), "--dataset", str(mini_dataset), "--configs",
                            "dense,fancy", "--out", str(tmp_path / "ev")), "unknown configuration fancy")


def test_randomization_test():
    rng = np.random.default_rng(1)
    a = rng.random(200)
    assert randomization_test(a, a) == 1.0
    assert randomization_test(a + 0.2, a) < 0.001
    noise = rng.normal(0, 0.1, 200)
    assert randomization_test(a + noise, a + noise[::-1]) > 0.05


def test_score_matrix_measures_agree_with_ir_measures():
    """rr10 / ndcg10 (the tuning scripts' re-ranked candidates) against the evaluator's own per_query."""
    import numpy as np

    from eval.measures import MEASURE_NAMES, ndcg10, per_query, rr10

    rng = np.random.default_rng(3)
    scores = rng.random((40, 30))
    relevant = rng.random((40, 30)) < 0.08
    relevant[0] = False  # a query whose relevant documents were not among the candidates
    qids = [f"q{i}" for i in range(len(scores))]
    qrels = {q: {f"d{j}": 1 for j in np.flatnonzero(relevant[i])} or {"elsewhere": 1} for i, q in enumerate(qids)}
    run = {q: [(f"d{j}", float(scores[i, j])) for j in range(scores.shape[1])] for i, q in enumerate(qids)}
    values = per_query(qrels, run, qids).mean(axis=0)
    got = dict(zip(MEASURE_NAMES, values, strict=True))
    assert abs(rr10(scores, relevant) - got["RR@10"]) < 1e-9
    # nDCG@10 with every relevant document among the candidates (ir-measures' ideal counts all of them)
    judged = relevant.any(axis=1)
    sub = per_query(qrels, run, [q for q, j in zip(qids, judged, strict=True) if j]).mean(axis=0)
    assert abs(ndcg10(scores[judged], relevant[judged]) - dict(zip(MEASURE_NAMES, sub, strict=True))["nDCG@10"]) \
        < 1e-9
