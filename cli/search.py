"""`clir search`: search an index from the terminal (text lines, or one JSON object)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.args import add_backend_args, index_target, non_negative_int, positive_int
from clir.search.options import DEFAULT_K, MODES


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("search", help="search an index")
    p.add_argument("--index", type=Path, default=None, help="index directory")
    p.add_argument("--mode", default="hybrid", choices=MODES)
    p.add_argument("--k", type=positive_int, default=DEFAULT_K)
    p.add_argument("--offset", type=non_negative_int, default=0, help="hits to skip: --offset 10 is page 2")
    p.add_argument("--snippet", action="store_true",
                   help="show each hit's text around the query's matching terms, marked «like this» (docs/api.md)")
    p.add_argument("--depth", type=positive_int, default=None, help="candidates per list before fusion")
    p.add_argument("--lang", default=None, help="query language (ISO 639-1); detected when omitted")
    p.add_argument("--encoder", default=None, help="query encoder; must equal the index's (default: the index's)")
    p.add_argument("--json", action="store_true", help="print one JSON object (the service's /search response)")
    p.add_argument("--no-language-balance", action="store_true",
                   help="in a multilingual collection, do not balance document languages (docs/fusion.md)")
    p.add_argument("query")
    add_backend_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clir import Index
    from clir.search.render import result_lines, result_payload

    index = Index.open(index_target(args, args.index, "--index"), encoder=args.encoder)
    result = index.search(args.query, k=args.k, mode=args.mode, query_lang=args.lang, depth=args.depth,
                          language_balance=not args.no_language_balance, offset=args.offset)
    snippets = index.retriever.snippets(result) if args.snippet else None
    if args.json:
        print(json.dumps(result_payload(result, snippets=snippets), ensure_ascii=False))
    else:
        print(f"query: {result.query!r} (lang: {result.query_lang or 'unknown'}, mode: {args.mode})")
        print("\n".join(result_lines(result, snippets=snippets)))
    index.close()
    return 0
