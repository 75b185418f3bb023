"""Cross-lingual retrieval: search a collection in one language, find documents written in others.

`clir.Index` builds, opens, searches and writes an index from Python (the command line and the service
use it too); `clir.client.Client` talks to a running service over HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clir.runtime import short_openmp_spin
from clir.version import __version__

short_openmp_spin()  # before anything loads libgomp (FAISS, the encoder)

if TYPE_CHECKING:
    from clir.facade import Index

__all__ = ["Index", "__version__"]


def __getattr__(name: str) -> Any:
    # the facade loads FAISS, the encoder runtime and bm25s: only when it is used, not for every `import clir.x`
    if name == "Index":
        from clir.facade import Index

        return Index
    raise AttributeError(f"module 'clir' has no attribute {name!r}")
