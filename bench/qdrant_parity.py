"""The qdrant backend against the embedded index: the sample corpus's top-10 lists compared query by query,
then `clir index` and `clir eval` on eval-dev collections on both backends (Qdrant in local mode: no server
runs here), nDCG@10 and RR@10 side by side.

    python -m bench.qdrant_parity --work runs/dev [--datasets xquad-en-de,xquad-en-pool11]

Needs the eval-dev datasets (`make eval-dev` or bench/eval_dev.py writes them under WORK/datasets); reuses
WORK/cache for passage and query vectors, so both backends index the same vectors.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = "dense,sparse,hybrid"


def clir(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, check=True, timeout=7200)


def metrics(out: Path) -> dict[str, dict[str, float]]:
    return json.loads((out / "metrics.json").read_text())["configs"]


def sample_lists(work: Path) -> None:
    """data/sample's 144 queries on both backends: identical top-10 lists, overlap, score differences."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from clir.corpus.readers import read_corpus
    from clir.index.build import BuildConfig, build_index
    from clir.index.target import QdrantTarget
    from clir.search.retriever import Retriever

    corpus = ROOT / "data" / "sample" / "corpus.jsonl"
    build_index(read_corpus(corpus), work / "sample-local", BuildConfig(show_progress=False))
    target = QdrantTarget("sample", path=work / "sample-qdrant")
    build_index(read_corpus(corpus), target, BuildConfig(show_progress=False))
    queries = [json.loads(line)["text"] for line in (ROOT / "data" / "sample" / "queries.jsonl").open()]
    local, qdrant = Retriever.open(work / "sample-local"), Retriever.open(target)
    for mode in ("dense", "sparse", "hybrid"):
        a, b = local.search_batch(queries, k=10, mode=mode), qdrant.search_batch(queries, k=10, mode=mode)
        pairs = list(zip(a, b, strict=True))
        same = sum([h.id for h in x.hits] == [h.id for h in y.hits] for x, y in pairs)
        overlap = np.mean([len({h.id for h in x.hits} & {h.id for h in y.hits}) / len(x.hits)
                           for x, y in pairs if x.hits])
        diff = max(abs(h.score - g.score) for x, y in pairs for h, g in zip(x.hits, y.hits, strict=False))
        print(f"sample, {mode}: identical top-10 lists {same}/{len(queries)}, mean overlap {overlap:.4f} (queries "
              f"with hits), largest score difference {diff:.1e}", flush=True)
    qdrant.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--datasets", default="xquad-en-de,xquad-en-pool11")
    args = parser.parse_args()
    out = args.work / "qdrant-parity"
    sample_lists(out)
    cache = ["--embed-cache", str(args.work / "cache")]
    rows = []
    for name in args.datasets.split(","):
        data = args.work / "datasets" / name
        index = out / "indexes" / name
        qdrant = ["--backend", "qdrant", "--qdrant-path", str(out / "qdrant"), "--collection", name]
        started = time.perf_counter()
        clir("index", "--corpus", str(data / "corpus.jsonl"), "--out", str(index), "--quiet", *cache)
        local_build = time.perf_counter() - started
        started = time.perf_counter()
        clir("index", "--corpus", str(data / "corpus.jsonl"), "--quiet", *cache, *qdrant)
        qdrant_build = time.perf_counter() - started
        timings = {}
        for backend, target in (("local", ["--index", str(index)]), ("qdrant", qdrant)):
            started = time.perf_counter()
            clir("eval", "--dataset", str(data), "--configs", CONFIGS, "--out", str(out / "eval" / backend / name),
                 "--quiet", *cache, *target)
            timings[backend] = time.perf_counter() - started
        a, b = metrics(out / "eval" / "local" / name), metrics(out / "eval" / "qdrant" / name)
        for config in CONFIGS.split(","):
            rows.append(f"| {name} | {config} | {a[config]['nDCG@10']:.4f} | {b[config]['nDCG@10']:.4f} | "
                        f"{b[config]['nDCG@10'] - a[config]['nDCG@10']:+.4f} | {a[config]['RR@10']:.4f} | "
                        f"{b[config]['RR@10']:.4f} |")
        print(f"{name}: build {local_build:.1f} s embedded, {qdrant_build:.1f} s qdrant-local; eval "
              f"{timings['local']:.1f} s embedded, {timings['qdrant']:.1f} s qdrant-local", flush=True)
    print("| collection | config | nDCG@10 embedded | nDCG@10 qdrant | difference | RR@10 embedded | RR@10 qdrant |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
