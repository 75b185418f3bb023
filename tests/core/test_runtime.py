"""Process-wide settings: the CLI and each server worker collect young objects less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from clir.runtime import GC_GEN0_THRESHOLD, configure_gc


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
