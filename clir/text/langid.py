"""Language identification with py3langid's bundled model (no download).

Short queries are unreliable against all ~140 model languages (py3langid calls "hello" Breton),
so callers should pass `candidates`, e.g. the index's document languages plus "en". The
restricted classifiers share the full model's arrays: py3langid's set_languages() rebinds
sliced arrays on the instance it is called on, so each candidate set gets its own shallow copy
and the shared base is never mutated.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from clir.errors import ConfigError
from clir.text.analyzers import canonical_lang

UNDETERMINED = "und"
_MAX_CACHED_SETS = 64

_lock = threading.Lock()
_base: LanguageIdentifier | None = None
_restricted: OrderedDict[frozenset[str], LanguageIdentifier] = OrderedDict()


def _base_identifier() -> LanguageIdentifier:
    global _base
    if _base is None:
        with _lock:
            if _base is None:
                # decompressing the model takes a while, so it is loaded once, on first use
                _base = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _base


def _identifier(candidates: Sequence[str] | None) -> LanguageIdentifier:
    if not candidates:
        return _base_identifier()
    # Canonicalising the candidate codes costs more than classifying a short query: remember the
    # identifier per candidate sequence as given (the service passes the same one on every request).
    return _identifier_for(tuple(candidates))


@functools.lru_cache(maxsize=_MAX_CACHED_SETS)
def _identifier_for(candidates: tuple[str, ...]) -> LanguageIdentifier:
    base = _base_identifier()
    known = set(base.labels)
    # codes the model lacks cannot be predicted anyway; dropping them keeps the rest usable
    key = frozenset(c for c in (canonical_lang(x) for x in candidates) if c is not None and c in known)
    if not key or key == known:
        return base
    with _lock:
        ident = _restricted.get(key)
        if ident is None:
            ident = copy.copy(base)
            ident.set_languages(sorted(key))
            _restricted[key] = ident
            if len(_restricted) > _MAX_CACHED_SETS:
                _restricted.popitem(last=False)
        else:
            _restricted.move_to_end(key)
        return ident


def _classify(ident: LanguageIdentifier, text: str) -> tuple[str, float]:
    # featureless input gets a uniform distribution whose argmax is arbitrary; say so instead
    if not any(ch.isalpha() for ch in text):
        return UNDETERMINED, 0.0
    lang, prob = ident.classify(text)
    if lang == "zxx":  # the model's "no linguistic content" class
        return UNDETERMINED, float(prob)
    return lang, float(prob)


def detect_lang(text: str, candidates: Sequence[str] | None = None) -> tuple[str, float]:
    """(ISO code, probability normalised over the candidate languages); ("und", 0.0) for no text."""
    return _classify(_identifier(candidates), text)


def detect_langs(texts: Sequence[str], candidates: Sequence[str] | None = None) -> list[tuple[str, float]]:
    """detect_lang for each text, resolving the candidate set once."""
    ident = _identifier(candidates)
    return [_classify(ident, text) for text in texts]


def validate_lang(code: str) -> str:
    """A user-supplied language code, lowercased ("FR" -> "fr", "pt-BR" -> "pt"), or ConfigError."""
    canon = canonical_lang(code)
    if canon is None:
        raise ConfigError(f"invalid language code {code!r}: expected an ISO 639 code such as 'en' or 'fr'")
    return canon


def resolve_query_lang(
    text: str,
    hint: str | None,
    candidates: Sequence[str] | None,
    default: str | None = None,
    min_prob: float = 0.5,
) -> tuple[str | None, str]:
    """The language to analyse a query with, and where it came from: "hint", "detected" or "default".

    A hint always wins. Otherwise detection is trusted only at `min_prob` or above, because a
    wrong language picks a wrong stemmer, which is worse than the default's unstemmed tokens.
    """
    if hint is not None and hint.strip():
        return validate_lang(hint), "hint"
    lang, prob = detect_lang(text, candidates)
    if lang != UNDETERMINED and prob >= min_prob:
        return lang, "detected"
    return (validate_lang(default) if default else None), "default"
