"""IR measures (via ir-measures) per query, their means, and a paired significance test."""

from __future__ import annotations

from collections.abc import Sequence

import ir_measures
import numpy as np
from ir_measures import AP, RR, P, R, nDCG

from clir.records import Qrels

MEASURES = [nDCG @ 10, R @ 100, RR @ 10, AP @ 100, P @ 1, R @ 1]
MEASURE_NAMES = [str(m) for m in MEASURES]
MAIN_MEASURES = ["nDCG@10", "RR@10", "R@100"]

# A run: query id -> [(doc id, score), ...] in rank order.
Run = dict[str, list[tuple[str, float]]]


def per_query(qrels: Qrels, run: Run, qids: Sequence[str]) -> np.ndarray:
    """Measure values, shape (len(qids), len(MEASURES)).

    A query with no retrieved document scores 0 on every measure (trec_eval -c): dropping it, as a
    plain mean over the run's queries would, flatters a system that returns nothing.
    """
    values = np.zeros((len(qids), len(MEASURES)), dtype=np.float64)
    if not qids:
        return values
    position = {qid: i for i, qid in enumerate(qids)}
    column = {name: j for j, name in enumerate(MEASURE_NAMES)}
    qrels_in = [ir_measures.Qrel(qid, doc, rel) for qid in qids for doc, rel in qrels[qid].items()]
    run_in = [ir_measures.ScoredDoc(qid, doc, score) for qid in qids for doc, score in run.get(qid, [])]
    if run_in:
        for metric in ir_measures.iter_calc(MEASURES, qrels_in, run_in):
            values[position[metric.query_id], column[str(metric.measure)]] = metric.value
    return values


def means(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return dict.fromkeys(MEASURE_NAMES, 0.0)
    return {name: float(v) for name, v in zip(MEASURE_NAMES, values.mean(axis=0), strict=True)}


def randomization_test(a: np.ndarray, b: np.ndarray, n_permutations: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomization test (Smucker et al., CIKM 2007) on the mean difference.

    Under the null hypothesis the two systems' labels are exchangeable per query, so each per-query
    difference keeps or flips its sign at random. Permutations are drawn in chunks to bound memory on
    CLIRudit-sized query sets.
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(diff)
    if n == 0 or not np.any(diff):
        return 1.0
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_permutations, 20_000_000 // n))
    extreme, done = 0, 0
    while done < n_permutations:
        m = min(chunk, n_permutations - done)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
        extreme += int(np.count_nonzero(np.abs(signs @ diff) / n >= observed - 1e-12))
        done += m
    # The observed assignment is one of the permutations: (extreme + 1) / (N + 1) is never 0.
    return (extreme + 1) / (n_permutations + 1)


def rr10(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Mean RR@10 of score matrices (a row per query, a column per candidate; `relevant` a boolean matrix of
    the same shape), as the tuning scripts re-rank candidates; ties go to the earlier candidate, as in the
    retrieval core's stable sort. (Runs of hits are measured by `per_query`, with ir-measures.)"""
    best_rel = np.where(relevant, scores, -np.inf)
    first = best_rel.argmax(axis=1)
    best = best_rel[np.arange(len(scores)), first]
    cols = np.arange(scores.shape[1])
    above = (scores > best[:, None]) | ((scores == best[:, None]) & (cols[None, :] < first[:, None]))
    rank = 1 + above.sum(axis=1)
    found = np.isfinite(best) & relevant.any(axis=1)
    return float(np.where(found & (rank <= 10), 1.0 / rank, 0.0).mean())


def ndcg10(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Mean nDCG@10 with binary relevance (ties in candidate order)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    gains = np.take_along_axis(relevant, order, axis=1) / np.log2(np.arange(2, 12))
    ideal = np.array([np.sum(1 / np.log2(np.arange(2, 2 + min(10, n)))) for n in relevant.sum(axis=1)])
    return float(np.mean(np.where(ideal > 0, gains.sum(axis=1) / np.maximum(ideal, 1e-9), 0.0)))
