"""`make demo`: a few cross-lingual searches over the bundled sample index, then serve it over HTTP."""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path

from clir import Index
from clir.search.render import result_lines

# English queries; the relevant documents are French (Tatoeba) or de/es/zh/ar/ru (XQuAD-R) paragraphs.
EXAMPLES = [
    "Take the elevator to the fifth floor.",
    "There once lived an old man on that island.",
    "When was Warsaw's first stock exchange established?",
    "What year did Tesla die?",
]


def show_examples(index: Index, k: int) -> None:
    langs = ", ".join(f"{lang}: {n}" for lang, n in index.manifest.languages.items())
    print(f"index {index.store.location}: {len(index)} documents ({langs}); encoder {index.encoder.name}\n")
    for query in EXAMPLES:
        result = index.search(query, k=k)
        print(f"Q [{result.query_lang}] {query}   (hybrid, {result.timing_ms['total']:.1f} ms)")
        print("\n".join(result_lines(result)))
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, default=Path("data/sample-index"))
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-serve", action="store_true", help="only run the example searches")
    args = parser.parse_args()
    with Index.open(args.index) as index:
        show_examples(index, args.k)
    if args.no_serve:
        return
    import uvicorn

    from app.main import create_app
    from clir.settings import Settings

    query = urllib.parse.quote("How many Grammys has Lady Gaga won?")
    print(f"Serving {args.index} on http://{args.host}:{args.port} (Ctrl-C to stop). Try:\n"
          f"  curl -s 'http://{args.host}:{args.port}/search?q={query}&k=3'\n"
          f"  curl -s -X POST http://{args.host}:{args.port}/search -H 'Content-Type: application/json' "
          "-d '{\"query\": \"Take the elevator to the fifth floor.\", \"k\": 2, \"include_text\": true}'\n"
          f"  open http://{args.host}:{args.port}/docs for the API\n", flush=True)
    settings = Settings(index=args.index, host=args.host, port=args.port)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
