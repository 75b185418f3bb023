"""The on-disk index format: `manifest.json` describes and checksums every other file.

Loading refuses (IndexFormatError, one line) an index whose manifest is missing or unreadable, whose
format version this code does not know, or whose files do not match their recorded sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from clir.errors import IndexFormatError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCSTORE = "docs.sqlite"
FAISS_FILE = "dense.faiss"
SPARSE_DIR = "bm25"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def checksum_tree(root: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under root except the manifest itself, keyed by relative path."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {p.relative_to(root).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files}


def write_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    manifest = {"format_version": FORMAT_VERSION, **manifest, "files": checksum_tree(root)}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def read_manifest(root: Path) -> dict[str, Any]:
    """Parse and version-check the manifest without touching the data files."""
    path = root / MANIFEST
    if not root.is_dir():
        raise IndexFormatError(f"{root}: no such index directory")
    if not path.is_file():
        raise IndexFormatError(f"{root}: not a clir index (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise IndexFormatError(f"{path}: manifest is not a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path}: index format version {version!r} is not supported (this clir reads version "
            f"{FORMAT_VERSION}); rebuild the index with `clir index`"
        )
    for key in ("encoder", "counts", "files", "dense", "sparse"):
        if key not in manifest:
            raise IndexFormatError(f"{path}: manifest lacks the {key!r} entry")
    return manifest


def verify_files(root: Path, manifest: dict[str, Any], full: bool = True) -> None:
    """Check every recorded file exists with its size (and, when full, its sha256)."""
    for rel, meta in manifest["files"].items():
        path = root / rel
        if not path.is_file():
            raise IndexFormatError(f"{root}: index file {rel} is missing")
        if path.stat().st_size != meta["bytes"]:
            raise IndexFormatError(f"{root}: index file {rel} is corrupted (size differs from the manifest)")
        if full and sha256_file(path) != meta["sha256"]:
            raise IndexFormatError(f"{root}: index file {rel} is corrupted (sha256 differs from the manifest)")


def load_manifest(root: Path, verify: bool = True) -> dict[str, Any]:
    manifest = read_manifest(root)
    verify_files(root, manifest, full=verify)
    return manifest


def check_encoder(manifest: dict[str, Any], encoder_name: str, root: Path | str = "index") -> None:
    built_with = manifest["encoder"]["name"]
    if built_with != encoder_name:
        raise IndexFormatError(
            f"{root}: index was built with encoder {built_with!r} but queries would be encoded with "
            f"{encoder_name!r}; vectors from different encoders are not comparable"
        )
