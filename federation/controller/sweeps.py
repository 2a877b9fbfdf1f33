"""The health sweeps inside the controller: what to probe from its caches, and what they concluded for
placement.

:class:`ControllerHealth` is three things for the controller:

* the sweeps' :class:`~federation.health.sweeps.HealthSource`: members (with their probe clients) from
  the member directory, apps from the FederatedApp cache (each region's cluster, address, SLB and
  desired replicas from the app's status, its Deployment from the member's cache);
* a :class:`~federation.health.source.RegionHealthSource`: a member whose API or nodes signal is
  unhealthy takes no replicas (with the signal's reason), and per app and region the rollout, SLB and
  VIP signals (``app_health``); unknown never drains;
* the lifecycle of the :class:`~federation.health.scheduler.HealthScheduler`: started when this
  replica takes the Lease, stopped when it loses it. A transition enqueues the affected apps at once.
  Sharded, every replica runs it: the member signals only on the elected replica (the others read
  its member states from the store), the app signals for the apps of the replica's shards.

Hysteresis moves with a shard: a replica that gains shards resumes their apps' machines from the
states the previous holder stored (:meth:`ControllerHealth.shards_gained`), before it sweeps or
reconciles them, so a region confirmed unhealthy stays out of DNS rather than starting from unknown;
the replica that lost them forgets them without writing (the rows are the new holder's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from federation.api.membercluster import MemberCluster
from federation.health.hysteresis import State
from federation.health.probes import SlbHealthApi
from federation.health.scheduler import HealthScheduler
from federation.health.signals import APP_SIGNALS, MEMBER_SIGNALS, Signal, reason
from federation.health.source import HEALTHY, MemberHealth
from federation.health.sweeps import AppInfo, HealthConfig, HealthService, MemberInfo
from federation.health.targets import app_info
from federation.placement import Schedulability

if TYPE_CHECKING:
    from federation.controller.informer import Informer
    from federation.controller.members import MemberDirectory

log = logging.getLogger(__name__)

# How long a gained shard's apps wait for their stored health states (one store read): a store that
# does not answer by then leaves them to start from unknown, as without a store, rather than unreconciled.
RESUME_TIMEOUT = 5.0


class ControllerHealth:
    def __init__(
        self,
        members: MemberDirectory,
        apps: Callable[[], Informer | None],
        enqueue_app: Callable[[str], None],
        enqueue_all: Callable[[], None],
        *,
        config: HealthConfig | None = None,
        db: Any = None,
        slb: SlbHealthApi | None = None,
        leads: Callable[[], bool] = lambda: True,
        owns_app: Callable[[str], bool] = lambda key: True,
        sharded: bool = False,
        follow_interval: float = 2.0,
    ) -> None:
        self.directory = members
        # Sharded, the sweeps run on every replica: the member signals on the leader only (cluster-level
        # work), the app signals of the apps whose shards this replica holds; the other replicas read
        # the leader's member verdicts from the store every ``follow_interval`` seconds
        self._leads = leads
        self._owns_app = owns_app
        self._sharded = sharded
        self._db = db
        self.follow_interval = follow_interval
        self._shared: dict[tuple[str, str], tuple[str, str]] = {}  # (signal, cluster) -> (state, reason)
        self._follower: asyncio.Task[None] | None = None
        self._apps = apps
        self._enqueue_app = enqueue_app
        self._enqueue_all = enqueue_all
        self.service = HealthService(self, db=db, config=config, on_change=self._changed, slb=slb)
        self.scheduler = HealthScheduler(self.service)
        # (app, region) held out for an app signal, and since when: it comes back only once every app
        # signal has been probed healthy after that (see ``app_health``)
        self._held: dict[tuple[str, str], datetime] = {}
        self._rechecks: set[str] = set()
        # apps of gained shards whose stored states are being read (app -> reads pending): neither swept
        # nor reconciled meanwhile; the number, as a shard can be gained again before a read is done
        self._resuming: dict[str, int] = {}
        self._resumes: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.scheduler.start()
        log.info("health: sweeps started (%d jobs)", len(self.scheduler.schedule()))
        if self._sharded and self._db is not None and self._follower is None:
            self._follower = asyncio.create_task(self._follow_members(), name="health member verdicts")

    async def stop(self) -> None:
        task, self._follower = self._follower, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        resumes = list(self._resumes)
        for t in resumes:
            t.cancel()
        await asyncio.gather(*resumes, return_exceptions=True)
        self._resuming.clear()
        await self.scheduler.stop()

    # --- shards moving ------------------------------------------------------------------------------

    def shards_gained(self, apps: Collection[str]) -> None:
        """The apps of shards this replica just took: resume their hysteresis from the store, then
        enqueue them (every one, read or not). Until then they are neither swept (a probe from unknown
        would restart their hysteresis) nor reconciled (see :meth:`resuming`)."""
        keys = sorted(set(apps))
        if not keys:
            return
        if self._db is None:
            for key in keys:
                self._enqueue_app(key)
            return
        for key in keys:
            self._resuming[key] = self._resuming.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._resume(keys), name="health resume gained apps")
        self._resumes.add(task)
        task.add_done_callback(self._resumes.discard)

    def resuming(self, app: str) -> bool:
        """Whether the app's stored health states are still being read (its shard was just gained)."""
        return app in self._resuming

    async def _resume(self, keys: list[str]) -> None:
        try:
            async with asyncio.timeout(RESUME_TIMEOUT):
                taken = await self.service.resume(keys)
            log.info("health: resumed %d target state(s) of %d app(s) gained", taken, len(keys))
        except TimeoutError:
            log.warning("health: the stored states of %d gained app(s) took too long; unknown", len(keys))
        finally:
            for key in keys:
                left = self._resuming.get(key, 0) - 1
                if left > 0:
                    self._resuming[key] = left
                else:
                    self._resuming.pop(key, None)
        # not in ``finally``: a cancelled read (the sweeps stopping) enqueues nothing
        for key in keys:
            self._enqueue_app(key)

    def _sweeps_app(self, key: str) -> bool:
        return self._owns_app(key) and key not in self._resuming

    def swept_elsewhere(self, app: str) -> bool:
        """The app exists but another replica sweeps it (its shard moved): its targets are forgotten here
        without writing an ``unknown`` over the states its new holder stores."""
        if not self._sharded:
            return False
        inf = self._apps()
        return inf is not None and inf.get(app) is not None and not self._sweeps_app(app)

    def _member_view(self) -> bool:
        """Whether this replica's own member sweeps decide (unsharded, or the elected replica)."""
        return not self._sharded or self._leads()

    async def _follow_members(self) -> None:
        """Not the elected replica: the member states its sweeps stored, so every replica places by the
        same member verdicts; a change enqueues every app of this replica."""
        from federation.store.health import latest_health

        kinds = {s.value for s in MEMBER_SIGNALS}
        while True:
            if not self._leads():
                try:
                    rows = await self._db.run(latest_health)
                except Exception as exc:  # keep the last verdicts; try again next interval
                    log.debug("health: reading the member states failed: %s", exc)
                else:
                    shared = {
                        (r.target_kind, r.target_id): (r.state, r.reason or "")
                        for r in rows
                        if r.target_kind in kinds
                    }
                    if shared != self._shared:
                        self._shared = shared
                        self._enqueue_all()
            await asyncio.sleep(self.follow_interval)

    def deployment_changed(self, app: str) -> None:
        self.scheduler.poke_rollout(app)

    def _changed(self, apps: set[str], clusters: set[str]) -> None:
        if clusters:
            self._enqueue_all()  # a member signal: every app may use that member
            return
        for app in apps:
            self._enqueue_app(app)

    # --- HealthSource ------------------------------------------------------------------------------

    def members(self) -> Sequence[MemberInfo]:
        if not self._leads():
            return []
        return [MemberInfo(v.name, v.member.region, v.member.probe_api) for v in self.directory.all_views()]

    def _deployment(self, cluster: str, key: str) -> dict[str, Any] | None:
        view = self.directory.view(cluster)
        return view.deployments.get(key) if view is not None else None

    def apps(self) -> Sequence[AppInfo]:
        inf = self._apps()
        if inf is None:
            return []
        out = []
        for raw in list(inf.cache.values()):
            info = app_info(raw, self._deployment)
            if info is not None and self._sweeps_app(info.key):
                out.append(info)
        return out

    def app(self, key: str) -> AppInfo | None:
        """One app (``namespace/name``): what each app's VIP job asks, without translating every app."""
        inf = self._apps()
        raw = inf.get(key) if inf is not None else None
        info = app_info(raw, self._deployment) if raw is not None else None
        return info if info is not None and self._sweeps_app(info.key) else None

    # --- RegionHealthSource ------------------------------------------------------------------------

    def holds_healthy(self, cluster: str) -> bool:
        """The member API signal is healthy (a failed probe elsewhere is not confirmed yet)."""
        if not self._member_view():
            shared = self._shared.get((Signal.MEMBER.value, cluster))
            return shared is not None and shared[0] == State.HEALTHY.value
        m = self.service.tracker.machines.get((Signal.MEMBER.value, cluster))
        return m is not None and m.state is State.HEALTHY

    def member_health(self, cluster: MemberCluster) -> MemberHealth:
        if not self._member_view():
            for signal in MEMBER_SIGNALS:
                shared = self._shared.get((signal.value, cluster.name))
                if shared is not None and shared[0] == State.UNHEALTHY.value:
                    return MemberHealth(Schedulability.UNHEALTHY, shared[1] or f"{signal.value} unhealthy")
            return HEALTHY
        machines = self.service.tracker.machines
        for signal in MEMBER_SIGNALS:
            m = machines.get((signal.value, cluster.name))
            if m is not None and m.state is State.UNHEALTHY:
                return MemberHealth(Schedulability.UNHEALTHY, reason(signal, m))
        return HEALTHY

    def app_health(self, app: str, region: str, cluster: MemberCluster) -> MemberHealth:
        v = self.service.verdict(app, region, None)  # the app signals; member signals come above
        key = (app, region)
        if v.unhealthy:
            # the app fails there (its rollout, SLB backends or VIP), not the member: one replica
            # stays, or nothing could ever show that it works there again
            canary = all(s.signal in APP_SIGNALS for s in v.unhealthy)
            self._held.setdefault(key, self.service.clock())
            return MemberHealth(Schedulability.UNHEALTHY, v.reason, canary=canary)
        held_since = self._held.get(key)
        if held_since is not None:
            # Back only on fresh evidence from every app signal. While the region had no ready replica
            # the SLB and VIP were not probed, so their last state is from before the failure; and an
            # SLB marks recovered backends normal only after its own healthy threshold. Releasing on the
            # rollout alone would put the region back in DNS and pull it out again a second later.
            waiting = self._unconfirmed(app, region, held_since)
            if waiting:
                self._recheck(app)
                return MemberHealth(
                    Schedulability.UNHEALTHY,
                    "recovering: waiting for " + ", ".join(waiting) + " to be probed healthy again",
                    canary=True,
                )
            del self._held[key]
        return HEALTHY

    def _unconfirmed(self, app: str, region: str, since: datetime) -> list[str]:
        from federation.health.signals import LABELS, app_target_id

        machines = self.service.tracker.machines
        out = []
        for signal in APP_SIGNALS:
            m = machines.get((signal.value, app_target_id(app, region)))
            if m is None:
                continue
            if m.state is not State.HEALTHY or m.confirming or m.last_at is None or m.last_at <= since:
                out.append(LABELS[signal])
        return out

    def _recheck(self, app: str) -> None:
        """Look at a recovering app again shortly: its signals' next probes may release it without a
        transition (a stale healthy state confirmed again changes nothing the sweeps report)."""
        if app in self._rechecks:
            return
        self._rechecks.add(app)

        def fire() -> None:
            self._rechecks.discard(app)
            self._enqueue_app(app)

        asyncio.get_running_loop().call_later(1.0, fire)
