"""Analyzers and language identification, exercised on real text with the real libraries."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

import clir.text.analyzers as analyzers
from clir.errors import ConfigError
from clir.text.analyzers import (
    ANALYZER_VERSION,
    AnalyzerInfo,
    analyze_batch,
    analyzer_for,
)
from clir.text.langid import detect_lang, detect_langs, resolve_query_lang


def toks(lang: str | None, text: str) -> list[str]:
    return analyzer_for(lang).tokens(text)


# --- normalisation and segmentation -------------------------------------------------------

def test_numbers_and_one_character_tokens_are_kept() -> None:
    out = toks("en", "In 1995 they ran 3000 m; x")
    assert {"1995", "3000", "m", "x"} <= set(out)


def test_casefold_and_nfkc() -> None:
    # fullwidth letters/digits fold to ASCII, case folds, ligatures expand
    assert toks(None, "ＡＢＣ １２３ Oﬃce") == ["abc", "123", "office"]
    assert toks(None, "STRASSE") == toks(None, "straße")


def test_underscore_and_punctuation_split_words() -> None:
    assert toks(None, "snake_case, e-mail!") == ["snake", "case", "e", "mail"]


def test_combining_marks_stay_inside_words() -> None:
    # Python's \w excludes Devanagari vowel signs and virama; they must not split the word
    assert toks(None, "हिन्दी भाषा") == ["हिन्दी", "भाषा"]


def test_astral_characters() -> None:
    # CJK extension B bigrams; Brahmi vowel sign (a mark) stays on its consonant
    assert toks(None, "𠀀𠀁 𑀓𑀸") == ["𠀀𠀁", "𑀓𑀸"]
    # an astral character switches to the full pattern; it must not change other tokens
    text = "Straße 3000 हिन्दी 北京大学 ภาษาไทย iPhone"
    assert toks("de", text + " 😀") == toks("de", text)


def test_chinese_bigrams_and_single_character_run() -> None:
    assert toks("zh", "北京大学") == ["北京", "京大", "大学"]
    assert toks("zh", "猫") == ["猫"]


def test_japanese_kana_and_kanji_bigrams() -> None:
    out = toks("ja", "東京に行きます")
    assert out == ["東京", "京に", "に行", "行き", "きま", "ます"]
    assert toks("ja", "カタカナ") == ["カタ", "タカ", "カナ"]


def test_hangul_is_bigrammed() -> None:
    # particles glue onto nouns in Korean, so whole eojeol would not match the bare noun
    assert "서울" in toks("ko", "서울에서 만나요")


def test_mixed_latin_and_cjk_tokenise_both_parts() -> None:
    assert toks(None, "iPhone 15在中国") == ["iphone", "15", "在中", "中国"]


def test_cjk_is_bigrammed_whatever_the_declared_language() -> None:
    assert "北京" in toks("en", "The capital is 北京.")
    assert "北京" in toks("fr", "La capitale, 北京")


def test_thai_bigrams_keep_marks_on_their_base() -> None:
    out = toks("th", "ภาษาไทยง่าย")
    assert out[0] == "ภา"
    # a tone mark never starts a token
    assert all(t[0] != "\u0e48" for t in out)
    assert "ง่า" in out


# --- stemming and stopwords -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("lang", "a", "b"),
    [
        ("fr", "mangeaient", "manger"),
        ("de", "Häuser", "Hauses"),
        ("ru", "кошки", "кошка"),
        ("en", "running", "runs"),
        ("es", "corriendo", "correr"),
    ],
)
def test_inflections_share_a_stem(lang: str, a: str, b: str) -> None:
    assert toks(lang, a) == toks(lang, b)
    assert len(toks(lang, a)) == 1


@pytest.mark.parametrize(
    ("lang", "text", "stop"),
    [
        ("en", "the cat and the dog", {"the", "and"}),
        ("fr", "le chat et les chiens", {"le", "et", "les"}),
        ("de", "die Katze und der Hund", {"die", "und", "der"}),
        ("ru", "кошка и собака", {"и"}),
    ],
)
def test_stopwords_removed(lang: str, text: str, stop: set[str]) -> None:
    out = toks(lang, text)
    assert not stop & set(out)
    assert len(out) == 2


def test_stopwords_removed_before_stemming() -> None:
    # "this" stems to "thi"; it must be dropped as a stopword first, leaving no trace
    assert toks("en", "this") == []


def test_arabic_vocalised_word_matches_unvocalised() -> None:
    assert toks("ar", "الْكِتَابُ") == toks("ar", "الكتاب")
    assert toks("ar", "كتـــاب") == toks("ar", "كتاب")  # tatweel
    assert toks(None, "أحمد إسلام آمن") == ["احمد", "اسلام", "امن"]  # alef variants


def test_turkish_dotted_capital_i() -> None:
    assert toks("tr", "İstanbul") == toks("tr", "istanbul")


def test_neutral_analyzer_never_applies_english_rules(caplog: pytest.LogCaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # a fresh process's caches: the warning is logged once per language
    monkeypatch.setattr(analyzers, "_cache", {})
    monkeypatch.setattr(analyzers, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="clir.analyzers"):
        for lang in ("vi", "sw", "vi", "sw"):
            assert toks(lang, "running dogs") == ["running", "dogs"]
            assert analyzer_for(lang).info().stemmer is None
    assert toks(None, "running dogs") == ["running", "dogs"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings.count("no Snowball stemmer for 'vi'; using unstemmed tokens") == 1
    assert warnings.count("no Snowball stemmer for 'sw'; using unstemmed tokens") == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="clir.analyzers"):
        assert analyzer_for("english") is analyzer_for(None)
        analyzer_for("english")
    assert [r.getMessage() for r in caplog.records] == [
        "unrecognised language tag 'english'; using unstemmed tokens"
    ]


def test_language_tags_are_canonicalised_and_cached() -> None:
    assert analyzer_for("FR-ca") is analyzer_for("fr")
    assert analyzer_for("") is analyzer_for(None)
    assert analyzer_for("und") is analyzer_for(None)
    assert analyzer_for(None).info() == AnalyzerInfo("und", None, 0, "words")


def test_info_describes_the_analyzer() -> None:
    en = analyzer_for("en").info()
    assert en.stemmer == "english" and en.stopwords > 0 and en.segmentation == "words"
    assert analyzer_for("ja").info().segmentation == "cjk-bigrams"
    assert analyzer_for("ja").info().stemmer is None


def test_analyze_batch_matches_per_text_analysis() -> None:
    texts = ["Les chats mangeaient", "The running dogs", "北京大学", "running"]
    langs = ["fr", "en", "zh", None]
    assert analyze_batch(texts, langs) == [toks(lang, t) for t, lang in zip(texts, langs, strict=True)]
    with pytest.raises(ValueError):
        analyze_batch(texts, langs[:2])


def test_stemmer_coverage_and_version() -> None:
    stemmers = {lang: analyzer_for(lang).info().stemmer for lang in ("en", "ar", "hi", "ja", "vi")}
    assert stemmers == {"en": "english", "ar": "arabic", "hi": "hindi", "ja": None, "vi": None}
    assert ANALYZER_VERSION


def test_analyzer_is_thread_safe() -> None:
    words = " ".join(f"running{i} jumping{i} houses{i}" for i in range(200))
    expected = toks("en", words)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: toks("en", words), range(32)))
    assert all(r == expected for r in results)


# --- language identification ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Le chat dort sur le canapé pendant que la pluie tombe.", "fr"),
        ("Die Katze schläft auf dem Sofa, während es draußen regnet.", "de"),
        ("القطة تنام على الأريكة بينما تمطر في الخارج", "ar"),
        ("猫在沙发上睡觉，外面正在下雨。", "zh"),
    ],
)
def test_detect_lang(text: str, lang: str) -> None:
    detected, prob = detect_lang(text)
    assert detected == lang
    assert 0.5 < prob <= 1.0


def test_candidates_restrict_detection_without_touching_the_full_model() -> None:
    unrestricted = detect_lang("hello")
    assert detect_lang("hello", ["en", "fr", "de"])[0] == "en"
    assert detect_lang("Le chat dort sur le canapé.", ["de", "en"])[0] in {"de", "en"}
    assert detect_lang("hello") == unrestricted
    # unknown codes are ignored rather than failing the whole detection
    assert detect_lang("Le chat dort sur le canapé.", ["fr", "xx"])[0] == "fr"


def test_detect_langs_and_empty_text() -> None:
    out = detect_langs(["Der Hund bellt laut im Garten.", "", "12345"], candidates=["de", "en"])
    assert out[0][0] == "de"
    assert out[1] == ("und", 0.0) and out[2] == ("und", 0.0)


def test_candidate_sets_are_safe_across_threads() -> None:
    text = "Le chat dort sur le canapé pendant que la pluie tombe."
    sets = [["fr", "en"], ["de", "en"], None, ["fr", "de"]] * 8
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda c: detect_lang(text, c)[0], sets))
    assert results == [detect_lang(text, c)[0] for c in sets]


def test_resolve_query_lang() -> None:
    assert resolve_query_lang("whatever", "FR", None) == ("fr", "hint")
    assert resolve_query_lang("whatever", "pt-BR", None) == ("pt", "hint")
    french = "Quelle est la capitale de la France et combien d'habitants a-t-elle ?"
    assert resolve_query_lang(french, None, None) == ("fr", "detected")
    assert resolve_query_lang(french, "", ["fr", "en"]) == ("fr", "detected")
    # one short ambiguous word against 140 languages is below min_prob
    assert resolve_query_lang("hello", None, None, default="en") == ("en", "default")
    assert resolve_query_lang("", None, ["fr", "en"]) == (None, "default")
    assert resolve_query_lang(french, None, None, default="en", min_prob=1.01) == ("en", "default")


@pytest.mark.parametrize("hint", ["english", "e", "12", "f r"])
def test_bad_hint_is_a_config_error(hint: str) -> None:
    with pytest.raises(ConfigError):
        resolve_query_lang("hello", hint, None)


def test_scripts_of_language_tags() -> None:
    from clir.text.scripts import script_of

    assert script_of("pt-BR") == script_of("vie") == script_of("en") == "Latn"
    assert script_of("ru") == script_of("ukr") == "Cyrl"
    assert script_of("cmn") == script_of("zh-Hant") == "Hani"
    assert script_of("th") == "Thai" and script_of("ar") == "Arab"
    assert script_of("xx") is None and script_of(None) is None and script_of("") is None
