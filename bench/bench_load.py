"""Load with admission control: 60 s at concurrency 16, then 30 s at concurrency 128 with the queue bound.

    python bench/bench_load.py --index data/sample-index --queries ../shared/data/tatoeba/tatoeba.fra-eng.eng

Starts `clir serve` on loopback with CLIR_MAX_PENDING (default 32), then runs closed-loop clients (each sends
its next POST /search when its last one is answered) and reports, per phase: requests by status, requests/s,
p50 / p99 / max of the 200s, and the server's resident memory at the start and the end. The bound an admitted
request can wait is about max_pending / throughput (the requests ahead of it), printed beside the p99.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_service import RawHTTP, free_port, start_server  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase(port: int, queries: list[str], clients: int, seconds: float) -> dict[str, object]:
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
                time.sleep(0.05)  # a client that honours Retry-After would wait longer
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
    parser.add_argument("--max-pending", type=int, default=32)
    args = parser.parse_args()
    queries = [q.strip() for q in args.queries.read_text(encoding="utf-8").splitlines() if q.strip()]
    port = free_port()
    server = start_server(args.index, port, {"CLIR_VERIFY_CHECKSUMS": "false",
                                             "CLIR_MAX_PENDING": str(args.max_pending)})
    try:
        for clients, seconds in ((16, 60.0), (128, 30.0)):
            before = rss_mb(server.pid)
            result = phase(port, queries, clients, seconds)
            after = rss_mb(server.pid)
            bound = args.max_pending / max(result["ok_per_s"], 1e-9) * 1000  # type: ignore[operator]
            print(f"concurrency {clients}, {seconds:.0f} s: statuses {result['statuses']}; "
                  f"{result['ok_per_s']:.1f} answered/s; 200s p50 {result['p50']:.0f} ms, p99 {result['p99']:.0f} ms, "
                  f"max {result['max']:.0f} ms (queue bound ~{bound:.0f} ms); server RSS {before:.0f} -> "
                  f"{after:.0f} MB", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
