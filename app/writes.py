"""Document writes and admin calls of a writable server: request models -> one collection call.

Each write is encoded in the service's threads, then written to the collection, which returns once the
write is durable and searchable. A batch is all-or-nothing: every document is checked before anything
is encoded, and the batch lands in one durable transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.errors import QueryError
from app.schemas import DocumentIn, IdentifiedDocumentIn
from app.settings import Settings
from clir.encoders.models import Encoder
from clir.errors import ConfigError
from clir.index.prepare import GivenQueries, QueryAugmenter, prepare_documents
from clir.index.store import WritableStore
from clir.records import Document
from clir.text.langid import validate_lang


class DocumentWriter:
    def __init__(self, settings: Settings, collection: WritableStore, encoder: Encoder,
                 augmenter: QueryAugmenter | None = None, on_write: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.on_write = on_write or (lambda: None)  # what a write makes stale (the service's result cache)
        self.collection = collection
        self.encoder = encoder
        self.xqg = bool(collection.manifest.raw.get("xqg"))
        self.augmenter = augmenter if self.xqg else None
        self.unaugmented = 0  # documents added to an xQG index without generated queries

    def _document(self, doc_id: str, body: DocumentIn, field: str) -> Document:
        try:
            lang = validate_lang(body.lang) if body.lang else None
        except ConfigError as exc:
            raise QueryError(f"{field}lang", str(exc)) from exc
        return Document(id=doc_id, text=body.text, title=body.title, lang=lang, metadata=body.metadata)

    def _write(self, docs: Sequence[Document], given: Sequence[GivenQueries]) -> tuple[list[str], list[str]]:
        """Statuses, and warnings."""
        prepared = prepare_documents(docs, self.encoder, batch_size=len(docs))
        plain = [d.id for d in docs] if self.xqg else []
        if self.augmenter is not None:
            prepared, plain = self.augmenter.augment(prepared, given, self.encoder)
        statuses = self.collection.upsert(prepared)
        self.on_write()
        self.unaugmented += len(plain)
        return statuses, self._warnings(plain, ignored=not self.xqg and any(g is not None for g in given))

    def _warnings(self, plain: list[str], ignored: bool = False) -> list[str]:
        if ignored:
            return ["generated_queries ignored: this index was built without query generation (xQG)"]
        if not plain:
            return []
        reason = "no generator runs for live writes" if self.augmenter is None else \
            self.augmenter.unavailable or "no generated_queries given and its generator returned none"
        return [f"{len(plain)} document(s) added without query-generation augmentation ({reason}), e.g. "
                f"{plain[0]!r}; send generated_queries to augment them"]

    def put(self, doc_id: str, body: DocumentIn) -> dict[str, Any]:
        doc = self._document(doc_id, body, "")
        statuses, warnings = self._write([doc], [body.generated_queries])
        return {"id": doc_id, "status": statuses[0], "warnings": warnings}

    def post(self, documents: list[IdentifiedDocumentIn]) -> dict[str, Any]:
        if len(documents) > self.settings.max_write_batch:
            raise QueryError("documents", f"{len(documents)} documents; the batch limit is "
                                          f"{self.settings.max_write_batch}")
        # an id given twice: the later version wins, as if the two were sent one after the other
        last = {body.id: i for i, body in enumerate(documents)}
        kept = [(i, body) for i, body in enumerate(documents) if last[body.id] == i]
        docs = [self._document(body.id, body, f"documents.{i}.") for i, body in kept]
        statuses, warnings = self._write(docs, [body.generated_queries for _, body in kept])
        return {"created": statuses.count("created"), "updated": statuses.count("updated"), "warnings": warnings}

    def delete(self, doc_id: str) -> dict[str, Any] | None:
        deleted = self.collection.delete([doc_id])
        self.on_write()
        if not deleted:
            return None
        return {"id": doc_id, "status": "deleted", "warnings": []}

    def stats(self) -> dict[str, Any]:
        return {**self.collection.stats(), "added_without_augmentation": self.unaugmented}
