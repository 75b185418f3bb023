"""Search options and their limits, defined once: the CLI, the HTTP schemas and the settings import them."""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["hybrid", "dense", "sparse"]
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_K = 10
# The service's default limit on k (settings.max_k may raise or lower it).
MAX_K = 1000
# Candidates per retriever (dense, sparse) before fusion, and the most a request may ask for.
DEFAULT_DEPTH = 100
MAX_DEPTH = 10_000
