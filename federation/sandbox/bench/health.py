"""`fedctl bench health` (VIP probe sweeps at scale) and `fedctl bench failover` (fault to DNS and back).

``bench health``: N VIP targets (apps × 3 regions) whose addresses are loopback listeners (spread over
``--listeners`` addresses on 127.0.1.0/24, served by a child process), TCP (or HTTP) sweeps of all of
them through the same :class:`~federation.health.sweeps.HealthService` the controller runs, each
sweep's results written to the store (a temporary SQLite file, or ``--store-url``) in one transaction
and timed with it: the first sweep (every target learnt), steady sweeps, and one with a tenth of the
listeners closed (the confirmation re-probes of the refused ones included); prints those times, the
probes per second, the prober's peak memory and the load average.

``bench failover``: the sandbox in-process with the health sweeps at their defaults; each fault is
injected ``--rounds`` times in cn-hangzhou and the time is measured, by asking the DNS server as a
client of each line would, from the fault until the region's address is in no line's answer, and from
clearing it until the address is back. Faults: the member API down, the app's Deployment failing, the
SLB backends abnormal (the SLB data plane's nodes NotReady), the VIP refusing connections (the emulated
SLB listener stopped). Prints median and maximum per fault; asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from federation.health.sweeps import AppInfo, AppRegionInfo, HealthConfig, HealthService, VipSpec
from federation.health.targets import StaticSource

REGIONS = ("cn-hangzhou", "cn-beijing", "eu-central-1")


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _more_files() -> None:
    """Thousands of sockets at once: the soft descriptor limit up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard)
            )


class _Answer(asyncio.Protocol):
    """The HTTP listener's side: answer 200 to the first request line."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.transport is not None and b"\r\n" in data:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()


def _tcp_listeners(addresses: list[str], port: int, conn: Any) -> None:
    """TCP: a bare accept-and-close loop (the listeners stand in for remote VIPs; the less CPU they
    take from the two cores, the more the numbers are the prober's)."""
    import selectors
    import socket

    sel = selectors.DefaultSelector()
    socks = []
    for a in addresses:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a, port))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    sel.register(conn, selectors.EVENT_READ, "control")
    conn.send("ready")
    while True:
        for key, _ in sel.select():
            if key.data == "control":
                msg = conn.recv()
                if msg == "stop":
                    return
                n = int(str(msg).split()[1])
                for s in socks[:n]:
                    sel.unregister(s)
                    s.close()
                conn.send("closed")
                continue
            listening: Any = key.fileobj
            while True:
                try:
                    c, _ = listening.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # out of descriptors: the kernel keeps the rest queued
                    break
                c.close()


def _listener_process(addresses: list[str], port: int, http: bool, conn: Any) -> None:
    """The listeners in a process of their own, so the sweep's numbers are the prober's: reports
    "ready", then on "close N" closes the first N listeners, on "stop" ends."""
    _more_files()
    if not http:
        _tcp_listeners(addresses, port, conn)
        return

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(_Answer, a, port, backlog=4096, reuse_address=True) for a in addresses
        ]
        conn.send("ready")
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg == "stop":
                break
            n = int(str(msg).split()[1])
            for server in servers[:n]:
                server.close()
                await server.wait_closed()
            conn.send("closed")
        for server in servers:
            server.close()

    asyncio.run(main())


async def _timed(svc: HealthService) -> tuple[float, Any]:
    t0 = time.perf_counter()
    report = await svc.sweep_vips()
    return time.perf_counter() - t0, report


async def _health(
    targets: int, listeners: int, port: int, http: bool, concurrency: int, store_url: str | None, steady: int
) -> dict[str, Any]:
    import multiprocessing

    from federation.store import migrate
    from federation.store.db import Database, mask_url

    _more_files()
    addresses = [f"127.0.1.{i + 1}" for i in range(listeners)]
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=_listener_process, args=(addresses, port, http, theirs), daemon=True
    )
    child.start()
    if not await asyncio.to_thread(ours.poll, 30):
        child.kill()
        raise RuntimeError("the listener process did not start")
    ours.recv()
    apps = []
    n_apps = (targets + len(REGIONS) - 1) // len(REGIONS)
    vip = VipSpec(kind="HTTP" if http else "TCP", port=port, timeout=2.0)
    k = 0
    for i in range(n_apps):
        regions = []
        for r in REGIONS:
            if k >= targets:
                break
            address = addresses[k % len(addresses)]
            regions.append(AppRegionInfo(r, cluster=r, address=address, desired=1, ready=1))
            k += 1
        apps.append(AppInfo(f"{BENCH_NS}/app-{i}", vip, tuple(regions)))
    if store_url is None:
        tmp = Path(tempfile.mkdtemp(prefix="fedctl-bench-health-"))
        store_url = f"sqlite:///{tmp / 'health.db'}"
    await asyncio.to_thread(migrate.upgrade, store_url)
    db = Database(store_url)
    await db.run(_forget_bench)
    config = HealthConfig(probe_networks=("127.0.0.0/8",), max_concurrency=concurrency)
    svc = HealthService(StaticSource([], apps), db=db, config=config)
    out: dict[str, Any] = {
        "targets": k,
        "listeners": listeners,
        "probe": vip.kind,
        "concurrency": concurrency,
        "store": mask_url(db.url),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        # the first sweep learns every target: unknown -> healthy takes successThreshold (2) probes,
        # the second within the same sweep, and writes every state and transition
        secs, first = await _timed(svc)
        out["first_sweep_s"] = round(secs, 3)
        out["first_probe_s"] = round(first.seconds, 3)
        out["first_transitions"] = first.transitions
        # a steady sweep: one probe per target, the samples written, the (few) refreshed states
        runs = []
        for _ in range(steady):
            secs, rep = await _timed(svc)
            runs.append((secs, rep))
        secs_list = sorted(x for x, _ in runs)
        med = statistics.median(secs_list)
        out["steady_sweep_s"] = round(med, 3)
        out["steady_sweep_max_s"] = round(secs_list[-1], 3)
        out["steady_probe_s"] = round(statistics.median(r.seconds for _, r in runs), 3)
        out["ok"] = sum(1 for s in runs[-1][1].seen if s.ok)
        out["probes_per_s"] = round(k / max(med, 1e-9))
        # as the controller runs them: one job per app, here all firing on the same tick (the worst
        # case; the scheduler's jitter spreads them), their store writes shared
        writes = svc.writes
        t0 = time.perf_counter()
        await asyncio.gather(*(svc.sweep_vips(a.key) for a in apps))
        out["per_app_s"] = round(time.perf_counter() - t0, 3)
        out["per_app_sweeps"] = len(apps)
        out["per_app_writes"] = svc.writes - writes
        # a tenth of the addresses refuse: their targets are confirmed unhealthy within the sweep
        ours.send(f"close {max(1, listeners // 10)}")
        await asyncio.to_thread(ours.recv)
        secs, second = await _timed(svc)
        out["sweep_with_failures_s"] = round(secs, 3)
        out["refused"] = sum(1 for s in second.seen if s.ok is False)
        out["transitions"] = second.transitions
        out["peak_rss_mib"] = _peak_mib()  # the prober's process (the listeners run in a child)
        out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        ours.send("stop")
        await asyncio.to_thread(child.join, 10)
        with contextlib.suppress(Exception):
            await db.run(_forget_bench)
        await db.aclose()
    return out


BENCH_NS = "fedctl-bench"


def _forget_bench(session: Any) -> None:
    """The rows of an earlier or this run (its apps are all in the bench namespace), so a scratch
    PostgreSQL database is left as found."""
    from sqlalchemy import delete

    from federation.store.models import HealthSample, HealthState, HealthTransition

    for model in (HealthSample, HealthState, HealthTransition):
        session.execute(delete(model).where(model.app.like(f"{BENCH_NS}/%")))


@click.command("health")
@click.option("--targets", type=click.IntRange(1, 200_000), default=10_000, show_default=True)
@click.option("--listeners", type=click.IntRange(1, 254), default=100, show_default=True)
@click.option("--port", type=click.IntRange(1024, 65535), default=18080, show_default=True)
@click.option("--http", is_flag=True, help="HTTP GET probes instead of TCP connects.")
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option(
    "--store-url",
    default=None,
    help="Write to this store (e.g. a scratch postgresql+psycopg://... database; the bench's rows are "
    "deleted afterwards) instead of a temporary SQLite file.",
)
@click.option(
    "--steady", type=click.IntRange(1, 20), default=3, show_default=True, help="Steady sweeps timed."
)
@click.option("--json", "as_json", is_flag=True)
def bench_health(
    targets: int,
    listeners: int,
    port: int,
    http: bool,
    concurrency: int,
    store_url: str | None,
    steady: int,
    as_json: bool,
) -> None:
    """VIP sweeps of N loopback targets, store writes included: sweep time, probes per second, peak memory."""
    logging.getLogger("federation").setLevel(logging.WARNING)
    out = asyncio.run(_health(targets, listeners, port, http, concurrency, store_url, steady))
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(
        f"VIP sweep: {out['targets']} {out['probe']} probes against {out['listeners']} loopback listeners "
        f"(at most {out['concurrency']} at once), store {out['store']}, {out['cpus']} CPUs, "
        f"load average {out['load_before'][0]} before, {out['load_after'][0]} after"
    )
    click.echo(
        f"  first sweep (every target learnt: 2 probes each, {out['first_transitions']} transitions "
        f"and states written): {out['first_sweep_s']} s ({out['first_probe_s']} s probing)"
    )
    click.echo(
        f"  steady sweep (1 probe each, samples written): median {out['steady_sweep_s']} s, "
        f"max {out['steady_sweep_max_s']} s ({out['steady_probe_s']} s probing, {out['probes_per_s']}/s), "
        f"{out['ok']} ok"
    )
    click.echo(
        f"  as {out['per_app_sweeps']} per-app sweeps (the controller's jobs) fired at once: "
        f"{out['per_app_s']} s, {out['per_app_writes']} store transactions"
    )
    click.echo(
        f"  a tenth refusing: {out['sweep_with_failures_s']} s with confirmation re-probes, "
        f"{out['refused']} refused, {out['transitions']} transitions"
    )
    click.echo(f"  peak memory (RSS): {out['peak_rss_mib']} MiB")


# --- failover ---------------------------------------------------------------------------------------

FAULTS = ("member-down", "deployment-fail", "slb-abnormal", "vip-refusing")
REGION = "cn-hangzhou"


async def _answers(address: tuple[str, int], subnets: list[str | None], hostname: str) -> list[set[str]]:
    import dns.asyncquery
    import dns.edns
    import dns.message

    out: list[set[str]] = []
    for subnet in subnets:
        options = [dns.edns.ECSOption.from_text(subnet)] if subnet else []
        q = dns.message.make_query(hostname, "A", use_edns=0, options=options)
        try:
            msg = await dns.asyncquery.udp(q, address[0], port=address[1], timeout=1.0)
        except Exception:
            out.append(set())
            continue
        out.append({rd.to_text() for rrset in msg.answer for rd in rrset})
    return out


class _Faults:
    """Each fault's inject and clear, on the running sandbox (cn-hangzhou, the app default/web)."""

    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self._vip: Any = None

    def _lb(self) -> Any:
        emu = self.sb.emulator
        for lb in emu.slb.lbs.values():
            if lb.region == REGION:
                return lb
        raise RuntimeError(f"no SLB in {REGION}")

    async def inject(self, fault: str) -> None:
        cluster = self.sb.sim.cluster(REGION)
        if fault == "member-down":
            cluster.faults.set("down")
        elif fault == "deployment-fail":
            cluster.fail_deployment("default", "web", True)
        elif fault == "slb-abnormal":
            lb = self._lb()
            for sid in lb.backends:
                self.sb.emulator.set_backend_health(lb.lb_id, sid, "abnormal")
        elif fault == "vip-refusing":
            dp = self.sb.emulator.data_plane
            lb = self._lb()
            self._vip = next(s for k, s in dp._served.items() if k[0] == lb.lb_id)
            self._vip.server.close()  # the listening socket goes; the data plane still lists it

    async def clear(self, fault: str) -> None:
        cluster = self.sb.sim.cluster(REGION)
        if fault == "member-down":
            cluster.faults.clear()
        elif fault == "deployment-fail":
            cluster.fail_deployment("default", "web", False)
        elif fault == "slb-abnormal":
            lb = self._lb()
            for sid in lb.backends:
                self.sb.emulator.slb.health.pop((lb.lb_id, sid), None)
        elif fault == "vip-refusing":
            dp = self.sb.emulator.data_plane
            key = next(k for k, s in dp._served.items() if s is self._vip)
            await dp._close(dp._served.pop(key))
            await dp.sync()  # listening again on the same address and port


class _Flaky(asyncio.Protocol):
    """Stands in for a region's VIP: answers HTTP 500 to ``rate`` of the requests, 200 to the rest."""

    def __init__(self, rate: float, rng: Any) -> None:
        self.rate, self.rng = rate, rng
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.transport is None or b"\r\n" not in data:
            return
        status = b"500 Internal Server Error" if self.rng.random() < self.rate else b"200 OK"
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.transport.close()


FLAPS = ("vip", "app-errors", "member-api")
FLAP_WHAT = {
    "vip": "the VIP answering HTTP 500 to {rate} of requests (the VIP probe)",
    "app-errors": "the app's pods answering HTTP 500 to {rate} of requests (the SLB's HTTP health check, "
    "then DescribeHealthStatus; and the VIP probe through the SLB)",
    "member-api": "the member API failing {rate} of the sweeps' probes (GET /version + node list)",
}


async def _settled(sb: Any, within: float) -> None:
    """Every signal of the region learnt and not confirming (a transition out of unknown during the
    window would be the start-up's, not the flapping's)."""
    from federation.health.hysteresis import State

    ctrl = sb.controller
    if ctrl is None or ctrl.sweeps is None:
        return
    tracker = ctrl.sweeps.service.tracker
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        mine = {
            key: m
            for key, m in tracker.machines.items()
            if (t := tracker.targets.get(key)) is not None and t.region == REGION
        }
        kinds = {kind for kind, _ in mine}
        if kinds >= {"cluster", "nodes", "rollout", "slb", "endpoint"} and all(
            m.state is not State.UNKNOWN and not m.confirming for m in mine.values()
        ):
            return
        await asyncio.sleep(0.2)


async def _flap(sb: Any, ctl: _Faults, kind: str, seconds: float, rate: float) -> dict[str, Any]:
    """cn-hangzhou answers errors to ``rate`` of the probes of one kind for ``seconds``, through the
    same path the sweeps probe: its transitions (every signal of the region) and the DNS changes made
    meanwhile."""
    import random
    from datetime import UTC, datetime

    from federation.store.dnslog import list_dns_changes
    from federation.store.health import list_transitions

    cluster = sb.sim.cluster(REGION)
    loop = asyncio.get_running_loop()
    started = datetime.now(UTC)
    restore: Any = None
    if kind == "vip":
        dp = sb.emulator.data_plane
        lb = ctl._lb()
        key, served = next((k, s) for k, s in dp._served.items() if k[0] == lb.lb_id)
        served.server.close()
        await served.server.wait_closed()
        rng = random.Random(7)
        flaky = await loop.create_server(
            lambda: _Flaky(rate, rng), served.address, served.bound_port, reuse_address=True
        )

        async def restore_vip() -> None:
            flaky.close()
            await flaky.wait_closed()
            await dp._close(dp._served.pop(key))
            await dp.sync()

        restore = restore_vip
    elif kind == "app-errors":
        ports = cluster.nodeports
        if ports is None:
            raise RuntimeError(f"{REGION} has no NodePorts data plane")
        ports.rng = random.Random(7)
        ports.http_error_rate = rate

        async def restore_ports() -> None:
            ports.http_error_rate = 0.0

        restore = restore_ports
    elif kind == "member-api":
        # a probe is two GETs (/version, then the node list): each fails with r so that 1-(1-r)^2 = rate
        per_request = 1 - (1 - rate) ** 0.5
        cluster.faults.rng = random.Random(7)
        cluster.faults.set("error", rate=per_request, status=500, methods={"GET"})

        async def restore_member() -> None:
            cluster.faults.clear()

        restore = restore_member
    else:
        raise ValueError(f"flap: unknown kind {kind!r}")
    try:
        await asyncio.sleep(seconds)
    finally:
        await restore()
    trs = await sb.db.run(list_transitions, since=started, region=REGION, limit=10000)
    by_kind: dict[str, int] = {}
    for t in trs:
        by_kind[t.target_kind] = by_kind.get(t.target_kind, 0) + 1
    changes = await sb.db.run(list_dns_changes, app="default/web", limit=10000)
    moved = [c for c in changes if c.at >= started]
    return {
        "kind": kind,
        "what": FLAP_WHAT[kind].format(rate=f"{rate:.0%}"),
        "seconds": seconds,
        "rate": rate,
        "transitions": len(trs),
        "by_signal": by_kind,
        "list": [f"{t.target_kind} {t.from_state}->{t.to_state}: {t.reason}" for t in reversed(trs)],
        "dns_changes": len(moved),
    }


async def _failover(
    rounds: int,
    faults: list[str],
    workdir: Path,
    within: float,
    flap: float = 0.0,
    flaps: Sequence[str] = FLAPS,
) -> dict[str, Any]:
    from federation.controller.manager import ControllerConfig
    from federation.sandbox.wiring import DNS_CLIENTS, LOOPBACK_ONLY, SYSTEM_NAMESPACE, Sandbox

    sb = Sandbox(
        workdir,
        rollout_delay=0.5,
        dns_provider="embedded",
        controller_config=ControllerConfig(namespace=SYSTEM_NAMESPACE, identity="bench"),
        sweeps=HealthConfig(probe_networks=LOOPBACK_ONLY),  # the defaults, loopback only
    )
    subnets: list[str | None] = [None, *(cidr for cidr, _, _ in DNS_CLIENTS)]
    hostname = "www.example.com"
    results: dict[str, dict[str, list[float]]] = {f: {"out": [], "back": []} for f in faults}
    await sb.start()
    try:
        addresses = await sb.wait_dns_published(within=60)
        if REGION not in addresses:
            raise RuntimeError(f"the app was not published with {REGION}: {addresses}")
        vip = addresses[REGION]
        assert sb.dns_address is not None
        where = sb.dns_address
        ctl = _Faults(sb)

        async def until(pred: Any) -> float | None:
            t0 = time.monotonic()
            while time.monotonic() - t0 < within:
                if pred(await _answers(where, subnets, hostname)):
                    return time.monotonic() - t0
                await asyncio.sleep(0.05)
            return None

        for fault in faults:
            for _ in range(rounds):
                # settled: every line answers, cn-hangzhou among the default line's answers
                await until(lambda a: vip in a[0] and all(a))
                await asyncio.sleep(3.0)  # counters of the last round's recovery settle
                await ctl.inject(fault)
                out = await until(lambda a: all(vip not in x for x in a) and all(a))
                await ctl.clear(fault)
                back = await until(lambda a: vip in a[0])
                results[fault]["out"].append(out if out is not None else float("inf"))
                results[fault]["back"].append(back if back is not None else float("inf"))
        flapping = []
        if flap > 0:
            for kind in flaps:
                await until(lambda a: vip in a[0] and all(a))
                await asyncio.sleep(3.0)
                await _settled(sb, within)
                flapping.append(await _flap(sb, ctl, kind, flap, 0.3))
    finally:
        await sb.stop()
    return {"rounds": rounds, "within": within, "results": results, "flapping": flapping}


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "-"
    if any(x == float("inf") for x in xs):
        n = sum(1 for x in xs if x == float("inf"))
        finite = [x for x in xs if x != float("inf")]
        tail = f"median {statistics.median(finite):.2f} s, " if finite else ""
        return f"{tail}{n}/{len(xs)} not within the limit"
    return f"median {statistics.median(xs):.2f} s, max {max(xs):.2f} s"


@click.command("failover")
@click.option(
    "--rounds", type=click.IntRange(0, 100), default=10, show_default=True, help="Rounds per fault (0: none)."
)
@click.option(
    "--fault",
    "faults",
    type=click.Choice(FAULTS),
    multiple=True,
    help="Only these faults (repeatable; default: all four).",
)
@click.option("--within", type=float, default=30.0, show_default=True, help="Give up on a phase after this.")
@click.option(
    "--flap",
    type=float,
    default=60.0,
    show_default=True,
    help="Then let cn-hangzhou answer 30%% of each kind of probe with errors for this many seconds and "
    "count the transitions of every signal there and the DNS changes (0: skip).",
)
@click.option(
    "--flap-kind",
    "flap_kinds",
    type=click.Choice(FLAPS),
    multiple=True,
    help="Only these flapping faults (repeatable; default: all): vip (the VIP answers 500), app-errors "
    "(the pods answer 500: the SLB's health check and the VIP through it), member-api (the member API "
    "fails the probes).",
)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True)
def bench_failover(
    rounds: int,
    faults: tuple[str, ...],
    within: float,
    flap: float,
    flap_kinds: tuple[str, ...],
    workdir: Path | None,
    as_json: bool,
) -> None:
    """Time from a fault in cn-hangzhou to its address leaving every line's DNS answer, and back; then
    the transitions while it answers 30% of the probes with errors."""
    logging.getLogger("federation").setLevel(logging.WARNING)
    logging.getLogger("aliyunsdkcore").setLevel(logging.CRITICAL)
    work = workdir or Path(tempfile.mkdtemp(prefix="fedctl-bench-failover-"))
    out = asyncio.run(
        _failover(rounds, list(faults or FAULTS), work, within, flap, list(flap_kinds or FLAPS))
    )
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    if rounds:
        click.echo(
            f"failover of {REGION} with the default health settings, {rounds} round(s) per fault "
            "(DNS asked as a client of the default line and of three ECS subnets):"
        )
        for fault, r in out["results"].items():
            click.echo(f"  {fault:16} fault -> out of every answer: {_fmt(r['out'])}")
            click.echo(f"  {'':16} cleared -> back in the answers: {_fmt(r['back'])}")
    for f in out["flapping"]:
        signals = ", ".join(f"{k} {n}" for k, n in sorted(f["by_signal"].items())) or "none"
        click.echo(
            f"flapping ({f['kind']}): {f['what']} for {f['seconds']:g} s: {f['transitions']} transition(s) "
            f"in {REGION} (by signal: {signals}), {f['dns_changes']} DNS change(s)"
        )
