"""Search results rendered for people and programs: the one place hits become JSON or text lines
(the HTTP service, `clir search` and the demo all call these)."""

from __future__ import annotations

from typing import Any

from clir.index.store import IndexStore
from clir.records import SearchResult
from clir.search.snippets import Snippet

SNIPPET_CHARS = 96


def result_payload(result: SearchResult, include_text: bool = False,
                   snippets: list[Snippet] | None = None) -> dict[str, Any]:
    """The JSON object of one search: hits with their score components and titles (and texts and
    metadata, and snippets, when asked), read from the index view the search used."""
    store: IndexStore = result.view
    rows = [h.row for h in result.hits]
    titles = store.titles(rows)
    docs = store.documents(rows) if include_text else {}
    hits: list[dict[str, Any]] = []
    for hit, title in zip(result.hits, titles, strict=True):
        item = hit.to_dict() | {"title": title}
        if include_text:
            doc = docs[hit.row]
            item |= {"text": doc.text, "metadata": doc.metadata}
        if snippets is not None:
            item["snippet"] = snippets[len(hits)].to_dict()
        hits.append(item)
    return {"query": result.query, "query_lang": result.query_lang, "hits": hits, "timing_ms": result.timing_ms}


def result_lines(result: SearchResult, width: int = SNIPPET_CHARS, snippets: list[Snippet] | None = None) -> list[str]:
    """One line per hit for a terminal: rank, score, id, language and the start of the title and text, or
    (given snippets) the snippet with its matched terms in «guillemets», on a second line."""
    store: IndexStore = result.view
    docs = store.documents([h.row for h in result.hits])
    lines = []
    for i, hit in enumerate(result.hits):
        doc = docs[hit.row]
        start = " ".join(f"{doc.title} {doc.text}".split())[:width]
        lines.append(f"{hit.rank:>3}  {hit.score:8.4f}  {hit.id:<16} [{hit.lang or '?'}] "
                     f"{doc.title if snippets is not None else start}".rstrip())
        if snippets is not None:
            lines.append(f"     ({snippets[i].source}) {marked(snippets[i])}")
    return lines


def marked(snippet: Snippet) -> str:
    """A snippet's text on one line, its matched terms between « and »."""
    text, out, pos = snippet.text, [], 0
    for a, b in snippet.highlights:
        out += [text[pos:a], "«", text[a:b], "»"]
        pos = b
    return " ".join("".join([*out, text[pos:]]).split())
