"""Fixtures shared by every test area; area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test talks to loopback only: proxies in the environment must not capture that traffic."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def postgres_dsn() -> str | None:
    """The PostgreSQL DSN `.ci/run` provides. In CI its absence is an error, never a silent skip."""
    dsn = os.environ.get("FEDCTL_TEST_POSTGRES_DSN")
    if not dsn and os.environ.get("CI"):
        raise RuntimeError("CI=true but FEDCTL_TEST_POSTGRES_DSN is not set: .ci/run must start PostgreSQL")
    return dsn
