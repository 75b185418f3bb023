"""Convert the raw evaluation sets (Tatoeba, XQuAD-R) into BEIR folders the readers and evaluator use.

Both importers build the folder next to its destination and rename it into place, so an interrupted
import never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from clir.corpus.beir import write_beir
from clir.errors import CorpusError
from clir.files import install_dir, scratch_dir
from clir.records import Document, Qrels, Query

TATOEBA_LANGS = {
    "fra": "fr", "deu": "de", "spa": "es", "ita": "it", "por": "pt", "rus": "ru", "jpn": "ja", "cmn": "zh",
    "ara": "ar", "hin": "hi", "swh": "sw", "tur": "tr", "vie": "vi", "kor": "ko", "pol": "pl", "nld": "nl",
}  # fmt: skip
XQUAD_UNITS = ("paragraph", "sentence")


def _write_atomically(out: Path, write: Callable[[Path], dict[str, int]], overwrite: bool) -> dict[str, int]:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CorpusError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CorpusError(f"{out}: already exists and is not empty (pass overwrite=True to replace it)")
    tmp = scratch_dir(out, f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        counts = write(tmp)
        install_dir(tmp, out)
        return counts
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- Tatoeba


def _read_sentences(path: Path) -> list[str]:
    if not path.is_file():
        raise CorpusError(f"{path}: missing Tatoeba file")
    sentences = []
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise CorpusError(f"{path}:{n}: not valid UTF-8") from None
            if not text:
                raise CorpusError(f"{path}:{n}: empty sentence (lines must stay aligned with the other side)")
            sentences.append(text)
    return sentences


def import_tatoeba(src: Path, pair: str, out: Path, *, overwrite: bool = False) -> dict[str, int]:
    """One Tatoeba pair as a BEIR folder: English queries, `xxx` documents, line i relevant to line i.

    Ids are 0-based line numbers: doc `fra-0` answers query `eng-0`.
    """
    src, out = Path(src), Path(out)
    xxx, _, eng = pair.strip().lower().partition("-")
    if eng != "eng" or not xxx:
        raise CorpusError(f"Tatoeba pair must look like 'fra-eng', got {pair!r}")
    if xxx not in TATOEBA_LANGS:
        raise CorpusError(
            f"unknown Tatoeba pair {pair!r} (known: {', '.join(f'{k}-eng' for k in TATOEBA_LANGS)})"
        )
    doc_path = src / f"tatoeba.{xxx}-eng.{xxx}"
    query_path = src / f"tatoeba.{xxx}-eng.eng"
    docs_text, queries_text = _read_sentences(doc_path), _read_sentences(query_path)
    if len(docs_text) != len(queries_text):
        raise CorpusError(
            f"{doc_path}: {len(docs_text)} lines but {query_path.name} has {len(queries_text)}; "
            "the two sides must be line-aligned"
        )
    lang = TATOEBA_LANGS[xxx]
    docs = [Document(id=f"{xxx}-{i}", text=t, lang=lang) for i, t in enumerate(docs_text)]
    queries = [Query(id=f"eng-{i}", text=t, lang="en") for i, t in enumerate(queries_text)]
    qrels: Qrels = {f"eng-{i}": {f"{xxx}-{i}": 1} for i in range(len(docs))}
    return _write_atomically(out, lambda tmp: write_beir(tmp, docs, queries, qrels), overwrite)


def import_tatoeba_pool(src: Path, out: Path, *, per_pair: int = 125, overwrite: bool = False) -> dict[str, int]:
    """All 16 Tatoeba pairs in one collection: the non-English sides as documents (16 languages), the
    first `per_pair` English sentences of each pair as queries, each with exactly one relevant document
    (its translation): the pool where only one language holds the answer."""
    src, out = Path(src), Path(out)
    if per_pair < 1:
        raise CorpusError(f"per_pair must be at least 1, got {per_pair}")
    docs: list[Document] = []
    queries: list[Query] = []
    qrels: Qrels = {}
    for xxx, lang in TATOEBA_LANGS.items():
        doc_path, query_path = src / f"tatoeba.{xxx}-eng.{xxx}", src / f"tatoeba.{xxx}-eng.eng"
        docs_text, queries_text = _read_sentences(doc_path), _read_sentences(query_path)
        if len(docs_text) != len(queries_text):
            raise CorpusError(f"{doc_path}: {len(docs_text)} lines but {query_path.name} has {len(queries_text)}; "
                              "the two sides must be line-aligned")
        docs += [Document(id=f"{xxx}-{i}", text=t, lang=lang) for i, t in enumerate(docs_text)]
        for i, text in enumerate(queries_text[:per_pair]):
            queries.append(Query(id=f"eng-{xxx}-{i}", text=text, lang="en"))
            qrels[f"eng-{xxx}-{i}"] = {f"{xxx}-{i}": 1}
    return _write_atomically(out, lambda tmp: write_beir(tmp, docs, queries, qrels), overwrite)


# --------------------------------------------------------------------------- XQuAD-R


def _load_xquad(src: Path, lang: str) -> tuple[Path, list[dict[str, Any]]]:
    path = src / f"{lang}.json"
    if not path.is_file():
        available = sorted(p.stem for p in src.glob("*.json")) if src.is_dir() else []
        raise CorpusError(
            f"{path}: unknown XQuAD-R language {lang!r} "
            f"(available in {src}: {', '.join(available) or 'none'})"
        )
    try:
        with path.open(encoding="utf-8") as f:
            articles = json.load(f)["data"]
        # Touch every field the importer relies on, so a malformed file fails here, with its name.
        for article in articles:
            for para in article["paragraphs"]:
                _ = (para["context"], para["sentences"], para["sentence_breaks"])
                for qa in para["qas"]:
                    _ = (qa["id"], qa["question"], qa["answers"][0]["answer_start"])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid JSON ({str(exc).splitlines()[0]})") from None
    except (KeyError, IndexError, TypeError) as exc:
        raise CorpusError(f"{path}: not SQuAD-style XQuAD-R JSON (missing or malformed {exc})") from None
    return path, articles


def _check_parallel(ref_path: Path, ref: list[dict], path: Path, other: list[dict]) -> None:
    # The qrels pair paragraphs and questions by position, so every file must share one structure.
    if len(ref) != len(other):
        raise CorpusError(
            f"{path}: {len(other)} articles but {ref_path.name} has {len(ref)}; files not parallel"
        )
    for a, (art_ref, art) in enumerate(zip(ref, other, strict=True)):
        paras_ref, paras = art_ref["paragraphs"], art["paragraphs"]
        if len(paras_ref) != len(paras):
            raise CorpusError(
                f"{path}: article {a} has {len(paras)} paragraphs, {ref_path.name} has {len(paras_ref)}"
            )
        for p, (para_ref, para) in enumerate(zip(paras_ref, paras, strict=True)):
            if [q["id"] for q in para_ref["qas"]] != [q["id"] for q in para["qas"]]:
                raise CorpusError(
                    f"{path}: article {a} paragraph {p} has other questions than {ref_path.name}"
                )
            if len(para["sentences"]) != len(para["sentence_breaks"]):
                raise CorpusError(
                    f"{path}: article {a} paragraph {p}: sentences and sentence_breaks differ in length"
                )


def _gold_sentence(path: Path, para: dict, qa: dict) -> int:
    """Index of the sentence whose [start, end) span holds the first answer's start (LAReQA's rule)."""
    start = qa["answers"][0]["answer_start"]
    for s, (begin, end) in enumerate(para["sentence_breaks"]):
        # Half-open spans: with closed ones, an answer starting exactly at a break would match two sentences.
        if begin <= start < end:
            return s
    raise CorpusError(f"{path}: question {qa['id']}: answer_start {start} lies outside every sentence span")


def _xquad_docs(langs: dict[str, tuple[Path, list[dict]]], unit: str) -> Iterator[Document]:
    for lang, (_, articles) in langs.items():
        for a, article in enumerate(articles):
            # Titles are English Wikipedia slugs in every language's file: as document text they would
            # hand every language English words to match, so they are kept as metadata only.
            title = str(article.get("title", "")).replace("_", " ")
            for p, para in enumerate(article["paragraphs"]):
                if unit == "paragraph":
                    meta = {"article": a, "paragraph": p, "title": title}
                    text = para["context"].lstrip("\ufeff")  # some files open paragraphs with a BOM
                    yield Document(id=f"{lang}-p{a}-{p}", text=text, lang=lang, metadata=meta)
                    continue
                for s, sentence in enumerate(para["sentences"]):
                    meta = {"article": a, "paragraph": p, "sentence": s}
                    yield Document(id=f"{lang}-s{a}-{p}-{s}", text=sentence.strip(), lang=lang, metadata=meta)


def _xquad_qrels(langs: dict[str, tuple[Path, list[dict]]], ref: list[dict], unit: str) -> Qrels:
    qrels: Qrels = {}
    for a, article in enumerate(ref):
        for p, para in enumerate(article["paragraphs"]):
            for q, qa in enumerate(para["qas"]):
                judged = qrels.setdefault(qa["id"], {})
                for lang, (path, articles) in langs.items():
                    if unit == "paragraph":
                        judged[f"{lang}-p{a}-{p}"] = 1
                        continue
                    # The gold sentence comes from each language's own answer offset: sentence
                    # counts differ across translations, so indices cannot be carried over.
                    local_para = articles[a]["paragraphs"][p]
                    s = _gold_sentence(path, local_para, local_para["qas"][q])
                    judged[f"{lang}-s{a}-{p}-{s}"] = 1
    return qrels


def import_xquad_r(
    src: Path, query_lang: str, doc_langs: list[str], unit: str, out: Path, *, overwrite: bool = False
) -> dict[str, int]:
    """XQuAD-R as a BEIR folder: `query_lang` questions against a pool of paragraphs or sentences.

    Several `doc_langs` form one multilingual pool; each question is relevant to its paragraph (or gold
    answer sentence) in every pool language.
    """
    src, out = Path(src), Path(out)
    if unit not in XQUAD_UNITS:
        raise CorpusError(f"unknown XQuAD-R unit {unit!r} (expected {' or '.join(XQUAD_UNITS)})")
    doc_langs = list(dict.fromkeys(lang.strip().lower() for lang in doc_langs if lang.strip()))
    if not doc_langs:
        raise CorpusError("XQuAD-R import needs at least one document language")
    query_lang = query_lang.strip().lower()
    ref_path, ref = _load_xquad(src, query_lang)
    langs = {lang: _load_xquad(src, lang) for lang in doc_langs}
    for path, articles in langs.values():
        _check_parallel(ref_path, ref, path, articles)

    queries = [
        Query(id=qa["id"], text=qa["question"].strip(), lang=query_lang)
        for article in ref
        for para in article["paragraphs"]
        for qa in para["qas"]
    ]
    qrels = _xquad_qrels(langs, ref, unit)
    return _write_atomically(
        out, lambda tmp: write_beir(tmp, _xquad_docs(langs, unit), queries, qrels), overwrite
    )
