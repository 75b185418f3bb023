"""The write log of a live collection: `live.sqlite` in the index directory (SQLite, WAL, fsync on commit).

It holds every write since the base files were built, each with a sequence number:
- `docs`: the current version of every document written since (its text, language, vector and BM25
  tokens, so the log alone rebuilds the in-memory delta);
- `hidden`: every id written or deleted since, with the sequence number of its last write: the base's
  version of such an id is no longer served (a deleted id is hidden and absent from `docs`).
A write returns only after its transaction is on disk (`synchronous=FULL`), so an acknowledged write
survives a killed process or a power cut. Compaction folds everything up to a sequence number into
new base files and starts a log holding only the later entries.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np

from clir.records import Document, PreparedDocument

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, lang TEXT, metadata TEXT NOT NULL,
    vector BLOB NOT NULL, tokens TEXT NOT NULL, seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hidden (id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class LoggedDocument:
    prepared: PreparedDocument
    seq: int


class DeltaLog:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        """The log at `path`, created when missing; `read_only` opens an existing one for reading only (a
        read-only server, which may have the index on a read-only mount, beside the writer)."""
        self.path = path
        if read_only:
            self._db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, check_same_thread=False,
                                       isolation_level=None)
        else:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # fsync the WAL at every commit: durable writes
            self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def seq(self) -> int:
        return int(self._meta("seq") or 0)

    @property
    def last_write(self) -> float | None:
        value = self._meta("last_write")
        return None if value is None else float(value)

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def write(self, upserts: Sequence[PreparedDocument], deletes: Sequence[str]) -> int:
        """One durable transaction; returns its sequence number."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = int((self._db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone() or [0])[0]) + 1
                self._db.executemany(
                    "INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(p.doc.id, p.doc.title, p.doc.text, p.lang, json.dumps(p.doc.metadata, ensure_ascii=False),
                      np.ascontiguousarray(p.vector, dtype=np.float32).tobytes(),
                      json.dumps(p.tokens, ensure_ascii=False), seq) for p in upserts])
                self._db.executemany("DELETE FROM docs WHERE id = ?", [(i,) for i in deletes])
                self._db.executemany("INSERT OR REPLACE INTO hidden VALUES (?, ?)",
                                     [(i, seq) for i in [*(p.doc.id for p in upserts), *deletes]])
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                     [("seq", str(seq)), ("last_write", repr(time.time()))])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seq

    def documents(self, after: int = 0) -> Iterator[LoggedDocument]:
        """Documents written after sequence number `after`, in write order."""
        with self._lock:
            rows = self._db.execute("SELECT id, title, text, lang, metadata, vector, tokens, seq FROM docs "
                                    "WHERE seq > ? ORDER BY seq, rowid", (after,)).fetchall()
        for doc_id, title, text, lang, metadata, vector, tokens, seq in rows:
            doc = Document(id=doc_id, text=text, title=title, lang=lang, metadata=json.loads(metadata))
            yield LoggedDocument(PreparedDocument(doc, lang, json.loads(tokens),
                                                  np.frombuffer(vector, dtype=np.float32)), seq)

    def hidden(self, after: int = 0) -> dict[str, int]:
        """Ids written or deleted after `after` -> the sequence number of their last write."""
        with self._lock:
            return dict(self._db.execute("SELECT id, seq FROM hidden WHERE seq > ?", (after,)).fetchall())

    def copy_after(self, seq: int, path: Path) -> None:
        """A new log at `path` holding only the entries written after `seq` (compaction's leftover)."""
        fresh = DeltaLog(path)
        try:
            with self._lock:
                docs = self._db.execute("SELECT * FROM docs WHERE seq > ?", (seq,)).fetchall()
                hidden = self._db.execute("SELECT * FROM hidden WHERE seq > ?", (seq,)).fetchall()
                meta = self._db.execute("SELECT * FROM meta").fetchall()
            fresh._db.execute("BEGIN IMMEDIATE")
            fresh._db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", docs)
            fresh._db.executemany("INSERT INTO hidden VALUES (?, ?)", hidden)
            fresh._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            fresh._db.execute("COMMIT")
            fresh._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            fresh.close()
