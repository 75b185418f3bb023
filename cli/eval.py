"""`clir eval`: evaluate configurations of one index (or a running service) on a dataset, or merge
earlier evaluations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.args import add_backend_args, backend_settings, index_target, positive_int
from clir.corpus.formats import DATASET_FORMATS
from clir.errors import ConfigError
from clir.search.options import DEFAULT_DEPTH
from eval.configs import CONFIGS, EVAL_BATCH, resolve_configs

# Evaluating loads the encoder, FAISS, pyarrow and ir-measures: `run` imports them, so other commands need not.


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="evaluate an index on a test collection (TREC runs, measures, report)")
    p.add_argument("--index", type=Path, help="index directory (in-process evaluation)")
    p.add_argument("--server", default=None, metavar="URL", help="evaluate through a running service instead")
    p.add_argument("--api-key", default=None, help="X-API-Key for --server (default: $CLIR_API_KEY)")
    p.add_argument("--dataset", type=Path, help="BEIR folder or folder of CLIRudit parquet files")
    p.add_argument("--dataset-format", default="auto", choices=("auto", *DATASET_FORMATS))
    p.add_argument("--split", default="test", help="qrels split (CLIRudit: en_fr.test by default)")
    p.add_argument("--clirudit-docs", default=None, help="CLIRudit docs split holding the judged documents")
    p.add_argument("--configs", default="dense,sparse,hybrid", help=f"comma-separated, from {', '.join(CONFIGS)}")
    p.add_argument("--baseline", default="dense", help="config the others are tested against")
    p.add_argument("--depth", type=positive_int, default=DEFAULT_DEPTH, help="documents retrieved per query")
    p.add_argument("--batch-size", type=positive_int, default=EVAL_BATCH, help="queries per search batch")
    p.add_argument("--max-queries", type=positive_int, default=None, help="evaluate a reproducible sample")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--embed-cache", type=Path, default=None, help="reuse query vectors from this cache folder")
    p.add_argument("--compare", type=Path, nargs="+", metavar="OUT", help="merge earlier eval folders instead")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quiet", action="store_true")
    add_backend_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eval.dataset import load_dataset
    from eval.report import build_metrics, compare, write_per_query, write_report
    from eval.runner import run_evaluation
    from eval.searchers import open_local

    if args.compare:
        merged = compare(args.compare, args.out)
        print(f"compared {len(merged['configs'])} runs into {args.out}/report.md")
        return 0
    settings = backend_settings(args)
    local = bool(args.index) or settings.backend == "qdrant"
    if not args.dataset or local == bool(args.server):
        raise ConfigError("clir eval needs --dataset and one of --index DIR, --backend qdrant or --server URL "
                          "(or --compare OUT...)")
    configs = resolve_configs([c.strip() for c in args.configs.split(",") if c.strip()])
    baseline = args.baseline if args.baseline in configs else None
    if args.server:
        from eval.client import RemoteSearcher

        if args.api_key:
            print("clir: warning: --api-key shows the key in process lists and shell history; prefer "
                  "CLIR_API_KEY in the environment", file=sys.stderr)
        key = settings.api_key.get_secret_value() if settings.api_key else None
        searcher: Any = RemoteSearcher(args.server, args.api_key or key)
        summary = searcher.summary()
    else:
        searcher = open_local(index_target(args, args.index, "--index"), args.embed_cache)
        summary = searcher.summary()
    dataset = load_dataset(args.dataset, fmt=args.dataset_format, split=args.split, max_queries=args.max_queries,
                           sample_seed=args.sample_seed, clirudit_docs=args.clirudit_docs)
    run = run_evaluation(searcher, dataset, configs, args.out, depth=args.depth, batch_size=args.batch_size,
                         show_progress=not args.quiet)
    metrics = build_metrics(
        run,
        dataset={"path": str(dataset.path), "format": dataset.format, "split": dataset.split},
        index=summary,
        baseline=baseline,
        warnings=dataset.warnings.to_dict(),
        settings={"depth": args.depth, "configs": {name: repr(opts) for name, opts in configs.items()},
                  "max_queries": args.max_queries,
                  "sample_seed": args.sample_seed, "batch_size": args.batch_size},
    )
    write_per_query(run, args.out / "per_query.tsv")
    write_report(metrics, args.out)
    summary = ", ".join(f"{c} nDCG@10 {v['nDCG@10']:.4f} RR@10 {v['RR@10']:.4f}" for c, v in metrics["configs"].items())
    print(f"{metrics['queries']} queries in {metrics['wall_time_s']}s: {summary}")
    for kind, w in metrics["warnings"].items():
        print(f"warning: {kind}: {w['count']}")
    print(f"wrote {args.out}/report.md")
    return 0
