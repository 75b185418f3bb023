"""The writing system of a language (ISO 15924 codes), for the fusion: BM25 can still match across two
languages that share a script (names, numbers, cognates), and hardly at all across scripts
(docs/fusion.md, "Shared scripts")."""

from __future__ import annotations

from clir.text.analyzers import canonical_lang

# Each language's usual script. Languages written in several scripts (sr, az, uz, pa...) are listed under
# the one their web text mostly uses; an unlisted language has no known script and shares none.
_BY_SCRIPT = {
    "Latn": "af az bs ca cs cy da de en eo es et eu fi fil fo fr fy ga gd gl ha hr ht hu id ig is it jv la lb "
            "lt lv mg mi ms mt nl nn no nb oc pl pt qu ro rw sk sl sm sn so sq st su sv sw tk tl tr uz vi wa xh "
            "yo zu",
    "Cyrl": "be bg kk ky mk mn ru sr tg tt uk",
    "Arab": "ar ckb fa ps sd ug ur",
    "Grek": "el",
    "Hebr": "he yi",
    "Deva": "hi mr ne sa",
    "Beng": "as bn",
    "Guru": "pa",
    "Gujr": "gu",
    "Orya": "or",
    "Taml": "ta",
    "Telu": "te",
    "Knda": "kn",
    "Mlym": "ml",
    "Sinh": "si",
    "Thai": "th",
    "Laoo": "lo",
    "Khmr": "km",
    "Mymr": "my",
    "Tibt": "bo",
    "Geor": "ka",
    "Armn": "hy",
    "Ethi": "am ti",
    "Hani": "zh",
    "Jpan": "ja",
    "Kore": "ko",
}
# ISO 639-3 codes in common use that canonical_lang does not fold to two letters.
_ALIASES = {"cmn": "zh", "yue": "zh", "wuu": "zh", "hin": "hi", "pol": "pl", "swh": "sw", "vie": "vi", "ces": "cs",
            "swe": "sv", "ukr": "uk", "ell": "el", "tha": "th", "heb": "he", "fas": "fa", "pes": "fa", "ind": "id",
            "ben": "bn", "urd": "ur", "kat": "ka", "hye": "hy"}
SCRIPTS: dict[str, str] = {lang: script for script, langs in _BY_SCRIPT.items() for lang in langs.split()}


def script_of(lang: str | None) -> str | None:
    """ISO 15924 code of a language tag's usual script ("pt-BR" -> "Latn"), None when unknown."""
    code = canonical_lang(lang)
    return SCRIPTS.get(_ALIASES.get(code, code)) if code else None
