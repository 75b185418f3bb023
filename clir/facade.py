"""`clir.Index`: one object to build, open, search and write an index from Python, as the command line
and the service do (they use it too)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from clir.corpus.readers import CorpusSpec, as_documents, count_records, detect_format, read_corpus
from clir.encoders.models import DEFAULT_BATCH_SIZE, DEFAULT_ENCODER, Encoder, load_encoder
from clir.errors import ConfigError
from clir.files import WriterLock, recover_unlocked
from clir.index.build import Augmentation, BuildConfig, RemoteEncoding, build_index, corpus_fingerprint
from clir.index.embedded.collection import Collection
from clir.index.manifest import Manifest
from clir.index.open import open_store
from clir.index.params import BM25Params, DenseParams
from clir.index.prepare import GivenQueries, QueryAugmenter
from clir.index.store import WritableStore
from clir.index.target import Target
from clir.index.writes import Written, predates_live_writes, write_documents
from clir.records import Document, Filter, SearchResult, StoredDocument, Vectors
from clir.search.fusion import FusionParams
from clir.search.options import DEFAULT_K
from clir.search.retriever import Retriever

Records = Iterable[Document | dict[str, Any]]


class Index:
    """An index: a directory (the embedded backend) or a Qdrant collection (`clir.index.target.QdrantTarget`).

        >>> index = Index.build("data/sample/corpus.jsonl", "runs/sample-index")
        >>> index.search("Where does the train leave from?", k=3).hits
        >>> index.close()

    Opened writable, it holds the index's writer lock (one writer per index, across processes) until
    closed; writes are durable and searchable when `upsert` or `delete` returns.
    """

    def __init__(self, store: WritableStore, *, encoder: str | Encoder | None = None, lock: WriterLock | None = None,
                 augmenter: QueryAugmenter | None = None) -> None:
        self.store = store  # both backends' stores take writes when opened writable
        self.augmenter = augmenter
        self._encoder = encoder
        self._retriever: Retriever | None = None
        self._lock = lock

    @property
    def retriever(self) -> Retriever:
        """The store with its encoder, loaded on first use (deleting or compacting needs no model)."""
        if self._retriever is None:
            self._retriever = Retriever.with_encoder(self.store, self._encoder)
        return self._retriever

    # -- making and opening ------------------------------------------------------------------------

    @classmethod
    def build(cls, corpus: str | Path | Records, target: Target | str, *, format: str = "auto",
              clirudit_split: str | None = None, encoder: str | Encoder = DEFAULT_ENCODER,
              batch_size: int = DEFAULT_BATCH_SIZE, dense: DenseParams | None = None, bm25: BM25Params | None = None,
              xqg: Augmentation | None = None, ray: RemoteEncoding | None = None, show_progress: bool = False,
              skip_if_unchanged: bool = False) -> Index:
        """Build `target` from a corpus (a file or folder in any supported format, or documents: records or
        dicts in the JSONL corpus's shape) and open it read-only. The build replaces `target` atomically."""
        config = BuildConfig(encoder=encoder if isinstance(encoder, str) else encoder.name, batch_size=batch_size,
                             dense=dense or DenseParams(), bm25=bm25 or BM25Params(), xqg=xqg,
                             show_progress=show_progress, ray=ray)
        out = Path(target) if isinstance(target, str) else target
        if isinstance(corpus, (str, Path)):
            path = Path(corpus)
            fmt = detect_format(path) if format == "auto" else format
            info = {"path": str(path), "format": fmt, "sha256": corpus_fingerprint(path),
                    "clirudit_split": clirudit_split}
            if not (skip_if_unchanged and cls.up_to_date(out, config, info)):
                model = encoder if not isinstance(encoder, str) else load_encoder(encoder)
                build_index(read_corpus(path, fmt, clirudit_split=clirudit_split), out, config, encoder=model,
                            total=count_records(path, fmt, clirudit_split=clirudit_split), corpus_info=info,
                            source=CorpusSpec(path, fmt, clirudit_split))
        else:
            if ray is not None:
                raise ConfigError("a Ray build reads its corpus itself: give the corpus file or folder")
            model = encoder if not isinstance(encoder, str) else load_encoder(encoder)
            docs = list(as_documents(corpus))
            build_index(docs, out, config, encoder=model, total=len(docs))
            return cls.open(out, encoder=model)
        return cls.open(out, encoder=None if isinstance(encoder, str) else encoder)

    @staticmethod
    def up_to_date(target: Target, config: BuildConfig, corpus_info: dict[str, Any]) -> bool:
        """Does `target` hold an index of this corpus built with these settings?"""
        from clir.encoders.models import canonical_name
        from clir.index.build import is_up_to_date

        return is_up_to_date(target, config, canonical_name(config.encoder), corpus_info)

    @classmethod
    def open(cls, target: Target | str, *, writable: bool = False, owner: str = "clir.Index", verify: bool = True,
             encoder: str | Encoder | None = None, augmenter: QueryAugmenter | None = None,
             threads: int | None = None, ef_search: int | None = None, nprobe: int | None = None) -> Index:
        """Open an index to search it (and, `writable`, to write it: the writer lock is taken, and what a killed
        writer left is recovered). `owner` names the writer in the lock (shown to a second writer);
        `augmenter` runs the index's query generation on written documents (xQG indexes)."""
        target = Path(target) if isinstance(target, str) else target
        lock = None
        if isinstance(target, Path):  # an index directory (Qdrant orders concurrent writers itself)
            if writable:
                lock = WriterLock(target, owner)
                lock.acquire()  # opening the collection writable then recovers what killed writers left
            else:
                recover_unlocked(target)  # an index a killed build moved aside is put back first
        try:
            store = open_store(target, writable=writable, verify=verify, threads=threads, ef_search=ef_search,
                               nprobe=nprobe)
            if writable and isinstance(store, Collection) and store.view().base_postings is None:
                store.close()
                raise predates_live_writes(str(target))
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return cls(store, encoder=encoder, lock=lock, augmenter=augmenter)

    # -- reading -----------------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        return self.store.manifest

    @property
    def encoder(self) -> Encoder:
        return self.retriever.encoder

    def __len__(self) -> int:
        return len(self.store)

    def search(self, query: str, k: int = DEFAULT_K, *, mode: str = "hybrid", query_lang: str | None = None,
               filter: Filter | None = None, fusion: FusionParams | None = None, depth: int | None = None,
               language_balance: bool = True, offset: int = 0) -> SearchResult:
        """The k best documents for `query` in any language (hits: id, score, language, title)."""
        return self.retriever.search(query, k=k, mode=mode, query_lang=query_lang, filter=filter, fusion=fusion,
                                     depth=depth, language_balance=language_balance, offset=offset)

    def search_batch(self, queries: Sequence[str], k: int = DEFAULT_K, *, mode: str = "hybrid",
                     query_langs: Sequence[str | None] | None = None, filter: Filter | None = None,
                     fusion: FusionParams | None = None, depth: int | None = None, language_balance: bool = True,
                     offset: int = 0) -> list[SearchResult]:
        """`search` for many queries at once (one encoder pass)."""
        return self.retriever.search_batch(queries, k=k, mode=mode, query_langs=query_langs, filter=filter,
                                           fusion=fusion, depth=depth, language_balance=language_balance,
                                           offset=offset)

    def get(self, doc_id: str) -> StoredDocument | None:
        """The document stored under `doc_id`, or None."""
        return self.store.document(doc_id)

    def stats(self) -> dict[str, Any]:
        """Documents, pending writes and compactions (embedded), the collection's counts (Qdrant)."""
        return self.store.stats()

    # -- writing -----------------------------------------------------------------------------------

    def upsert(self, documents: Records, *, given: Sequence[GivenQueries] | None = None,
               vectors: Vectors | None = None, batch_size: int | None = None) -> Written:
        """Add or replace documents (records, or dicts in the JSONL corpus's shape) as one durable batch."""
        docs = list(as_documents(documents))
        return write_documents(self.store, self.encoder, docs, augmenter=self.augmenter, given=given,
                               vectors=vectors, batch_size=batch_size)

    def delete(self, doc_ids: Sequence[str]) -> list[str]:
        """Delete the given ids that exist; returns them."""
        return self.store.delete(list(doc_ids))

    def compact(self, show_progress: bool = False) -> dict[str, Any]:
        """Fold the writes into new index files (nothing to do on Qdrant); returns what was folded."""
        return self.store.compact(show_progress=show_progress)

    # -- closing -----------------------------------------------------------------------------------

    def release(self) -> None:
        """Give back what only this process may hold (the writer lock, Qdrant local mode's directory) until
        `resume` (a server's shutdown and restart within one process)."""
        if self._lock is not None and self._lock.held:
            self._lock.release()
        self.store.release()

    def resume(self) -> None:
        if self._lock is not None and not self._lock.held:
            self._lock.acquire()

    def close(self) -> None:
        """Close the store and give back the writer lock."""
        try:
            self.store.close()
        finally:
            if self._lock is not None and self._lock.held:
                self._lock.release()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
