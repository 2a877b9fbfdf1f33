"""What one app's SLB in one region should be, and the fewest calls that get it there: pure.

Input is plain data (the app spec, the member's NodePort Service and Nodes, what the SLB API answered);
output is plain data (desired settings, listener and backend changes, problems to report). No I/O, no
clock: :mod:`federation.slb.step` reads the world, calls :func:`plan_listeners` and
:func:`plan_backends`, and applies what they return.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.api import constants as c
from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.slb.types import HealthCheck, ListenerSpec

Obj = dict[str, Any]

NAME_MAX = 80  # CreateLoadBalancer: LoadBalancerName is 1-80 characters
BACKENDS_PER_CALL = 20  # Add/RemoveBackendServers take at most 20 servers
TAG_MANAGED_BY = "managed-by"
TAG_APP_UID = "federation.io/app-uid"
TAG_APP = "federation.io/app"
# Nodes so labelled are left out of every cloud load balancer (the Kubernetes convention the CCM follows).
LABEL_EXCLUDE_FROM_LB = "node.kubernetes.io/exclude-from-external-load-balancers"

ListenerKey = tuple[int, str]  # (listener port, protocol: tcp | udp | http | https)


def lb_name(namespace: str, app: str) -> str:
    """``fedctl-<namespace>-<app>``; when that exceeds the API's 80 characters, its head plus a short
    hash of the whole, so two long names never meet."""
    full = f"fedctl-{namespace}-{app}"
    if len(full) <= NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: NAME_MAX - 9]}-{digest}"


def lb_tags(app: FederatedApp) -> dict[str, str]:
    """The tags that make an SLB ours: found by them, adopted by them, never touched without them."""
    return {TAG_MANAGED_BY: c.MANAGED_BY, TAG_APP_UID: app.metadata.uid or "", TAG_APP: app.key}


def client_token(uid: str, region: str, counter: int) -> str:
    """CreateLoadBalancer's idempotency token: the same (app, region, create number) always sends the
    same token, so a repeated or crashed create answers the SLB already made. The counter moves on only
    after an SLB of ours was deleted, so a region that comes back gets a fresh token."""
    return "fedctl-" + hashlib.sha256(f"{uid}/{region}/{counter}".encode()).hexdigest()[:40]


def owned_by(view: Mapping[str, Any], uid: str) -> bool:
    tags = view.get("TagMap") or {}
    return bool(uid) and tags.get(TAG_MANAGED_BY) == c.MANAGED_BY and tags.get(TAG_APP_UID) == uid


# --- the load balancer itself ------------------------------------------------------------------------


@dataclass(frozen=True)
class LbSettings:
    """CreateLoadBalancer's parameters for one (app, region)."""

    name: str
    address_type: str
    spec: str
    charge_type: str
    bandwidth: int | None
    vpc_id: str | None = None
    vswitch_id: str | None = None
    master_zone: str | None = None
    slave_zone: str | None = None


def lb_settings(app: FederatedApp, mc: MemberCluster | None) -> LbSettings:
    """From ``spec.loadBalancer`` and the member's network: an intranet SLB goes into the member's VPC
    and first vSwitch; master and slave zones are the member's first two zones (the seed's multi-zone
    failover), when it names them."""
    lb = app.spec.load_balancer
    zones = list(mc.spec.zones or []) if mc else []
    intranet = lb.address_type == "intranet"
    vswitches = list(mc.spec.v_switch_ids or []) if mc else []
    return LbSettings(
        name=lb_name(app.namespace, app.name),
        address_type=lb.address_type,
        spec=lb.spec,
        charge_type=lb.charge_type,
        bandwidth=lb.bandwidth,
        vpc_id=(mc.spec.vpc_id if mc else None) if intranet else None,
        vswitch_id=(vswitches[0] if vswitches else None) if intranet else None,
        master_zone=zones[0] if zones else None,
        slave_zone=zones[1] if len(zones) > 1 else None,
    )


@dataclass(frozen=True)
class LbChanges:
    """In-place changes of an existing SLB, and settings that cannot change without a new one."""

    internet_spec: tuple[str, int | None] | None = None  # (charge type, bandwidth)
    instance_spec: str | None = None
    immutable: tuple[str, ...] = ()  # "addressType internet -> intranet", ...

    @property
    def writes(self) -> int:
        return (self.internet_spec is not None) + (self.instance_spec is not None)


def plan_lb(want: LbSettings, have: Mapping[str, Any]) -> LbChanges:
    """Compare a DescribeLoadBalancers entry with the settings."""
    immutable = []
    have_type = str(have.get("AddressType") or "").lower()
    if have_type and have_type != want.address_type:
        immutable.append(f"addressType {have_type} -> {want.address_type}")
    internet = None
    if want.address_type == "internet":
        have_charge = str(have.get("InternetChargeType") or "").lower()
        have_bw = have.get("Bandwidth")
        charge_differs = bool(have_charge) and have_charge != want.charge_type
        bw_differs = want.bandwidth is not None and str(have_bw) != str(want.bandwidth)
        if charge_differs or bw_differs:
            internet = (want.charge_type, want.bandwidth)
    have_spec = have.get("LoadBalancerSpec")
    spec = want.spec if have_spec and have_spec != want.spec else None
    return LbChanges(internet_spec=internet, instance_spec=spec, immutable=tuple(immutable))


# --- listeners ------------------------------------------------------------------------------------


def node_ports(service: Obj | None) -> dict[str, int]:
    """The NodePort of each named port of a Service (ports without one yet are left out)."""
    out: dict[str, int] = {}
    for p in ((service or {}).get("spec") or {}).get("ports") or []:
        if p.get("name") and p.get("nodePort"):
            out[str(p["name"])] = int(p["nodePort"])
    return out


def health_check(app: FederatedApp) -> HealthCheck:
    hc = app.spec.load_balancer.health_check
    return HealthCheck(
        enabled=hc.enabled,
        type=hc.type,
        uri=hc.uri,
        connect_port=hc.connect_port,
        interval_seconds=hc.interval_seconds,
        timeout_seconds=hc.timeout_seconds,
        healthy_threshold=hc.healthy_threshold,
        unhealthy_threshold=hc.unhealthy_threshold,
    )


def desired_listeners(
    app: FederatedApp, ports: Mapping[str, int], region: str | None = None
) -> tuple[dict[ListenerKey, ListenerSpec], list[str]]:
    """One listener per ``spec.ports`` entry, forwarding to that port's NodePort; a port whose NodePort
    is not known yet is a problem (and no listener)."""
    out: dict[ListenerKey, ListenerSpec] = {}
    problems = []
    hc = health_check(app)
    for p in app.spec.ports:
        node_port = ports.get(p.name)
        if node_port is None:
            problems.append(f"port {p.name}: the member's Service has no nodePort for it yet")
            continue
        proto = p.protocol.lower()
        out[(p.port, proto)] = ListenerSpec(
            protocol=proto,
            listener_port=p.port,
            backend_port=node_port,
            health_check=hc,
            certificate_id=app.spec.certificate_for(p, region) if proto == "https" else None,
        )
    return out, problems


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def listener_from_api(item: Mapping[str, Any]) -> ListenerSpec:
    """A DescribeLoadBalancerListeners entry as the :class:`ListenerSpec` that would create it.

    The nested ``<PROTO>ListenerConfig`` spells the interval ``HealthCheckInterval`` (the create request
    says ``healthCheckInterval``) and the switch ``HealthCheck``; both spellings are read.
    """
    proto = str(item.get("ListenerProtocol") or "").lower()
    cfg: Mapping[str, Any] = item.get(f"{proto.upper()}ListenerConfig") or {}
    switch = cfg.get("HealthCheck", cfg.get("HealthCheckSwitch", "on"))
    interval = _int(cfg.get("HealthCheckInterval", cfg.get("healthCheckInterval")))
    timeout = _int(
        cfg.get("HealthCheckConnectTimeout") if proto in ("tcp", "udp") else cfg.get("HealthCheckTimeout")
    )
    defaults = HealthCheck()
    hc = HealthCheck(
        enabled=switch != "off",
        type=str(cfg.get("HealthCheckType") or "tcp") if proto == "tcp" else "tcp",
        uri=cfg.get("HealthCheckURI") or None,
        domain=cfg.get("HealthCheckDomain") or None,
        connect_port=_int(cfg.get("HealthCheckConnectPort")) or None,
        interval_seconds=interval if interval is not None else defaults.interval_seconds,
        timeout_seconds=timeout if timeout is not None else defaults.timeout_seconds,
        healthy_threshold=_int(cfg.get("HealthyThreshold")) or defaults.healthy_threshold,
        unhealthy_threshold=_int(cfg.get("UnhealthyThreshold")) or defaults.unhealthy_threshold,
        http_code=cfg.get("HealthCheckHttpCode") or None,
    )
    return ListenerSpec(
        protocol=proto,
        listener_port=int(item.get("ListenerPort") or 0),
        backend_port=int(item.get("BackendServerPort") or 0),
        bandwidth=_int(item.get("Bandwidth")) or -1,
        scheduler=str(item.get("Scheduler") or "wrr"),
        health_check=hc,
        certificate_id=cfg.get("ServerCertificateId") or None,
    )


def _comparable(spec: ListenerSpec) -> tuple[Any, ...]:
    """What an attribute set can change, as the API keeps it: an HTTP(S) listener or a disabled check
    keeps no TCP-style check fields; a tcp-type check has no URI."""
    hc = spec.health_check
    proto = spec.protocol
    if not hc.enabled:
        check: tuple[Any, ...] = (False,)
    elif proto in ("http", "https"):
        check = (
            True,
            hc.uri,
            hc.connect_port,
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.healthy_threshold,
            hc.unhealthy_threshold,
        )
    else:
        uri = hc.uri if proto == "tcp" and hc.type == "http" else None
        kind = hc.type if proto == "tcp" else None
        check = (
            True,
            kind,
            uri,
            hc.connect_port,
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.healthy_threshold,
            hc.unhealthy_threshold,
        )
    cert = spec.certificate_id if proto == "https" else None
    return (spec.bandwidth, spec.scheduler, cert, check)


@dataclass(frozen=True)
class ListenerChanges:
    """Listener calls in the order they are made: deletes first (a port changing protocol frees its
    number), then creates, attribute sets, and starts."""

    delete: tuple[ListenerKey, ...] = ()
    create: tuple[ListenerSpec, ...] = ()
    update: tuple[ListenerSpec, ...] = ()
    start: tuple[ListenerKey, ...] = ()

    @property
    def writes(self) -> int:
        # a created listener is started too
        return len(self.delete) + 2 * len(self.create) + len(self.update) + len(self.start)


def plan_listeners(
    want: Mapping[ListenerKey, ListenerSpec],
    have: Mapping[ListenerKey, ListenerSpec],
    running: Iterable[ListenerKey],
) -> ListenerChanges:
    """The calls that turn ``have`` (with ``running`` started) into ``want``, every listener started.

    A different backend port (the NodePort moved) cannot be set in place: delete and create. Any other
    difference is one attribute set.
    """
    running = set(running)
    delete = [k for k in have if k not in want]
    create: list[ListenerSpec] = []
    update: list[ListenerSpec] = []
    start: list[ListenerKey] = []
    for key, spec in want.items():
        cur = have.get(key)
        if cur is None:
            create.append(spec)
            continue
        if cur.backend_port != spec.backend_port:
            delete.append(key)
            create.append(spec)
            continue
        if _comparable(cur) != _comparable(spec):
            update.append(spec)
        if key not in running:
            start.append(key)
    return ListenerChanges(tuple(sorted(delete)), tuple(create), tuple(update), tuple(sorted(start)))


# --- backends -------------------------------------------------------------------------------------

_PROVIDER_ID = re.compile(r"^(?:alicloud://)?(?P<region>[a-z]{2}-[a-z0-9-]+)\.(?P<id>i-[a-z0-9]+)$")


def instance_id(provider_id: str | None, region: str) -> str | None:
    """The ECS instance id in an ACK node's ``spec.providerID`` (``<region>.<instance-id>``), or None when
    it is missing, malformed or names another region: never a guess."""
    m = _PROVIDER_ID.match(provider_id or "")
    if m is None or m.group("region") != region:
        return None
    return m.group("id")


def node_ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


@dataclass(frozen=True)
class Backends:
    """The member's nodes as SLB backends: Ready nodes with a usable providerID."""

    servers: frozenset[str]
    not_ready: tuple[str, ...] = ()
    unusable: tuple[str, ...] = ()  # Ready nodes whose providerID names no ECS instance of the region

    def problems(self) -> list[str]:
        if not self.unusable:
            return []
        names = ", ".join(self.unusable[:5]) + (" ..." if len(self.unusable) > 5 else "")
        return [f"node(s) without a usable providerID (<region>.<ecs-instance-id>) left out: {names}"]


def desired_backends(nodes: Iterable[Obj], region: str) -> Backends:
    servers: set[str] = set()
    not_ready: list[str] = []
    unusable: list[str] = []
    for node in nodes:
        meta = node.get("metadata") or {}
        name = str(meta.get("name") or "?")
        if LABEL_EXCLUDE_FROM_LB in (meta.get("labels") or {}):
            continue
        if not node_ready(node):
            not_ready.append(name)
            continue
        iid = instance_id((node.get("spec") or {}).get("providerID"), region)
        if iid is None:
            unusable.append(name)
            continue
        servers.add(iid)
    return Backends(frozenset(servers), tuple(sorted(not_ready)), tuple(sorted(unusable)))


@dataclass(frozen=True)
class BackendChanges:
    add: tuple[tuple[str, ...], ...] = ()  # batches of at most BACKENDS_PER_CALL
    remove: tuple[tuple[str, ...], ...] = ()

    @property
    def writes(self) -> int:
        return len(self.add) + len(self.remove)


def _batches(ids: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    ordered = sorted(ids)
    return tuple(tuple(ordered[i : i + BACKENDS_PER_CALL]) for i in range(0, len(ordered), BACKENDS_PER_CALL))


def plan_backends(want: Iterable[str], have: Iterable[str]) -> BackendChanges:
    """One AddBackendServers per 20 joining servers, one RemoveBackendServers per 20 leaving ones."""
    want_set, have_set = set(want), set(have)
    return BackendChanges(_batches(want_set - have_set), _batches(have_set - want_set))


# --- backend health -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthCounts:
    normal: int = 0
    abnormal: int = 0
    unavailable: int = 0
    by_server: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """The SLB can reach the app: some backend port is normal and none is abnormal."""
        return self.normal > 0 and self.abnormal == 0

    def detail(self) -> str:
        return f"normal={self.normal} abnormal={self.abnormal} unavailable={self.unavailable}"


def health_counts(servers: Iterable[Mapping[str, Any]]) -> HealthCounts:
    """Count DescribeHealthStatus' (backend, listener port) pairs by ServerHealthStatus."""
    counts = {"normal": 0, "abnormal": 0, "unavailable": 0}
    worst: dict[str, str] = {}
    rank = {"normal": 0, "unavailable": 1, "abnormal": 2}
    for s in servers:
        status = str(s.get("ServerHealthStatus") or "unavailable").lower()
        status = status if status in counts else "unavailable"
        counts[status] += 1
        sid = str(s.get("ServerId") or "")
        if rank[status] >= rank.get(worst.get(sid, "normal"), 0):
            worst[sid] = status
    return HealthCounts(counts["normal"], counts["abnormal"], counts["unavailable"], worst)
