"""The search page (app/static, served at /) in a real headless Chromium, driven by Playwright, against a
real `clir serve` process on the sample corpus. The browser is the system's (/usr/bin/chromium, or
CLIR_CHROMIUM): Playwright downloads nothing. Without it these tests fail; they never skip."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from bench.common import free_port
from clir.settings import Settings
from tests.helpers import serve

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CLIR_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY = "secret"
QUERY = "There once lived an old man on that island."  # tatoeba-fra-9 first (tests/app/test_api.py)
FRENCH = "Un vieil homme vivait autrefois sur cette île."


# -- without a browser: routing, the key guard, OpenAPI ---------------------------------------------

def test_the_page_and_its_files_need_no_key_and_stay_out_of_openapi(mini_index: Path):
    with TestClient(create_app(Settings(index=mini_index, api_key=KEY))) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert '<script src="/static/app.js"' in page.text
        for path, kind in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
            r = c.get(path)
            assert r.status_code == 200 and kind in r.headers["content-type"], path
        assert c.get("/static/missing.js").json()["error"]["code"] == "not_found"
        assert c.get("/stats").status_code == 401
        paths = c.get("/openapi.json", headers={"X-API-Key": KEY}).json()["paths"]
        assert "/" not in paths and not any(p.startswith("/static") for p in paths)
        counts = c.get("/stats", headers={"X-API-Key": KEY}).json()["requests"]
        assert counts["GET / 200"] == 1 and counts["GET /static 200"] == 2


# -- in Chromium -------------------------------------------------------------------------------------

NO_CHROMIUM = (f"no Chromium at {CHROMIUM}: the page tests need one (apt-get install -y chromium, as .ci/run does; "
               "or set CLIR_CHROMIUM to its path)")


def test_chromium_is_installed():
    """Missing, it fails here (and the browser tests error): never a skip."""
    assert Path(CHROMIUM).is_file(), NO_CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(NO_CHROMIUM, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(sample_index: Path) -> Iterator[str]:
    """`clir serve` on the sample index, with a read key: the page loads without it, searches with it."""
    port = free_port()
    proc = serve(sample_index, port, env={"CLIR_API_KEY": KEY})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def page(browser, server: str) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})  # fresh storage per test
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()
    assert errors == [], errors  # no script errors, ever


def api(server: str, key: str = KEY, **body) -> httpx.Response:
    return httpx.post(server + "/search", json={"k": 5, "mode": "hybrid", "snippet": True, **body},
                      headers={"X-API-Key": key}, timeout=30)


def api_ids(server: str, **body) -> list[str]:
    response = api(server, **body)
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


def settle(page, action) -> str:
    """Run `action` (which starts a search) and wait until the page has shown its outcome."""
    before = int(page.get_attribute("#results", "data-done") or 0)
    action()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = int(page.get_attribute("#results", "data-done") or 0)
        state = page.get_attribute("#results", "data-state")
        if done > before and state in ("done", "error"):
            return state
        page.wait_for_timeout(25)
    raise AssertionError("the page did not finish searching")


def shown_ids(page, scope: str = "#results") -> list[str]:
    return page.eval_on_selector_all(f"{scope} li.hit", "items => items.map(i => i.dataset.id)")


def search(page, query: str, key: str = KEY, k: int = 5) -> str:
    page.fill("#api-key", key)
    page.fill("#k", str(k))
    page.fill("#q", query)
    return settle(page, lambda: page.press("#q", "Enter"))


def test_an_english_query_shows_the_french_sentence_first(page):
    assert search(page, QUERY) == "done"
    first = page.locator("li.hit").first
    assert first.get_attribute("data-id") == "tatoeba-fra-9"
    assert first.locator(".lang-badge").inner_text() == "fr"
    assert FRENCH in first.locator(".snippet-text").inner_text()
    dense, sparse = first.locator(".bar-dense"), first.locator(".bar-sparse")
    assert dense.count() == 1 and sparse.count() == 1
    assert dense.bounding_box()["width"] > 0
    assert "cosine" in dense.get_attribute("title") and "BM25" in sparse.get_attribute("title")
    assert page.get_attribute("#detected-lang", "data-lang") == "en"
    assert "ms" in page.inner_text("#timing")
    assert page.is_hidden("#error")


def test_mode_filter_compare_and_paging_show_what_the_api_returns(page, server: str):
    search(page, QUERY)
    hybrid = api_ids(server, query=QUERY)
    assert shown_ids(page) == hybrid

    settle(page, lambda: page.select_option("#mode", "dense"))  # an option change searches again
    dense = api_ids(server, query=QUERY, mode="dense")
    assert shown_ids(page) == dense and dense != hybrid
    settle(page, lambda: page.select_option("#mode", "hybrid"))
    assert shown_ids(page) == hybrid

    page.wait_for_selector("#lang-de")  # the index's languages, listed once the key was given
    settle(page, lambda: page.check("#lang-de"))
    settle(page, lambda: page.check("#lang-zh"))
    only = {"lang": ["de", "zh"]}
    filtered = api_ids(server, query=QUERY, filter=only)
    assert shown_ids(page) == filtered and filtered != hybrid
    assert set(page.locator("#results .lang-badge").all_inner_texts()) == {"de", "zh"}

    settle(page, lambda: page.click("#next"))
    assert shown_ids(page) == api_ids(server, query=QUERY, filter=only, offset=5)
    settle(page, lambda: page.click("#prev"))
    assert shown_ids(page) == filtered

    settle(page, lambda: page.check("#compare"))
    dense = api_ids(server, query=QUERY, mode="dense", filter=only)
    assert shown_ids(page, ".column[data-mode=dense]") == dense
    assert shown_ids(page, ".column[data-mode=hybrid]") == filtered
    dense_rank = {doc: i + 1 for i, doc in enumerate(dense)}
    for rank, doc in enumerate(filtered, 1):
        move = page.locator(f'.column[data-mode=hybrid] li.hit[data-id="{doc}"] .move').inner_text()
        before = dense_rank.get(doc)
        expected = "new" if before is None else "=" if before == rank else \
            f"↑{before - rank}" if before > rank else f"↓{rank - before}"
        assert move == expected, doc


def test_server_errors_show_the_servers_message(page, server: str):
    wrong = api(server, key="wrong", query=QUERY)
    assert wrong.status_code == 401
    assert search(page, QUERY, key="wrong") == "error"
    assert page.is_visible("[role=alert]")
    assert wrong.json()["error"]["message"] in page.inner_text("#error")
    assert page.locator("li.hit").count() == 0

    page.fill("#query-lang", "english!")
    invalid = api(server, query=QUERY, query_lang="english!")
    assert invalid.status_code == 422
    assert search(page, QUERY) == "error"
    assert invalid.json()["error"]["message"] in page.inner_text("#error")

    page.fill("#query-lang", "")
    assert search(page, QUERY) == "done" and page.is_hidden("#error")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.input_value("#api-key") == KEY  # kept for the tab (sessionStorage)


def test_server_text_is_text_and_highlights_count_code_points(page):
    """A made-up answer (the route intercepted): markup in it stays text, highlight offsets are code points
    (an emoji is one, though two UTF-16 units), and a lost connection is reported."""
    hit = {"id": "x<b>1</b>", "rank": 1, "score": 0.5, "lang": "fr", "title": "<img src=x onerror=alert(1)>",
           "dense": {"score": 0.5, "rank": 1}, "sparse": {"score": 1.0, "rank": 1},
           "snippet": {"text": "😀😀 café <i>Tesla</i>", "highlights": [[3, 7], [11, 16]], "source": "lexical",
                       "start": 0}}
    body = {"query": "café", "query_lang": "fr", "hits": [hit], "query_truncated": False,
            "timing_ms": {"encode": 1, "dense": 1, "sparse": 1, "fuse": 1, "total": 4}}
    page.route("**/search", lambda route: route.fulfill(status=200, json=body))
    assert search(page, "café") == "done"
    assert page.locator(".snippet mark").all_inner_texts() == ["café", "Tesla"]
    assert page.locator(".hit-title").inner_text() == "<img src=x onerror=alert(1)>"
    assert page.locator("#results img, #results b, #results i").count() == 0
    page.unroute("**/search")
    page.route("**/search", lambda route: route.abort("connectionrefused"))
    assert search(page, "café") == "error"
    assert "Could not reach the server" in page.inner_text("#error")


def test_screenshot_is_not_blank_and_a_phone_needs_no_horizontal_scroll(page, tmp_path: Path):
    from PIL import Image, ImageStat

    page.check("#compare")  # two columns: the widest the page gets
    search(page, "What year did Tesla die?")
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    image = Image.open(shot).convert("RGB")
    assert image.width == 1200 and image.height >= 900
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    assert max(ImageStat.Stat(image).stddev) > 20

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    assert page.evaluate("document.querySelector('.compare').getBoundingClientRect().width") <= 375
    page.uncheck("#compare")
    settle(page, lambda: page.click("#submit"))
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
