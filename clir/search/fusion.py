"""Fusion of dense and sparse candidates (rows of the shared document numbering).

Three methods:
- `rrf`: weighted reciprocal rank fusion, score = sum_i w_i / (k + rank_i).
- `linear`: weighted sum of per-query normalised scores (min-max, z-score or raw).
- `auto` (default): language-aware. BM25 cannot match across languages, so its evidence is added to
  the dense cosine only as a bounded bonus, weighted by the document's kinship with the query (same
  language, another language in the same script, another script), and scaled by how far BM25's best
  score stands above the rest of its top list (a distinctive match: a name, a number, a rare shared
  term). Under language balance the documents in other languages close to BM25's top match share in its
  evidence (`propagation`, applied by the retriever). See docs/fusion.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from clir.errors import ConfigError
from clir.records import Scores

FusionMethod = Literal["auto", "rrf", "linear"]
Normalization = Literal["minmax", "zscore", "none"]
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
DEFAULT_RRF_K = 60
# The largest weight a fusion may give a list (finite scores stay finite).
MAX_WEIGHT = 1e6
# A document's kinship with the query, for the `auto` bonus weight (Retriever.kinship computes it).
OTHER_SCRIPT, SAME_SCRIPT, SAME_LANGUAGE = 0, 1, 2
Kinship = NDArray[np.int8]


@dataclass(frozen=True)
class FusionParams:
    method: FusionMethod = "auto"
    rrf_k: float = DEFAULT_RRF_K
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    normalization: Normalization = "minmax"
    # auto: bonus weight (in cosine units, for a document at BM25's top score) when the document is in
    # the query's language / in another language written in the same script / in another script, and
    # the BM25 z-score range over which the bonus ramps from 0 to full. Tuned on development data only
    # (bench/tune_fusion.py; the same-language weight re-tuned under language balance, bench/tune_balance.py;
    # docs/fusion.md).
    same_lang_weight: float = 0.08
    same_script_weight: float = 0.02
    other_script_weight: float = 0.01
    confidence_lo: float = 0.0
    confidence_hi: float = 8.0
    # The bonus grows as (BM25 / top BM25) ** power: above 1 it goes to documents near BM25's top only,
    # which keeps moderately matching same-language documents from crowding out other languages in a pool.
    sparse_power: float = 2.0
    # auto, under language balance: the candidates in other languages than the query's that are close to BM25's
    # top match (cosine with it above `propagation_floor`) share in its evidence, up to `propagation_weight`
    # (cosine units) times the BM25 confidence, growing as ((cosine - floor) / (1 - floor)) ** power: a confident
    # lexical match in one language lifts its translations in the others, instead of pushing them down. Tuned on
    # development data only (bench/tune_balance.py; docs/fusion.md).
    propagation_weight: float = 0.01
    propagation_floor: float = 0.8
    propagation_power: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ConfigError(f"unknown fusion method {self.method!r}: expected one of {', '.join(FUSION_METHODS)}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {self.normalization!r}: expected one of "
                              f"{', '.join(NORMALIZATIONS)}")
        if self.rrf_k < 0:
            raise ConfigError("rrf_k must be >= 0")
        weights = (self.dense_weight, self.sparse_weight, self.same_lang_weight, self.same_script_weight,
                   self.other_script_weight, self.propagation_weight)
        if not all(math.isfinite(w) and 0 <= w <= MAX_WEIGHT for w in weights):
            raise ConfigError(f"fusion weights must be finite, within [0, {MAX_WEIGHT:g}]")
        if self.confidence_hi <= self.confidence_lo:
            raise ConfigError("confidence_hi must exceed confidence_lo")
        if not -1.0 <= self.propagation_floor < 1.0:
            raise ConfigError("propagation_floor must be a cosine in [-1, 1)")
        if not (math.isfinite(self.propagation_power) and self.propagation_power > 0):
            raise ConfigError("propagation_power must be finite and above 0")


@dataclass(frozen=True)
class Candidates:
    """The union of one query's dense and sparse top lists, with both scores for every row.

    Scores are exact for every row (the dense cosine of a sparse-only row is computed from its stored
    vector; BM25 of a dense-only row is its real score, 0 when it shares no term), so no fusion
    method has to guess a missing score.
    """

    rows: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray
    dense_rank: np.ndarray  # 1-based rank in the dense top list, 0 if absent
    sparse_rank: np.ndarray
    sparse_top: np.ndarray  # the sparse top list's scores, padded with zeros to the list depth
    match: int = -1  # the position of BM25's top row (-1: BM25 matched nothing)

    def __len__(self) -> int:
        return len(self.rows)


def _normalise(x: np.ndarray, how: str) -> np.ndarray:
    x = x.astype(np.float64)
    if how == "none" or len(x) == 0:
        return x
    if how == "minmax":
        span = x.max() - x.min()
        return (x - x.min()) / span if span > 0 else np.zeros_like(x)
    std = x.std()
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def sparse_confidence(sparse_top: Scores, lo: float, hi: float) -> float:
    """0..1: how far BM25's best score stands above its top list (z-score), ramped between lo and hi."""
    if len(sparse_top) == 0 or sparse_top[0] <= 0:
        return 0.0
    # plain float arithmetic: numpy's mean/std/clip calls cost more than the work on a 100-score list
    x = sparse_top.astype(np.float64)
    mean = float(x.sum()) / len(x)
    d = x - mean
    std = math.sqrt(float(d @ d) / len(x))
    if std == 0:
        return 0.0
    return float(confidence_ramp(float(d[0]) / std, lo, hi))


def confidence_ramp(z: Any, lo: float, hi: float) -> Any:
    """The z-score of BM25's top score mapped to 0..1 (a float, or an array of them, elementwise)."""
    if isinstance(z, np.ndarray):
        return np.clip((z - lo) / (hi - lo), 0.0, 1.0)
    return min(1.0, max(0.0, (z - lo) / (hi - lo)))


def auto_scores(dense: NDArray[Any], sparse_share: NDArray[Any], kinship: Kinship, confidence: Any,
                params: FusionParams) -> NDArray[np.float64]:
    """The `auto` fusion: cosine + confidence * w(kinship) * (BM25 / BM25's top) ** power.

    Elementwise over any matching shapes: one query's candidates here, a padded (queries, candidates)
    grid in bench/tune_fusion.py, which tunes the constants with this very function."""
    weights = np.array([params.other_script_weight, params.same_script_weight, params.same_lang_weight])
    weight = weights[kinship]
    fused: NDArray[np.float64] = dense.astype(np.float64) + confidence * weight * sparse_share ** params.sparse_power
    return fused


def propagation(match: NDArray[Any], kinship: Kinship, confidence: Any, params: FusionParams) -> NDArray[np.float64]:
    """The lift from BM25's top match: confidence * weight * ((cosine with it - floor) / (1 - floor)) ** power, for
    the documents not in the query's language (elementwise, as `auto_scores`; bench/tune_balance.py tunes with it)."""
    # ufuncs rather than np.clip: this runs on every balanced query, and np.clip's wrapper costs more than the work
    near = np.minimum(np.maximum((match.astype(np.float64) - params.propagation_floor)
                                 / (1.0 - params.propagation_floor), 0.0), 1.0)
    lift: NDArray[np.float64] = (confidence * params.propagation_weight) * near ** params.propagation_power
    lift[kinship == SAME_LANGUAGE] = 0.0
    return lift


def auto_confidence(c: Candidates, params: FusionParams) -> float:
    """The `auto` fusion's confidence in BM25's evidence for these candidates (`sparse_confidence`)."""
    return sparse_confidence(c.sparse_top, params.confidence_lo, params.confidence_hi)


def fuse(c: Candidates, params: FusionParams, kinship: Kinship, confidence: float | None = None
         ) -> NDArray[np.float64]:
    """Fused score of every candidate row (higher is better); `auto` takes its confidence when given (the caller
    computed it already)."""
    if params.method == "rrf":
        k = params.rrf_k
        dense = np.where(c.dense_rank > 0, params.dense_weight / (k + c.dense_rank), 0.0)
        sparse = np.where(c.sparse_rank > 0, params.sparse_weight / (k + c.sparse_rank), 0.0)
        return dense + sparse
    if params.method == "linear":
        return (params.dense_weight * _normalise(c.dense, params.normalization)
                + params.sparse_weight * _normalise(c.sparse, params.normalization))
    if confidence is None:
        confidence = auto_confidence(c, params)
    if confidence == 0.0:
        return c.dense.astype(np.float64)
    return auto_scores(c.dense, c.sparse / float(c.sparse_top[0]), kinship, confidence, params)
