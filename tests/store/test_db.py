"""The Database object: per-backend engine settings, units of work, and store work from asyncio."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from federation.config import Settings, load_settings
from federation.logsetup import redact
from federation.store import migrate
from federation.store.db import Database, DatabaseURLError, mask_url
from federation.store.health import HealthSampleData, record_health_samples
from federation.store.models import HealthSample

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _sample(i: int) -> HealthSampleData:
    return HealthSampleData(
        target_kind="endpoint",
        target_id=f"vip-{i}",
        region="cn-hangzhou",
        ok=True,
        at=T0 + timedelta(seconds=i),
        app="shop/web",
        latency_ms=1.5,
    )


def _count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(HealthSample)) or 0


def test_sqlite_file_directory_created_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "federation.db"
    store = Database(f"sqlite:///{path}")
    try:
        with store.session() as s:
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert s.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert path.parent.is_dir()
    finally:
        store.dispose()


def test_default_url_is_a_sqlite_file_under_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FEDCTL_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'xdg' / 'fedctl' / 'federation.db'}"
    migrate.upgrade(settings.database_url)
    assert (tmp_path / "xdg" / "fedctl" / "federation.db").is_file()


def test_unit_of_work_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    with db.session() as s:
        record_health_samples(s, [_sample(1)])

    def failing_unit_of_work() -> None:
        with db.session() as s:
            record_health_samples(s, [_sample(2), _sample(3)])
            s.flush()  # the rows reached the database inside the transaction...
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_unit_of_work()
    with db.session() as s:  # ...and were rolled back with it
        assert _count(s) == 1


async def test_run_executes_off_the_event_loop_and_in_parallel_tasks(db: Database) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def work(s: Session, i: int) -> int:
        seen.append(threading.get_ident())
        return record_health_samples(s, [_sample(i)])

    results = await asyncio.gather(*(db.run(work, i) for i in range(20)))
    assert results == [1] * 20
    assert loop_thread not in seen
    assert await db.run(_count) == 20


async def test_event_loop_keeps_running_while_store_work_waits(db: Database) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    def slow(s: Session) -> int:
        threading.Event().wait(0.2)  # a slow query, stood in for by a blocking wait
        return _count(s)

    task = asyncio.create_task(ticker())
    assert await db.run(slow) == 0
    stop.set()
    await task
    assert ticks >= 5


def test_password_is_masked_and_registered_for_log_redaction() -> None:
    url = "postgresql+psycopg://fedctl:Very-S3cret-pw@127.0.0.1:1/x"
    assert mask_url(url) == "postgresql+psycopg://fedctl:***@127.0.0.1:1/x"
    assert "Very-S3cret-pw" not in mask_url("not a url ://u:Very-S3cret-pw@host")
    store = Database(url)  # no connection is made until first use
    try:
        assert "Very-S3cret-pw" not in repr(store)
        assert redact("connecting with Very-S3cret-pw") == "connecting with ***"
    finally:
        store.dispose()


@pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "nonsense"])
def test_unusable_url_error_names_the_setting(url: str) -> None:
    with pytest.raises(DatabaseURLError, match="database_url"):
        Database(url)


def test_from_settings_uses_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = Database.from_settings(Settings(database_url=url))
    try:
        assert store.url.database == str(tmp_path / "x.db")
    finally:
        store.dispose()
