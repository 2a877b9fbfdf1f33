"""The health sweeps: ask the controller's caches what to probe, probe it, feed the machines, persist
what was learnt in one transaction per sweep, and tell the controller which apps a transition affects.

What to probe comes from a :class:`HealthSource` (the controller implements it from its informer
caches: members with their clients, apps with each region's address, Deployment and SLB), so this
module knows nothing of the controller and runs as well from ``fedctl sweep --once``.

A target whose machine is *confirming* (some evidence against its state, not yet its threshold) is
probed again after ``fast_interval`` within the same sweep, up to its threshold: a failure threshold
of 3 at a 0.25 s fast interval takes 0.5 s after the first failure, not two more full intervals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from federation.health.hysteresis import State, Thresholds
from federation.health.probes import (
    ALL_NETWORKS,
    MemberApi,
    ProbeOutcome,
    ProbeScope,
    SlbHealthApi,
    member_probe,
    slb_probe,
    tcp_probe_many,
    vip_probe,
)
from federation.health.signals import (
    APP_SIGNALS,
    MEMBER_SIGNALS,
    Result,
    Signal,
    Target,
    Verdict,
    app_target_id,
    nodes_result,
    rollout_result,
    slb_result,
)
from federation.health.tracker import HealthTracker, Outcome

log = logging.getLogger(__name__)


# --- what the controller tells us ---------------------------------------------------------------------


@dataclass(frozen=True)
class MemberInfo:
    name: str
    region: str
    api: MemberApi | None  # None until the controller has a client for it


@dataclass(frozen=True)
class VipSpec:
    """An app's ``spec.healthProbe``, resolved (the port defaulted to the first service port)."""

    kind: str = "TCP"
    port: int = 80
    path: str = "/"
    interval: float = 2.0
    timeout: float = 1.0
    failure_threshold: int = 8
    success_threshold: int = 2


@dataclass(frozen=True)
class AppRegionInfo:
    region: str
    cluster: str | None = None
    address: str | None = None
    desired: int = 0
    ready: int = 0  # ready replicas the app's status reports there (nothing ready: VIP/SLB not judged)
    deployment: dict[str, Any] | None = None
    load_balancer_id: str | None = None


@dataclass(frozen=True)
class AppInfo:
    key: str  # namespace/name
    vip: VipSpec
    regions: tuple[AppRegionInfo, ...]
    hostname: str = ""


class HealthSource(Protocol):
    def members(self) -> Sequence[MemberInfo]: ...

    def apps(self) -> Sequence[AppInfo]: ...


@dataclass
class HealthConfig:
    """Sweep intervals and thresholds (see the README's "Health" section for why these values)."""

    member_interval: float = 2.0
    member_timeout: float = 1.5
    member_thresholds: Thresholds = field(default_factory=lambda: Thresholds(failure=8, success=2))
    nodes_thresholds: Thresholds = field(default_factory=lambda: Thresholds(failure=2, success=1))
    rollout_interval: float = 2.0
    rollout_thresholds: Thresholds = field(default_factory=lambda: Thresholds(failure=2, success=1))
    slb_interval: float = 2.0
    slb_timeout: float = 2.0
    slb_thresholds: Thresholds = field(default_factory=lambda: Thresholds(failure=2, success=1))
    fast_interval: float = 0.2
    jitter: float = 0.2  # seconds added at random to each run, so many jobs don't fire on one tick
    misfire_grace: float = 5.0
    max_concurrency: int = 1000  # probes in flight at once
    probe_networks: tuple[str, ...] = ALL_NETWORKS
    latency_source: str = "controller"  # the latency samples' source (a line code makes steering use them)
    retention_days: int = 14
    restore_max_age: float = 120.0  # stored states younger than this are resumed on start
    sync_interval: float = 2.0  # how often the job set is matched to the apps and members
    forget_after: float = 30.0  # a target gone from the caches and not probed this long is forgotten


@dataclass(frozen=True, slots=True)
class Seen:
    """One line of ``fedctl sweep --once``: what a probe saw."""

    signal: str
    target: str
    region: str
    ok: bool | None
    detail: str
    latency_ms: float | None
    state: str


@dataclass
class SweepReport:
    signal: str
    seen: list[Seen] = field(default_factory=list)
    transitions: int = 0
    started: datetime | None = None
    seconds: float = 0.0


ChangeCallback = Callable[[set[str], set[str]], None]


class HealthService:
    """Runs the sweeps; owns the tracker. ``db`` may be None (nothing persisted)."""

    def __init__(
        self,
        source: HealthSource,
        *,
        db: Any = None,
        config: HealthConfig | None = None,
        on_change: ChangeCallback | None = None,
        slb: SlbHealthApi | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.source = source
        self.db = db
        self.config = config or HealthConfig()
        self.on_change = on_change
        self.slb = slb
        self.clock = clock or (lambda: datetime.now(UTC))
        self.scope = ProbeScope.parse(self.config.probe_networks)
        self.tracker = HealthTracker()
        self._sem = asyncio.Semaphore(self.config.max_concurrency)
        self.sweeps = 0
        self.last: dict[str, SweepReport] = {}
        # group commit: what sweeps hand over while a write is under way goes in the next one
        self._queued: list[Outcome] = []
        self._queued_latency: list[Any] = []
        self._queued_done: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0  # store transactions made (a test and the bench read it)

    # --- what the controller asks --------------------------------------------------------------------

    def verdict(self, app: str, region: str, cluster: str | None) -> Verdict:
        return self.tracker.verdict(app, region, cluster)

    def member_state(self, cluster: str) -> tuple[State, str]:
        """The member API signal's state and reason."""
        from federation.health.signals import reason

        m = self.tracker.machines.get((Signal.MEMBER.value, cluster))
        if m is None:
            return State.UNKNOWN, ""
        return m.state, reason(Signal.MEMBER, m)

    async def restore(self) -> int:
        """Resume recent states from the store (a lost or stale store: everything starts unknown)."""
        if self.db is None:
            return 0
        from federation.store.health import latest_health

        try:
            states = await self.db.run(latest_health)
        except Exception as exc:
            log.warning("health: cannot read the stored states (%s); starting from unknown", exc)
            return 0
        cutoff = self.clock() - timedelta(seconds=self.config.restore_max_age)
        recent = [s for s in states if s.updated_at is not None and s.updated_at >= cutoff]
        self.tracker.restore(recent)
        return len(recent)

    async def resume(self, apps: Collection[str]) -> int:
        """Take over the hysteresis of ``apps`` (a shard gained) from what their previous holder
        stored within ``restore_max_age``: one store read for all of them, stale machines replaced (see
        :meth:`HealthTracker.resume`). Returns how many targets were taken over; a store that cannot
        be read leaves them as they are (unknown never drains)."""
        if self.db is None or not apps:
            return 0
        from federation.store.health import app_health_states

        cutoff = self.clock() - timedelta(seconds=self.config.restore_max_age)
        try:
            states = await self.db.run(app_health_states, apps, since=cutoff)
        except Exception as exc:
            log.warning("health: cannot read the stored states of %d gained app(s) (%s)", len(apps), exc)
            return 0
        return len(self.tracker.resume(states, apps))

    # --- the sweeps ----------------------------------------------------------------------------------

    async def sweep_all(self, app: str | None = None) -> list[SweepReport]:
        """Every sweep once (``fedctl sweep --once``)."""
        reports = []
        if app is None:
            reports.append(await self.sweep_members())
        reports.append(await self.sweep_rollouts(app))
        reports.append(await self.sweep_slbs(app=app))
        reports.append(await self.sweep_vips(app))
        if app is None:
            await self.forget_gone()
        return reports

    async def sweep_members(self, names: Sequence[str] | None = None) -> SweepReport:
        members = [m for m in self.source.members() if names is None or m.name in names]
        c = self.config

        def targets(m: MemberInfo) -> tuple[Target, Target]:
            return (
                Target(Signal.MEMBER, m.name, m.region, cluster=m.name, thresholds=c.member_thresholds),
                Target(Signal.NODES, m.name, m.region, cluster=m.name, thresholds=c.nodes_thresholds),
            )

        by_name = {m.name: m for m in members}
        latency: list[tuple[str, float]] = []

        async def probe(t: Target) -> list[Result]:
            m = by_name[t.target_id]
            api_t, nodes_t = targets(m)
            if m.api is None:
                return []
            from federation.clusters.kubeapi import NODES

            async with self._sem:
                out = await member_probe(m.api, limit=c.member_timeout, nodes_resource=NODES)
            results = [Result(api_t, out.api.ok, out.api.detail, out.api.latency_ms)]
            if out.api.latency_ms is not None:
                latency.append((m.region, out.api.latency_ms))
            if out.nodes is not None:
                ok, detail, _, _ = nodes_result(out.nodes)
                results.append(Result(nodes_t, ok, detail))
            return results

        first = [targets(m)[0] for m in members if m.api is not None]
        report = await self._sweep("members", first, probe, self._confirm_member)
        if latency:
            await self._latency(latency)
        return report

    @staticmethod
    def _confirm_member(t: Target) -> Target:
        # a confirming nodes target is confirmed by probing the member again (one probe gives both)
        return Target(Signal.MEMBER, t.target_id, t.region, cluster=t.cluster, thresholds=t.thresholds)

    async def sweep_rollouts(self, app: str | None = None) -> SweepReport:
        """Read each app's Deployment per region from the caches (no API call)."""
        c = self.config
        index: dict[tuple[str, str], AppRegionInfo] = {}
        targets = []
        for a in self._apps(app):
            for r in a.regions:
                if r.cluster is None:
                    continue
                t = Target(
                    Signal.ROLLOUT,
                    app_target_id(a.key, r.region),
                    r.region,
                    app=a.key,
                    cluster=r.cluster,
                    thresholds=c.rollout_thresholds,
                )
                targets.append(t)
                index[t.key] = r

        async def probe(t: Target) -> list[Result]:
            # read the cache again: a confirmation must see the Deployment as it is now
            fresh = {
                (Signal.ROLLOUT.value, app_target_id(a.key, r.region)): r
                for a in self._apps(t.app)
                for r in a.regions
            }
            r = fresh.get(t.key) or index[t.key]
            ok, detail = rollout_result(t.app or "", r.deployment, r.desired)
            return [Result(t, ok, detail)]

        return await self._sweep("rollout", targets, probe)

    async def sweep_slbs(self, region: str | None = None, app: str | None = None) -> SweepReport:
        """``DescribeHealthStatus`` of every app's SLB in a region, batched per region."""
        c = self.config
        targets: list[Target] = []
        lb_of: dict[tuple[str, str], str] = {}
        if self.slb is not None:
            for a in self._apps(app):
                for r in a.regions:
                    # no ready replica: nothing behind the SLB could answer (the rollout signal judges that)
                    if r.load_balancer_id and r.ready > 0 and (region is None or r.region == region):
                        t = Target(
                            Signal.SLB,
                            app_target_id(a.key, r.region),
                            r.region,
                            app=a.key,
                            cluster=r.cluster,
                            thresholds=c.slb_thresholds,
                        )
                        targets.append(t)
                        lb_of[t.key] = r.load_balancer_id
        slb = self.slb

        async def probe_batch(batch: Sequence[Target]) -> list[Result]:
            assert slb is not None
            regions: dict[str, list[Target]] = {}
            for t in batch:
                regions.setdefault(t.region, []).append(t)
            results: list[Result] = []

            async def one_region(reg: str, ts: list[Target]) -> None:
                async with self._sem:
                    answers = await slb_probe(
                        slb, reg, sorted({lb_of[t.key] for t in ts}), limit=c.slb_timeout
                    )
                for t in ts:
                    got = answers[lb_of[t.key]]
                    if isinstance(got, str):
                        results.append(Result(t, None, got))  # the API failed: no verdict on the SLB
                    else:
                        ok, detail = slb_result(got)
                        results.append(Result(t, ok, detail))

            await asyncio.gather(*(one_region(reg, ts) for reg, ts in regions.items()))
            return results

        return await self._sweep("slb", targets, None, batch=probe_batch)

    async def sweep_vips(self, app: str | None = None) -> SweepReport:
        """TCP connect / HTTP GET of every region's address, per the app's ``spec.healthProbe``."""
        targets: list[Target] = []
        where: dict[tuple[str, str], tuple[str, VipSpec, str]] = {}
        skipped: list[Seen] = []
        for a in self._apps(app):
            v = a.vip
            for r in a.regions:
                if not r.address or r.ready <= 0:
                    continue  # no ready replica: nothing could answer (the rollout signal judges that)
                t = Target(
                    Signal.VIP,
                    app_target_id(a.key, r.region),
                    r.region,
                    app=a.key,
                    cluster=r.cluster,
                    thresholds=Thresholds(v.failure_threshold, v.success_threshold),
                )
                if not self.scope.allows(r.address):
                    skipped.append(
                        Seen(
                            "endpoint",
                            t.target_id,
                            r.region,
                            None,
                            f"{r.address} is outside the probe networks",
                            None,
                            "-",
                        )
                    )
                    continue
                targets.append(t)
                where[t.key] = (r.address, v, a.hostname)

        rtts: dict[str, float] = {}

        def result(t: Target, out: ProbeOutcome) -> Result:
            if out.ok and out.latency_ms is not None:
                rtt = rtts.get(t.region)
                if rtt is None or out.latency_ms < rtt:
                    rtts[t.region] = out.latency_ms
            return Result(t, out.ok, out.detail, out.latency_ms)

        async def probe(t: Target) -> list[Result]:
            address, v, host = where[t.key]
            out = await vip_probe(address, v.port, kind=v.kind, path=v.path, limit=v.timeout, host=host)
            return [result(t, out)]

        async def probe_batch(batch: Sequence[Target]) -> list[Result]:
            # TCP connects all at once through one epoll; HTTP GETs one coroutine each, alongside
            tcp = [t for t in batch if where[t.key][1].kind.upper() != "HTTP"]
            http = [t for t in batch if where[t.key][1].kind.upper() == "HTTP"]
            limit = self.config.max_concurrency // 2 if tcp and http else self.config.max_concurrency
            dests = [(a, v.port, v.timeout) for a, v, _ in (where[t.key] for t in tcp)]
            outs, nested = await asyncio.gather(
                tcp_probe_many(dests, concurrency=max(1, limit)),
                self._bounded(probe, http, limit),
            )
            results = [result(t, out) for t, out in zip(tcp, outs, strict=True)]
            for rs in nested:
                results += rs
            return results

        report = await self._sweep("endpoint", targets, None, batch=probe_batch)
        report.seen.extend(skipped)
        if rtts:  # the controller -> region RTT through the VIP: one sample per region and sweep
            await self._latency(sorted(rtts.items()))
        return report

    async def forget_gone(self) -> None:
        """Targets whose app, region, address or member is gone go back to unknown and are forgotten."""
        keep: list[tuple[str, str]] = []
        for m in self.source.members():
            keep += [(s.value, m.name) for s in MEMBER_SIGNALS]
        for a in self.source.apps():
            for r in a.regions:
                tid = app_target_id(a.key, r.region)
                if r.cluster:
                    keep.append((Signal.ROLLOUT.value, tid))
                if r.load_balancer_id:
                    keep.append((Signal.SLB.value, tid))
                if r.address:
                    keep.append((Signal.VIP.value, tid))
        idle = timedelta(seconds=self.config.forget_after)
        # an app whose shard moved is swept, and its states written, by the replica holding it now
        handed_over: Callable[[str], bool] = getattr(self.source, "swept_elsewhere", lambda app: False)
        signals = [*MEMBER_SIGNALS, *APP_SIGNALS]
        await self._dropped(self.tracker.drop(keep, signals, self.clock(), idle, handed_over))

    # --- the common part -----------------------------------------------------------------------------

    def _apps(self, app: str | None) -> list[AppInfo]:
        one = getattr(self.source, "app", None)
        if app is not None and one is not None:
            # each app's VIP job asks for its own app: reading every app for it would make a thousand
            # apps' jobs cost a million translations per interval
            info: AppInfo | None = one(app)
            return [info] if info is not None else []
        return [a for a in self.source.apps() if app is None or a.key == app]

    async def _sweep(
        self,
        name: str,
        targets: Sequence[Target],
        probe: Callable[[Target], Awaitable[list[Result]]] | None,
        confirm_as: Callable[[Target], Target] | None = None,
        batch: Callable[[Sequence[Target]], Awaitable[list[Result]]] | None = None,
    ) -> SweepReport:
        loop = asyncio.get_running_loop()
        started_at = self.clock()
        t0 = loop.time()
        report = SweepReport(name, started=started_at)
        total = Outcome()
        round_targets: Sequence[Target] = targets
        rounds = 0
        limit = max([t.thresholds.failure for t in targets] + [t.thresholds.success for t in targets] + [1])
        while round_targets:
            if batch is not None:
                results = await batch(round_targets)
            else:
                assert probe is not None
                nested = await self._bounded(probe, round_targets)
                results = [r for rs in nested for r in rs]
            out = self.tracker.apply(results, self.clock())
            total.merge(out)
            if rounds == 0:
                for r in results:
                    m = self.tracker.machine(r.target)
                    report.seen.append(
                        Seen(
                            r.target.signal.value,
                            r.target.target_id,
                            r.target.region,
                            r.ok,
                            r.detail,
                            r.latency_ms,
                            m.state.value,
                        )
                    )
            self._notify(out)
            rounds += 1
            if rounds >= limit:
                break
            seen_keys: set[tuple[str, str]] = set()
            nxt = []
            for t in out.confirming:
                t2 = confirm_as(t) if confirm_as is not None else t
                if t2.key not in seen_keys:
                    seen_keys.add(t2.key)
                    nxt.append(t2)
            round_targets = nxt
            if round_targets:
                await asyncio.sleep(self.config.fast_interval)
        report.transitions = len(total.transitions)
        report.seconds = loop.time() - t0
        await self._persist(total)
        self.sweeps += 1
        self.last[name] = report
        return report

    async def _bounded(
        self,
        probe: Callable[[Target], Awaitable[list[Result]]],
        targets: Sequence[Target],
        concurrency: int | None = None,
    ) -> list[list[Result]]:
        """``probe`` over every target, at most ``max_concurrency`` at once: a fixed set of workers
        taking the next target (a semaphore with thousands of waiters costs more than the probes)."""
        if not targets:
            return []
        out: list[list[Result]] = [[] for _ in targets]
        it = iter(enumerate(targets))

        async def worker() -> None:
            for i, t in it:
                out[i] = await probe(t)

        n = max(1, min(concurrency or self.config.max_concurrency, len(targets)))
        await asyncio.gather(*(worker() for _ in range(n)))
        return out

    def _notify(self, out: Outcome) -> None:
        for tr in out.transitions:
            log.info(
                "health: %s %s %s -> %s: %s",
                tr.target_kind,
                tr.target_id,
                tr.from_state,
                tr.to_state,
                tr.reason,
            )
        if (out.affected_apps or out.affected_clusters) and self.on_change is not None:
            self.on_change(set(out.affected_apps), set(out.affected_clusters))

    async def _dropped(self, out: Outcome) -> None:
        if out.transitions or out.states:
            self._notify(out)
            await self._persist(out)

    async def _persist(self, out: Outcome | None = None, latency: Sequence[Any] = ()) -> None:
        """Hand a sweep's results to the store and wait until they are written.

        One transaction per sweep, or fewer: thousands of apps each with its own VIP job finish their
        sweeps many times a second, and a transaction each would outrun the store (SQLite has one
        writer). While a write is under way the results of the sweeps that finish meanwhile queue, and
        the next write takes them all, in the order they came (a state written later wins)."""
        if self.db is None:
            return
        if (out is None or not (out.samples or out.states or out.transitions)) and not latency:
            return
        loop = asyncio.get_running_loop()
        if self._queued_done is None:
            self._queued_done = loop.create_future()
        done = self._queued_done
        if out is not None:
            self._queued.append(out)
        self._queued_latency.extend(latency)
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_queued(), name="health store writer")
        await asyncio.shield(done)  # a cancelled sweep does not cancel the write others wait for

    async def _write_queued(self) -> None:
        while self._queued or self._queued_latency:
            batch, latency, done = self._queued, self._queued_latency, self._queued_done
            self._queued, self._queued_latency, self._queued_done = [], [], None
            try:
                await self.db.run(
                    _write_batch,
                    [s for o in batch for s in o.samples],
                    [s for o in batch for s in o.states],
                    [t for o in batch for t in o.transitions],
                    latency,
                )
                self.writes += 1
            except Exception as exc:  # history, not correctness: a store outage never stops the sweeps
                log.warning("health: writing the sweeps' results failed: %s", exc)
            finally:
                if done is not None and not done.done():
                    done.set_result(None)

    async def _latency(self, rtts: Sequence[tuple[str, float]]) -> None:
        if self.db is None:
            return
        from federation.store.latency import LatencySampleData

        at = self.clock()
        rows = [LatencySampleData(self.config.latency_source, region, rtt, at) for region, rtt in rtts]
        await self._persist(None, rows)

    async def prune(self) -> None:
        """The daily retention job."""
        if self.db is None:
            return
        from federation.store.retention import prune

        result = await self.db.run(prune, retention_days=self.config.retention_days)
        log.info(
            "health: retention removed %d health and %d latency samples",
            result.health_samples,
            result.latency_samples,
        )


def _write_batch(
    session: Any, samples: list[Any], states: list[Any], transitions: list[Any], latency: list[Any]
) -> None:
    from federation.store.health import record_sweep
    from federation.store.latency import record_latency_samples

    if samples or states or transitions:
        record_sweep(session, samples, states, transitions)
    if latency:
        record_latency_samples(session, latency)


__all__ = [
    "APP_SIGNALS",
    "AppInfo",
    "AppRegionInfo",
    "HealthConfig",
    "HealthService",
    "HealthSource",
    "MemberInfo",
    "Seen",
    "SweepReport",
    "VipSpec",
]
