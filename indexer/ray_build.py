"""Encoding a corpus on a Ray cluster with Ray Data: the standard way to embed at scale.

The corpus is read by the project's own readers (the same validation, the same one-line errors) in one
read task on the driver's node, where the corpus file is; xQG queries, when configured, are generated
there too (the generator's cache is the driver's). Passages are encoded by `map_batches` actors, each
loading the encoder once (`--ray-actors N`, a GPU each where the cluster has them and the encoder can
use one). Ray Data keeps the batches in corpus order, so the index writer receives them exactly as from a
plain build: the same rows, the same files, the same atomic install.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clir.corpus.readers import CorpusSpec, read_corpus
from clir.encoders.models import load_encoder
from clir.errors import ClirError, ConfigError
from clir.records import Document, content_hash, passage_text
from indexer.xqg.config import XQGConfig

RAY_EXTRA = "--ray needs Ray: pip install 'clir[ray]'"
# The read stage parses and (with xQG) generates; encoding is the work to spread.
READ_CPUS = 0.5


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: `address` is "local" (a Ray instance on this machine, started and stopped
    here), "auto" (the cluster this machine belongs to) or a cluster address (ray://HOST:10001)."""

    address: str = "local"
    actors: int = 2
    batch_size: int = 64
    cpus_per_actor: float = 1.0
    name = "ray"  # the manifest's build entry

    def encode(self, source: CorpusSpec, encoder: str, xqg: Any, xqg_cache: Path | None, written: set[str],
               report: dict[str, Any]) -> Iterator[Any]:
        """The build's batches, encoded by this cluster's actors (clir.index.build.RemoteEncoding)."""
        progress = RayReport()
        yield from encode_on_ray(source, self, encoder, xqg, xqg_cache, written, progress)
        report.update(progress.summary())


@dataclass
class RayReport:
    """What the summary line says: passages/s overall and per actor."""

    documents: int = 0
    ray_start_s: float | None = None  # joining or starting Ray
    first_batch_s: float | None = None  # that, the actors loading the encoder and encoding their first batch
    encoded: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def summary(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.started
        return {"actors": len(self.encoded), "documents": self.documents, "ray_start_s": self.ray_start_s,
                "first_batch_s": self.first_batch_s,
                "passages_per_s": round(sum(self.encoded.values()) / wall, 2) if wall else None,
                "per_actor_passages_per_s": {a: round(n / self.seconds[a], 2) if self.seconds.get(a) else None
                                             for a, n in sorted(self.encoded.items())}}


def require_ray() -> None:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(RAY_EXTRA) from None


def _source(spec: CorpusSpec, block_rows: int, written: Any, xqg: XQGConfig | None, xqg_cache: Path | None) -> Any:
    import pyarrow as pa
    import ray
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    def read() -> Iterator[Any]:
        done: set[str] = ray.get(written) if written is not None else set()
        augmenter = None
        if xqg is not None and xqg_cache is not None:
            from indexer.xqg.config import Augmenter

            augmenter = Augmenter(xqg, xqg_cache)
        batch: list[Document] = []
        for doc in read_corpus(spec.path, spec.fmt, clirudit_split=spec.clirudit_split):
            batch.append(doc)
            if len(batch) == block_rows:
                yield _block(pa, batch, done, augmenter)
                batch = []
        if batch:
            yield _block(pa, batch, done, augmenter)

    class CorpusSource(Datasource):
        @property
        def supports_distributed_reads(self) -> bool:
            return False  # the corpus is a file on the driver's machine

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[Any]:
            meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=(str(spec.path),))
            return [ReadTask(read, meta)]

    return CorpusSource()


def _block(pa: Any, batch: list[Document], done: set[str], augmenter: Any) -> Any:
    generated = augmenter.queries(batch) if augmenter is not None else None
    return pa.table({
        "doc": [json.dumps(asdict(d), ensure_ascii=False) for d in batch],
        "fresh": [content_hash(d) not in done for d in batch],
        "generated": [json.dumps(g) for g in generated] if generated is not None else [""] * len(batch),
    })


class PassageEncoder:
    """One Ray actor: loads the encoder once, then encodes the fresh passages of each batch (blended with
    their generated queries under xQG)."""

    def __init__(self, spec: str, batch_size: int, xqg: XQGConfig | None) -> None:
        self.encoder = load_encoder(spec)
        self.batch_size, self.xqg = batch_size, xqg
        self.name = f"{os.uname().nodename}:{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from indexer.xqg.augment import blend_queries

        started = time.perf_counter()
        fresh = batch["fresh"].astype(bool)
        docs = [Document(**json.loads(d)) for d in batch["doc"]]
        texts = [passage_text(d) for d, f in zip(docs, fresh, strict=True) if f]
        vectors = np.zeros((len(docs), self.encoder.dim), dtype=np.float32)
        if texts:
            encoded = self.encoder.encode_passages(texts, batch_size=self.batch_size)
            if self.xqg is not None:
                per_doc = [[tuple(q) for q in json.loads(g)] for g, f in zip(batch["generated"], fresh, strict=True)
                           if f]
                encoded = blend_queries(self.xqg.alpha, self.xqg.aggregate, encoded, per_doc, self.encoder)
            vectors[fresh] = encoded
        seconds = time.perf_counter() - started
        return {**batch, "vector": vectors, "actor": np.full(len(docs), self.name),
                "seconds": np.full(len(docs), seconds / max(len(docs), 1))}


def _connect(options: RayOptions) -> bool:
    """Join or start Ray; True when this process started it (and stops it at the end)."""
    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the build's own bar and summary say it
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    local = options.address == "local"
    try:
        if local:  # room for the actors and the read stage
            ray.init(num_cpus=math.ceil(options.actors * options.cpus_per_actor + READ_CPUS), **quiet)  # type: ignore[arg-type]
        else:
            ray.init(address=options.address, **quiet)  # type: ignore[arg-type]
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"--ray {options.address}: cannot join the Ray cluster ({str(exc).splitlines()[0]})") \
            from None
    return True


def encode_on_ray(spec: CorpusSpec, options: RayOptions, encoder_spec: str, xqg: XQGConfig | None,
                  xqg_cache: Path | None, written: set[str], report: RayReport) -> Iterator[Any]:
    """`EncodedBatch`es in corpus order, encoded by the cluster's actors."""
    require_ray()
    import ray
    from ray.exceptions import RayError

    from clir.index.build import EncodedBatch

    started_here = _connect(options)
    report.ray_start_s = round(time.perf_counter() - report.started, 3)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # rows in corpus order, as the writer expects
        ctx.enable_progress_bars = False  # the build's own bar counts documents
        resources = ray.cluster_resources()
        gpus = 1 if encoder_spec.startswith("st:") and resources.get("GPU", 0) >= options.actors else 0
        # the actors share what the read stage leaves (a 2-CPU machine runs two actors at 0.75 each)
        cpus = min(options.cpus_per_actor, (resources.get("CPU", 0) - READ_CPUS) / options.actors)
        if cpus <= 0:
            raise ConfigError(f"--ray {options.address}: the cluster has {resources.get('CPU', 0)} CPUs, too few "
                              f"for {options.actors} actors and the read stage")
        written_ref = ray.put(written) if written else None
        ds = ray.data.read_datasource(_source(spec, options.batch_size, written_ref, xqg, xqg_cache),
                                      num_cpus=READ_CPUS)
        ds = ds.map_batches(PassageEncoder, fn_constructor_args=(encoder_spec, options.batch_size, xqg),
                            compute=ray.data.ActorPoolStrategy(size=options.actors), batch_size=options.batch_size,
                            num_gpus=gpus, num_cpus=cpus)
        try:
            for b in ds.iter_batches(batch_size=None, batch_format="numpy"):
                fresh = b["fresh"].astype(bool)
                for actor, seconds, new in zip(b["actor"], b["seconds"], fresh, strict=True):
                    report.encoded[str(actor)] += int(new)
                    report.seconds[str(actor)] = report.seconds.get(str(actor), 0.0) + float(seconds)
                report.documents += len(fresh)
                if report.first_batch_s is None:
                    report.first_batch_s = round(time.perf_counter() - report.started, 3)
                generated = [[tuple(q) for q in json.loads(g)] for g in b["generated"]] if xqg is not None else None
                yield EncodedBatch([Document(**json.loads(d)) for d in b["doc"]], fresh.tolist(), generated,
                                   np.asarray(b["vector"], dtype=np.float32)[fresh])
        except RayError as exc:  # a reader's one-line error, raised in the read task
            cause = getattr(exc, "cause", None)
            if isinstance(cause, ClirError):  # the reader's line, without what Ray appends to it
                raise type(cause)(str(cause).splitlines()[0]) from None
            raise
    finally:
        if started_here:
            ray.shutdown()
