"""`make demo`: a few cross-lingual searches over the bundled sample index."""

from __future__ import annotations

import argparse
from pathlib import Path

from clir.retrieval import Retriever

# English queries; the relevant documents are French (Tatoeba) or de/es/zh/ar/ru (XQuAD-R) paragraphs.
EXAMPLES = [
    ("Take the elevator to the fifth floor.", "dense"),
    ("There once lived an old man on that island.", "dense"),
    ("When was Warsaw's first stock exchange established?", "dense"),
    ("What year did Tesla die?", "hybrid"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, default=Path("data/sample-index"))
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    retriever = Retriever.open(args.index)
    langs = ", ".join(f"{lang}: {n}" for lang, n in retriever.manifest["languages"].items())
    print(f"index {args.index}: {len(retriever)} documents ({langs}); encoder {retriever.encoder.name}\n")
    for query, mode in EXAMPLES:
        result = retriever.search(query, k=args.k, mode=mode)
        docs = retriever.docstore.get(h.row for h in result.hits)
        print(f"Q [{result.query_lang}] {query}   ({mode}, {result.timing_ms['total']:.1f} ms)")
        for hit in result.hits:
            text = " ".join(docs[hit.row].text.split())
            print(f"  {hit.rank}. [{hit.lang}] {hit.id:<14} {hit.score:.4f}  {text[:100]}")
        print()


if __name__ == "__main__":
    main()
