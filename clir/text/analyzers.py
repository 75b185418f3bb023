"""Language-aware text analysis for the sparse (BM25) index.

Every analyzer shares one normalisation and segmentation pipeline, so a document analysed as
French and a query analysed as English still agree on how a Chinese name or a number is
tokenised; only stopword removal and Snowball stemming are language specific, and they only
ever touch space-delimited word tokens.

Pipeline: NFKC -> casefold (Turkish/Azeri dotted/dotless i first) -> Arabic diacritic, tatweel
and alef normalisation -> tokenisation into homogeneous script runs -> space-less scripts
become overlapping bigrams (Han/kana, Hangul as in Lucene's CJKAnalyzer; Thai/Lao/Khmer/Myanmar
over grapheme clusters) -> word tokens: stopwords removed, then Snowball stem.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain

import Stemmer

ANALYZER_VERSION = "1"

log = logging.getLogger("clir.analyzers")

# ISO 639-1 (and a few 639-2/3) code -> Snowball algorithm name. Filtered against the
# installed PyStemmer at lookup time, because older builds lack some algorithms.
_SNOWBALL: dict[str, str] = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech",
    "da": "danish", "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian",
    "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "fa": "persian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "st": "sesotho", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}

# bm25s.stopwords attribute per language. Chinese and Korean lists exist in bm25s but hold
# whole words, which never match bigram tokens, so they are deliberately not used.
_STOPWORD_LISTS: dict[str, str] = {
    "en": "STOPWORDS_EN", "de": "STOPWORDS_GERMAN", "nl": "STOPWORDS_DUTCH",
    "fr": "STOPWORDS_FRENCH", "es": "STOPWORDS_SPANISH", "pt": "STOPWORDS_PORTUGUESE",
    "it": "STOPWORDS_ITALIAN", "ru": "STOPWORDS_RUSSIAN", "sv": "STOPWORDS_SWEDISH",
    "no": "STOPWORDS_NORWEGIAN", "nb": "STOPWORDS_NORWEGIAN", "nn": "STOPWORDS_NORWEGIAN",
    "tr": "STOPWORDS_TURKISH", "da": "STOPWORDS_DANISH",
}

# Legacy and three-letter tags seen in corpora, folded onto the code the tables use.
_ALIASES = {
    "iw": "he", "in": "id", "ji": "yi", "eng": "en", "fra": "fr", "fre": "fr", "deu": "de",
    "ger": "de", "spa": "es", "ita": "it", "por": "pt", "rus": "ru", "ara": "ar", "zho": "zh",
    "chi": "zh", "jpn": "ja", "kor": "ko", "nld": "nl", "dut": "nl", "tur": "tr",
}

# Languages written mostly without spaces: bigrams are their intended segmentation, not a
# degraded fallback, so no warning is logged for them.
_SEGMENTATION = {
    "zh": "cjk-bigrams", "ja": "cjk-bigrams", "ko": "cjk-bigrams", "yue": "cjk-bigrams",
    "wuu": "cjk-bigrams", "th": "cluster-bigrams", "lo": "cluster-bigrams",
    "km": "cluster-bigrams", "my": "cluster-bigrams",
}


_TURKIC = frozenset({"tr", "az"})
# ISO 639 "undetermined", "no linguistic content", "multiple", "uncoded": the neutral analyzer
_NO_LANGUAGE = frozenset({"und", "zxx", "mul", "mis"})
_LANG_TAG = re.compile(r"[a-z]{2,3}")

# Script blocks whose runs are bigrammed; Han and kana share one run class because Japanese
# mixes them inside words. Planes 2-3 are entirely CJK ideographs.
_BIGRAM_BLOCKS: dict[str, tuple[tuple[int, int], ...]] = {
    "cjk": ((0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3031, 0x3035),
            (0x3038, 0x303C), (0x3040, 0x30FF), (0x3100, 0x312F), (0x31A0, 0x31BF),
            (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
            (0xFF66, 0xFF9F), (0x1B000, 0x1B16F), (0x20000, 0x3FFFF)),
    "hangul": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
               (0xFFA0, 0xFFDC)),
    "thai": ((0x0E00, 0x0E7F),),
    "lao": ((0x0E80, 0x0EFF),),
    "khmer": ((0x1780, 0x17FF), (0x19E0, 0x19FF)),
    "myanmar": ((0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F)),
}
_CLUSTER_SCRIPTS = ("thai", "lao", "khmer", "myanmar")

# Arabic: tashkeel U+064B-U+065F, superscript alef U+0670 and tatweel U+0640 are dropped;
# hamza/madda/wasla alef forms fold to bare alef so vocalised and plain spellings match.
_ARABIC_TABLE: dict[int, int | None] = {cp: None for cp in (*range(0x064B, 0x0660), 0x0670, 0x0640)}
_ARABIC_TABLE.update({0x0622: 0x0627, 0x0623: 0x0627, 0x0625: 0x0627, 0x0671: 0x0627})
_ARABIC_FIX = re.compile("[" + "".join(f"\\u{cp:04x}" for cp in _ARABIC_TABLE) + "]")


def _ranges_class(ranges: list[tuple[int, int]]) -> str:
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


def _to_ranges(cps: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


@dataclass(frozen=True)
class _Patterns:
    token: re.Pattern[str]
    # sre tests astral ranges of a class one by one, which made the full pattern 6x slower on
    # ordinary text; texts without astral characters use a BMP-only twin (same tokens)
    token_bmp: re.Pattern[str]
    astral: re.Pattern[str]
    bigram_char: re.Pattern[str]  # any char of a bigrammed script: gates the slow path
    bigram_char_bmp: re.Pattern[str]
    cjk_start: re.Pattern[str]
    cluster_start: re.Pattern[str]
    cluster: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    # Python's \w excludes combining marks, which would shred Devanagari, Thai, Hebrew points
    # etc., and \w cannot exclude CJK; so the classes are built from the Unicode database once.
    # Planes 0, 1 and 14 hold every mark and non-Han letter; scanning them is done once.
    n_scan = 0x20000
    owner = bytearray(n_scan)  # 0 = ordinary word script, i = index+1 into names
    names = list(_BIGRAM_BLOCKS)
    for i, name in enumerate(names, start=1):
        for a, b in _BIGRAM_BLOCKS[name]:
            lo, hi = min(a, n_scan), min(b + 1, n_scan)
            owner[lo:hi] = bytes([i]) * (hi - lo)
    buckets: dict[str, list[int]] = {name: [] for name in (*names, "word")}
    slots = [buckets["word"], *(buckets[name] for name in names)]
    marks: list[int] = []
    category = unicodedata.category
    for cp in chain(range(n_scan), range(0xE0000, 0xE1000)):
        ch = chr(cp)
        if ch.isalnum():
            slots[owner[cp] if cp < n_scan else 0].append(cp)
        elif category(ch)[0] == "M":
            marks.append(cp)
            slots[owner[cp] if cp < n_scan else 0].append(cp)
    ranges = {name: _to_ranges(cps) for name, cps in buckets.items()}
    ranges["cjk"].append((0x20000, min(0x3FFFF, sys.maxunicode)))
    full = {name: _ranges_class(r) for name, r in ranges.items()}
    bmp = {name: _ranges_class([(a, min(b, 0xFFFF)) for a, b in r if a <= 0xFFFF])
           for name, r in ranges.items()}
    order = (*names, "word")
    sources = dict(
        token="|".join(f"[{full[name]}]+" for name in order),
        token_bmp="|".join(f"[{bmp[name]}]+" for name in order),
        astral="[\\U00010000-\\U0010ffff]",
        bigram_char="[" + "".join(full[name] for name in names) + "]",
        bigram_char_bmp="[" + "".join(bmp[name] for name in names) + "]",
        cjk_start=f"[{full['cjk']}{full['hangul']}]",
        # the clustered scripts are all in the BMP, so BMP marks suffice
        cluster_start="[" + "".join(bmp[n] for n in _CLUSTER_SCRIPTS) + "]",
        cluster=f"(?s).[{_ranges_class([r for r in _to_ranges(marks) if r[0] <= 0xFFFF])}]*",
    )
    return _Patterns(**{field: re.compile(src) for field, src in sources.items()})


def _normalise(text: str, turkic: bool) -> str:
    text = unicodedata.normalize("NFKC", text)
    if turkic:
        # casefold() maps I->i and İ->i+U+0307, both wrong for Turkish and Azeri
        text = text.replace("I", "ı").replace("İ", "i")
    text = text.casefold()
    if _ARABIC_FIX.search(text):
        text = text.translate(_ARABIC_TABLE)
    return text


def _bigrams(units: Sequence[str]) -> list[str]:
    if len(units) == 1:
        return [units[0]]
    return [units[i] + units[i + 1] for i in range(len(units) - 1)]


def canonical_lang(lang: str | None) -> str | None:
    """Fold a language tag ("pt-BR", "EN", "eng") to the primary code, or None if unusable."""
    if not lang:
        return None
    primary = re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0]
    primary = _ALIASES.get(primary, primary)
    return primary if _LANG_TAG.fullmatch(primary) else None


@dataclass(frozen=True)
class AnalyzerInfo:
    lang: str
    stemmer: str | None
    stopwords: int
    segmentation: str  # "words" | "cjk-bigrams" | "cluster-bigrams"


class Analyzer:
    """Turns text into index/query tokens for one language. Thread-safe."""

    def __init__(self, lang: str, stemmer: str | None, stopwords: frozenset[str]) -> None:
        self.lang = lang
        self._stemmer_name = stemmer
        self._stemmer = Stemmer.Stemmer(stemmer) if stemmer else None
        # PyStemmer objects carry internal state and must not be entered concurrently
        self._lock = threading.Lock()
        self._stopwords = stopwords
        self._turkic = lang in _TURKIC
        self._pat = _patterns()

    def info(self) -> AnalyzerInfo:
        return AnalyzerInfo(
            lang=self.lang,
            stemmer=self._stemmer_name,
            stopwords=len(self._stopwords),
            segmentation=_SEGMENTATION.get(self.lang, "words"),
        )

    def tokens(self, text: str) -> list[str]:
        norm = _normalise(text, self._turkic)
        pat = self._pat
        if pat.astral.search(norm):
            raw, mixed = pat.token.findall(norm), pat.bigram_char.search(norm)
        else:
            raw, mixed = pat.token_bmp.findall(norm), pat.bigram_char_bmp.search(norm)
        if not mixed:
            return self._words(raw)
        out: list[str] = []
        pending: list[str] = []
        for tok in raw:
            if pat.cjk_start.match(tok):
                units: Sequence[str] = tok
            elif pat.cluster_start.match(tok):
                # bigram grapheme clusters, not code points, so vowel signs stay on their base
                units = pat.cluster.findall(tok)
            else:
                pending.append(tok)
                continue
            if pending:
                out.extend(self._words(pending))
                pending = []
            out.extend(_bigrams(units))
        if pending:
            out.extend(self._words(pending))
        return out

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """The tokens of `text` located: (start, end, token) with text[start:end] the characters each
        came from. Words are analysed one by one; a run of a bigrammed script yields one token per
        adjacent pair of characters (grapheme clusters for Thai, Lao, Khmer, Myanmar)."""
        out: list[tuple[int, int, str]] = []
        pat = self._pat
        for match in pat.token.finditer(text):
            word, start = match.group(), match.start()
            if pat.cjk_start.match(word):
                units = [(start + i, start + i + 1) for i in range(len(word))]
            elif pat.cluster_start.match(word):
                units = [(start + c.start(), start + c.end()) for c in pat.cluster.finditer(word)]
            else:
                out.extend((start, match.end(), token) for token in self.tokens(word))
                continue
            pairs = [(units[0][0], units[0][1])] if len(units) == 1 else \
                [(units[i][0], units[i + 1][1]) for i in range(len(units) - 1)]
            out.extend((a, b, token) for a, b in pairs for token in self.tokens(text[a:b]))
        return out

    def _words(self, words: list[str]) -> list[str]:
        if self._stopwords:
            stop = self._stopwords
            words = [w for w in words if w not in stop]
        if self._stemmer is None or not words:
            return words
        with self._lock:
            stemmed: list[str] = self._stemmer.stemWords(words)
        return stemmed

    def __repr__(self) -> str:
        return f"Analyzer(lang={self.lang!r}, stemmer={self._stemmer_name!r})"


_cache: dict[str | None, Analyzer] = {}
_cache_lock = threading.Lock()
_warned: set[str] = set()


def _snowball_for(lang: str) -> str | None:
    algo = _SNOWBALL.get(lang)
    return algo if algo in _installed_algorithms() else None


@cache
def _installed_algorithms() -> frozenset[str]:
    return frozenset(Stemmer.algorithms())


@cache
def _stopwords_for(lang: str) -> frozenset[str]:
    if lang not in _STOPWORD_LISTS:
        return frozenset()
    # imported here: bm25s pulls in tqdm & co, an import cost query-only callers need not pay
    import bm25s.stopwords

    words = getattr(bm25s.stopwords, _STOPWORD_LISTS[lang])
    # normalised like the text, so e.g. German "daß" and "dass" are both caught
    return frozenset(_normalise(w, lang in _TURKIC) for w in words)


def _make(lang: str | None) -> Analyzer:
    if lang is None:
        return Analyzer("und", None, frozenset())
    algo = _snowball_for(lang)
    if algo is None:
        if lang in _SEGMENTATION:
            log.info("%r is segmented into bigrams; no stemming applied", lang)
        elif lang not in _warned:
            _warned.add(lang)
            log.warning("no Snowball stemmer for %r; using unstemmed tokens", lang)
        return Analyzer(lang, None, frozenset())
    return Analyzer(lang, algo, _stopwords_for(lang))


def analyzer_for(lang: str | None) -> Analyzer:
    """The cached analyzer for a language tag; None, "" or an unusable tag gets the neutral one."""
    key = canonical_lang(lang)
    if key in _NO_LANGUAGE:
        key = None
    elif key is None and lang and lang.strip() and lang not in _warned:
        with _cache_lock:
            if lang not in _warned:
                _warned.add(lang)
                log.warning("unrecognised language tag %r; using unstemmed tokens", lang)
    found = _cache.get(key)
    if found is not None:
        return found
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _make(key)
        return _cache[key]


def analyze_batch(texts: Sequence[str], langs: Sequence[str | None]) -> list[list[str]]:
    """Tokens for each text with the analyzer of its language (aligned with `texts`)."""
    if len(texts) != len(langs):
        raise ValueError(f"analyze_batch: {len(texts)} texts but {len(langs)} languages")
    analyzers: dict[str | None, Analyzer] = {}
    out: list[list[str]] = []
    for text, lang in zip(texts, langs, strict=True):
        an = analyzers.get(lang)
        if an is None:
            an = analyzers[lang] = analyzer_for(lang)
        out.append(an.tokens(text))
    return out
