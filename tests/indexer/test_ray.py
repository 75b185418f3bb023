"""Builds encoded on a local Ray cluster (`ray.init(num_cpus=2)`): the same index as a plain build, on both
backends; readers' errors stay one line; a killed Ray build leaves no partial index and re-runs cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clir.corpus.readers import CorpusSpec, read_corpus
from clir.errors import ClirError, CorpusError
from clir.index.build import BuildConfig, build_index
from clir.index.embedded.local import LocalIndex
from clir.index.manifest import load_manifest
from clir.index.target import QdrantTarget
from indexer.ray_build import RayOptions, require_ray
from tests.conftest import MINI_CORPUS, SAMPLE
from tests.helpers import ROOT

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _ray_build(out, corpus: Path = MINI_CORPUS, batch_size: int = 4, docs=None):
    config = BuildConfig(show_progress=False, ray=RayOptions(actors=2, batch_size=batch_size))
    return build_index(docs if docs is not None else read_corpus(corpus), out, config, source=CorpusSpec(corpus))


def _same_files(a: Path, b: Path, names: list[str]) -> None:
    files_a, files_b = load_manifest(a).files, load_manifest(b).files
    for name in names:
        assert files_a[name]["sha256"] == files_b[name]["sha256"], name


def test_a_ray_build_is_the_plain_build(ray_cluster, mini_index: Path, tmp_path: Path):
    manifest = _ray_build(tmp_path / "ray")
    ray = manifest.raw["build"]["ray"]
    assert ray["documents"] == 24 and 1 <= ray["actors"] <= 2 and ray["passages_per_s"] > 0
    plain = LocalIndex.open(mini_index).dense.reconstruct(np.arange(24))
    built = LocalIndex.open(tmp_path / "ray").dense.reconstruct(np.arange(24))
    np.testing.assert_allclose(built, plain, atol=1e-6)  # row by row: the same documents in the same rows
    bm25 = [name for name in load_manifest(mini_index).files if name.startswith("bm25/")]
    _same_files(tmp_path / "ray", mini_index, ["docs.sqlite", *bm25])  # ids, rows, texts; BM25 byte for byte


def test_a_ray_build_into_qdrant_resumes_and_equals_the_plain_one(ray_cluster, mini_qdrant: QdrantTarget,
                                                                 tmp_path: Path):
    target = QdrantTarget("mini", path=tmp_path / "q")

    def stops_after(n: int):
        for i, doc in enumerate(read_corpus(MINI_CORPUS)):
            if i == n:
                raise KeyboardInterrupt
            yield doc

    with pytest.raises(KeyboardInterrupt):  # a plain build interrupted after two batches of 8
        build_index(stops_after(17), target, BuildConfig(show_progress=False, batch_size=8))
    manifest = _ray_build(target)
    assert manifest.raw["backend"]["resumed_points"] == 16
    ray = manifest.raw["build"]["ray"]
    assert ray["documents"] == 24 and sum(ray["per_actor_passages_per_s"].values()) > 0

    def points(t: QdrantTarget) -> dict:
        client = t.connect()
        try:
            found = client.scroll(client.get_aliases().aliases[0].collection_name, limit=100, with_vectors=True,
                                  with_payload=True)[0]
        finally:
            client.close()
        return {p.id: p for p in found}

    ours, plain = points(target), points(mini_qdrant)
    assert set(ours) == set(plain)
    for pid, p in plain.items():
        np.testing.assert_allclose(ours[pid].vector["dense"], p.vector["dense"], atol=1e-6)
        assert ours[pid].vector["bm25"].indices == p.vector["bm25"].indices
        np.testing.assert_allclose(ours[pid].vector["bm25"].values, p.vector["bm25"].values, rtol=1e-6)
        assert ours[pid].payload == p.payload


def test_a_bad_corpus_line_is_one_line_from_the_read_stage(ray_cluster, tmp_path: Path):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(CorpusError) as plain:
        list(read_corpus(corpus))
    with pytest.raises(CorpusError) as caught:
        _ray_build(tmp_path / "out", corpus=corpus, docs=iter(()))
    assert str(caught.value) == str(plain.value) and ":2: " in str(caught.value)  # the reader's own line
    assert not (tmp_path / "out").exists()


def test_without_ray_the_option_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ClirError, match=r"pip install 'clir\[ray\]'"):
        require_ray()


def test_a_killed_ray_build_leaves_no_partial_index_and_reruns(mini_index: Path, tmp_path: Path):
    out = tmp_path / "idx"
    command = [sys.executable, "-m", "cli.main", "index", "--corpus", str(SAMPLE / "corpus.jsonl"), "--out",
               str(out), "--ray", "local", "--ray-batch-size", "8", "--quiet"]
    # its own session: the kill takes the driver and the Ray processes it started, as a stopped job would
    proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        vectors = list(tmp_path.glob(".idx.building-*/vectors.f32"))
        if vectors and vectors[0].stat().st_size > 0:  # batches are arriving from the actors
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not out.exists()  # nothing at the target: the scratch directory was never installed
    assert list(tmp_path.glob(".idx.building-*"))
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "indexed 240 documents" in again.stdout, again.stderr
    assert "ray: " in again.stdout and "passages/s" in again.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"idx", ".idx.lock"}  # the killed run's scratch is gone
    assert load_manifest(out).documents == 240
    report = json.loads((out / "manifest.json").read_text())["build"]["ray"]
    assert report["documents"] == 240


def test_clir_add_encodes_a_large_upsert_on_ray(ray_cluster, mini_index: Path, tmp_path: Path, capsys):
    import shutil

    from cli.main import main
    from clir.search.retriever import Retriever

    index, plain = tmp_path / "idx", tmp_path / "plain"
    shutil.copytree(mini_index, index)
    shutil.copytree(mini_index, plain)
    corpus = tmp_path / "more.jsonl"
    docs = [{"id": f"otter-{i}", "text": f"Sea otter number {i} floats on its back in the kelp.", "lang": "en"}
            for i in range(10)] + [{"id": "fr-cat", "text": "Le chat dort dans le jardin.", "lang": "fr"}]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    assert main(["add", "--index", str(index), "--corpus", str(corpus), "--ray", "local", "--ray-batch-size", "4",
                 "--quiet"]) == 0
    assert "10 created, 1 updated" in capsys.readouterr().out
    assert main(["add", "--index", str(plain), "--corpus", str(corpus), "--quiet"]) == 0
    ours, theirs = Retriever.open(index), Retriever.open(plain)
    assert ours.search("otter number 7 in the kelp", k=1, mode="sparse").hits[0].id == "otter-7"
    for query in ("Le chat dort dans le jardin.", "a sea otter floating"):  # the same vectors as a plain add
        a, b = ours.search(query, k=5, mode="dense").hits, theirs.search(query, k=5, mode="dense").hits
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-6)


def test_xqg_runs_in_the_ray_pipeline_and_builds_the_same_index(ray_cluster, tmp_path: Path):
    from dataclasses import replace

    from indexer.xqg.config import XQGConfig

    oracle = tmp_path / "queries.jsonl"
    queries = {"fr-cat": ["where does the cat sleep", "cat on the sofa"], "de-bike": ["stolen bicycle"]}
    oracle.write_text("".join(json.dumps({"docid": d, "text": "-", "generated_queries": {"en": q}}) + "\n"
                              for d, q in queries.items()), encoding="utf-8")
    xqg = XQGConfig(generator=f"file:{oracle}", langs=["en"], n=2)
    plain = build_index(read_corpus(MINI_CORPUS), tmp_path / "plain",
                        BuildConfig(show_progress=False, xqg=replace(xqg, cache=tmp_path / "plain.cache.jsonl")))
    ray_config = BuildConfig(show_progress=False, xqg=replace(xqg, cache=tmp_path / "ray.cache.jsonl"),
                             ray=RayOptions(actors=2, batch_size=4))
    built = build_index(read_corpus(MINI_CORPUS), tmp_path / "ray", ray_config, source=CorpusSpec(MINI_CORPUS))
    assert built.raw["xqg"]["queries_generated"] == plain.raw["xqg"]["queries_generated"] == 3
    a = LocalIndex.open(tmp_path / "plain").dense.reconstruct(np.arange(24))
    b = LocalIndex.open(tmp_path / "ray").dense.reconstruct(np.arange(24))
    np.testing.assert_allclose(b, a, atol=1e-6)  # blended in the actors as in a plain build
    bm25 = [name for name in load_manifest(tmp_path / "plain").files if name.startswith("bm25/")]
    _same_files(tmp_path / "ray", tmp_path / "plain", bm25)  # the generated queries expand BM25 alike
