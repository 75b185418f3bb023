"""Documents made ready to index one at a time (live writes): language, BM25 tokens and vector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from clir.encoders.models import Encoder
from clir.records import Document, PreparedDocument, Vectors, passage_text
from clir.text.analyzers import analyze_batch
from clir.text.langid import detect_langs

# Per document: generated queries a client supplies, language -> queries (None: none supplied).
GivenQueries = dict[str, list[str]] | None


class QueryAugmenter(Protocol):
    """Query-generation augmentation (xQG) of documents written to an xQG index: the index's generator
    run (or queries the client supplied), blended into the vectors and appended to the BM25 tokens as
    `clir index` does. Implemented above the core (indexer/xqg/live.py) and handed to the writers."""

    # why the index's generator cannot run here ("" when it can)
    unavailable: str

    def augment(self, prepared: Sequence[PreparedDocument], given: Sequence[GivenQueries],
                encoder: Encoder) -> tuple[list[PreparedDocument], list[str]]:
        """The augmented documents, and the ids of those that got no queries (written unaugmented)."""
        ...


def analyse(docs: Sequence[Document]) -> tuple[list[str | None], list[list[str]]]:
    """Each document's language (the given one, else detected) and its BM25 tokens (that language's
    analyzer over title and text): as builds and live writes both index them."""
    texts = [passage_text(d) for d in docs]
    langs: list[str | None] = [d.lang.lower() if d.lang else None for d in docs]
    missing = [i for i, lang in enumerate(langs) if lang is None]
    for i, (lang, _prob) in zip(missing, detect_langs([texts[i] for i in missing]), strict=True):
        langs[i] = lang
    return langs, analyze_batch(texts, langs)


def prepare_documents(docs: Sequence[Document], encoder: Encoder, batch_size: int | None = None,
                      vectors: Vectors | None = None) -> list[PreparedDocument]:
    """As `clir index` does it: the given language or a detected one, that language's analyzer over title
    and text, and the encoder's passage vector of the same text (unless `vectors` holds them already:
    encoded on a Ray cluster)."""
    langs, tokens = analyse(docs)
    if vectors is None:
        vectors = encoder.encode_passages([passage_text(d) for d in docs], batch_size=batch_size)
    return [PreparedDocument(d, lang, toks, vec)
            for d, lang, toks, vec in zip(docs, langs, tokens, vectors, strict=True)]
