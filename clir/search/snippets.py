"""Snippets: a short window of each hit's text, with the query's matching terms marked.

Terms match as BM25 matches them: the query analysed in its language, the document in its own, so stemmed
forms and CJK bigrams count. Where nothing matches lexically (the cross-lingual case) the window is the
document's sentence most similar to the query by the dense encoder; a text too short to choose from is
shown from its opening. Highlights are (start, end) offsets into the snippet's text, in Unicode code points.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from clir.encoders.models import Encoder
from clir.records import StoredDocument, Vectors
from clir.text.analyzers import analyzer_for

SnippetSource = Literal["lexical", "dense", "opening"]
# Characters in a snippet window (a little more when a word at the edge is kept whole).
SNIPPET_WINDOW = 240
# Sentences scored for dense windows, per document and per request: encoding them is what a snippet costs
# (20-30 ms a sentence on 2 cores), so hits past the request's budget are shown from their opening.
MAX_SENTENCES = 8
SENTENCE_BUDGET = 24
# A sentence is scored on its first SENTENCE_CHARS characters: the encoder's cost grows with length.
SENTENCE_CHARS = 160
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])\s+|(?<=[。！？])|\n+")


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]
    source: SnippetSource
    start: int  # where the window starts in the document's text

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "highlights": [list(h) for h in self.highlights], "source": self.source,
                "start": self.start}


def _full_text(doc: StoredDocument) -> str:
    return doc.text or doc.title


def matches(text: str, lang: str | None, terms: set[str]) -> list[tuple[int, int, str]]:
    """The spans of `text` (analysed as `lang`) whose token is one of the query's terms."""
    if not terms:
        return []
    return [span for span in analyzer_for(lang).spans(text) if span[2] in terms]


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Move a window's edges out to whitespace (at most 20 characters) so no word is cut."""
    for _ in range(20):
        if start <= 0 or text[start - 1].isspace():
            break
        start -= 1
    for _ in range(20):
        if end >= len(text) or text[end].isspace():
            break
        end += 1
    return start, end


def _window(text: str, start: int, end: int, marks: list[tuple[int, int, str]], source: SnippetSource) -> Snippet:
    start, end = _widen(text, max(0, start), min(len(text), end))
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    inside: list[tuple[int, int]] = []
    for a, b, _ in marks:  # in text order; overlapping marks (CJK bigrams) become one
        if a >= start and b <= end:
            if inside and a - start < inside[-1][1]:
                inside[-1] = (inside[-1][0], max(inside[-1][1], b - start))
            else:
                inside.append((a - start, b - start))
    return Snippet(text[start:end], inside, source, start)


def lexical_snippet(text: str, marks: list[tuple[int, int, str]], width: int = SNIPPET_WINDOW) -> Snippet:
    """The window holding the most distinct matched terms (the earliest among equals)."""
    # The window shown starts `lead` characters before its first match, so the matches counted for it
    # are those within width - lead of that match. One pass with a sliding window (marks are in text
    # order, so their ends never decrease): a long document can match thousands of times.
    lead = width // 6
    best, best_count, j = 0, -1, 0
    counts: dict[str, int] = {}
    for i, (a, _, _) in enumerate(marks):
        j = max(j, i)  # a token longer than the window never enters it
        while j < len(marks) and marks[j][1] <= a + width - lead:
            counts[marks[j][2]] = counts.get(marks[j][2], 0) + 1
            j += 1
        if len(counts) > best_count:
            best, best_count = i, len(counts)
        if j > i:  # mark i leaves the window before the next one starts
            term = marks[i][2]
            counts[term] -= 1
            if not counts[term]:
                del counts[term]
    first = marks[best][0]
    # a little context before the first match, unless the whole text fits
    start = 0 if len(text) <= width else max(0, min(first - lead, len(text) - width))
    return _window(text, start, start + width, marks, "lexical")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a text, blank ones dropped."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def snippets(query: str, query_lang: str | None, vector: Vectors | None, docs: Sequence[StoredDocument],
             encoder: Encoder, width: int = SNIPPET_WINDOW, budget: int = SENTENCE_BUDGET) -> list[Snippet]:
    """One snippet per document, in order. `vector` is the query's dense vector (encoded here if None);
    at most `budget` sentences are encoded for dense windows."""
    terms = set(analyzer_for(query_lang).tokens(query))
    out: list[Snippet | None] = []
    pending: list[tuple[int, str, list[tuple[int, int]]]] = []  # documents the dense encoder chooses for
    for i, doc in enumerate(docs):
        text = _full_text(doc)
        marks = matches(text, doc.lang, terms)
        if marks:
            out.append(lexical_snippet(text, marks, width))
            continue
        spans = sentences(text)[:MAX_SENTENCES]
        if len(text) <= width or len(spans) < 2 or budget < len(spans):
            out.append(_window(text, 0, width, [], "opening"))
            continue
        budget -= len(spans)
        out.append(None)
        pending.append((i, text, spans))
    if pending:
        if vector is None:
            vector = encoder.encode_queries([query])[0]
        texts = [text[a:min(b, a + SENTENCE_CHARS)] for _, text, spans in pending for a, b in spans]
        scores = encoder.encode_passages(texts) @ np.asarray(vector, dtype=np.float32)
        at = 0
        for i, text, spans in pending:
            a, b = spans[int(np.argmax(scores[at:at + len(spans)]))]
            at += len(spans)
            out[i] = _window(text, a, max(b, a + width) if b - a < width else a + width, [], "dense")
    return [s for s in out if s is not None]
