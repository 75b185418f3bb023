"""Document store: SQLite table keyed by the row shared with the FAISS and BM25 indexes.

Ids and languages of every row are held in memory once opened (a few bytes per document) because
every search needs them; titles, texts and metadata stay on disk until a hit asks for them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from clir.errors import IndexFormatError
from clir.records import Document, StoredDocument

_SCHEMA = """
CREATE TABLE docs (
    row      INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    title    TEXT NOT NULL,
    text     TEXT NOT NULL,
    lang     TEXT,
    metadata TEXT NOT NULL
);
"""


# Rows whose metadata holds `key` with `value`: json_each compares keys as stored, whatever characters they
# hold (a "$.key" path needs quoting that SQLite does not unescape), and JSON true as 1 like Python's True.
_KEY_MATCH = ("SELECT row FROM docs WHERE EXISTS (SELECT 1 FROM json_each(docs.metadata) AS j "
              "WHERE j.key = ? AND j.type NOT IN ('object', 'array') AND j.value = ?)")


class DocStoreWriter:
    """Appends documents in row order; rows are 0-based and contiguous."""

    def __init__(self, path: Path) -> None:
        # The builder hands batches to one worker thread at a time, never concurrently.
        self._conn = sqlite3.connect(str(path), check_same_thread=False)
        # The file lives in a temporary build directory until it is complete: durability per
        # statement would only slow the build, and a crash discards the directory anyway.
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.executescript(_SCHEMA)
        self.count = 0

    def add(self, docs: Sequence[Document], langs: Sequence[str | None]) -> None:
        rows = [
            (self.count + i, d.id, d.title, d.text, lang, json.dumps(d.metadata, ensure_ascii=False))
            for i, (d, lang) in enumerate(zip(docs, langs, strict=True))
        ]
        self._conn.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.count += len(rows)

    def close(self) -> None:
        self._conn.commit()
        self._conn.close()


class DocStore:
    """Read-only access; safe to share between threads.

    The one connection is opened here, when the index is opened, and kept: it holds the file that was
    there then, so an index replaced on disk later is never read through an index loaded before
    (connections opened lazily by path would read the new file under the old FAISS and BM25 rows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # quoted: a path may hold "?" or "#", which would end the file name in a URI
            self._db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, check_same_thread=False)
            pairs = self._db.execute("SELECT id, COALESCE(lang, ''), title FROM docs ORDER BY row").fetchall()
        except sqlite3.Error as exc:
            raise IndexFormatError(f"{path}: not a readable document store ({exc})") from None
        self._lock = threading.Lock()
        self.ids: list[str] = [p[0] for p in pairs]
        # Titles are short and every hit shows one: serving them from memory keeps SQLite off the
        # default search path (texts and metadata are read only when a request asks for them).
        self.titles: list[str] = [p[2] for p in pairs]
        self._row_of: dict[str, int] = {doc_id: row for row, doc_id in enumerate(self.ids)}
        # A fixed-width string array: the fusion compares it with the query language per candidate.
        self.langs: np.ndarray = np.array([p[1] for p in pairs], dtype=str)

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:  # one connection, used by one thread at a time
            return self._db.execute(sql, params).fetchall()

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, doc_id: str) -> int | None:
        return self._row_of.get(doc_id)

    def get(self, rows: Iterable[int]) -> dict[int, StoredDocument]:
        rows = [int(r) for r in rows]
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        found = self._query(f"SELECT row, id, title, text, lang, metadata FROM docs WHERE row IN ({marks})", rows)
        return {r[0]: StoredDocument(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in found}

    def metadata_mask(self, metadata: dict[str, Any]) -> np.ndarray:
        """Rows whose metadata holds every given key=value pair (one query per key, so no number of keys
        makes one SQL statement too large)."""
        mask = np.ones(len(self.ids), dtype=bool)
        for key, value in metadata.items():
            keep = np.zeros(len(self.ids), dtype=bool)
            param = int(value) if isinstance(value, bool) else value
            keep[[r[0] for r in self._query(_KEY_MATCH, [key, param])]] = True
            mask &= keep
        return mask

    def get_by_id(self, doc_id: str) -> StoredDocument | None:
        row = self.row_of(doc_id)
        return None if row is None else self.get([row]).get(row)
