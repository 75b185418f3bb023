"""D7: a build killed at any step of installing over an existing index never leaves the target without a
complete index (old or new), and the next build or server start leaves nothing else beside it.

Each kill is a real SIGKILL of a real `clir index` process (tests/index/crash_build.py), at every file-system
change it makes from the moment the finished index is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from clir.corpus.readers import read_corpus
from clir.index.build import BuildConfig, build_index
from clir.index.embedded.local import LocalIndex
from clir.settings import Settings
from tests.helpers import ROOT

pytestmark = pytest.mark.crash

NEW = [{"id": "n1", "text": "a new first document", "lang": "en"},
       {"id": "n2", "text": "un nouveau document", "lang": "fr"}]


def _kill_build(target: Path, corpus: Path, kill_at: str, exchange: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLIR_KILL_AT": kill_at, "CLIR_NO_EXCHANGE": "" if exchange else "1"}
    return subprocess.run([sys.executable, "-m", "tests.index.crash_build", "index", "--corpus", str(corpus),
                           "--out", str(target), "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def _documents(target: Path) -> int:
    return LocalIndex.open(target, verify=True).manifest.documents  # checksums: every file complete


def _beside(target: Path) -> set[str]:
    return {p.name for p in target.parent.iterdir()}


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "fallback-renames"])
def test_d7_a_build_killed_at_every_step_of_installing(mini_index: Path, tmp_path: Path, exchange: bool):
    corpus = tmp_path / "new.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in NEW), encoding="utf-8")
    old = LocalIndex.open(mini_index).manifest.documents
    counted = tmp_path / "count" / "idx"
    shutil.copytree(mini_index, counted)
    run = _kill_build(counted, corpus, "count", exchange)
    assert run.returncode == 0, run.stderr
    steps = int(run.stderr.strip().splitlines()[-1])
    assert steps >= (13 if exchange else 14)  # the switch, each file of the old copy removed, and after
    assert _documents(counted) == len(NEW)

    targets = []
    for step in range(steps):
        target = tmp_path / f"step{step}" / "idx"
        shutil.copytree(mini_index, target)
        targets.append(target)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda s: _kill_build(targets[s], corpus, str(s), exchange), range(steps)))

    states = []
    for step, (target, run) in enumerate(zip(targets, runs, strict=True)):
        assert run.returncode == -9, f"step {step}: {run.stderr}"
        if exchange or target.exists():  # the fallback's one gap: between moving the old aside and the new in
            states.append(_documents(target))
            assert states[-1] in (old, len(NEW)), f"step {step}"
        else:
            assert step == 1, "only the gap between the fallback's two renames leaves no index at the target"
        if step % 2:  # the next server start puts the old index back and removes the leftovers ...
            with TestClient(create_app(Settings(index=target))) as client:
                assert client.get("/stats").json()["documents"] in (old, len(NEW))
        else:  # ... and so does the next build
            build_index(read_corpus(corpus), target, BuildConfig(show_progress=False))
        assert _beside(target) == {"idx", ".idx.lock"}, f"step {step}: {_beside(target)}"
        assert _documents(target) in (old, len(NEW))
    assert states[0] == old and states[-1] == len(NEW)  # killed before the switch: old; after it: new
