"""The image on a real Docker engine: sizes, build time, cold start, idle memory, and /search latency through
the published port beside `clir serve` on the host over the same index (docs/deployment.md).

    python -m bench.bench_docker [--no-cache] [--queries 144]

It starts an engine when none answers and builds on the stand-in base where no registry is reachable, as
`make docker-test` does (tests/docker/harness.py). Measured:
  default and full image sizes; the default image's build time (--no-cache: from the base image up)
  cold start: `docker run -p PORT:8000 IMAGE` to the first 200 from /ready, and to Docker's "healthy"
  idle RSS of the API container (docker stats, 10 s after it is ready)
  GET /search p50 / p95: the container's published port and `clir serve` on this host, same index (copied
  out of the container), one query to each in turn, over one keep-alive connection each
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.common import free_port, pct
from tests.docker.harness import (
    DEFAULT_IMAGE,
    FULL_IMAGE,
    ROOT,
    Docker,
    base_image,
    build_image,
    dangling_to_keep,
    remove_dangling,
    start_engine,
    stop_engine,
    wait_http,
)
from tests.helpers import serve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-cache", action="store_true", help="time the default image's build from the base image up")
    ap.add_argument("--queries", type=int, default=144, help="sample queries timed (each on both servers)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the queries")
    args = ap.parse_args()
    engine = start_engine()
    kept = dangling_to_keep(engine)
    try:
        base = base_image(engine)
        build_args = ["--no-cache"] if args.no_cache else []
        if build_args:
            engine.docker("rmi", "-f", DEFAULT_IMAGE, check=False)
        seconds = build_image(engine, DEFAULT_IMAGE, base, extra=build_args)
        print(f"build (default{', no cache' if args.no_cache else ''}): {seconds:.0f} s")
        build_image(engine, FULL_IMAGE, base, variant="full")
        for image in (DEFAULT_IMAGE, FULL_IMAGE):
            print(f"size {image}: {engine.image_size(image) / 1e6:.0f} MB")
        measure_container(engine, args.queries, args.rounds)
    finally:
        remove_dangling(engine, kept)
        stop_engine(engine)


def measure_container(engine: Docker, n_queries: int, rounds: int) -> None:
    name = f"clir-bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    start = time.monotonic()
    engine.docker("run", "-d", "--name", name, "-p", f"{port}:8000", DEFAULT_IMAGE)
    try:
        ready = wait_http(f"http://127.0.0.1:{port}/ready", 300)
        engine.wait_healthy(name, 300)
        healthy = time.monotonic() - start
        print(f"cold start (indexes the 240-passage sample, then serves): ready {ready:.1f} s, "
              f"Docker healthy {healthy:.1f} s (its healthcheck runs every 10 s)")
        time.sleep(10)
        mem = engine.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).stdout.strip()
        print(f"idle memory of the API container: {mem}")
        with tempfile.TemporaryDirectory() as tmp:
            index = Path(tmp) / "index"
            engine.docker("cp", f"{name}:/index/current", str(index))
            compare_latency(f"http://127.0.0.1:{port}", index, n_queries, rounds)
    finally:
        engine.docker("rm", "-f", "-v", name)


def compare_latency(container_url: str, index: Path, n_queries: int, rounds: int) -> None:
    queries = [json.loads(line)["text"] for line in
               (ROOT / "data" / "sample" / "queries.jsonl").read_text(encoding="utf-8").splitlines()][:n_queries]
    port = free_port()
    proc = serve(index, port)
    host_url = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = {"container": [], "host": []}
    try:
        with httpx.Client(timeout=30) as a, httpx.Client(timeout=30) as b:
            clients = {"container": (a, container_url), "host": (b, host_url)}
            for client, url in clients.values():  # warm both: first requests pay one-time costs
                for q in queries[:10]:
                    client.get(f"{url}/search", params={"q": q, "k": 10})
            for r in range(rounds):
                for i, q in enumerate(queries):
                    order = ("container", "host") if (i + r) % 2 == 0 else ("host", "container")
                    for name in order:
                        client, url = clients[name]
                        t0 = time.perf_counter()
                        resp = client.get(f"{url}/search", params={"q": q, "k": 10})
                        times[name].append(time.perf_counter() - t0)
                        assert resp.status_code == 200, resp.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for name, values in times.items():
        print(f"GET /search {name:9s}: p50 {pct(values, 50):.1f} ms, p95 {pct(values, 95):.1f} ms "
              f"({len(values)} requests)")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(f"bench_docker: {exc}")
