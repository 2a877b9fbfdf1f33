"""`fedctl`: the single command-line entry point.

Sub-commands live beside the code they drive (``federation/store/cli.py`` for ``db`` and so on) and
are imported lazily, so ``fedctl version`` does not pay for importing the Kubernetes clients.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from federation import __version__
from federation.config import load_settings
from federation.logsetup import setup_logging

# name -> "module:attribute" of a click command or group.
SUBCOMMANDS: dict[str, str] = {
    "run": "federation.controller.cli:run",
    "status": "federation.controller.cli:status",
    "join": "federation.clusters.cli:join_cmd",
    "unjoin": "federation.clusters.cli:unjoin_cmd",
    "sandbox": "federation.sandbox.wiring:sandbox",
    "sim": "federation.sandbox.cli:sim",
    "dns": "federation.dns.cli:dns",
    "db": "federation.store.cli:db",
    "bench": "federation.bench.cli:bench",
    "crds": "federation.api.crdgen:crds",
    "validate": "federation.api.cli:validate_cmd",
    "network": "federation.network.cli:network",
    "health": "federation.health.cli:health",
    "sweep": "federation.health.cli:sweep",
    "dashboard": "federation.web.cli:dashboard",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            try:
                cmd = getattr(importlib.import_module(module_name), attr)
            except ImportError as exc:
                return _unavailable(cmd_name, exc)
            if not isinstance(cmd, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            return cmd
        return super().get_command(ctx, cmd_name)


def _unavailable(name: str, exc: ImportError) -> click.Command:
    """A placeholder that explains why a sub-command cannot load (e.g. a missing optional package)."""

    def fail() -> None:
        raise click.ClickException(f"'{name}' is unavailable: {exc}")

    return click.Command(name, callback=fail, help=f"(unavailable: {exc})")


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level (env FEDCTL_LOG_LEVEL; default info).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log line format (env FEDCTL_LOG_FORMAT; default text).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML configuration file (env FEDCTL_CONFIG).",
)
@click.option("--database-url", default=None, help="SQLAlchemy URL of the store (env FEDCTL_DATABASE_URL).")
@click.version_option(__version__, prog_name="fedctl")
@click.pass_context
def main(
    ctx: click.Context,
    log_level: str | None,
    log_format: str | None,
    config_file: Path | None,
    database_url: str | None,
) -> None:
    """Federate one app over Kubernetes clusters in several regions, steering clients by smart DNS."""
    try:
        settings = load_settings(
            config_file, log_level=log_level, log_format=log_format, database_url=database_url
        )
    except (ValidationError, ValueError, OSError) as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    setup_logging(settings.log_level, settings.log_format)
    ctx.obj = settings


@main.command()
def version() -> None:
    """Print the version of fedctl."""
    click.echo(f"fedctl {__version__}")


@main.command("config")
@click.pass_obj
def show_config(settings: Any) -> None:
    """Print the effective configuration (secrets masked)."""
    click.echo(json.dumps(settings.safe_dump(), indent=2, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    main()
