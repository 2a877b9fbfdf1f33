"""Schema migrations: Alembic driven from Python, with the URL from the application's settings.

The Alembic scripts live in the repository's top-level ``migrations/`` directory (``env.py`` and
``versions/``). They are found, in order, at ``$FEDCTL_MIGRATIONS_DIR``, then at ``migrations/`` next to
the ``federation`` package, which is where they are in a source checkout and in an editable install
(``pip install -e .``). A non-editable install does not ship them: point ``FEDCTL_MIGRATIONS_DIR`` at a
checkout's ``migrations/``.

The URL reaches ``env.py`` as ``config.attributes["database_url"]`` (not as the ini option
``sqlalchemy.url``, whose ``%`` interpolation would mangle URL-encoded passwords); the plain
``alembic -c migrations/alembic.ini ...`` command takes it from ``-x database_url=...`` or, failing
that, from the settings (``FEDCTL_DATABASE_URL``, the config file, the default SQLite file).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

import federation
from federation.store.db import create_store_engine, parse_url
from federation.store.models import Base
from federation.store.types import UTCDateTime

MIGRATIONS_ENV = "FEDCTL_MIGRATIONS_DIR"


class MigrationsNotFoundError(RuntimeError):
    pass


class NotAtHeadError(RuntimeError):
    """The database is not at the newest revision (``fedctl db upgrade`` fixes it)."""


def migrations_dir() -> Path:
    """The directory holding ``env.py`` and ``versions/``."""
    candidates: list[Path] = []
    if os.environ.get(MIGRATIONS_ENV):
        candidates.append(Path(os.environ[MIGRATIONS_ENV]).expanduser())
    candidates.append(Path(federation.__file__).resolve().parent.parent / "migrations")
    for c in candidates:
        if (c / "env.py").is_file() and (c / "versions").is_dir():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise MigrationsNotFoundError(
        f"Alembic migrations not found (tried {tried}); install from a checkout with `pip install -e .` "
        f"or set {MIGRATIONS_ENV} to the repository's migrations/ directory"
    )


def alembic_config(url: str | URL | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic config for ``url`` (or an open ``connection``), without any ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        cfg.attributes["database_url"] = url if isinstance(url, URL) else parse_url(url)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision of the migration scripts."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads ({', '.join(heads)}): merge them")
    return heads[0]


def upgrade(url: str | URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


@contextmanager
def _connect(url: str | URL) -> Iterator[Connection]:
    engine = create_store_engine(url if isinstance(url, URL) else parse_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def current(url: str | URL) -> str | None:
    """The revision the database is at; None for an empty (never migrated) database."""
    with _connect(url) as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def ensure_current(url: str | URL, *, upgrade_if_behind: bool = True) -> str:
    """Make sure the schema is at head before a long-running command uses it; returns the revision.

    The sandbox and a single-node controller on SQLite upgrade on start; a production controller
    (shared PostgreSQL, migrations run as a deploy step) passes ``upgrade_if_behind=False`` and gets
    :class:`NotAtHeadError` instead of a surprise schema change.
    """
    want = head()
    at = current(url)
    if at == want:
        return at
    if not upgrade_if_behind:
        raise NotAtHeadError(
            f"the database is at {at or 'no revision'}, the migrations' head is {want}: "
            "run `fedctl db upgrade`"
        )
    upgrade(url, want)
    return want


# Shared with env.py so that `fedctl db check`, `alembic check` and autogenerate see the same thing.
def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Tables that are not ours (another tool's, in a shared PostgreSQL database) are not drift.
    return not (type_ == "table" and reflected and compare_to is None and name not in Base.metadata.tables)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our column types as plain SQLAlchemy types, so revisions never import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def context_options(is_sqlite: bool) -> dict[str, Any]:
    return {
        "target_metadata": Base.metadata,
        "compare_type": True,
        "compare_server_default": False,
        "render_as_batch": is_sqlite,  # SQLite cannot ALTER most things: copy-and-move tables
        "include_object": include_object,
        "render_item": render_item,
    }


def check(url: str | URL) -> list[str]:
    """Differences between the models and the migrated database; empty when they agree.

    Raises :class:`NotAtHeadError` if the database is not at the newest revision.
    """
    want = head()
    with _connect(url) as conn:
        ctx = MigrationContext.configure(conn, opts=context_options(conn.dialect.name == "sqlite"))
        heads = ctx.get_current_heads()
        if heads != (want,):
            at = f"at {', '.join(heads)}" if heads else "empty (no revision)"
            raise NotAtHeadError(
                f"the database is {at}, the migrations' head is {want}: run `fedctl db upgrade`"
            )
        return [_describe(d) for d in compare_metadata(ctx, Base.metadata)]


def _describe(diff: Any) -> str:
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(d) for d in diff)
    op, *args = diff
    names = [getattr(a, "name", None) or str(a) for a in args if a is not None][:3]
    return f"{op} {' '.join(str(n) for n in names)}"
