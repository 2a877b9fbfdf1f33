"""`fedctl network check` (the matrix of region pairs in use: attached, bandwidth limit, RTT) and
`fedctl network attach MEMBER` (the only network write, and only when an operator asks)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from federation.clusters import host as clusters_host
from federation.clusters.kubeapi import KubeError
from federation.clusters.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.config import Settings

KUBECONFIG = click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Host cluster kubeconfig.",
)
CONTEXT = click.option("--context", default=None, help="kubeconfig context.")


async def _fleet(settings: Settings, kubeconfig: Path | None, context: str | None) -> tuple[Any, Any]:
    try:
        host = await clusters_host.host_client(
            kubeconfig or settings.kubeconfig, context or settings.kube_context
        )
    except clusters_host.HostConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        members, _ = await host.list(MEMBERCLUSTERS)
        apps, _ = await host.list(FEDERATEDAPPS, None)
    except KubeError as exc:
        raise click.ClickException(f"cannot read the fleet from the host cluster: {exc}") from None
    finally:
        await host.close()
    return members, apps


def _cen_api(settings: Settings) -> Any:
    from federation.cloud.alibaba.cen import CenApi
    from federation.cloud.alibaba.client import AlibabaClient

    try:
        return CenApi(AlibabaClient.from_settings(settings))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def render_matrix(rows: list[Any], rtt: Any) -> str:
    from federation.network.reachability import READY

    def fmt_attach(reason: str) -> str:
        return {READY: "yes", "Attaching": "attaching", "NotConfigured": "-"}.get(reason, "no")

    header = ("REGION A", "REGION B", "ATTACHED A", "ATTACHED B", "BANDWIDTH", "RTT", "OK", "WHY")
    table = [header]
    for r in rows:
        ms, source = rtt(r.region_a, r.region_b)
        table.append(
            (
                r.region_a,
                r.region_b,
                fmt_attach(r.attached_a),
                fmt_attach(r.attached_b),
                "-" if r.limit_mbps is None else f"{r.limit_mbps} Mbps",
                "-" if ms is None else f"{ms:.0f} ms ({source})",
                {True: "yes", False: "NO", None: "?"}[r.ok],
                "" if r.ok else r.message,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return "\n".join(
        ("  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]).rstrip()
        for row in table
    )


async def _check(settings: Settings, kubeconfig: Path | None, context: str | None) -> tuple[str, bool]:
    from federation.dns.runtime import latency_from_settings
    from federation.network import fleet, reachability
    from federation.network.observe import observe

    member_objs, app_objs = await _fleet(settings, kubeconfig, context)
    members = fleet.members_from_objects(member_objs)
    in_use = reachability.pairs_in_use(fleet.app_regions(app_objs).values())
    configured = [m for m in members if m.configured]
    cens = {}
    if configured:
        api = _cen_api(settings)
        try:
            cens = await observe(api, configured)
        finally:
            await api.client.close()
    rows = reachability.matrix(members, cens, in_use)
    verdicts = reachability.member_verdicts(members, cens, in_use)
    matrix = latency_from_settings(settings)

    def rtt(a: str, b: str) -> tuple[float | None, str]:
        return matrix.region_rtt(a, b), matrix.region_source(a, b)

    lines = [render_matrix(rows, rtt) if rows else "no pair of regions is used together by any app", ""]
    for m in sorted(members, key=lambda m: m.name):
        v = verdicts[m.name]
        state = {True: "NetworkReady", False: "NOT ready", None: "unchecked"}[v.ready]
        lines.append(f"{m.name} ({m.region}): {state}: {v.reason}: {v.message}")
    ok = all(v.ready is not False for v in verdicts.values()) and all(r.ok is not False for r in rows)
    return "\n".join(lines), ok


@click.group("network")
def network() -> None:
    """CEN between the regions: attachment of each member's VPC and inter-region bandwidth."""


@network.command("check")
@KUBECONFIG
@CONTEXT
@click.pass_obj
def check_cmd(settings: Settings, kubeconfig: Path | None, context: str | None) -> None:
    """Print every pair of regions some app uses together: both VPCs attached to the CEN, the
    inter-region bandwidth limit, the RTT and where it comes from. Read-only. Exit 1 if a pair cannot
    carry traffic."""
    text, ok = asyncio.run(_check(settings, kubeconfig, context))
    click.echo(text)
    if not ok:
        raise SystemExit(1)


async def _attach(settings: Settings, name: str, kubeconfig: Path | None, context: str | None) -> str:
    from federation.cloud.alibaba.errors import AlibabaError
    from federation.network import fleet
    from federation.network.observe import attach

    member_objs, _ = await _fleet(settings, kubeconfig, context)
    found = [m for m in fleet.members_from_objects(member_objs) if m.name == name]
    if not found:
        raise click.ClickException(f"MemberCluster {name} not found")
    api = _cen_api(settings)
    try:
        return await attach(api, found[0])
    except (ValueError, LookupError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    except AlibabaError as exc:
        raise click.ClickException(f"AttachCenChildInstance failed: {exc.code}: {exc.message}") from None
    finally:
        await api.client.close()


@network.command("attach")
@click.argument("member")
@KUBECONFIG
@CONTEXT
@click.pass_obj
def attach_cmd(settings: Settings, member: str, kubeconfig: Path | None, context: str | None) -> None:
    """Attach MEMBER's VPC (spec.vpcId) to its CEN (spec.cenId), unless it already is. The controller
    never changes the network on its own; this is the operator's step."""
    click.echo(asyncio.run(_attach(settings, member, kubeconfig, context)))
