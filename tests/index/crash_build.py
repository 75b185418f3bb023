"""Run `clir index` and SIGKILL it at one step of installing the new index over the old one.

The steps are the file-system changes made from the moment the finished index is installed: the
directory exchange (or, where the system cannot exchange, the two renames of the fallback) and every
unlink/rmdir that removes the old copy. `CLIR_KILL_AT=N` kills the process just before step N (N equal
to the number of steps: just after the last); `CLIR_KILL_AT=count` runs to the end and prints the
number of steps; `CLIR_NO_EXCHANGE=1` takes the fallback path. Used by tests/index/test_crash.py.

    python -m tests.index.crash_build index --corpus C --out DIR --quiet
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    import clir.files as files
    import clir.index.build as build
    from cli.main import main as clir

    kill_at = os.environ["CLIR_KILL_AT"]
    steps = 0
    installing = False

    def step() -> None:
        nonlocal steps
        if installing and kill_at != "count" and steps == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
        steps += installing

    def counted(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            step()
            return fn(*args, **kwargs)
        return run

    for name in ("rename", "unlink", "rmdir"):
        setattr(os, name, counted(getattr(os, name)))
    if os.environ.get("CLIR_NO_EXCHANGE"):
        files.exchange_dirs = lambda a, b: False  # type: ignore[assignment]  # as on a system without renameat2
    else:
        files.exchange_dirs = counted(files.exchange_dirs)  # type: ignore[assignment]
    real_install = build.install_dir

    def install(tmp: Path, out: Path) -> None:
        nonlocal installing
        installing = True
        real_install(tmp, out)
        step()  # after the last step, before the build reports success
        installing = False

    build.install_dir = install  # type: ignore[assignment]
    code = clir(argv)
    if kill_at == "count":
        print(steps, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
