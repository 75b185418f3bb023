"""Run retrieval configurations over a test collection: TREC run files and per-query measures.

The searcher is the shared retrieval core (in-process `clir.search.retriever.Retriever`) or anything with the
same `search_batch` signature (the HTTP client): evaluation never re-implements search.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from clir.errors import ClirError
from clir.search.options import DEFAULT_DEPTH
from eval.configs import EVAL_BATCH
from eval.dataset import EvalDataset
from eval.measures import Run, per_query


class Searcher(Protocol):
    def search_batch(self, queries: Sequence[str], *, k: int, depth: int | None,
                     query_langs: Sequence[str | None] | None, **options: Any) -> list: ...

    def missing_documents(self, doc_ids: Sequence[str]) -> list[str]: ...


def trec_line(qid: str, doc_id: str, rank: int, score: float, tag: str) -> str:
    # repr keeps every digit of the float: run files from two paths compare equal byte for byte.
    return f"{qid} Q0 {doc_id} {rank} {score!r} {tag}\n"


@dataclass
class EvalRun:
    """What an evaluation produced, aligned by query position."""

    qids: list[str] = field(default_factory=list)
    query_langs: list[str] = field(default_factory=list)
    doc_langs: list[str] = field(default_factory=list)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)
    # config -> relevant-document language -> measures of the queries whose relevant documents span
    # languages, judged on that language's relevant documents alone (EvalDataset.qrels_by_doc_lang)
    by_doc_lang: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    seconds: float = 0.0

    def matrix(self, config: str) -> np.ndarray:
        parts = self.values.get(config, [])
        return np.vstack(parts) if parts else np.zeros((0, 0))

    def doc_lang_matrices(self, config: str) -> dict[str, np.ndarray]:
        return {lang: np.vstack(parts) for lang, parts in sorted(self.by_doc_lang.get(config, {}).items())}


def check_index(searcher: Searcher, dataset: EvalDataset) -> None:
    """Judged documents the index lacks make measures meaningless: count them, refuse if all are absent."""
    judged = sorted({doc for docs in dataset.qrels.values() for doc in docs})
    missing = searcher.missing_documents(judged)
    if missing and len(missing) == len(judged):
        raise ClirError(f"dataset/index mismatch: none of the {len(judged)} judged documents is in the index "
                        f"(e.g. {missing[0]!r}); was the index built from this dataset's corpus?")
    dataset.warnings.add("judged document not in index", ", ".join(missing[:5]), len(missing))


def run_evaluation(searcher: Searcher, dataset: EvalDataset, configs: dict[str, dict[str, Any]], out: Path, *,
                   depth: int = DEFAULT_DEPTH, batch_size: int = EVAL_BATCH, show_progress: bool = True) -> EvalRun:
    check_index(searcher, dataset)
    out.mkdir(parents=True, exist_ok=True)
    result = EvalRun(values={name: [] for name in configs}, by_doc_lang={name: {} for name in configs})
    started = time.perf_counter()
    bar = tqdm(total=dataset.n_queries, desc="eval", unit="q", disable=not show_progress)
    with ExitStack() as stack:
        files = {name: stack.enter_context(open(out / f"{name}.run", "w", encoding="utf-8")) for name in configs}
        for batch in dataset.query_batches(batch_size):
            texts = [q.text for q in batch]
            ids = [q.id for q in batch]
            resolved: list[str | None] = [q.lang for q in batch]
            split = dataset.qrels_by_doc_lang(ids)
            for name, options in configs.items():
                hits = searcher.search_batch(texts, k=depth, depth=depth, query_langs=[q.lang for q in batch],
                                             **options)
                run: Run = {qid: [(h.id, h.score) for h in r.hits] for qid, r in zip(ids, hits, strict=True)}
                files[name].writelines(trec_line(qid, doc, rank, score, name)
                                       for qid in ids for rank, (doc, score) in enumerate(run[qid], 1))
                result.values[name].append(per_query(dataset.qrels, run, ids))
                for lang, qrels in split.items():
                    result.by_doc_lang[name].setdefault(lang, []).append(per_query(qrels, run, list(qrels)))
                resolved = [lang or r.query_lang for lang, r in zip(resolved, hits, strict=True)]
            result.qids.extend(ids)
            result.query_langs.extend(lang or "und" for lang in resolved)
            result.doc_langs.extend(dataset.relevant_langs(qid) for qid in ids)
            bar.update(len(batch))
    bar.close()
    result.seconds = time.perf_counter() - started
    return result
