"""docker-compose.yml run for real, in one project, in the order a user meets it: `up` (indexer, then a
read-only api behind an API key), a re-index of a changed corpus while the api serves, the eval profile, the
writable profile surviving `docker kill -s KILL` (and the read-only api serving its writes), a clean SIGTERM,
and `down -v` leaving nothing behind."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common import free_port
from tests.docker.harness import ROOT, Compose, Docker, wait_http

pytestmark = pytest.mark.docker

KEY = "read-key"
ADMIN = "admin-key"
HEALTHY_WITHIN_S = 240
NEW_DOC = {"_id": "added-1", "title": "", "lang": "fr",
           "text": "Le phare de Brest guide les bateaux de pêche depuis deux siècles."}
NEW_QUERY = "The Brest lighthouse has guided fishing boats for two centuries."


@pytest.fixture(scope="module")
def project(engine: Docker, image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    corpus = tmp_path_factory.mktemp("compose") / "corpus"
    shutil.copytree(ROOT / "data" / "sample", corpus)
    compose = Compose(engine, f"clirtest{uuid.uuid4().hex[:8]}", {
        "CLIR_IMAGE": image, "CLIR_CORPUS_DIR": str(corpus), "CLIR_PUBLISH_PORT": str(free_port()),
        "CLIR_WRITER_PORT": str(free_port()), "CLIR_API_KEY": KEY, "CLIR_ADMIN_KEY": ADMIN,
        "CLIR_RELOAD_INTERVAL_S": "2"})
    try:
        yield compose
    finally:
        compose("--profile", "eval", "--profile", "writable", "down", "-v", "--remove-orphans", "-t", "10",
                check=False)
    assert compose.leftovers() == {"container": [], "volume": [], "network": []}


def _url(compose: Compose, variable: str = "CLIR_PUBLISH_PORT") -> str:
    return f"http://127.0.0.1:{compose.variables[variable]}"


def _search(url: str, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{url}/search", params={"q": query, "k": 3},
                     headers={"X-API-Key": KEY} if headers is None else headers, timeout=30)


def test_up_indexes_then_serves_behind_the_key(project: Compose):
    project("up", "-d", "--no-build")
    api = project.container("api")
    project.engine.wait_healthy(api, HEALTHY_WITHIN_S)  # its healthcheck polls /ready, open without the key
    indexer = project.container("indexer") if project("ps", "-q", "indexer").stdout.strip() else None
    if indexer:
        assert project.engine.inspect(indexer, "{{.State.ExitCode}}") == "0"
    url = _url(project)
    hit = _search(url, "Take the elevator to the fifth floor.").json()["hits"][0]
    assert hit["id"] == "tatoeba-fra-13"
    assert httpx.get(f"{url}/stats", timeout=10).status_code == 401
    assert _search(url, "anything", headers={}).status_code == 401
    stats = httpx.get(f"{url}/stats", headers={"X-API-Key": KEY}, timeout=10).json()
    assert stats["documents"] == 240 and stats["collection"]["writable"] is False
    # a read-only api mounts its index read-only
    mounts = json.loads(project.engine.inspect(api, "{{json .Mounts}}"))
    assert [m["RW"] for m in mounts if m["Destination"] == "/index"] == [False]


def test_reindexing_while_serving_loses_no_request(project: Compose):
    url = _url(project)
    assert NEW_DOC["_id"] not in [h["id"] for h in _search(url, NEW_QUERY).json()["hits"]]
    counts = {"ok": 0, "failed": 0}
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.get(f"{url}/search", params={"q": "Take the elevator", "k": 5},
                                 headers={"X-API-Key": KEY})
                    ok = r.status_code == 200 and len(r.json()["hits"]) == 5
                except httpx.HTTPError as exc:
                    ok, r = False, exc  # type: ignore[assignment]
                counts["ok" if ok else "failed"] += 1
                if not ok:
                    failures.append(str(getattr(r, "status_code", r)))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        corpus = Path(project.variables["CLIR_CORPUS_DIR"]) / "corpus.jsonl"
        with corpus.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(NEW_DOC, ensure_ascii=False) + "\n")
        done = project("run", "--rm", "indexer")
        assert "indexed 241 documents into /index/current" in done.stdout, done.stdout + done.stderr
        deadline = time.monotonic() + 120
        while NEW_DOC["_id"] not in [h["id"] for h in _search(url, NEW_QUERY).json()["hits"]]:
            assert time.monotonic() < deadline, "the api did not serve the rebuilt index"
            time.sleep(0.5)
        time.sleep(2)  # and it keeps answering after the swap
    finally:
        stop.set()
        thread.join()
    assert counts["failed"] == 0 and counts["ok"] > 20, (counts, failures[:5])
    stats = httpx.get(f"{url}/stats", headers={"X-API-Key": KEY}, timeout=10).json()
    assert stats["documents"] == 241 and stats["reloads"] == 1
    print(f"\nre-index while serving: {counts['ok']} searches answered, {counts['failed']} failed")


def test_the_eval_profile_writes_its_report_into_the_runs_volume(project: Compose):
    done = project("--profile", "eval", "run", "--rm", "eval", "--dataset", "/corpus", "--out", "/runs/eval",
                   "--quiet", timeout=900)
    assert "wrote /runs/eval/report.md" in done.stdout, done.stdout + done.stderr
    report = project.engine.docker("run", "--rm", "-v", f"{project.project}_runs:/runs", "--entrypoint", "cat",
                                   project.variables["CLIR_IMAGE"], "/runs/eval/report.md")
    assert "| hybrid |" in report.stdout


def test_the_writable_profile_keeps_acknowledged_writes_through_a_kill(project: Compose):
    project("--profile", "writable", "up", "-d", "--no-build", "writer")
    writer = project.container("writer")
    project.engine.wait_healthy(writer, HEALTHY_WITHIN_S)
    url, admin = _url(project, "CLIR_WRITER_PORT"), {"X-API-Key": ADMIN}
    docs = [{"id": f"live-{i}", "text": text, "lang": "fr"} for i, text in
            enumerate(["Le marché aux fleurs ouvre à sept heures.", "La bibliothèque ferme le dimanche."])]
    refused = httpx.post(f"{url}/documents", json={"documents": docs}, headers={"X-API-Key": KEY}, timeout=60)
    assert refused.status_code == 401, refused.text  # the read key is not the admin key
    r = httpx.post(f"{url}/documents", json={"documents": docs}, headers=admin, timeout=60)
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    assert httpx.delete(f"{url}/documents/tatoeba-fra-13", headers=admin, timeout=60).status_code == 200
    project.engine.docker("kill", "-s", "KILL", writer)
    project.engine.docker("start", writer)
    project.engine.wait_healthy(writer, HEALTHY_WITHIN_S)
    wait_http(f"{url}/ready", 60)
    for doc in docs:
        got = httpx.get(f"{url}/documents/{doc['id']}", headers=admin, timeout=30)
        assert got.status_code == 200 and got.json()["text"] == doc["text"]
    assert httpx.get(f"{url}/documents/tatoeba-fra-13", headers=admin, timeout=30).status_code == 404
    hits = _search(url, "The flower market opens at seven.", headers=admin).json()["hits"]
    assert hits[0]["id"] == "live-0"
    stats = httpx.get(f"{url}/stats", headers=admin, timeout=10).json()
    assert stats["documents"] == 241 + 2 - 1 and stats["collection"]["writable"] is True
    # the read-only api beside it (its index mounted read-only) serves the writes once it reloads
    deadline = time.monotonic() + 60
    while _search(_url(project), "The flower market opens at seven.").json()["hits"][0]["id"] != "live-0":
        assert time.monotonic() < deadline, "the read-only api did not serve the writer's writes"
        time.sleep(0.5)
    assert httpx.get(f"{_url(project)}/documents/tatoeba-fra-13", headers={"X-API-Key": KEY}).status_code == 404


def test_sigterm_stops_the_api_cleanly_within_its_grace_period(project: Compose):
    api = project.container("api")
    start = time.monotonic()
    project("stop", "-t", "10", "api")
    seconds = time.monotonic() - start
    assert project.engine.inspect(api, "{{.State.ExitCode}}") == "0"
    logs = project.engine.docker("logs", api)
    assert "Finished server process" in logs.stdout + logs.stderr
    assert seconds < 10, f"{seconds:.1f} s: killed at the end of the grace period, not stopped by SIGTERM"
