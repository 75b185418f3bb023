"""Search filters: restrict a search to documents of some languages and/or with metadata values."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import numpy as np

from clir.errors import ConfigError
from indexer.docstore import DocStore

_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Filter:
    langs: tuple[str, ...] = ()
    metadata: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    @classmethod
    def make(cls, langs: list[str] | None = None, metadata: dict[str, Any] | None = None) -> Filter | None:
        """None when nothing is filtered; ConfigError for values that cannot be compared."""
        for key, value in (metadata or {}).items():
            if not isinstance(value, _SCALARS):
                raise ConfigError(f"filter.metadata.{key}: only string, number or boolean values can be matched")
        if not langs and not metadata:
            return None
        return cls(tuple(sorted({lang.lower() for lang in langs or ()})), tuple(sorted((metadata or {}).items())))


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
