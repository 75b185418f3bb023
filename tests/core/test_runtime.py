"""Process-wide settings: the CLI and each server worker collect young objects less often; importing clir
shortens the OpenMP spin."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from clir.runtime import GC_GEN0_THRESHOLD, OPENMP_SPIN_COUNT, configure_gc


@pytest.fixture
def default_gc() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_configure_gc_raises_only_the_youngest_threshold(default_gc: None) -> None:
    configure_gc()
    assert gc.get_threshold() == (GC_GEN0_THRESHOLD, 10, 10)


def test_configure_gc_keeps_a_larger_threshold_and_a_disabled_one(default_gc: None) -> None:
    gc.set_threshold(GC_GEN0_THRESHOLD * 5, 20, 30)
    configure_gc()
    assert gc.get_threshold() == (GC_GEN0_THRESHOLD * 5, 20, 30)
    gc.set_threshold(0, 10, 10)  # 0 disables collection: a process that chose that keeps it
    configure_gc()
    assert gc.get_threshold() == (0, 10, 10)


def test_the_command_line_configures_it(default_gc: None, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # a command that stops at once (no index there) still ran with the setting
    assert main(["search", "--index", str(tmp_path / "none"), "a query"]) == 2
    assert "clir: error:" in capsys.readouterr().err
    assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD


def _spin_after_import(env: dict[str, str]) -> str:
    code = "import clir, os; print(os.environ['GOMP_SPINCOUNT'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_clir_shortens_the_openmp_spin_unless_the_user_chose_one() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert _spin_after_import(env) == OPENMP_SPIN_COUNT
    assert _spin_after_import({**env, "GOMP_SPINCOUNT": "250000"}) == "250000"
