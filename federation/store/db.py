"""Engine and unit-of-work sessions for the store.

One :class:`Database` per process, one session per unit of work, no global session::

    db = Database.from_settings(settings)
    with db.session() as s:                 # commits on success, rolls back on error
        record_health_sample(s, sample)
    rows = await db.run(lambda s: latest_health(s, region="cn-hangzhou"))   # from asyncio code

Why a thread pool and not SQLAlchemy's asyncio extension: the same synchronous queries then serve
the controller, the CLI and Alembic (which is synchronous), without a second driver per engine
(aiosqlite, psycopg's async mode) or greenlet. Store work is short; a small bounded pool keeps it off
the event loop. SQLite allows one writer at a time, so its pool has one worker: in-process writes
queue in order instead of failing with "database is locked"; PostgreSQL gets a few.

SQLite: the parent directory of the file is created, and every connection turns on WAL (readers do
not block the writer), foreign keys and a busy timeout (a second process, e.g. ``fedctl db prune``
next to the controller, waits instead of failing). PostgreSQL: ``pool_pre_ping`` so a restarted
server costs one reconnect rather than an error in a sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from federation.config import Settings
from federation.logsetup import register_secret

T = TypeVar("T")
P = ParamSpec("P")

SQLITE_BUSY_TIMEOUT_MS = 5000

_DSN_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


class DatabaseURLError(ValueError):
    """The configured database URL cannot be used."""


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``: the only form of a DSN that may be printed."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _DSN_PASSWORD.sub(r"\1***@", url)


def parse_url(url: str) -> URL:
    """Parse a SQLAlchemy URL, naming the setting in the error (without echoing a password)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"database_url: not a SQLAlchemy URL: {mask_url(url)!r}") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseURLError(
            f"database_url: unsupported backend {parsed.get_backend_name()!r} in {mask_url(parsed)!r}; "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for in-memory databases."""
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(db)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses at most the last commit
    finally:
        cur.close()


def create_store_engine(url: str | URL, *, echo: bool = False, **engine_kwargs: Any) -> Engine:
    """An engine configured for the store (see the module docstring for what differs per backend).

    ``engine_kwargs`` go to :func:`sqlalchemy.create_engine` (e.g. ``poolclass=NullPool`` for a
    one-shot command).
    """
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.password:
        register_secret(str(parsed.password))
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo, **engine_kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    if "poolclass" not in engine_kwargs:
        engine_kwargs = {"pool_size": 5, "max_overflow": 5, "pool_recycle": 1800, **engine_kwargs}
    return create_engine(parsed, echo=echo, pool_pre_ping=True, **engine_kwargs)


class StoreNotFoundError(DatabaseURLError):
    """A read-only command was pointed at a store that does not exist (it is never created for it)."""


def open_existing(url: str | URL, **kwargs: Any) -> Database:
    """The store at ``url`` for reading: a SQLite file that does not exist is a
    :class:`StoreNotFoundError` saying "no store at PATH", and is not created."""
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and not path.expanduser().exists():
            raise StoreNotFoundError(
                f"no store at {path.expanduser().resolve()} (database_url {mask_url(parsed)}); "
                "pass --database-url or set FEDCTL_DATABASE_URL to the store the controller writes"
            )
    return Database(parsed, **kwargs)


def read_error(exc: BaseException, display_url: str) -> str:
    """A store error as one plain line for a user: no SQL, no driver noise, no password."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if isinstance(exc, DatabaseURLError):
        return str(exc)
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OperationalError | ProgrammingError) and (
        "no such table" in text or "does not exist" in text
    ):
        return (
            f"the store at {display_url} has no tables yet (run `fedctl db upgrade`, or start `fedctl run`)"
        )
    return f"reading the store ({display_url}): {text}"


class Database:
    """The store: an engine, a session factory and a bounded pool for calls from asyncio code."""

    def __init__(self, url: str | URL, *, max_workers: int | None = None, echo: bool = False) -> None:
        self.engine = create_store_engine(url, echo=echo)
        self.url = self.engine.url
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # expire_on_commit=False: objects read in a unit of work stay readable after it ends.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        workers = max_workers if max_workers is not None else (1 if self.is_sqlite else 4)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store")

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Database:
        return cls(settings.database_url, **kwargs)

    @property
    def display_url(self) -> str:
        """The URL with the password masked."""
        return mask_url(self.url)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def call(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args, **kwargs)`` as one unit of work, synchronously."""
        with self.session() as session:
            return fn(session, *args, **kwargs)

    async def run(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args, **kwargs)`` as one unit of work in the store's thread pool.

        e.g. ``await db.run(record_health_samples, samples)``. The event loop keeps running meanwhile.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(self.call, fn, *args, **kwargs))

    def dispose(self) -> None:
        """Close pooled connections and stop the worker threads."""
        self._pool.shutdown(wait=True)
        self.engine.dispose()

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.dispose)

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"
