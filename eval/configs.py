"""The named retrieval configurations an evaluation compares (light: the command line lists them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clir.errors import ConfigError
from clir.search.fusion import DEFAULT_RRF_K, FusionParams

# Named configurations: keyword arguments for search_batch. `hybrid` is the service's default
# (language-aware fusion, language balance); `rrf` and `linear` are the naive fusions it is compared with;
# `dense-plain` and `hybrid-plain` leave language balance off (the same as the others on one language).
CONFIGS: dict[str, dict[str, Any]] = {
    "dense": {"mode": "dense"},
    "dense-plain": {"mode": "dense", "language_balance": False},
    "hybrid-plain": {"mode": "hybrid", "fusion": FusionParams(), "language_balance": False},
    "sparse": {"mode": "sparse"},
    "hybrid": {"mode": "hybrid", "fusion": FusionParams()},
    "rrf": {"mode": "hybrid", "fusion": FusionParams(method="rrf", rrf_k=DEFAULT_RRF_K)},
    "linear": {"mode": "hybrid", "fusion": FusionParams(method="linear", normalization="minmax")},
}


def resolve_configs(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        raise ConfigError(f"unknown configuration {', '.join(unknown) or '(none)'}: choose from {', '.join(CONFIGS)}")
    return {name: CONFIGS[name] for name in names}

# Queries per search_batch call (`clir eval --batch-size`): one encoder batch (QUERY_BATCH_SIZE).
EVAL_BATCH = 128
