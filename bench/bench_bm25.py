"""Analyzer throughput and BM25 search latency vs rank_bm25 (runs in well under a minute).

    python bench/bench_bm25.py [--docs 100000] [--queries 200]

The sparse index is built with method="atire", idf_method="robertson" so its scores can be
checked against rank_bm25.BM25Okapi(epsilon=0) on the same token lists.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from clir.index.embedded.sparse import SparseIndex, SparseIndexBuilder
from clir.index.params import BM25Params
from clir.text.analyzers import analyze_batch

SENTENCES = {
    "en": "The committee approved the new budget for public transport after a long debate in parliament",
    "fr": "Les habitants de la ville manifestaient contre la fermeture des écoles et des hôpitaux",
    "de": "Die Regierung hat beschlossen die Steuern für kleine Unternehmen im nächsten Jahr zu senken",
    "ru": "Учёные обнаружили новый вид рыб в глубоких водах Тихого океана прошлым летом",
    "ar": "أعلنت الحكومة عن خطة جديدة لتطوير التعليم في المدارس الحكومية خلال العام القادم",
    "zh": "北京市政府宣布将在明年扩大地铁网络以缓解交通拥堵问题",
    "ja": "東京の研究者たちは新しい電池技術を開発したと発表しました",
    "hi": "सरकार ने अगले साल से ग्रामीण क्षेत्रों में नई स्वास्थ्य योजना शुरू करने की घोषणा की",
}


def bench_analyzers(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    langs = list(SENTENCES)
    texts, tags = [], []
    for i in range(n):
        lang = langs[i % len(langs)]
        words = SENTENCES[lang].split()
        if len(words) > 3:  # shuffle space-delimited sentences so the stemmer cache is not all hits
            words = rng.sample(words, len(words)) + [str(rng.randint(0, 9999))]
        texts.append(" ".join(words))
        tags.append(lang)
    en_texts = [t for t, lang in zip(texts, tags, strict=True) if lang == "en"] * len(langs)
    rows = []
    cases = (("mixed 8 langs", texts, tags), ("en only", en_texts, ["en"] * len(en_texts)))
    for label, batch, batch_langs in cases:
        analyze_batch(batch[:100], batch_langs[:100])  # build regexes/stemmers outside the timing
        start = time.perf_counter()
        out = analyze_batch(batch, batch_langs)
        secs = time.perf_counter() - start
        n_tok = sum(len(t) for t in out)
        rate = f"{len(batch) / secs:,.0f} texts/s, {n_tok / secs:,.0f} tokens/s"
        rows.append((f"analyze_batch {label} ({len(batch)} texts)", f"{secs * 1e3:.0f} ms total, {rate}"))
    return rows


def zipf_corpus(
    n_docs: int, vocab: int, mean_len: int, rng: np.random.Generator
) -> tuple[list[list[str]], np.ndarray]:
    ranks = np.arange(1, vocab + 1)
    p = 1.0 / ranks**1.07
    p /= p.sum()
    lengths = rng.poisson(mean_len, size=n_docs)
    flat = rng.choice(vocab, size=int(lengths.sum()), p=p)
    words = [f"w{i}" for i in range(vocab)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    flat_list = flat.tolist()
    docs = [[words[j] for j in flat_list[offsets[i]:offsets[i + 1]]] for i in range(n_docs)]
    return docs, p


def latency(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1e3
    return f"p50 {np.percentile(ms, 50):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, mean {ms.mean():.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rank-bm25-queries", type=int, default=10)
    ap.add_argument("--k", type=int, default=100)
    args = ap.parse_args()
    rows = bench_analyzers(10_000)

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    docs, p = zipf_corpus(args.docs, args.vocab, 50, rng)
    label = f"synthetic corpus ({args.docs} docs, Zipf vocab {args.vocab})"
    rows.append((label, f"{time.perf_counter() - start:.1f} s"))
    # queries: 2-6 terms drawn from the same Zipf law, ignoring the ~20 most common ranks
    queries = [[f"w{j}" for j in rng.choice(args.vocab, size=rng.integers(2, 7), p=p) + 20 if j < args.vocab]
               for _ in range(args.queries)]
    queries = [q or ["w100"] for q in queries]

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        builder = SparseIndexBuilder(BM25Params(method="atire", idf_method="robertson"))
        for i in range(0, len(docs), 10_000):
            builder.add(docs[i:i + 10_000])
        stats = builder.build(Path(tmp), show_progress=False)
        secs = time.perf_counter() - start
        rows.append(("SparseIndex add+build+save", f"{secs:.1f} s ({stats['vocab']} terms)"))
        start = time.perf_counter()
        index = SparseIndex.load(Path(tmp))
        rows.append(("SparseIndex load", f"{(time.perf_counter() - start) * 1e3:.0f} ms"))

        lat = []
        for q in queries:
            t0 = time.perf_counter()
            index.query(q).top(args.k)
            lat.append(time.perf_counter() - t0)
        rows.append((f"SparseIndex.query + top k={args.k} ({len(queries)} queries)", latency(lat)))

        import bm25s

        own = bm25s.BM25.load(tmp)
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            own.retrieve([q], k=args.k, show_progress=False)
            lat.append(time.perf_counter() - t0)
        rows.append((f"bm25s retrieve k={args.k} (same index)", latency(lat)))

    from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

    start = time.perf_counter()
    reference = BM25Okapi(docs, epsilon=0, k1=1.2, b=0.75)
    rows.append(("rank_bm25 BM25Okapi init", f"{time.perf_counter() - start:.1f} s"))
    lat, worst = [], 0.0
    for q in queries[: args.rank_bm25_queries]:
        t0 = time.perf_counter()
        expected = reference.get_scores(q)
        lat.append(time.perf_counter() - t0)
        got = index.query(q).of(np.arange(len(expected)))
        worst = max(worst, float(np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1.0))))
    rows.append((f"rank_bm25 get_scores ({len(lat)} queries)", latency(lat)))
    rows.append(("parity vs rank_bm25 (max |diff| / max(|score|, 1))", f"{worst:.1e}"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)} | result")
    print(f"{'-' * width}-+-{'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
