"""A test collection for evaluation: qrels held in memory, queries streamed in batches.

Sized for CLIRudit (357k queries, 16k documents): only qrels, the ids of judged documents and their
languages are held; query texts stream from disk batch by batch.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clir.corpus.formats import DATASET_FORMATS
from clir.corpus.readers import detect_format, read_corpus, read_qrels, read_queries
from clir.errors import CorpusError
from clir.records import Qrels, Query

log = logging.getLogger("clir.eval")


@dataclass
class Warnings:
    """Problems that do not stop an evaluation but must not be hidden: counted into metrics.json."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, example: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.counts[kind] += n
        shown = self.examples.setdefault(kind, [])
        if len(shown) < 5:
            shown.append(example)

    def to_dict(self) -> dict:
        return {kind: {"count": n, "examples": self.examples.get(kind, [])} for kind, n in sorted(self.counts.items())}


@dataclass
class EvalDataset:
    path: Path
    format: str
    split: str
    qrels: Qrels
    doc_langs: dict[str, str | None]
    warnings: Warnings
    clirudit_docs: str | None = None

    @property
    def n_queries(self) -> int:
        return len(self.qrels)

    def query_batches(self, size: int) -> Iterator[list[Query]]:
        """Queries that have judgements (and survived sampling), in file order, `size` at a time."""
        seen: set[str] = set()
        queries = (q for q in read_queries(self.path, self.format, split=self._query_split()) if q.id in self.qrels)
        it = iter(queries)
        while batch := list(itertools.islice(it, size)):
            seen.update(q.id for q in batch)
            yield batch
        missing = [qid for qid in self.qrels if qid not in seen]
        self.warnings.add("qrels query id not in queries file", ", ".join(missing[:5]), len(missing))

    def _query_split(self) -> str | None:
        return self.split if self.format == "clirudit" else None

    def relevant_langs(self, qid: str) -> str:
        """The language of a query's relevant documents, or 'mixed' when they span several."""
        langs = {self.doc_langs.get(doc) or "und" for doc, rel in self.qrels[qid].items() if rel > 0}
        return langs.pop() if len(langs) == 1 else ("mixed" if langs else "none")

    def qrels_by_doc_lang(self, qids: Sequence[str]) -> dict[str, Qrels]:
        """For the queries whose relevant documents span languages, each language's judgements alone
        (language -> qrels of the queries with a relevant document in it): where does the query's
        relevant document in that language rank among everything else."""
        out: dict[str, Qrels] = {}
        for qid in qids:
            if self.relevant_langs(qid) != "mixed":
                continue
            for doc, rel in self.qrels[qid].items():
                if rel > 0:
                    out.setdefault(self.doc_langs.get(doc) or "und", {}).setdefault(qid, {})[doc] = rel
        return out


def _sample(qrels: Qrels, max_queries: int | None, seed: int) -> Qrels:
    if not max_queries or max_queries >= len(qrels):
        return qrels
    ids = sorted(qrels)  # sorted first: the sample depends on the seed, not on file order
    chosen = np.random.default_rng(seed).choice(len(ids), size=max_queries, replace=False)
    return {ids[i]: qrels[ids[i]] for i in sorted(chosen)}


def load_dataset(path: str | Path, *, fmt: str = "auto", split: str = "test", max_queries: int | None = None,
                 sample_seed: int = 0, clirudit_docs: str | None = None) -> EvalDataset:
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in DATASET_FORMATS:
        raise CorpusError(f"{path}: an evaluation dataset is a BEIR folder or CLIRudit parquet files, not {fmt!r}")
    if fmt == "clirudit" and split == "test":
        split = "en_fr.test"  # CLIRudit names its splits by language pair
    qrels = read_qrels(path, fmt, split=split)
    qrels = {qid: docs for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values())}
    if not qrels:
        raise CorpusError(f"{path}: split {split!r} has no relevance judgements")
    warnings = Warnings()
    qrels = _sample(qrels, max_queries, sample_seed)
    judged = {doc for docs in qrels.values() for doc in docs}
    doc_langs: dict[str, str | None] = {}
    for doc in read_corpus(path, fmt, clirudit_split=clirudit_docs):
        if doc.id in judged:
            doc_langs[doc.id] = doc.lang
    unknown = sorted(judged - doc_langs.keys())
    if len(unknown) == len(judged):
        raise CorpusError(f"{path}: none of the judged documents is in the dataset's corpus (e.g. {unknown[0]!r})")
    warnings.add("qrels document id not in corpus", ", ".join(unknown[:5]), len(unknown))
    return EvalDataset(path, fmt, split, qrels, doc_langs, warnings, clirudit_docs)
