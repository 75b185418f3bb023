"""The Qdrant backend on Qdrant's own engine (PyPI qdrant-edge-py: the server's Rust shard, in process), sharded
as a server shards a collection (bench/edge_shards.py): the same queries through 1, 2 and 4 edge shards,
through qdrant-client's local mode and through the embedded index give the same top 10 and the same scores,
before and after deletes and updates, and after optimize(). BM25's statistics are the collection's, counted by
Qdrant over live points, so no shard scores with its own; replicas writing at once keep them right.
(The local-mode parity on the sample corpus, once tests/index/test_qdrant.py's, lives here too.)"""

from __future__ import annotations

import json
import random
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.edge_shards import EdgeCluster, shard_of
from clir import Index
from clir.corpus.readers import read_corpus
from clir.encoders.models import Encoder
from clir.index.build import BuildConfig, build_index
from clir.index.prepare import prepare_documents
from clir.index.qdrant import points
from clir.index.qdrant.collection import QdrantCollection
from clir.index.target import QdrantTarget
from clir.records import Document, SearchResult
from clir.search.retriever import Retriever
from clir.text.analyzers import analyzer_for
from tests.conftest import SAMPLE

QUERIES = [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").read_text().splitlines()]
DOCS = list(read_corpus(SAMPLE / "corpus.jsonl"))
GONE = random.Random(0).sample(sorted(d.id for d in DOCS), len(DOCS) // 5)  # 20% of the documents
CHANGED = [replace(d, text=d.text + " The old bridge over the river was rebuilt in 1900.")
           for d in DOCS if d.id not in GONE][:12]
ADDED = [Document(id="new-fr-train", text="Le train pour Marseille part du quai 4 à 9 heures.", lang="fr"),
         Document(id="new-en-bridge", text="The old stone bridge was rebuilt in 1900 after the flood.", lang="en")]


@pytest.fixture(scope="module")
def local_mode(tmp_path_factory: pytest.TempPathFactory, sample_encoder: Encoder) -> QdrantCollection:
    target = QdrantTarget("sample", path=tmp_path_factory.mktemp("engine") / "local")
    build_index(iter(DOCS), target, BuildConfig(show_progress=False), encoder=sample_encoder)
    store = QdrantCollection.open(target, writable=True)
    yield store
    store.close()


@pytest.fixture(scope="module")
def vectors(sample_encoder: Encoder) -> np.ndarray:
    return sample_encoder.encode_queries(QUERIES)


@pytest.fixture(scope="module")
def reference(sample_index: Path, local_mode: QdrantCollection, vectors: np.ndarray,
              sample_encoder: Encoder) -> dict[str, list[SearchResult]]:
    """The embedded index's results by mode, once for the module (its copies below start from the same index)."""
    with Index.open(sample_index, encoder=sample_encoder) as index:
        return {mode: _results(index.retriever, vectors, mode) for mode in ("dense", "sparse", "hybrid")}


def test_local_mode_ranks_as_the_embedded_index(local_mode: QdrantCollection, reference: dict[str, list[SearchResult]],
                                                vectors: np.ndarray, sample_encoder: Encoder):
    """qdrant-client's local mode (one shard, in Python): every BM25 and hybrid list and score of the sample's 144
    queries (the hybrid's dense side included; dense-only lists are checked on the engine below)."""
    retriever = Retriever(local_mode, sample_encoder)
    for mode in ("sparse", "hybrid"):
        _assert_same(_results(retriever, vectors, mode), reference[mode], f"local mode, {mode}")


@pytest.fixture
def embedded(sample_index: Path, tmp_path: Path, sample_encoder: Encoder) -> Index:
    copy = tmp_path / "embedded"
    shutil.copytree(sample_index, copy)
    with Index.open(copy, writable=True, encoder=sample_encoder) as index:
        yield index


def _edge(local_mode: QdrantCollection, root: Path, shards: int) -> QdrantCollection:
    return EdgeCluster.copy_of(local_mode.client, local_mode.name, root, shards).store()


def _results(retriever: Retriever, vectors: np.ndarray, mode: str) -> list[SearchResult]:
    return retriever.search_batch(QUERIES, k=10, mode=mode, encode=lambda _: vectors)


def _assert_same(got: list[SearchResult], want: list[SearchResult], what: str, rtol: float = 1e-5) -> None:
    """The same top 10 and the same scores (to `rtol`); documents whose scores tie (within float32 noise, or within
    the scores' allowed difference when it is wider) may swap."""
    for q, a, b in zip(QUERIES, got, want, strict=True):
        scores = np.asarray([h.score for h in b.hits])
        np.testing.assert_allclose([h.score for h in a.hits], scores, rtol=rtol, atol=1e-6, err_msg=f"{what}: {q!r}")
        # runs of tied scores in the reference: each run holds the same documents on both sides
        tie = max(1e-5, 2 * rtol * float(np.abs(scores).max(initial=0.0)))
        starts = [0] + [i for i in range(1, len(scores)) if abs(scores[i] - scores[i - 1]) > tie] + [len(scores)]
        for lo, hi in zip(starts, starts[1:], strict=False):
            if hi == len(scores) and hi - lo > 1:
                continue  # a tie across the cut: which of them made the top 10 is arbitrary
            assert {h.id for h in a.hits[lo:hi]} == {h.id for h in b.hits[lo:hi]}, f"{what}: {q!r}"


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_edge_shards_rank_as_the_embedded_index(local_mode: QdrantCollection, reference: dict[str, list[SearchResult]],
                                                 embedded: Index, vectors: np.ndarray, tmp_path: Path, shards: int):
    encoder = embedded.encoder
    edge = _edge(local_mode, tmp_path / "edge", shards)
    assert len({shard_of(points.point_id(d.id), shards) for d in DOCS}) == shards  # every shard holds points
    on_edge = Retriever(edge, encoder)
    for mode in ("dense", "sparse", "hybrid"):
        _assert_same(_results(on_edge, vectors, mode), reference[mode], f"{shards} edge shards, {mode}")
    # 20% deleted, 12 updated, 2 added, nothing optimized: IDF counts live points at once
    edge.delete(GONE)
    edge.upsert(prepare_documents(CHANGED + ADDED, encoder))
    embedded.delete(GONE)
    embedded.upsert(CHANGED + ADDED)
    # the same top 10; scores to 0.1%: the embedded index re-averages document lengths over what is left, the
    # points keep the build's average (BM25's length normalisation; docs/scale.md)
    want = _results(embedded.retriever, vectors, "hybrid")
    _assert_same(_results(on_edge, vectors, "hybrid"), want, "after writes, hybrid", 1e-3)
    # BM25 alone: scores within 4% for that reason, and no top list holds a deleted document
    for a, b in zip(_results(on_edge, vectors, "sparse"), _results(embedded.retriever, vectors, "sparse"),
                    strict=True):
        assert not {h.id for h in a.hits} & set(GONE)
        np.testing.assert_allclose([h.score for h in a.hits[:1]], [h.score for h in b.hits[:1]], rtol=0.04)
    edge.client.optimize()
    _assert_same(_results(on_edge, vectors, "hybrid"), want, "after optimize(), hybrid", 1e-3)


def test_perturbed_statistics_are_caught(local_mode: QdrantCollection, reference: dict[str, list[SearchResult]],
                                         vectors: np.ndarray, sample_encoder: Encoder, tmp_path: Path):
    """The check above fails when a shard scores with its own statistics: the layout collections had before
    (Qdrant's IDF modifier, raw query counts), on 4 edge shards."""
    cluster = EdgeCluster.copy_of(local_mode.client, local_mode.name, tmp_path / "edge", 4, idf=True)
    manifest = json.loads(json.dumps(cluster.metadata["clir_manifest"]))
    manifest["sparse"].pop("idf")
    cluster.metadata = {**cluster.metadata, "clir_manifest": manifest}
    edge = cluster.store(writable=False)
    with pytest.raises(AssertionError):
        _assert_same(_results(Retriever(edge, sample_encoder), vectors, "sparse"), reference["sparse"], "per-shard IDF")


def test_replicas_writing_at_once_keep_the_statistics_exact(local_mode: QdrantCollection, vectors: np.ndarray,
                                                            sample_encoder: Encoder, tmp_path: Path):
    """Two writers (two API replicas: two stores over one 4-shard collection) write and delete disjoint halves at
    once; the statistics are counts of the documents themselves, so the collection ranks exactly as the same
    writes made by one writer, and its IDF is the count over the live documents."""
    encoder = sample_encoder
    new = [Document(id=f"replica-{i}", text=f"The river port number {i} opened its new bridge in {1900 + i}.",
                    lang="en") for i in range(40)]
    prepared = prepare_documents(new, encoder)

    def store(cluster: EdgeCluster) -> QdrantCollection:
        return cluster.store()

    shared = EdgeCluster.copy_of(local_mode.client, local_mode.name, tmp_path / "shared", 4)
    replicas = [store(shared), store(shared)]
    errors: list[BaseException] = []

    def write(replica: QdrantCollection, half: int) -> None:
        try:
            for p in prepared[half::2]:
                replica.upsert([p])
            replica.delete(GONE[half::2])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(replica, i)) for i, replica in enumerate(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    alone = store(EdgeCluster.copy_of(local_mode.client, local_mode.name, tmp_path / "alone", 4))
    alone.upsert(prepared)
    alone.delete(GONE)
    for mode in ("sparse", "hybrid"):
        _assert_same(_results(Retriever(replicas[0], encoder), vectors, mode),
                     _results(Retriever(alone, encoder), vectors, mode), f"two replicas, {mode}")
    live = [d.id for d in DOCS if d.id not in GONE] + [d.id for d in new]
    stored = shared.retrieve("", [points.point_id(i) for i in live], with_payload=True)
    assert len(stored) == len(live)
    terms = sorted(points.term_counts(analyzer_for("en").tokens("bridge river port")))
    df = {t: sum(t in (p.payload or {})[points.TERMS] for p in stored) for t in terms}
    assert len(terms) == 3 and min(df.values()) >= len(new)  # every new document holds the three terms
    assert replicas[1].view().idf(terms) == {t: points.lucene_idf(len(live), df[t]) for t in terms}
