"""A collection that takes writes while it serves: the index store behind a writable server and the
`clir add` / `clir delete` / `clir compact` commands.

Writes go to the durable log first, then to the in-memory delta; a write returns once it is both on
disk and searchable. One writer at a time: this object's lock within a process, `WriterLock` (an
exclusive lock file beside the index, clir.files) between processes. Compaction builds new base files aside from
what was live at one write, swaps them in with one atomic directory exchange, and carries the writes
that landed meanwhile over in a fresh log: searches and writes go on while it runs, and a compaction
killed midway leaves the previous files serving.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clir.files import install_dir, recover, scratch_dir
from clir.index.embedded.compact import Frozen, write_compacted
from clir.index.embedded.delta import DeltaLog
from clir.index.embedded.live import LiveView
from clir.index.embedded.local import LocalIndex
from clir.index.embedded.sparse import SparseScores
from clir.index.manifest import LOG_FILE, MANIFEST, Manifest
from clir.index.writes import check_batch_ids, predates_live_writes, read_only
from clir.records import Filter, PreparedDocument, Ranked, Rows, Scores, StoredDocument, Vectors

# Automatic compaction: once pending writes (documents written plus base documents hidden) reach this
# share of the base and at least AUTO_COMPACT_MIN of them (docs/updating.md).
AUTO_COMPACT_SHARE = 0.25
AUTO_COMPACT_MIN = 1000


Identity = tuple[tuple[int, int, int, int] | None, ...]


def _identity(root: Path) -> Identity:
    """What changes when the index is rebuilt (a new folder with a new manifest) or written by another
    process (its log): the folder's inode; inode, change and modification times and size of each file
    (None where missing). The first two change only with the base files."""
    out: list[tuple[int, int, int, int] | None] = []
    for path in (root, root / MANIFEST, root / LOG_FILE, root / f"{LOG_FILE}-wal"):
        try:
            st = path.stat()
        except OSError:
            out.append(None)
            continue
        if st.st_size == 0 and path.name.endswith("-wal"):  # a reader's open creates an empty one
            out.append(None)
            continue
        # the folder's times change whenever a file in it is created (the log's companions): not counted
        out.append((st.st_ino, 0, 0, 0) if path == root else (st.st_ino, st.st_ctime_ns, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _open_log(root: Path, writable: bool) -> DeltaLog | None:
    """The write log: created by a writer; read (when there is one) by anyone else, without writing."""
    path = root / LOG_FILE
    if writable:
        return DeltaLog(path)
    return DeltaLog(path, read_only=True) if path.is_file() else None


def _replay(view: LiveView, log: DeltaLog | None) -> LiveView:
    if log is None:
        return view
    for doc_id in log.hidden():
        view.hide(doc_id)
    for logged in log.documents():
        view.append(logged.prepared)
    return view


class Collection:
    def __init__(self, root: Path, view: LiveView, log: DeltaLog | None, open_options: dict[str, Any]) -> None:
        self.root = root
        self._view = view
        self._log = log
        self._open_options = open_options
        self._lock = threading.RLock()
        self._compacting = threading.Lock()
        self.compactions = 0
        self.auto_compact = True
        self.writable = False
        self._seen = _identity(root)

    @classmethod
    def open(cls, root: str | Path, *, writable: bool = False, verify: bool = True, threads: int | None = None,
             ef_search: int | None = None, nprobe: int | None = None) -> Collection:
        """An index directory with the writes logged since its base files were built. Read-only, it
        creates nothing (and refuses writes); writable, it creates the log when there is none. Taking
        the writer lock is the caller's part (`WriterLock`)."""
        root = Path(root)
        options = {"threads": threads, "ef_search": ef_search, "nprobe": nprobe}
        if writable:
            recover(root.resolve())
        seen = _identity(root)  # before opening: a change while it opens shows at the next check
        base = LocalIndex.open(root, verify=verify, **options)
        log = _open_log(root, writable)
        collection = cls(root, _replay(LiveView(base), log), log, options)
        collection.writable = writable
        collection._seen = seen
        return collection

    # -- reads: the current view ---------------------------------------------------------------------

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def display_name(self) -> str:
        return self.root.name

    @property
    def manifest(self) -> Manifest:
        return self._view.manifest

    def view(self) -> LiveView:
        return self._view

    def __len__(self) -> int:
        return len(self._view)

    def dense_search(self, vectors: Vectors, k: int, flt: Filter | None = None) -> list[Ranked]:
        return self._view.dense_search(vectors, k, flt)

    def dense_search_by_lang(self, vectors: Vectors, k: int, langs: Sequence[str],
                             flt: Filter | None = None) -> list[dict[str, Ranked]]:
        return self._view.dense_search_by_lang(vectors, k, langs, flt)

    def dense_scores(self, vector: Vectors, rows: Rows) -> Scores:
        return self._view.dense_scores(vector, rows)

    def dense_vectors(self, rows: Rows) -> Vectors:
        return self._view.dense_vectors(rows)

    def sparse_search(self, tokens: list[str], flt: Filter | None = None) -> SparseScores:
        return self._view.sparse_search(tokens, flt)

    def ids(self, rows: Sequence[int]) -> list[str]:
        return self._view.ids(rows)

    def titles(self, rows: Sequence[int]) -> list[str]:
        return self._view.titles(rows)

    def langs(self, rows: Rows) -> Any:
        return self._view.langs(rows)

    def documents(self, rows: Sequence[int]) -> dict[int, StoredDocument]:
        return self._view.documents(rows)

    def document(self, doc_id: str) -> StoredDocument | None:
        return self._view.document(doc_id)

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        return self._view.missing(doc_ids)

    # -- writes --------------------------------------------------------------------------------------

    def _writable_log(self) -> DeltaLog:
        if not self.writable or self._log is None:
            raise read_only(str(self.root))
        if self._view.base_postings is None:
            raise predates_live_writes(str(self.root))
        return self._log

    def upsert(self, docs: Sequence[PreparedDocument]) -> list[str]:
        """Durable and searchable on return; "created" or "updated" per document."""
        log = self._writable_log()
        ids = [p.doc.id for p in docs]
        check_batch_ids(ids)
        with self._lock:
            statuses = ["updated" if self._view.contains(i) else "created" for i in ids]
            log.write(docs, [])
            for p in docs:
                self._view.hide(p.doc.id)
                self._view.append(p)
        self._maybe_compact()
        return statuses

    def delete(self, doc_ids: Sequence[str]) -> list[str]:
        """Delete the given ids that exist (durably); returns them."""
        log = self._writable_log()
        with self._lock:
            found = [i for i in dict.fromkeys(doc_ids) if self._view.contains(i)]
            if found:
                log.write([], found)
                for doc_id in found:
                    self._view.hide(doc_id)
        self._maybe_compact()
        return found

    # -- compaction and reload -------------------------------------------------------------------------

    def pending(self) -> int:
        c = self._view.counts()
        return int(c["pending_documents"] + c["deleted_not_compacted"])

    def _maybe_compact(self) -> None:
        pending = self.pending()
        if (self.auto_compact and pending >= AUTO_COMPACT_MIN and pending >= AUTO_COMPACT_SHARE * self._view.n_base
                and not self._compacting.locked()):
            threading.Thread(target=self.compact, name="clir-compact", daemon=True).start()

    def compact(self, show_progress: bool = False) -> dict[str, Any]:
        """Fold every write into new base files; returns what was folded (empty when nothing was)."""
        self._writable_log()
        with self._compacting:
            with self._lock:
                view = self._view
                if not view.pending:
                    return {}
                frozen = Frozen.of(view, self._writable_log().seq)
            started = time.perf_counter()
            tmp = scratch_dir(self.root, f"compact-{os.getpid()}")
            try:
                manifest = write_compacted(view, frozen, tmp, show_progress)
                with self._lock:  # writes wait only for the swap
                    self._writable_log().copy_after(frozen.seq, tmp / LOG_FILE)
                    install_dir(tmp, self.root)
                    self._swap_in(verify=False)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            self.compactions += 1
            return {"documents": manifest.documents, "seq": frozen.seq,
                    "seconds": round(time.perf_counter() - started, 3)}

    def stale(self) -> bool:
        """Has another process rebuilt the index or logged writes since it was (re)loaded? Never for the
        writer itself: it holds the writer lock, so no one else writes."""
        return not self.writable and _identity(self.root) != self._seen

    def reload(self, verify: bool = True) -> None:
        """Re-open the directory: base files rebuilt offline, or writes another process logged (the base
        files stay loaded when only the log changed)."""
        with self._lock:
            self._swap_in(verify=verify)

    def _swap_in(self, verify: bool) -> None:
        old_log = self._log
        seen = _identity(self.root)
        log = _open_log(self.root, self.writable)
        same_base = seen[:2] == self._seen[:2]
        base = self._view.base if same_base else LocalIndex.open(self.root, verify=verify, **self._open_options)
        self._view, self._log, self._seen = _replay(LiveView(base), log), log, seen
        if old_log is not None:
            old_log.close()

    def stats(self) -> dict[str, Any]:
        log = self._log
        return {**self._view.counts(), "writable": self.writable,
                "last_write": None if log is None else log.last_write, "write_seq": 0 if log is None else log.seq,
                "compactions": self.compactions, "compacting": self._compacting.locked()}

    def release(self) -> None:
        """Nothing: the writer lock is the caller's, and the log stays open (writes are on disk)."""

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
