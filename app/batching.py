"""Opportunistic micro-batching of query encoding.

A lone request is encoded at once (no waiting window, so latency at concurrency 1 is unchanged);
requests that arrive while an encoding is running queue up and are encoded together next, which
raises throughput under load because one batched forward pass costs far less than several single ones.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np


class MicroBatcher:
    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], max_batch: int = 32) -> None:
        self._encode = encode
        self._max = max_batch
        self._queue: queue.Queue[tuple[str, Future]] = queue.Queue()
        self.batches = 0
        self.encoded = 0
        self._thread = threading.Thread(target=self._loop, name="clir-encoder", daemon=True)
        self._thread.start()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking: vectors for the texts, possibly encoded together with other callers' texts."""
        futures = []
        for text in texts:
            fut: Future = Future()
            self._queue.put((text, fut))
            futures.append(fut)
        return np.vstack([f.result() for f in futures])

    def _loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < self._max:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                vectors = self._encode([text for text, _ in items])
            except BaseException as exc:  # noqa: BLE001 - the waiting callers must hear of any failure
                for _, fut in items:
                    fut.set_exception(exc)
                continue
            self.batches += 1
            self.encoded += len(items)
            for (_, fut), vector in zip(items, vectors, strict=True):
                fut.set_result(vector)
