"""`fedctl dns`: inspect and exercise smart DNS (show, log, plan, query, serve, lines)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from federation.dns.lines import LineClassifier, LineError, default_catalogue
from federation.dns.plan import MANAGED_TYPES
from federation.dns.records import Record


def _settings(ctx: click.Context) -> Any:
    if ctx.obj is None:
        from federation.config import load_settings

        ctx.obj = load_settings()
    return ctx.obj


def _classifier(settings: Any) -> LineClassifier:
    try:
        return LineClassifier.default(overlay_file=getattr(settings, "dns_cidrs", None))
    except (LineError, OSError) as exc:
        raise click.ClickException(f"dns_cidrs: {exc}") from None


def _hostport(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint=option)
    return host.strip("[]") or "127.0.0.1", int(port)


@click.group()
def dns() -> None:
    """Smart DNS: published records per line, plans, queries, the embedded server."""


@dns.command("lines")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--check",
    "check_domain",
    metavar="DOMAIN",
    help="Compare the catalogue with alidns DescribeSupportLines for DOMAIN "
    "(needs dns_provider=alidns and its credentials).",
)
@click.pass_context
def lines_cmd(ctx: click.Context, as_json: bool, check_domain: str | None) -> None:
    """List the line catalogue: code, parent, vantage region, fallback chain."""
    cat = default_catalogue()
    if check_domain:
        missing, extra, parents = asyncio.run(_check_lines(_settings(ctx), check_domain))
        for code in missing:
            click.echo(f"only in our catalogue: {code}")
        for code in extra:
            click.echo(f"only in alidns: {code}")
        for code, ours, theirs in parents:
            click.echo(f"parent differs: {code}: ours {ours}, alidns {theirs}")
        if missing or extra or parents:
            raise click.ClickException("the line catalogue differs from alidns (see above)")
        click.echo(f"line catalogue in sync with alidns ({len(cat)} lines)")
        return
    if as_json:
        rows = [
            {
                "code": line.code,
                "parent": line.parent,
                "vantage": line.vantage,
                "chain": list(cat.chain(line.code)),
            }
            for line in cat
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'LINE':<24} {'PARENT':<24} {'VANTAGE':<16} CHAIN")
    for line in cat:
        chain = " > ".join(cat.chain(line.code))
        click.echo(f"{line.code:<24} {line.parent or '-':<24} {line.vantage or '-':<16} {chain}")


async def _check_lines(settings: Any, domain: str) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    provider = await _provider(settings)
    try:
        theirs = {x.code: x.father_code for x in await provider.api.describe_support_lines(domain)}
    except Exception as exc:
        raise click.ClickException(f"DescribeSupportLines: {exc}") from None
    finally:
        await provider.api.client.close()
    cat = default_catalogue()
    ours = {line.code: line.parent for line in cat}
    parents = [
        (code, str(ours[code]), str(theirs[code]))
        for code in sorted(set(ours) & set(theirs))
        if (ours[code] or None) != (theirs[code] or None) and code != "default"
    ]
    return sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours)), parents


@dns.command("show")
@click.argument("host", required=False)
@click.option("--client-ip", help="Also show what this client address (or CIDR, as ECS) would get.")
@click.option("--zone", help="Zone to read (default: every zone in the store).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(
    ctx: click.Context, host: str | None, client_ip: str | None, zone: str | None, as_json: bool
) -> None:
    """Published records per line (from the store), and a client's answer."""
    from federation.dns.lookup import records_by_name, resolve_client

    settings = _settings(ctx)
    records = _published(settings, zone)
    if host:
        names = sorted({r.name for r in records if r.rtype in MANAGED_TYPES})
        records = [r for r in records if r.name == host.lower().rstrip(".")]
        if not records:
            raise click.ClickException(_nothing_published(settings, host, names))
    by_name = records_by_name(records)
    client: dict[str, Any] | None = None
    if client_ip:
        try:
            client = resolve_client(_classifier(settings), records, client_ip, by_name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--client-ip") from None
    if as_json:
        click.echo(json.dumps({"records": by_name, "client": client}, indent=2))
        return
    if not by_name:
        click.echo("no published records")
    for name, per in by_name.items():
        click.echo(name)
        for line, values in sorted(per.items(), key=lambda kv: (kv[0] != "default", kv[0])):
            click.echo(f"  {line:<24} {', '.join(values)}")
    if client is not None:
        click.echo(
            f"client {client_ip}: line {client['line']} (scope /{client['scope']}), "
            f"chain {' > '.join(client['chain'])}"
        )
        for name, (line, values) in client["answers"].items():
            click.echo(f"  {name} -> {', '.join(values) or 'no answer'} (from line {line or '-'})")


def _classify(settings: Any, client: str) -> Any:
    from federation.dns.lookup import classify_client

    try:
        return classify_client(_classifier(settings), client)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--client-ip") from None


def _nothing_published(settings: Any, host: str, names: Sequence[str]) -> str:
    from federation.store.db import mask_url

    where = mask_url(str(settings.database_url))
    if not names:
        return (
            f"{host}: the store {where} holds no published records at all; point --database-url "
            "(or FEDCTL_DATABASE_URL) at the store `fedctl run` or the sandbox writes"
        )
    return f"{host}: no published records in {where} (it has: {', '.join(names[:5])})"


def _open_store(settings: Any) -> Any:
    """The store for reading: never created here; a missing one is "no store at PATH"."""
    from federation.store.db import DatabaseURLError, open_existing

    try:
        return open_existing(str(settings.database_url))
    except DatabaseURLError as exc:
        raise click.ClickException(str(exc)) from None


def _published(settings: Any, zone: str | None) -> list[Record]:
    from sqlalchemy import select

    from federation.store.db import read_error
    from federation.store.models import PublishedRecord

    db = _open_store(settings)
    try:
        with db.session() as session:
            stmt = select(PublishedRecord)
            if zone:
                stmt = stmt.where(PublishedRecord.zone == zone.lower().rstrip("."))
            return [Record(r.name, r.rtype, r.line, r.value, r.ttl, r.weight) for r in session.scalars(stmt)]
    except Exception as exc:
        raise click.ClickException(read_error(exc, db.display_url)) from None
    finally:
        db.dispose()


@dns.command("log")
@click.argument("host", required=False)
@click.option("--app", help="Only this app's changes (NAMESPACE/NAME).")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def log_cmd(ctx: click.Context, host: str | None, app: str | None, limit: int, as_json: bool) -> None:
    """The DNS change log (from the store), newest first: what changed and why."""
    from federation.store.db import read_error
    from federation.store.dnslog import list_dns_changes

    db = _open_store(_settings(ctx))
    try:
        name = host.lower().rstrip(".") if host else None
        rows = db.call(list_dns_changes, app=app, name=name, limit=limit)
    except Exception as exc:
        raise click.ClickException(read_error(exc, db.display_url)) from None
    finally:
        db.dispose()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "at": r.at.isoformat(),
                        "zone": r.zone,
                        "name": r.name,
                        "type": r.rtype,
                        "line": r.line,
                        "action": r.action,
                        "reason": r.reason,
                        "old": r.old,
                        "new": r.new,
                        "app": r.app,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("no DNS changes logged")
    for r in rows:
        what = r.new if r.action != "delete" else r.old
        click.echo(
            f"{r.at:%Y-%m-%d %H:%M:%S} {r.action:<6} {r.name} {r.rtype} {r.line:<20} {what or '-'}  "
            f"({r.reason})"
        )


@dns.command("plan")
@click.option(
    "-f",
    "--file",
    "app_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="FederatedApp manifest (YAML).",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION=ADDRESS[,unhealthy][,weight=N]",
    help="A region's endpoint and state (repeat).",
)
@click.option(
    "--against",
    type=click.Choice(["store", "provider"]),
    default="store",
    show_default=True,
    help="Compare with the records in the store, or read the configured provider (alidns).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plan_cmd(
    ctx: click.Context, app_file: Path, regions: tuple[str, ...], against: str, as_json: bool
) -> None:
    """What publishing this app would change now, and why (nothing is changed)."""
    from federation.api.federatedapp import FederatedApp
    from federation.dns.providers.embedded import EmbeddedProvider
    from federation.dns.publisher import AppIdentity, DnsPublisher

    settings = _settings(ctx)
    try:
        app = FederatedApp.model_validate(yaml.safe_load(app_file.read_text()))
    except Exception as exc:
        raise click.ClickException(f"{app_file}: {exc}") from None
    if app.spec.dns is None:
        raise click.ClickException(f"{app_file}: spec.dns is not set")
    endpoints = [_endpoint(r) for r in regions]
    ident = AppIdentity(app.metadata.namespace or "default", app.metadata.name or "")
    zone = app.spec.dns.zone

    async def run() -> tuple[Any, Any]:
        if against == "provider":
            provider: Any = await _provider(settings)
        else:
            provider = EmbeddedProvider(zones=[zone])
            from federation.dns.plan import Change, Plan

            current = _published(settings, zone)
            await provider.apply(Plan(zone, tuple(Change("create", r) for r in current)))
        publisher = DnsPublisher(provider, latency=_latency(settings))
        desired, plan, _current = await publisher.plan(
            ident, app.spec.dns, endpoints, failover_order=app.spec.dns_failover_order()
        )
        return desired, plan

    desired, plan = asyncio.run(run())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "answers": {line: list(v) for line, v in desired.answers.items()},
                    "lineReasons": dict(desired.line_reasons),
                    "serving": dict(desired.serving),
                    "reasons": dict(desired.reasons),
                    "failOpen": desired.fail_open,
                    "changes": [c.describe() for c in plan.changes],
                    "conflicts": list(plan.conflicts),
                },
                indent=2,
            )
        )
        return
    click.echo(f"{desired.hostname} ({app.spec.dns.policy}){' FAIL-OPEN' if desired.fail_open else ''}")
    for line, regs in desired.answers.items():
        click.echo(f"  {line:<24} {', '.join(regs):<40} {desired.line_reasons.get(line, '')}")
    for region, why in sorted(desired.reasons.items()):
        click.echo(f"  region {region}: {why}")
    for conflict in plan.conflicts:
        click.echo(f"conflict: {conflict}")
    if plan.empty:
        click.echo("no changes")
    for change in plan.changes:
        click.echo(change.describe())


def _endpoint(spec: str) -> Any:
    from federation.dns.steering import RegionEndpoint

    region, sep, rest = spec.partition("=")
    if not sep or not region:
        raise click.BadParameter(
            f"expected REGION=ADDRESS[,unhealthy][,weight=N], got {spec!r}", param_hint="--region"
        )
    parts = rest.split(",")
    healthy, weight = True, 1
    for p in parts[1:]:
        if p == "unhealthy":
            healthy = False
        elif p.startswith("weight=") and p[7:].isdigit():
            weight = int(p[7:])
        else:
            raise click.BadParameter(f"{spec!r}: unknown flag {p!r}", param_hint="--region")
    return RegionEndpoint(region, parts[0] or None, healthy, weight, "" if healthy else "marked unhealthy")


@dns.command("latency")
@click.option("--line", "line_code", help="A line code (default: the line of --client-ip, else 'default').")
@click.option("--client-ip", help="Show the latency of this client address's line.")
@click.option("--region", "regions", multiple=True, help="Only these regions (repeatable).")
@click.option(
    "--samples/--no-samples",
    default=True,
    show_default=True,
    help="Use the live samples of the last hour from the store, as the controller does.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def latency_cmd(
    ctx: click.Context,
    line_code: str | None,
    client_ip: str | None,
    regions: tuple[str, ...],
    samples: bool,
    as_json: bool,
) -> None:
    """The RTT from a line to each region, nearest first, and where each number comes from
    (sample, config, published, model)."""
    settings = _settings(ctx)
    matrix = _latency(settings)
    if line_code is None:
        line_code = _classify(settings, client_ip).line if client_ip else "default"
    if line_code not in matrix.catalogue:
        raise click.BadParameter(f"unknown line {line_code!r} (see fedctl dns lines)", param_hint="--line")
    if samples and settings.database_url:
        matrix = matrix.with_samples(_store_samples(settings, matrix))
    from federation.dns.lookup import known_regions, latency_rows

    vantage = matrix.catalogue.get(line_code).vantage
    rows = latency_rows(matrix, line_code, list(regions) or known_regions(matrix))
    if as_json:
        click.echo(json.dumps({"line": line_code, "vantage": vantage, "regions": rows}, indent=2))
        return
    click.echo(f"line {line_code} (vantage {vantage or '-'})")
    for r in rows:
        rtt = "unknown" if r["rtt_ms"] is None else f"{r['rtt_ms']:.1f} ms"
        click.echo(f"  {r['region']:<16} {rtt:>10}  {r['source']}")


def _store_samples(settings: Any, matrix: Any) -> dict[tuple[str, str], float]:
    """The medians of the last hour's live samples, as the publisher reads them; none if the store
    cannot be read (the table then shows configuration and the default table only)."""
    from datetime import UTC, datetime

    from federation.dns.lookup import sample_medians
    from federation.store.db import StoreNotFoundError, open_existing, read_error

    try:
        db = open_existing(str(settings.database_url))
    except StoreNotFoundError:
        return {}  # no store here yet: nothing sampled (and do not create an empty file)
    except Exception as exc:  # a bad URL is the same degraded mode as an unreachable store
        click.echo(f"(live samples not read: {str(exc).splitlines()[0]})", err=True)
        return {}
    try:
        with db.session() as session:
            return sample_medians(session, matrix.catalogue, datetime.now(UTC))
    except Exception as exc:
        click.echo(f"(live samples not read: {read_error(exc, db.display_url)})", err=True)
        return {}
    finally:
        db.dispose()


def _latency(settings: Any) -> Any:
    from federation.dns.latency import LatencyConfigError
    from federation.dns.runtime import latency_from_settings

    try:
        return latency_from_settings(settings)
    except (LatencyConfigError, OSError) as exc:
        raise click.ClickException(f"dns_latency: {exc}") from None


async def _provider(settings: Any) -> Any:
    if settings.dns_provider != "alidns":
        raise click.ClickException(
            "--against provider needs dns_provider=alidns (the embedded "
            "server's state lives in the controller)"
        )
    from federation.cloud.alibaba.alidns import AlidnsApi
    from federation.cloud.alibaba.client import AlibabaClient
    from federation.dns.providers.alidns import AlidnsProvider

    if not settings.alibaba_access_key_id or settings.alibaba_access_key_secret is None:
        raise click.ClickException("alibaba_access_key_id / alibaba_access_key_secret are not configured")
    secret = settings.alibaba_access_key_secret.get_secret_value()
    client = AlibabaClient(
        settings.alibaba_access_key_id, secret, "cn-hangzhou", endpoint=settings.alibaba_endpoint
    )
    return AlidnsProvider(AlidnsApi(client))


@dns.command("query")
@click.argument("host")
@click.option("--client-ip", required=True, help="Client address or CIDR sent as EDNS Client Subnet.")
@click.option("--type", "rtype", default="A", show_default=True, help="Query type.")
@click.option("--server", "server_addr", help="HOST:PORT of the DNS server (default: dns_listen).")
@click.option("--tcp", is_flag=True, help="Query over TCP.")
@click.pass_context
def query(
    ctx: click.Context, host: str, client_ip: str, rtype: str, server_addr: str | None, tcp: bool
) -> None:
    """Ask the (embedded) DNS server for HOST as a client in CLIENT_IP's subnet would."""
    import dns.asyncquery
    import dns.edns
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype

    settings = _settings(ctx)
    address, port = _hostport(server_addr or settings.dns_listen, "--server")
    # A bare address is sent as its /24 (/56 for IPv6), as resolvers do (RFC 7871 section 11.1).
    subnet = client_ip if "/" in client_ip else f"{client_ip}/{56 if ':' in client_ip else 24}"
    try:
        option = dns.edns.ECSOption.from_text(subnet)
    except (ValueError, dns.exception.DNSException) as exc:
        raise click.BadParameter(f"{client_ip!r}: {exc}", param_hint="--client-ip") from None
    q = dns.message.make_query(host, rtype, use_edns=0, options=[option])

    async def ask() -> dns.message.Message:
        if tcp:
            return await dns.asyncquery.tcp(q, address, port=port, timeout=3)
        return await dns.asyncquery.udp(q, address, port=port, timeout=3)

    try:
        msg = asyncio.run(ask())
    except (OSError, dns.exception.DNSException) as exc:
        raise click.ClickException(f"{address}:{port}: {exc or type(exc).__name__}") from None
    ecs = next((o for o in msg.options if isinstance(o, dns.edns.ECSOption)), None)
    scope = f" scope /{ecs.scopelen}" if ecs is not None else ""
    click.echo(f"status {dns.rcode.to_text(msg.rcode())}, client subnet {subnet}{scope}")
    for rrset in msg.answer:
        for rd in rrset:
            click.echo(f"{rrset.name} {rrset.ttl} {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}")
    if not msg.answer:
        click.echo("(no answer)")


@dns.command("serve")
@click.option("--listen", help="HOST:PORT (default: dns_listen; port 0 picks a free one).")
@click.option(
    "--records",
    "records_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="YAML/JSON: {zone: NAME, records: [{name, type, line, value, ttl, weight}]}.",
)
@click.option(
    "--ready-file", type=click.Path(dir_okay=False, path_type=Path), help="Write HOST:PORT here once serving."
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    help="Extra processes answering UDP on the same port (SO_REUSEPORT; default: dns_workers, auto: one "
    "per usable CPU but the server's own).",
)
@click.pass_context
def serve(
    ctx: click.Context, listen: str | None, records_file: Path, ready_file: Path | None, workers: int | None
) -> None:
    """Serve a zone from a file with the embedded server until interrupted."""
    from federation.dns.runtime import describe_workers, dns_workers_for
    from federation.dns.server import DnsServer
    from federation.dns.workers import WorkerPool

    settings = _settings(ctx)
    host, port = _hostport(listen or settings.dns_listen, "--listen")
    zone, records = load_records(records_file)
    server = DnsServer(_classifier(settings))
    n_workers, why = dns_workers_for(settings.dns_workers) if workers is None else (workers, "--workers")
    pool = WorkerPool(server, n_workers, cidrs=settings.dns_cidrs) if n_workers else None
    try:
        server.set_zone(zone, records)
    except ValueError as exc:
        raise click.ClickException(f"{records_file}: {exc}") from None

    async def run() -> None:
        # this process does nothing else: UDP gets a thread of its own (DnsServer.serve_udp)
        bound = await server.start(host, port, udp_thread=True)
        if pool is not None:
            await pool.start(*bound)
        if ready_file is not None:
            await asyncio.to_thread(ready_file.write_text, f"{bound[0]}:{bound[1]}\n")
        click.echo(
            f"serving {zone} ({len(records)} records) on {bound[0]}:{bound[1]} udp+tcp, "
            f"{describe_workers(n_workers)} ({why})",
            err=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if pool is not None:
            await pool.stop()
        await server.stop()

    asyncio.run(run())


def load_records(path: Path) -> tuple[str, list[Record]]:
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict) or "zone" not in doc:
        raise click.ClickException(f"{path}: expected a mapping with 'zone' and 'records'")
    out: list[Record] = []
    for i, item in enumerate(doc.get("records") or []):
        try:
            out.append(
                Record(
                    str(item["name"]).lower().rstrip("."),
                    str(item.get("type", "A")).upper(),
                    str(item.get("line", "default")),
                    str(item["value"]),
                    int(item.get("ttl", 60)),
                    int(item["weight"]) if item.get("weight") is not None else None,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise click.ClickException(f"{path}: records[{i}]: {exc}") from None
    return str(doc["zone"]).lower().rstrip("."), out


if __name__ == "__main__":  # pragma: no cover
    dns(sys.argv[1:])
