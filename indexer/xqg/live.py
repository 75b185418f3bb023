"""xQG for documents written to a live collection: the same augmentation `clir index` applied, per write.

The index's manifest records its xQG settings. Queries for a written document come from the client
(`generated_queries`, language -> queries), else from the recorded generator where it can run here (an
`hf:` model, an `openai:` server, a `file:` query set that still exists and holds the document); a
document that gets none is written without augmentation, and the writer says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from clir.encoders.models import Encoder
from clir.errors import ClirError
from clir.index.prepare import GivenQueries
from clir.records import PreparedDocument
from clir.text.analyzers import analyzer_for
from indexer.xqg.augment import blend
from indexer.xqg.generators import load_generator
from indexer.xqg.prompts import DEFAULT_PROMPT, Generator

log = logging.getLogger("clir.xqg")


class LiveAugmenter:
    def __init__(self, record: dict[str, Any]) -> None:
        self.spec: str = record["generator"]
        self.langs: list[str] = list(record["langs"])
        self.n: int = int(record["n"])
        self.alpha: float = float(record["alpha"])
        self.aggregate: str = record["aggregate"]
        self.sparse: bool = bool(record.get("sparse_expansion", True))
        self.generator: Generator | None = None
        self.unavailable = ""
        try:
            self.generator = load_generator(self.spec, prompt=record.get("prompt") or DEFAULT_PROMPT,
                                            seed=int(record.get("seed", 0)))
        except (ClirError, OSError) as exc:
            self.unavailable = str(exc).splitlines()[0]
            log.warning("xQG generator %s cannot run here (%s): written documents need generated_queries",
                        self.spec, self.unavailable)

    def _queries(self, prepared: Sequence[PreparedDocument],
                 given: Sequence[GivenQueries]) -> list[list[tuple[str, str]]]:
        out: list[list[tuple[str, str]]] = [
            [(lang, q) for lang in self.langs for q in (g or {}).get(lang, [])[: self.n]] for g in given]
        ask = [i for i, g in enumerate(given) if g is None]
        if self.generator is not None and ask:
            docs = [prepared[i].doc for i in ask]
            for lang in self.langs:
                for i, queries in zip(ask, self.generator.generate(docs, lang, self.n), strict=True):
                    out[i] += [(lang, q) for q in queries]
        return out

    def augment(self, prepared: Sequence[PreparedDocument], given: Sequence[GivenQueries],
                encoder: Encoder) -> tuple[list[PreparedDocument], list[str]]:
        per_doc = self._queries(prepared, given)
        texts = [q for qs in per_doc for _, q in qs]
        owners = np.repeat(np.arange(len(per_doc)), [len(qs) for qs in per_doc])
        passages = np.vstack([p.vector for p in prepared]) if prepared else np.zeros((0, encoder.dim), np.float32)
        vectors = encoder.encode_queries(texts) if texts else np.zeros((0, encoder.dim), np.float32)
        blended = blend(passages, vectors, owners, self.alpha, self.aggregate)
        out = []
        for p, qs, vector in zip(prepared, per_doc, blended, strict=True):
            extra = [tok for lang, q in qs for tok in analyzer_for(lang).tokens(q)] if self.sparse else []
            out.append(PreparedDocument(p.doc, p.lang, p.tokens + extra, vector))
        return out, [p.doc.id for p, qs in zip(prepared, per_doc, strict=True) if not qs]


def live_augmenter(manifest: dict[str, Any]) -> LiveAugmenter | None:
    """Query generation for documents written to an xQG index (its manifest's `xqg` entry), else None."""
    return LiveAugmenter(manifest["xqg"]) if manifest.get("xqg") else None
