"""`fedctl db ...`: migrate, inspect and prune the store.

Every sub-command uses the settings' ``database_url`` (``--database-url`` / ``FEDCTL_DATABASE_URL`` /
config file / the default SQLite file) and only ever prints it with the password masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from federation.config import Settings, load_settings
from federation.logsetup import redact
from federation.store import migrate
from federation.store.db import Database, DatabaseURLError, mask_url, open_existing
from federation.store.retention import prune as prune_samples

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else load_settings()


@contextmanager
def _errors() -> Iterator[None]:
    """Turn store trouble into a one-line error (password masked) instead of a traceback."""
    try:
        yield
    except (DatabaseURLError, migrate.MigrationsNotFoundError, migrate.NotAtHeadError) as exc:
        raise click.ClickException(redact(str(exc))) from exc
    except CommandError as exc:  # Alembic's: an unknown revision, several heads, ...
        raise click.ClickException(f"migration: {redact(str(exc))}") from exc
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"database error: {redact(detail)}") from exc


def _must_exist(ctx: click.Context) -> None:
    """Read-only commands never create a store: a missing SQLite file is "no store at PATH"."""
    with _errors():
        open_existing(_settings(ctx).database_url).dispose()


def _run(ctx: click.Context, fn: Callable[[str], T]) -> T:
    with _errors():
        return fn(_settings(ctx).database_url)


@click.group()
def db() -> None:
    """Manage the store: schema migrations (Alembic) and sample retention."""
    # Alembic narrates every step at INFO; these commands print their own one-line outcome.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("alembic").setLevel(logging.WARNING)


@db.command()
@click.argument("revision", default="head")
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database up to REVISION (default: head); creates a SQLite file if missing."""
    url = _settings(ctx).database_url
    _run(ctx, lambda u: migrate.upgrade(u, revision))
    at = _run(ctx, migrate.current)
    click.echo(f"{mask_url(url)}: at revision {at or 'base'}")


@db.command()
@click.argument("revision")
@click.pass_context
def downgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every table of the store)."""
    url = _settings(ctx).database_url
    _run(ctx, lambda u: migrate.downgrade(u, revision))
    at = _run(ctx, migrate.current)
    click.echo(f"{mask_url(url)}: at revision {at or 'base'}")


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Print the database's revision and whether it is the newest."""
    url = _settings(ctx).database_url
    _must_exist(ctx)
    at = _run(ctx, migrate.current)
    with _errors():
        head = migrate.head()
    if at is None:
        state = f"no revision (empty database; head is {head}: run `fedctl db upgrade`)"
    elif at == head:
        state = f"{at} (head)"
    else:
        state = f"{at} (head is {head}: run `fedctl db upgrade`)"
    click.echo(f"{mask_url(url)}: {state}")


@db.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Fail unless the database is at head and the models agree with it (no migration missing)."""
    url = _settings(ctx).database_url
    _must_exist(ctx)
    diffs = _run(ctx, migrate.check)
    if diffs:
        for d in diffs:
            click.echo(f"  {d}", err=True)
        raise click.ClickException(
            f"{mask_url(url)}: the models differ from the migrated schema ({len(diffs)} difference(s)); "
            "a migration is missing"
        )
    click.echo(f"{mask_url(url)}: models and migrations agree at {migrate.head()}")


@db.command()
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep samples this many days (default: the sample_retention_days setting).",
)
@click.pass_context
def prune(ctx: click.Context, retention_days: int | None) -> None:
    """Delete health and latency samples older than the retention period."""
    settings = _settings(ctx)
    days = retention_days if retention_days is not None else settings.sample_retention_days
    _must_exist(ctx)
    with _errors():
        if migrate.current(settings.database_url) != migrate.head():
            raise migrate.NotAtHeadError(
                f"{mask_url(settings.database_url)} is not at the newest revision: run `fedctl db upgrade`"
            )
        store = Database(settings.database_url)
        try:
            result = store.call(prune_samples, retention_days=days)
        finally:
            store.dispose()
    click.echo(
        f"{store.display_url}: deleted {result.health_samples} health and "
        f"{result.latency_samples} latency samples taken before {result.cutoff.isoformat()} "
        f"(retention {days} days)"
    )
