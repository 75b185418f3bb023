"""`clir serve`: serve an index over HTTP (settings also from CLIR_* variables)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.args import add_backend_args, positive_int

if TYPE_CHECKING:
    from clir.index.prepare import QueryAugmenter


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve an index over HTTP (settings also from CLIR_* variables)")
    p.add_argument("--index", type=Path, default=None, help="index directory (default: $CLIR_INDEX)")
    p.add_argument("--host", default=None, help="default 127.0.0.1 ($CLIR_HOST)")
    p.add_argument("--port", type=positive_int, default=None, help="default 8000 ($CLIR_PORT)")
    p.add_argument("--workers", type=positive_int, default=None, help="worker processes ($CLIR_WORKERS)")
    p.add_argument("--writable", action="store_true", default=None,
                   help="take document writes over HTTP ($CLIR_WRITABLE); one worker")
    add_backend_args(p)
    p.set_defaults(func=run)


def live_augmenter(manifest: dict[str, Any]) -> QueryAugmenter | None:
    """Query generation for documents written to an xQG index (indexer/xqg), else None."""
    if not manifest.get("xqg"):
        return None
    from indexer.xqg.live import LiveAugmenter

    return LiveAugmenter(manifest["xqg"])


def run(args: argparse.Namespace) -> int:
    import os

    import uvicorn
    from pydantic import ValidationError

    from app.settings import Settings
    from clir.errors import ConfigError
    from clir.index.manifest import load_manifest
    from clir.index.stores import open_store

    flags = {"index": args.index, "host": args.host, "port": args.port, "workers": args.workers,
             "writable": args.writable, "backend": args.backend, "collection": args.collection,
             "qdrant_url": args.qdrant_url, "qdrant_path": args.qdrant_path}
    for name, value in flags.items():
        if value is not None:  # flags override the environment, and worker processes read it
            os.environ[f"CLIR_{name.upper()}"] = str(value)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(f"settings: {exc.errors()[0]['msg']}") from None
    target = settings.target()  # fail here, in one line, before workers start
    if isinstance(target, Path):
        manifest = load_manifest(target, verify=settings.verify_checksums)
    else:
        store = open_store(target)
        manifest = store.manifest
        store.close()
    if settings.workers == 1:
        from app.main import create_app

        augmenter = live_augmenter(manifest.raw) if settings.writable else None
        uvicorn.run(create_app(settings, augmenter), host=settings.host, port=settings.port,
                    log_level=settings.log_level, access_log=settings.access_log)
    else:
        uvicorn.run("app.main:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level, access_log=settings.access_log)
    return 0
