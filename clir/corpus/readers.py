"""Streaming readers for corpora, queries and qrels: JSONL, TSV/CSV, Parquet, BEIR and CLIRudit.

Records are validated while they stream, so a bad record stops an index build at the record that is
wrong, with a one-line `file:line:` message. Memory stays flat apart from the ids already seen.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from clir.corpus import beir, clirudit
from clir.corpus.beir import write_beir
from clir.corpus.formats import FORMATS
from clir.corpus.rows import Loc, Rows, count_lines, csv_rows, file_rows, parquet_rows
from clir.errors import ConfigError, CorpusError
from clir.records import Document, Qrels, Query, unpaired_surrogate

__all__ = [
    "FORMATS",
    "count_records",
    "detect_format",
    "read_corpus",
    "read_qrels",
    "read_queries",
    "write_beir",
]


_DOC_ID_KEYS = ("_id", "id", "docid")
_DOC_TEXT_KEYS = ("text", "abstract", "contents")
_QUERY_ID_KEYS = ("_id", "id", "qid", "query_id", "query-id")
_QUERY_TEXT_KEYS = ("text", "query")
_QREL_QID_KEYS = ("query-id", "qid", "query_id")
_QREL_DOCID_KEYS = ("corpus-id", "docid", "doc_id", "corpus_id")
_QREL_SCORE_KEYS = ("score", "rel", "relevance")


class _Seen:
    """Ids already yielded and where they first appeared, for duplicate messages."""

    _MAX_SOURCES = 1 << 16

    def __init__(self, what: str) -> None:
        self.what = what
        self.locs: list[Loc] = []
        # One int per id (record number and source index packed together) keeps the per-id cost small.
        self.first: dict[str, int] = {}

    def add(self, key: str, loc: Loc, n: int) -> None:
        if not self.locs or self.locs[-1] is not loc:
            self.locs.append(loc)
        packed = self.first.get(key)
        if packed is None:
            self.first[key] = n * self._MAX_SOURCES + len(self.locs) - 1
            return
        first_n, first_src = divmod(packed, self._MAX_SOURCES)
        first_loc = self.locs[first_src]
        where = f"on {loc.unit} {first_n}" if first_loc is loc else f"at {first_loc.at(first_n)}"
        raise CorpusError(f"{loc.at(n)}: duplicate {self.what} id {key!r} (first seen {where})")


# --------------------------------------------------------------------------- record validation



@dataclass(frozen=True)
class CorpusSpec:
    """A corpus by where it is: what a read task elsewhere (a Ray cluster's) re-opens."""

    path: Path
    fmt: str = "auto"
    clirudit_split: str | None = None

def _take(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """Pop the first alias present with a non-null value; the other aliases stay (they become metadata)."""
    for key in keys:
        if record.get(key) is not None:
            return record.pop(key)
    for key in keys:
        record.pop(key, None)
    return None


def _take_id(record: dict[str, Any], keys: tuple[str, ...], what: str, where: str) -> str:
    value = _take(record, keys)
    if value is None:
        raise CorpusError(f"{where}: missing {what} id (expected a field named {' or '.join(keys)})")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CorpusError(f"{where}: {what} id must be a string or integer, got {type(value).__name__}")
    value = str(value)
    if not value.strip():
        raise CorpusError(f"{where}: empty {what} id")
    if unpaired_surrogate(value):
        raise CorpusError(f"{where}: {what} id holds an unpaired UTF-16 surrogate, which is not text")
    return value


def _take_str(record: dict[str, Any], keys: tuple[str, ...], field: str, where: str) -> str:
    value = _take(record, keys)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CorpusError(f"{where}: field {field!r} must be a string, got {type(value).__name__}")
    if unpaired_surrogate(value):
        raise CorpusError(f"{where}: field {field!r} holds an unpaired UTF-16 surrogate, which is not text")
    return value


def _take_lang(record: dict[str, Any], where: str) -> str | None:
    lang = _take_str(record, ("lang",), "lang", where).strip().lower()
    return lang or None


def _take_metadata(record: dict[str, Any], where: str, json_text: bool) -> dict[str, Any]:
    value = record.pop("metadata", None)
    if json_text and isinstance(value, str):
        # TSV/CSV cells (and some Parquet exports) can only carry metadata as JSON text.
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: metadata is not valid JSON ({exc.msg})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CorpusError(f"{where}: metadata must be an object, got {type(value).__name__}")
    return value


def _document(record: dict[str, Any], where: str, json_metadata: bool) -> Document:
    rest = dict(record)
    doc_id = _take_id(rest, _DOC_ID_KEYS, "document", where)
    text = _take_str(rest, _DOC_TEXT_KEYS, "text", where)
    title = _take_str(rest, ("title",), "title", where)
    lang = _take_lang(rest, where)
    metadata = _take_metadata(rest, where, json_metadata)
    if not text.strip() and not title.strip():
        raise CorpusError(f"{where}: document {doc_id!r} has no text and no title")
    extras = {key: value for key, value in rest.items() if value is not None}
    return Document(id=doc_id, text=text, title=title, lang=lang, metadata={**extras, **metadata})


def _query(record: dict[str, Any], where: str) -> Query:
    rest = dict(record)
    query_id = _take_id(rest, _QUERY_ID_KEYS, "query", where)
    text = _take_str(rest, _QUERY_TEXT_KEYS, "text", where)
    if not text.strip():
        raise CorpusError(f"{where}: query {query_id!r} has no text")
    return Query(id=query_id, text=text, lang=_take_lang(rest, where))


def _score(raw: Any, where: str) -> int:
    value = raw
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CorpusError(f"{where}: relevance score must be an integer, got {raw!r}")
    return value


def _add_qrel(qrels: Qrels, qid: Any, docid: Any, score: Any, where: str) -> None:
    if qid is None or docid is None or not str(qid).strip() or not str(docid).strip():
        raise CorpusError(f"{where}: qrels row needs a query id and a document id")
    qid, docid, value = str(qid), str(docid), _score(score, where)
    judged = qrels.setdefault(qid, {})
    if judged.get(docid, value) != value:
        raise CorpusError(f"{where}: conflicting scores for query {qid!r} and document {docid!r}")
    judged[docid] = value


def _qrels_from_records(loc: Loc, rows: Rows) -> Qrels:
    qrels: Qrels = {}
    for n, record in rows:
        where = loc.at(n)
        found = [_take(dict(record), keys) for keys in (_QREL_QID_KEYS, _QREL_DOCID_KEYS, _QREL_SCORE_KEYS)]
        if found[2] is None:
            raise CorpusError(f"{where}: qrels row has no score (expected {' or '.join(_QREL_SCORE_KEYS)})")
        _add_qrel(qrels, found[0], found[1], found[2], where)
    return qrels


def _qrels_delimited(path: Path, delimiter: str) -> Qrels:
    """BEIR-style qrels with a header, or headerless `qid docid score` / TREC `qid iter docid score`."""
    known = set(_QREL_QID_KEYS) | set(_QREL_DOCID_KEYS) | set(_QREL_SCORE_KEYS)
    rows = csv_rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        return {}
    if known & {cell.strip() for cell in first[1]}:
        header = [cell.strip() for cell in first[1]]

        def records() -> Rows:
            for n, row in rows:
                if len(row) != len(header):
                    raise CorpusError(f"{path}:{n}: expected {len(header)} fields, got {len(row)}")
                yield n, dict(zip(header, row, strict=True))

        return _qrels_from_records(Loc(path), records())

    qrels: Qrels = {}
    for n, row in itertools.chain([first], rows):
        if len(row) not in (3, 4):
            raise CorpusError(f"{path}:{n}: expected 3 fields (query-id, corpus-id, score), got {len(row)}")
        qid, docid, score = (row[0], row[1], row[2]) if len(row) == 3 else (row[0], row[2], row[3])
        _add_qrel(qrels, qid, docid, score, f"{path}:{n}")
    return qrels


# --------------------------------------------------------------------------- public API


def detect_format(path: str | Path) -> str:
    """One of FORMATS, from the file extension or the folder's content."""
    p = Path(path)
    if not p.exists():
        raise CorpusError(f"{p}: no such file or directory")
    if p.is_dir():
        if beir.is_beir_dir(p):
            return "beir"
        if clirudit.is_clirudit_dir(p):
            return "clirudit"
        raise CorpusError(f"{p}: folder is neither BEIR (corpus.jsonl) nor CLIRudit (docs Parquet files)")
    name = p.name.lower()
    base = name[: -len(".gz")] if name.endswith(".gz") else name
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".tsv", "tsv"), (".csv", "csv")):
        if base.endswith(suffix):
            return fmt
    if name.endswith(".parquet"):
        return "clirudit" if clirudit.kind_of(p) is not None else "parquet"
    if base.endswith(".json"):
        raise CorpusError(
            f"{p}: plain .json is not streamed; use JSON Lines (.jsonl), or pass fmt='jsonl' "
            "if the file already holds one object per line"
        )
    raise CorpusError(
        f"{p}: unknown corpus format (expected .jsonl, .tsv, .csv (optionally .gz), .parquet, "
        "or a BEIR/CLIRudit folder)"
    )


def _resolve(path: str | Path, fmt: str) -> tuple[Path, str]:
    p = Path(path)
    if fmt == "auto":
        return p, detect_format(p)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r} (expected auto or one of {', '.join(FORMATS)})")
    if not p.exists():
        raise CorpusError(f"{p}: no such file or directory")
    return p, fmt


def _clirudit_sources(path: Path, kind: str, split: str | None) -> Iterator[tuple[Loc, Rows]]:
    to_record = clirudit.doc_record if kind == "docs" else clirudit.query_record
    for file in clirudit.select(path, kind, split):
        lang = clirudit.lang_of(file)
        rows = ((n, to_record(row, lang)) for n, row in parquet_rows(file))
        yield Loc(file, "row"), rows


def as_documents(records: Iterable[Document | dict[str, Any]], what: str = "documents") -> Iterator[Document]:
    """Documents given in Python: records as they are, dicts in the JSONL corpus's shape (`id`, `text`,
    `title`, `lang`, `metadata`, other keys kept as metadata) checked as a corpus line is."""
    seen: set[str] = set()
    for n, record in enumerate(records):
        doc = record if isinstance(record, Document) else _document(record, f"{what}[{n}]", json_metadata=False)
        if doc.id in seen:
            raise CorpusError(f"{what}[{n}]: duplicate document id {doc.id!r}")
        seen.add(doc.id)
        yield doc


def _stream_documents(sources: Iterable[tuple[Loc, Rows]], json_metadata: bool) -> Iterator[Document]:
    seen = _Seen("document")
    for loc, rows in sources:
        for n, record in rows:
            doc = _document(record, loc.at(n), json_metadata)
            seen.add(doc.id, loc, n)
            yield doc


def _stream_queries(sources: Iterable[tuple[Loc, Rows]]) -> Iterator[Query]:
    seen = _Seen("query")
    for loc, rows in sources:
        for n, record in rows:
            query = _query(record, loc.at(n))
            seen.add(query.id, loc, n)
            yield query


def read_corpus(
    path: str | Path, fmt: str = "auto", *, clirudit_split: str | None = None
) -> Iterator[Document]:
    """Stream documents. The format and files are checked now; records are validated as they are read.

    `clirudit_split` picks the docs split of a CLIRudit folder (e.g. 'fr.test'); other formats ignore it.
    """
    p, fmt = _resolve(path, fmt)
    if fmt == "clirudit":
        clirudit.select(p, "docs", clirudit_split)  # fail now, not on first next()
        return _stream_documents(_clirudit_sources(p, "docs", clirudit_split), json_metadata=True)
    if fmt == "beir":
        p, fmt = beir.corpus_file(p), "jsonl"
    return _stream_documents([file_rows(p, fmt)], json_metadata=fmt != "jsonl")


def read_queries(path: str | Path, fmt: str = "auto", *, split: str | None = None) -> Iterator[Query]:
    """Stream queries: a BEIR folder's queries.jsonl (all of them), a CLIRudit split, or a plain file."""
    p, fmt = _resolve(path, fmt)
    if fmt == "clirudit":
        clirudit.select(p, "queries", split)
        return _stream_queries(_clirudit_sources(p, "queries", split))
    if fmt == "beir":
        p, fmt = beir.queries_file(p), "jsonl"
    return _stream_queries([file_rows(p, fmt)])


def read_qrels(path: str | Path, fmt: str = "auto", *, split: str = "test") -> Qrels:
    """Relevance judgements as {query id: {document id: score}}."""
    p, fmt = _resolve(path, fmt)
    if fmt == "beir":
        p, fmt = beir.qrels_file(p, split), "tsv"
    if fmt == "clirudit":
        qrels: Qrels = {}
        for file in clirudit.select(p, "qrels", split):
            for qid, judged in _qrels_from_records(Loc(file, "row"), parquet_rows(file)).items():
                qrels.setdefault(qid, {}).update(judged)
        return qrels
    if fmt in ("tsv", "csv"):
        return _qrels_delimited(p, "\t" if fmt == "tsv" else ",")
    return _qrels_from_records(*file_rows(p, fmt))


def count_records(path: str | Path, fmt: str = "auto", *, clirudit_split: str | None = None) -> int | None:
    """Documents in a corpus, cheaply (Parquet metadata, line counts) for progress bars; None if unknown.

    Text counts are upper bounds: blank lines and multi-line quoted fields are counted as records.
    """
    p, fmt = _resolve(path, fmt)
    if fmt == "beir":
        p, fmt = beir.corpus_file(p), "jsonl"
    if fmt == "clirudit":
        files = clirudit.select(p, "docs", clirudit_split)
        return sum(int(pq.ParquetFile(file).metadata.num_rows) for file in files)
    if fmt == "parquet":
        return int(pq.ParquetFile(p).metadata.num_rows)
    lines = count_lines(p)
    if lines is None or fmt == "jsonl":
        return lines
    return max(lines - 1, 0)  # header row
