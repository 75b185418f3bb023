"""What snippets cost: a search, then its snippets, for a few queries (docs/api.md, "Snippets").

    python -m bench.bench_snippets --index data/sample-index [--k 10] [--rounds 2]

Prints per query the search time, the snippets' time and each hit's snippet source (lexical / dense /
opening); the last round is reported (the first pays one-time set-up).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clir.search.retriever import Retriever

QUERIES = ["What year did Tesla die?", "How many points did the Panthers defense surrender?",
           "Where is the Eiffel tower?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=Path("data/sample-index"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("queries", nargs="*", default=QUERIES)
    args = parser.parse_args()
    retriever = Retriever.open(args.index)
    rows: list[tuple[str, float, float, list[str]]] = []
    for _ in range(args.rounds):
        rows = []
        for query in args.queries:
            start = time.perf_counter()
            result = retriever.search(query, k=args.k)
            searched = time.perf_counter()
            snippets = retriever.snippets(result)
            done = time.perf_counter()
            rows.append((query, (searched - start) * 1000, (done - searched) * 1000, [str(s.source) for s in snippets]))
    print(f"| query | search ms | snippets ms (k={args.k}) | sources |\n|---|---|---|---|")
    for query, search_ms, snippet_ms, sources in rows:
        counts = {name: sources.count(name) for name in ("lexical", "dense", "opening")}
        print(f"| {query} | {search_ms:.0f} | {snippet_ms:.0f} | "
              + ", ".join(f"{n} {name}" for name, n in counts.items()) + " |")


if __name__ == "__main__":
    main()
