"""Defects found by probing index files and paths (issue 14), each kept fixed by a test named for it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clir.errors import IndexFormatError
from clir.index.embedded.local import LocalIndex


def test_d7_installing_over_an_index_exchanges_it_in_one_step(index: Path, tmp_path: Path, monkeypatch):
    """The target holds a complete index at every moment: the two directories are swapped in one call."""
    import clir.files as files
    from clir.index.build import BuildConfig, build_index
    from clir.records import Document

    calls = []
    real = files.exchange_dirs

    def spy(a: Path, b: Path) -> bool:
        assert (b / "manifest.json").is_file() and (a / "manifest.json").is_file()
        calls.append((a, b))
        done = real(a, b)
        assert done and (b / "manifest.json").is_file()  # never a moment without an index at the target
        return done

    monkeypatch.setattr(files, "exchange_dirs", spy)
    build_index(iter([Document("only", "one document", lang="en")]), index, BuildConfig(show_progress=False))
    assert len(calls) == 1 and LocalIndex.open(index).manifest.documents == 1
    assert not list(index.parent.glob(".copy.building-*"))


@pytest.mark.multiprocess
@pytest.mark.parametrize(("damage", "fragment"), [
    ({"files": None}, "malformed manifest"), ({"encoder": {}}, "malformed manifest"),
    ({"counts": {"documents": "many"}}, "malformed manifest"),
    ({"files": {"../../etc/hostname": {"sha256": "x", "bytes": 1}}}, "outside the index directory"),
    ({"files": {"/etc/hostname": {"sha256": "x", "bytes": 1}}}, "outside the index directory"),
])
def test_d10_damaged_manifests_are_refused_in_one_line(index: Path, damage: dict, fragment: str):
    manifest = json.loads((index / "manifest.json").read_text())
    (index / "manifest.json").write_text(json.dumps(manifest | damage))
    with pytest.raises(IndexFormatError, match=fragment):
        LocalIndex.open(index, verify=False)
    done = subprocess.run([sys.executable, "-m", "cli.main", "search", "--index", str(index), "q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_d10_a_garbage_document_store_is_refused_without_checksums(index: Path):
    size = (index / "docs.sqlite").stat().st_size  # the same size: only a sha256 check would notice
    (index / "docs.sqlite").write_bytes((b"this is not a database" * (size // 22 + 1))[:size])
    with pytest.raises(IndexFormatError, match="document store"):
        LocalIndex.open(index, verify=False)


@pytest.mark.parametrize("name", ["with#hash", "with?query"])
def test_d10_index_paths_with_uri_characters(mini_index: Path, tmp_path: Path, name: str):
    out = tmp_path / name
    shutil.copytree(mini_index, out)
    before = sorted(p.name for p in out.iterdir())
    store = LocalIndex.open(out)
    assert store.document("fr-cat") is not None
    # nothing created inside the index, nor beside it (an unescaped URI opened ".../with" instead)
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]

