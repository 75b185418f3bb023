"""What every command shares: the one-line argument errors, exit codes and argument types."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from clir.index.target import QdrantTarget
    from clir.settings import Settings
    from indexer.ray_build import RayOptions

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse prints the whole usage block on error; a single line is easier to act on in scripts."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _int_from(value: str, least: int, what: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value!r}") from exc
    if number < least:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value!r}")
    return number


def positive_int(value: str) -> int:
    return _int_from(value, 1, "positive")


def non_negative_int(value: str) -> int:
    return _int_from(value, 0, "non-negative")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """Where the index lives, for commands that can use Qdrant instead of an index directory."""
    from clir.index.target import BACKENDS

    g = p.add_argument_group("backend (default: an index directory)")
    g.add_argument("--backend", default=None, choices=BACKENDS, help="local (default, $CLIR_BACKEND) or qdrant")
    g.add_argument("--collection", default=None, help="qdrant: the collection (alias) name ($CLIR_COLLECTION)")
    g.add_argument("--qdrant-url", default=None,
                   help="qdrant: server URL ($CLIR_QDRANT_URL; API key from $CLIR_QDRANT_API_KEY)")
    g.add_argument("--qdrant-path", type=Path, default=None,
                   help="qdrant: local mode, the collection kept in this directory by this process alone")


def backend_settings(args: argparse.Namespace, **flags: object) -> Settings:
    """The settings (read once, for the command), the backend's flags and any other `flags` over them."""
    backend = {"backend": args.backend, "collection": args.collection, "qdrant_url": args.qdrant_url,
               "qdrant_path": args.qdrant_path}
    if args.qdrant_path is not None and args.qdrant_url is None:
        backend["qdrant_url"] = ""  # local mode named here: a server URL from the environment does not apply
    from clir.settings import load_settings

    return load_settings(**backend, **flags)


def index_target(args: argparse.Namespace, path: Path | None, flag: str) -> Path | QdrantTarget:
    """The index the command names: a Qdrant collection with --backend qdrant, else the directory `path`."""
    from clir.errors import ConfigError

    settings = backend_settings(args)
    if settings.backend == "qdrant":
        return settings.target()
    if path is None:
        raise ConfigError(f"{flag} is required (or --backend qdrant --collection NAME)")
    return path


def add_ray_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Ray (encode on a cluster; pip install 'clir[ray]')")
    g.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="encode with Ray Data actors: local (a Ray instance on this machine), auto (the cluster "
                        "this machine is in) or ray://HOST:10001")
    g.add_argument("--ray-actors", type=positive_int, default=2, help="encoder actors, each loads the encoder once")
    g.add_argument("--ray-batch-size", type=positive_int, default=64, help="passages per actor call")


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    if not args.ray:
        return None
    from indexer.ray_build import RayOptions, require_ray

    require_ray()
    return RayOptions(address=args.ray, actors=args.ray_actors, batch_size=args.ray_batch_size)
