"""Build speed with `--ray local` (2 encoder actors) against the plain build, on the same passages, one run each.

    python -m bench.bench_ray --corpus runs/dev/datasets/xquad-en-pool11/corpus.jsonl --n 2000 --work runs/bench-ray

Both builds run as a user runs them (`clir index`, a fresh process each) into the same kind of index; the
summary gives passages/s from the manifests, the Ray build's time to its first encoded batch (Ray's
start-up, the read stage, the actors loading the encoder) and each actor's own encoding rate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(corpus: Path, out: Path, *extra: str) -> tuple[float, dict]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli.main", "index", "--corpus", str(corpus), "--out", str(out), "--quiet",
                    *extra], cwd=ROOT, check=True, timeout=7200, capture_output=True)
    wall = time.perf_counter() - started
    return wall, json.loads((out / "manifest.json").read_text())["build"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL corpus; the first --n passages are used")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--actors", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    corpus = args.work / "corpus.jsonl"
    with args.corpus.open(encoding="utf-8") as src:
        lines = [line for _, line in zip(range(args.n), src, strict=False)]
    corpus.write_text("".join(lines), encoding="utf-8")
    n = len(lines)
    plain_wall, plain = build(corpus, args.work / "plain")
    ray_wall, ray = build(corpus, args.work / "ray", "--ray", "local", "--ray-actors", str(args.actors))
    report = ray["ray"]
    print(f"{n} passages, {args.actors} actors")
    print(f"plain build: {plain['seconds']:.1f} s in the build ({n / plain['seconds']:.1f} passages/s), "
          f"{plain_wall:.1f} s wall with start-up")
    print(f"--ray local: {ray['seconds']:.1f} s in the build ({n / ray['seconds']:.1f} passages/s), {ray_wall:.1f} s "
          f"wall; Ray started in {report['ray_start_s']:.1f} s, first batch after {report['first_batch_s']:.1f} s; "
          f"per actor (encoding time only): "
          + ", ".join(f"{v} passages/s" for v in report["per_actor_passages_per_s"].values()))
    print(f"ratio (build time, plain / ray): {plain['seconds'] / ray['seconds']:.2f}")


if __name__ == "__main__":
    main()
