"""`clir compact`: fold pending writes and deletions into new index files."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compact", help="fold pending writes and deletions into new index files")
    p.add_argument("--index", required=True, type=Path)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clir import Index

    with Index.open(args.index, writable=True, owner="clir compact") as index:
        folded = index.compact(show_progress=not args.quiet)
    if not folded:
        print(f"{args.index}: nothing to compact")
    else:
        print(f"{args.index}: compacted into {folded['documents']} documents in {folded['seconds']}s")
    return 0
