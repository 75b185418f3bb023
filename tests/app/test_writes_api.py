"""Document writes through HTTP (TestClient and a real uvicorn process) and the CLI, on real indexes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from bench.common import free_port
from clir.settings import Settings
from tests.helpers import FIXTURES, assert_error, assert_one_line_error, serve

OTTER = {"text": "The sea otter cracks shellfish open with a stone on its belly.", "lang": "en",
         "metadata": {"kind": "animal"}}


def _top(client: TestClient, query: str, mode: str = "hybrid") -> str | None:
    hits = client.post("/search", json={"query": query, "k": 1, "mode": mode}).json()["hits"]
    return hits[0]["id"] if hits else None


def test_create_update_delete_with_read_your_writes(live: TestClient):
    writable = live
    r = writable.put("/documents/zz-otter", json=OTTER)
    assert r.status_code == 200 and r.json() == {"id": "zz-otter", "status": "created", "warnings": []}
    for mode in ("dense", "sparse", "hybrid"):
        assert _top(writable, "sea otter shellfish stone", mode) == "zz-otter", mode
    assert writable.get("/documents/zz-otter").json()["metadata"] == {"kind": "animal"}
    r = writable.put("/documents/zz-otter", json={"text": "Otters sleep holding paws.", "lang": "en"})
    assert r.json()["status"] == "updated"
    assert writable.get("/documents/zz-otter").json()["text"] == "Otters sleep holding paws."
    r = writable.post("/search", json={"query": "shellfish", "k": 30, "mode": "sparse", "query_lang": "en"})
    assert "zz-otter" not in [h["id"] for h in r.json()["hits"]]
    assert writable.delete("/documents/fr-cat").json() == {"id": "fr-cat", "status": "deleted", "warnings": []}
    assert_error(writable.get("/documents/fr-cat"), 404, "not_found")
    assert_error(writable.delete("/documents/fr-cat"), 404, "not_found")
    for mode in ("dense", "sparse", "hybrid"):
        ids = [h["id"] for h in writable.post("/search", json={"query": "Le chat dort sur le canapé", "k": 30,
                                                               "mode": mode}).json()["hits"]]
        assert "fr-cat" not in ids, mode
    stats = writable.get("/stats").json()
    assert stats["documents"] == 24 and stats["languages"]["en"] >= 1
    if stats["collection"].get("backend") != "qdrant":  # the embedded index folds its write log into new files
        assert stats["collection"]["pending_documents"] == 1
        assert stats["collection"]["deleted_not_compacted"] == 2 and stats["collection"]["last_write"] > 0
        compacted = writable.post("/admin/compact").json()
        assert compacted["status"] == "compacted" and compacted["documents"] == 24
        assert writable.get("/stats").json()["collection"]["pending_documents"] == 0
    assert _top(writable, "otters holding paws", "dense") == "zz-otter"


def test_a_bad_document_in_a_batch_writes_nothing(live: TestClient):
    writable = live
    docs = [{"id": f"b{i}", "text": f"batch document number {i} about rivers", "lang": "en"} for i in range(5)]
    for bad, field in (({"id": "b9", "text": "   "}, "documents.3.text"),
                       ({"id": "b9", "text": "x", "lang": "not a language"}, "documents.3.lang"),
                       ({"id": "b9", "text": "x", "metadata": "not an object"}, "documents.3.metadata"),
                       ({"text": "no id"}, "documents.3.id")):
        body = {"documents": [*docs[:3], bad, *docs[3:]]}
        message = assert_error(writable.post("/documents", json=body), 422, "invalid_request")
        assert field in message, message
    assert all(writable.get(f"/documents/b{i}").status_code == 404 for i in range(5))
    r = writable.post("/documents", json={"documents": docs})
    assert r.json() == {"created": 5, "updated": 0, "warnings": []}
    assert writable.post("/documents", json={"documents": docs[:2]}).json()["updated"] == 2
    # an id given twice in one batch: the later version wins, as if sent one after the other
    twice = [{"id": "t", "text": "first version"}, {"id": "t", "text": "second version"}]
    assert writable.post("/documents", json={"documents": twice}).json()["created"] == 1
    assert writable.get("/documents/t").json()["text"] == "second version"


def test_a_read_only_server_answers_writes_405(index: Path):
    """Its 405 names the methods it does allow there (RFC 9110: Allow lists what the resource supports)."""
    with TestClient(create_app(Settings(index=index))) as c:
        put = c.put("/documents/x", json=OTTER)
        assert "read-only" in assert_error(put, 405, "method_not_allowed")
        assert put.headers["allow"] == "GET"
        assert c.delete("/documents/fr-cat").headers["allow"] == "GET"
        assert_error(c.post("/admin/compact"), 405, "method_not_allowed").startswith("this server is read-only")
        assert c.post("/admin/compact").headers["allow"] == ""
        assert c.post("/documents", json={"documents": [OTTER]}).headers["allow"] == ""
        assert c.get("/documents/fr-cat").status_code == 200
    with TestClient(create_app(Settings(index=index, writable=True))) as c:  # a writable server's 405s
        assert c.patch("/documents/fr-cat", json=OTTER).headers["allow"] == "DELETE, GET, PUT"
        assert c.get("/admin/compact").headers["allow"] == "POST"


def test_keys_and_loopback(index: Path):
    settings = Settings(index=index, writable=True, api_key="reader", admin_key="admin")
    with TestClient(create_app(settings)) as c:
        assert_error(c.put("/documents/x", json=OTTER, headers={"X-API-Key": "reader"}), 401, "unauthorized")
        assert_error(c.post("/admin/compact", headers={"X-API-Key": "reader"}), 401, "unauthorized")
        assert c.put("/documents/x", json=OTTER, headers={"X-API-Key": "admin"}).status_code == 200
        for key in ("reader", "admin"):  # reads take either key
            assert c.get("/documents/x", headers={"X-API-Key": key}).status_code == 200
        assert_error(c.get("/documents/x"), 401, "unauthorized")
    with TestClient(create_app(Settings(index=index, writable=True)), client=("10.1.2.3", 5000)) as c:
        assert "loopback" in assert_error(c.put("/documents/y", json=OTTER), 403, "forbidden")
        assert c.get("/documents/x").status_code == 200
    with TestClient(create_app(Settings(index=index, writable=True, allow_remote_writes=True)),
                    client=("10.1.2.3", 5000)) as c:
        assert c.put("/documents/y", json=OTTER).status_code == 200


def _serve(index: Path, port: int) -> subprocess.Popen:
    return serve(index, port, "--writable")


def _clir(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.crash
def test_acknowledged_writes_survive_sigkill_and_the_cli_waits_its_turn(index: Path, tmp_path: Path):
    port = free_port()
    proc = _serve(index, port)
    base = f"http://127.0.0.1:{port}"
    try:
        docs = [{"id": f"k{i}", "text": f"killed server document {i} about lighthouses", "lang": "en"}
                for i in range(20)]
        assert httpx.post(f"{base}/documents", json={"documents": docs}, timeout=60).status_code == 200
        assert httpx.delete(f"{base}/documents/fr-cat", timeout=60).status_code == 200
        # a single writer: the CLI is refused while the server holds the index
        corpus = tmp_path / "more.jsonl"
        corpus.write_text(json.dumps({"id": "c1", "text": "added by the command line", "lang": "en"}) + "\n")
        assert_one_line_error(_clir("add", "--index", str(index), "--corpus", str(corpus), "--quiet"),
                              "held by clir serve --writable")
        assert_one_line_error(_clir("delete", "--index", str(index), "de-bike"), "PUT/POST/DELETE /documents")
        assert_one_line_error(_clir("compact", "--index", str(index), "--quiet"), "held by")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = _serve(index, port)  # every acknowledged write is there after the kill
    try:
        for i in range(20):
            assert httpx.get(f"{base}/documents/k{i}", timeout=10).status_code == 200
        assert httpx.get(f"{base}/documents/fr-cat", timeout=10).status_code == 404
        hits = httpx.post(f"{base}/search", json={"query": "lighthouses", "k": 3, "mode": "sparse"}).json()["hits"]
        assert hits and hits[0]["id"].startswith("k")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # the server gone, the CLI may write
    done = _clir("add", "--index", str(index), "--corpus", str(corpus), "--quiet")
    assert done.returncode == 0 and "1 created" in done.stdout, done.stderr
    done = _clir("delete", "--index", str(index), "k1", "nope")
    assert done.returncode == 0 and "1 deleted, 1 not found" in done.stdout, done.stderr
    done = _clir("compact", "--index", str(index), "--quiet")
    assert done.returncode == 0 and "compacted into 43 documents" in done.stdout, done.stderr
    done = _clir("search", "--index", str(index), "--mode", "sparse", "--json", "added by the command line")
    assert json.loads(done.stdout)["hits"][0]["id"] == "c1"


def test_a_served_index_rebuilt_on_disk_keeps_serving_what_it_loaded_until_reload(index: Path, tmp_path: Path):
    """D4: the served process holds its files; a rebuild at the same path is an explicit reload."""
    from clir.corpus.readers import read_corpus
    from clir.index.build import BuildConfig, build_index
    from clir.records import Document

    with TestClient(create_app(Settings(index=index))) as c:
        before = {d.id: d.text for d in read_corpus(FIXTURES / "mini_corpus.jsonl")}
        other = [Document(f"other-{i}", f"a completely different corpus, document {i}", lang="en") for i in range(30)]
        build_index(iter(other), index, BuildConfig(show_progress=False))
        for doc_id, text in before.items():  # every lookup still answers from the index it loaded
            r = c.get(f"/documents/{doc_id}", params={})
            assert r.status_code == 200 and r.json()["text"] == text, doc_id
        hits = c.post("/search", json={"query": "Le chat dort sur le canapé", "k": 1, "include_text": True})
        assert hits.json()["hits"][0]["id"] == "fr-cat" and "chat" in hits.json()["hits"][0]["text"]
        assert c.post("/admin/reload").json() == {"status": "reloaded", "documents": 30}
        assert c.get("/documents/fr-cat").status_code == 404
        assert c.get("/documents/other-3").json()["text"].endswith("document 3")


@pytest.mark.multiprocess
def test_two_builds_of_one_target_do_not_race(mini_corpus: Path, tmp_path: Path):
    """D8: the second build is refused with one line while the first holds the target."""
    out = tmp_path / "idx"
    slow = subprocess.Popen([sys.executable, "-m", "cli.main", "index", "--corpus", str(mini_corpus), "--out",
                             str(out), "--quiet", "--batch-size", "1"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".idx.building-*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert_one_line_error(_clir("index", "--corpus", str(mini_corpus), "--out", str(out), "--quiet"),
                          "held by clir index")
    assert slow.wait(timeout=300) == 0, slow.stderr.read()
    assert json.loads((out / "manifest.json").read_text())["counts"]["documents"] == 24
