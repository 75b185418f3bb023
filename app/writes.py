"""Document writes and admin calls of a writable server: request models -> one collection call.

Each write is encoded in the service's threads, then written to the collection, which returns once the
write is durable and searchable. A batch is all-or-nothing: every document is checked before anything
is encoded, and the batch lands in one durable transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.errors import QueryError
from app.schemas import DocumentIn, IdentifiedDocumentIn
from app.settings import Settings
from clir.encoders.models import Encoder
from clir.errors import ConfigError
from clir.index.collection import Collection
from clir.index.prepare import prepare_documents
from clir.records import Document
from clir.text.langid import validate_lang

NO_XQG = "added without query-generation augmentation: live writes do not run the index's xQG generator"


class DocumentWriter:
    def __init__(self, settings: Settings, collection: Collection, encoder: Encoder) -> None:
        self.settings = settings
        self.collection = collection
        self.encoder = encoder
        self.unaugmented = 0  # documents added to an xQG index without generated queries
        self._warnings = [NO_XQG] if collection.manifest.raw.get("xqg") else []

    def _document(self, doc_id: str, body: DocumentIn, field: str) -> Document:
        try:
            lang = validate_lang(body.lang) if body.lang else None
        except ConfigError as exc:
            raise QueryError(f"{field}lang", str(exc)) from exc
        return Document(id=doc_id, text=body.text, title=body.title, lang=lang, metadata=body.metadata)

    def _write(self, docs: Sequence[Document]) -> list[str]:
        statuses = self.collection.upsert(prepare_documents(docs, self.encoder, batch_size=len(docs)))
        if self._warnings:
            self.unaugmented += len(docs)
        return statuses

    def put(self, doc_id: str, body: DocumentIn) -> dict[str, Any]:
        doc = self._document(doc_id, body, "")
        return {"id": doc_id, "status": self._write([doc])[0], "warnings": self._warnings}

    def post(self, documents: list[IdentifiedDocumentIn]) -> dict[str, Any]:
        if len(documents) > self.settings.max_write_batch:
            raise QueryError("documents", f"{len(documents)} documents; the batch limit is "
                                          f"{self.settings.max_write_batch}")
        seen: set[str] = set()
        docs = []
        for i, body in enumerate(documents):
            if body.id in seen:
                raise QueryError(f"documents.{i}.id", f"id {body.id!r} appears twice in the batch")
            seen.add(body.id)
            docs.append(self._document(body.id, body, f"documents.{i}."))
        statuses = self._write(docs)
        return {"created": statuses.count("created"), "updated": statuses.count("updated"),
                "warnings": self._warnings}

    def delete(self, doc_id: str) -> dict[str, Any] | None:
        if not self.collection.delete([doc_id]):
            return None
        return {"id": doc_id, "status": "deleted", "warnings": []}

    def stats(self) -> dict[str, Any]:
        return {**self.collection.stats(), "added_without_augmentation": self.unaugmented}
