"""Raw records with their line (or row) numbers from JSONL, TSV/CSV and Parquet files.

Validation lives in `clir.corpus.readers`; this layer only parses, and reports unparseable input as a
one-line `file:line:` CorpusError.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clir.errors import CorpusError

PARQUET_BATCH_ROWS = 1024
# Abstracts and full texts can exceed csv's default 128 KiB field limit; 2**31-1 fits a C long everywhere.
csv.field_size_limit(2**31 - 1)

Rows = Iterator[tuple[int, dict[str, Any]]]


class Loc:
    """A file plus the unit its record numbers count ('line' for text files, 'row' for Parquet)."""

    def __init__(self, path: Path, unit: str = "line") -> None:
        self.path = path
        self.unit = unit

    def at(self, n: int) -> str:
        return f"{self.path}:{n}" if self.unit == "line" else f"{self.path}:row {n}"


def open_binary(path: Path) -> io.BufferedIOBase:
    try:
        if path.name.endswith(".gz"):
            return gzip.GzipFile(path, "rb")
        return path.open("rb")
    except OSError as exc:
        raise CorpusError(f"{path}: cannot open ({exc.strerror or exc})") from None


def read_lines(path: Path, f: io.BufferedIOBase) -> Iterator[str]:
    # Decoding line by line (not in buffered chunks) lets a bad byte be reported with its line number.
    try:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{path}:{n}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            yield line.lstrip("\ufeff") if n == 1 else line
    except (OSError, EOFError) as exc:
        raise CorpusError(f"{path}: read failed ({exc})") from None


def jsonl_rows(path: Path) -> Rows:
    with open_binary(path) as f:
        for n, line in enumerate(read_lines(path, f), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except RecursionError:
                raise CorpusError(f"{path}:{n}: JSON nested too deeply") from None
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{n}: bad JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(record, dict):
                raise CorpusError(f"{path}:{n}: expected a JSON object, got {type(record).__name__}")
            yield n, record


def csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Raw csv rows with the line each starts on (quoted fields may span lines)."""
    with open_binary(path) as f:
        reader = csv.reader(read_lines(path, f), delimiter=delimiter)
        start = 1
        try:
            for row in reader:
                n, start = start, reader.line_num + 1
                if row:
                    yield n, row
        except csv.Error as exc:
            raise CorpusError(f"{path}:{reader.line_num}: {exc}") from None


def delimited_rows(path: Path, delimiter: str) -> Rows:
    header: list[str] | None = None
    for n, row in csv_rows(path, delimiter):
        if header is None:
            header = [name.strip() for name in row]
            if "" in header or len(set(header)) != len(header):
                raise CorpusError(f"{path}:{n}: header has an empty or repeated column name")
            continue
        if len(row) != len(header):
            raise CorpusError(f"{path}:{n}: expected {len(header)} fields, got {len(row)}")
        yield n, dict(zip(header, row, strict=True))


def parquet_rows(path: Path) -> Rows:
    n = 0
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for record in batch.to_pylist():
                n += 1
                yield n, record
    except (pa.ArrowException, OSError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorpusError(f"{path}:row {n + 1}: cannot read Parquet ({first_line})") from None


def file_rows(path: Path, fmt: str) -> tuple[Loc, Rows]:
    if fmt == "jsonl":
        return Loc(path), jsonl_rows(path)
    if fmt in ("tsv", "csv"):
        return Loc(path), delimited_rows(path, "\t" if fmt == "tsv" else ",")
    return Loc(path, "row"), parquet_rows(path)


def count_lines(path: Path) -> int:
    """Lines in a text file. A .gz file is decompressed to count them: far cheaper than encoding, and a
    truncated or corrupt archive is refused now, not after half the corpus is encoded."""
    lines, last = 0, b"\n"
    with open_binary(path) as f:
        try:
            while chunk := f.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        except (OSError, EOFError) as exc:
            raise CorpusError(f"{path}: damaged or truncated gzip ({exc})".splitlines()[0]) from None
    return lines + (last != b"\n")
