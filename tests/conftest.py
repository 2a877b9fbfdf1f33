"""Fixtures shared by every test area; area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test talks to loopback only: proxies in the environment must not capture that traffic."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # the health sweeps of any `fedctl run` a test starts probe loopback addresses only
    monkeypatch.setenv("FEDCTL_HEALTH_PROBE_NETWORKS", '["127.0.0.0/8"]')


def postgres_dsn() -> str | None:
    """The PostgreSQL DSN `.ci/run` provides. In CI its absence is an error, never a silent skip."""
    dsn = os.environ.get("FEDCTL_TEST_POSTGRES_DSN")
    if not dsn and os.environ.get("CI"):
        raise RuntimeError("CI=true but FEDCTL_TEST_POSTGRES_DSN is not set: .ci/run must start PostgreSQL")
    return dsn


@contextlib.contextmanager
def postgres_database(dsn: str, prefix: str = "fedctl_test") -> Iterator[str]:
    """A new, empty database on the server of ``dsn`` (its URL), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(dsn, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(dsn).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
