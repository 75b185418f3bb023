"""Deployment checked without a Docker engine: the compose file against the Compose Specification JSON
schema (tests/fixtures/compose, from docker-compose 1.29.2), the environment variables against
.env.example and README, and the image's entrypoint run directly on the sample corpus."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from bench.common import free_port
from clir.settings import Settings
from tests.helpers import ROOT

pytestmark = pytest.mark.multiprocess

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_spec(compose: dict):
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose" / "compose_spec.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)  # the schema's own draft
    validator.validate(compose)
    broken = {**compose, "services": {**compose["services"], "api": {**compose["services"]["api"], "ports": 8000}}}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_compose_wiring(compose: dict):
    services = compose["services"]
    assert services["indexer"]["command"] == ["index"]
    assert services["api"]["depends_on"]["indexer"]["condition"] == "service_completed_successfully"
    assert "index:/index:ro" in services["api"]["volumes"]
    assert "index:/index" in services["indexer"]["volumes"]
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["eval"]["profiles"] == ["eval"]
    assert services["eval"]["environment"]["CLIR_SERVER_URL"] == "http://api:8000"
    assert set(compose["volumes"]) == {"index", "models", "runs", "qdrant"}
    # an index is a folder inside the volume, never its mount point (a build renames it into place)
    for name in ("indexer", "api", "writer"):
        assert services[name]["environment"]["CLIR_INDEX"] == "/index/current"
    writer = services["writer"]
    assert writer["profiles"] == ["writable"] and "index:/index" in writer["volumes"]
    assert writer["environment"]["CLIR_WRITABLE"] == "true"
    assert services["eval"]["entrypoint"] == ["clir-entrypoint", "eval"]


def test_the_qdrant_profile(compose: dict):
    """The index in a Qdrant server (pinned image, volume, healthcheck), built by the indexer job, served by
    API replicas that can scale: no fixed host port."""
    services = compose["services"]
    qdrant, indexer, api = services["qdrant"], services["qdrant-indexer"], services["qdrant-api"]
    assert all(s["profiles"] == ["qdrant"] for s in (qdrant, indexer, api))
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", qdrant["image"])
    assert "qdrant:/qdrant/storage" in qdrant["volumes"]
    assert "/dev/tcp/127.0.0.1/6333" in " ".join(qdrant["healthcheck"]["test"])
    assert indexer["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert api["depends_on"]["qdrant-indexer"]["condition"] == "service_completed_successfully"
    for service in (indexer, api):
        env = service["environment"]
        assert env["CLIR_BACKEND"] == "qdrant" and env["CLIR_QDRANT_URL"] == "http://qdrant:6333"
        assert env["CLIR_COLLECTION"] == "${CLIR_COLLECTION:-clir}"
    assert api["ports"] == ["8000"] and "/ready" in " ".join(api["healthcheck"]["test"])
    assert api["environment"]["CLIR_API_KEY"] == "${CLIR_API_KEY:-}"  # the api's settings, shared by anchor


def test_entrypoint_indexes_into_qdrant_only_when_needed(mini_corpus: Path, tmp_path: Path):
    """The qdrant-indexer job's command, with Qdrant's local mode standing in for the server."""
    env = _env(CLIR_CORPUS=str(mini_corpus), CLIR_BACKEND="qdrant", CLIR_QDRANT_PATH=str(tmp_path / "q"),
               CLIR_COLLECTION="clir")
    first = subprocess.run([str(ENTRYPOINT), "index"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "indexed 24 documents into qdrant-local:" in first.stdout, first.stderr
    again = subprocess.run([str(ENTRYPOINT), "index"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr


def _variables_read() -> set[str]:
    names = {f"CLIR_{name.upper()}" for name in Settings.model_fields}
    names |= set(re.findall(r"\$\{?(CLIR_[A-Z_]+)", ENTRYPOINT.read_text()))
    names |= set(re.findall(r"\$\{(CLIR_[A-Z_]+|HF_[A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    names |= set(re.findall(r"ENV[^\n]*?\b(HF_[A-Z_]+)=", (ROOT / "Dockerfile").read_text()))
    for path in (ROOT / "eval").glob("*.py"):
        names |= set(re.findall(r"environ\.get\(\"(CLIR_[A-Z_]+)\"", path.read_text()))
    return names


def test_every_variable_is_in_env_example_and_readme():
    names = _variables_read()
    assert {"CLIR_INDEX", "CLIR_API_KEY", "CLIR_CORPUS", "CLIR_SERVER_URL", "HF_HUB_OFFLINE"} <= names
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    readme = (ROOT / "README.md").read_text()
    assert sorted(names - set(example)) == []
    assert sorted(n for n in names if n not in readme) == []
    assert example["CLIR_PORT"] == str(Settings.model_fields["port"].default)
    assert example["CLIR_MAX_BATCH"] == str(Settings.model_fields["max_batch"].default)


def _env(**extra: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIR_")}
    return {**env, "PATH": f"{bin_dir}:{env.get('PATH', '')}", **extra}


def test_the_image_copies_every_package_the_project_installs():
    """The Dockerfile copies packages one by one; a package missing there breaks only the image."""
    include = re.search(r'include = \[([^\]]*)\]', (ROOT / "pyproject.toml").read_text()).group(1)
    packages = {name.strip(' "*') for name in include.split(",")}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages == {"clir", "indexer", "app", "eval", "cli"} and packages <= copied


def test_entrypoint_indexes_only_when_needed(mini_corpus: Path, tmp_path: Path):
    env = _env(CLIR_CORPUS=str(mini_corpus), CLIR_INDEX=str(tmp_path / "index"))
    first = subprocess.run([str(ENTRYPOINT), "index"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "indexed 24 documents" in first.stdout
    again = subprocess.run([str(ENTRYPOINT), "index"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "up to date" in again.stdout
    changed = subprocess.run([str(ENTRYPOINT), "index"], env={**env, "CLIR_FAISS": "hnsw"}, capture_output=True,
                             text=True, timeout=300)
    assert changed.returncode == 0 and "indexed 24 documents" in changed.stdout and "hnsw" in changed.stdout
    missing = subprocess.run([str(ENTRYPOINT), "serve"], env=_env(CLIR_CORPUS=str(tmp_path / "none"),
                             CLIR_INDEX=str(tmp_path / "nothing")), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no index at" in missing.stderr



def test_entrypoint_serves_the_sample_corpus(sample_index: Path, tmp_path: Path):
    index = tmp_path / "index"
    shutil.copytree(sample_index, index)  # built by `clir index` from data/sample: the entrypoint skips it
    port = free_port()
    env = _env(CLIR_CORPUS=str(ROOT / "data" / "sample"), CLIR_INDEX=str(index), CLIR_HOST="127.0.0.1",
               CLIR_PORT=str(port))
    proc = subprocess.Popen([str(ENTRYPOINT), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        r = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": "Take the elevator to the fifth floor.",
                                                                 "k": 1}, timeout=30)
        assert r.status_code == 200 and r.json()["hits"][0]["id"] == "tatoeba-fra-13"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "up to date" in out
