"""`fedctl bench chaos`: kill -9 the controller at random moments under cloud and cluster faults, and
count what it left behind.

Every part runs as its own process, as in production: the Kubernetes simulator (a host cluster and one
member per region, ``fedctl sim kube``), the Alibaba Cloud emulator (``fedctl sim aliyun``) and the
controller (``fedctl run`` with the alidns provider and a SQLite store). The harness joins the members,
applies N apps (every other one with weighted DNS, so alidns weighted round robin is in play), sets the
weather (by default 10% throttling and 5% 5xx answered *after* the action ran, the ambiguous case, on
every emulator action; 10% 429 and 5% 500 on every member request), then M times starts ``fedctl run``
and SIGKILLs it after a random, seeded uptime. Half-way it deletes some apps, so that their release is
crashed into as well. The last run is left to converge under the same faults.

Then, faults cleared and the controller stopped, it counts: apps converged (Ready and DNSPublished at
their generation; deleted apps gone) and the time the last run took; duplicate Deployments/Services
per (member, app); member objects, DNS records and weighted-round-robin switches of no live app;
``DomainRecordDuplicate`` errors the emulator answered; SLBs per (app, region) other than exactly one,
found through ``DescribeLoadBalancers`` by the fedctl tags (0 SLBs while the SLB step does not run).
It prints the numbers and asserts nothing; ``tests/integration/test_chaos.py`` runs a small case and
asserts zero duplicates and zero orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import click
import yaml

from federation.api import constants as c

log = logging.getLogger(__name__)

DEFAULT_REGIONS = ("cn-hangzhou", "cn-beijing", "eu-central-1")
ZONE = "example.com"
APP_NAMESPACE = "default"
IDENTITY = "chaos"  # one identity for every run: a restarted controller takes its own Lease at once
FEDCTL = [sys.executable, "-m", "federation.cli"]


@dataclass
class ChaosConfig:
    apps: int = 20
    kills: int = 50
    seed: int = 1
    regions: tuple[str, ...] = DEFAULT_REGIONS
    deletes: int | None = None  # apps deleted half-way (default: a fifth of them)
    throttle: float = 0.1
    error_rate: float = 0.05
    min_uptime: float = 0.5  # seconds a run lives before its SIGKILL, drawn uniformly
    max_uptime: float = 8.0
    converge_timeout: float = 300.0
    rollout_delay: float = 0.2
    workdir: Path | None = None

    def __post_init__(self) -> None:
        if self.apps < 1:
            raise ValueError(f"apps: {self.apps} must be at least 1")
        if self.kills < 0:
            raise ValueError(f"kills: {self.kills} must be >= 0")
        if not 0 < self.min_uptime <= self.max_uptime:
            raise ValueError("min_uptime, max_uptime: need 0 < min_uptime <= max_uptime")
        if self.deletes is not None and not 0 <= self.deletes <= self.apps:
            raise ValueError(f"deletes: {self.deletes} must be between 0 and apps ({self.apps})")
        for name in ("throttle", "error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")

    @property
    def deleted(self) -> int:
        return self.apps // 5 if self.deletes is None else self.deletes


@dataclass
class ChaosReport:
    apps: int
    kills: int
    seed: int
    deleted: int
    uptimes: list[float] = field(default_factory=list)  # of the killed runs
    exited_on_their_own: int = 0  # runs that ended before their SIGKILL (a crash is a finding)
    converged: int = 0  # live apps Ready + DNSPublished at their generation
    gone: int = 0  # deleted apps whose FederatedApp is gone (finalizer done)
    converge_seconds: float | None = None  # the last run, from its start until everything converged
    duplicate_objects: int = 0
    orphan_objects: int = 0
    orphan_records: int = 0
    duplicate_record_errors: int = 0
    orphan_wrr: int = 0
    wrr_on: int = 0  # weighted round robin switches on for live apps' names (the weighted half)
    slbs: int = 0
    slb_pairs_not_one: int = 0
    orphan_slbs: int = 0
    faults_answered: dict[str, int] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.converged == self.apps - self.deleted
            and self.gone == self.deleted
            and self.duplicate_objects == 0
            and self.orphan_objects == 0
            and self.orphan_records == 0
            and self.orphan_wrr == 0
            and self.slb_pairs_not_one == 0
            and self.orphan_slbs == 0
        )

    def lines(self, cfg: ChaosConfig) -> list[str]:
        ups = sorted(self.uptimes)
        median = f"{ups[len(ups) // 2]:.1f}" if ups else "-"
        took = (
            f"{self.converge_seconds:.1f} s"
            if self.converge_seconds is not None
            else "NOT within the timeout"
        )
        slbs = (
            f"{self.slbs} found; (app, region) pairs without exactly one: {self.slb_pairs_not_one}; "
            f"of no live app: {self.orphan_slbs}"
            if self.slbs
            else "0 found (the SLB step did not create any)"
        )
        out = [
            f"chaos: {self.apps} apps over {len(cfg.regions)} regions, {self.kills} SIGKILLs "
            f"(seed {self.seed}), {self.deleted} apps deleted half-way",
            f"faults: {cfg.throttle:.0%} throttling + {cfg.error_rate:.0%} 5xx after the action in the "
            f"emulator, {cfg.throttle:.0%} 429 + {cfg.error_rate:.0%} 500 in every member",
            f"killed runs lived {cfg.min_uptime:g}-{cfg.max_uptime:g} s (median {median} s); "
            f"runs that exited on their own: {self.exited_on_their_own}",
            f"apps converged: {self.converged}/{self.apps - self.deleted}, deleted apps gone: "
            f"{self.gone}/{self.deleted}; the last run took {took}",
            f"duplicate Deployments/Services in members: {self.duplicate_objects}",
            f"Deployments/Services in members of no live app: {self.orphan_objects}",
            f"DNS records not owned by a live app: {self.orphan_records}",
            f"DomainRecordDuplicate errors seen: {self.duplicate_record_errors}",
            f"weighted round robin left on for names no app owns: {self.orphan_wrr} "
            f"(on for live apps' names: {self.wrr_on})",
            f"SLBs: {slbs}",
            "injected fault answers from the emulator: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.faults_answered.items())) or "none"),
        ]
        return out + [f"  {d}" for d in self.details[:40]]


# --- processes -----------------------------------------------------------------------------------


async def _spawn(
    args: list[str], log_path: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    with log_path.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env={**os.environ, **(env or {})}
        )


async def _mark(log_path: Path, line: str) -> None:
    def write() -> None:
        with log_path.open("a") as out:
            out.write(f"--- chaos: {line}\n")

    await asyncio.to_thread(write)


async def _wait_file(path: Path, proc: asyncio.subprocess.Process, what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        with contextlib.suppress(OSError, ValueError):  # not there yet, or half written
            return json.loads(await asyncio.to_thread(path.read_text))
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} not ready within {within:.0f}s ({path} missing)")


async def _stop(proc: asyncio.subprocess.Process | None, grace: float = 15.0) -> None:
    if proc is None or proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class _Admin:
    """The stand-ins' admin APIs (faults, state, instances)."""

    def __init__(self, kube: dict[str, Any], aliyun: dict[str, Any]) -> None:
        self.kube_url, self.kube_token = kube["admin"]["url"], kube["admin"]["token"]
        self.aliyun_url, self.aliyun_token = aliyun["admin_url"], aliyun["admin_token"]
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        await self.session.close()

    async def _call(self, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
        async with self.session.request(method, url, json=body, headers=headers) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise RuntimeError(f"{method} {url}: {resp.status} {text}")
            return json.loads(text) if text else None

    async def kube(self, path: str, body: Any) -> Any:
        return await self._call(
            "POST", self.kube_url + path, {"Authorization": f"Bearer {self.kube_token}"}, body
        )

    async def aliyun(self, method: str, path: str, body: Any = None) -> Any:
        from federation.sandbox.aliyun.emulator import ADMIN_HEADER

        return await self._call(method, self.aliyun_url + path, {ADMIN_HEADER: self.aliyun_token}, body)


def chaos_app(name: str, regions: tuple[str, ...], *, weighted: bool = False) -> dict[str, Any]:
    """One small app per name: a replica per region, its own hostname in the zone; ``weighted`` apps
    have one replica more (unequal shares) and publish with DNS weights, so alidns's weighted round
    robin is switched on for them (and must be switched off again when they go)."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": name, "namespace": APP_NAMESPACE},
        "spec": {
            "replicas": len(regions) + (1 if weighted else 0),  # unequal shares: weights published
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": r} for r in regions]},
            "ports": [{"name": "http", "port": 80}],
            "dns": {
                "zone": ZONE,
                "hostname": f"{name}.{ZONE}",
                "ttl": 60,
                "policy": "Weighted" if weighted else "Latency",
            },
        },
    }


# --- the run -------------------------------------------------------------------------------------


async def run_chaos(cfg: ChaosConfig) -> ChaosReport:
    from federation.clusters.kubeapi import KubeApi

    work = cfg.workdir or Path(tempfile.mkdtemp(prefix="fedctl-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)  # kubeconfigs and the AccessKey live here
    rng = random.Random(cfg.seed)
    report = ChaosReport(apps=cfg.apps, kills=cfg.kills, seed=cfg.seed, deleted=cfg.deleted)
    sim = emu = ctrl = None
    admin: _Admin | None = None
    host: KubeApi | None = None
    try:
        sim_args = [*FEDCTL, "sim", "kube", "--out", str(work / "sim"), "--nodes", "2"]
        sim_args += ["--rollout-delay", str(cfg.rollout_delay), "--cluster", f"host={cfg.regions[0]}"]
        for r in cfg.regions:
            sim_args += ["--cluster", r]
        sim = await _spawn(sim_args, work / "sim.log")
        emu = await _spawn(
            [*FEDCTL, "sim", "aliyun", "--out", str(work / "aliyun"), "--domain", ZONE, "--no-dns"],
            work / "aliyun.log",
        )
        kube_info = await _wait_file(work / "sim" / "sim.json", sim, "the Kubernetes simulator")
        aliyun_info = await _wait_file(work / "aliyun" / "aliyun.json", emu, "the Alibaba Cloud emulator")
        admin = _Admin(kube_info, aliyun_info)
        kubeconfigs = {n: Path(v["kubeconfig"]) for n, v in kube_info["clusters"].items()}
        host = await KubeApi.from_kubeconfig_file(kubeconfigs["host"], name="chaos-host")
        await _join(host, kubeconfigs, cfg.regions)
        await _register_instances(admin, kubeconfigs, cfg.regions)
        names = [f"chaos-{i:03d}" for i in range(cfg.apps)]
        await _apply_apps(host, names, cfg.regions)
        await _weather(admin, cfg, on=True)

        env = {
            "FEDCTL_DATABASE_URL": f"sqlite:///{work / 'federation.db'}",
            "FEDCTL_DNS_PROVIDER": "alidns",
            "FEDCTL_ALIBABA_ACCESS_KEY_ID": aliyun_info["access_key_id"],
            "FEDCTL_ALIBABA_ACCESS_KEY_SECRET": aliyun_info["access_key_secret"],
            "FEDCTL_ALIBABA_ENDPOINT": aliyun_info["endpoint"],
            "FEDCTL_WEB_LISTEN": "127.0.0.1:0",  # a killed run's port is never in a successor's way
        }
        run_args = [*FEDCTL, "run", "--kubeconfig", str(kubeconfigs["host"]), "--identity", IDENTITY]
        run_args += ["--namespace", "federation-system", "--lease-duration", "15", "--probe-interval", "1"]
        deleted = names[: cfg.deleted]
        for k in range(cfg.kills):
            if k == cfg.kills // 2 and deleted:
                await _delete_apps(host, deleted)
            uptime = rng.uniform(cfg.min_uptime, cfg.max_uptime)
            await _mark(work / "controller.log", f"run {k + 1}: SIGKILL after {uptime:.2f} s")
            ctrl = await _spawn(run_args, work / "controller.log", env)
            try:
                await asyncio.wait_for(ctrl.wait(), uptime)
                report.exited_on_their_own += 1
                log.warning("chaos: run %d exited with %s before its kill", k, ctrl.returncode)
            except TimeoutError:
                ctrl.send_signal(signal.SIGKILL)
                await ctrl.wait()
                report.uptimes.append(uptime)
        if cfg.kills == 0 and deleted:
            await _delete_apps(host, deleted)
        await _mark(work / "controller.log", f"run {cfg.kills + 1}: left to converge")
        ctrl = await _spawn(run_args, work / "controller.log", env)
        started = time.monotonic()
        live = [n for n in names if n not in deleted]
        while time.monotonic() - started < cfg.converge_timeout:
            report.converged, report.gone = await _convergence(host, live, deleted)
            if report.converged == len(live) and report.gone == len(deleted):
                report.converge_seconds = time.monotonic() - started
                break
            await asyncio.sleep(0.5)

        await _weather(admin, cfg, on=False)
        await _stop(ctrl)
        await _count(report, host, admin, aliyun_info, kubeconfigs, cfg, live)
        return report
    finally:
        if host is not None:
            await host.close()
        if admin is not None:
            await admin.close()
        for proc in (ctrl, emu, sim):
            await _stop(proc)


async def _join(host: Any, kubeconfigs: dict[str, Path], regions: tuple[str, ...]) -> None:
    from federation.sandbox.wiring import SYSTEM_NAMESPACE, apply_crds, ensure_namespace, register_member

    await apply_crds(host)
    await ensure_namespace(host, SYSTEM_NAMESPACE)
    for r in regions:
        config = yaml.safe_load(await asyncio.to_thread(kubeconfigs[r].read_text))
        await register_member(host, r, r, config)


async def _register_instances(admin: _Admin, kubeconfigs: dict[str, Path], regions: tuple[str, ...]) -> None:
    """Every member node is an ECS instance the emulator's SLB accepts as a backend (as in the sandbox)."""
    from federation.clusters.kubeapi import NODES, KubeApi
    from federation.sandbox.ecs import instance_info

    items = []
    for r in regions:
        api = await KubeApi.from_kubeconfig_file(kubeconfigs[r], name=f"chaos-{r}")
        try:
            nodes, _ = await api.list(NODES)
        finally:
            await api.close()
        items += [info for info in map(instance_info, nodes) if info is not None]
    if items:
        await admin.aliyun("POST", "/instances", {"instances": items})


async def _apply_apps(host: Any, names: list[str], regions: tuple[str, ...]) -> None:
    from federation.clusters.resources import FEDERATEDAPPS

    for i, name in enumerate(names):  # every other app weighted: deleted ones among them
        await host.create(FEDERATEDAPPS, chaos_app(name, regions, weighted=i % 2 == 0), APP_NAMESPACE)


async def _delete_apps(host: Any, names: list[str]) -> None:
    from federation.clusters.resources import FEDERATEDAPPS

    for name in names:
        await host.delete(FEDERATEDAPPS, name, APP_NAMESPACE)


async def _weather(admin: _Admin, cfg: ChaosConfig, *, on: bool) -> None:
    if on:
        await admin.aliyun(
            "POST",
            "/faults",
            {
                "product": "*",
                "action": "*",
                "throttle": cfg.throttle,
                "error_rate": cfg.error_rate,
                "after": True,
            },
        )
    else:
        await admin.aliyun("DELETE", "/faults")
    for r in cfg.regions:
        body = (
            {"mode": "error", "rate": cfg.error_rate, "status": 500, "throttle": cfg.throttle}
            if on
            else {"mode": "clear"}
        )
        await admin.kube(f"/clusters/{r}/faults", body)


async def _convergence(host: Any, live: list[str], deleted: list[str]) -> tuple[int, int]:
    from federation.clusters.kubeapi import KubeError
    from federation.clusters.resources import FEDERATEDAPPS

    try:
        items, _ = await host.list(FEDERATEDAPPS, APP_NAMESPACE)
    except KubeError:
        return 0, 0
    by_name = {i["metadata"]["name"]: i for i in items}
    converged = 0
    for name in live:
        app = by_name.get(name)
        if app is None:
            continue
        st = app.get("status") or {}
        conds = {cd.get("type"): cd.get("status") for cd in st.get("conditions") or []}
        if (
            st.get("observedGeneration") == app["metadata"].get("generation")
            and conds.get(c.COND_READY) == "True"
            and conds.get(c.COND_DNS_PUBLISHED) == "True"
            and all(r.get("servingDNS") for r in st.get("regions") or [])
        ):
            converged += 1
    return converged, sum(1 for n in deleted if n not in by_name)


async def _count(
    report: ChaosReport,
    host: Any,
    admin: _Admin,
    aliyun_info: dict[str, Any],
    kubeconfigs: dict[str, Path],
    cfg: ChaosConfig,
    live: list[str],
) -> None:
    from federation.clusters.kubeapi import DEPLOYMENTS, SERVICES, KubeApi
    from federation.clusters.resources import OWNED_SELECTOR
    from federation.dns.plan import OWNER_PREFIX

    live_keys = {f"{APP_NAMESPACE}/{n}" for n in live}
    # members: one Deployment and one Service per (member, app), none of any other app
    for r in cfg.regions:
        api = await KubeApi.from_kubeconfig_file(kubeconfigs[r], name=f"chaos-{r}")
        try:
            for res in (DEPLOYMENTS, SERVICES):
                objs, _ = await api.list(res, None, label_selector=OWNED_SELECTOR)
                per_app: Counter[str] = Counter()
                for o in objs:
                    labels = o["metadata"].get("labels") or {}
                    key = f"{labels.get(c.LABEL_APP_NAMESPACE)}/{labels.get(c.LABEL_APP)}"
                    per_app[key] += 1
                    if key not in live_keys:
                        report.orphan_objects += 1
                        report.details.append(
                            f"{r}: {res.plural} {o['metadata']['name']} of no live app ({key})"
                        )
                for key, n in per_app.items():
                    if n > 1:
                        report.duplicate_objects += n - 1
                        report.details.append(f"{r}: {n} {res.plural} of {key}")
        finally:
            await api.close()

    # DNS: every record is a live app's hostname or its ownership marker naming that app
    state = await admin.aliyun("GET", "/state")
    owner_of = {f"{n}.{ZONE}": f"{APP_NAMESPACE}/{n}" for n in live}
    for rec in state["alidns"]["records"]:
        domain = rec["DomainName"]
        name = domain if rec["RR"] == "@" else f"{rec['RR']}.{domain}"
        host_name = name.removeprefix(OWNER_PREFIX + ".")
        owner = owner_of.get(host_name)
        if name.startswith(OWNER_PREFIX + ".") and owner is not None:
            ok = f"owner={owner}" in str(rec["Value"])
        else:
            ok = owner is not None
        if not ok:
            report.orphan_records += 1
            report.details.append(f"dns: {name} {rec['Type']} [{rec['Line']}] {rec['Value']}")
    for w in state["alidns"].get("weighted") or []:
        name = w["domain"] if w["rr"] == "@" else f"{w['rr']}.{w['domain']}"
        if w.get("open") and name in owner_of:
            report.wrr_on += 1
        elif w.get("open"):
            report.orphan_wrr += 1
            report.details.append(f"dns: weighted round robin on for {name} {w['type']} [{w['line']}]")
    errors: dict[str, int] = state.get("errors") or {}
    for k, n in sorted(errors.items()):
        if k.endswith(" DomainRecordDuplicate"):
            report.duplicate_record_errors += n
            report.details.append(f"dns: {n} x {k}")
    for k, n in errors.items():
        code = k.rsplit(" ", 1)[-1]
        if code.startswith("Throttling") or code in ("InternalError", "ServiceUnavailable"):
            report.faults_answered[code] = report.faults_answered.get(code, 0) + n

    await _count_slbs(report, aliyun_info, cfg, live_keys)


async def _count_slbs(
    report: ChaosReport, aliyun_info: dict[str, Any], cfg: ChaosConfig, live_keys: set[str]
) -> None:
    """SLBs by the fedctl tags, through the SDK's DescribeLoadBalancers (what an operator would run)."""
    from federation.cloud.alibaba.client import AlibabaClient
    from federation.cloud.alibaba.slb import SlbApi
    from federation.slb.plan import TAG_APP, TAG_MANAGED_BY

    client = AlibabaClient(
        aliyun_info["access_key_id"],
        aliyun_info["access_key_secret"],
        cfg.regions[0],
        endpoint=aliyun_info["endpoint"],
    )
    try:
        slb = SlbApi(client)
        per_pair: Counter[tuple[str, str]] = Counter()
        for r in cfg.regions:
            for lb in await slb.describe_load_balancers(r, tags={TAG_MANAGED_BY: c.MANAGED_BY}):
                report.slbs += 1
                app = (lb.get("TagMap") or {}).get(TAG_APP, "")
                per_pair[(app, r)] += 1
                if app not in live_keys:
                    report.orphan_slbs += 1
                    report.details.append(f"slb: {lb.get('LoadBalancerId')} in {r} of no live app ({app})")
        if report.slbs:
            for app in sorted(live_keys):
                for r in cfg.regions:
                    if per_pair[(app, r)] != 1:
                        report.slb_pairs_not_one += 1
                        report.details.append(f"slb: {per_pair[(app, r)]} for {app} in {r}")
    finally:
        await client.close()


# --- the command ---------------------------------------------------------------------------------


@click.command("chaos")
@click.option("--apps", type=click.IntRange(1), default=20, show_default=True, help="Apps to apply.")
@click.option(
    "--kills", type=click.IntRange(0), default=50, show_default=True, help="SIGKILLs of the controller."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the kill moments and faults.")
@click.option(
    "--deletes",
    type=click.IntRange(0),
    default=None,
    help="Apps deleted half-way through the kills (default: a fifth of --apps).",
)
@click.option(
    "--throttle", type=click.FloatRange(0, 1), default=0.1, show_default=True, help="Throttled share."
)
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True, help="5xx share.")
@click.option(
    "--max-uptime",
    type=click.FloatRange(0.1),
    default=8.0,
    show_default=True,
    help="A run lives between 0.5 s and this long before its SIGKILL.",
)
@click.option(
    "--converge-timeout", type=click.FloatRange(1), default=300.0, show_default=True, help="Seconds."
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the stand-ins, the store and the logs go (default: a new temporary directory).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON object.")
def bench_chaos(
    apps: int,
    kills: int,
    seed: int,
    deletes: int | None,
    throttle: float,
    error_rate: float,
    max_uptime: float,
    converge_timeout: float,
    workdir: Path | None,
    as_json: bool,
) -> None:
    """Kill -9 the controller at random moments under throttling and 5xx, then count duplicates and
    orphans in the members, DNS and SLB."""
    try:
        cfg = ChaosConfig(
            apps=apps,
            kills=kills,
            seed=seed,
            deletes=deletes,
            throttle=throttle,
            error_rate=error_rate,
            min_uptime=min(0.5, max_uptime),
            max_uptime=max_uptime,
            converge_timeout=converge_timeout,
            workdir=workdir,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    report = asyncio.run(run_chaos(cfg))
    if as_json:
        click.echo(json.dumps({**asdict(report), "clean": report.clean}))
    else:
        click.echo("\n".join(report.lines(cfg)))
