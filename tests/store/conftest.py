"""Fixtures of the store tests: every test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL: a fresh database per test module, created in the server named by
``FEDCTL_TEST_POSTGRES_DSN`` (``tests/conftest.py::postgres_dsn``) and dropped afterwards. Outside CI,
without that variable, only the PostgreSQL parameter is skipped, with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from federation.store import migrate
from federation.store.db import Database
from federation.store.models import Base
from tests.conftest import postgres_database, postgres_dsn

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL of its own for this test module, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
        return
    dsn = postgres_dsn()
    if dsn is None:
        pytest.skip("PostgreSQL variant: FEDCTL_TEST_POSTGRES_DSN is not set (.ci/run sets it)")
    with postgres_database(dsn, "fedctl_store") as url:
        yield url


def reset_database(url: str) -> None:
    """Drop every table (ours and Alembic's) so the database is as empty as a new one."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            else:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                for table in inspect(conn).get_table_names():
                    conn.execute(text(f'DROP TABLE "{table}"'))
    finally:
        engine.dispose()


@pytest.fixture
def empty_url(db_url: str) -> str:
    """The module's database, emptied: no tables, no revision."""
    reset_database(db_url)
    return db_url


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """The module's database at head with every table empty."""
    if migrate.current(db_url) != migrate.head():
        reset_database(db_url)
        migrate.upgrade(db_url)
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def db(migrated_url: str) -> Iterator[Database]:
    store = Database(migrated_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def backend(db_url: str) -> str:
    return make_url(db_url).get_backend_name()


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    """`fedctl` (run in-process by CliRunner) installs a stderr handler on a stream the runner then
    closes; remove it so later tests' log lines do not hit a closed file."""
    yield
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_fedctl", False):
            root.removeHandler(h)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
