"""Load with admission control: 60 s at concurrency 16, then 30 s at concurrency 128 with the queue bound.

    python -m bench.bench_load --index data/sample-index --queries ../shared/data/tatoeba/tatoeba.fra-eng.eng

Starts `clir serve` on loopback with the server's defaults (CLIR_MAX_PENDING 64), then runs closed-loop
clients (each sends its next POST /search when its last one is answered; after a 503 it waits --backoff
seconds, the server's Retry-After by default) and reports, per phase: requests by
status, answered requests/s, p50 / p99 / max of the 200s against the latency bound, and the server's resident
memory sampled every second (after 5 s, the highest, at the end).

The bound (docs/deployment.md): at most n = min(max_pending, clients) requests are in the server at once; an
admitted one waits for the work of those ahead of it, and as much again for requests that overtake it
(micro-batches and search threads do not keep strict arrival order): 2 n / throughput.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import RawHTTP, free_port, start_server, stop_server
from clir.settings import Settings


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latency_bound_ms(in_server: int, per_s: float) -> float:
    return 2 * in_server / max(per_s, 1e-9) * 1000


def sample_rss(pid: int, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    start = time.monotonic()
    while not stop.wait(1.0):
        out.append((time.monotonic() - start, rss_mb(pid)))


def phase(port: int, queries: list[str], clients: int, seconds: float, backoff: float) -> dict[str, object]:
    statuses: Counter[int] = Counter()
    ok: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop(offset: int) -> None:
        conn = RawHTTP("127.0.0.1", port)
        i = offset
        while time.monotonic() < stop:
            body = ('{"query": ' + __import__("json").dumps(queries[i % len(queries)]) + ', "k": 10}').encode()
            start = time.perf_counter()
            try:
                status, _ = conn.post("/search", body)
            except OSError:
                status = 0
                conn = RawHTTP("127.0.0.1", port)
            elapsed = time.perf_counter() - start
            with lock:
                statuses[status] += 1
                if status == 200:
                    ok.append(elapsed)
            if status == 503:
                time.sleep(backoff)
            i += clients

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    ms = np.asarray(ok) * 1000
    return {"statuses": dict(sorted(statuses.items())), "ok_per_s": len(ok) / wall,
            "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
            "max": float(ms.max()) if len(ms) else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True, help="text file, one query per line")
    parser.add_argument("--max-pending", type=int, default=Settings.model_fields["max_pending"].default)
    parser.add_argument("--backoff", type=float, default=1.0,
                        help="seconds a client waits after a 503 (the server's Retry-After is 1)")
    parser.add_argument("--phases", default="16:60,128:30", help="CONCURRENCY:SECONDS,...")
    args = parser.parse_args()
    queries = [q.strip() for q in args.queries.read_text(encoding="utf-8").splitlines() if q.strip()]
    port = free_port()
    server = start_server(args.index, port, {"CLIR_VERIFY_CHECKSUMS": "false",
                                             "CLIR_MAX_PENDING": str(args.max_pending)})
    try:
        for spec in args.phases.split(","):
            clients, seconds = int(spec.split(":")[0]), float(spec.split(":")[1])
            stop = threading.Event()
            memory: list[tuple[float, float]] = []
            sampler = threading.Thread(target=sample_rss, args=(server.pid, stop, memory))
            sampler.start()
            result = phase(port, queries, clients, seconds, args.backoff)
            stop.set()
            sampler.join()
            settled = [mb for t, mb in memory if t >= 5] or [mb for _, mb in memory]
            bound = latency_bound_ms(min(args.max_pending, clients), result["ok_per_s"])  # type: ignore[arg-type]
            print(f"concurrency {clients}, {seconds:.0f} s: statuses {result['statuses']}; "
                  f"{result['ok_per_s']:.1f} answered/s; 200s p50 {result['p50']:.0f} ms, p99 {result['p99']:.0f} ms, "
                  f"max {result['max']:.0f} ms (bound {bound:.0f} ms); server RSS after 5 s {settled[0]:.0f} MB, "
                  f"highest {max(settled):.0f} MB, at the end {settled[-1]:.0f} MB", flush=True)
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
