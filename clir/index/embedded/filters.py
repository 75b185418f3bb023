"""Filters as allowed-row masks over a local index (the `Filter` record itself lives in clir.records)."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

import numpy as np

from clir.index.embedded.docstore import DocStore
from clir.records import Filter


class FilterCache:
    """Allowed-row masks, computed once per distinct filter (a small LRU: filters repeat in practice)."""

    def __init__(self, docstore: DocStore, size: int = 64) -> None:
        self.docstore = docstore
        self.size = size
        self._masks: OrderedDict[Filter, np.ndarray] = OrderedDict()
        self._lock = Lock()

    def mask(self, flt: Filter | None) -> np.ndarray | None:
        if flt is None:
            return None
        with self._lock:
            if flt in self._masks:
                self._masks.move_to_end(flt)
                return self._masks[flt]
        mask = self._compute(flt)
        with self._lock:
            self._masks[flt] = mask
            while len(self._masks) > self.size:
                self._masks.popitem(last=False)
        return mask

    def _compute(self, flt: Filter) -> np.ndarray:
        mask = np.ones(len(self.docstore), dtype=bool)
        if flt.langs:
            mask &= np.isin(self.docstore.langs.astype(str), list(flt.langs))
        if flt.metadata:
            mask &= self.docstore.metadata_mask(dict(flt.metadata))
        return mask
