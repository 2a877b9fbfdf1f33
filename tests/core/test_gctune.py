"""The garbage collector's settings of the long-running processes (federation.gctune)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from federation import gctune
from federation.cli import main
from federation.config import load_settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_tune_freezes_startup_and_still_collects_later_cycles(restored_gc: None) -> None:
    gctune.tune((12_345, 7, 9))
    assert gc.get_threshold() == (12_345, 7, 9)
    assert gc.get_freeze_count() > 0  # the modules and classes alive now are out of the scans

    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle made after startup: reference counting alone never frees it
    alive = weakref.ref(a)
    del a, b
    gc.collect()
    assert alive() is None


def test_the_threshold_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().gc_threshold == gctune.DEFAULT_THRESHOLD
    monkeypatch.setenv("FEDCTL_GC_THRESHOLD", "[700, 10, 10]")
    assert load_settings().gc_threshold == (700, 10, 10)
    monkeypatch.delenv("FEDCTL_GC_THRESHOLD")
    cfg = tmp_path / "fedctl.yaml"
    cfg.write_text("gc_threshold: [20000, 5, 50]\n")
    assert load_settings(cfg).gc_threshold == (20_000, 5, 50)


@pytest.mark.parametrize("value", ["[1000, -1, 10]", "[1000, 10]"])
def test_a_bad_threshold_is_a_clear_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDCTL_GC_THRESHOLD", value)
    result = CliRunner().invoke(main, ["version"])
    assert result.exit_code == 1
    assert "invalid configuration" in result.output
    assert "gc_threshold" in result.output
