"""xQG settings, kept free of the generators' imports (the command line reads their defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clir.errors import ConfigError
from indexer.xqg.prompts import DEFAULT_PROMPT, language_name

AGGREGATES = ("sum", "mean")


@dataclass
class XQGConfig:
    generator: str
    langs: list[str]
    n: int = 5
    alpha: float = 0.01
    aggregate: str = "sum"
    sparse: bool = True
    prompt: str = DEFAULT_PROMPT
    seed: int = 0
    batch_size: int = 8
    cache: Path | None = None  # default: <index dir>.xqg-queries.jsonl beside the index

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"--xqg-alpha must be within [0, 1], got {self.alpha}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"--xqg-aggregate must be sum or mean, got {self.aggregate!r}")
        if self.n < 1:
            raise ConfigError("--xqg-n must be at least 1")
        if not self.langs:
            raise ConfigError("--xqg-langs needs at least one language")
        for lang in self.langs:
            language_name(lang)  # an unknown code fails now, not in the middle of a build
