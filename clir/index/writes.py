"""Writing documents to an index: the one path HTTP writes, `clir add` and `clir.Index.upsert` take
(prepare, augment, upsert, warnings), and the checks every writable store makes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clir.encoders.models import Encoder
from clir.errors import ConfigError
from clir.index.prepare import GivenQueries, QueryAugmenter, prepare_documents
from clir.index.store import WritableStore
from clir.records import Document, Vectors

PREDATES_LIVE_WRITES = "this index predates live writes; rebuild it with `clir index` to write to it"


def read_only(location: str) -> ConfigError:
    return ConfigError(f"{location}: opened read-only")


def predates_live_writes(location: str) -> ConfigError:
    return ConfigError(f"{location}: {PREDATES_LIVE_WRITES}")


def check_batch_ids(ids: Sequence[str]) -> None:
    if len(set(ids)) != len(ids):
        raise ConfigError("a batch holds the same document id twice")


@dataclass
class Written:
    """What one write did: "created" or "updated" per document, the ids written to an xQG index without
    generated queries, and the warnings a client is shown."""

    statuses: list[str]
    unaugmented: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        return self.statuses.count("created")

    @property
    def updated(self) -> int:
        return self.statuses.count("updated")


def write_documents(store: WritableStore, encoder: Encoder, docs: Sequence[Document], *,
                    augmenter: QueryAugmenter | None = None, given: Sequence[GivenQueries] | None = None,
                    vectors: Vectors | None = None, batch_size: int | None = None) -> Written:
    """Prepare `docs` as a build does (language, BM25 tokens, vector unless `vectors` holds them), augment them
    on an xQG index (the index's generator, or the queries `given` per document), and write them as one
    durable batch."""
    given = list(given) if given is not None else [None] * len(docs)
    prepared = prepare_documents(docs, encoder, batch_size or len(docs), vectors)
    xqg = bool(store.manifest.raw.get("xqg"))
    plain = [d.id for d in docs] if xqg else []
    if xqg and augmenter is not None:
        prepared, plain = augmenter.augment(prepared, given, encoder)
    statuses = store.upsert(prepared)
    return Written(statuses, plain, _warnings(plain, augmenter if xqg else None,
                                              ignored=not xqg and any(g is not None for g in given)))


def _warnings(plain: list[str], augmenter: QueryAugmenter | None, ignored: bool) -> list[str]:
    if ignored:
        return ["generated_queries ignored: this index was built without query generation (xQG)"]
    if not plain:
        return []
    reason = "no generator runs for live writes" if augmenter is None else \
        augmenter.unavailable or "no generated_queries given and its generator returned none"
    return [f"{len(plain)} document(s) added without query-generation augmentation ({reason}), e.g. "
            f"{plain[0]!r}; send generated_queries to augment them"]
