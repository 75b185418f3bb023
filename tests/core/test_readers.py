"""Corpus, query and qrels readers: round trips per format, validation errors, streaming."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clir.corpus.readers import (
    FORMATS,
    count_records,
    detect_format,
    read_corpus,
    read_qrels,
    read_queries,
    write_beir,
)
from clir.errors import ConfigError, CorpusError
from clir.records import Document, Query
from tests.helpers import FIXTURES

CLIRUDIT = FIXTURES / "clirudit"

RECORDS = [
    {"_id": "d1", "title": "Chat", "text": "Le chat dort.", "lang": "fr", "metadata": {"src": "a"}},
    {"_id": "d2", "text": "The dog runs.", "lang": "EN", "url": "http://x"},
    {"_id": "d3", "title": "Nur ein Titel", "text": ""},
]
EXPECTED = [
    Document(id="d1", text="Le chat dort.", title="Chat", lang="fr", metadata={"src": "a"}),
    Document(id="d2", text="The dog runs.", title="", lang="en", metadata={"url": "http://x"}),
    Document(id="d3", text="", title="Nur ein Titel", lang=None, metadata={}),
]


def write_jsonl(path: Path, records: list, opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as f:
        for record in records:
            f.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
    return path


def write_delimited(path: Path, rows: list[list[str]], delimiter: str, opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def delimited_rows(records: list[dict]) -> list[list[str]]:
    rows = [["_id", "title", "text", "lang", "metadata", "url"]]
    for r in records:
        meta = json.dumps(r["metadata"]) if "metadata" in r else ""
        rows.append([r["_id"], r.get("title", ""), r["text"], r.get("lang", ""), meta, r.get("url", "")])
    return rows


def assert_one_line_error(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


# --------------------------------------------------------------------------- round trips


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", RECORDS)
    assert detect_format(path) == "jsonl"
    assert list(read_corpus(path)) == EXPECTED


def test_jsonl_gz_round_trip(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl.gz", RECORDS, opener=gzip.open)
    assert detect_format(path) == "jsonl"
    assert list(read_corpus(path)) == EXPECTED
    assert count_records(path) == len(EXPECTED)  # counted by decompressing: a damaged archive fails early


def test_jsonl_id_and_text_aliases_and_extras(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {"id": 7, "abstract": "An abstract.", "year": 2020},
            {"docid": "x", "contents": "Some contents."},
            {"_id": "y", "id": "other", "text": "T", "metadata": {"k": 1}, "k": 2},
        ],
    )
    docs = list(read_corpus(path))
    assert docs[0] == Document(id="7", text="An abstract.", metadata={"year": 2020})
    assert docs[1] == Document(id="x", text="Some contents.")
    # The unused alias is kept as metadata; explicit metadata wins over a clashing extra key.
    assert docs[2].metadata == {"id": "other", "k": 1}


@pytest.mark.parametrize(("fmt", "delimiter"), [("tsv", "\t"), ("csv", ",")])
def test_delimited_round_trip(tmp_path: Path, fmt: str, delimiter: str) -> None:
    path = write_delimited(tmp_path / f"c.{fmt}", delimited_rows(RECORDS), delimiter)
    assert detect_format(path) == fmt
    docs = list(read_corpus(path))
    # Empty cells are kept as empty-string metadata, except the dedicated columns.
    assert [d.id for d in docs] == ["d1", "d2", "d3"]
    assert docs[0].metadata == {"src": "a", "url": ""}
    assert docs[1] == Document(id="d2", text="The dog runs.", lang="en", metadata={"url": "http://x"})
    assert docs[2].title == "Nur ein Titel"
    assert count_records(path) == 3


def test_tsv_quoted_fields_with_tabs_and_newlines(tmp_path: Path) -> None:
    rows = [["_id", "text"], ["a", 'He said "hi"\tthen\nleft.'], ["b", "plain"]]
    path = write_delimited(tmp_path / "c.tsv.gz", rows, "\t", opener=gzip.open)
    assert detect_format(path) == "tsv"
    docs = list(read_corpus(path))
    assert docs[0].text == 'He said "hi"\tthen\nleft.'
    assert docs[1].id == "b"


def test_csv_with_bom_and_large_field(tmp_path: Path) -> None:
    big = "x" * 300_000  # above csv's default 128 KiB field limit
    path = tmp_path / "c.csv"
    path.write_text(f"\ufeff_id,text\nd1,{big}\n", encoding="utf-8")
    [doc] = read_corpus(path)
    assert doc.id == "d1" and len(doc.text) == 300_000


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    table = pa.table(
        {
            "id": ["d1", "d2"],
            "title": ["T1", None],
            "text": ["one", "two"],
            "lang": ["de", None],
            "metadata": [{"k": 1}, None],
            "year": [2001, 2002],
        }
    )
    pq.write_table(table, path)
    assert detect_format(path) == "parquet"
    assert count_records(path) == 2
    assert list(read_corpus(path)) == [
        Document(id="d1", text="one", title="T1", lang="de", metadata={"year": 2001, "k": 1}),
        Document(id="d2", text="two", metadata={"year": 2002}),
    ]


def test_beir_write_and_read_back(tmp_path: Path) -> None:
    queries = [Query(id="q1", text="chat", lang="fr"), Query(id="q2", text="dog")]
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 2, "d3": 0}}
    counts = write_beir(tmp_path / "b", EXPECTED, queries, qrels, split="dev")
    assert counts == {"documents": 3, "queries": 2, "qrels": 3}
    folder = tmp_path / "b"
    assert detect_format(folder) == "beir"
    assert (folder / "qrels" / "dev.tsv").read_text().splitlines()[0] == "query-id\tcorpus-id\tscore"
    assert list(read_corpus(folder)) == EXPECTED
    assert list(read_queries(folder)) == queries
    assert read_qrels(folder, split="dev") == qrels
    assert count_records(folder) == 3
    with pytest.raises(CorpusError) as exc:
        read_qrels(folder)  # default split "test" does not exist
    assert_one_line_error(exc, "qrels/test.tsv", "dev")


def test_write_beir_rejects_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="duplicate document id 'd1'"):
        write_beir(tmp_path / "b", [EXPECTED[0], EXPECTED[0]], [], {})


# --------------------------------------------------------------------------- CLIRudit


def test_clirudit_fixture_folder() -> None:
    assert detect_format(CLIRUDIT) == "clirudit"
    docs = list(read_corpus(CLIRUDIT))  # defaults to the French docs
    assert [d.id for d in docs] == ["fr-1", "fr-2", "fr-3"]
    assert docs[0] == Document(
        id="fr-1",
        title="La forêt boréale québécoise",
        text="Un siècle d'exploitation\nÉtude de la coupe forestière.",
        lang="fr",
    )
    assert (
        docs[1].text == "Nous analysons la vitalité du français en milieu minoritaire."
    )  # empty subtitle skipped
    assert count_records(CLIRUDIT) == 3
    english = list(read_corpus(CLIRUDIT, clirudit_split="en.test"))
    assert [(d.id, d.lang) for d in english] == [("en-1", "en"), ("en-2", "en")]
    assert count_records(CLIRUDIT, clirudit_split="en") == 2

    assert [(q.id, q.lang) for q in read_queries(CLIRUDIT)] == [("q1", "en"), ("q2", "en")]
    assert read_qrels(CLIRUDIT) == {"q1": {"fr-1": 1}, "q2": {"fr-2": 1}}
    assert read_qrels(CLIRUDIT, split="fr_en.test") == {"q1": {"en-1": 1}, "q2": {"en-2": 1}}
    # A qrels split name also finds the queries of its query language.
    assert {q.lang for q in read_queries(CLIRUDIT, split="fr_en.test")} == {"fr"}


def test_clirudit_single_files() -> None:
    docs_file = CLIRUDIT / "docs" / "en.test-00000-of-00001.parquet"
    assert detect_format(docs_file) == "clirudit"
    assert [d.lang for d in read_corpus(docs_file)] == ["en", "en"]
    qrels_file = CLIRUDIT / "qrels" / "en_fr.test-00000-of-00001.parquet"
    assert read_qrels(qrels_file) == {"q1": {"fr-1": 1}, "q2": {"fr-2": 1}}
    with pytest.raises(CorpusError, match="not a CLIRudit docs file"):
        read_corpus(qrels_file, "clirudit")


def test_clirudit_split_selection_errors(tmp_path: Path) -> None:
    folder = tmp_path / "clirudit"
    shutil.copytree(CLIRUDIT, folder)
    with pytest.raises(CorpusError) as exc:
        read_corpus(folder, clirudit_split="de")
    assert_one_line_error(exc, "no CLIRudit docs split matching 'de'", "en.test", "fr.test")
    (folder / "docs" / "fr.test-00000-of-00001.parquet").rename(
        folder / "docs" / "es.test-00000-of-00001.parquet"
    )
    with pytest.raises(CorpusError) as exc:
        read_corpus(folder)
    assert_one_line_error(exc, "several CLIRudit docs splits", "en.test", "es.test", "clirudit_split")


# --------------------------------------------------------------------------- detection


def test_detect_format_errors(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[]")
    (tmp_path / "x.txt").write_text("")
    (tmp_path / "empty").mkdir()
    for name, fragment in [
        ("x.json", "JSON Lines"),
        ("x.txt", "unknown corpus format"),
        ("empty", "neither BEIR"),
        ("missing.jsonl", "no such file"),
    ]:
        with pytest.raises(CorpusError) as exc:
            detect_format(tmp_path / name)
        assert_one_line_error(exc, name, fragment)
    with pytest.raises(ConfigError):
        read_corpus(tmp_path / "x.json", "xml")
    assert set(FORMATS) == {"jsonl", "tsv", "csv", "parquet", "beir", "clirudit"}


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.json", RECORDS)
    assert list(read_corpus(path, "jsonl")) == EXPECTED


# --------------------------------------------------------------------------- validation errors

GOOD = {"_id": "ok", "text": "fine"}

JSONL_ERRORS = [
    (
        [GOOD, {"_id": "d", "text": "a"}, {"_id": "d", "text": "b"}],
        3,
        "duplicate document id 'd' (first seen on line 2)",
    ),
    ([GOOD, {"_id": "", "text": "a"}], 2, "empty document id"),
    ([GOOD, {"_id": "  ", "text": "a"}], 2, "empty document id"),
    ([GOOD, {"text": "no id"}], 2, "missing document id"),
    ([GOOD, {"_id": "d", "text": "   ", "title": ""}], 2, "has no text"),
    ([GOOD, {"_id": "d"}], 2, "has no text"),
    ([GOOD, '{"_id": "d", "text": '], 2, "bad JSON"),
    ([GOOD, "[1, 2]"], 2, "expected a JSON object"),
    ([GOOD, {"_id": "d", "text": "a", "metadata": [1]}], 2, "metadata must be an object"),
    ([GOOD, {"_id": "d", "text": "a", "metadata": "{}"}], 2, "metadata must be an object"),
    ([GOOD, {"_id": ["d"], "text": "a"}], 2, "id must be a string or integer"),
    ([GOOD, {"_id": "d", "text": 5}], 2, "must be a string"),
]


@pytest.mark.parametrize(("records", "line", "fragment"), JSONL_ERRORS)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, records: list, line: int, fragment: str) -> None:
    path = write_jsonl(tmp_path / "corpus.jsonl", records)
    with pytest.raises(CorpusError) as exc:
        list(read_corpus(path))
    assert_one_line_error(exc, f"corpus.jsonl:{line}: ", fragment)


def test_jsonl_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [GOOD, "", "   ", {"_id": "ok", "text": "again"}])
    with pytest.raises(CorpusError) as exc:
        list(read_corpus(path))
    assert_one_line_error(exc, "c.jsonl:4: duplicate document id 'ok' (first seen on line 1)")


def test_jsonl_invalid_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "\xff"}\n')
    with pytest.raises(CorpusError) as exc:
        list(read_corpus(path))
    assert_one_line_error(exc, "c.jsonl:2: not valid UTF-8")


DELIMITED_ERRORS = [
    ([["_id", "text"], ["a", "x"], ["a", "y"]], 3, "duplicate document id 'a' (first seen on line 2)"),
    ([["_id", "text"], ["", "x"]], 2, "empty document id"),
    ([["text"], ["x"]], 2, "missing document id"),
    ([["_id", "text"], ["a", "x"], ["b", " "]], 3, "has no text"),
    ([["_id", "text"], ["a", "x", "extra"]], 2, "expected 2 fields, got 3"),
    ([["_id", "text", "metadata"], ["a", "x", "[1]"]], 2, "metadata must be an object"),
    ([["_id", "text", "metadata"], ["a", "x", "{bad"]], 2, "metadata is not valid JSON"),
    ([["_id", "_id"], ["a", "x"]], 1, "repeated column name"),
]


@pytest.mark.parametrize(("fmt", "delimiter"), [("tsv", "\t"), ("csv", ",")])
@pytest.mark.parametrize(("rows", "line", "fragment"), DELIMITED_ERRORS)
def test_delimited_errors_name_file_and_line(
    tmp_path: Path, fmt: str, delimiter: str, rows: list, line: int, fragment: str
) -> None:
    path = write_delimited(tmp_path / f"corpus.{fmt}", rows, delimiter)
    with pytest.raises(CorpusError) as exc:
        list(read_corpus(path))
    assert_one_line_error(exc, f"corpus.{fmt}:{line}: ", fragment)


def test_delimited_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    # The first record spans lines 2-3, so the duplicate on the next record sits on line 4.
    path = write_delimited(tmp_path / "c.tsv", [["_id", "text"], ["a", "two\nlines"], ["a", "dup"]], "\t")
    with pytest.raises(CorpusError) as exc:
        list(read_corpus(path))
    assert_one_line_error(exc, "c.tsv:4: duplicate document id 'a' (first seen on line 2)")


PARQUET_ERRORS = [
    ({"_id": ["a", "b", "a"], "text": ["x", "y", "z"]}, 3, "duplicate document id 'a' (first seen on row 1)"),
    ({"_id": ["a", ""], "text": ["x", "y"]}, 2, "empty document id"),
    ({"_id": ["a", None], "text": ["x", "y"]}, 2, "missing document id"),
    ({"_id": ["a", "b"], "text": ["x", None]}, 2, "has no text"),
    ({"_id": ["a", "b"], "text": ["x", "y"], "metadata": ["{}", "[2]"]}, 2, "metadata must be an object"),
]


@pytest.mark.parametrize(("columns", "row", "fragment"), PARQUET_ERRORS)
def test_parquet_errors_name_file_and_row(tmp_path: Path, columns: dict, row: int, fragment: str) -> None:
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(CorpusError) as exc:
        list(read_corpus(path))
    assert_one_line_error(exc, f"corpus.parquet:row {row}: ", fragment)


def test_clirudit_duplicate_docid_names_shard_row(tmp_path: Path) -> None:
    shard = tmp_path / "docs" / "fr.test-00000-of-00001.parquet"
    shard.parent.mkdir()
    pq.write_table(pa.table({"docid": ["a", "a"], "title": ["t", "u"], "abstract": ["x", "y"]}), shard)
    with pytest.raises(CorpusError) as exc:
        list(read_corpus(tmp_path))
    assert_one_line_error(exc, "fr.test-00000-of-00001.parquet:row 2: duplicate document id 'a'")


def test_errors_surface_while_streaming(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}, "{oops"])
    docs = read_corpus(path)
    assert next(docs).id == "a"
    assert next(docs).id == "b"
    with pytest.raises(CorpusError) as exc:
        next(docs)
    assert_one_line_error(exc, "c.jsonl:3: bad JSON")


def test_missing_file_fails_before_iteration(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus(tmp_path / "nope.jsonl", "jsonl")
