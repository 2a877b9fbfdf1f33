"""The regional load-balancer step: one classic SLB per (app, region), owned, kept in step, removed.

Runs after propagation and before DNS. In ``Managed`` mode (the default) it owns, in every region the app
is placed in, exactly one SLB named ``fedctl-<namespace>-<app>`` and tagged with the app's uid, its
``namespace/name`` and ``managed-by=fedctl``:

* found by those tags (one paged DescribeLoadBalancers per region per resync, shared by every app), so
  a restarted controller adopts what it made; created only when none is found, with a ClientToken
  derived from the app uid, the region and a create counter (tags ride on the create itself), so a
  retried or interrupted create never makes a second one. An SLB with our name but without our tags is
  never touched: reported as ``LoadBalancersReady/NameClash``;
* settings from ``spec.loadBalancer`` (address type, spec, charge type and bandwidth, zones from the
  MemberCluster, deletion protection off); changes applied in place (ModifyLoadBalancerInternetSpec,
  ModifyLoadBalancerInstanceSpec); what cannot change in place (the address type) is reported;
* one started listener per ``spec.ports`` entry forwarding to the Service's NodePort, with the health
  check of ``spec.loadBalancer.healthCheck``; changes by attribute set, removed ports deleted; an HTTPS
  certificate the SLB rejects is a condition, tried again once per resync, not a retry loop;
* backends: the member's Ready nodes by ECS instance id (``spec.providerID``), changed by one
  Add/RemoveBackendServers per 20 servers; a node without a usable providerID is reported, not guessed.

What it wrote it remembers, so a steady state costs no write and no read beyond the shared regional
listing; the listeners and backends are read back (DescribeLoadBalancerAttribute and
DescribeLoadBalancerListeners) when an SLB is first seen and every ``detail_ttl`` seconds after.

``CloudController`` mode leaves the SLB to the member's cloud-controller-manager (the Service carries its
annotations, see :mod:`federation.slb.ccm`) and takes the region's address from the Service; SLBs this
step made for the app earlier are deleted.

Removal: a region the app left, or the deleted app: the SLB (and with it its listeners) is deleted;
an SLB API failure raises, which keeps the finalizer (and the Service the SLB points at) in place and is
retried with backoff.

Backend health: :meth:`SlbStep.sweep_health` reads DescribeHealthStatus of every SLB it owns, keeps the
counts (``status.regions[].backendHealth``, :meth:`SlbStep.backend_health`), stores one health sample per
SLB (``target_kind`` ``slb``) and calls ``on_health_change`` with the app's key when the counts change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from federation.api import constants as c
from federation.api.federatedapp import BackendHealth, FederatedApp
from federation.api.membercluster import MemberCluster
from federation.cloud.alibaba.errors import AlibabaError, NotLeaderError
from federation.cloud.alibaba.slb import BackendServer, ListenerSpec, SlbApi
from federation.controller.steps import StepContext
from federation.slb.ccm import certificate_conflict
from federation.slb.plan import (
    TAG_MANAGED_BY,
    HealthCounts,
    LbSettings,
    ListenerKey,
    client_token,
    desired_backends,
    desired_listeners,
    health_counts,
    lb_settings,
    lb_tags,
    listener_from_api,
    node_ports,
    owned_by,
    plan_backends,
    plan_lb,
    plan_listeners,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
STEP_NAME = "LoadBalancer"


class SlbMembers(Protocol):
    """What the step reads of the member clusters (from the controller's caches: no API calls)."""

    def member_cluster(self, name: str) -> MemberCluster | None: ...

    def regions(self) -> set[str]:
        """Every region a MemberCluster is declared in."""
        ...

    def known(self, cluster: str) -> bool:
        """Whether the member's Service and Node caches are synced and it is not known unreachable."""
        ...

    def service(self, cluster: str, key: str) -> Obj | None:
        """The app's Service (``namespace/name``) in the member, if it is ours."""
        ...

    def nodes(self, cluster: str) -> list[Obj]: ...


class SlbRetry(Exception):
    """Something could not be done this time (an SLB API failure); the app is retried with backoff."""


@dataclass
class _Lb:
    lb_id: str
    region: str
    address: str
    view: Obj  # the DescribeLoadBalancers entry (settings and tags)
    listeners: dict[ListenerKey, ListenerSpec] | None = None  # None: not read since we last knew
    running: set[ListenerKey] = field(default_factory=set)
    backends: set[str] | None = None
    detail_at: float = 0.0
    recorded: bool = False  # in the store's inventory (an adopted SLB is recorded on first sight)


@dataclass
class _Snapshot:
    at: float
    lbs: dict[str, Obj]  # LoadBalancerId -> entry, every SLB tagged managed-by=fedctl in the region


@dataclass
class _Region:
    """What one region's pass found: status fields, and what to report."""

    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # retried (API failures)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (reason, message): reported, not retried
    ready: bool = False


class SlbStep:
    """The ``LoadBalancer`` reconcile step (see the module docstring)."""

    name = STEP_NAME

    def __init__(
        self,
        api: SlbApi,
        members: SlbMembers,
        *,
        db: Any = None,
        resync: float = 300.0,
        detail_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_health_change: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        self.members = members
        self.db = db
        self.resync = resync
        self.detail_ttl = detail_ttl
        self.clock = clock
        self.now = now
        self.on_health_change = on_health_change
        self._snapshots: dict[str, _Snapshot] = {}
        self._snapshot_locks: dict[str, asyncio.Lock] = {}
        self._lbs: dict[tuple[str, str], _Lb] = {}  # (app uid, region)
        self._apps: dict[str, str] = {}  # app uid -> namespace/name
        self._health: dict[tuple[str, str], HealthCounts] = {}
        self._cert_failures: dict[tuple[str, ListenerKey], tuple[str, float, str]] = {}
        self._deleted: dict[tuple[str, str], int] = {}  # SLBs deleted per (uid, region), without a store

    # --- the step --------------------------------------------------------------------------------

    async def apply(self, ctx: StepContext) -> None:
        app = ctx.app
        uid = app.metadata.uid or ""
        if not uid:
            return
        self._apps[uid] = app.key
        placed = {a.name for a in ctx.placement.regions}
        results: dict[str, _Region] = {}
        if app.spec.load_balancer.mode == "CloudController":
            for region in sorted(placed):
                results[region] = self._from_service(app, ctx, region)
            conflict = certificate_conflict(app)
            if conflict:
                results.setdefault("", _Region()).notes.append(("CertificateConflict", conflict))
            keep: set[str] = set()
        else:
            regions = sorted(placed)
            done = await asyncio.gather(*(self._ensure(app, ctx, r) for r in regions))
            results = dict(zip(regions, done, strict=True))
            keep = placed
        removal = _Region()
        try:
            await self._remove(app, self._regions_of(app) - keep)
        except AlibabaError as err:
            removal.problems.append(f"removing SLBs of regions the app left: {err.code}: {err.message}")
        results["-removal"] = removal
        for region, res in results.items():
            if res.fields and region in placed:
                ctx.region_fields.setdefault(region, {}).update(res.fields)
        problems = [p for r in results.values() for p in r.problems]
        notes = [n for r in results.values() for n in r.notes]
        self._condition(ctx, app, results, placed, problems, notes)
        if problems:
            raise SlbRetry("; ".join(problems))
        prev = {cd.type: cd for cd in (ctx.previous_status.conditions if ctx.previous_status else [])}
        failed = prev.get(f"{STEP_NAME}Failed")
        if failed is not None and failed.status == "True":
            ctx.conditions.append((f"{STEP_NAME}Failed", False, "Recovered", ""))

    async def cleanup(self, ctx: StepContext) -> None:
        app = ctx.app
        if not app.metadata.uid:
            return
        regions = self._regions_of(app)
        try:
            for region in regions:  # deletion must see every SLB of ours, not a cached listing
                await self._snapshot(region, force=True)
            await self._remove(app, regions)
        except AlibabaError as err:
            raise SlbRetry(f"deleting the app's SLBs: {err.code}: {err.message}") from None
        self._apps.pop(app.metadata.uid, None)

    def expire_listings(self) -> None:
        """Make every regional listing due, as the passing of a resync interval does (benchmarks)."""
        for snap in self._snapshots.values():
            snap.at = float("-inf")

    # --- introspection: the health sweeps read these -----------------------------------------------

    def backend_health(self, app_key: str, region: str) -> HealthCounts | None:
        """The last DescribeHealthStatus counts of the app's SLB in ``region``."""
        for (uid, r), counts in self._health.items():
            if r == region and self._apps.get(uid) == app_key:
                return counts
        return None

    def owned(self) -> list[tuple[str, str, str, str]]:
        """(app key, region, SLB id, address) of every SLB the step knows it owns."""
        return sorted(
            (self._apps.get(uid, uid), region, lb.lb_id, lb.address)
            for (uid, region), lb in self._lbs.items()
        )

    # --- Managed mode, one region ------------------------------------------------------------------

    async def _ensure(self, app: FederatedApp, ctx: StepContext, region: str) -> _Region:
        res = _Region()
        uid = app.metadata.uid or ""
        obs = ctx.regions.get(region)
        cluster = obs.cluster if obs is not None else None
        mc = self.members.member_cluster(cluster) if cluster else None
        settings = lb_settings(app, mc)
        known = bool(cluster) and self.members.known(str(cluster))
        lb: _Lb | None = None
        try:
            lb = await self._find(uid, region)
            if lb is None:
                if not known:
                    res.notes.append(
                        ("Pending", f"{region}: waiting for member {cluster or '?'} to create the SLB")
                    )
                    return res
                clash = await self._name_clash(uid, region, settings.name)
                if clash:
                    res.notes.append(("NameClash", clash))
                    return res
                lb = await self._create(app, region, settings)
            else:
                if not lb.recorded:
                    await self._inventory_add(app, lb)
                await self._read_detail(lb)
                await self._apply_settings(lb, settings, res)
            res.fields = {"load_balancer_id": lb.lb_id, "address": lb.address}
            if known:
                assert cluster is not None
                await self._apply_listeners(app, lb, self.members.service(cluster, app.key), res)
                await self._apply_backends(lb, self.members.nodes(cluster), res)
                res.fields["listeners"] = listener_lines(lb.listeners or {}, lb.running)
            else:
                res.notes.append(
                    ("Pending", f"{region}: member {cluster or '?'} not reachable; SLB left as it is")
                )
        except NotLeaderError:
            raise
        except AlibabaError as err:
            if lb is not None:
                lb.listeners = lb.backends = None  # read it back before the next change
            res.problems.append(f"{region}: {err.code}: {err.message}")
            return res
        counts = self._health.get((uid, region))
        if counts is not None:
            res.fields["backend_health"] = BackendHealth(
                normal=counts.normal, abnormal=counts.abnormal, unavailable=counts.unavailable
            )
        res.ready = not any(reason != "NodesLeftOut" for reason, _ in res.notes)
        return res

    async def _snapshot(self, region: str, *, force: bool = False) -> dict[str, Obj]:
        """Every SLB tagged managed-by=fedctl in the region: one paged read per resync, shared."""
        lock = self._snapshot_locks.setdefault(region, asyncio.Lock())
        async with lock:
            snap = self._snapshots.get(region)
            if snap is not None and not force and self.clock() - snap.at < self.resync:
                return snap.lbs
            items = await self.api.describe_load_balancers(region, tags={TAG_MANAGED_BY: c.MANAGED_BY})
            lbs = {str(i["LoadBalancerId"]): i for i in items}
            self._snapshots[region] = _Snapshot(self.clock(), lbs)
            # forget what vanished behind our back; refresh what is still there
            for (uid, r), lb in list(self._lbs.items()):
                if r != region:
                    continue
                if lb.lb_id not in lbs:
                    del self._lbs[(uid, r)]
                else:
                    lb.view = lbs[lb.lb_id]
                    lb.address = str(lbs[lb.lb_id].get("Address") or lb.address)
            return lbs

    async def _find(self, uid: str, region: str) -> _Lb | None:
        lbs = await self._snapshot(region)
        cached = self._lbs.get((uid, region))
        if cached is not None and cached.lb_id in lbs:
            return cached
        ours = sorted(
            (v for v in lbs.values() if owned_by(v, uid)),
            key=lambda v: (str(v.get("CreateTime") or ""), str(v["LoadBalancerId"])),
        )
        if not ours:
            return None
        if len(ours) > 1:  # never expected (the ClientToken prevents it); keep the oldest, report the rest
            log.warning(
                "app uid %s has %d SLBs in %s: %s; keeping %s",
                uid,
                len(ours),
                region,
                ", ".join(str(v["LoadBalancerId"]) for v in ours),
                ours[0]["LoadBalancerId"],
            )
        view = ours[0]
        lb = _Lb(str(view["LoadBalancerId"]), region, str(view.get("Address") or ""), view)
        self._lbs[(uid, region)] = lb
        log.info("region %s: adopted SLB %s (%s) of app uid %s", region, lb.lb_id, lb.address, uid)
        return lb

    async def _name_clash(self, uid: str, region: str, name: str) -> str | None:
        same_name = await self.api.describe_load_balancers(region, name=name)
        foreign = [v for v in same_name if not owned_by(v, uid)]
        if not foreign:
            return None
        ids = ", ".join(str(v["LoadBalancerId"]) for v in foreign)
        return f"{region}: SLB {ids} is named {name} but does not carry this app's tags; it is left alone"

    async def _create_counter(self, uid: str, region: str) -> int:
        if self.db is None:
            return self._deleted.get((uid, region), 0)
        from federation.store.inventory import inventory_list

        rows = await self.db.run(
            inventory_list, owner_uid=uid, kind="slb", region=region, include_deleted=True
        )
        return sum(1 for r in rows if r.deleted_at is not None)

    async def _create(self, app: FederatedApp, region: str, s: LbSettings) -> _Lb:
        uid = app.metadata.uid or ""
        token = client_token(uid, region, await self._create_counter(uid, region))
        tags = lb_tags(app)
        answer = await self.api.create_load_balancer(
            region,
            s.name,
            client_token=token,
            address_type=s.address_type,
            spec=s.spec,
            bandwidth=s.bandwidth,
            charge_type=s.charge_type if s.address_type == "internet" else None,
            vpc_id=s.vpc_id,
            vswitch_id=s.vswitch_id,
            master_zone_id=s.master_zone,
            slave_zone_id=s.slave_zone,
            delete_protection=False,
            tags=tags,
        )
        lb_id = str(answer["LoadBalancerId"])
        view: Obj = {
            "LoadBalancerId": lb_id,
            "LoadBalancerName": s.name,
            "Address": answer.get("Address"),
            "AddressType": s.address_type,
            "LoadBalancerSpec": s.spec,
            "InternetChargeType": s.charge_type,
            "Bandwidth": s.bandwidth,
            "TagMap": dict(tags),
        }
        lb = _Lb(lb_id, region, str(answer.get("Address") or ""), view, listeners={}, backends=set())
        lb.detail_at = self.clock()
        self._lbs[(uid, region)] = lb
        snap = self._snapshots.get(region)
        if snap is not None:
            snap.lbs[lb_id] = view
        log.info("region %s: SLB %s (%s) created for %s", region, lb_id, lb.address, app.key)
        await self._inventory_add(app, lb)
        return lb

    async def _read_detail(self, lb: _Lb) -> None:
        if (
            lb.listeners is not None
            and lb.backends is not None
            and self.clock() - lb.detail_at < self.detail_ttl
        ):
            return
        attr = await self.api.describe_load_balancer_attribute(lb.region, lb.lb_id)
        listeners = await self.api.describe_listeners(lb.region, [lb.lb_id])
        lb.backends = {
            str(b["ServerId"]) for b in (attr.get("BackendServers") or {}).get("BackendServer") or []
        }
        lb.listeners = {}
        lb.running = set()
        for item in listeners:
            spec = listener_from_api(item)
            key = (spec.listener_port, spec.protocol)
            lb.listeners[key] = spec
            if str(item.get("Status") or "") == "running":
                lb.running.add(key)
        lb.detail_at = self.clock()

    async def _apply_settings(self, lb: _Lb, s: LbSettings, res: _Region) -> None:
        changes = plan_lb(s, lb.view)
        if changes.internet_spec is not None:
            charge, bandwidth = changes.internet_spec
            await self.api.modify_internet_spec(lb.region, lb.lb_id, charge_type=charge, bandwidth=bandwidth)
            lb.view["InternetChargeType"] = charge
            if bandwidth is not None:
                lb.view["Bandwidth"] = bandwidth
        if changes.instance_spec is not None:
            await self.api.modify_instance_spec(lb.region, lb.lb_id, changes.instance_spec)
            lb.view["LoadBalancerSpec"] = changes.instance_spec
        for what in changes.immutable:
            res.notes.append(
                (
                    "RecreateRequired",
                    f"{lb.region}: SLB {lb.lb_id}: {what} cannot change in place; remove the region "
                    "from the app and add it back to get a new SLB",
                )
            )

    async def _apply_listeners(self, app: FederatedApp, lb: _Lb, service: Obj | None, res: _Region) -> None:
        assert lb.listeners is not None
        want, problems = desired_listeners(app, node_ports(service), lb.region)
        for problem in problems:
            res.notes.append(("Pending", f"{lb.region}: {problem}"))
        if problems:  # until every port has its NodePort, change nothing (a partial set would delete)
            return
        plan = plan_listeners(want, lb.listeners, lb.running)
        for key in plan.delete:
            await self.api.delete_listener(lb.region, lb.lb_id, key[0], key[1])
            lb.listeners.pop(key, None)
            lb.running.discard(key)
        for spec in plan.create:
            key = (spec.listener_port, spec.protocol)
            if not await self._certified(lb, key, spec, res, self.api.create_listener):
                continue
            lb.listeners[key] = spec
            await self.api.start_listener(lb.region, lb.lb_id, key[0], key[1])
            lb.running.add(key)
        for spec in plan.update:
            key = (spec.listener_port, spec.protocol)
            if await self._certified(lb, key, spec, res, self.api.set_listener_attribute):
                lb.listeners[key] = spec
        for key in plan.start:
            await self.api.start_listener(lb.region, lb.lb_id, key[0], key[1])
            lb.running.add(key)

    async def _certified(
        self,
        lb: _Lb,
        key: ListenerKey,
        spec: ListenerSpec,
        res: _Region,
        call: Callable[[str, str, ListenerSpec], Awaitable[None]],
    ) -> bool:
        """Make ``call``; an HTTPS certificate the SLB rejects is reported and tried again only after a
        resync interval (or at once when the app names another certificate)."""
        failed = self._cert_failures.get((lb.lb_id, key))
        if failed is not None and failed[0] == spec.certificate_id and self.clock() - failed[1] < self.resync:
            res.notes.append(("CertificateNotFound", failed[2]))
            return False
        try:
            await call(lb.region, lb.lb_id, spec)
        except AlibabaError as err:
            if spec.protocol != "https" or "certificate" not in f"{err.code} {err.message}".lower():
                raise
            message = (
                f"{lb.region}: listener {key[0]}/HTTPS: the SLB rejects certificate "
                f"{spec.certificate_id}: {err.code}: {err.message}"
            )
            self._cert_failures[(lb.lb_id, key)] = (spec.certificate_id or "", self.clock(), message)
            res.notes.append(("CertificateNotFound", message))
            return False
        self._cert_failures.pop((lb.lb_id, key), None)
        return True

    async def _apply_backends(self, lb: _Lb, nodes: list[Obj], res: _Region) -> None:
        assert lb.backends is not None
        want = desired_backends(nodes, lb.region)
        for problem in want.problems():
            res.notes.append(("NodesLeftOut", f"{lb.region}: {problem}"))
        plan = plan_backends(want.servers, lb.backends)
        for batch in plan.remove:
            await self.api.remove_backend_servers(lb.region, lb.lb_id, [BackendServer(i) for i in batch])
            lb.backends -= set(batch)
        for batch in plan.add:
            await self.api.add_backend_servers(lb.region, lb.lb_id, [BackendServer(i) for i in batch])
            lb.backends |= set(batch)

    # --- CloudController mode ----------------------------------------------------------------------

    def _from_service(self, app: FederatedApp, ctx: StepContext, region: str) -> _Region:
        from federation.controller.serviceaddress import ingress_address

        res = _Region()
        obs = ctx.regions.get(region)
        cluster = obs.cluster if obs is not None else None
        if not cluster or not self.members.known(cluster):
            return res  # nothing seen: the status keeps what it says
        address = ingress_address(self.members.service(cluster, app.key))
        res.fields = {"address": address, "load_balancer_id": None}
        if address is None:
            res.notes.append(
                ("Pending", f"{region}: waiting for the cloud controller to give the Service an address")
            )
        res.ready = address is not None
        return res

    # --- removal -----------------------------------------------------------------------------------

    def _regions_of(self, app: FederatedApp) -> set[str]:
        """Where an SLB of the app may be: the regions it lists, every member's region, and where we
        know of one."""
        uid = app.metadata.uid or ""
        known = {r for (u, r) in self._lbs if u == uid}
        return set(app.spec.placement.region_names()) | self.members.regions() | known

    async def _remove(self, app: FederatedApp, regions: Iterable[str]) -> None:
        uid = app.metadata.uid or ""
        for region in sorted(regions):
            lbs = await self._snapshot(region)
            for lb_id, view in sorted(lbs.items()):
                if not owned_by(view, uid):
                    continue
                try:
                    await self.api.delete_load_balancer(region, lb_id)
                except AlibabaError as err:
                    if err.code != "OperationDenied.DeleteProtectionIsOn":
                        raise
                    # someone turned deletion protection on for an SLB of ours: what we own, we remove
                    await self.api.set_delete_protection(region, lb_id, False)
                    await self.api.delete_load_balancer(region, lb_id)
                log.info("region %s: SLB %s of %s deleted", region, lb_id, app.key)
                lbs.pop(lb_id, None)
                self._lbs.pop((uid, region), None)
                self._health.pop((uid, region), None)
                self._deleted[(uid, region)] = self._deleted.get((uid, region), 0) + 1
                await self._inventory_deleted(region, lb_id)

    # --- status ------------------------------------------------------------------------------------

    def _condition(
        self,
        ctx: StepContext,
        app: FederatedApp,
        results: dict[str, _Region],
        placed: set[str],
        problems: list[str],
        notes: list[tuple[str, str]],
    ) -> None:
        blocking = [(r, m) for r, m in notes if r != "NodesLeftOut"]
        if problems:
            ctx.conditions.append(
                (c.COND_LOAD_BALANCERS_READY, False, "ApiError", "; ".join(problems)[:2000])
            )
        elif blocking:
            ctx.conditions.append(
                (c.COND_LOAD_BALANCERS_READY, False, blocking[0][0], "; ".join(m for _, m in notes)[:2000])
            )
        else:
            mode = app.spec.load_balancer.mode
            message = f"{len(placed)} region(s), mode {mode}"
            if notes:
                message += "; " + "; ".join(m for _, m in notes)
            ctx.conditions.append((c.COND_LOAD_BALANCERS_READY, True, "Ready", message[:2000]))

    # --- backend health ----------------------------------------------------------------------------

    def observe_health(self, region: str, lb_id: str, servers: list[Obj]) -> None:
        """Take a DescribeHealthStatus answer read by someone else (the health sweeps, through
        :class:`HealthRelay`): the status shows it and a change enqueues the app, with no read of ours."""
        for (uid, r), lb in list(self._lbs.items()):
            if r != region or lb.lb_id != lb_id:
                continue
            counts = health_counts(servers)
            before = self._health.get((uid, r))
            self._health[(uid, r)] = counts
            app_key = self._apps.get(uid)
            if before != counts and app_key and self.on_health_change is not None:
                self.on_health_change(app_key)

    async def sweep_health(self) -> int:
        """Read DescribeHealthStatus of every SLB the step owns; returns how many were read."""
        samples = []
        read = 0
        for (uid, region), lb in list(self._lbs.items()):
            try:
                servers = await self.api.describe_health_status(region, lb.lb_id)
            except AlibabaError as err:
                log.info("region %s: DescribeHealthStatus of %s failed: %s", region, lb.lb_id, err.code)
                continue
            read += 1
            counts = health_counts(servers)
            before = self._health.get((uid, region))
            self._health[(uid, region)] = counts
            app_key = self._apps.get(uid)
            samples.append((uid, region, lb.lb_id, app_key, counts))
            if before != counts and app_key and self.on_health_change is not None:
                self.on_health_change(app_key)
        if self.db is not None and samples:
            from federation.store.health import HealthSampleData, record_health_samples

            at = self.now()
            await self.db.run(
                record_health_samples,
                [
                    HealthSampleData(
                        target_kind="slb",
                        target_id=lb_id,
                        region=region,
                        ok=counts.ok,
                        at=at,
                        app=app_key,
                        detail=counts.detail(),
                    )
                    for _, region, lb_id, app_key, counts in samples
                ],
            )
        return read

    async def run_health_sweeps(self, interval: float) -> None:
        """Sweep every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.sweep_health()
            except Exception:  # a store hiccup must not end the sweeps
                log.exception("SLB health sweep failed")
            await asyncio.sleep(interval)

    # --- inventory ---------------------------------------------------------------------------------

    async def _inventory_add(self, app: FederatedApp, lb: _Lb) -> None:
        lb.recorded = True
        if self.db is None:
            return
        from federation.store.inventory import ResourceData, inventory_add

        await self.db.run(
            inventory_add,
            ResourceData(
                provider="alibaba",
                kind="slb",
                resource_id=lb.lb_id,
                region=lb.region,
                owner_namespace=app.namespace,
                owner_name=app.name,
                owner_uid=app.metadata.uid or "",
                created_at=self.now(),
                attributes={"name": lb.view.get("LoadBalancerName"), "address": lb.address},
            ),
        )

    async def _inventory_deleted(self, region: str, lb_id: str) -> None:
        if self.db is None:
            return
        from federation.store.inventory import inventory_mark_deleted

        await self.db.run(
            inventory_mark_deleted,
            provider="alibaba",
            kind="slb",
            region=region,
            resource_id=lb_id,
            at=self.now(),
        )


class HealthRelay:
    """The SLB API as the health sweeps see it: each whole-SLB DescribeHealthStatus they make is also
    handed to the step (:meth:`SlbStep.observe_health`), so one read serves both and the step runs no
    sweep of its own."""

    def __init__(self, api: SlbApi, step: SlbStep) -> None:
        self.api = api
        self.step = step

    async def describe_health_status(
        self, region: str, lb_id: str, *, port: int | None = None, protocol: str | None = None
    ) -> list[Obj]:
        servers = await self.api.describe_health_status(region, lb_id, port=port, protocol=protocol)
        if port is None and protocol is None:
            self.step.observe_health(region, lb_id, servers)
        return servers


def listener_lines(listeners: Mapping[ListenerKey, ListenerSpec], running: set[ListenerKey]) -> list[str]:
    """The SLB's listeners as the status shows them: ``HTTPS:443->31443`` (and `` stopped`` if so)."""
    return [
        f"{spec.protocol.upper()}:{port}->{spec.backend_port}"
        + ("" if (port, proto) in running else " stopped")
        for (port, proto), spec in sorted(listeners.items())
    ]
