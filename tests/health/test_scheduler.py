"""The sweep schedule follows the apps and members (jobs added, changed and removed), stops with the
Lease, and its daily retention job prunes old samples and keeps recent ones."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from federation.health.scheduler import HealthScheduler
from federation.health.sweeps import AppInfo, AppRegionInfo, HealthConfig, HealthService, MemberInfo, VipSpec
from federation.health.targets import StaticSource
from federation.store import migrate
from federation.store.db import Database
from federation.store.health import HealthSampleData, record_sweep, sample_history


def _app(key: str, interval: float = 2.0) -> AppInfo:
    region = AppRegionInfo("cn-hangzhou", cluster="hz", address="127.0.0.1", desired=1, ready=1)
    return AppInfo(key, VipSpec(port=9, interval=interval), (region,))


async def test_jobs_follow_the_apps_and_members_and_stop_with_the_lease() -> None:
    src = StaticSource([MemberInfo("hz", "cn-hangzhou", None)], [_app("default/web")])
    config = HealthConfig(probe_networks=("127.0.0.0/8",), sync_interval=3600)
    sched = HealthScheduler(HealthService(src, config=config))
    await sched.start()
    try:
        jobs = {j.id: j for j in sched.schedule()}
        assert {"sync", "rollout", "retention", "member:hz", "vip:default/web"} <= set(jobs)
        assert jobs["vip:default/web"].interval_seconds == 2.0
        assert jobs["retention"].interval_seconds == 24 * 3600
        assert all(j.next_run is not None for j in jobs.values())

        # an app deleted, another created with its own interval, one changing its interval, a member gone
        src.app_list = [
            _app("default/api", 5.0),
            dataclasses.replace(_app("default/shop"), vip=VipSpec(interval=7)),
        ]
        src.member_list = []
        await sched._sync()
        jobs = {j.id: j for j in sched.schedule()}
        assert "vip:default/web" not in jobs
        assert "member:hz" not in jobs
        assert jobs["vip:default/api"].interval_seconds == 5.0
        assert jobs["vip:default/shop"].interval_seconds == 7.0
        src.app_list = [_app("default/api", 3.0)]
        await sched._sync()
        jobs = {j.id: j for j in sched.schedule()}
        assert jobs["vip:default/api"].interval_seconds == 3.0
        assert "vip:default/shop" not in jobs
    finally:
        await sched.stop()
    assert sched.schedule() == []  # a replica that lost the Lease runs no job
    assert not sched.started


async def test_the_retention_job_prunes_old_samples_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        now = datetime.now(UTC)
        old, recent = now - timedelta(days=20), now - timedelta(hours=1)
        rows = [
            HealthSampleData("endpoint", "default/web@cn-hangzhou", "cn-hangzhou", ok, at, app="default/web")
            for ok, at in ((False, old), (True, recent))
        ]
        await db.run(record_sweep, rows)
        svc = HealthService(StaticSource([], []), db=db, config=HealthConfig(retention_days=14))
        await svc.prune()
        left = await db.run(sample_history, "endpoint", "default/web@cn-hangzhou")
        assert [(s.ok, s.at) for s in left] == [(True, recent)]
    finally:
        await db.aclose()
