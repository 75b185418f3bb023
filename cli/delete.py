"""`clir delete`: delete documents from an index by id, without a rebuild."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.args import add_backend_args, index_target
from clir.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("delete", help="delete documents from an index by id")
    p.add_argument("--index", type=Path, default=None, help="index directory")
    p.add_argument("--ids", type=Path, default=None, help="a file of ids, one per line")
    p.add_argument("id", nargs="*", help="document ids")
    add_backend_args(p)
    p.set_defaults(func=run)


def _ids(args: argparse.Namespace) -> list[str]:
    ids = list(args.id)
    if args.ids is not None:
        try:
            ids += [line.strip() for line in args.ids.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{args.ids}: cannot read ids ({exc})") from None
    if not ids:
        raise ConfigError("clir delete needs ids (arguments or --ids FILE)")
    return ids


def run(args: argparse.Namespace) -> int:
    from clir import Index

    ids = _ids(args)
    with Index.open(index_target(args, args.index, "--index"), writable=True, owner="clir delete") as index:
        index.store.auto_compact = False
        deleted = index.delete(ids)
    missing = len(set(ids)) - len(deleted)
    print(f"{index.store.location}: {len(deleted)} deleted" + (f", {missing} not found" if missing else ""))
    return 0
