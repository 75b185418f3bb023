"""Query, qrels and record-count readers (the corpus readers are in test_readers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clir.corpus.readers import (
    count_records,
    read_qrels,
    read_queries,
)
from clir.errors import CorpusError
from clir.records import Query
from tests.core.test_readers import assert_one_line_error, write_jsonl

RECORDS = [
    {"_id": "d1", "title": "Chat", "text": "Le chat dort.", "lang": "fr", "metadata": {"src": "a"}},
    {"_id": "d2", "text": "The dog runs.", "lang": "EN", "url": "http://x"},
    {"_id": "d3", "title": "Nur ein Titel", "text": ""},
]

# --------------------------------------------------------------------------- queries and qrels


def test_queries_aliases_and_errors(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "q.jsonl", [{"qid": "q1", "query": "hello", "lang": "en"}, {"_id": 2, "text": "x"}]
    )
    assert list(read_queries(path)) == [Query(id="q1", text="hello", lang="en"), Query(id="2", text="x")]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"_id": "q", "text": "a"}, {"_id": "q", "text": "b"}])
    with pytest.raises(CorpusError) as exc:
        list(read_queries(bad))
    assert_one_line_error(exc, "bad.jsonl:2: duplicate query id 'q'")
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"_id": "q", "text": " "}])
    with pytest.raises(CorpusError, match=r"empty\.jsonl:1: query 'q' has no text"):
        list(read_queries(empty))


def test_qrels_tsv_variants(tmp_path: Path) -> None:
    header = tmp_path / "h.tsv"
    header.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td1\t0\n")
    assert read_qrels(header) == {"q1": {"d1": 1, "d2": 2}, "q2": {"d1": 0}}
    headerless = tmp_path / "n.tsv"
    headerless.write_text("q1\td1\t1\nq1\t0\td2\t1\n")  # plain and TREC-style rows
    assert read_qrels(headerless) == {"q1": {"d1": 1, "d2": 1}}
    jsonl = write_jsonl(tmp_path / "q.jsonl", [{"qid": "q1", "docid": "d1", "rel": 1}])
    assert read_qrels(jsonl) == {"q1": {"d1": 1}}


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("q1\td1\t1\nq1\td2\thigh\n", 3, "relevance score must be an integer, got 'high'"),
        ("q1\td1\t1\nq1\td2\n", 3, "expected 3 fields, got 2"),
        ("q1\td1\t1\n\td2\t1\n", 3, "needs a query id and a document id"),
        ("q1\td1\t1\nq1\td1\t2\n", 3, "conflicting scores"),
    ],
)
def test_qrels_malformed_rows(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    path = tmp_path / "qrels.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n" + body)
    with pytest.raises(CorpusError) as exc:
        read_qrels(path)
    assert_one_line_error(exc, f"qrels.tsv:{line}: ", fragment)


def test_count_records(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", RECORDS)
    assert count_records(path) == 3
    no_newline = tmp_path / "n.jsonl"
    no_newline.write_text('{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"}')
    assert count_records(no_newline) == 2
