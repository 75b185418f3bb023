from __future__ import annotations

import faiss
import numpy as np
import pytest

from clir.errors import ConfigError
from clir.index.embedded.dense import DenseIndex, build_faiss, resolve_kind
from clir.index.params import DenseParams


def _fixture_vectors(n: int = 3000, dim: int = 64, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors and queries that are noisy copies of known rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    vectors = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    targets = rng.choice(n, size=min(n, 25), replace=False)
    queries = vectors[targets] + 0.05 * rng.normal(size=(len(targets), dim))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return vectors.astype(np.float32), queries.astype(np.float32), targets


@pytest.mark.parametrize(("kind", "storage"), [("flat", None), ("hnsw", "fp16"), ("hnsw", "float32"), ("ivfpq", None)])
def test_every_faiss_type_returns_flats_top1(kind, storage, tmp_path):
    vectors, queries, targets = _fixture_vectors()
    flat, _ = build_faiss(vectors, DenseParams(kind="flat"))
    flat_rows, _ = DenseIndex(flat, "flat").search(queries, 5)
    assert flat_rows[:, 0].tolist() == targets.tolist()
    index, info = build_faiss(vectors, DenseParams(kind=kind, hnsw_storage=storage or "fp16"))
    assert info["kind"] == kind
    DenseIndex(index, kind).save(tmp_path / "d.faiss")
    loaded = DenseIndex.load(tmp_path / "d.faiss", kind)
    rows, scores = loaded.search(queries, 5)
    assert rows[:, 0].tolist() == flat_rows[:, 0].tolist()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_auto_picks_exact_below_100k():
    assert resolve_kind("auto", 99_999) == "flat"
    assert resolve_kind("auto", 100_000) == "hnsw"
    assert resolve_kind("auto", 5_000_000) == "ivfpq"
    with pytest.raises(ConfigError):
        resolve_kind("lsh", 10)


def test_search_pads_when_fewer_vectors_than_k():
    vectors, queries, _ = _fixture_vectors(n=3)
    index, _ = build_faiss(vectors, DenseParams(kind="flat"))
    rows, _ = DenseIndex(index, "flat").search(queries[:1], 10)
    assert rows.shape == (1, 3) and sorted(rows[0].tolist()) == [0, 1, 2]


def test_reconstruct_returns_stored_vectors():
    vectors, _, _ = _fixture_vectors(n=50)
    index, _ = build_faiss(vectors, DenseParams(kind="flat"))
    np.testing.assert_allclose(DenseIndex(index, "flat").reconstruct(np.array([3, 7])), vectors[[3, 7]])


def test_a_flat_index_scores_every_row_and_the_others_decline():
    vectors, queries, _ = _fixture_vectors(n=300)
    flat, _ = build_faiss(vectors, DenseParams(kind="flat"))
    scores = DenseIndex(flat, "flat").scores_of_all(queries[:3])
    assert scores is not None and scores.shape == (3, 300) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, queries[:3] @ vectors.T, atol=1e-5)
    rows, top = DenseIndex(flat, "flat").search(queries[:3], 5)  # the same numbers the search ranks by
    np.testing.assert_array_equal(np.take_along_axis(scores, rows, 1), top)
    hnsw, _ = build_faiss(vectors, DenseParams(kind="hnsw"))
    assert DenseIndex(hnsw, "hnsw").scores_of_all(queries[:3]) is None


@pytest.mark.parametrize("storage", ["fp16", "float32"])
def test_hnsw_reconstructs_the_vectors_it_searched(storage, tmp_path):
    vectors, queries, _ = _fixture_vectors(n=400)
    index, info = build_faiss(vectors, DenseParams(kind="hnsw", hnsw_storage=storage))
    assert info["hnsw_storage"] == storage
    DenseIndex(index, "hnsw").save(tmp_path / "d.faiss")
    dense = DenseIndex.load(tmp_path / "d.faiss", "hnsw")
    rows = np.array([3, 399, 0, 3])
    got = dense.reconstruct(rows)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, dense.index.reconstruct_batch(rows))
    # fp16 keeps ~3 significant digits of each component; float32 is exact
    np.testing.assert_allclose(got, vectors[rows], atol=1e-3 if storage == "fp16" else 0)
    # the search's own scores are inner products with these stored vectors
    top, scores = dense.search(queries[:4], 5)
    recomputed = np.einsum("qkd,qd->qk", dense.reconstruct(top.ravel()).reshape(4, 5, -1), queries[:4])
    np.testing.assert_allclose(scores, recomputed, atol=1e-5)
    stored = dense._vectors
    assert stored.nbytes == 400 * vectors.shape[1] * (2 if storage == "fp16" else 4)


def test_unknown_hnsw_storage():
    vectors, _, _ = _fixture_vectors(n=10)
    with pytest.raises(ConfigError, match="unknown HNSW storage"):
        build_faiss(vectors, DenseParams(kind="hnsw", hnsw_storage="int4"))


def _two_clusters(n_far: int = 60, n_near: int = 3000, dim: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many vectors around one direction, a few around an orthogonal one, and a query by the many: like
    a collection whose vectors cluster by language, filtered to a language far from the query's."""
    rng = np.random.default_rng(3)
    near = np.eye(dim)[0] + 0.3 * rng.normal(size=(n_near, dim))
    far = np.eye(dim)[1] + 0.3 * rng.normal(size=(n_far, dim))
    vectors = np.vstack([near, far])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    allowed = np.zeros(len(vectors), dtype=bool)
    allowed[n_near:] = True
    query = np.eye(dim, dtype=np.float32)[:1]
    return vectors.astype(np.float32), allowed, query


@pytest.mark.parametrize(("kind", "storage"), [("hnsw", "fp16"), ("hnsw", "float32"), ("ivfpq", None)])
def test_a_filter_far_from_the_query_still_gets_its_best_rows(kind, storage):
    vectors, allowed, query = _two_clusters()
    index, _ = build_faiss(vectors, DenseParams(kind=kind, hnsw_m=8, ef_search=16, hnsw_storage=storage or "fp16",
                                                nlist=32, nprobe=1))
    dense = DenseIndex(index, kind)
    # FAISS's own filtered search comes back short here: the precondition this test is about
    bits = np.packbits(allowed, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
    _, faiss_rows = index.search(query, 10, params=dense._params(selector))
    assert np.count_nonzero(faiss_rows >= 0) < 10
    rows, scores = dense.search(query, 10, allowed)
    allowed_rows = np.flatnonzero(allowed)
    best = allowed_rows[np.argsort(-(dense.reconstruct(allowed_rows) @ query[0]))[:10]]
    assert np.all(rows >= 0) and np.all(allowed[rows]) and np.all(np.diff(scores[0]) <= 1e-6)
    if kind == "hnsw":  # scores from stored vectors: the exact top 10 of the allowed rows (IVF-PQ's are codes)
        assert rows[0].tolist() == best.tolist()


def test_a_wide_filter_searches_approximately_and_rescans_short_results(monkeypatch):
    import clir.index.embedded.dense as dense_module

    vectors, allowed, query = _two_clusters()
    index, _ = build_faiss(vectors, DenseParams(kind="hnsw", hnsw_m=8, ef_search=16))
    monkeypatch.setattr(dense_module, "EXACT_FILTER_ROWS", 0)  # every filter takes the approximate path
    rows, _ = DenseIndex(index, "hnsw").search(np.vstack([query, vectors[-1:]]), 10, allowed)
    assert np.all(rows >= 0) and np.all(allowed[rows])
