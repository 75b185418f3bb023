"""`clir` command line: index, search, data import, serve and eval; one module per command.

User errors (bad arguments, unreadable corpus, invalid index) print one line on stderr and exit 2.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Sequence

from cli import add, compact, data, delete, eval, index, search, serve, settings
from cli.args import EXIT_USAGE, Parser
from clir.errors import ClirError
from clir.runtime import configure_gc

COMMANDS = (index, add, delete, compact, search, data, serve, eval, settings)


def build_parser() -> Parser:
    parser = Parser(prog="clir", description="Cross-lingual retrieval: index, search, evaluate, serve.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_gc()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ClirError as exc:
        print(f"clir: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        # a path this user may not read or write: one line naming it, not a traceback
        print(f"clir: error: {exc.filename or ''}: {exc.strerror} (user id {os.getuid()}); give this user access "
              "to it, or use another path", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("clir: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
