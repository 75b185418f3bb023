"""Where an index lives: a directory (the embedded backend) or a Qdrant collection (a server by URL, or
Qdrant's local mode in a directory). The command line and the service name a target;
`clir.index.open.open_store` opens the store that serves it. Nothing here imports an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clir.errors import ConfigError

BACKENDS = ("local", "qdrant")
QDRANT_EXTRA = "the qdrant backend needs qdrant-client: pip install 'clir[qdrant]'"


@dataclass(frozen=True)
class QdrantTarget:
    """One index in Qdrant: `collection` is the name searches use (an alias a build switches atomically)."""

    collection: str
    url: str | None = None
    path: Path | None = None  # local mode: the collection lives in this directory, in this process
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.collection or not all(c.isalnum() or c in "-_." for c in self.collection):
            raise ConfigError(f"--collection {self.collection!r}: use letters, digits, '-', '_' or '.'")
        if (self.url is None) == (self.path is None):
            raise ConfigError("the qdrant backend needs --qdrant-url URL (a server) or --qdrant-path DIR "
                              "(local mode), not both")

    @property
    def location(self) -> str:
        return f"{self.url}#{self.collection}" if self.url else f"qdrant-local:{self.path}#{self.collection}"

    @property
    def local(self) -> bool:
        return self.path is not None

    def connect(self) -> Any:
        """A qdrant-client connection (local mode holds its directory for this process alone)."""
        require_qdrant()
        from qdrant_client import QdrantClient

        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                return QdrantClient(path=str(self.path))
            except (RuntimeError, BlockingIOError) as exc:  # another process holds the local storage
                raise ConfigError(f"{self.path}: Qdrant local storage is in use by another process "
                                  f"(local mode serves one process; run a Qdrant server to share it): {exc}") from None
        return QdrantClient(url=self.url, api_key=self.api_key, timeout=60)


Target = Path | QdrantTarget


def require_qdrant() -> None:
    """One line saying what to install, instead of an ImportError, where qdrant-client is missing."""
    try:
        import qdrant_client  # noqa: F401
    except ImportError:
        raise ConfigError(QDRANT_EXTRA) from None


def qdrant_target(backend: str, collection: str | None, url: str | None, path: str | Path | None,
                  api_key: str | None = None) -> QdrantTarget | None:
    """The Qdrant target the options name (None for the embedded backend): the command line's flags over
    the settings (clir.settings)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "local":
        return None
    if not collection:
        raise ConfigError("the qdrant backend needs --collection NAME")
    return QdrantTarget(collection, url=url, path=Path(path) if path else None,
                        api_key=api_key or None)
