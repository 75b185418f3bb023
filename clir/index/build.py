"""Build an index from a stream of documents: a directory (the embedded backend) or a Qdrant collection.

Everything is written into a temporary directory beside the target and renamed into place only
when complete, so a build that fails or is killed never leaves a partial index at the target path.
Query generation (xQG, `indexer/xqg`) and encoding on a Ray cluster (`indexer/ray_build.py`) live above
the core and plug in here: `BuildConfig.xqg` is an `Augmentation`, `BuildConfig.ray` a `RemoteEncoding`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from clir.corpus.readers import CorpusSpec
from clir.encoders.models import DEFAULT_BATCH_SIZE, DEFAULT_ENCODER, Encoder, load_encoder
from clir.errors import ClirError, ConfigError
from clir.files import WriterLock, install_dir, recover, scratch_dir, update_sha256
from clir.index.embedded.writer import IndexWriter
from clir.index.manifest import FORMAT_VERSION, MANIFEST, Manifest, load_manifest, write_manifest
from clir.index.params import BM25Params, DenseParams
from clir.index.prepare import analyse
from clir.index.target import QdrantTarget, require_qdrant
from clir.records import Document, passage_text
from clir.text.analyzers import ANALYZER_VERSION
from clir.version import __version__

log = logging.getLogger("clir.indexer")

# Per document: its generated queries, as (language, query) pairs.
Generated = list[list[tuple[str, str]]]


class BuildAugmenter(Protocol):
    """One build's query generation (indexer/xqg/augment.py's `Augmenter`)."""

    cache_path: Path

    def queries(self, docs: Sequence[Document]) -> Generated:
        """Per document, its generated queries (counted for the manifest)."""
        ...

    def tally(self, per_doc: Generated) -> None:
        """Count queries generated elsewhere (a Ray build's read stage) for the manifest."""
        ...

    def dense(self, passages: np.ndarray, per_doc: Generated, encoder: Encoder) -> np.ndarray:
        """Passage vectors blended with their queries' vectors."""
        ...

    def sparse_tokens(self, per_doc: Generated) -> list[list[str]]:
        """The BM25 tokens each document's queries add."""
        ...

    def manifest(self) -> dict[str, Any]: ...


class Augmentation(Protocol):
    """Query generation's settings (indexer/xqg/config.py's `XQGConfig`)."""

    def fingerprint(self) -> dict[str, Any]:
        """What shapes the index (its settings, cache location aside)."""
        ...

    def augmenter(self, home: Path) -> BuildAugmenter:
        """The generator, loaded, for the index at `home` (its queries cached beside it by default)."""
        ...


class BuildWriter(Protocol):
    """Where a build writes: index files (`IndexWriter`) or Qdrant points (`QdrantWriter`)."""

    def fresh(self, batch: Sequence[Document]) -> list[bool]:
        """Which documents still need encoding (a resumed build holds the others)."""
        ...

    def written(self) -> set[str]:
        """Content hashes of the documents written already."""
        ...

    def add_vectors(self, vectors: np.ndarray, fresh: list[bool]) -> None: ...

    def add_documents(self, docs: list[Document], langs: Sequence[str | None], tokens: list[list[str]]) -> None: ...

    def finish(self) -> dict[str, Any]: ...


@dataclass
class EncodedBatch:
    """A batch of documents on its way to the index: which of them still need encoding (a resumed
    Qdrant build skips the others), their generated queries (xQG), and the vectors of those encoded."""

    docs: list[Document]
    fresh: list[bool]
    generated: Generated | None
    vectors: np.ndarray


class RemoteEncoding(Protocol):
    """Passages encoded off this process (indexer/ray_build.py's `RayOptions`: Ray Data actors)."""

    name: str  # the manifest's build entry records `report` under this name

    def encode(self, source: CorpusSpec, encoder: str, xqg: Augmentation | None, xqg_cache: Path | None,
               written: set[str], report: dict[str, Any]) -> Iterator[EncodedBatch]:
        """`EncodedBatch`es in corpus order (read from `source` there); `report` filled once done."""
        ...


@dataclass
class BuildConfig:
    encoder: str = DEFAULT_ENCODER
    batch_size: int = DEFAULT_BATCH_SIZE
    dense: DenseParams = field(default_factory=DenseParams)
    bm25: BM25Params = field(default_factory=BM25Params)
    xqg: Augmentation | None = None
    show_progress: bool = True
    ray: RemoteEncoding | None = None  # encode on a Ray cluster (the index is the same)


def _batched(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    it = iter(docs)
    while batch := list(itertools.islice(it, size)):
        yield batch


def encode_here(docs: Iterable[Document], writer: BuildWriter, encoder: Encoder,
                augmenter: BuildAugmenter | None, batch_size: int) -> Iterator[EncodedBatch]:
    """Batches encoded in this process, skipping the documents the writer already holds."""
    for batch in _batched(docs, batch_size):
        fresh = writer.fresh(batch)
        texts = [passage_text(d) for i, d in enumerate(batch) if fresh[i]]
        generated = augmenter.queries(batch) if augmenter else None
        vectors = (encoder.encode_passages(texts, batch_size=batch_size) if texts
                   else np.zeros((0, encoder.dim), dtype=np.float32))
        if generated is not None and augmenter is not None:
            vectors = augmenter.dense(vectors, [g for g, f in zip(generated, fresh, strict=True) if f], encoder)
        yield EncodedBatch(batch, fresh, generated, vectors)


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ConfigError(f"{out}: refusing to replace a non-empty directory that is not a clir index")


def settings_fingerprint(config: BuildConfig, encoder_name: str, corpus_info: dict[str, Any], dense_kind: str) -> str:
    """sha256 of everything that shapes an index: with the corpus's own sha256, equal fingerprints mean
    rebuilding would produce the same index (progress bars and cache locations do not count).
    `dense_kind` is the FAISS kind built (`auto` resolved)."""
    xqg = config.xqg.fingerprint() if config.xqg is not None else None
    dense = config.dense.to_dict()
    if dense_kind != "hnsw":
        # shapes only HNSW graphs; left out elsewhere, fingerprints recorded before the option existed
        # stay valid, so an upgrade does not rebuild (re-encode) unchanged flat or IVF indexes
        del dense["hnsw_storage"]
    payload = {"encoder": encoder_name, "dense": dense, "bm25": asdict(config.bm25), "xqg": xqg,
               "corpus": {k: corpus_info.get(k) for k in ("format", "sha256", "clirudit_split")},
               "analyzer_version": ANALYZER_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def is_up_to_date(out: Path | QdrantTarget, config: BuildConfig, encoder_name: str,
                  corpus_info: dict[str, Any]) -> bool:
    """True when `out` is a valid index built from the same corpus with the same settings."""
    if isinstance(out, QdrantTarget):
        require_qdrant()
        from clir.index.qdrant.build import is_built

        return is_built(out, settings_fingerprint(config, encoder_name, corpus_info, "qdrant"))
    try:
        manifest = load_manifest(out, verify=True)
    except ClirError:
        return False
    # the same corpus resolves `auto` to the same kind, so the existing index's kind is the one to check
    fingerprint = settings_fingerprint(config, encoder_name, corpus_info, manifest.dense_kind)
    return bool(manifest.raw.get("build", {}).get("settings_sha256") == fingerprint)


def corpus_fingerprint(path: Path) -> str:
    """sha256 over the corpus file(s): lets deployments skip rebuilding an unchanged corpus."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else file.name.encode())
        update_sha256(digest, file)
    return digest.hexdigest()


class _Builder:
    """Streams encoded batches through language resolution, analysis and the index writer (files in a
    directory, or points in Qdrant)."""

    def __init__(self, writer: BuildWriter, config: BuildConfig, augmenter: BuildAugmenter | None) -> None:
        self.augmenter = augmenter
        self.config = config
        self.writer = writer
        self.lang_source: Counter[str] = Counter()

    def _side_work(self, batch: list[Document], generated: Generated | None) -> None:
        """Language resolution, BM25 analysis and storage: runs while the next batch is encoded."""
        langs, tokens = analyse(batch)
        detected = sum(1 for d in batch if not d.lang)
        self.lang_source.update(given=len(batch) - detected, detected=detected)
        if generated is not None and self.augmenter is not None:
            tokens = [own + extra for own, extra in zip(tokens, self.augmenter.sparse_tokens(generated), strict=True)]
        self.writer.add_documents(batch, langs, tokens)

    def run(self, batches: Iterable[EncodedBatch], total: int | None) -> None:
        bar = tqdm(total=total, desc="index", unit="doc", disable=not self.config.show_progress)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = None
            for b in batches:  # pulling the next batch encodes it, while this one is analysed
                if pending is not None:
                    pending.result()
                self.writer.add_vectors(b.vectors, b.fresh)
                pending = pool.submit(self._side_work, b.docs, b.generated)
                bar.update(len(b.docs))
            if pending is not None:
                pending.result()
        bar.close()

    def finish(self) -> dict[str, Any]:
        parts = self.writer.finish()
        return {**parts, "lang_source": dict(self.lang_source),
                "xqg": self.augmenter.manifest() if self.augmenter else None}


def build_index(
    docs: Iterable[Document],
    out: Path | QdrantTarget,
    config: BuildConfig | None = None,
    *,
    encoder: Encoder | None = None,
    total: int | None = None,
    corpus_info: dict[str, Any] | None = None,
    source: CorpusSpec | None = None,
) -> Manifest:
    """Encode, analyse and store every document; returns the written manifest. A Ray build
    (`config.ray`) reads the corpus from `source` in its own read stage instead of `docs`."""
    config = config or BuildConfig()
    if config.ray is not None and source is None:
        raise ConfigError("a Ray build reads its corpus itself: give the corpus file or folder")
    if isinstance(out, QdrantTarget):
        return _build_qdrant(docs, out, config, encoder or load_encoder(config.encoder), total, corpus_info,
                             source)
    out = Path(out).resolve()
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = WriterLock(out, "clir index")  # one build (or writer) per target: a second one is refused
    lock.acquire()
    try:
        return _build(docs, out, config, encoder or load_encoder(config.encoder), total, corpus_info, source)
    finally:
        lock.release()


def _encoded(docs: Iterable[Document], source: CorpusSpec | None, writer: BuildWriter,
             encoder: Encoder, augmenter: BuildAugmenter | None, config: BuildConfig, report: dict[str, Any]
             ) -> Iterator[EncodedBatch]:
    """The build's batches, encoded here or on the cluster."""
    if config.ray is None or source is None:
        yield from encode_here(docs, writer, encoder, augmenter, config.batch_size)
        return
    for batch in config.ray.encode(source, config.encoder, config.xqg,
                                   augmenter.cache_path if augmenter else None, writer.written(), report):
        if augmenter is not None and batch.generated is not None:
            augmenter.tally(batch.generated)  # generated in the read stage: counted for the manifest here
        yield batch


def _build(docs: Iterable[Document], out: Path, config: BuildConfig, encoder: Encoder, total: int | None,
           corpus_info: dict[str, Any] | None, source: CorpusSpec | None) -> Manifest:
    recover(out)
    tmp = scratch_dir(out, f"building-{os.getpid()}")
    started = time.perf_counter()
    try:
        augmenter = config.xqg.augmenter(out) if config.xqg else None
        writer = IndexWriter(tmp, encoder.dim, config.dense, config.bm25, config.show_progress)
        builder = _Builder(writer, config, augmenter)
        report: dict[str, Any] = {}
        builder.run(_encoded(docs, source, writer, encoder, augmenter, config, report), total)
        parts = builder.finish()
        manifest = write_manifest(tmp, _entries(config, encoder, corpus_info, parts, time.perf_counter() - started,
                                                report))
        install_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built %s: %d documents in %.1fs", out, manifest.documents, manifest.raw["build"]["seconds"])
    return manifest


def _entries(config: BuildConfig, encoder: Encoder, corpus_info: dict[str, Any] | None, parts: dict[str, Any],
             seconds: float, report: dict[str, Any]) -> dict[str, Any]:
    """The manifest entries every build writes (the files' checksums aside)."""
    n = parts["counts"]["documents"]
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clir_version": __version__,
        "encoder": {"name": encoder.name, "dim": encoder.dim, "max_query_tokens": encoder.max_tokens,
                    "max_passage_tokens": encoder.max_passage_tokens},
        "corpus": corpus_info or {},
        **parts,
        "build": {"batch_size": config.batch_size, "seconds": round(seconds, 3),
                  "settings_sha256": settings_fingerprint(config, encoder.name, corpus_info or {},
                                                        parts["dense"]["kind"]),
                  "docs_per_s": round(n / seconds, 2) if seconds else None,
                  **({config.ray.name: report} if config.ray else {})},
    }


def _build_qdrant(docs: Iterable[Document], target: QdrantTarget, config: BuildConfig, encoder: Encoder,
                  total: int | None, corpus_info: dict[str, Any] | None, source: CorpusSpec | None) -> Manifest:
    """Stream points into the build's own collection (resuming it), then switch the alias to it."""
    require_qdrant()
    from clir.index.qdrant.build import QdrantWriter

    started = time.perf_counter()
    fingerprint = settings_fingerprint(config, encoder.name, corpus_info or {}, "qdrant")
    writer = QdrantWriter(target, encoder.dim, config.bm25, fingerprint, config.show_progress)
    try:
        home = target.path or Path.cwd()
        augmenter = config.xqg.augmenter(home / target.collection) if config.xqg else None
        builder = _Builder(writer, config, augmenter)
        report: dict[str, Any] = {}
        builder.run(_encoded(docs, source, writer, encoder, augmenter, config, report), total)
        parts = builder.finish()
        raw = {"format_version": FORMAT_VERSION,
               **_entries(config, encoder, corpus_info, parts, time.perf_counter() - started, report),
               "backend": {"name": "qdrant", "collection": writer.name, "resumed_points": writer.skipped}}
        manifest = Manifest.parse(raw, target.location)
        writer.install(raw)
    finally:
        writer.close()
    log.info("built %s: %d documents (%d already written by an earlier run)", target.location, manifest.documents,
             writer.skipped)
    return manifest
