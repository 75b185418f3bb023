"""Opening the store that serves an index target (a directory, or a Qdrant collection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clir.index.target import QdrantTarget, Target, require_qdrant

if TYPE_CHECKING:
    from clir.index.embedded.collection import Collection
    from clir.index.qdrant.collection import QdrantCollection


def open_store(target: Target, *, writable: bool = False, verify: bool = True, threads: int | None = None,
               ef_search: int | None = None, nprobe: int | None = None) -> Collection | QdrantCollection:
    """The store serving `target`, with its live writes; writable only when asked."""
    if isinstance(target, QdrantTarget):
        require_qdrant()
        from clir.index.qdrant.collection import QdrantCollection

        return QdrantCollection.open(target, writable=writable)
    from clir.index.embedded.collection import Collection

    return Collection.open(target, writable=writable, verify=verify, threads=threads, ef_search=ef_search,
                           nprobe=nprobe)
