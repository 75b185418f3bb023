"""A resumable, append-only JSONL cache of generated queries, kept next to an index build.

Query generation is the slow part of an xQG build (hours on a GPU for a large corpus), so every batch
is appended and fsynced as soon as it is generated: a killed build loses at most the batch in flight
and a rerun asks the generator only for what is missing. The first line records the settings; a cache
made with other settings is refused rather than silently mixed in.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clir.errors import ClirError, ConfigError, CorpusError
from clir.records import Document
from indexer.xqg.prompts import Generator

CACHE_FORMAT = 1


class QueryCache:
    """(doc id, lang) -> queries; lines are {"docid", "lang", "queries"}, later lines win."""

    def __init__(self, path: Path, generator_name: str, n: int, prompt: str, seed: int) -> None:
        self.path = Path(path)
        self.generator_name, self.n, self.prompt, self.seed = generator_name, n, prompt, seed
        self.header = {"xqg_query_cache": CACHE_FORMAT, "generator": generator_name, "n": n,
                       "prompt": prompt, "seed": seed}
        self._entries: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keep = self._load() if self.path.exists() else 0
        if not self.path.exists() or self.path.stat().st_size != keep:
            # Drop a line cut short by a kill (or a half-written header) before anything is appended after it.
            with open(self.path, "ab") as f:
                f.truncate(keep)
        if keep == 0:
            self._append([self.header])

    def _load(self) -> int:
        """Read the file; returns the byte length of its complete lines (0: no usable header yet)."""
        good = 0
        with open(self.path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    break  # a truncated last line: ignored, and cut off by the caller
                if lineno == 1:
                    self._check_header(raw)
                elif raw.strip():
                    self._add(raw, lineno)
                good += len(raw)
        return good

    def _check_header(self, raw: bytes) -> None:
        try:
            found = json.loads(raw)
        except ValueError:
            found = None
        if not isinstance(found, dict) or found.get("xqg_query_cache") != CACHE_FORMAT:
            raise ConfigError(f"{self.path} is not an xQG query cache (format {CACHE_FORMAT}); "
                              "delete it or choose another cache path")
        diffs = [f"{key} {_short(found.get(key))} (cache) vs {_short(value)} (now)"
                 for key, value in self.header.items() if found.get(key) != value]
        if diffs:
            raise ConfigError(f"xQG query cache {self.path} was made with other settings: {'; '.join(diffs)}; "
                              "delete it or choose another cache path")

    def _add(self, raw: bytes, lineno: int) -> None:
        try:
            record = json.loads(raw)
            key = (str(record["docid"]), str(record["lang"]))
            queries = record["queries"]
            if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
                raise TypeError("queries")
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{self.path}:{lineno}: damaged xQG cache line ({type(exc).__name__}: {exc}); "
                              "delete the cache to regenerate") from None
        self._entries[key] = queries

    def _append(self, records: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
        with open(self.path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def get(self, doc_id: str, lang: str) -> list[str] | None:
        queries = self._entries.get((doc_id, lang))
        return None if queries is None else list(queries)

    def put_many(self, items: list[tuple[str, str, list[str]]]) -> None:
        """Store (doc id, lang, queries) triples; durable on disk when this returns."""
        if not items:
            return
        with self._lock:
            self._append([{"docid": d, "lang": lang, "queries": list(qs)} for d, lang, qs in items])
            for doc_id, lang, queries in items:
                self._entries[(doc_id, lang)] = list(queries)

    def __len__(self) -> int:
        return len(self._entries)


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def generate_with_cache(generator: Generator, cache: QueryCache, docs: Sequence[Document], langs: Sequence[str],
                        n: int) -> dict[str, dict[str, list[str]]]:
    """doc id -> lang -> queries; only pairs missing from the cache reach the generator (one call per lang)."""
    if generator.name != cache.generator_name or n != cache.n:
        raise ConfigError(f"xQG query cache {cache.path} belongs to {cache.generator_name!r} with n={cache.n}, "
                          f"not {generator.name!r} with n={n}")
    first: dict[str, Document] = {}
    for doc in docs:
        first.setdefault(doc.id, doc)
    unique = list(first.values())
    for lang in langs:
        todo = [doc for doc in unique if cache.get(doc.id, lang) is None]
        if not todo:
            continue
        fresh = generator.generate(todo, lang, n)
        if len(fresh) != len(todo):
            raise ClirError(f"xQG generator {generator.name!r} returned {len(fresh)} results for {len(todo)} docs")
        cache.put_many([(doc.id, lang, list(queries)[:n]) for doc, queries in zip(todo, fresh, strict=True)])
    return {doc.id: {lang: cache.get(doc.id, lang) or [] for lang in langs} for doc in unique}
