"""xQG at build time: its settings (`XQGConfig`, what `clir index --xqg...` sets) and the build's `Augmenter`
(generation, its cache, the blend). Both plug into the core's build (clir.index.build)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clir.errors import ConfigError
from indexer.xqg.prompts import DEFAULT_PROMPT, language_name

if TYPE_CHECKING:
    import numpy as np

    from clir.encoders.models import Encoder
    from clir.records import Document
    from indexer.xqg.cache import QueryCache

# The command line reads XQGConfig's defaults for its parser: the generators, their cache and the analyzers
# load only when an Augmenter is made (imports inside its methods).

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

    def fingerprint(self) -> dict[str, Any]:
        """What shapes an index (clir.index.build.Augmentation): every setting but the cache's location."""
        return {k: v for k, v in asdict(self).items() if k != "cache"}

    def augmenter(self, home: Path) -> Augmenter:
        """The generator, loaded, for the index at `home`."""
        return Augmenter.for_index(self, home)


@dataclass
class Augmenter:
    """One build's query generation (clir.index.build.BuildAugmenter): the generator, its cache, the counts."""

    config: XQGConfig
    cache_path: Path
    generator: Any = field(init=False)
    cache: QueryCache = field(init=False)
    generated: int = 0
    docs_without: int = 0

    def __post_init__(self) -> None:
        from indexer.xqg.cache import QueryCache
        from indexer.xqg.generators import load_generator

        c = self.config
        self.generator = load_generator(c.generator, prompt=c.prompt, seed=c.seed, batch_size=c.batch_size)
        self.cache = QueryCache(self.cache_path, self.generator.name, c.n, c.prompt, c.seed)

    @classmethod
    def for_index(cls, config: XQGConfig, out: Path) -> Augmenter:
        return cls(config, config.cache or out.parent / f"{out.name}.xqg-queries.jsonl")

    def queries(self, docs: Sequence[Document]) -> list[list[tuple[str, str]]]:
        """Per document, its generated (language, query) pairs, generating only what the cache lacks."""
        from indexer.xqg.cache import generate_with_cache

        by_doc = generate_with_cache(self.generator, self.cache, docs, self.config.langs, self.config.n)
        out = [[(lang, q) for lang in self.config.langs for q in by_doc.get(d.id, {}).get(lang, [])] for d in docs]
        self.tally(out)
        return out

    def tally(self, per_doc: list[list[tuple[str, str]]]) -> None:
        """Count generated queries for the manifest (a Ray build generates them in its read stage)."""
        self.generated += sum(len(qs) for qs in per_doc)
        self.docs_without += sum(1 for qs in per_doc if not qs)

    def dense(self, passages: np.ndarray, per_doc: list[list[tuple[str, str]]], encoder: Encoder) -> np.ndarray:
        from indexer.xqg.augment import blend_queries

        return blend_queries(self.config.alpha, self.config.aggregate, passages, per_doc, encoder)

    def sparse_tokens(self, per_doc: list[list[tuple[str, str]]]) -> list[list[str]]:
        from clir.text.analyzers import analyzer_for

        if not self.config.sparse:
            return [[] for _ in per_doc]
        return [[tok for lang, q in qs for tok in analyzer_for(lang).tokens(q)] for qs in per_doc]

    def manifest(self) -> dict[str, Any]:
        c = self.config
        return {"generator": self.generator.name, "langs": c.langs, "n": c.n, "alpha": c.alpha,
                "aggregate": c.aggregate, "sparse_expansion": c.sparse, "prompt": c.prompt, "seed": c.seed,
                "renormalised": True, "queries_generated": self.generated,
                "docs_without_queries": self.docs_without, "cache": str(self.cache_path)}
