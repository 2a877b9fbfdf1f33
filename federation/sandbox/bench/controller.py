"""`fedctl bench controller`: how fast the controller converges, and what it costs at steady state.

Each round runs in a fresh child process (the load generator), with two processes of its own: the
Kubernetes simulator (``fedctl sim kube --no-pods``: Deployments report ready replicas after the
rollout delay without materialising Pods, so the simulator's cost stays small beside the controller's)
and the controller under test (built by :mod:`federation.runtime` as ``fedctl run`` builds it, driven
over a pipe, see :class:`ControllerProcess`). So the round's peak RSS and CPU seconds are the
controller's own, and the simulator's CPU seconds are measured beside them: a slow convergence with
few controller CPU seconds means the simulator (or the clients' pacing, ``--kube-qps``) is the
bottleneck. A round:

1. registers the members and starts the controller;
2. one app: time from create to Ready in every region;
3. N apps: time from the first create to all N Ready (as the controller's cache sees them);
4. steady state: every app reconciled once more; API calls per app per reconcile, by verb (the
   writes must be zero);
5. propagation: 200 spec updates (a new image), paced, while the fleet is steady: from each apply
   to the last member Deployment carrying it (as the controller's member watches see it), P50/P99;
6. 5 quiet seconds: writes (must be zero); the controller's peak RSS, RSS per app (above the RSS
   with one app Ready and every cluster's connection pool open: a fixed cost), CPU seconds.

Rounds run for every (regions, apps) pair: ``--regions 10 --apps 1000,3000,10000`` is the growth
series. ``FEDCTL_BENCH_PROFILE_CONTROLLER=FILE`` / ``FEDCTL_BENCH_PROFILE_SIM=FILE`` write a cProfile
of that process; ``--tracemalloc N`` lists the controller's N largest allocation sites.

It prints numbers and asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
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

from federation import gctune
from federation.api import constants as c
from federation.clusters.kubeapi import (
    CONNECTIONS_PER_CLUSTER,
    DEFAULT_BURST,
    DEFAULT_QPS,
    DEPLOYMENTS,
    NAMESPACES,
    WRITE_VERBS,
    KubeApi,
)
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


def _profiled(variable: str) -> list[str]:
    """``-m cProfile -o FILE`` when the environment names a profile file for that process."""
    out = os.environ.get(variable)
    return ["-m", "cProfile", "-o", out] if out else []


async def _start_simulator(
    workdir: Path,
    regions: list[str],
    rollout_delay: float,
    gc_threshold: tuple[int, int, int],
) -> asyncio.subprocess.Process:
    args = [
        sys.executable,
        *_profiled("FEDCTL_BENCH_PROFILE_SIM"),
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
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "FEDCTL_GC_THRESHOLD": json.dumps(list(gc_threshold))},
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


class ControllerProcess:
    """The controller under test in its own process (``python -m federation.sandbox.bench.controller
    --controller CONFIG``), so that its CPU seconds and RSS are its own: the load generator and the
    simulator run elsewhere. Driven by one JSON command a line on stdin, one JSON answer a line on
    stdout (see :func:`_serve_controller`); times are ``time.monotonic()``, one clock for every process
    on the machine."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, config: dict[str, Any]) -> ControllerProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *_profiled("FEDCTL_BENCH_PROFILE_CONTROLLER"),
            "-m",
            "federation.sandbox.bench.controller",
            "--controller",
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        return cls(proc)

    async def ask(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        async with self._lock:
            self.proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
            await self.proc.stdin.drain()
            line = await self.proc.stdout.readline()
        if not line:
            raise click.ClickException(f"the controller process ended during {op!r}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise click.ClickException(f"{op}: {answer['error']}")
        return answer

    async def stop(self) -> None:
        """End of input ends the process (a profile, if asked for, is written); a process that does not
        end within 10 s is killed."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def run_round(
    n_regions: int,
    n_apps: int,
    rollout_delay: float,
    workers: int,
    limit: float,
    kube_qps: float = DEFAULT_QPS,
    kube_burst: int = DEFAULT_BURST,
    tracemalloc_top: int = 0,
    gc_threshold: tuple[int, int, int] = gctune.DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    """One round (see the module docstring); ``limit`` bounds every wait, in seconds."""
    regions = list(REGION_POOL[:n_regions])
    with tempfile.TemporaryDirectory(prefix="fedctl-bench-") as tmp:
        workdir = Path(tmp)
        sim = await _start_simulator(workdir, regions, rollout_delay, gc_threshold)
        # the load generator is not paced; the controller's clients are paced at kube_qps/kube_burst per
        # cluster (Settings.kube_qps: 50/100 by default, which alone bounds a large fleet's convergence)
        host = await KubeApi.from_kubeconfig_file(
            workdir / "host.kubeconfig", name="bench", timeout=120, qps=1e6, burst=1_000_000
        )
        ctrl: ControllerProcess | None = None
        try:
            await apply_crds(host)
            await ensure_namespace(host, SYSTEM_NAMESPACE)
            await ensure_namespace(host, "bench")
            for r in regions:
                kubeconfig = yaml.safe_load((workdir / f"{r}.kubeconfig").read_text())
                await register_member(host, r, r, kubeconfig)
            ctrl = await ControllerProcess.start(
                {
                    "kubeconfig": str(workdir / "host.kubeconfig"),
                    "regions": regions,
                    "workers": workers,
                    "kube_qps": kube_qps,
                    "kube_burst": kube_burst,
                    "tracemalloc": tracemalloc_top > 0,
                    "gc_threshold": list(gc_threshold),
                }
            )
            await ctrl.ask("start", within=60)

            await host.create(FEDERATEDAPPS, bench_app("single", regions, 2 * n_regions), "bench")
            t0 = time.monotonic()
            single = (await ctrl.ask("wait_ready", names=["single"], within=limit))["at"] - t0

            sem = asyncio.Semaphore(32)

            async def create(i: int) -> None:
                async with sem:
                    await host.create(FEDERATEDAPPS, bench_app(f"app-{i:05d}", regions, n_regions), "bench")

            names = [f"app-{i:05d}" for i in range(n_apps)]
            await ctrl.ask("open_pools")
            before = await ctrl.ask("stats")
            sim_cpu_before = _proc_cpu_s(sim.pid)
            started = time.monotonic()
            waiting = asyncio.create_task(ctrl.ask("wait_ready", names=names, within=limit))
            await asyncio.gather(*(create(i) for i in range(n_apps)))
            created = time.monotonic() - started
            ready = await waiting
            converge = ready["at"] - started
            converge_sim_cpu = _proc_cpu_s(sim.pid) - sim_cpu_before
            converge_cpu = ready["cpu_s"] - before["cpu_s"]
            reconciles_converge = ready["reconciles"] - before["reconciles"]

            await ctrl.ask("wait_idle", within=limit, settle=1.0)
            calls_before = (await ctrl.ask("stats"))["calls"]
            steady = await ctrl.ask("resync_all", within=limit, settle=1.0)
            delta = {
                k: v - calls_before.get(k, 0)
                for k, v in steady["calls"].items()
                if v - calls_before.get(k, 0)
            }
            per = {k: round(v / max(1, steady["reconciled"]), 4) for k, v in delta.items()}
            propagation = await _propagation(host, ctrl, names[: min(200, n_apps)], limit)
            await ctrl.ask("wait_idle", within=limit, settle=1.0)
            quiet_before = (await ctrl.ask("stats"))["calls"]
            await asyncio.sleep(5.0)  # a steady fleet left alone: nothing to write
            end = await ctrl.ask("stats", tracemalloc_top=tracemalloc_top)
            quiet_writes = sum(
                v - quiet_before.get(k, 0) for k, v in end["calls"].items() if k in WRITE_VERBS
            )
            peak = end["peak_rss_mib"]
            rss_before = before["rss_mib"]
            result = {
                "regions": n_regions,
                "apps": n_apps,
                "rollout_delay_s": rollout_delay,
                "workers": workers,
                "kube_qps": kube_qps,
                "kube_burst": kube_burst,
                "single_app_ready_s": round(single, 3),
                "create_requests_s": round(created, 3),
                "converge_s": round(converge, 3),
                "apps_per_s": round(n_apps / converge, 1) if converge else None,
                "reconciles_to_converge": reconciles_converge,
                "steady_reconciles": steady["reconciled"],
                "steady_resync_s": round(steady["seconds"], 3),
                "steady_calls_per_app_reconcile": per,
                "steady_writes": sum(v for k, v in delta.items() if k in WRITE_VERBS),
                "quiet_writes_5s": quiet_writes,
                "peak_rss_mib": round(peak, 1),
                "rss_before_apps_mib": round(rss_before, 1),
                "rss_end_mib": round(end["rss_mib"], 1),
                "rss_per_app_kib": round((peak - rss_before) * 1024 / n_apps, 1),
                "converge_cpu_s": round(converge_cpu, 2),
                "cpu_s_total": round(end["cpu_s"], 2),
                "converge_sim_cpu_s": round(converge_sim_cpu, 2),
                **propagation,
                "leadership_terms": end["leadership_terms"],
                "mean_request_ms": end["mean_request_ms"],
                "gc_collections": sum(end["gc"]["count"]),
                "gc_full_collections": end["gc"]["count"][2],
                "gc_full_max_pause_s": round(end["gc"]["max_s"][2], 3),
                "gc_pause_total_s": round(sum(end["gc"]["total_s"]), 2),
                "gc_threshold": list(gc_threshold),
                "loop_stall_max_s": round(end["loop"]["max_s"], 3),
                "loop_stalls_over_100ms": end["loop"]["over_100ms"],
            }
            if tracemalloc_top:
                result["tracemalloc_top"] = end["tracemalloc_top"]
            return result
        finally:
            if ctrl is not None:
                await ctrl.stop()
            await host.close()
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
    host: KubeApi, ctrl: ControllerProcess, names: list[str], limit: float
) -> dict[str, Any]:
    """Spec updates applied while the fleet is steady, 20 a second: seconds from each apply to the
    last region's Deployment carrying the new image in the controller's member caches."""
    image = "nginx:1.28"
    await ctrl.ask("watch_images", names=names, image=image)
    applied: dict[str, float] = {}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    for name in names:
        applied[name] = time.monotonic()
        await host.merge_patch(FEDERATEDAPPS, name, patch, "bench")
        await asyncio.sleep(0.05)
    seen = (await ctrl.ask("image_times", within=limit))["at"]
    times = sorted(seen[n] - applied[n] for n in names if n in seen)
    return {
        "propagation_updates": len(times),
        "propagation_p50_s": round(statistics.median(times), 3) if times else None,
        "propagation_p99_s": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3) if times else None,
    }


# ----- the controller's process ---------------------------------------------------------------------


class GcPauses:
    """The cyclic garbage collector's pauses in this process, by generation (``gc.callbacks``): a full
    collection walks every tracked object, so its pause grows with the caches and shows in latency."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.total_s = [0.0, 0.0, 0.0]
        self.max_s = [0.0, 0.0, 0.0]
        self._started = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        g = int(info.get("generation", 0))
        self.count[g] += 1
        self.total_s[g] += took
        self.max_s[g] = max(self.max_s[g], took)

    def snapshot(self) -> dict[str, Any]:
        return {"count": list(self.count), "total_s": list(self.total_s), "max_s": list(self.max_s)}


GC_PAUSES = GcPauses()


class LoopStalls:
    """How late the event loop wakes a 10 ms sleeper: a stall here delays every reconcile and watch
    event in the process at once."""

    def __init__(self) -> None:
        self.max_s = 0.0
        self.over_100ms = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            late = time.monotonic() - t - 0.01
            self.max_s = max(self.max_s, late)
            if late > 0.1:
                self.over_100ms += 1

    def snapshot(self) -> dict[str, Any]:
        return {"max_s": self.max_s, "over_100ms": self.over_100ms}


LOOP_STALLS = LoopStalls()


class _Driver:
    """The controller and the few questions the load generator asks of it (see ControllerProcess)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.regions: list[str] = cfg["regions"]
        self.ctrl: Controller | None = None
        self.task: asyncio.Task[None] | None = None
        self.image_times: dict[str, float] = {}
        self.image_task: asyncio.Task[None] | None = None

    def _ctrl(self) -> Controller:
        if self.ctrl is None:
            raise RuntimeError("not started")
        return self.ctrl

    def _cached(self, name: str) -> dict[str, Any] | None:
        informer = self._ctrl().apps_informer
        return informer.cache.get(f"bench/{name}") if informer is not None else None

    async def op_start(self, within: float) -> dict[str, Any]:
        cfg = self.cfg
        host = await KubeApi.from_kubeconfig_file(
            Path(cfg["kubeconfig"]), name="host", timeout=30, qps=cfg["kube_qps"], burst=cfg["kube_burst"]
        )
        self.ctrl = build_controller(
            host,
            ControllerConfig(
                namespace=SYSTEM_NAMESPACE,
                identity="bench",
                workers=cfg["workers"],
                kube_qps=cfg["kube_qps"],
                kube_burst=cfg["kube_burst"],
                probe_interval=5.0,
                member_timeout=10.0,
                resync=3600.0,
                # a cluster has 2,768 NodePorts (kube-apiserver's default --service-node-port-range):
                # a series past that many apps needs Services without them; the controller's work is
                # the same
                service_type="ClusterIP",
                # a simulator saturated by the load answers slowly: do not measure lease flapping
                lease_duration=60.0,
                renew_deadline=40.0,
                retry_period=5.0,
            ),
        )
        self.task = asyncio.create_task(self.ctrl.run())
        ctrl = self.ctrl
        await _wait(lambda: set(self.regions) <= ctrl.members.probed(), within)
        return {}

    async def op_wait_ready(self, names: list[str], within: float) -> dict[str, Any]:
        pending = set(names)
        deadline = time.monotonic() + within
        while True:
            pending = {n for n in pending if not _ready(self._cached(n))}
            if not pending:
                break
            if time.monotonic() > deadline:
                stuck = [await self._diagnose(n) for n in sorted(pending)[:5]]
                raise click.ClickException(
                    f"{len(pending)} of {len(names)} apps not Ready after {within:.0f}s:\n" + "\n".join(stuck)
                )
            await asyncio.sleep(0.01 if len(names) == 1 else 0.25)
        at = time.monotonic()
        return {"at": at, "cpu_s": _cpu_s(), "reconciles": self._ctrl().reconciles}

    async def _diagnose(self, name: str) -> str:
        """Why an app is not Ready, as far as the controller's state shows: its status, its key in the
        work queue, and each member's Deployment as cached beside what the member serves now."""
        ctrl = self._ctrl()
        key = f"bench/{name}"
        status = (self._cached(name) or {}).get("status") or {}
        ready: dict[str, Any] = next(
            (cd for cd in status.get("conditions") or [] if cd.get("type") == "Ready"), {}
        )
        lines = [
            f"{key}: Ready={ready.get('status')} ({ready.get('message')}); {ctrl.app_queue.describe(key)}"
        ]

        def brief(obj: dict[str, Any] | None) -> str:
            if obj is None:
                return "none"
            md, st = obj.get("metadata") or {}, obj.get("status") or {}
            return (
                f"rv {md.get('resourceVersion')} generation {md.get('generation')}/"
                f"{st.get('observedGeneration')} ready {st.get('readyReplicas')}/"
                f"{(obj.get('spec') or {}).get('replicas')} updated {st.get('updatedReplicas')}"
            )

        for view in ctrl.members.all_views():
            try:
                served = brief(await view.member.api.get(DEPLOYMENTS, name, "bench"))
            except Exception as exc:
                served = f"GET failed: {exc}"
            inf = view.deployments
            lines.append(
                f"  {view.name}: cached {brief(inf.get(key))}; served {served}; watch at rv "
                f"{inf.resource_version}, {inf.relists} lists"
            )
        return "\n".join(lines)

    async def op_open_pools(self) -> dict[str, Any]:
        """Open every cluster client's connection pool to its limit. The pools are a fixed cost (each
        TLS connection holds asyncio's 256 KiB read buffer: 12 connections x 11 clusters is 33 MiB), but
        one app opens only a few connections; without this the first size of the series would carry
        the rest of them as if they were per-app memory."""
        ctrl = self._ctrl()
        apis = [ctrl.host, *(a for v in ctrl.members.all_views() for a in (v.member.api, v.writer) if a)]
        for api in apis:
            await asyncio.gather(*(api.get(NAMESPACES, "default") for _ in range(CONNECTIONS_PER_CLUSTER)))
        return {}

    async def op_wait_idle(self, within: float, settle: float) -> dict[str, Any]:
        await self._ctrl().wait_idle(within=within, settle=settle)
        return {}

    async def op_resync_all(self, within: float, settle: float) -> dict[str, Any]:
        ctrl = self._ctrl()
        before = ctrl.reconciles
        ctrl.enqueue_all_apps()
        started = time.monotonic()
        await ctrl.wait_idle(within=within, settle=settle)
        return {
            "reconciled": ctrl.reconciles - before,
            "seconds": max(0.0, time.monotonic() - started - settle),
            "calls": dict(ctrl.api_calls()),
        }

    async def op_watch_images(self, names: list[str], image: str) -> dict[str, Any]:
        ctrl = self._ctrl()

        def carries(name: str) -> bool:
            for region in self.regions:
                view = ctrl.members.view(region)
                dep = view.deployments.cache.get(f"bench/{name}") if view is not None else None
                if dep is None:  # a member Deployment is named as its app
                    return False
                containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
                if not containers or containers[0].get("image") != image:
                    return False
            return True

        async def watch() -> None:
            pending = set(names)
            while pending:
                now = time.monotonic()
                for name in [n for n in pending if carries(n)]:
                    self.image_times[name] = now
                    pending.discard(name)
                await asyncio.sleep(0.005)

        self.image_times = {}
        self.image_task = asyncio.create_task(watch())
        return {}

    async def op_image_times(self, within: float) -> dict[str, Any]:
        if self.image_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.image_task), within)
            self.image_task.cancel()
        return {"at": self.image_times}

    async def op_stats(self, tracemalloc_top: int = 0) -> dict[str, Any]:
        ctrl = self._ctrl()
        out: dict[str, Any] = {
            "cpu_s": _cpu_s(),
            "rss_mib": _rss_mib(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "reconciles": ctrl.reconciles,
            "calls": dict(ctrl.api_calls()),
            "leadership_terms": ctrl.elector.transitions,
            "mean_request_ms": _mean_latency(ctrl),
            "gc": GC_PAUSES.snapshot(),
            "loop": LOOP_STALLS.snapshot(),
        }
        if tracemalloc_top:
            import tracemalloc

            if tracemalloc.is_tracing():
                snap = tracemalloc.take_snapshot()
                out["tracemalloc_top"] = [
                    f"{st.size / 1024 / 1024:.1f} MiB {st.count} blocks {st.traceback.format()[-1].strip()}"
                    for st in snap.statistics("lineno")[:tracemalloc_top]
                ]
        return out


async def _serve_controller(cfg: dict[str, Any]) -> None:
    if cfg.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start(1)
    gctune.tune(tuple(cfg["gc_threshold"]))  # as fedctl run does
    GC_PAUSES.install()
    LOOP_STALLS.start()
    driver = _Driver(cfg)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            op = cmd.pop("op")
            try:
                answer = await getattr(driver, f"op_{op}")(**cmd)
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        if driver.task is not None:
            driver.task.cancel()
            await asyncio.gather(driver.task, return_exceptions=True)
        if driver.ctrl is not None:
            await driver.ctrl.host_raw.close()


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
        f"{r['workers']} workers, clients paced at {r['kube_qps']:g} qps / burst {r['kube_burst']} "
        "per cluster)"
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
        f"apps, {r['rss_end_mib']} MiB at the end; {r['rss_per_app_kib']} KiB per app); "
        f"CPU: {r['converge_cpu_s']} s while converging, "
        f"{r['cpu_s_total']} s in all; the simulator's CPU while converging: {r['converge_sim_cpu_s']} s"
    )
    click.echo(
        f"  propagation of {r['propagation_updates']} spec updates at steady state: "
        f"P50 {r['propagation_p50_s']} s, P99 {r['propagation_p99_s']} s; "
        f"writes in 5 s of a quiet fleet: {r['quiet_writes_5s']}"
    )
    click.echo(
        f"  garbage collector: {r['gc_full_collections']} full collections, the longest pausing "
        f"{r['gc_full_max_pause_s']} s; {r['gc_pause_total_s']} s paused in all (thresholds "
        f"{tuple(r['gc_threshold'])}); event loop: {r['loop_stalls_over_100ms']} stalls over 0.1 s, "
        f"the longest {r['loop_stall_max_s']} s"
    )
    for line in r.get("tracemalloc_top", []):
        click.echo(f"  allocated: {line}")
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
@click.option(
    "--kube-qps",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_QPS,
    show_default=True,
    help="The controller's requests per second to each cluster (Settings.kube_qps); at the default, "
    "pacing alone bounds a fleet of thousands of apps.",
)
@click.option(
    "--kube-burst",
    type=click.IntRange(min=1),
    default=DEFAULT_BURST,
    show_default=True,
    help="Requests a cluster client may send at once (Settings.kube_burst).",
)
@click.option(
    "--tracemalloc",
    "tracemalloc_top",
    type=click.IntRange(min=0),
    default=0,
    help="Trace the controller's allocations and print the N largest holders at the end of a round "
    "(slows the controller down).",
)
@click.option(
    "--gc-threshold",
    default=",".join(str(n) for n in gctune.DEFAULT_THRESHOLD),
    show_default=True,
    help="The garbage collector's thresholds in the controller and the simulator (the gc_threshold "
    "setting); 700,10,10 is CPython's default.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per round.")
def bench_controller(
    region_counts: str,
    app_counts: str,
    rollout_delay: float,
    workers: int,
    timeout: float,
    kube_qps: float,
    kube_burst: int,
    tracemalloc_top: int,
    gc_threshold: str,
    as_json: bool,
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
    try:
        gc_at = [int(x) for x in gc_threshold.split(",")]
    except ValueError:
        gc_at = []
    if len(gc_at) != 3 or any(n < 0 for n in gc_at):
        raise click.BadParameter("expected three counts such as 50000,20,100", param_hint="--gc-threshold")
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
                        "kube_qps": kube_qps,
                        "kube_burst": kube_burst,
                        "tracemalloc_top": tracemalloc_top,
                        "gc_threshold": gc_at,
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
            f"\n{'regions':>7} {'apps':>6} {'converge s':>10} {'CPU s':>7} {'sim CPU s':>9} {'peak MiB':>9} "
            f"{'KiB/app':>8} {'prop P50 s':>10} {'prop P99 s':>10} {'writes':>6}"
        )
        for r in series:
            click.echo(
                f"{r['regions']:>7} {r['apps']:>6} {r['converge_s']:>10.1f} {r['converge_cpu_s']:>7.1f} "
                f"{r['converge_sim_cpu_s']:>9.1f} "
                f"{r['peak_rss_mib']:>9.1f} {r['rss_per_app_kib']:>8.1f} {r['propagation_p50_s']!s:>10} "
                f"{r['propagation_p99_s']!s:>10} {r['steady_writes'] + r['quiet_writes_5s']:>6}"
            )


if __name__ == "__main__":  # one round, or the controller of one, in its own process (see bench_controller)
    import logging

    logging.basicConfig(level=logging.WARNING)
    if sys.argv[1] == "--controller":
        asyncio.run(_serve_controller(json.loads(sys.argv[2])))
    else:
        print(json.dumps(asyncio.run(run_round(**json.loads(sys.argv[1])))))
