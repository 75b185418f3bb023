"""Query vectors kept in memory: a repeated query skips its encoding, the largest part of a search's cost.

Real query logs repeat (a few queries make up much of the traffic), so a bounded least-recently-used table
keyed by the text exactly as it is encoded serves most of them. Memory is bounded by the number of entries:
about entries x (4 x dim + the text's length) bytes, 16 MB for 10,000 queries of multilingual-e5-small.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from clir.records import Vectors


class QueryVectorCache:
    """`encode` through the cache; safe to share between threads (an encoding runs outside the lock, so a
    query encoded twice at once is stored once)."""

    def __init__(self, encode: Callable[[Sequence[str]], Vectors], size: int) -> None:
        self._encode = encode
        self.size = size
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode(self, texts: Sequence[str], encode: Callable[[Sequence[str]], Vectors] | None = None) -> Vectors:
        """The texts' vectors: from the cache, else encoded (by `encode` when given) and kept."""
        encode = encode or self._encode
        if self.size == 0:
            return encode(texts)
        found: dict[str, Vectors] = {}
        with self._lock:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        n_missing = sum(1 for t in texts if t not in found)
        with self._lock:
            self.hits += len(texts) - n_missing
            self.misses += n_missing
        if missing:
            encoded = encode(missing)
            with self._lock:
                for text, vector in zip(missing, encoded, strict=True):
                    found[text] = self._vectors[text] = np.array(vector, dtype=np.float32)  # a copy, owned
                    self._vectors.move_to_end(text)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.vstack([found[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._vectors), "capacity": self.size, "hits": self.hits, "misses": self.misses}
