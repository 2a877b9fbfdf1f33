"""The controller process: leader election, host and member watches, the work queues and their workers.

Everything that writes runs only while this process holds the Lease. On becoming leader it starts the
host informers (FederatedApp, MemberCluster, the Secrets holding member kubeconfigs), the member
informers (the Deployments and Services we own, found by the ``app.kubernetes.io/managed-by=fedctl``
label), and the workers of two queues: apps (``namespace/name``) and member clusters (``name``). On
losing the Lease every write is refused at once by the write gate and the active part is torn down.

Sharded (``ControllerConfig.shards``, :mod:`federation.controller.sharding`), every replica runs that
active part at once: the app queue reconciles only the apps of the shards this replica holds (a gained
shard's apps are enqueued, with the sweeps once their health states are resumed from the store), each
app's writes pass its shard's gate, and the leader Lease keeps only the
cluster-level work (MemberCluster status, the member sweeps, the CEN check).

Level-triggered: every event just enqueues a key; a reconcile reads the caches and moves the world one
step toward the spec. A periodic resync enqueues everything, and each member is probed on its own
period (and at once when one of its watches fails).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from federation.api import constants as c
from federation.api.membercluster import MemberCluster
from federation.backoff import NO_RETRY
from federation.clusters.kubeapi import (
    DEFAULT_BURST,
    DEFAULT_QPS,
    DEPLOYMENTS,
    NODES,
    SECRETS,
    SERVICES,
    KubeApi,
    KubeError,
)
from federation.clusters.propagate import Propagator
from federation.clusters.registry import Member, MemberRegistry
from federation.clusters.resources import FEDERATEDAPPS, MEMBERCLUSTERS, OWNED_SELECTOR
from federation.controller.apps import AppReconciler
from federation.controller.clusters import ClusterReconciler
from federation.controller.collaborators import AppCollaborators, ClusterCollaborators, ClusterSettings
from federation.controller.events import EventRecorder
from federation.controller.informer import Informer, Obj
from federation.controller.leader import LeaderElector
from federation.controller.members import MemberDirectory, MemberReachability, MemberView
from federation.controller.queue import WorkQueue, run_workers
from federation.controller.sharding import CURRENT, ShardManager
from federation.controller.shards import shard_of
from federation.controller.steps import ReconcileStep
from federation.health.source import AllOf, RegionHealthSource

if TYPE_CHECKING:
    from federation.cloud.alibaba.cen import CenApi
    from federation.cloud.alibaba.slb import SlbApi
    from federation.controller.sweeps import ControllerHealth
    from federation.dns.publisher import DnsPublisher
    from federation.health.sweeps import HealthConfig
    from federation.network.monitor import NetworkMonitor
    from federation.slb.step import SlbStep

__all__ = ["Controller", "ControllerConfig", "MemberView"]

log = logging.getLogger(__name__)
# Seconds a member object's change waits before its app is reconciled: the members of an app change
# together (a rollout's status in ten regions), and one reconcile reads them all.
MEMBER_NEWS_WINDOW = 0.1


@dataclass
class ControllerConfig:
    namespace: str = "federation-system"  # where the Lease lives
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    lease_name: str = "fedctl-controller"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_exit: bool = True
    workers: int = 8
    cluster_workers: int = 4
    kube_qps: float = DEFAULT_QPS  # each member client's pacing (Settings.kube_qps, kube_burst)
    kube_burst: int = DEFAULT_BURST
    resync: float = 300.0  # seconds between full resyncs
    probe_interval: float = 10.0  # seconds between member probes
    status_refresh: float = 60.0  # rewrite an unchanged MemberCluster status at most this often
    member_timeout: float = 5.0  # per request to a member
    watch_timeout: int = 300
    service_type: str = "NodePort"
    watch_nodes: bool = False  # keep a Node cache per member (the regional SLB step's backends)
    slb_health_interval: float = 10.0  # seconds between DescribeHealthStatus sweeps of the owned SLBs
    drain_grace: float | None = (
        None  # seconds a leaving region keeps its replicas after DNS moved (None: TTL)
    )
    # retries of a failed app reconcile: per app base_delay * 2**failures up to retry_max_delay, and
    # at most queue_qps retries per second over all apps (queue_burst at once)
    retry_base_delay: float = 0.2
    retry_max_delay: float = 300.0
    queue_qps: float = 10.0
    queue_burst: int = 100
    # 0: one leader does everything and standbys wait; N: apps are split into N shards (Leases) shared
    # by every replica, and only the cluster-level work waits for the leader Lease (see sharding.py)
    shards: int = 0


class Controller:
    def __init__(
        self,
        host: KubeApi,
        config: ControllerConfig | None = None,
        *,
        steps: Sequence[ReconcileStep] = (),
        dns: DnsPublisher | None = None,
        health: Sequence[RegionHealthSource] = (),
        on_leading: Callable[[bool], Awaitable[None]] | None = None,
        slb: SlbApi | None = None,
        store: Any = None,
        sweeps: HealthConfig | None = None,
    ) -> None:
        """``steps`` run after propagation and the SLB step, before DNS; ``dns``, when given, publishes
        each app's records as the last step. Without either the controller places, propagates and
        reports. Without ``slb`` and with ``service_type`` LoadBalancer each region's address is its
        member Service's ingress (:class:`~federation.controller.serviceaddress.ServiceAddressStep`).
        ``health`` adds sources of member health (a health sweep) after the controller's own probes:
        a member any of them calls unschedulable takes no replicas.
        ``on_leading(True)`` is awaited when this replica becomes leader, before any reconcile, and
        ``on_leading(False)`` after it stopped leading (the DNS runtime's hand-over). ``slb``, when
        given, runs the regional SLB step (:class:`~federation.slb.step.SlbStep`) before DNS: apps in
        Managed mode get NodePort Services and an SLB per region; ``store`` keeps its inventory and
        health samples. ``sweeps`` runs the health sweeps (APScheduler, on the leader only; their
        samples and transitions in ``store``; the SLB backend signal through ``slb``) and adds their
        verdicts as one more health source."""

        self.config = config or ControllerConfig()
        self.on_leading = on_leading
        self.host_raw = host  # ungated: the Lease and reads
        self.elector = LeaderElector(
            KubeApi(host.api_client, name="lease", timeout=host.timeout),
            name=self.config.lease_name,
            namespace=self.config.namespace,
            identity=self.config.identity,
            lease_duration=self.config.lease_duration,
            renew_deadline=self.config.renew_deadline,
            retry_period=self.config.retry_period,
            on_started=None if self.config.shards else self._start_active,
            on_stopped=None if self.config.shards else self._stop_active,
        )
        # Sharded, every replica is active: an app's writes pass its shard's gate (the leader's gate
        # still guards what is not any app's, such as MemberCluster status)
        self.sharding: ShardManager | None = None
        self.app_gate: Callable[[], bool] = self.elector.may_write
        self._in_flight: dict[int, int] = {}  # shard -> app reconciles running for it
        if self.config.shards:
            self.sharding = ShardManager(
                KubeApi(host.api_client, name="shards", timeout=host.timeout),
                lease_name=self.config.lease_name,
                namespace=self.config.namespace,
                identity=self.config.identity,
                shards=self.config.shards,
                lease_duration=self.config.lease_duration,
                renew_deadline=self.config.renew_deadline,
                retry_period=self.config.retry_period,
                on_gained=self._shards_gained,
                in_flight=lambda shard: self._in_flight.get(shard, 0),
                # a replica joins once it knows the apps (a rolling update hands shards over to
                # replicas that can work on them at once)
                ready=lambda: self.apps_informer is not None and self.apps_informer.synced.is_set(),
            )
            self.app_gate = self.sharding.gate(self.elector.may_write)
        self.dns_publisher = dns
        self.host = KubeApi(host.api_client, name="host", write_gate=self.app_gate, timeout=host.timeout)
        # the cluster reconciler's own counters: probes and MemberCluster status are not app traffic
        self.host_clusters = KubeApi(
            host.api_client, name="host-clusters", write_gate=self.elector.may_write, timeout=host.timeout
        )
        self.events = EventRecorder(self.host)
        self.members = MemberDirectory()
        self.store = store
        self.slb_step: SlbStep | None = None
        if slb is not None:
            from federation.slb.step import SlbStep

            self.config.watch_nodes = True
            self.slb_step = SlbStep(
                slb,
                ControllerSlbMembers(self),
                db=store,
                resync=self.config.resync,
                on_health_change=lambda key: self.app_queue.add(key),
            )
        self.sweeps: ControllerHealth | None = None
        if sweeps is not None:
            from federation.controller.sweeps import ControllerHealth
            from federation.slb.step import HealthRelay

            self.sweeps = ControllerHealth(
                self.members,
                lambda: self.apps_informer,
                lambda key: self.app_queue.add(key),
                self.enqueue_all_apps,
                config=sweeps,
                db=store,
                leads=self.elector.may_write if self.config.shards else lambda: True,
                owns_app=self.owns_app,
                sharded=bool(self.config.shards),
                # one DescribeHealthStatus per SLB and sweep feeds both the sweeps and the SLB step
                slb=HealthRelay(slb, self.slb_step) if slb is not None and self.slb_step else slb,
            )
            health = [*health, self.sweeps]
        self.health: RegionHealthSource = AllOf([MemberReachability(self.members), *health])
        self.network: NetworkMonitor | None = None  # CEN verdicts, when the network is checked
        self.steps = list(steps)
        if self.slb_step is not None:
            self.steps.insert(0, self.slb_step)
        self.propagator = Propagator(
            self.config.service_type, slb_managed=slb is not None, member_cluster=self._member_cluster
        )
        if self.config.service_type == "LoadBalancer" and slb is None:
            # the member's LoadBalancer Service is the region's endpoint (until the regional SLB step)
            from federation.controller.serviceaddress import ServiceAddressStep

            self.steps.insert(0, ServiceAddressStep(self.members.view))
        if dns is not None:
            from federation.controller.dnsstep import DnsStep

            self.steps.append(DnsStep(dns))
        self.registry = MemberRegistry(
            self.app_gate,
            timeout=self.config.member_timeout,
            qps=self.config.kube_qps,
            burst=self.config.kube_burst,
            on_added=self._member_added,
            on_removed=self._member_removed,
        )
        self.app_queue, self.cluster_queue = self._new_queues()
        self.apps_informer: Informer | None = None
        self.clusters_informer: Informer | None = None
        self.secret_informers: dict[str, Informer] = {}
        # built for each leadership term, from that term's informers and queues
        self.app_reconciler: AppReconciler | None = None
        self.cluster_reconciler: ClusterReconciler | None = None
        self.reconciles = 0
        self._active: list[asyncio.Task[Any]] = []
        self._active_lock = asyncio.Lock()
        self.active = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled."""
        if not self.config.release_on_exit:
            self.elector.release_on_exit = False
            if self.sharding is not None:
                self.sharding.release_on_exit = False
        try:
            if self.sharding is None:
                await self.elector.run()
            else:
                await self._start_active()
                await asyncio.gather(self.elector.run(), self.sharding.run())
        finally:
            await self._stop_active()

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader

    async def _start_active(self) -> None:
        async with self._active_lock:
            if self._active:
                return
            if self.on_leading is not None and self.sharding is None:
                await self.on_leading(True)
            self.app_queue, self.cluster_queue = self._new_queues()
            # what the last term learnt about members is stale: probe everything afresh
            self.members.probes.clear()
            self.apps_informer = Informer(
                self.host, FEDERATEDAPPS, self._on_app, watch_timeout=self.config.watch_timeout
            )
            self.clusters_informer = Informer(
                self.host, MEMBERCLUSTERS, self._on_cluster, watch_timeout=self.config.watch_timeout
            )
            self._build_reconcilers(self.apps_informer, self.clusters_informer)
            self.apps_informer.start()
            self.clusters_informer.start()
            self._active = [
                asyncio.create_task(self._run_after_sync(), name="controller workers"),
                asyncio.create_task(self._resync_loop(), name="controller resync"),
            ]
            if self.slb_step is not None and self.sweeps is None:  # else the sweeps read for it
                self._active.append(
                    asyncio.create_task(
                        self.slb_step.run_health_sweeps(self.config.slb_health_interval), name="slb health"
                    )
                )
            if self.sweeps is not None:
                await self.sweeps.start()  # sweeps run on the leader only
            self.active.set()

    def _new_queues(self) -> tuple[WorkQueue, WorkQueue]:
        cfg = self.config
        apps = WorkQueue(
            base_delay=cfg.retry_base_delay,
            max_delay=cfg.retry_max_delay,
            qps=cfg.queue_qps,
            burst=cfg.queue_burst,
        )
        # a member that fails is probed again on its own period anyway: short retries are enough
        clusters = WorkQueue(base_delay=0.2, max_delay=30.0, qps=cfg.queue_qps, burst=cfg.queue_burst)
        return apps, clusters

    def _build_reconcilers(self, apps: Informer, clusters: Informer) -> None:
        self.app_reconciler = AppReconciler(
            AppCollaborators(
                apps=apps,
                clusters=InformerClusters(clusters),
                members=self.members,
                health=self.health,
                propagation=self.propagator,
                host=self.host,
                events=self.events,
                requeue_after=self.app_queue.add_after,
                probe_member=self.cluster_queue.add,
                steps=self.steps,
                clock=self.now,
                pending_recheck=max(0.5, self.config.probe_interval / 2),
                drain_grace=self.config.drain_grace,
                manages_dns=any(step.name == "DNS" for step in self.steps),
            )
        )
        self.cluster_reconciler = ClusterReconciler(
            ClusterCollaborators(
                clusters=clusters,
                secrets=SecretReader(self.host_clusters, self.secret_informers),
                registry=self.registry,
                members=self.members,
                host=self.host_clusters,
                requeue_after=self.cluster_queue.add_after,
                health_changed=self.enqueue_all_apps,
                settings=ClusterSettings(
                    probe_interval=self.config.probe_interval,
                    member_timeout=self.config.member_timeout,
                    status_refresh=self.config.status_refresh,
                ),
                clock=self.now,
                network=lambda name: self.network.verdict(name) if self.network is not None else None,
                sweeps_hold_healthy=(
                    self.sweeps.holds_healthy if self.sweeps is not None else lambda name: False
                ),
            )
        )

    async def _run_after_sync(self) -> None:
        assert self.apps_informer is not None
        assert self.clusters_informer is not None
        assert self.cluster_reconciler is not None
        await self.clusters_informer.synced.wait()
        # Members first: the app reconciler needs their clients and caches to place anything.
        cluster_workers = asyncio.create_task(
            run_workers(
                self.cluster_queue, self.cluster_reconciler.reconcile, self.config.cluster_workers, "cluster"
            )
        )
        await self._wait_members_synced(max(2.0, self.config.member_timeout))
        await self.apps_informer.synced.wait()
        await asyncio.gather(
            cluster_workers, run_workers(self.app_queue, self._reconcile_app, self.config.workers, "app")
        )

    async def _wait_members_synced(self, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            names = set(self.clusters_informer.cache) if self.clusters_informer else set()
            if names <= self.members.probed():
                return
            await asyncio.sleep(0.05)

    async def _reconcile_app(self, key: str) -> None:
        assert self.app_reconciler is not None
        if self.sharding is None:
            self.reconciles += 1
            await self.app_reconciler.reconcile(key)
            return
        shard = self.shard_of_app(key)
        if shard is None or not self.sharding.holds(shard):
            return  # not ours (any more): the replica holding its shard reconciles it
        if self.sweeps is not None and self.sweeps.resuming(key):
            return  # just gained: enqueued again once its stored health states are read
        if not self.sharding.may_write_shard(shard):
            # ours, but its renewal is late: no reconcile starts while the gate is shut (one that is
            # running has its writes refused); if the shard is lost for good, its apps are enqueued
            # again when it comes back
            self.app_queue.add_after(key, self.config.retry_period)
            return
        self.reconciles += 1
        token = CURRENT.set((key, shard))
        self._in_flight[shard] = self._in_flight.get(shard, 0) + 1
        try:
            await self.app_reconciler.reconcile(key)
        finally:
            self._in_flight[shard] -= 1
            CURRENT.reset(token)

    def shard_of_app(self, key: str) -> int | None:
        """The shard of the app ``namespace/name`` (None: not in the cache, nothing to reconcile)."""
        raw = self.apps_informer.get(key) if self.apps_informer is not None else None
        if raw is None or not self.config.shards:
            return None
        return shard_of(str((raw.get("metadata") or {}).get("uid") or key), self.config.shards)

    def owns_app(self, key: str) -> bool:
        """Whether this replica reconciles the app now (always, unsharded: the leader does them all)."""
        if self.sharding is None:
            return True
        shard = self.shard_of_app(key)
        return shard is not None and self.sharding.holds(shard)

    def _shards_gained(self, shards: set[int]) -> None:
        if self.dns_publisher is not None:
            # the former holder changed these apps' records meanwhile: read them afresh
            self.dns_publisher.forget_owners()
            invalidate = getattr(self.dns_publisher.provider, "invalidate", None)  # alidns's zone cache
            if invalidate is not None:
                invalidate()
        inf = self.apps_informer
        gained = [
            key
            for key, raw in list(inf.cache.items() if inf is not None else [])
            if shard_of(str((raw.get("metadata") or {}).get("uid") or key), self.config.shards) in shards
        ]
        if self.sweeps is not None:
            # their hysteresis moves with the shard: the sweeps resume it from the store (one read for
            # all of them) and enqueue them then, so no reconcile places them by an unknown health
            self.sweeps.shards_gained(gained)
            return
        for key in gained:
            self.app_queue.add(key)

    async def _stop_active(self) -> None:
        async with self._active_lock:
            self.active.clear()
            if self.sweeps is not None:
                await self.sweeps.stop()
            tasks, self._active = self._active, []
            await self.app_queue.shutdown()
            await self.cluster_queue.shutdown()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for inf in [self.apps_informer, self.clusters_informer, *self.secret_informers.values()]:
                if inf is not None:
                    await inf.stop()
            self.secret_informers.clear()
            await self.registry.close()
            self.members.clear()
            if self.on_leading is not None and self.sharding is None:
                await self.on_leading(False)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync)
            self.enqueue_all_apps()
            for name in list(self.clusters_informer.cache if self.clusters_informer else []):
                self.cluster_queue.add(name)

    # --- event handlers: they only enqueue ----------------------------------------------------------

    def _on_app(self, key: str, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and not app_changed(old, new):
            return  # our own status write (or a no-op update): nothing to reconcile
        # the user's change goes before the follow-ups the controller queued for itself
        self.app_queue.add(key, urgent=True)

    def _on_cluster(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self.cluster_queue.add(key)
        ns = _secret_namespace(new)
        if ns and ns not in self.secret_informers:
            inf = Informer(
                self.host, SECRETS, self._on_secret, namespace=ns, watch_timeout=self.config.watch_timeout
            )
            self.secret_informers[ns] = inf
            inf.start()
        gone = _secret_namespace(old)
        if gone and gone != ns:
            self._release_secret_informer(gone)

    def _release_secret_informer(self, ns: str) -> None:
        """Stop watching Secrets in ``ns`` once no MemberCluster references it (the clusters cache
        already holds the event that dropped the last reference)."""
        cache = self.clusters_informer.cache if self.clusters_informer is not None else {}
        if any(_secret_namespace(mc) == ns for mc in cache.values()):
            return
        inf = self.secret_informers.pop(ns, None)
        if inf is not None:
            inf.cancel()

    def _on_secret(self, key: str, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and old.get("data") == new.get("data"):
            return
        ns, _, name = key.partition("/")
        for mc_name, mc in self.clusters_informer.cache.items() if self.clusters_informer else []:
            ref = (mc.get("spec") or {}).get("kubeconfigSecretRef") or {}
            if ref.get("namespace") == ns and ref.get("name") == name:
                self.cluster_queue.add(mc_name)

    def _on_owned(self, key: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        app, ns = labels.get(c.LABEL_APP), labels.get(c.LABEL_APP_NAMESPACE)
        if not app or not ns:
            return
        if old is not None and new is not None and _same_but_noise(old, new):
            return
        # an app backing off after a failure keeps its scheduled retry: a rollout's progress in one
        # member must not turn another member's refusals into a loop
        key = f"{ns}/{app}"
        if self.app_queue.failures(key):
            self.app_queue.nudge(key)
        else:  # the news of every member in a short window makes one reconcile, not one per member
            self.app_queue.add_after(key, MEMBER_NEWS_WINDOW)
        if self.sweeps is not None:
            self.sweeps.deployment_changed(f"{ns}/{app}")  # the rollout signal is watch-driven

    def _on_node(self, member: str, old: Obj | None, new: Obj | None) -> None:
        """A node joined, left, or changed readiness, providerID or labels: every app with a Service in
        that member may need other SLB backends (heartbeats alone enqueue nothing)."""
        if old is not None and new is not None and _node_key(old) == _node_key(new):
            return
        view = self.members.view(member)
        if view is None:
            return
        for svc in list(view.services.cache.values()):
            labels = (svc.get("metadata") or {}).get("labels") or {}
            app, ns = labels.get(c.LABEL_APP), labels.get(c.LABEL_APP_NAMESPACE)
            if app and ns:
                self.app_queue.add(f"{ns}/{app}")

    def enqueue_all_apps(self) -> None:
        for key in list(self.apps_informer.cache if self.apps_informer else []):
            if self.owns_app(key):
                self.app_queue.add(key)

    # --- members ----------------------------------------------------------------------------------

    def _member_added(self, member: Member) -> None:
        def err(exc: KubeError) -> None:
            self.cluster_queue.add(member.name)

        def ok() -> None:
            self.cluster_queue.add(member.name)

        view = MemberView(
            member,
            Informer(
                member.api,
                DEPLOYMENTS,
                self._on_owned,
                label_selector=OWNED_SELECTOR,
                watch_timeout=self.config.watch_timeout,
                on_error=err,
                on_recover=ok,
                max_backoff=2.0,
            ),
            Informer(
                member.api,
                SERVICES,
                self._on_owned,
                label_selector=OWNED_SELECTOR,
                watch_timeout=self.config.watch_timeout,
                on_error=err,
                on_recover=ok,
                max_backoff=2.0,
            ),
        )
        if self.config.watch_nodes:

            def on_node(key: str, old: Obj | None, new: Obj | None) -> None:
                self._on_node(member.name, old, new)

            view.nodes = Informer(
                member.api,
                NODES,
                on_node,
                watch_timeout=self.config.watch_timeout,
                on_error=err,
                on_recover=ok,
                max_backoff=2.0,
            )
        # Propagation's own client over the member's connections (same pacing): a write the member
        # refuses fails the reconcile at once and the work queue's per-app backoff decides when to try
        # again; retrying inside the call too would hold a worker and multiply every attempt.
        view.writer = KubeApi(
            member.api.api_client,
            name=member.name,
            write_gate=self.app_gate,
            timeout=member.api.timeout,
            retry=NO_RETRY,
        )
        self.members.views[member.name] = view
        view.deployments.start()
        view.services.start()
        if view.nodes is not None:
            view.nodes.start()

    async def _member_removed(self, member: Member) -> None:
        view = self.members.views.pop(member.name, None)
        if view is not None:
            await view.deployments.stop()
            await view.services.stop()
            if view.nodes is not None:
                await view.nodes.stop()

    def check_network(self, api: CenApi, interval: float) -> NetworkMonitor:
        """Check CEN behind the fleet every ``interval`` seconds while leading: members get the
        ``NetworkReady`` condition and apps whose regions cannot reach each other are ``Degraded``.
        The returned monitor is a service of the process (start/stop)."""
        from federation.controller.networkstep import NetworkStep, StoredPairs
        from federation.network.monitor import NetworkMonitor

        self.network = NetworkMonitor(
            api,
            _ControllerFleet(self),
            interval=interval,
            on_member_change=lambda name: self.cluster_queue.add(name),
            on_app_change=lambda key: self.app_queue.add(key),
            # sharded, the apps of other replicas' shards follow the elected replica's pair verdicts
            shared=StoredPairs(self.store) if self.config.shards and self.store is not None else None,
        )
        self.steps.insert(0, NetworkStep(self.network))
        return self.network

    def member_for(self, cluster_name: str) -> MemberView | None:
        return self.members.view(cluster_name)

    def member_clusters(self) -> list[MemberCluster]:
        return InformerClusters(self.clusters_informer).member_clusters() if self.clusters_informer else []

    def _member_cluster(self, name: str) -> MemberCluster | None:
        raw = self.clusters_informer.get(name) if self.clusters_informer else None
        if raw is None:
            return None
        try:
            return MemberCluster.model_validate(raw)
        except ValidationError:
            return None

    # --- introspection (tests, bench, dashboard) ---------------------------------------------------

    def api_calls(self) -> dict[str, int]:
        """Requests the app reconciles and watches made so far, per verb, to the host and every member
        (Lease renewals, member probes and MemberCluster status are counted apart)."""
        total: dict[str, int] = dict(self.host.calls)
        for view in self.members.all_views():
            for api in (view.member.api, view.writer):
                for verb, n in (api.calls if api is not None else {}).items():
                    total[verb] = total.get(verb, 0) + n
        return total

    async def wait_idle(self, within: float = 30.0, settle: float = 0.2) -> bool:
        """Wait until the app queue has been empty with nothing in flight for ``settle`` seconds."""
        deadline = time.monotonic() + within
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if not self.app_queue.busy and not self.cluster_queue.busy:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            await asyncio.sleep(0.02)
        return False

    def now(self) -> datetime:
        return datetime.now(UTC)


def _secret_namespace(mc: Obj | None) -> str | None:
    """The namespace of a MemberCluster's kubeconfig Secret."""
    ref = ((mc or {}).get("spec") or {}).get("kubeconfigSecretRef") or {}
    ns = ref.get("namespace")
    return str(ns) if ns else None


# what a reconcile of the app depends on, besides the spec (generation): a change of any enqueues it
_APP_METADATA = ("generation", "deletionTimestamp", "finalizers", "labels", "annotations", "uid")


def app_changed(old: Obj, new: Obj) -> bool:
    """Whether a FederatedApp changed in anything but its status (and server-kept bookkeeping such as
    resourceVersion and managedFields): our own status writes must not enqueue the app again."""
    if old.get("spec") != new.get("spec"):
        return True
    before, after = old.get("metadata") or {}, new.get("metadata") or {}
    return any(before.get(k) != after.get(k) for k in _APP_METADATA)


def _same_but_noise(old: Obj, new: Obj) -> bool:
    """Whether two versions of an owned object differ only in what no reconcile depends on."""
    return bool(
        old.get("spec") == new.get("spec")
        and old.get("status") == new.get("status")
        and (old.get("metadata") or {}).get("labels") == (new.get("metadata") or {}).get("labels")
        and (old.get("metadata") or {}).get("deletionTimestamp")
        == (new.get("metadata") or {}).get("deletionTimestamp")
    )


def _node_key(node: Obj) -> tuple[Any, ...]:
    """What of a Node the SLB backends depend on."""
    ready = next(
        (
            cd.get("status")
            for cd in (node.get("status") or {}).get("conditions") or []
            if cd.get("type") == "Ready"
        ),
        None,
    )
    return (ready, (node.get("spec") or {}).get("providerID"), (node.get("metadata") or {}).get("labels"))


class InformerClusters:
    """The valid MemberClusters in the host cache (an invalid one is the cluster reconciler's to report)."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer

    def member_clusters(self) -> list[MemberCluster]:
        out = []
        for obj in self.informer.cache.values():
            try:
                out.append(MemberCluster.model_validate(obj))
            except ValidationError:
                continue
        return out


class ControllerSlbMembers:
    """The member clusters as the SLB step reads them: the controller's caches, no API calls."""

    def __init__(self, ctrl: Controller) -> None:
        self.ctrl = ctrl

    def member_cluster(self, name: str) -> MemberCluster | None:
        return self.ctrl._member_cluster(name)

    def regions(self) -> set[str]:
        return {mc.spec.region for mc in self.ctrl.member_clusters()}

    def known(self, cluster: str) -> bool:
        view = self.ctrl.members.view(cluster)
        return view is not None and view.reachable is not False and view.synced

    def service(self, cluster: str, key: str) -> Obj | None:
        view = self.ctrl.members.view(cluster)
        svc = view.services.get(key) if view is not None else None
        labels = ((svc or {}).get("metadata") or {}).get("labels") or {}
        ns, _, name = key.partition("/")
        ours = (
            labels.get(c.LABEL_MANAGED_BY) == c.MANAGED_BY
            and labels.get(c.LABEL_APP) == name
            and labels.get(c.LABEL_APP_NAMESPACE) == ns
        )
        return svc if ours else None

    def nodes(self, cluster: str) -> list[Obj]:
        view = self.ctrl.members.view(cluster)
        if view is None or view.nodes is None:
            return []
        return list(view.nodes.cache.values())


class SecretReader:
    """A member's kubeconfig Secret: from the watch cache of its namespace once synced, else one GET."""

    def __init__(self, host: KubeApi, informers: dict[str, Informer]) -> None:
        self.host = host
        self.informers = informers

    async def secret(self, namespace: str, name: str) -> Obj | None:
        cache = self.informers.get(namespace)
        if cache is not None and cache.synced.is_set():
            return cache.get(f"{namespace}/{name}")
        return await self.host.get(SECRETS, name, namespace)


class _ControllerFleet:
    """The network monitor's view of the fleet: this controller's caches, read while it leads."""

    def __init__(self, ctrl: Controller) -> None:
        self.ctrl = ctrl

    def member_objects(self) -> list[Obj]:
        inf = self.ctrl.clusters_informer
        return list(inf.cache.values()) if inf is not None else []

    def app_objects(self) -> list[Obj]:
        inf = self.ctrl.apps_informer
        return list(inf.cache.values()) if inf is not None else []

    def is_leader(self) -> bool:
        return self.ctrl.is_leader and self.ctrl.active.is_set()
