"""An on-disk embedding cache in front of any encoder.

Re-indexing the same passages (another FAISS type, a multilingual pool made of per-language
collections, repeated evaluations of the same queries) then costs a lookup instead of a forward pass.
Entries are keyed by the encoder's name, the role (query/passage) and the exact text, so a cache can
never hand one model's vectors to another.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clir.encoders.models import Encoder

_LOOKUP_CHUNK = 500  # stays well under SQLite's bound-parameter limit


def _key(role: str, text: str) -> bytes:
    return hashlib.sha256(f"{role}\x00{text}".encode()).digest()


class CachedEncoder:
    """Wraps an encoder; same name and dim, so indexes built through it are ordinary indexes."""

    def __init__(self, inner: Encoder, cache_dir: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.max_passage_tokens = inner.max_passage_tokens
        self.fit = inner.fit
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / (re.sub(r"[^A-Za-z0-9._-]+", "_", inner.name) + ".sqlite")
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _lookup(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            rows = self._conn.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def _encode(self, texts: Sequence[str], role: str, encode: object) -> np.ndarray:
        # keyed by the text as the model sees it (cut to its window), so a cache filled before the cut
        # existed never returns a vector of the whole text
        texts = [self.inner.fit(t, role == "query")[0] for t in texts]
        keys = [_key(role, t) for t in texts]
        with self._lock:
            found = self._lookup(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if missing:
            fresh = encode([texts[i] for i in missing])  # type: ignore[operator]
            out[missing] = fresh
            with self._lock:
                self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                       [(keys[i], fresh[j].tobytes()) for j, i in enumerate(missing)])
                self._conn.commit()
        present = [i for i, k in enumerate(keys) if k in found]
        if present:
            out[present] = np.vstack([found[keys[i]] for i in present])
        self.hits += len(present)
        self.misses += len(missing)
        return out

    def encode_queries(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._encode(texts, "query", lambda t: self.inner.encode_queries(t, batch_size))

    def encode_passages(self, texts: Sequence[str], batch_size: int | None = None,
                        show_progress: bool = False) -> np.ndarray:
        return self._encode(texts, "passage", lambda t: self.inner.encode_passages(t, batch_size, show_progress))
