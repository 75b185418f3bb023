"""`clir add`: add or replace documents in an index, from a corpus in any format, without a rebuild."""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cli.args import add_backend_args, add_ray_args, index_target, positive_int, ray_options
from clir.corpus.formats import FORMATS
from clir.encoders.models import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from clir.records import Document, Vectors


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("add", help="add or replace documents in an index (upsert by id)")
    p.add_argument("--index", type=Path, default=None, help="index directory")
    p.add_argument("--corpus", required=True, type=Path, help="corpus file or folder")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    p.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                   help="documents per durable write (and encoder batch)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_ray_args(p)
    add_backend_args(p)
    p.set_defaults(func=run)


def _batches(args: argparse.Namespace, fmt: str, encoder: str) -> Iterator[tuple[list[Document], Vectors | None]]:
    """Batches of the corpus, each one durable write; with --ray, with their vectors encoded on the cluster."""
    from clir.corpus.readers import read_corpus

    options = ray_options(args)
    if options is None:
        docs = iter(read_corpus(args.corpus, fmt))
        while batch := list(itertools.islice(docs, args.batch_size)):
            yield batch, None
        return
    from clir.corpus.readers import CorpusSpec
    from indexer.ray_build import RayReport, encode_on_ray

    for b in encode_on_ray(CorpusSpec(args.corpus, fmt), options, encoder, None, None, set(), RayReport()):
        yield b.docs, b.vectors


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from clir import Index
    from clir.corpus.readers import count_records, detect_format
    from indexer.xqg.live import live_augmenter

    target = index_target(args, args.index, "--index")
    fmt = detect_format(args.corpus) if args.format == "auto" else args.format
    with Index.open(target, writable=True, owner="clir add") as index:
        index.store.auto_compact = False  # `clir compact` (or a server) folds them in
        index.augmenter = augmenter = live_augmenter(index.manifest.raw)
        bar = tqdm(total=count_records(args.corpus, fmt), desc="add", unit="doc", disable=args.quiet)
        created = updated = unaugmented = 0
        for batch, vectors in _batches(args, fmt, index.manifest.encoder_name):
            written = index.upsert(batch, vectors=vectors, batch_size=args.batch_size)
            created, updated = created + written.created, updated + written.updated
            unaugmented += len(written.unaugmented)
            bar.update(len(batch))
        bar.close()
        stats = index.stats()
    print(f"{index.store.location}: {created} created, {updated} updated; {stats['documents']} documents"
          + (f", {stats['pending_documents']} pending and {stats['deleted_not_compacted']} deleted not compacted"
             if "deleted_not_compacted" in stats else ""))
    if unaugmented and augmenter is not None:
        print(f"warning: {unaugmented} document(s) added without query-generation augmentation "
              f"({augmenter.unavailable or 'the generator returned no queries for them'})", file=sys.stderr)
    return 0
