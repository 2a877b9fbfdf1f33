"""`fedctl health` (current state, history, transitions, from the store) and `fedctl sweep --once`
(every sweep once against the host cluster's apps and members, printing what each probe saw)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from federation.config import Settings, load_settings

_SINCE = re.compile(r"^(\d+)([smhd])$")


def parse_since(text: str) -> timedelta:
    m = _SINCE.match(text.strip())
    if not m:
        raise click.BadParameter(
            f"{text!r}: expected a number and s, m, h or d (e.g. 30m, 1h)", param_hint="--since"
        )
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: n})


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else load_settings()


def _db(ctx: click.Context) -> Any:
    from federation.store.db import Database

    return Database(_settings(ctx).database_url)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "-"
    s = max(0, int((now - at).total_seconds()))
    if s < 120:
        return f"{s}s ago"
    if s < 7200:
        return f"{s // 60}m ago"
    return f"{s // 3600}h ago"


def _store_call(ctx: click.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from federation.logsetup import redact

    db = _db(ctx)
    try:
        return db.call(fn, *args, **kwargs)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(
            f"database error: {redact(detail)} (run `fedctl db upgrade` on a new database)"
        ) from exc
    finally:
        db.dispose()


class _HealthGroup(click.Group):
    """``fedctl health [APP]`` shows the state; ``history`` and ``transitions`` are sub-commands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "show", self.commands["show"], args
        return super().resolve_command(ctx, args)


@click.group(cls=_HealthGroup, invoke_without_command=True)
@click.pass_context
def health(ctx: click.Context) -> None:
    """Health of every region per signal, from the store: `fedctl health [APP]`,
    `fedctl health history TARGET`, `fedctl health transitions`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(show, app=None)


@health.command("show", hidden=True)
@click.argument("app", required=False)
@click.pass_context
def show(ctx: click.Context, app: str | None) -> None:
    """Current state per target (APP: namespace/name or name in default), with reasons and since when."""
    from federation.store.health import latest_health

    if app and "/" not in app:
        app = f"default/{app}"
    states = _store_call(ctx, latest_health)
    if app:
        regions = {s.region for s in states if s.app == app}
        states = [s for s in states if s.app == app or (s.app is None and s.region in regions)]
    if not states:
        click.echo("No health state recorded yet" + (f" for {app}" if app else "") + ".")
        return
    now = datetime.now(UTC)
    rows = [
        (
            s.region,
            s.target_kind,
            s.target_id,
            s.state.upper() if s.state == "unhealthy" else s.state,
            _ago(s.since, now),
            _ago(s.last_sample_at, now),
            s.reason or "",
        )
        for s in sorted(states, key=lambda s: (s.region, s.app or "", s.target_kind, s.target_id))
    ]
    click.echo(table(("REGION", "SIGNAL", "TARGET", "STATE", "SINCE", "PROBED", "REASON"), rows))


@health.command("history")
@click.argument("target")
@click.option("--since", "since_text", default="1h", show_default=True, help="How far back (30m, 1h, 2d).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.pass_context
def history(ctx: click.Context, target: str, since_text: str, limit: int) -> None:
    """Samples of TARGET (a member name, or namespace/app@region), newest first."""
    from federation.store.health import sample_history
    from federation.store.models import TargetKind

    since = datetime.now(UTC) - parse_since(since_text)

    def all_kinds(session: Any) -> list[Any]:
        out = []
        for kind in TargetKind:
            out += sample_history(session, kind.value, target, since=since, limit=limit)
        return sorted(out, key=lambda s: s.at, reverse=True)[:limit]

    samples = _store_call(ctx, all_kinds)
    if not samples:
        click.echo(f"No samples of {target} since {since.isoformat(timespec='seconds')}.")
        return
    rows = [
        (
            s.at.isoformat(timespec="milliseconds"),
            s.target_kind,
            "ok" if s.ok else "FAIL",
            f"{s.latency_ms:g}" if s.latency_ms is not None else "-",
            s.detail or "",
        )
        for s in samples
    ]
    click.echo(table(("AT", "SIGNAL", "RESULT", "MS", "DETAIL"), rows))


@health.command("transitions")
@click.option("--since", "since_text", default="1h", show_default=True, help="How far back (30m, 1h, 2d).")
@click.option("--app", default=None, help="Only this app's targets (namespace/name).")
@click.option("--region", default=None, help="Only this region.")
@click.pass_context
def transitions(ctx: click.Context, since_text: str, app: str | None, region: str | None) -> None:
    """State changes with their reasons, newest first."""
    from federation.store.health import list_transitions

    since = datetime.now(UTC) - parse_since(since_text)
    trs = _store_call(ctx, list_transitions, since=since, app=app, region=region, limit=1000)
    if not trs:
        click.echo(f"No transitions since {since.isoformat(timespec='seconds')}.")
        return
    rows = [
        (
            t.at.isoformat(timespec="milliseconds"),
            t.region,
            t.target_kind,
            t.target_id,
            f"{t.from_state} -> {t.to_state}",
            t.reason,
        )
        for t in trs
    ]
    click.echo(table(("AT", "REGION", "SIGNAL", "TARGET", "CHANGE", "REASON"), rows))


# --- fedctl sweep --once ----------------------------------------------------------------------------


async def _sweep_once(
    settings: Settings, kubeconfig: Path | None, context: str | None, app: str | None, record: bool
) -> str:
    from federation.clusters.kubeapi import DEPLOYMENTS, SECRETS, KubeApi, KubeError
    from federation.clusters.registry import KubeconfigError, kubeconfig_from_secret
    from federation.controller.cli import host_client
    from federation.controller.resources import FEDERATEDAPPS, MEMBERCLUSTERS
    from federation.health.sweeps import HealthConfig, HealthService, MemberInfo
    from federation.health.targets import StaticSource

    host = await host_client(kubeconfig, context)
    members: list[MemberInfo] = []
    clients: list[KubeApi] = []
    notes: list[str] = []
    db = None
    try:
        try:
            apps, _ = await host.list(FEDERATEDAPPS)
            mcs, _ = await host.list(MEMBERCLUSTERS)
        except KubeError as exc:
            raise click.ClickException(f"cannot read the host cluster: {exc}") from None
        by_cluster: dict[str, KubeApi] = {}
        for mc in mcs:
            name = mc["metadata"]["name"]
            spec = mc.get("spec") or {}
            ref = spec.get("kubeconfigSecretRef") or {}
            try:
                secret = await host.get(SECRETS, ref.get("name", ""), ref.get("namespace", ""))
                config = kubeconfig_from_secret(
                    secret,
                    namespace=ref.get("namespace", ""),
                    name=ref.get("name", ""),
                    key=ref.get("key") or "kubeconfig",
                )
                api = await KubeApi.from_kubeconfig_dict(config, name=f"{name}-sweep", timeout=5.0)
            except (KubeError, KubeconfigError) as exc:
                notes.append(f"member {name}: no client ({exc})")
                members.append(MemberInfo(name, spec.get("region", ""), None))
                continue
            clients.append(api)
            by_cluster[name] = api
            members.append(MemberInfo(name, spec.get("region", ""), api))
        deployments: dict[tuple[str, str], dict[str, Any] | None] = {}
        for a in apps:
            key = f"{a['metadata'].get('namespace', 'default')}/{a['metadata']['name']}"
            for r in (a.get("status") or {}).get("regions") or []:
                member_api = by_cluster.get(r.get("cluster") or "")
                if member_api is None:
                    continue
                try:
                    deployments[(r["cluster"], key)] = await member_api.get(
                        DEPLOYMENTS, a["metadata"]["name"], a["metadata"].get("namespace", "default")
                    )
                except KubeError:
                    deployments[(r["cluster"], key)] = None
        source = StaticSource.from_objects(apps, members, lambda c, k: deployments.get((c, k)))
        if record:
            from federation.runtime import open_store

            db = await open_store(settings)
        health_config = HealthConfig(
            probe_networks=tuple(settings.health_probe_networks),
            retention_days=settings.sample_retention_days,
        )
        svc = HealthService(source, db=db, config=health_config)
        if app and "/" not in app:
            app = f"default/{app}"
        reports = await svc.sweep_all(app)
    finally:
        for c in clients:
            await c.close()
        await host.close()
        if db is not None:
            await db.aclose()
    rows = []
    for rep in reports:
        for s in rep.seen:
            rows.append(
                (
                    s.region,
                    s.signal,
                    s.target,
                    "-" if s.ok is None else ("ok" if s.ok else "FAIL"),
                    f"{s.latency_ms:g}" if s.latency_ms is not None else "-",
                    s.detail,
                )
            )
    out = (
        table(("REGION", "SIGNAL", "TARGET", "RESULT", "MS", "DETAIL"), rows) if rows else "Nothing to probe."
    )
    summary = ", ".join(f"{r.signal} {len(r.seen)} in {r.seconds:.2f}s" for r in reports)
    return "\n".join([out, *notes, f"sweeps: {summary}"])


@click.command("sweep")
@click.option("--once", is_flag=True, required=True, help="Run every sweep once and print what it saw.")
@click.option("--app", default=None, help="Only this app's signals (namespace/name).")
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Host cluster kubeconfig.",
)
@click.option("--context", default=None, help="kubeconfig context.")
@click.option("--record/--no-record", default=False, show_default=True, help="Store the samples.")
@click.pass_context
def sweep(
    ctx: click.Context,
    once: bool,
    app: str | None,
    kubeconfig: Path | None,
    context: str | None,
    record: bool,
) -> None:
    """Probe every signal of every app and member once (what `fedctl run` does on its schedule)."""
    settings = _settings(ctx)
    click.echo(
        asyncio.run(
            _sweep_once(
                settings, kubeconfig or settings.kubeconfig, context or settings.kube_context, app, record
            )
        )
    )
