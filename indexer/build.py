"""Build an index directory from a stream of documents.

Everything is written into a temporary directory beside the target and renamed into place only
when complete, so a build that fails or is killed never leaves a partial index at the target path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

import clir
from clir.encoders.models import DEFAULT_BATCH_SIZE, DEFAULT_ENCODER, Encoder, load_encoder
from clir.errors import ClirError, ConfigError
from clir.files import WriterLock, install_dir, recover, scratch_dir, update_sha256
from clir.index.manifest import FORMAT_VERSION, MANIFEST, Manifest, load_manifest, write_manifest
from clir.index.params import BM25Params, DenseParams
from clir.index.target import QdrantTarget, require_qdrant
from clir.index.writer import IndexWriter
from clir.records import Document, passage_text
from clir.text.analyzers import ANALYZER_VERSION, analyze_batch
from clir.text.langid import detect_langs
from indexer.encoding import EncodedBatch, encode_here
from indexer.ray_build import CorpusSpec, RayOptions, RayReport, encode_on_ray
from indexer.xqg.augment import Augmenter
from indexer.xqg.config import XQGConfig

if TYPE_CHECKING:
    from clir.index.qdrant_build import QdrantWriter

log = logging.getLogger("clir.indexer")


@dataclass
class BuildConfig:
    encoder: str = DEFAULT_ENCODER
    batch_size: int = DEFAULT_BATCH_SIZE
    dense: DenseParams = field(default_factory=DenseParams)
    bm25: BM25Params = field(default_factory=BM25Params)
    xqg: XQGConfig | None = None
    show_progress: bool = True
    ray: RayOptions | None = None  # encode on a Ray cluster (the index is the same)


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ConfigError(f"{out}: refusing to replace a non-empty directory that is not a clir index")


def settings_fingerprint(config: BuildConfig, encoder_name: str, corpus_info: dict[str, Any], dense_kind: str) -> str:
    """sha256 of everything that shapes an index: with the corpus's own sha256, equal fingerprints mean
    rebuilding would produce the same index (progress bars and cache locations do not count).
    `dense_kind` is the FAISS kind built (`auto` resolved)."""
    xqg = None
    if config.xqg is not None:
        xqg = {k: v for k, v in asdict(config.xqg).items() if k != "cache"}
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
        from clir.index.qdrant_build import is_built

        return is_built(out, settings_fingerprint(config, encoder_name, corpus_info, "qdrant"))
    try:
        manifest = load_manifest(out, verify=True)
    except ClirError:
        return False
    # the same corpus resolves `auto` to the same kind, so the existing index's kind is the one to check
    fingerprint = settings_fingerprint(config, encoder_name, corpus_info, manifest.dense_kind)
    return manifest.raw.get("build", {}).get("settings_sha256") == fingerprint


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

    def __init__(self, writer: IndexWriter | QdrantWriter, config: BuildConfig, augmenter: Augmenter | None) -> None:
        self.augmenter = augmenter
        self.config = config
        self.writer = writer
        self.lang_source: Counter[str] = Counter()

    def _side_work(self, batch: list[Document], generated: list[list[tuple[str, str]]] | None) -> None:
        """Language resolution, BM25 analysis and storage: runs while the next batch is encoded."""
        texts = [passage_text(d) for d in batch]
        missing = [i for i, d in enumerate(batch) if not d.lang]
        langs: list[str | None] = [d.lang.lower() if d.lang else None for d in batch]
        for i, (lang, _prob) in zip(missing, detect_langs([texts[i] for i in missing]), strict=True):
            langs[i] = lang
        self.lang_source.update(given=len(batch) - len(missing), detected=len(missing))
        tokens = analyze_batch(texts, langs)
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


def _encoded(docs: Iterable[Document], source: CorpusSpec | None, writer: IndexWriter | QdrantWriter,
             encoder: Encoder, augmenter: Augmenter | None, config: BuildConfig, report: RayReport
             ) -> Iterator[EncodedBatch]:
    """The build's batches, encoded here or on the Ray cluster."""
    if config.ray is None or source is None:
        yield from encode_here(docs, writer, encoder, augmenter, config.batch_size)
        return
    for batch in encode_on_ray(source, config.ray, config.encoder, config.xqg,
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
        augmenter = Augmenter.for_index(config.xqg, out) if config.xqg else None
        writer = IndexWriter(tmp, encoder.dim, config.dense, config.bm25, config.show_progress)
        builder = _Builder(writer, config, augmenter)
        report = RayReport()
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
             seconds: float, report: RayReport) -> dict[str, Any]:
    """The manifest entries every build writes (the files' checksums aside)."""
    n = parts["counts"]["documents"]
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clir_version": clir.__version__,
        "encoder": {"name": encoder.name, "dim": encoder.dim, "max_query_tokens": encoder.max_tokens,
                    "max_passage_tokens": encoder.max_passage_tokens},
        "corpus": corpus_info or {},
        **parts,
        "build": {"batch_size": config.batch_size, "seconds": round(seconds, 3),
                  "settings_sha256": settings_fingerprint(config, encoder.name, corpus_info or {},
                                                        parts["dense"]["kind"]),
                  "docs_per_s": round(n / seconds, 2) if seconds else None,
                  **({"ray": report.summary()} if config.ray else {})},
    }


def _build_qdrant(docs: Iterable[Document], target: QdrantTarget, config: BuildConfig, encoder: Encoder,
                  total: int | None, corpus_info: dict[str, Any] | None, source: CorpusSpec | None) -> Manifest:
    """Stream points into the build's own collection (resuming it), then switch the alias to it."""
    require_qdrant()
    from clir.index.qdrant_build import QdrantWriter

    started = time.perf_counter()
    fingerprint = settings_fingerprint(config, encoder.name, corpus_info or {}, "qdrant")
    writer = QdrantWriter(target, encoder.dim, config.bm25, fingerprint, config.show_progress)
    try:
        home = target.path or Path.cwd()
        augmenter = Augmenter.for_index(config.xqg, home / target.collection) if config.xqg else None
        builder = _Builder(writer, config, augmenter)
        report = RayReport()
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
