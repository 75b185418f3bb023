"""FAISS dense index: exact inner product for small collections, HNSW or IVF-PQ for large ones.

Row i of the FAISS index is row i of the document store; vectors are L2-normalised, so inner
product is cosine similarity. The thresholds for `auto` follow the faiss wiki guidelines.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from clir.errors import ConfigError
from clir.index.params import FAISS_KINDS, HNSW_STORAGES, DenseParams

# Below this size an exact scan costs a few milliseconds: approximate search would only lose recall.
EXACT_LIMIT = 100_000
# Above this an HNSW graph's memory (~M*2*4 bytes/vector on top of the vectors) and build time dominate.
HNSW_LIMIT = 2_000_000
# A filter that keeps few rows defeats a graph or cell search: the allowed rows may lie nowhere near the
# query's neighbourhood. (A one-language filter on a 100k collection whose vectors cluster by language
# got nothing at all back from HNSW.) Up to this many allowed rows a filtered search scans them exactly
# (costs in docs/benchmarks.md).
EXACT_FILTER_ROWS = 100_000
# Above it, HNSW's beam (IVF's probed cells) widens by 1 / (the allowed share of rows), up to this factor.
MAX_FILTER_WIDENING = 16


def set_search_threads(n: int) -> None:
    """FAISS's OpenMP threads for this process (searches and builds)."""
    faiss.omp_set_num_threads(n)


def search_threads() -> int:
    """The threads a search may use in this process (set_search_threads; all cores by default)."""
    return int(faiss.omp_get_max_threads())


def resolve_kind(kind: str, n_vectors: int) -> str:
    if kind not in FAISS_KINDS:
        raise ConfigError(f"unknown FAISS index type {kind!r}: expected one of {', '.join(FAISS_KINDS)}")
    if kind != "auto":
        return kind
    if n_vectors < EXACT_LIMIT:
        return "flat"
    return "hnsw" if n_vectors <= HNSW_LIMIT else "ivfpq"


def _pq_m(dim: int, requested: int | None) -> int:
    """The largest divisor of dim not above the requested sub-quantizer count (FAISS needs m | dim)."""
    target = requested or max(1, dim // 8)
    return max(m for m in range(1, min(target, dim) + 1) if dim % m == 0)


def _build_ivfpq(vectors: np.ndarray, params: DenseParams) -> tuple[faiss.Index, dict[str, Any]]:
    n, dim = vectors.shape
    # FAISS wants >= 39 training points per cell; 4*sqrt(N) is the guideline's lower end.
    nlist = min(params.nlist or int(4 * math.sqrt(n)), max(1, n // 39))
    m = _pq_m(dim, params.pq_m)
    # k-means for each sub-quantizer needs a few points per centroid: shrink the codebook on tiny sets.
    bits = max(1, min(params.pq_bits, int(math.log2(max(2, n // 39)))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, bits, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample_size = min(n, max(256 * nlist, 2 ** bits * 64), 200_000)
    sample = vectors[np.sort(rng.choice(n, size=sample_size, replace=False))] if sample_size < n else vectors
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.nprobe = params.nprobe or min(nlist, max(8, nlist // 8))
    info = {"nlist": nlist, "pq_m": m, "pq_bits": bits, "nprobe": index.nprobe, "refine": params.refine}
    if params.refine == "none":
        return index, info
    if params.refine not in ("sq8", "flat"):
        raise ConfigError(f"unknown refine {params.refine!r}: expected sq8, flat or none")
    fine = (faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            if params.refine == "sq8" else faiss.IndexFlatIP(dim))
    refined = faiss.IndexRefine(index, fine)
    refined.train(np.ascontiguousarray(sample, dtype=np.float32))
    refined.k_factor = params.refine_factor
    return refined, info


def _hnsw(dim: int, params: DenseParams) -> faiss.IndexHNSW:
    if params.hnsw_storage == "float32":
        return faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    if params.hnsw_storage == "fp16":  # needs no training: it is a plain conversion
        return faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    raise ConfigError(f"unknown HNSW storage {params.hnsw_storage!r}: expected one of {', '.join(HNSW_STORAGES)}")


def build_faiss(vectors: np.ndarray, params: DenseParams, chunk: int = 65_536) -> tuple[faiss.Index, dict[str, Any]]:
    """Build the index over all vectors (an np.memmap is fine: rows are added in chunks)."""
    n, dim = vectors.shape
    kind = resolve_kind(params.kind, n)
    info: dict[str, Any] = {"kind": kind}
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = _hnsw(dim, params)
        index.hnsw.efConstruction = params.ef_construction
        index.hnsw.efSearch = params.ef_search
        info.update(hnsw_m=params.hnsw_m, ef_construction=params.ef_construction, ef_search=params.ef_search,
                    hnsw_storage=params.hnsw_storage)
    else:
        if n == 0:
            raise ConfigError("an ivfpq index needs at least one vector to train on")
        index, extra = _build_ivfpq(vectors, params)
        info.update(extra)
    for start in range(0, n, chunk):
        index.add(np.ascontiguousarray(vectors[start : start + chunk], dtype=np.float32))
    return index, info


class DenseIndex:
    """A loaded FAISS index plus its search-time knobs. The index must not grow once wrapped: a view of
    its stored vectors is kept."""

    def __init__(self, index: faiss.Index, kind: str) -> None:
        self.index = index
        self.kind = kind
        # an HNSW graph's vector store answers exact (filtered) scans and holds the vectors viewed below
        self._storage = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else None
        self._vectors = _stored_vectors(index if self._storage is None else self._storage)

    @property
    def n_vectors(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str, ef_search: int | None = None, nprobe: int | None = None) -> DenseIndex:
        index = faiss.read_index(str(path))
        if kind == "hnsw" and ef_search:
            index.hnsw.efSearch = ef_search
        if kind == "ivfpq" and nprobe:
            faiss.extract_index_ivf(index).nprobe = nprobe
        if kind == "ivfpq" and not isinstance(index, faiss.IndexRefine):
            faiss.extract_index_ivf(index).make_direct_map()  # lets fusion reconstruct vectors by row
        return cls(index, kind)

    def _params(self, selector: faiss.IDSelector, widen: float = 1.0,
                exhaustive: bool = False) -> faiss.SearchParameters:
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=math.ceil(self.index.hnsw.efSearch * widen))
        if self.kind == "ivfpq":
            ivf_index = faiss.extract_index_ivf(self.index)
            nprobe = ivf_index.nlist if exhaustive else min(ivf_index.nlist, math.ceil(ivf_index.nprobe * widen))
            ivf = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
            if isinstance(self.index, faiss.IndexRefine):
                return faiss.IndexRefineSearchParameters(k_factor=self.index.k_factor, base_index_params=ivf)
            return ivf
        return faiss.SearchParameters(sel=selector)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows and inner-product scores per query; rows are -1 where fewer than k exist.

        `allowed` (bool per row) filters inside FAISS (an ID selector), so a filter never empties a
        result that over-fetching and post-filtering would have. Selective filters are answered by an
        exhaustive scan of the allowed rows (`EXACT_FILTER_ROWS`); wider ones by a widened approximate
        search, and by the scan for any query it leaves short of k rows."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.n_vectors)) if self.n_vectors else 1
        if allowed is None:
            scores, rows = self.index.search(queries, k)
            return rows.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)
        bits = np.packbits(allowed, bitorder="little")  # must outlive the search calls
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        n_allowed = int(np.count_nonzero(allowed))
        if self.kind == "flat" or n_allowed <= EXACT_FILTER_ROWS:
            scores, rows = self._scan(queries, k, selector)
        else:
            widen = min(MAX_FILTER_WIDENING, len(allowed) / max(n_allowed, 1))
            scores, rows = self.index.search(queries, k, params=self._params(selector, widen))
            short = np.count_nonzero(rows >= 0, axis=1) < min(k, n_allowed)
            if short.any():  # the approximate search lost its way among filtered-out rows
                scores[short], rows[short] = self._scan(queries[short], k, selector)
        return rows.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)

    def search_mostly(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """`search` within `allowed` where most rows are allowed (rows deleted since the build): a search
        widened by the disallowed share, those rows dropped (a graph or cell search keeps its speed); a
        query left short, and a selective `allowed`, take the filtered search."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n_allowed = self.n_vectors if allowed is None else int(np.count_nonzero(allowed))
        if allowed is None or n_allowed == self.n_vectors:
            return self.search(queries, k)
        if n_allowed == 0:
            return np.full((len(queries), 1), -1, dtype=np.int64), np.zeros((len(queries), 1), dtype=np.float32)
        if n_allowed * 2 >= self.n_vectors:
            wide = min(self.n_vectors, int(k * self.n_vectors / n_allowed * 1.1) + 10)
            rows, scores = self.search(queries, wide)
            live = (rows >= 0) & allowed[np.maximum(rows, 0)]
            if np.all(live.sum(axis=1) >= min(k, n_allowed)):
                order = np.argsort(~live, axis=1, kind="stable")[:, :k]  # allowed rows first, in score order
                rows, scores = np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)
                return np.where(np.take_along_axis(live, order, 1), rows, -1), scores
        return self.search(queries, k, allowed)

    def _scan(self, queries: np.ndarray, k: int, selector: faiss.IDSelector) -> tuple[np.ndarray, np.ndarray]:
        """Exhaustive filtered search: every allowed row is scored (with its stored vector; over all IVF
        cells for ivfpq)."""
        index = self._storage if self._storage is not None else self.index
        params = faiss.SearchParameters(sel=selector) if self._storage is not None else \
            self._params(selector, exhaustive=True)
        found: tuple[np.ndarray, np.ndarray] = index.search(queries, k, params=params)
        return found

    def scores_of_all(self, queries: np.ndarray) -> np.ndarray | None:
        """Every row's inner product with each query (queries x rows), for a flat index (else None): FAISS's
        vector kernel, one query at a time (the numbers its flat search ranks by), reads the vectors faster than
        numpy's product right after an encode has flushed the caches (docs/benchmarks.md)."""
        if self.kind != "flat" or self._vectors is None:
            return None
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        out = np.empty((len(queries), self.n_vectors), dtype=np.float32)
        for query, row in zip(queries, out, strict=True):
            faiss.fvec_inner_products_ny(faiss.swig_ptr(row), faiss.swig_ptr(query), faiss.swig_ptr(self._vectors),
                                         self.dim, self.n_vectors)
        return out

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors as float32 (exact for flat and float32 HNSW, the fp16 values HNSW searched for
        fp16 storage, PQ-decoded for ivfpq)."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if self._vectors is not None:
            return self._vectors[rows].astype(np.float32, copy=False)
        vectors: np.ndarray = self.index.reconstruct_batch(rows)
        return vectors


def _stored_vectors(storage: faiss.Index) -> np.ndarray | None:
    """A zero-copy (n, d) view of a flat or float16 scalar-quantizer index's vectors (an HNSW graph's
    storage is one of these), else None. Fusion gathers the vectors of BM25-only candidates on every query;
    numpy's gather costs half FAISS's reconstruct_batch (docs/benchmarks.md)."""
    if storage.ntotal == 0:
        return None
    if isinstance(storage, faiss.IndexFlat):
        flat: np.ndarray = faiss.rev_swig_ptr(storage.get_xb(), storage.ntotal * storage.d)
        return flat.reshape(storage.ntotal, storage.d)
    if isinstance(storage, faiss.IndexScalarQuantizer) and storage.sq.qtype == faiss.ScalarQuantizer.QT_fp16:
        codes: np.ndarray = faiss.rev_swig_ptr(storage.codes.data(), storage.ntotal * storage.code_size)
        return codes.view(np.float16).reshape(storage.ntotal, storage.d)
    return None
