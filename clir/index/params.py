"""Build parameters of the index parts, kept apart from the engines that use them (the command line
reads their defaults without loading FAISS or bm25s)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from clir.errors import ConfigError

FAISS_KINDS = ("auto", "flat", "hnsw", "ivfpq")
HNSW_STORAGES = ("fp16", "float32")
# bm25l / bm25+ add a per-term constant to every document (a non-occurrence array), which
# breaks "only documents sharing a term score > 0"; they are not offered.
BM25_METHODS = ("lucene", "robertson", "atire")


@dataclass
class DenseParams:
    kind: str = "auto"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    # How an HNSW graph stores its vectors. fp16 halves their memory and searches faster (memory-latency
    # bound), with the same recall within build-to-build noise (docs/benchmarks.md).
    hnsw_storage: str = "fp16"
    nlist: int | None = None  # IVF cells; default 4*sqrt(N)
    nprobe: int | None = None  # IVF cells visited per query; default nlist/8 (at least 8)
    pq_m: int | None = None  # PQ sub-quantizers; default dim/8 bytes per vector
    pq_bits: int = 8
    # PQ codes alone reorder near neighbours; re-scoring the top k*refine_factor candidates with
    # 8-bit scalar-quantised vectors restores the exact order at 1 byte/dimension.
    refine: str = "sq8"  # "sq8" | "flat" | "none"
    refine_factor: int = 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BM25Params:
    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"
    idf_method: str | None = None  # None: same as method

    def __post_init__(self) -> None:
        if self.method not in BM25_METHODS:
            raise ConfigError(f"BM25 method must be one of {', '.join(BM25_METHODS)}, got {self.method!r}")
        if self.idf_method is not None and self.idf_method not in BM25_METHODS:
            raise ConfigError(f"BM25 idf_method must be one of {', '.join(BM25_METHODS)}, got {self.idf_method!r}")
        if not self.k1 >= 0:
            raise ConfigError(f"BM25 k1 must be >= 0, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise ConfigError(f"BM25 b must be within [0, 1], got {self.b}")
