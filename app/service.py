"""The service layer: request options -> one retrieval-core call -> response payload.

Routes stay thin: they validate, call `SearchService` in a worker thread, and return its dicts.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from app.batching import MicroBatcher
from app.errors import Overloaded, QueryError
from app.result_cache import ResultCache
from app.schemas import BatchQuery, FusionOptions, SearchOptions
from app.settings import Settings
from app.writes import DocumentWriter
from clir.encoders.query_cache import QueryVectorCache
from clir.errors import ClirError, ConfigError
from clir.files import WriterLock, recover_unlocked
from clir.index.collection import Collection
from clir.index.prepare import QueryAugmenter
from clir.index.store import WritableStore
from clir.records import Filter, SearchResult
from clir.search.fusion import FusionParams
from clir.search.render import result_payload
from clir.search.retriever import Retriever
from clir.search.snippets import SENTENCE_BUDGET
from clir.text.langid import validate_lang

T = TypeVar("T")


def fusion_params(options: FusionOptions) -> FusionParams:
    return FusionParams(method=options.method, rrf_k=float(options.rrf_k), dense_weight=options.weights.dense,
                        sparse_weight=options.weights.sparse, normalization=options.normalization)


class SearchService:
    def __init__(self, settings: Settings, augmenter: QueryAugmenter | None = None) -> None:
        self.settings = settings
        self.lock: WriterLock | None = None
        target = settings.target()
        if isinstance(target, Path):  # an index directory (Qdrant orders concurrent writers itself)
            if settings.writable:  # one writer per index, across processes too
                self.lock = WriterLock(target, f"clir serve --writable on port {settings.port}")
                self.lock.acquire()  # opening the collection writable then recovers what killed writers left
            else:
                recover_unlocked(target)  # an index a killed build moved aside is put back first
        self.retriever = Retriever.open(target, verify=settings.verify_checksums, writable=settings.writable,
                                        threads=settings.effective_threads(), ef_search=settings.ef_search,
                                        nprobe=settings.nprobe)
        self.collection: WritableStore = self.retriever.store  # type: ignore[assignment]
        if settings.writable and isinstance(self.collection, Collection) and \
                self.collection.view().base_postings is None:
            raise ConfigError(f"{settings.index}: this index predates live writes; rebuild it with `clir index` "
                              "to serve it --writable")
        # Repeated queries: their vectors, and (on an index only this process writes or reloads) whole responses.
        self.query_vectors = QueryVectorCache(self.retriever.encoder.encode_queries, settings.query_cache_size)
        self.results = ResultCache(settings.result_cache_size if isinstance(target, Path) else 0)
        self.writer = (DocumentWriter(settings, self.collection, self.retriever.encoder, augmenter,
                                      on_write=self.results.clear) if settings.writable else None)
        # the encoder's first call costs more than later ones (buffers, thread pool): pay it before serving
        self.retriever.encoder.encode_queries(["warm up"])
        self.batcher = (MicroBatcher(self.retriever.encoder.encode_queries, settings.micro_batch_max)
                        if settings.micro_batch else None)
        self.started = time.time()
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._pending = 0  # admitted to the executor: running or queued (event-loop side)
        self._pending_lock = threading.Lock()
        # Searches block (encoding, FAISS), so they run in these threads, never on the event loop.
        # A plain executor hand-off costs less per request than anyio's thread pool (its
        # limiter and cancel scopes); as many threads as a micro-batch holds, so one can fill.
        self._executor = ThreadPoolExecutor(max_workers=max(4, settings.micro_batch_max),
                                            thread_name_prefix="clir-search")
        self.reloads = 0
        self._watching = threading.Event()
        self._watcher: threading.Thread | None = None

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call in the service's threads, awaiting its result; Overloaded (503) when
        `max_pending` calls are already running or queued, so a burst is shed instead of queued without
        bound (every request's latency would grow with the queue)."""
        with self._pending_lock:
            if self._pending >= self.settings.max_pending:
                raise Overloaded(f"the server is busy ({self._pending} requests in progress); retry shortly")
            self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            with self._pending_lock:
                self._pending -= 1

    # -- validation that depends on settings ---------------------------------------------------

    def _check_query(self, text: str, field: str) -> tuple[str, bool]:
        """The query as the encoder takes it (cut to the model's window: no query costs more than one
        window to encode), and whether it was cut."""
        if len(text) > self.settings.max_query_chars:
            raise QueryError(field, f"query is {len(text)} characters; the limit is {self.settings.max_query_chars}")
        return self.retriever.encoder.fit(text, True)

    def _lang(self, lang: str | None, field: str) -> str | None:
        if lang is None:
            return None
        try:
            return validate_lang(lang)
        except ConfigError as exc:
            raise QueryError(field, str(exc)) from exc

    def _common(self, options: SearchOptions) -> dict[str, Any]:
        if options.k > self.settings.max_k:
            raise QueryError("k", f"k must be at most {self.settings.max_k}")
        if options.offset > self.settings.max_k:
            raise QueryError("offset", f"offset must be at most {self.settings.max_k}")
        try:
            flt = Filter.make(options.filter.lang, options.filter.metadata) if options.filter else None
            fusion = fusion_params(options.fusion)
        except ConfigError as exc:
            raise QueryError("filter" if options.filter else "fusion", str(exc)) from exc
        depth = options.fusion.depth or self.settings.default_depth
        return {"k": options.k, "mode": options.mode, "fusion": fusion, "filter": flt, "depth": depth,
                "language_balance": options.language_balance, "offset": options.offset}

    def _payload(self, result: SearchResult, options: SearchOptions, cut: bool, share: int = 1) -> dict[str, Any]:
        # the sentences a request may encode for snippets are shared by its queries: a batch costs no more
        snippets = self.retriever.snippets(result, SENTENCE_BUDGET // share) if options.snippet else None
        return result_payload(result, options.include_text, snippets) | {"query_truncated": cut}

    # -- search --------------------------------------------------------------------------------

    def search(self, query: str, options: SearchOptions) -> dict[str, Any]:
        start = time.perf_counter()
        key = query + "\x00" + options.model_dump_json(exclude={"query"})  # whatever type `options` is
        cached = self.results.get(key)
        if cached is not None:
            spent = round((time.perf_counter() - start) * 1000, 3)
            return cached | {"timing_ms": dict.fromkeys(cached["timing_ms"], 0.0) | {"total": spent}}
        generation = self.results.generation
        query, cut = self._check_query(query, "query")
        common = self._common(options)
        lang = self._lang(options.query_lang, "query_lang")
        with self._inflight_lock:
            self._inflight += 1
            # A lone request encodes in its own thread: the hand-off to the batcher thread only pays
            # when other requests are in flight to share the forward pass with.
            misses = self.batcher.encode if self.batcher and self._inflight > 1 else None
        try:
            result = self.retriever.search_batch([query], query_langs=[lang], encode=partial(
                self.query_vectors.encode, encode=misses), **common)[0]
        finally:
            with self._inflight_lock:
                self._inflight -= 1
        payload = self._payload(result, options, cut)
        self.results.put(key, payload, generation)
        return payload

    def search_batch(self, queries: list[str | BatchQuery], options: SearchOptions) -> dict[str, Any]:
        if len(queries) > self.settings.max_batch:
            raise QueryError("queries", f"{len(queries)} queries; the batch limit is {self.settings.max_batch}")
        texts, langs, cuts = [], [], []
        for i, q in enumerate(queries):
            text, lang = (q, options.query_lang) if isinstance(q, str) else (q.query, q.query_lang)
            text, cut = self._check_query(text, f"queries.{i}")
            texts.append(text)
            cuts.append(cut)
            langs.append(self._lang(lang, f"queries.{i}.query_lang" if isinstance(q, BatchQuery) else "query_lang"))
        common = self._common(options)
        start = time.perf_counter()
        results = self.retriever.search_batch(texts, query_langs=langs, encode=self.query_vectors.encode, **common)
        total = round((time.perf_counter() - start) * 1000, 3)
        return {"results": [self._payload(r, options, cut, len(results)) for r, cut in zip(results, cuts, strict=True)],
                "timing_ms": {"total": total, "per_query": round(total / len(results), 3)}}

    def document(self, doc_id: str) -> dict[str, Any] | None:
        doc = self.retriever.store.document(doc_id)
        return None if doc is None else doc.to_dict()

    def start(self) -> None:
        """Take the writer lock again when an app restarts (its shutdown released it); a read-only server
        starts watching for a rebuilt index."""
        if self.settings.writable and self.lock is not None and not self.lock.held:
            self.lock.acquire()
        if not self.settings.writable and self.settings.reload_interval_s > 0 and self._watcher is None:
            self._watching.clear()
            self._watcher = threading.Thread(target=self._watch, name="clir-reload", daemon=True)
            self._watcher.start()

    def close(self) -> None:
        """Release the writer lock and what the store holds for this process alone (the write log stays
        open: every acknowledged write is already on disk; a restarted app reopens the rest)."""
        self._watching.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        if self.lock is not None:
            self.lock.release()
        self.collection.release()

    def _watch(self) -> None:
        """Serve an index another process rebuilt (or wrote to): searches in flight finish on the view they
        hold, later ones see the new index. A check that fails leaves the loaded index serving."""
        while not self._watching.wait(self.settings.reload_interval_s):
            try:
                if self.collection.stale():
                    self.reload()
                    print(f"clir: reloaded {self.collection.display_name}: {len(self.retriever)} documents",
                          file=sys.stderr)
            except (ClirError, OSError) as exc:
                print(f"clir: warning: reloading {self.collection.display_name} failed ({exc}); still serving "
                      "the index loaded before", file=sys.stderr)

    def reload(self) -> None:
        self.collection.reload(verify=self.settings.verify_checksums)
        self.results.clear()
        self.reloads += 1

    def stats(self) -> dict[str, Any]:
        collection = self.writer.stats() if self.writer else self.collection.stats()
        # the index's name, not its absolute path: /stats is no place to map the server's file system
        summary = self.retriever.manifest.summary(self.collection.display_name)
        return summary | {"documents": collection["documents"], "languages": collection["languages"],
                          "collection": collection,
            "uptime_s": round(time.time() - self.started, 1),
            "reloads": self.reloads,
            "caches": {"query_vectors": self.query_vectors.stats(), "results": self.results.stats()},
            "micro_batching": None if self.batcher is None else
            {"batches": self.batcher.batches, "queries": self.batcher.encoded},
        }
