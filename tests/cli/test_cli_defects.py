"""Defects found by probing the command line (issue 14), each kept fixed by a test named for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error


@pytest.mark.multiprocess
@pytest.mark.parametrize(("line", "fragment"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    (json.dumps({"id": "a", "text": "bad \ud800 text"}), "surrogate"),
    (json.dumps({"id": "bad \ud800 id", "text": "fine"}), "surrogate"),
])
def test_d9_hostile_corpus_lines_are_one_line_errors(tmp_path: Path, line: str, fragment: str):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(line + "\n", encoding="utf-8", errors="surrogatepass")
    done = subprocess.run([sys.executable, "-m", "cli.main", "index", "--corpus", str(corpus), "--out",
                           str(tmp_path / "idx"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert_one_line_error(done, fragment)


@pytest.mark.multiprocess
def test_eval_warns_about_a_key_on_the_command_line(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "cli.main", "eval", "--server", "http://127.0.0.1:9",
                           "--api-key", "k", "--dataset", str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert "prefer CLIR_API_KEY" in done.stderr


@pytest.mark.multiprocess
def test_a_truncated_gzip_corpus_is_refused_before_encoding(tmp_path: Path):
    import gzip

    lines = "".join(json.dumps({"id": f"d{i}", "text": f"document number {i}"}) + "\n" for i in range(5000))
    whole = gzip.compress(lines.encode())
    corpus = tmp_path / "c.jsonl.gz"
    corpus.write_bytes(whole[: len(whole) // 2])
    done = subprocess.run([sys.executable, "-m", "cli.main", "index", "--corpus", str(corpus), "--out",
                           str(tmp_path / "idx"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert_one_line_error(done, "truncated gzip")
    assert not (tmp_path / "idx").exists()

