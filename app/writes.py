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
from clir import Index
from clir.errors import ConfigError
from clir.index.prepare import GivenQueries
from clir.records import Document
from clir.settings import Settings
from clir.text.langid import validate_lang


class DocumentWriter:
    def __init__(self, settings: Settings, index: Index, on_write: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.on_write = on_write or (lambda: None)  # what a write makes stale (the service's result cache)
        self.index = index
        self.collection = index.store
        self.unaugmented = 0  # documents added to an xQG index without generated queries

    def _document(self, doc_id: str, body: DocumentIn, field: str) -> Document:
        try:
            lang = validate_lang(body.lang) if body.lang else None
        except ConfigError as exc:
            raise QueryError(f"{field}lang", str(exc)) from exc
        return Document(id=doc_id, text=body.text, title=body.title, lang=lang, metadata=body.metadata)

    def _write(self, docs: Sequence[Document], given: Sequence[GivenQueries]) -> tuple[list[str], list[str]]:
        """Statuses, and warnings."""
        written = self.index.upsert(docs, given=given)
        self.on_write()
        self.unaugmented += len(written.unaugmented)
        return written.statuses, written.warnings

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
        deleted = self.index.delete([doc_id])
        self.on_write()
        if not deleted:
            return None
        return {"id": doc_id, "status": "deleted", "warnings": []}

    def stats(self) -> dict[str, Any]:
        return {**self.index.stats(), "added_without_augmentation": self.unaugmented}
