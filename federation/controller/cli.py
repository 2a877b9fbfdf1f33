"""`fedctl run` (the controller process) and `fedctl status` (apps × regions from the host's status).

`fedctl run` builds the process with :mod:`federation.runtime` (store, DNS side, controller) and runs
it; SIGTERM/SIGINT stop the controller (it releases its Lease), then DNS and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from federation import gctune, runtime
from federation.clusters import host as clusters_host
from federation.clusters.kubeapi import KubeApi, KubeError
from federation.config import Settings
from federation.controller.manager import ControllerConfig
from federation.controller.resources import FEDERATEDAPPS
from federation.controller.shutdown import stop_task

log = logging.getLogger(__name__)


async def host_client(kubeconfig: Path | None, context: str | None, name: str = "host") -> KubeApi:
    """:func:`federation.clusters.host.host_client` with its error as a usage error."""
    try:
        return await clusters_host.host_client(kubeconfig, context, name)
    except clusters_host.HostConfigError as exc:
        raise click.UsageError(str(exc)) from None


async def _run(
    settings: Settings,
    kubeconfig: Path | None,
    context: str | None,
    config: ControllerConfig,
    with_dns: bool,
    with_slb: bool | None = None,
    with_web: bool = True,
    sweeps: bool = True,
) -> None:
    try:
        rt = await runtime.build(
            settings,
            config,
            kubeconfig=kubeconfig,
            context=context,
            with_dns=with_dns,
            with_slb=with_slb,
            web=with_web,
            sweeps=sweeps,
        )
    except runtime.SetupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        task = asyncio.create_task(rt.run(), name="controller")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        stopping = asyncio.create_task(stop.wait(), name="signal")
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            try:
                task.result()  # the controller only returns by failing: report it
            except OSError as exc:  # e.g. web_listen's port is taken
                raise click.ClickException(str(exc)) from None
        else:
            await stop_task(task, what="controller")
    finally:
        await rt.close()


@click.command("run")
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Host cluster kubeconfig (default: FEDCTL_KUBECONFIG, in-cluster config, ~/.kube/config).",
)
@click.option("--context", default=None, help="kubeconfig context (default: the current one).")
@click.option("--namespace", default=None, help="Namespace of the leader-election Lease (default: settings).")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Apps reconciled concurrently.",
)
@click.option(
    "--resync",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="Seconds between full resyncs of every app.",
)
@click.option(
    "--probe-interval",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds between probes of each member cluster.",
)
@click.option(
    "--lease-name", default="fedctl-controller", show_default=True, help="Leader-election Lease name."
)
@click.option(
    "--lease-duration",
    type=click.FloatRange(1),
    default=15.0,
    show_default=True,
    help="Seconds a standby waits for a silent leader before taking over.",
)
@click.option(
    "--shards",
    type=click.IntRange(0, 1024),
    default=None,
    help="Apps split into this many shards (Leases) shared by the replicas; 0: one leader does "
    "everything. Default: the shards setting (16).",
)
@click.option(
    "--identity",
    default=None,
    help="This replica's identity in the Lease, unique per replica (default: host-pid).",
)
@click.option(
    "--dns/--no-dns",
    "with_dns",
    default=True,
    show_default=True,
    help="Publish each app's DNS through dns_provider (embedded: served on dns_listen; alidns), "
    "logging every change to the store (database_url).",
)
@click.option(
    "--slb/--no-slb",
    "with_slb",
    default=None,
    help="Run the regional SLB step (one SLB per app and region, Managed mode) through the SLB API "
    "with the alibaba_* settings. Default: on when alibaba_access_key_id is set.",
)
@click.option(
    "--web/--no-web",
    "with_web",
    default=True,
    show_default=True,
    help="Serve the dashboard, JSON API, /metrics, /healthz and /readyz on web_listen (every replica).",
)
@click.option(
    "--sweeps/--no-sweeps",
    default=True,
    show_default=True,
    help="Run the scheduled health sweeps (member API, nodes, rollouts, SLB backends, VIP probes) "
    "on the leader, with samples and transitions in the store.",
)
@click.option(
    "--service-type",
    type=click.Choice(["NodePort", "LoadBalancer"]),
    default=None,
    help="Type of the Service of Managed-mode apps when the SLB step does not run. Default: "
    "LoadBalancer with --dns (its load-balancer address is the region's address in DNS), NodePort "
    "with --no-dns. With the SLB step, Managed apps get NodePort and CloudController apps LoadBalancer.",
)
@click.option(
    "--drain-grace",
    type=click.FloatRange(0),
    default=None,
    help="Seconds a leaving region keeps its replicas after the DNS provider confirmed it no longer "
    "answers with it (resolvers may still hold the old answer). Default: each app's DNS TTL.",
)
@click.pass_obj
def run(
    settings: Settings,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    workers: int,
    resync: float,
    probe_interval: float,
    lease_name: str,
    lease_duration: float,
    shards: int | None,
    identity: str | None,
    with_dns: bool,
    with_slb: bool | None,
    with_web: bool,
    sweeps: bool,
    service_type: str | None,
    drain_grace: float | None,
) -> None:
    """Run the controller against the host cluster. Replicas share the apps by shards (the ``shards``
    setting); one elected replica also does the cluster-level work."""
    slb = bool(settings.alibaba_access_key_id) if with_slb is None else with_slb
    if service_type is None:
        service_type = "LoadBalancer" if with_dns and not slb else "NodePort"
    elif with_dns and not slb and service_type != "LoadBalancer":
        log.warning(
            "--service-type %s without the SLB step: Managed-mode apps get no region address for DNS "
            "(pass --slb with an Alibaba AccessKey, or use loadBalancer.mode CloudController)",
            service_type,
        )
    config = ControllerConfig(
        namespace=namespace or settings.namespace,
        lease_name=lease_name,
        lease_duration=lease_duration,
        renew_deadline=lease_duration * 2 / 3,
        retry_period=min(2.0, lease_duration / 5),
        workers=workers,
        resync=resync,
        probe_interval=probe_interval,
        service_type=service_type,
        kube_qps=settings.kube_qps,
        kube_burst=settings.kube_burst,
        drain_grace=drain_grace,
        shards=settings.shards if shards is None else shards,
    )
    if settings.log_writes:
        logging.getLogger("federation.writes").setLevel(logging.INFO)
    if identity:
        config.identity = identity
    gctune.tune(settings.gc_threshold)
    asyncio.run(
        _run(
            settings,
            kubeconfig or settings.kubeconfig,
            context or settings.kube_context,
            config,
            with_dns,
            with_slb,
            with_web,
            sweeps,
        )
    )


# --- status --------------------------------------------------------------------------------------


def status_table(apps: list[dict[str, Any]]) -> str:
    """A readable table of apps × regions from the FederatedApps' status (pure): replicas, health, the
    region's address, its SLB and the SLB's view of its backends (normal/checked, ``!`` when some are
    abnormal), and whether DNS answers with it."""
    header = (
        "APP",
        "REGION",
        "CLUSTER",
        "DESIRED",
        "READY",
        "REACHABLE",
        "HEALTH",
        "ADDRESS",
        "SLB",
        "BACKENDS",
        "DNS",
        "PHASE",
        "NOTE",
    )
    rows: list[tuple[str, ...]] = []
    summaries: list[str] = []
    for app in sorted(apps, key=lambda a: (a["metadata"].get("namespace", ""), a["metadata"]["name"])):
        key = f"{app['metadata'].get('namespace', 'default')}/{app['metadata']['name']}"
        st = app.get("status") or {}
        conds = {cd.get("type"): cd for cd in st.get("conditions") or []}
        ready = conds.get("Ready")
        state = (
            "Ready"
            if ready and ready.get("status") == "True"
            else (f"NotReady ({ready.get('reason')})" if ready else "Pending")
        )
        summary = f"{key}: {state}, {st.get('readyReplicas', 0)}/{st.get('replicas', '?')} replicas ready"
        degraded = conds.get("Degraded")
        if degraded and degraded.get("status") == "True":
            summary += f"; degraded: {degraded.get('message')}"
        summaries.append(summary)
        regions = st.get("regions") or []
        if not regions:
            rows.append((key, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "not reconciled yet"))
        for r in regions:
            reach, serving = r.get("reachable"), r.get("servingDNS")
            why = r.get("healthReason")
            note = (
                r.get("excludedReason")
                or (f"health: {why}" if why else "")
                or (f"dns: {r.get('dnsReason')}" if serving is False and r.get("dnsReason") else "")
            )
            if r.get("phase") in ("Draining", "Joining") and r.get("phaseReason"):
                note = f"{note}; {r['phaseReason']}" if note else str(r["phaseReason"])
            rows.append(
                (
                    key,
                    r.get("region", "?"),
                    r.get("cluster") or "-",
                    str(r.get("desiredReplicas", "-")),
                    str(r.get("readyReplicas", "-")),
                    "-" if reach is None else ("yes" if reach else "NO"),
                    r.get("health") or "-",
                    r.get("address") or "-",
                    r.get("loadBalancerId") or "-",
                    _backends(r.get("backendHealth")),
                    "-" if serving is None else ("yes" if serving else "no"),
                    _phase(r),
                    note,
                )
            )
    if not rows:
        return "No FederatedApps found."
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join([*lines, "", *summaries])


def _backends(health: dict[str, Any] | None) -> str:
    """``normal/checked`` (backend, port) pairs of the SLB's health check, ``!`` when some are abnormal."""
    if not health:
        return "-"
    normal, abnormal = int(health.get("normal") or 0), int(health.get("abnormal") or 0)
    return f"{normal}/{normal + abnormal}" + ("!" if abnormal else "")


async def _status(
    kubeconfig: Path | None, context: str | None, app: str | None, namespace: str | None
) -> str:
    host = await host_client(kubeconfig, context)
    try:
        if app:
            obj = await host.get(FEDERATEDAPPS, app, namespace or "default")
            if obj is None:
                raise click.ClickException(f"FederatedApp {namespace or 'default'}/{app} not found")
            items = [obj]
        else:
            items, _ = await host.list(FEDERATEDAPPS, namespace)
    except KubeError as exc:
        raise click.ClickException(f"cannot read FederatedApps from the host cluster: {exc}") from None
    finally:
        await host.close()
    return status_table(items)


def shard_table(leases: list[dict[str, Any]], leader: dict[str, Any] | None, now: datetime) -> str:
    """Who holds each shard (pure): the shard Leases and presence Leases of one controller's replicas,
    the leader Lease, and ``now`` (UTC) to say how long ago each was renewed."""
    from federation.controller.sharding import LABEL_ROLE, LABEL_SHARD, ROLE_REPLICA, ROLE_SHARD

    def spec(lease: dict[str, Any] | None) -> dict[str, Any]:
        return dict((lease or {}).get("spec") or {})

    def age(sp: dict[str, Any]) -> tuple[str, bool]:
        """(seconds since the renewal, still within its duration) by the wall clock: a display only."""
        stamp = sp.get("renewTime")
        if not stamp:
            return "-", False
        try:
            at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            return "-", False
        secs = (now - at).total_seconds()
        return f"{secs:.1f}s", secs <= float(sp.get("leaseDurationSeconds") or 0)

    shards: list[tuple[int, str, str, str, str]] = []
    replicas: list[tuple[str, str, bool]] = []
    for lease in leases:
        labels = (lease.get("metadata") or {}).get("labels") or {}
        sp = spec(lease)
        holder = str(sp.get("holderIdentity") or "")
        ago, fresh = age(sp)
        if labels.get(LABEL_ROLE) == ROLE_SHARD and str(labels.get(LABEL_SHARD, "")).isdigit():
            state = "free" if not holder else ("held" if fresh else "expired")
            renewed = str(sp.get("renewTime") or "-")
            shards.append((int(labels[LABEL_SHARD]), holder or "-", renewed, ago, state))
        elif labels.get(LABEL_ROLE) == ROLE_REPLICA and holder:
            replicas.append((holder, ago, fresh))
    if not shards:
        return "No shard Leases found (the controller runs unsharded, or has not started)."
    header = ("SHARD", "HOLDER", "RENEWED", "AGO", "STATE")
    rows = [header, *[(str(a), b, c_, d, e) for a, b, c_, d, e in sorted(shards)]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("")
    held = [s for s in shards if s[4] == "held"]
    for name, ago, fresh in sorted(replicas):
        n = sum(1 for s in held if s[1] == name)
        lines.append(f"replica {name}: {n} shard(s), seen {ago} ago{'' if fresh else ' (silent: gone?)'}")
    lsp = spec(leader)
    lines.append(
        f"leader (cluster-level work): {lsp.get('holderIdentity') or '-'}; "
        f"{len(held)}/{len(shards)} shards held"
    )
    return "\n".join(lines)


async def _shards(kubeconfig: Path | None, context: str | None, namespace: str, lease_name: str) -> str:
    from federation.clusters.kubeapi import LEASES
    from federation.controller.sharding import LABEL_SET

    host = await host_client(kubeconfig, context)
    try:
        leases, _ = await host.list(LEASES, namespace, label_selector=f"{LABEL_SET}={lease_name}")
        leader = await host.get(LEASES, lease_name, namespace)
    except KubeError as exc:
        raise click.ClickException(f"cannot read the Leases in {namespace}: {exc}") from None
    finally:
        await host.close()
    return shard_table(leases, leader, datetime.now(UTC))


@click.command("status")
@click.argument("app", required=False)
@click.option("-n", "--namespace", default=None, help="Namespace (default: all; 'default' with APP).")
@click.option(
    "--shards",
    "show_shards",
    is_flag=True,
    help="Show which replica holds each shard (and when it renewed it) instead of the apps.",
)
@click.option(
    "--lease-name", default="fedctl-controller", show_default=True, help="The controller's Lease name."
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Host cluster kubeconfig.",
)
@click.option("--context", default=None, help="kubeconfig context.")
@click.pass_obj
def status(
    settings: Settings,
    app: str | None,
    namespace: str | None,
    show_shards: bool,
    lease_name: str,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Show apps × regions: desired and ready replicas, reachability, why a region is excluded
    (with --shards: which controller replica holds each shard)."""
    if show_shards:
        click.echo(
            asyncio.run(
                _shards(
                    kubeconfig or settings.kubeconfig,
                    context or settings.kube_context,
                    settings.namespace,
                    lease_name,
                )
            )
        )
        return
    click.echo(
        asyncio.run(
            _status(kubeconfig or settings.kubeconfig, context or settings.kube_context, app, namespace)
        )
    )


def _phase(region: dict[str, Any]) -> str:
    """Serving, Joining, "Draining until 12:00:05" (UTC), Drained; "-" before the first reconcile."""
    phase = region.get("phase")
    if not phase:
        return "-"
    until = region.get("drainingUntil")
    if phase == "Draining" and until:
        return f"Draining until {str(until)[11:19]}"
    return str(phase)
