"""Language balance on multilingual pools: the XQuAD-R 11-language pool with questions in each language, and
the Tatoeba pool (16 languages, one relevant document per query), with and without balance.

    python bench/pool_balance.py --shared ../shared/data --work runs/dev

Imports the datasets (`clir data`), builds the two pool indexes (vectors through WORK/cache), then runs
`clir eval` with dense-plain, dense, hybrid-plain and hybrid (the default) and prints nDCG@10 / RR@10 per
query language. de, es and zh are the tuning languages; the others are acceptance data, reported only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
TUNING = ("de", "es", "zh")
CONFIGS = ("dense-plain", "dense", "hybrid-plain", "hybrid")


def clir(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, check=True, timeout=7200,
                   stdout=subprocess.DEVNULL)


def evaluate(index: Path, data: Path, out: Path, cache: Path) -> dict[str, dict[str, float]]:
    if not (out / "metrics.json").is_file():
        clir("eval", "--index", str(index), "--dataset", str(data), "--configs", ",".join(CONFIGS), "--out", str(out),
             "--embed-cache", str(cache), "--quiet")
    return json.loads((out / "metrics.json").read_text())["configs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    work, cache = args.work / "pools", args.work / "cache"
    rows = []
    pool_index = work / "indexes" / "xquad-pool11"
    for lang in XQUAD_LANGS:
        data = work / "datasets" / f"xquad-{lang}-pool11"
        if not data.is_dir():
            clir("data", "xquad-r", "--src", str(args.shared / "xquad-r"), "--query-lang", lang, "--doc-lang",
                 ",".join(XQUAD_LANGS), "--unit", "paragraph", "--out", str(data))
        if not pool_index.is_dir():
            clir("index", "--corpus", str(data), "--out", str(pool_index), "--embed-cache", str(cache), "--quiet")
        m = evaluate(pool_index, data, work / "eval" / f"xquad-{lang}", cache)
        rows.append((f"XQuAD-R pool, {lang} questions" + (" (tuning)" if lang in TUNING else ""), m))
    tatoeba = work / "datasets" / "tatoeba-pool"
    if not tatoeba.is_dir():
        clir("data", "tatoeba", "--src", str(args.shared / "tatoeba"), "--pool", "--out", str(tatoeba))
    tatoeba_index = work / "indexes" / "tatoeba-pool"
    if not tatoeba_index.is_dir():
        clir("index", "--corpus", str(tatoeba), "--out", str(tatoeba_index), "--embed-cache", str(cache), "--quiet")
    rows.append(("Tatoeba pool, en questions (one relevant document)",
                 evaluate(tatoeba_index, tatoeba, work / "eval" / "tatoeba-pool", cache)))
    print("| collection | " + " | ".join(f"{c} nDCG@10 / RR@10" for c in CONFIGS) + " |")
    print("|---" * (len(CONFIGS) + 1) + "|")
    for name, m in rows:
        print(f"| {name} | " + " | ".join(f"{m[c]['nDCG@10']:.3f} / {m[c]['RR@10']:.3f}" for c in CONFIGS) + " |")
    accept = [m for (name, m), lang in zip(rows, XQUAD_LANGS, strict=False) if lang not in TUNING]
    gain = sum(m["hybrid"]["nDCG@10"] - m["dense-plain"]["nDCG@10"] for m in accept) / len(accept)
    print(f"\nacceptance languages (8): macro nDCG@10 gain of the default (hybrid) over plain dense: {gain:+.3f}")


if __name__ == "__main__":
    main()
