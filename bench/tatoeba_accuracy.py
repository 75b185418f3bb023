"""Tatoeba top-1 accuracy of `clir search` (English queries -> documents in another language).

    python -m bench.tatoeba_accuracy --dataset datasets/tatoeba-fra --index indexes/tatoeba-fra [--mode dense]
        [--cli-check 20]

Runs every query through the same retrieval core as `clir search` (in batches, to avoid reloading the model
per query) and, as a cross-check, runs the first --cli-check queries through the real `clir search --json`
command and asserts the same top-1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from clir.corpus.readers import read_qrels, read_queries
from clir.search.retriever import Retriever


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--mode", default="dense")
    parser.add_argument("--cli-check", type=int, default=20)
    args = parser.parse_args()
    qrels = read_qrels(args.dataset)
    queries = [q for q in read_queries(args.dataset) if q.id in qrels]
    retriever = Retriever.open(args.index)
    start = time.perf_counter()
    top1 = {}
    for i in range(0, len(queries), 64):
        chunk = queries[i : i + 64]
        results = retriever.search_batch([q.text for q in chunk], k=1, mode=args.mode,
                                         query_langs=[q.lang for q in chunk])
        top1.update({q.id: r.hits[0].id for q, r in zip(chunk, results, strict=True)})
    seconds = time.perf_counter() - start
    correct = sum(1 for qid, doc in top1.items() if qrels[qid].get(doc, 0) > 0)
    print(f"{args.dataset.name}: mode {args.mode}, top-1 accuracy {correct / len(queries):.4f} "
          f"({correct}/{len(queries)}), {len(queries) / seconds:.1f} queries/s")
    for q in queries[: args.cli_check]:
        out = subprocess.run([sys.executable, "-m", "cli.main", "search", "--index", str(args.index), "--mode",
                              args.mode, "--k", "1", "--lang", q.lang or "en", "--json", q.text],
                             capture_output=True, text=True, check=True)
        assert json.loads(out.stdout)["hits"][0]["id"] == top1[q.id], q.id
    if args.cli_check:
        print(f"cli cross-check: the first {min(args.cli_check, len(queries))} queries give the same top-1 "
              "through `clir search --json`")


if __name__ == "__main__":
    main()
