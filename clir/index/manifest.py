"""The on-disk index format: `manifest.json` describes and checksums every other file.

Loading refuses (IndexFormatError, one line) an index whose manifest is missing or unreadable, whose
format version this code does not know, or whose files do not match their recorded sha256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clir.errors import IndexFormatError
from clir.files import sha256_file

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCSTORE = "docs.sqlite"
FAISS_FILE = "dense.faiss"
SPARSE_DIR = "bm25"
LOG_FILE = "live.sqlite"
# the log and SQLite's WAL companions: mutable, so never in the manifest's checksums
LOG_FILES = (LOG_FILE, LOG_FILE + "-wal", LOG_FILE + "-shm", LOG_FILE + "-journal")
_REQUIRED = ("encoder", "counts", "files", "dense", "sparse")
# What `Manifest.summary` holds: /stats starts with it, and evaluation reports record it.
SUMMARY_KEYS = ("index", "format_version", "created", "documents", "languages", "encoder", "dense", "sparse")


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: the entries code reads, typed; `raw` is the whole JSON object as written
    (corpus, build and language-source records included)."""

    raw: dict[str, Any]

    @classmethod
    def parse(cls, raw: Any, where: Path | str) -> Manifest:
        if not isinstance(raw, dict):
            raise IndexFormatError(f"{where}: manifest is not a JSON object")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexFormatError(
                f"{where}: index format version {version!r} is not supported (this clir reads version "
                f"{FORMAT_VERSION}); rebuild the index with `clir index`"
            )
        for key in _REQUIRED:
            if key not in raw:
                raise IndexFormatError(f"{where}: manifest lacks the {key!r} entry")
        try:
            manifest = cls(raw)
            manifest.check_types()
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from None
        return manifest

    def check_types(self) -> None:
        """Touch every typed entry once, so a malformed manifest fails at load, not mid-request."""
        if not isinstance(self.encoder_name, str) or not isinstance(self.encoder_dim, int):
            raise TypeError("encoder needs a name and a dim")
        if not isinstance(self.documents, int) or not isinstance(self.dense_kind, str):
            raise TypeError("counts.documents and dense.kind are required")
        if not isinstance(self.files, dict) or not isinstance(self.languages, dict):
            raise TypeError("files and languages must be objects")

    @property
    def format_version(self) -> int:
        return int(self.raw["format_version"])

    @property
    def created(self) -> str | None:
        return self.raw.get("created")

    @property
    def encoder_name(self) -> str:
        value: str = self.raw["encoder"]["name"]
        return value

    @property
    def encoder_dim(self) -> int:
        value: int = self.raw["encoder"]["dim"]
        return value

    @property
    def documents(self) -> int:
        value: int = self.raw["counts"]["documents"]
        return value

    @property
    def vocab(self) -> int | None:
        value: int | None = self.raw["counts"].get("vocab")
        return value

    @property
    def languages(self) -> dict[str, int]:
        return self.raw.get("languages") or {}

    @property
    def dense_kind(self) -> str:
        value: str = self.raw["dense"]["kind"]
        return value

    @property
    def sparse_params(self) -> dict[str, Any]:
        value: dict[str, Any] = self.raw["sparse"].get("params", {})
        return value

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        value: dict[str, dict[str, Any]] = self.raw["files"]
        return value

    @property
    def expansion_langs(self) -> frozenset[str]:
        """Languages every document also carries BM25 text in (xQG sparse expansion), else empty."""
        xqg = self.raw.get("xqg") or {}
        return frozenset(xqg.get("langs", [])) if xqg.get("sparse_expansion") else frozenset()

    def summary(self, location: str) -> dict[str, Any]:
        """What /stats and `clir eval` reports say about an index (the keys of SUMMARY_KEYS)."""
        summary = {
            "index": location,
            "format_version": self.format_version,
            "created": self.created,
            "documents": self.documents,
            "languages": self.languages,
            "encoder": {"name": self.encoder_name, "dim": self.encoder_dim},
            "dense": {"kind": self.dense_kind},
            "sparse": {"vocab": self.vocab, "params": self.sparse_params},
        }
        assert tuple(summary) == SUMMARY_KEYS
        return summary

    def check_encoder(self, encoder_name: str, root: Path | str = "index") -> None:
        if self.encoder_name != encoder_name:
            raise IndexFormatError(
                f"{root}: index was built with encoder {self.encoder_name!r} but queries would be encoded with "
                f"{encoder_name!r}; vectors from different encoders are not comparable"
            )


def checksum_tree(root: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under root except the manifest itself and the write log (which
    changes while the index serves), keyed by relative path."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST and p.name not in LOG_FILES)
    return {p.relative_to(root).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files}


def write_manifest(root: Path, entries: dict[str, Any]) -> Manifest:
    raw = {"format_version": FORMAT_VERSION, **entries, "files": checksum_tree(root)}
    (root / MANIFEST).write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Manifest.parse(raw, root / MANIFEST)


def read_manifest(root: Path) -> Manifest:
    """Parse and version-check the manifest without touching the data files."""
    path = root / MANIFEST
    if not root.is_dir():
        raise IndexFormatError(f"{root}: no such index directory")
    if not path.is_file():
        raise IndexFormatError(f"{root}: not a clir index (no {MANIFEST})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: unreadable manifest ({exc})") from exc
    return Manifest.parse(raw, path)


def verify_files(root: Path, manifest: Manifest, full: bool = True) -> None:
    """Check every recorded file exists with its size (and, when full, its sha256), inside the index."""
    inside = root.resolve()
    for rel, meta in manifest.files.items():
        path = root / rel
        if not isinstance(meta, dict) or not isinstance(meta.get("bytes"), int) or not isinstance(
                meta.get("sha256"), str):
            raise IndexFormatError(f"{root}: manifest entry for {rel!r} lacks its size or sha256")
        if Path(rel).is_absolute() or not path.resolve().is_relative_to(inside):
            raise IndexFormatError(f"{root}: manifest lists a file outside the index directory ({rel!r})")
        if not path.is_file():
            raise IndexFormatError(f"{root}: index file {rel} is missing")
        if path.stat().st_size != meta["bytes"]:
            raise IndexFormatError(f"{root}: index file {rel} is corrupted (size differs from the manifest)")
        if full and sha256_file(path) != meta["sha256"]:
            raise IndexFormatError(f"{root}: index file {rel} is corrupted (sha256 differs from the manifest)")


def load_manifest(root: Path, verify: bool = True) -> Manifest:
    manifest = read_manifest(root)
    verify_files(root, manifest, full=verify)
    return manifest
