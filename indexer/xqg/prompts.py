"""What every xQG generator shares: the generator interface, language names and prompt templates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from clir.errors import ConfigError
from clir.records import Document

DEFAULT_PROMPT = "Generate a {language} question for this passage: {title} {passage}"

LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "bn": "Bengali", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "te": "Telugu", "th": "Thai", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}

SPEC_FORMS = "'hf:<model name or path>', 'file:<queries.jsonl>' or 'openai:<base_url>[#model]'"


@runtime_checkable
class Generator(Protocol):
    """What the index builder needs: per doc, up to n distinct queries in `lang`."""

    name: str

    def generate(self, docs: Sequence[Document], lang: str, n: int) -> list[list[str]]: ...


def language_name(lang: str) -> str:
    try:
        return LANGUAGE_NAMES[lang]
    except KeyError:
        raise ConfigError(f"xQG: unknown language code {lang!r}; known: {', '.join(sorted(LANGUAGE_NAMES))}") from None


def check_template(template: str) -> None:
    try:
        template.format(language="English", title="t", passage="p")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"xQG prompt template {template!r} is invalid ({exc!r}); use only {{language}}, {{title}}, {{passage}}"
        ) from None


def build_prompt(template: str, lang: str, doc: Document) -> str:
    text = template.format(language=language_name(lang), title=doc.title or "", passage=doc.text)
    # An empty title leaves "passage:  text"; collapse space runs but keep newlines a template may rely on.
    return re.sub(r" {2,}", " ", text).strip()


def dedupe_nonempty(texts: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for text in texts:
        text = text.strip()
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return out
