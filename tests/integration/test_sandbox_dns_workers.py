"""The sandbox's embedded DNS server: no extra worker processes under ``dns_workers: auto`` (the whole
fleet shares a developer's cores, and its DNS load is a few queries), a number set on purpose kept."""

from __future__ import annotations

from pathlib import Path

from federation.config import load_settings
from federation.sandbox.wiring import Sandbox


async def _workers(workdir: Path, settings: object) -> list[int] | None:
    sb = Sandbox(
        workdir,
        regions=("cn-hangzhou",),
        dns_provider="embedded",
        slb=False,
        run_controller=False,
        apply_example=False,
        settings=settings,
    )
    await sb.start()
    try:
        assert sb.dns_runtime is not None
        assert sb.dns_runtime.address is not None  # the embedded server answers
        return None if sb.dns_runtime.workers is None else sb.dns_runtime.workers.pids
    finally:
        await sb.stop()


async def test_auto_gives_the_sandbox_no_worker_and_a_number_is_kept(tmp_path: Path) -> None:
    auto = load_settings()
    assert auto.dns_workers == "auto"
    assert await _workers(tmp_path / "auto", auto) is None
    assert await _workers(tmp_path / "default", None) is None  # Settings() when none are given
    pids = await _workers(tmp_path / "one", load_settings(dns_workers=1))
    assert pids is not None
    assert len(pids) == 1
