"""The qdrant backend (Qdrant's local mode: the same query API in-process; no Qdrant server runs here):
resumable builds, the alias switch, writes, filters and its errors (parity with the embedded index and with
Qdrant's own engine: tests/index/test_qdrant_engine.py).
The retrieval, API and live-write suites also run on it (the `any_index` and `live` fixtures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clir.corpus.readers import read_corpus
from clir.errors import ClirError, ConfigError, IndexFormatError
from clir.index.build import BuildConfig, build_index
from clir.index.open import open_store
from clir.index.qdrant.points import metadata_terms, point_id
from clir.index.target import QdrantTarget, require_qdrant
from clir.records import Filter
from clir.search.retriever import Retriever
from tests.conftest import MINI_CORPUS
from tests.helpers import ROOT


class _Crash(Exception):
    pass


def _stops_after(docs, n: int):
    for i, doc in enumerate(docs):
        if i == n:
            raise _Crash
        yield doc


class _Counting:
    """The real encoder, counting the passages it encodes."""

    def __init__(self, encoder) -> None:
        self.encoder, self.passages = encoder, 0

    def __getattr__(self, name: str):
        return getattr(self.encoder, name)

    def encode_passages(self, texts, **options):
        self.passages += len(texts)
        return self.encoder.encode_passages(texts, **options)


def test_a_build_resumes_where_it_stopped_and_switches_the_alias(tmp_path: Path, mini_qdrant: QdrantTarget):
    from clir.encoders.models import load_encoder

    target = QdrantTarget("mini", path=tmp_path / "storage")
    config = BuildConfig(show_progress=False, batch_size=8)
    with pytest.raises(_Crash):
        build_index(_stops_after(read_corpus(MINI_CORPUS), 17), target, config)
    with pytest.raises(IndexFormatError, match="no such Qdrant collection"):
        open_store(target)  # nothing is served before a build completes
    encoder = _Counting(load_encoder())
    manifest = build_index(read_corpus(MINI_CORPUS), target, config, encoder=encoder)
    assert manifest.raw["backend"]["resumed_points"] == 16 and encoder.passages == 24 - 16  # two whole batches
    resumed, fresh = Retriever.open(target), Retriever.open(mini_qdrant)
    try:
        for q in ("Le chat dort", "mountain of three thousand metres", "北京"):
            assert [h.id for h in resumed.search(q).hits] == [h.id for h in fresh.search(q).hits]
    finally:
        fresh.close()
    resumed.close()
    # a rebuild with other settings goes to a new collection; the alias moves to it and the old one goes
    build_index(read_corpus(MINI_CORPUS), target, BuildConfig(show_progress=False, batch_size=8,
                                                              bm25=config.bm25.__class__(k1=1.5)))
    client = target.connect()
    try:
        names = [c.name for c in client.get_collections().collections]
        alias = [(a.alias_name, a.collection_name) for a in client.get_aliases().aliases]
    finally:
        client.close()
    assert len(names) == 1 and alias == [("mini", names[0])]
    store = open_store(target)
    assert store.manifest.sparse_params["k1"] == 1.5 and len(store) == 24
    store.close()


def test_writes_filters_and_ids(tmp_path: Path, mini_qdrant: QdrantTarget):
    import shutil

    from clir.encoders.models import load_encoder
    from clir.index.prepare import prepare_documents
    from clir.records import Document

    assert mini_qdrant.path is not None
    shutil.copytree(mini_qdrant.path, tmp_path / "q")
    target = QdrantTarget("mini", path=tmp_path / "q")
    store = open_store(target, writable=True)
    try:
        docs = [Document("m1", "Otters float on their backs.", lang="en", metadata={"catégorie": "animal", "n": 1}),
                Document("m2", "Les loutres flottent sur le dos.", lang="fr", metadata={"a.b\"c": True, "n": 2.5})]
        prepared = prepare_documents(docs, load_encoder())
        assert store.upsert(prepared) == ["created", "created"]
        assert store.upsert(prepared[:1]) == ["updated"]
        view = store.view()
        vector = prepared[0].vector[None, :]
        for flt, expected in [(Filter.make(metadata={"catégorie": "animal"}), ["m1"]),
                              (Filter.make(metadata={"n": 1.0}), ["m1"]),  # numbers match by value
                              (Filter.make(metadata={"a.b\"c": 1}), ["m2"]),  # true matches 1, as in SQLite
                              (Filter.make(langs=["fr"], metadata={"n": 2.5}), ["m2"]),
                              (Filter.make(metadata={"n": "1"}), [])]:  # a string is not a number
            found = view.dense_search(vector, 30, flt)[0]
            assert view.ids(found.rows.tolist()) == expected, flt
        assert store.missing(["m1", "nope"]) == ["nope"] and store.document("m2").metadata["n"] == 2.5
        rows = np.asarray([point_id("m1"), point_id("deleted meanwhile")], dtype=np.int64)
        scores = store.view().dense_scores(prepared[0].vector, rows)  # a point gone since its search: no error
        assert scores[0] == pytest.approx(1.0, abs=1e-5) and scores[1] == -1.0
        assert store.delete(["m1", "nope"]) == ["m1"] and store.document("m1") is None
        assert len(store) == 25
    finally:
        store.close()
    assert metadata_terms({"x": [1], "y": {"z": 1}}) == []  # objects and arrays are stored, not matched
    assert 0 <= point_id("any id") < 2**63


def test_errors_are_one_line(tmp_path: Path, mini_qdrant: QdrantTarget, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ConfigError, match="not both"):
        QdrantTarget("x", url="http://localhost:6333", path=tmp_path)
    with pytest.raises(ConfigError, match="--collection"):
        QdrantTarget("bad name", path=tmp_path)
    with pytest.raises(IndexFormatError, match="encoder"):
        Retriever.open(mini_qdrant, encoder="st:all-MiniLM-L6-v2")  # the manifest is read from the collection
    held = open_store(mini_qdrant)
    try:
        with pytest.raises(ConfigError, match="in use by another process"):
            open_store(mini_qdrant)
    finally:
        held.close()
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    with pytest.raises(ClirError, match=r"pip install 'clir\[qdrant\]'"):
        require_qdrant()


@pytest.mark.multiprocess
def test_the_command_line_on_the_qdrant_backend(tmp_path: Path):
    q = ["--backend", "qdrant", "--qdrant-path", str(tmp_path / "q"), "--collection", "mini"]

    def clir(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)

    built = clir("index", "--corpus", str(MINI_CORPUS), "--quiet", *q)
    assert built.returncode == 0 and "indexed 24 documents into qdrant-local:" in built.stdout, built.stderr
    again = clir("index", "--corpus", str(MINI_CORPUS), "--quiet", "--skip-if-unchanged", *q)
    assert "up to date" in again.stdout
    corpus = tmp_path / "add.jsonl"
    corpus.write_text(json.dumps({"id": "zz1", "text": "Le chat dort sur le tapis rouge.", "lang": "fr"}) + "\n")
    assert "1 created" in clir("add", "--corpus", str(corpus), "--quiet", *q).stdout
    found = json.loads(clir("search", "--json", "--k", "1", *q, "the cat sleeps on the red carpet").stdout)
    assert found["hits"][0]["id"] == "zz1"
    assert "1 deleted, 1 not found" in clir("delete", "zz1", "nope", *q).stdout
    missing = clir("search", "--backend", "qdrant", "--qdrant-path", str(tmp_path / "q"), "--collection", "nope", "x")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "no such Qdrant collection" in missing.stderr
