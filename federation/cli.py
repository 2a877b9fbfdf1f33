"""`fedctl`: the single command-line entry point.

Sub-commands live beside the code they drive (``federation/store/cli.py`` for ``db`` and so on) and
are imported lazily, so ``fedctl version`` does not pay for importing the Kubernetes clients, and
``fedctl --help`` imports none of them: it reads each command's summary from its docstring in the
source (:func:`lazy_summary`). The settings (pydantic) load only when a command runs.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from typing import Any

import click

from federation import __version__

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
    "preflight": "federation.preflight.cli:preflight_cmd",
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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, without importing the lazy commands (their summaries come from source)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            summary = lazy_summary(self.lazy[name], limit) if name in self.lazy else None
            if summary is None:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                summary = cmd.get_short_help_str(limit)
            rows.append((name, summary))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def lazy_summary(target: str, limit: int = 45) -> str | None:
    """The short help of ``module:function`` as click would show it, read from the module's source
    (its docstring, or a ``help=`` given to the decorator) without importing it; None if not found."""
    module_name, attr = target.split(":")
    top, *rest = module_name.split(".")
    if top != __name__.split(".")[0] or not rest:
        return None
    # the file, found without importing its package (whose __init__ may import heavy things)
    path = Path(__file__).parent.joinpath(*rest).with_suffix(".py")
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == attr:
            fields: dict[str, str] = {}
            text = ast.get_docstring(node)
            if text is not None:
                fields["help"] = text
            for deco in node.decorator_list:
                func = deco.func if isinstance(deco, ast.Call) else None
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if isinstance(deco, ast.Call) and name in ("command", "group"):
                    for kw in deco.keywords:
                        if kw.arg in ("help", "short_help") and isinstance(kw.value, ast.Constant):
                            fields[kw.arg] = str(kw.value.value)
            if not fields:
                return None
            # click's own shortening, on a stand-in command carrying the same texts
            return click.Command(attr, **fields).get_short_help_str(limit)  # type: ignore[arg-type]
    return None


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
    from pydantic import ValidationError

    from federation.config import load_settings
    from federation.logsetup import setup_logging

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
