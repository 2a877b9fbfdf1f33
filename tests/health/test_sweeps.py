"""Sweeps against loopback listeners and a fake source: states, reasons, one write per sweep, the
store read back by `fedctl health`, and a restart that keeps the history."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from federation.cli import main
from federation.health.hysteresis import State
from federation.health.sweeps import AppInfo, AppRegionInfo, HealthConfig, HealthService, VipSpec
from federation.health.targets import StaticSource
from federation.store import migrate
from federation.store.db import Database
from federation.store.health import latest_health, list_transitions, sample_history

APP = "default/web"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'health.db'}"
    migrate.upgrade(url)
    return url


@contextlib.asynccontextmanager
async def listener(host: str) -> AsyncIterator[tuple[asyncio.Server, int]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    try:
        yield server, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def source(port: int, addresses: dict[str, str]) -> StaticSource:
    vip = VipSpec(port=port, interval=1, timeout=0.5, failure_threshold=3, success_threshold=2)
    regions = tuple(AppRegionInfo(r, cluster=r, address=a, desired=1, ready=1) for r, a in addresses.items())
    return StaticSource([], [AppInfo(APP, vip, regions)])


async def test_vip_refusing_goes_unhealthy_with_its_reason_and_recovers(db_url: str) -> None:
    db = Database(db_url)
    changed: list[set[str]] = []
    try:
        async with listener("127.0.0.1") as (server, port):
            src = source(port, {"cn-hangzhou": "127.0.0.1", "cn-beijing": "127.0.0.2"})
            svc = HealthService(
                src,
                db=db,
                config=HealthConfig(fast_interval=0.01, probe_networks=("127.0.0.0/8",)),
                on_change=lambda apps, clusters: changed.append(apps),
            )
            report = await svc.sweep_vips()
            # cn-beijing's address has no listener: refused, confirmed within the same sweep
            assert svc.verdict(APP, "cn-hangzhou", None).state is State.HEALTHY
            bad = svc.verdict(APP, "cn-beijing", None)
            assert bad.state is State.UNHEALTHY
            assert bad.reason == f"VIP 127.0.0.2:{port} refused 3 times"
            assert report.transitions == 2
            assert {APP} in changed

            server.close()
            await server.wait_closed()
            await svc.sweep_vips()
            assert svc.verdict(APP, "cn-hangzhou", None).state is State.UNHEALTHY

        async with listener("127.0.0.2") as (_, port2):
            svc.source = source(port2, {"cn-beijing": "127.0.0.2"})
            await svc.sweep_vips()
            assert svc.verdict(APP, "cn-beijing", None).state is State.HEALTHY

        states = {s.target_id: s for s in await db.run(latest_health, app=APP)}
        assert states[f"{APP}@cn-beijing"].state == "healthy"
        trs = await db.run(list_transitions, app=APP)
        assert [(t.target_id.split("@")[1], t.to_state) for t in reversed(trs)] == [
            ("cn-hangzhou", "healthy"),
            ("cn-beijing", "unhealthy"),
            ("cn-hangzhou", "unhealthy"),
            ("cn-beijing", "healthy"),
        ]
        from federation.store.latency import latency_matrix_samples

        rtts = await db.run(latency_matrix_samples, datetime.now(UTC) - timedelta(hours=1))
        assert {(m.source, m.region) for m in rtts} >= {("controller", "cn-beijing")}
        samples = await db.run(sample_history, "endpoint", f"{APP}@cn-beijing")
        assert samples[0].ok is True
        assert any("refused" in (s.detail or "") for s in samples)

        # a new controller (the restart): the history is still there and the states resume
        svc2 = HealthService(svc.source, db=db, config=HealthConfig(probe_networks=("127.0.0.0/8",)))
        assert await svc2.restore() >= 1
        assert svc2.verdict(APP, "cn-beijing", None).state is State.HEALTHY
    finally:
        await db.aclose()

    runner = CliRunner()
    out = runner.invoke(main, ["--database-url", db_url, "health", "web"])
    assert out.exit_code == 0, out.output
    assert "UNHEALTHY" in out.output
    assert f"VIP 127.0.0.1:{port} refused" in out.output
    out = runner.invoke(main, ["--database-url", db_url, "health", "transitions", "--since", "1h"])
    assert out.exit_code == 0, out.output
    assert "healthy -> unhealthy" in out.output
    out = runner.invoke(main, ["--database-url", db_url, "health", "history", f"{APP}@cn-beijing"])
    assert out.exit_code == 0, out.output
    assert "FAIL" in out.output
    assert "ok" in out.output


async def test_addresses_outside_the_probe_networks_are_never_dialled() -> None:
    svc = HealthService(
        source(80, {"cn-hangzhou": "47.97.0.11"}), config=HealthConfig(probe_networks=("127.0.0.0/8",))
    )
    report = await svc.sweep_vips()
    assert [s.ok for s in report.seen] == [None]
    assert "outside the probe networks" in report.seen[0].detail
    assert svc.verdict(APP, "cn-hangzhou", None).state is State.UNKNOWN


async def test_a_lost_database_starts_unknown(db_url: str, tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'new.db'}"
    migrate.upgrade(fresh)
    db = Database(fresh)
    try:
        svc = HealthService(source(80, {"cn-hangzhou": "127.0.0.1"}), db=db)
        assert await svc.restore() == 0
        assert svc.verdict(APP, "cn-hangzhou", None).state is State.UNKNOWN
    finally:
        await db.aclose()


async def test_an_apps_vip_job_reads_only_its_own_app() -> None:
    # a thousand apps each with its own VIP job must not translate every app on every run
    class Counting(StaticSource):
        listed = 0

        def apps(self) -> list[AppInfo]:
            Counting.listed += 1
            return list(self.app_list)

    async with listener("127.0.0.1") as (_, port):
        base = source(port, {"cn-hangzhou": "127.0.0.1"})
        other = AppInfo("default/other", base.app_list[0].vip, base.app_list[0].regions)
        src = Counting([], [*base.app_list, other])
        svc = HealthService(src, config=HealthConfig(fast_interval=0.01, probe_networks=("127.0.0.0/8",)))
        report = await svc.sweep_vips(APP)
    assert Counting.listed == 0
    assert [s.target for s in report.seen] == [f"{APP}@cn-hangzhou"]
    assert svc.verdict(APP, "cn-hangzhou", None).state is State.HEALTHY


async def test_concurrent_sweeps_share_their_store_writes(db_url: str) -> None:
    # each app's VIP job is its own sweep; finishing together, they must not each take a transaction
    db = Database(db_url)
    try:
        async with listener("127.0.0.1") as (_, port):
            base = source(port, {"cn-hangzhou": "127.0.0.1"})
            apps = [
                AppInfo(f"default/app-{i}", base.app_list[0].vip, base.app_list[0].regions) for i in range(30)
            ]
            svc = HealthService(
                StaticSource([], apps),
                db=db,
                config=HealthConfig(fast_interval=0.01, probe_networks=("127.0.0.0/8",)),
            )
            await asyncio.gather(*(svc.sweep_vips(a.key) for a in apps))
        assert 1 <= svc.writes < 30
        states = await db.run(latest_health, target_kind="endpoint")
        assert len(states) == 30
        assert all(s.state == "healthy" for s in states)
        for a in apps[:3]:
            assert len(await db.run(sample_history, "endpoint", f"{a.key}@cn-hangzhou")) == 2
    finally:
        await db.aclose()
