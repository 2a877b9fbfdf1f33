"""`fedctl bench controller`: how fast the controller converges, and what it costs at steady state.

For each region count it runs one round in a fresh child process (so each round's peak memory is its
own): the Kubernetes simulator runs in a grandchild process (``fedctl sim kube``) so that the round's
peak RSS is the controller's (plus the small load generator), not the simulated API servers'. A round:

1. registers the members and starts the controller (built by :mod:`federation.runtime`, as
   ``fedctl run`` builds it);
2. one app: time from create to Ready in every region;
3. N apps: time from the first create to all N Ready;
4. steady state: every app reconciled once more; API calls per app per reconcile, by verb (the
   writes must be zero);
5. propagation: 200 spec updates (a new image), paced, while the fleet is steady: from each apply
   to the last member Deployment carrying it (as the controller's member watches see it), P50/P99;
6. the round's peak RSS, RSS per app, and the CPU seconds the process spent (the controller and the
   small load generator; the simulator runs elsewhere, so a slow convergence with few CPU seconds
   here means the simulator is the bottleneck).

Rounds run for every (regions, apps) pair: ``--regions 10 --apps 1000,3000,10000`` is the growth
series.

It prints numbers and asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import yaml

from federation.api import constants as c
from federation.clusters.kubeapi import DEFAULT_BURST, DEFAULT_QPS, WRITE_VERBS, KubeApi
from federation.controller.manager import Controller, ControllerConfig
from federation.controller.resources import FEDERATEDAPPS
from federation.runtime import build_controller
from federation.sandbox.wiring import SYSTEM_NAMESPACE, apply_crds, ensure_namespace, register_member

REGION_POOL = (
    "cn-hangzhou",
    "cn-beijing",
    "eu-central-1",
    "cn-shanghai",
    "cn-shenzhen",
    "ap-southeast-1",
    "us-west-1",
    "cn-qingdao",
    "cn-zhangjiakou",
    "ap-northeast-1",
    "eu-west-1",
    "us-east-1",
)


def bench_app(name: str, regions: list[str], replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": r} for r in regions]},
            "ports": [{"name": "http", "port": 80}],
            "dns": {"zone": "example.com", "hostname": f"{name}.example.com"},
        },
    }


def _ready(obj: dict[str, Any] | None) -> bool:
    if not obj:
        return False
    st = obj.get("status") or {}
    if st.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
        return False
    return any(cd.get("type") == "Ready" and cd.get("status") == "True" for cd in st.get("conditions") or [])


async def _start_simulator(
    workdir: Path,
    regions: list[str],
    rollout_delay: float,
) -> asyncio.subprocess.Process:
    args = [
        sys.executable,
        *(["-m", "cProfile", "-o", os.environ["SIMPROF"]] if os.environ.get("SIMPROF") else []),
        "-m",
        "federation.cli",
        "--log-level",
        "warning",
        "sim",
        "kube",
        "--out",
        str(workdir),
        "--rollout-delay",
        str(rollout_delay),
        "--nodes",
        "2",
        "--no-pods",
        "--cluster",
        f"host={regions[0]}",
    ]
    for r in regions:
        args += ["--cluster", r]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    names = ["host", *regions]
    for _ in range(600):
        if all((workdir / f"{n}.kubeconfig").exists() for n in names) and (workdir / "sim.json").exists():
            return proc
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    proc.terminate()
    raise click.ClickException("the Kubernetes simulator did not start")


async def _wait(pred: Any, within: float, step: float = 0.05) -> float:
    started = time.monotonic()
    while not pred():
        if time.monotonic() - started > within:
            raise click.ClickException(f"timed out after {within:.0f}s")
        await asyncio.sleep(step)
    return time.monotonic() - started


async def run_round(
    n_regions: int,
    n_apps: int,
    rollout_delay: float,
    workers: int,
    limit: float,
    kube_qps: float = DEFAULT_QPS,
    kube_burst: int = DEFAULT_BURST,
) -> dict[str, Any]:
    """One round (see the module docstring); ``limit`` bounds every wait, in seconds."""
    regions = list(REGION_POOL[:n_regions])
    with tempfile.TemporaryDirectory(prefix="fedctl-bench-") as tmp:
        workdir = Path(tmp)
        sim = await _start_simulator(workdir, regions, rollout_delay)
        # the load generator is not paced; the controller's clients are paced at kube_qps/kube_burst per
        # cluster (Settings.kube_qps: 50/100 by default, which alone bounds a large fleet's convergence)
        host = await KubeApi.from_kubeconfig_file(
            workdir / "host.kubeconfig", name="bench", timeout=60, qps=1e6, burst=1_000_000
        )
        ctrl_host = await KubeApi.from_kubeconfig_file(
            workdir / "host.kubeconfig", name="host", timeout=30, qps=kube_qps, burst=kube_burst
        )
        task: asyncio.Task[None] | None = None
        try:
            await apply_crds(host)
            await ensure_namespace(host, SYSTEM_NAMESPACE)
            await ensure_namespace(host, "bench")
            for r in regions:
                kubeconfig = yaml.safe_load((workdir / f"{r}.kubeconfig").read_text())
                await register_member(host, r, r, kubeconfig)
            ctrl = build_controller(
                ctrl_host,
                ControllerConfig(
                    namespace=SYSTEM_NAMESPACE,
                    identity="bench",
                    workers=workers,
                    kube_qps=kube_qps,
                    kube_burst=kube_burst,
                    probe_interval=5.0,
                    member_timeout=10.0,
                    resync=3600.0,
                    # a simulator saturated by the load answers slowly: do not measure lease flapping
                    lease_duration=60.0,
                    renew_deadline=40.0,
                    retry_period=5.0,
                ),
            )
            task = asyncio.create_task(ctrl.run())
            await _wait(lambda: set(regions) <= ctrl.members.probed(), 60)

            def cached(name: str) -> dict[str, Any] | None:
                return ctrl.apps_informer.cache.get(f"bench/{name}") if ctrl.apps_informer else None

            await host.create(FEDERATEDAPPS, bench_app("single", regions, 2 * n_regions), "bench")
            single = await _wait(lambda: _ready(cached("single")), limit, 0.01)

            sem = asyncio.Semaphore(32)

            async def create(i: int) -> None:
                async with sem:
                    await host.create(FEDERATEDAPPS, bench_app(f"app-{i:05d}", regions, n_regions), "bench")

            names = [f"app-{i:05d}" for i in range(n_apps)]
            rss_before = _rss_mib()
            cpu_before = _cpu_s()
            sim_cpu_before = _proc_cpu_s(sim.pid)
            started = time.monotonic()
            reconciles_before = ctrl.reconciles
            await asyncio.gather(*(create(i) for i in range(n_apps)))
            created = time.monotonic() - started
            await _wait(lambda: all(_ready(cached(n)) for n in names), limit, 0.25)
            converge = time.monotonic() - started
            converge_cpu = _cpu_s() - cpu_before
            converge_sim_cpu = _proc_cpu_s(sim.pid) - sim_cpu_before
            reconciles_converge = ctrl.reconciles - reconciles_before

            await ctrl.wait_idle(within=limit, settle=1.0)
            calls_before = dict(ctrl.api_calls())
            rec_before = ctrl.reconciles
            ctrl.enqueue_all_apps()
            steady_started = time.monotonic()
            await ctrl.wait_idle(within=limit, settle=1.0)
            steady_time = time.monotonic() - steady_started - 1.0
            reconciled = ctrl.reconciles - rec_before
            delta = {
                k: v - calls_before.get(k, 0)
                for k, v in ctrl.api_calls().items()
                if v - calls_before.get(k, 0)
            }
            per = {k: round(v / max(1, reconciled), 4) for k, v in delta.items()}
            propagation = await _propagation(host, ctrl, names[: min(200, n_apps)], regions, limit)
            await ctrl.wait_idle(within=limit, settle=1.0)
            quiet_before = dict(ctrl.api_calls())
            await asyncio.sleep(5.0)  # a steady fleet left alone: nothing to write
            quiet_writes = sum(
                v - quiet_before.get(k, 0) for k, v in ctrl.api_calls().items() if k in WRITE_VERBS
            )
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            return {
                "regions": n_regions,
                "apps": n_apps,
                "rollout_delay_s": rollout_delay,
                "workers": workers,
                "single_app_ready_s": round(single, 3),
                "create_requests_s": round(created, 3),
                "converge_s": round(converge, 3),
                "apps_per_s": round(n_apps / converge, 1) if converge else None,
                "reconciles_to_converge": reconciles_converge,
                "steady_reconciles": reconciled,
                "steady_resync_s": round(max(0.0, steady_time), 3),
                "steady_calls_per_app_reconcile": per,
                "steady_writes": sum(v for k, v in delta.items() if k in WRITE_VERBS),
                "quiet_writes_5s": quiet_writes,
                "peak_rss_mib": round(peak, 1),
                "rss_before_apps_mib": round(rss_before, 1),
                "rss_per_app_kib": round((peak - rss_before) * 1024 / n_apps, 1),
                "converge_cpu_s": round(converge_cpu, 2),
                "cpu_s_total": round(_cpu_s(), 2),
                "converge_sim_cpu_s": round(converge_sim_cpu, 2),
                **propagation,
                "leadership_terms": ctrl.elector.transitions,
                "mean_request_ms": _mean_latency(ctrl),
            }
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await host.close()
            await ctrl_host.close()
            with contextlib.suppress(ProcessLookupError):
                sim.terminate()
            try:  # a simulator still busy with the round's backlog may not stop when asked
                await asyncio.wait_for(sim.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    sim.kill()
                await sim.wait()


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) another process of ours has spent so far (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _propagation(
    host: KubeApi, ctrl: Controller, names: list[str], regions: list[str], limit: float
) -> dict[str, Any]:
    """Spec updates applied while the fleet is steady, 20 a second: seconds from each apply to the
    last region's Deployment carrying the new image in the controller's member caches."""
    image = "nginx:1.28"

    def done(name: str) -> bool:
        for region in regions:
            view = ctrl.members.view(region)
            if view is None:
                return False
            dep = view.deployments.cache.get(f"bench/{name}")  # a member Deployment is named as its app
            if dep is None:
                return False
            containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
            if not containers or containers[0].get("image") != image:
                return False
        return True

    applied: dict[str, float] = {}
    took: dict[str, float] = {}

    async def watch() -> None:
        while len(took) < len(names):
            now = time.monotonic()
            for name in [n for n in applied if n not in took]:
                if done(name):
                    took[name] = now - applied[name]
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    try:
        for name in names:
            applied[name] = time.monotonic()
            await host.merge_patch(FEDERATEDAPPS, name, patch, "bench")
            await asyncio.sleep(0.05)
        await asyncio.wait_for(watcher, limit)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    times = sorted(took.values())
    return {
        "propagation_updates": len(times),
        "propagation_p50_s": round(statistics.median(times), 3) if times else None,
        "propagation_p99_s": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3) if times else None,
    }


def _mean_latency(ctrl: Controller) -> dict[str, float]:
    """Mean request latency per verb over the round, host and members together (the simulator's
    load shows here)."""
    apis = [
        ctrl.host,
        *(a for v in ctrl.members.all_views() for a in (v.member.api, v.writer) if a is not None),
    ]
    out = {}
    for verb in ("get", "list", "create", "update", "patch", "delete"):
        n = sum(a.calls[verb] for a in apis)
        if n:
            out[verb] = round(sum(a.seconds[verb] for a in apis) / n * 1000, 1)
    return out


def _print(r: dict[str, Any]) -> None:
    click.echo(
        f"regions={r['regions']} apps={r['apps']} (simulated rollout {r['rollout_delay_s']}s, "
        f"{r['workers']} workers)"
    )
    click.echo(f"  one app, create -> Ready in all regions: {r['single_app_ready_s']:.3f} s")
    click.echo(
        f"  {r['apps']} apps, first create -> all Ready:   {r['converge_s']:.3f} s "
        f"({r['apps_per_s']} apps/s; creating them took {r['create_requests_s']:.3f} s; "
        f"{r['reconciles_to_converge']} reconciles)"
    )
    per = ", ".join(f"{k}={v}" for k, v in sorted(r["steady_calls_per_app_reconcile"].items())) or "none"
    click.echo(
        f"  steady state: {r['steady_reconciles']} reconciles in {r['steady_resync_s']:.3f} s; "
        f"API calls per app per reconcile: {per}; writes: {r['steady_writes']}"
    )
    click.echo(
        f"  controller process peak RSS: {r['peak_rss_mib']} MiB ({r['rss_before_apps_mib']} MiB before the "
        f"apps; {r['rss_per_app_kib']} KiB per app); CPU: {r['converge_cpu_s']} s while converging, "
        f"{r['cpu_s_total']} s in all; the simulator's CPU while converging: {r['converge_sim_cpu_s']} s"
    )
    click.echo(
        f"  propagation of {r['propagation_updates']} spec updates at steady state: "
        f"P50 {r['propagation_p50_s']} s, P99 {r['propagation_p99_s']} s; "
        f"writes in 5 s of a quiet fleet: {r['quiet_writes_5s']}"
    )
    lat = ", ".join(f"{k}={v}" for k, v in r.get("mean_request_ms", {}).items())
    click.echo(
        f"  mean API request latency (ms) while converging: {lat}; "
        f"leadership terms: {r.get('leadership_terms')}"
    )


@click.command("controller")
@click.option(
    "--regions",
    "region_counts",
    default="10",
    show_default=True,
    help="Comma-separated region counts.",
)
@click.option(
    "--apps",
    "app_counts",
    default="1000,3000,10000",
    show_default=True,
    help="Comma-separated app counts: one round per (regions, apps) pair, the growth series.",
)
@click.option(
    "--rollout-delay",
    type=click.FloatRange(0),
    default=0.2,
    show_default=True,
    help="Seconds a simulated Deployment takes to become ready.",
)
@click.option("--workers", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=900.0,
    show_default=True,
    help="Give up a round after this many seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per round.")
def bench_controller(
    region_counts: str, app_counts: str, rollout_delay: float, workers: int, timeout: float, as_json: bool
) -> None:
    """Time to Ready for one app and for many, steady-state API calls, propagation, CPU and memory."""
    try:
        counts = [int(x) for x in region_counts.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter("expected integers such as 3,10", param_hint="--regions") from None
    try:
        sizes = [int(x) for x in app_counts.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter("expected integers such as 1000,3000", param_hint="--apps") from None
    if not sizes or any(n < 1 for n in sizes):
        raise click.BadParameter("expected positive integers such as 1000,3000", param_hint="--apps")
    for n in counts:
        if not 1 <= n <= len(REGION_POOL):
            raise click.BadParameter(f"{n}: between 1 and {len(REGION_POOL)}", param_hint="--regions")
    import subprocess

    series: list[dict[str, Any]] = []
    for n, apps in [(n, a) for n in counts for a in sizes]:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "federation.sandbox.bench.controller",
                json.dumps(
                    {
                        "n_regions": n,
                        "n_apps": apps,
                        "rollout_delay": rollout_delay,
                        "workers": workers,
                        "limit": timeout,
                    }
                ),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise click.ClickException(f"round with {n} regions, {apps} apps failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        series.append(result)
        if as_json:
            click.echo(json.dumps(result))
        else:
            _print(result)
    if not as_json and len(series) > 1:
        click.echo(
            f"\n{'regions':>7} {'apps':>6} {'converge s':>10} {'CPU s':>7} {'peak MiB':>9} {'KiB/app':>8} "
            f"{'prop P50 s':>10} {'prop P99 s':>10} {'writes':>6}"
        )
        for r in series:
            click.echo(
                f"{r['regions']:>7} {r['apps']:>6} {r['converge_s']:>10.1f} {r['converge_cpu_s']:>7.1f} "
                f"{r['peak_rss_mib']:>9.1f} {r['rss_per_app_kib']:>8.1f} {r['propagation_p50_s']!s:>10} "
                f"{r['propagation_p99_s']!s:>10} {r['steady_writes'] + r['quiet_writes_5s']:>6}"
            )


if __name__ == "__main__":  # one round, in its own process (see bench_controller)
    import logging

    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run_round(**json.loads(sys.argv[1])))))
