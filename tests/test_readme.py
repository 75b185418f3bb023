"""The README's in-process example, run exactly as written (from a folder holding the repository's data/)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import clir

pytestmark = pytest.mark.multiprocess

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_example_runs(tmp_path: Path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- python-example:start -->\n```python\n(.*?)```\n<!-- python-example:end -->", readme,
                      re.S)
    assert block is not None
    (tmp_path / "data").symlink_to(ROOT / "data")
    run = subprocess.run([sys.executable, "-c", block.group(1)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 4 and [line.split()[0] for line in lines[:3]] == ["1", "2", "3"]
    assert all("xquad-" in line for line in lines[:3])  # the sample's Tesla paragraphs, in several languages
    assert lines[3] == "fr-tesla fr"
    assert (tmp_path / "indexes" / "sample" / "manifest.json").is_file()


def test_the_facade_is_the_package_front_door():
    assert clir.__all__ == ["Index", "__version__"]
    assert {"build", "open", "search", "search_batch", "get", "upsert", "delete", "compact", "stats",
            "close", "__enter__", "__exit__"} <= set(dir(clir.Index))
    help_text = subprocess.run([sys.executable, "-c", "import clir; help(clir.Index)"], capture_output=True,
                               text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PAGER": "cat"},
                               timeout=120).stdout
    assert "class Index" in help_text and "upsert(" in help_text
