"""`clir serve`: serve an index over HTTP (settings also from CLIR_* variables)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.args import add_backend_args, positive_int


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


def run(args: argparse.Namespace) -> int:
    from functools import partial

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from app.main import create_app
    from cli.args import backend_settings
    from clir.index.manifest import load_manifest
    from clir.index.open import open_store

    settings = backend_settings(args, index=args.index, host=args.host, port=args.port, workers=args.workers,
                                writable=args.writable)
    target = settings.target()  # fail here, in one line, before workers start
    if isinstance(target, Path):
        manifest = load_manifest(target, verify=settings.verify_checksums)
    else:
        store = open_store(target)
        manifest = store.manifest
        store.close()
    if settings.workers == 1:
        from indexer.xqg.live import live_augmenter

        augmenter = live_augmenter(manifest.raw) if settings.writable else None
        uvicorn.run(create_app(settings, augmenter), host=settings.host, port=settings.port,
                    log_level=settings.log_level, access_log=settings.access_log)
        return 0
    # Worker processes are spawned with the settings object itself (pickled), not through the environment.
    config = uvicorn.Config(partial(create_app, settings), factory=True, host=settings.host, port=settings.port,
                            workers=settings.workers, log_level=settings.log_level, access_log=settings.access_log)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0
