"""CLIRudit Parquet layout: recognising its files and mapping its rows onto generic records.

The Hugging Face release ships `docs/{fr,en}.test-00000-of-00001.parquet`, queries and qrels
(`en_fr.test`, ...) in sibling folders. File names are not a stable contract, so files are told apart by
their Parquet schema; the name only picks the split (and gives the language of docs and queries).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clir.errors import CorpusError

KIND_COLUMNS = {
    # qrels are checked first: they share `docid` with docs and `qid` with queries.
    "qrels": frozenset({"qid", "docid", "rel"}),
    "docs": frozenset({"docid", "abstract"}),
    "queries": frozenset({"qid", "query"}),
}
# Defaults reproduce the benchmark's main direction: English queries against French abstracts.
DEFAULT_PREFERENCES = {"docs": ("fr",), "queries": ("en_fr", "en"), "qrels": ("en_fr",)}

_SHARD_SUFFIX = re.compile(r"-\d+-of-\d+$")
_LANG_SPLIT = re.compile(r"([a-z]{2})(?:\.[\w-]+)?")


def parquet_columns(path: Path) -> set[str]:
    try:
        return set(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorpusError(f"{path}: not a readable Parquet file ({first_line})") from None


def kind_of(path: Path) -> str | None:
    """'docs', 'queries' or 'qrels' when the file has that CLIRudit schema, else None."""
    columns = parquet_columns(path)
    for kind, required in KIND_COLUMNS.items():
        if required <= columns:
            return kind
    return None


def _kind_files(folder: Path, kind: str) -> list[Path]:
    return [p for p in sorted(folder.rglob("*.parquet")) if p.is_file() and kind_of(p) == kind]


def is_clirudit_dir(folder: Path) -> bool:
    return folder.is_dir() and bool(_kind_files(folder, "docs"))


def split_name(path: Path) -> str:
    """`fr.test-00000-of-00001.parquet` -> `fr.test`: shards of one split share this name."""
    stem = path.name[: -len(".parquet")] if path.name.endswith(".parquet") else path.stem
    return _SHARD_SUFFIX.sub("", stem)


def lang_of(path: Path) -> str | None:
    """Two-letter language from a split name like `fr.test`; None for `en_fr.test` or anything else."""
    match = _LANG_SPLIT.fullmatch(split_name(path))
    return match.group(1) if match else None


def _matches(split: str, wanted: str) -> bool:
    return split == wanted or split.split(".")[0] == wanted


def _narrow(groups: dict[str, list[Path]], wanted: str) -> dict[str, list[Path]]:
    exact = {name: files for name, files in groups.items() if _matches(name, wanted)}
    return exact or {name: files for name, files in groups.items() if wanted in name}


def select(path: Path, kind: str, split: str | None) -> list[Path]:
    """The Parquet file(s) of one split of `kind` under `path` (a folder, or a single file).

    Several shards of the same split are all returned, in name order.
    """
    if path.is_file():
        found = kind_of(path)
        if found != kind:
            wanted = ", ".join(sorted(KIND_COLUMNS[kind]))
            raise CorpusError(f"{path}: not a CLIRudit {kind} file (needs columns {wanted})")
        return [path]

    groups: dict[str, list[Path]] = {}
    for file in _kind_files(path, kind):
        groups.setdefault(split_name(file), []).append(file)
    if not groups:
        wanted = ", ".join(sorted(KIND_COLUMNS[kind]))
        raise CorpusError(f"{path}: no CLIRudit {kind} Parquet file (columns {wanted}) in this folder")
    if len(groups) == 1 and split is None:
        return next(iter(groups.values()))

    candidates = groups
    if split is not None:
        wanted_names = [split]
        if kind == "queries" and "_" in split:
            # Queries are stored per query language (`en.test`) while the caller may name the
            # qrels split (`en_fr.test`); fall back to the query-language part.
            lang_pair, _, rest = split.partition(".")
            wanted_names.append(lang_pair.split("_")[0] + (f".{rest}" if rest else ""))
        for wanted in wanted_names:
            candidates = _narrow(groups, wanted)
            if candidates:
                break
        if not candidates:
            raise CorpusError(
                f"{path}: no CLIRudit {kind} split matching {split!r} (choices: {', '.join(sorted(groups))})"
            )
    if len(candidates) > 1:
        for preferred in DEFAULT_PREFERENCES[kind]:
            narrowed = _narrow(candidates, preferred)
            if len(narrowed) == 1:
                candidates = narrowed
                break
    if len(candidates) > 1:
        option = "clirudit_split" if kind == "docs" else "split"
        raise CorpusError(
            f"{path}: several CLIRudit {kind} splits ({', '.join(sorted(candidates))}); "
            f"pick one with {option}"
        )
    return next(iter(candidates.values()))


def doc_record(row: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """Generic corpus record: subtitle and abstract form the text, other columns become metadata."""
    rest = dict(row)
    parts = [rest.pop("subtitle", None), rest.pop("abstract", None)]
    text = "\n".join(p for p in parts if isinstance(p, str) and p.strip())
    record: dict[str, Any] = {"_id": rest.pop("docid"), "title": rest.pop("title", None), "text": text}
    record["lang"] = rest.pop("lang", None) or lang
    return {**rest, **record}


def query_record(row: dict[str, Any], lang: str | None) -> dict[str, Any]:
    rest = dict(row)
    record: dict[str, Any] = {"_id": rest.pop("qid"), "text": rest.pop("query")}
    record["lang"] = rest.pop("lang", None) or lang
    return {**rest, **record}
