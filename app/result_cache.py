"""Search responses kept in memory for repeated requests, emptied by every write and reload.

Only what is small is kept: responses of at most MAX_CACHED_HITS hits without document texts (about 30 KB
each at most), so memory stays below CLIR_RESULT_CACHE_SIZE x 30 KB. A search that started before a write
finishes after the cache was emptied: its response is not kept (the generation it started in is gone).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

MAX_CACHED_HITS = 100


class ResultCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        if self.size == 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: str, payload: dict[str, Any], generation: int) -> None:
        """Keep `payload` (never changed afterwards) unless a write emptied the cache since `generation`."""
        if self.size == 0 or len(payload["hits"]) > MAX_CACHED_HITS or any("text" in h for h in payload["hits"]):
            return
        with self._lock:
            if generation != self.generation:
                return
            self._entries[key] = payload
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "capacity": self.size, "hits": self.hits, "misses": self.misses}
