"""Tatoeba and XQuAD-R importers, on tiny fake inputs shaped like the real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clir.corpus.readers import detect_format, read_corpus, read_qrels, read_queries
from clir.errors import CorpusError
from clir.records import Query
from indexer.importers import TATOEBA_LANGS, import_tatoeba, import_tatoeba_pool, import_xquad_r


def make_tatoeba(src: Path, xxx: str, pairs: list[tuple[str, str]]) -> Path:
    src.mkdir(exist_ok=True)
    (src / f"tatoeba.{xxx}-eng.{xxx}").write_text("".join(f"{d}\n" for d, _ in pairs), encoding="utf-8")
    (src / f"tatoeba.{xxx}-eng.eng").write_text("".join(f"{e}\n" for _, e in pairs), encoding="utf-8")
    return src


PAIRS = [("Le chat dort.", "The cat sleeps."), ("Il pleut.", "It is raining."), ("Bonjour !", "Hello!")]


def test_tatoeba_import(tmp_path: Path) -> None:
    src = make_tatoeba(tmp_path / "tatoeba", "fra", PAIRS)
    out = tmp_path / "out" / "tatoeba-fra"
    counts = import_tatoeba(src, "fra-eng", out)
    assert counts == {"documents": 3, "queries": 3, "qrels": 3}
    assert detect_format(out) == "beir"
    docs = list(read_corpus(out))
    assert [(d.id, d.text, d.lang) for d in docs] == [
        ("fra-0", "Le chat dort.", "fr"),
        ("fra-1", "Il pleut.", "fr"),
        ("fra-2", "Bonjour !", "fr"),
    ]
    assert list(read_queries(out))[1] == Query(id="eng-1", text="It is raining.", lang="en")
    assert read_qrels(out) == {"eng-0": {"fra-0": 1}, "eng-1": {"fra-1": 1}, "eng-2": {"fra-2": 1}}
    # Nothing but the finished folder is left next to it.
    assert [p.name for p in out.parent.iterdir()] == ["tatoeba-fra"]


def test_tatoeba_pool(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for xxx in TATOEBA_LANGS:
        (src / f"tatoeba.{xxx}-eng.{xxx}").write_text(f"{xxx} one\n{xxx} two\n{xxx} three\n", encoding="utf-8")
        (src / f"tatoeba.{xxx}-eng.eng").write_text(f"one {xxx}\ntwo {xxx}\nthree {xxx}\n", encoding="utf-8")
    counts = import_tatoeba_pool(src, tmp_path / "pool", per_pair=2)
    assert counts == {"documents": 48, "queries": 32, "qrels": 32}
    docs = {d.id: d for d in read_corpus(tmp_path / "pool")}
    assert len({d.lang for d in docs.values()}) == 16 and docs["fra-2"].text == "fra three"
    queries = list(read_queries(tmp_path / "pool" / "queries.jsonl"))
    assert [q.id for q in queries][:2] == ["eng-fra-0", "eng-fra-1"] and queries[0].text == "one fra"
    qrels = read_qrels(tmp_path / "pool" / "qrels" / "test.tsv")
    assert qrels["eng-jpn-1"] == {"jpn-1": 1}
    (src / "tatoeba.deu-eng.deu").write_text("only one\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line-aligned"):
        import_tatoeba_pool(src, tmp_path / "pool2")


def test_tatoeba_language_codes(tmp_path: Path) -> None:
    src = make_tatoeba(tmp_path / "src", "cmn", [("你好。", "Hello.")])
    import_tatoeba(src, "cmn-eng", tmp_path / "out")
    [doc] = read_corpus(tmp_path / "out")
    assert (doc.id, doc.lang) == ("cmn-0", "zh")


@pytest.mark.parametrize(
    ("pair", "fragment"),
    [
        ("xxx-eng", "unknown Tatoeba pair 'xxx-eng'"),
        ("fra", "must look like 'fra-eng'"),
        ("deu-eng", "missing"),
    ],
)
def test_tatoeba_bad_pair_or_missing_file(tmp_path: Path, pair: str, fragment: str) -> None:
    src = make_tatoeba(tmp_path / "src", "fra", PAIRS)
    with pytest.raises(CorpusError, match=fragment):
        import_tatoeba(src, pair, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tatoeba_misaligned_and_empty_lines(tmp_path: Path) -> None:
    src = make_tatoeba(tmp_path / "src", "fra", PAIRS)
    (src / "tatoeba.fra-eng.eng").write_text("The cat sleeps.\nIt is raining.\n")
    with pytest.raises(CorpusError, match="3 lines but tatoeba.fra-eng.eng has 2"):
        import_tatoeba(src, "fra-eng", tmp_path / "out")
    (src / "tatoeba.fra-eng.eng").write_text("The cat sleeps.\n\nHello!\n")
    with pytest.raises(CorpusError, match=r"tatoeba\.fra-eng\.eng:2: empty sentence"):
        import_tatoeba(src, "fra-eng", tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_import_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    src = make_tatoeba(tmp_path / "src", "fra", PAIRS)
    out = tmp_path / "out"
    out.mkdir()  # an empty folder is fine to fill
    import_tatoeba(src, "fra-eng", out)
    make_tatoeba(src, "fra", PAIRS[:1])
    with pytest.raises(CorpusError, match="already exists and is not empty"):
        import_tatoeba(src, "fra-eng", out)
    assert len(list(read_corpus(out))) == 3
    assert import_tatoeba(src, "fra-eng", out, overwrite=True)["documents"] == 1
    assert [d.id for d in read_corpus(out)] == ["fra-0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_failed_overwrite_keeps_previous_folder(tmp_path: Path) -> None:
    src = make_tatoeba(tmp_path / "src", "fra", PAIRS)
    out = tmp_path / "out"
    import_tatoeba(src, "fra-eng", out)
    (src / "tatoeba.fra-eng.fra").write_text("only one\n")
    with pytest.raises(CorpusError):
        import_tatoeba(src, "fra-eng", out, overwrite=True)
    assert len(list(read_corpus(out))) == 3


# --------------------------------------------------------------------------- XQuAD-R


def paragraph(sentences: list[str], questions: list[tuple[str, str, int, int]]) -> dict:
    """questions: (id, text, index of the answer's sentence, answer offset inside that sentence)."""
    breaks, pos = [], 0
    for sentence in sentences:
        breaks.append([pos, pos + len(sentence)])
        pos += len(sentence) + 1
    qas = [
        {"id": qid, "question": text, "answers": [{"answer_start": breaks[s][0] + offset, "text": "x"}]}
        for qid, text, s, offset in questions
    ]
    return {"context": " ".join(sentences), "qas": qas, "sentences": sentences, "sentence_breaks": breaks}


def make_xquad(src: Path) -> Path:
    """Two parallel languages; German splits the first paragraph into three sentences, English into two."""
    src.mkdir(exist_ok=True)
    en = [
        {
            "title": "Super_Bowl_50",
            "paragraphs": [
                paragraph(
                    ["The game was played in 2016.", "Denver won it."],
                    [("qa", "When was the game?", 0, 22), ("qb", "Who won?", 1, 0)],
                ),
                paragraph(["Beyonce performed.", "Coldplay too."], [("qc", "Who performed?", 1, 0)]),
            ],
        },
        {"title": "Rhine", "paragraphs": [paragraph(["The Rhine is long."], [("qd", "Is it long?", 0, 4)])]},
    ]
    de = [
        {
            "title": "Super_Bowl_50",
            "paragraphs": [
                paragraph(
                    ["Das Spiel fand statt.", "Es war 2016.", "Denver gewann."],
                    [("qa", "Wann war das Spiel?", 1, 7), ("qb", "Wer gewann?", 2, 0)],
                ),
                paragraph(["Beyonce sang.", "Coldplay auch."], [("qc", "Wer trat auf?", 1, 0)]),
            ],
        },
        {
            "title": "Rhine",
            "paragraphs": [paragraph(["Der Rhein ist lang."], [("qd", "Ist er lang?", 0, 4)])],
        },
    ]
    for lang, data in (("en", en), ("de", de)):
        (src / f"{lang}.json").write_text(json.dumps({"data": data, "version": "1.1"}), encoding="utf-8")
    return src


def test_xquad_paragraphs(tmp_path: Path) -> None:
    src = make_xquad(tmp_path / "xq")
    counts = import_xquad_r(src, "en", ["de"], "paragraph", tmp_path / "out")
    assert counts == {"documents": 3, "queries": 4, "qrels": 4}
    docs = {d.id: d for d in read_corpus(tmp_path / "out")}
    assert sorted(docs) == ["de-p0-0", "de-p0-1", "de-p1-0"]
    first = docs["de-p0-0"]
    assert first.title == ""  # English article titles would leak English words into every language
    assert first.text == "Das Spiel fand statt. Es war 2016. Denver gewann."
    assert (first.lang, first.metadata) == ("de", {"article": 0, "paragraph": 0, "title": "Super Bowl 50"})
    queries = list(read_queries(tmp_path / "out"))
    assert queries[0] == Query(id="qa", text="When was the game?", lang="en")
    assert read_qrels(tmp_path / "out") == {
        "qa": {"de-p0-0": 1},
        "qb": {"de-p0-0": 1},
        "qc": {"de-p0-1": 1},
        "qd": {"de-p1-0": 1},
    }


def test_xquad_sentences_multilingual_pool(tmp_path: Path) -> None:
    src = make_xquad(tmp_path / "xq")
    counts = import_xquad_r(src, "de", ["en", "de"], "sentence", tmp_path / "out")
    assert counts == {"documents": 5 + 6, "queries": 4, "qrels": 8}
    docs = {d.id: d for d in read_corpus(tmp_path / "out")}
    assert docs["de-s0-0-1"].text == "Es war 2016."
    assert docs["de-s0-0-1"].metadata == {"article": 0, "paragraph": 0, "sentence": 1}
    assert docs["en-s1-0-0"].lang == "en"
    assert {q.lang for q in read_queries(tmp_path / "out")} == {"de"}
    # Each language's gold sentence comes from its own answer offset, not from the query language's.
    assert read_qrels(tmp_path / "out") == {
        "qa": {"en-s0-0-0": 1, "de-s0-0-1": 1},
        "qb": {"en-s0-0-1": 1, "de-s0-0-2": 1},
        "qc": {"en-s0-1-1": 1, "de-s0-1-1": 1},
        "qd": {"en-s1-0-0": 1, "de-s1-0-0": 1},
    }


def test_xquad_answer_on_a_sentence_boundary(tmp_path: Path) -> None:
    src = make_xquad(tmp_path / "xq")
    data = json.loads((src / "en.json").read_text())
    para = data["data"][0]["paragraphs"][1]
    # Make the breaks touch ([0, 19], [19, 32]); an answer at 19 belongs to the second sentence only.
    para["sentence_breaks"] = [[0, 19], [19, 32]]
    para["qas"][0]["answers"][0]["answer_start"] = 19
    (src / "en.json").write_text(json.dumps(data))
    import_xquad_r(src, "en", ["en"], "sentence", tmp_path / "out")
    assert read_qrels(tmp_path / "out")["qc"] == {"en-s0-1-1": 1}


def test_xquad_errors(tmp_path: Path) -> None:
    src = make_xquad(tmp_path / "xq")
    out = tmp_path / "out"
    with pytest.raises(CorpusError, match="unknown XQuAD-R language 'fr'.*de, en"):
        import_xquad_r(src, "en", ["fr"], "sentence", out)
    with pytest.raises(CorpusError, match="unknown XQuAD-R unit 'word'"):
        import_xquad_r(src, "en", ["de"], "word", out)
    with pytest.raises(CorpusError, match="at least one document language"):
        import_xquad_r(src, "en", [], "sentence", out)

    data = json.loads((src / "de.json").read_text())
    data["data"][0]["paragraphs"][0]["qas"][0]["id"] = "other"
    (src / "de.json").write_text(json.dumps(data))
    with pytest.raises(CorpusError, match="article 0 paragraph 0 has other questions than en.json"):
        import_xquad_r(src, "en", ["de"], "paragraph", out)

    data["data"][0]["paragraphs"][0]["qas"][0]["id"] = "qa"
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 999
    (src / "de.json").write_text(json.dumps(data))
    with pytest.raises(CorpusError, match="question qa: answer_start 999 lies outside every sentence span"):
        import_xquad_r(src, "en", ["de"], "sentence", out)

    (src / "de.json").write_text(json.dumps({"data": [{"title": "x"}]}))
    with pytest.raises(CorpusError, match="de.json: not SQuAD-style"):
        import_xquad_r(src, "en", ["de"], "paragraph", out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xq"]
