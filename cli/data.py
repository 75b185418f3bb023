"""`clir data`: import evaluation data (Tatoeba, XQuAD-R) into BEIR folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.args import Parser, positive_int


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("data", help="import evaluation data into BEIR folders")
    data_sub = p.add_subparsers(dest="dataset", required=True, parser_class=Parser)
    t = data_sub.add_parser("tatoeba", help="English queries -> documents in another language")
    t.add_argument("--src", required=True, type=Path)
    t.add_argument("--pair", default=None, help="e.g. fra-eng")
    t.add_argument("--pool", action="store_true",
                   help="instead of one pair: all 16 non-English sides in one collection, --per-pair English "
                        "queries from each pair (one relevant document each)")
    t.add_argument("--per-pair", type=positive_int, default=125)
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--overwrite", action="store_true")
    t.set_defaults(func=_cmd_data_tatoeba)
    x = data_sub.add_parser("xquad-r", help="XQuAD-R questions -> paragraphs or answer sentences")
    x.add_argument("--src", required=True, type=Path)
    x.add_argument("--query-lang", default="en")
    x.add_argument("--doc-lang", required=True, help="one language or a comma-separated list (a pool)")
    x.add_argument("--unit", default="paragraph", choices=("paragraph", "sentence"))
    x.add_argument("--out", required=True, type=Path)
    x.add_argument("--overwrite", action="store_true")
    x.set_defaults(func=_cmd_data_xquad)


def _cmd_data_tatoeba(args: argparse.Namespace) -> int:
    from clir.errors import ConfigError
    from indexer.importers import import_tatoeba, import_tatoeba_pool

    if args.pool == bool(args.pair):
        raise ConfigError("clir data tatoeba needs one of --pair xxx-eng or --pool")
    counts = (import_tatoeba_pool(args.src, args.out, per_pair=args.per_pair, overwrite=args.overwrite) if args.pool
              else import_tatoeba(args.src, args.pair, args.out, overwrite=args.overwrite))
    print(f"wrote {args.out}: {counts}")
    return 0


def _cmd_data_xquad(args: argparse.Namespace) -> int:
    from indexer.importers import import_xquad_r

    doc_langs = [lang.strip() for lang in args.doc_lang.split(",") if lang.strip()]
    counts = import_xquad_r(args.src, args.query_lang, doc_langs, args.unit, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {counts}")
    return 0
