"""Generated tables live between marker comments in docs/ pages; scripts replace what is between them."""

from __future__ import annotations

import re
from pathlib import Path


def update_doc(path: Path, table: str, markers: tuple[str, str]) -> None:
    """Replace the text between the two marker comments with the table."""
    text = path.read_text(encoding="utf-8")
    start, end = markers
    if start not in text or end not in text:
        raise SystemExit(f"{path}: no {start} ... {end} markers")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    path.write_text(pattern.sub(lambda _: f"{start}\n{table}\n{end}", text), encoding="utf-8")
