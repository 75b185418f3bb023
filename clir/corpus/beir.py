"""BEIR folder layout: where its files live, and writing one.

A BEIR folder holds `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`. Reading goes through the
generic JSONL/TSV readers in `clir.corpus.readers`; this module only resolves paths and writes folders.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from clir.errors import CorpusError
from clir.records import Document, Qrels, Query

QRELS_HEADER = ("query-id", "corpus-id", "score")


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def is_beir_dir(folder: Path) -> bool:
    return folder.is_dir() and _first_existing(folder, ("corpus.jsonl", "corpus.jsonl.gz")) is not None


def corpus_file(folder: Path) -> Path:
    found = _first_existing(folder, ("corpus.jsonl", "corpus.jsonl.gz"))
    if found is None:
        raise CorpusError(f"{folder}: not a BEIR folder (no corpus.jsonl)")
    return found


def queries_file(folder: Path) -> Path:
    found = _first_existing(folder, ("queries.jsonl", "queries.jsonl.gz"))
    if found is None:
        raise CorpusError(f"{folder}: BEIR folder has no queries.jsonl")
    return found


def qrels_file(folder: Path, split: str) -> Path:
    qrels_dir = folder / "qrels"
    found = _first_existing(qrels_dir, (f"{split}.tsv", f"{split}.tsv.gz"))
    if found is None:
        available = (
            sorted(p.name.split(".")[0] for p in qrels_dir.glob("*.tsv*")) if qrels_dir.is_dir() else []
        )
        hint = f"available splits: {', '.join(available)}" if available else "no qrels/*.tsv files"
        raise CorpusError(f"{folder}: BEIR folder has no qrels/{split}.tsv ({hint})")
    return found


def _check_tsv_id(value: str, what: str, path: Path) -> None:
    # An id holding a tab or newline would silently shift columns in the qrels TSV.
    if any(ch in value for ch in "\t\r\n"):
        raise CorpusError(f"{path}: {what} id {value!r} contains a tab or newline, which TSV cannot hold")


def _doc_record(doc: Document) -> dict[str, Any]:
    record: dict[str, Any] = {"_id": doc.id, "title": doc.title, "text": doc.text}
    if doc.lang is not None:
        record["lang"] = doc.lang
    if doc.metadata:
        record["metadata"] = doc.metadata
    return record


def _query_record(query: Query) -> dict[str, Any]:
    record: dict[str, Any] = {"_id": query.id, "text": query.text}
    if query.lang is not None:
        record["lang"] = query.lang
    return record


def _write_records(path: Path, what: str, records: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """One JSON object per line, streamed; ids must be unique and TSV-safe. Returns the count."""
    seen: set[str] = set()
    with path.open("w", encoding="utf-8") as f:
        for record_id, record in records:
            if record_id in seen:
                raise CorpusError(f"{path}: duplicate {what} id {record_id!r} while writing")
            _check_tsv_id(record_id, what, path)
            seen.add(record_id)
            # default=str keeps exotic Parquet values (dates, decimals) writable instead of failing.
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return len(seen)


def write_beir(
    out_dir: str | Path,
    docs: Iterable[Document],
    queries: Iterable[Query],
    qrels: Qrels,
    split: str = "test",
) -> dict[str, int]:
    """Write a BEIR folder into `out_dir` (created if needed) and return record counts.

    Documents and queries are streamed to disk; only their ids are kept, to catch duplicates.
    """
    out = Path(out_dir)
    (out / "qrels").mkdir(parents=True, exist_ok=True)

    n_docs = _write_records(out / "corpus.jsonl", "document", ((d.id, _doc_record(d)) for d in docs))
    n_queries = _write_records(out / "queries.jsonl", "query", ((q.id, _query_record(q)) for q in queries))

    qrels_path = out / "qrels" / f"{split}.tsv"
    n_qrels = 0
    with qrels_path.open("w", encoding="utf-8") as f:
        f.write("\t".join(QRELS_HEADER) + "\n")
        for qid, judged in qrels.items():
            _check_tsv_id(qid, "query", qrels_path)
            for docid, score in judged.items():
                _check_tsv_id(docid, "document", qrels_path)
                f.write(f"{qid}\t{docid}\t{int(score)}\n")
                n_qrels += 1

    return {"documents": n_docs, "queries": n_queries, "qrels": n_qrels}
