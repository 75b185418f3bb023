"""The README's picture of the search page (docs/page.md): serve an index, search it in a headless Chromium,
save a screenshot.

    python -m bench.page_screenshot                      # data/sample-index (built from data/sample if missing)
    python -m bench.page_screenshot --index DIR --query "What year did Tesla die?" --out docs/img/search-page.png

Uses the system's Chromium (/usr/bin/chromium, or --chromium) through Playwright: nothing is downloaded.
The server listens on 127.0.0.1 only and is stopped afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def sample_index(work: Path) -> Path:
    """data/sample-index (what `make demo` builds), else data/sample indexed into `work`."""
    built = ROOT / "data" / "sample-index"
    if (built / "manifest.json").is_file():
        return built
    out = work / "sample-index"
    print(f"indexing data/sample into {out} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "cli.main", "index", "--corpus", str(ROOT / "data" / "sample"),
                    "--out", str(out), "--quiet"], check=True, cwd=ROOT)
    return out


def screenshot(base: str, args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(base + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.fill("#k", str(args.k))
        if args.compare:
            page.check("#compare")
        page.fill("#q", args.query)
        page.press("#q", "Enter")
        page.wait_for_selector("#results[data-state=done], #results[data-state=error]", timeout=120_000)
        if page.get_attribute("#results", "data-state") != "done":
            raise SystemExit(f"the search failed: {page.inner_text('#error')}")
        page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring in the picture
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="an index directory (default: the sample's)")
    parser.add_argument("--query", default="What year did Tesla die?")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--compare", action="store_true", help="the dense vs hybrid view")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "search-page.png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--chromium", default=os.environ.get("CLIR_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    if not Path(args.chromium).is_file():
        raise SystemExit(f"no Chromium at {args.chromium} (apt-get install chromium, or pass --chromium)")
    with tempfile.TemporaryDirectory() as work:
        index = args.index or sample_index(Path(work))
        port = free_port()
        proc = start_server(index, port, {"CLIR_VERIFY_CHECKSUMS": "false"})
        try:
            screenshot(f"http://127.0.0.1:{port}", args)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
