"""metrics.json, report.md, report.svg and per-query values from an evaluation; merging several."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clir.errors import ClirError
from eval.chart import render_chart
from eval.measures import MEASURE_NAMES, means, randomization_test
from eval.runner import EvalRun

N_PERMUTATIONS = 10_000


def _pair_labels(run: EvalRun) -> list[str]:
    return [f"{q}->{d}" for q, d in zip(run.query_langs, run.doc_langs, strict=True)]


def build_metrics(run: EvalRun, *, dataset: dict[str, Any], index: dict[str, Any], baseline: str | None,
                  warnings: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    configs = list(run.values)
    matrices = {c: run.matrix(c) for c in configs}
    pairs = np.array(_pair_labels(run))
    per_language: dict[str, dict[str, Any]] = {}
    for c in configs:
        per_language[c] = {}
        for pair in sorted(set(pairs.tolist())):
            mask = pairs == pair
            per_language[c][pair] = {"queries": int(mask.sum()), **means(matrices[c][mask])}
    per_doc_lang = {c: {lang: {"queries": len(m), **means(m)} for lang, m in run.doc_lang_matrices(c).items()}
                    for c in configs}
    significance: dict[str, Any] = {}
    if baseline and baseline in matrices:
        significance = {
            "baseline": baseline,
            "test": f"paired two-sided randomization test, {N_PERMUTATIONS} permutations, seed 0",
            "p_values": {
                c: {m: randomization_test(matrices[c][:, j], matrices[baseline][:, j], N_PERMUTATIONS)
                    for j, m in enumerate(MEASURE_NAMES)}
                for c in configs if c != baseline
            },
        }
    return {
        "configs": {c: means(matrices[c]) for c in configs},
        "per_language": per_language,
        "per_document_language": per_doc_lang if any(per_doc_lang.values()) else {},
        "significance": significance,
        "dataset": dataset,
        "index": index,
        "queries": len(run.qids),
        "warnings": warnings,
        "settings": settings,
        "wall_time_s": round(run.seconds, 3),
    }


def write_per_query(run: EvalRun, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\t".join(["config", "qid", "query_lang", "doc_lang", *MEASURE_NAMES]) + "\n")
        for config in run.values:
            matrix = run.matrix(config)
            for i, qid in enumerate(run.qids):
                cells = [config, qid, run.query_langs[i], run.doc_langs[i], *(repr(float(v)) for v in matrix[i])]
                fh.write("\t".join(cells) + "\n")


def _fmt(value: float, p: float | None = None) -> str:
    if p is None:
        return f"{value:.4f}"
    mark = "*" if p < 0.05 else ""
    return f"{value:.4f} (p={p:.3g}){mark}"


def render_markdown(metrics: dict[str, Any], title: str = "Evaluation") -> str:
    sig = metrics.get("significance") or {}
    pvals = sig.get("p_values", {})
    index = metrics["index"]
    encoder = (index.get("encoder") or {}).get("name")
    lines = [f"# {title}", "",
             f"Dataset `{metrics['dataset'].get('path')}` (split {metrics['dataset'].get('split')}), "
             f"{metrics['queries']} queries; index `{index.get('index')}` "
             f"({index.get('documents')} documents, encoder {encoder}). "
             f"Wall time {metrics['wall_time_s']} s.", ""]
    if sig:
        lines += [f"p-values: {sig['test']} against `{sig['baseline']}`; * marks p < 0.05.", ""]
    lines += ["| config | " + " | ".join(MEASURE_NAMES) + " |", "|---" * (len(MEASURE_NAMES) + 1) + "|"]
    for config, values in metrics["configs"].items():
        cells = [_fmt(values[m], pvals.get(config, {}).get(m)) for m in MEASURE_NAMES]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    pairs = sorted({p for per in metrics["per_language"].values() for p in per})
    configs = list(metrics["configs"])
    lines += ["", "## Per language pair (query -> relevant documents): nDCG@10 / RR@10", "",
              "| pair | queries | " + " | ".join(configs) + " |", "|---" * (len(configs) + 2) + "|"]
    for pair in pairs:
        first = metrics["per_language"][configs[0]].get(pair, {})
        cells = [f"{metrics['per_language'][c][pair]['nDCG@10']:.4f} / {metrics['per_language'][c][pair]['RR@10']:.4f}"
                 for c in configs]
        lines.append(f"| {pair} | {first.get('queries', 0)} | " + " | ".join(cells) + " |")
    by_doc = metrics.get("per_document_language") or {}
    if by_doc:
        langs = sorted({lang for per in by_doc.values() for lang in per})
        lines += ["", "## Per relevant-document language: AP@100 / RR@10 / R@100",
                  "", "Queries whose relevant documents span languages, judged on one language's relevant "
                  "documents at a time: how well each language's copy is ranked.", "",
                  "| document language | queries | " + " | ".join(configs) + " |", "|---" * (len(configs) + 2) + "|"]
        for lang in langs:
            cells = [f"{by_doc[c][lang]['AP@100']:.4f} / {by_doc[c][lang]['RR@10']:.4f} / "
                     f"{by_doc[c][lang]['R@100']:.4f}" for c in configs]
            lines.append(f"| {lang} | {by_doc[configs[0]][lang]['queries']} | " + " | ".join(cells) + " |")
    if metrics.get("warnings"):
        lines += ["", "## Warnings", ""]
        lines += [f"- {kind}: {w['count']} (e.g. {', '.join(w['examples'])})"
                  for kind, w in metrics["warnings"].items()]
    return "\n".join(lines) + "\n"


def write_report(metrics: dict[str, Any], out: Path) -> None:
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(metrics), encoding="utf-8")
    per_pair = {c: {p: v["nDCG@10"] for p, v in per.items()} for c, per in metrics["per_language"].items()}
    render_chart(metrics["configs"], per_pair, out / "report.svg", "Evaluation")


def compare(run_dirs: Sequence[Path], out: Path) -> dict[str, Any]:
    """Merge several evaluation folders into one table and chart (rows: folder/config)."""
    rows: dict[str, dict[str, float]] = {}
    sources: dict[str, Any] = {}
    for run_dir in run_dirs:
        path = Path(run_dir) / "metrics.json"
        if not path.is_file():
            raise ClirError(f"{run_dir}: no metrics.json (not a `clir eval` output folder)")
        metrics = json.loads(path.read_text(encoding="utf-8"))
        for config, values in metrics["configs"].items():
            rows[f"{Path(run_dir).name}/{config}"] = values
        sources[Path(run_dir).name] = {"dataset": metrics.get("dataset"), "queries": metrics.get("queries")}
    out.mkdir(parents=True, exist_ok=True)
    merged = {"configs": rows, "sources": sources}
    (out / "metrics.json").write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    lines = ["# Comparison", "", "| run/config | " + " | ".join(MEASURE_NAMES) + " |",
             "|---" * (len(MEASURE_NAMES) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{v[m]:.4f}" for m in MEASURE_NAMES) + " |" for name, v in rows.items()]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    render_chart(rows, None, out / "report.svg", "Comparison")
    return merged
