"""Alembic environment for the federation store.

The database URL is never written here or in an ini file. It comes from, in order: an open
connection or a URL the application passed in ``config.attributes`` (``federation.store.migrate``,
``fedctl db ...``); ``-x database_url=...`` on the ``alembic`` command line; the application's
settings (``FEDCTL_DATABASE_URL``, the config file, or the default SQLite file).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from federation.config import load_settings
from federation.store.db import create_store_engine, parse_url
from federation.store.migrate import context_options

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    # Only the plain `alembic -c migrations/alembic.ini` command has an ini; fedctl logs its own way.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> URL:
    given = config.attributes.get("database_url")
    if given is not None:
        return given if isinstance(given, URL) else parse_url(str(given))
    x_url = context.get_x_argument(as_dictionary=True).get("database_url")
    return parse_url(x_url or load_settings().database_url)


def _run(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # Batch mode rebuilds a table by copy, drop and rename; with foreign keys enforced, dropping a
        # referenced table would fail or cascade. The pragma is a no-op inside a transaction, so it
        # is set before Alembic begins one (SQLite docs: "PRAGMA foreign_keys").
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, **context_options(is_sqlite))
    with context.begin_transaction():
        context.run_migrations()
    if is_sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(url.get_backend_name() == "sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _transactional_ddl(engine: Engine) -> None:
    """Make each upgrade one SQLite transaction, DDL included. pysqlite begins a transaction only
    before DML, so every CREATE TABLE committed on its own and a process killed half-way through the
    first upgrade left half a schema and no revision (every later start: "table ... already exists").
    SQLite's DDL is transactional: the driver is told to stay out and SQLAlchemy says BEGIN
    (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL" for pysqlite)."""

    @event.listens_for(engine, "connect")
    def _driver_stays_out(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # set before the first BEGIN: the pragma is a no-op inside a transaction (see _run)
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_store_engine(_url(), poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        _transactional_ddl(engine)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
