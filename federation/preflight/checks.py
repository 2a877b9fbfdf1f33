"""The preflight verdicts: pure functions of what the member and the cloud reported.

Each check returns a :class:`Check` with a verdict (``pass``, ``warn``, ``fail``, ``skip``), what was
found, and one sentence on why it matters and how to fix it. ``fail`` blocks ``fedctl join`` unless
``--force``; a warning never does.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["pass", "warn", "fail", "skip"]

# Oldest minor that the controller is tested against, and the oldest it can work with at all.
MIN_SUPPORTED = (1, 27)
MIN_WORKING = (1, 24)
NODE_PORTS = (30000, 32767)
# Where SLB's health checks and forwarded traffic come from (Alibaba's documented SLB source range).
SLB_SOURCE = ipaddress.IPv4Network("100.64.0.0/10")
SYSCTL = "net.bridge.bridge-nf-call-iptables"

# (verb, API group, resource): what the controller does in a member (deploy/member/member-rbac.yaml).
REQUIRED_ACCESS: tuple[tuple[str, str, str], ...] = (
    *((v, "", "namespaces") for v in ("get", "list", "watch", "create")),
    *((v, "apps", "deployments") for v in ("get", "list", "watch", "create", "update", "patch", "delete")),
    *((v, "", "services") for v in ("get", "list", "watch", "create", "update", "patch", "delete")),
    *((v, "", "nodes") for v in ("get", "list", "watch")),
    ("create", "", "events"),
)


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    found: str
    why: str

    @property
    def blocks(self) -> bool:
        return self.verdict == "fail"


def _minor(git_version: str) -> tuple[int, int] | None:
    m = re.match(r"^v?(\d+)\.(\d+)", git_version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_api(version: Mapping[str, Any] | None, error: str | None) -> Check:
    why = "the controller reaches the member with this kubeconfig to place replicas and read health"
    if error is not None or version is None:
        return Check(
            "API",
            "fail",
            f"the member API did not answer: {error}",
            why + "; check the server URL, CA and token",
        )
    git = str(version.get("gitVersion") or "")
    minor = _minor(git)
    if minor is None:
        return Check("API", "warn", f"answers, with an unreadable version {git!r}", why)
    if minor < MIN_WORKING:
        return Check(
            "API",
            "fail",
            f"Kubernetes {git}",
            f"below {MIN_WORKING[0]}.{MIN_WORKING[1]} the APIs the controller uses are missing; "
            "upgrade the cluster",
        )
    if minor < MIN_SUPPORTED:
        return Check(
            "API",
            "warn",
            f"Kubernetes {git}",
            f"tested from {MIN_SUPPORTED[0]}.{MIN_SUPPORTED[1]} on; upgrade when you can",
        )
    return Check("API", "pass", f"Kubernetes {git}", why)


def check_access(allowed: Mapping[tuple[str, str, str], bool]) -> Check:
    why = (
        "these are the verbs the controller uses in a member; apply deploy/member "
        "(kubectl apply -k deploy/member) and use its token"
    )
    denied = [f"{v} {g + '/' if g else ''}{r}" for (v, g, r), ok in allowed.items() if not ok]
    if denied:
        return Check("permissions", "fail", "not allowed: " + ", ".join(denied), why)
    return Check("permissions", "pass", f"all {len(allowed)} verbs the controller needs are allowed", why)


def _labels(node: Mapping[str, Any]) -> Mapping[str, str]:
    return (node.get("metadata") or {}).get("labels") or {}


def _name(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name") or "")


def instance_id(node: Mapping[str, Any], region: str) -> str | None:
    """The ECS instance id of a node's ``spec.providerID`` (``<region>.<instance-id>``) in ``region``."""
    pid = str((node.get("spec") or {}).get("providerID") or "")
    m = re.match(rf"^(?:alicloud://)?{re.escape(region)}\.(i-[a-z0-9]+)$", pid)
    return m.group(1) if m else None


def check_provider_ids(nodes: Sequence[Mapping[str, Any]], region: str) -> Check:
    why = (
        "SLB backends are ECS instances named by each node's spec.providerID (<region>.<instance-id>); "
        "Alibaba's cloud-controller-manager sets it, or the kubelet's --provider-id"
    )
    if not nodes:
        return Check("providerID", "fail", "the member has no nodes", why)
    bad = [
        f"{_name(n)} ({(n.get('spec') or {}).get('providerID') or 'none'})"
        for n in nodes
        if instance_id(n, region) is None
    ]
    if bad:
        return Check("providerID", "fail", f"no usable providerID in {region}: " + ", ".join(bad), why)
    return Check("providerID", "pass", f"{len(nodes)} nodes, each an ECS instance in {region}", why)


def check_hostnames(nodes: Sequence[Mapping[str, Any]]) -> Check:
    why = (
        "a node whose name differs from its kubernetes.io/hostname label (or a name used twice) breaks "
        "scheduling by hostname and the SLB backend mapping; make the kubelet's --hostname-override agree"
    )
    names = Counter(_name(n) for n in nodes)
    problems = [f"{name} used {k} times" for name, k in names.items() if k > 1]
    problems += [
        f"{_name(n)} has kubernetes.io/hostname={_labels(n).get('kubernetes.io/hostname')!r}"
        for n in nodes
        if _labels(n).get("kubernetes.io/hostname") != _name(n)
    ]
    if problems:
        return Check("hostnames", "fail", "; ".join(problems), why)
    return Check("hostnames", "pass", f"{len(nodes)} unique node names, each its own hostname label", why)


def check_zones(nodes: Sequence[Mapping[str, Any]]) -> Check:
    why = "nodes in two zones let the region's SLB fail over between its master and slave zone"
    zones = sorted({z for n in nodes if (z := _labels(n).get("topology.kubernetes.io/zone"))})
    if len(zones) >= 2:
        return Check("zones", "pass", "nodes in " + ", ".join(zones), why)
    found = f"nodes in one zone ({zones[0]})" if zones else "no node has a topology.kubernetes.io/zone label"
    return Check("zones", "warn", found, why + "; add nodes in a second zone")


def _covers(rule: Mapping[str, Any]) -> bool:
    proto = str(rule.get("IpProtocol") or "").upper()
    if proto not in ("TCP", "ALL"):
        return False
    lo, _, hi = str(rule.get("PortRange") or "").partition("/")
    try:
        a, b = int(lo), int(hi)
    except ValueError:
        return False
    if (a, b) != (-1, -1) and not (a <= NODE_PORTS[0] and b >= NODE_PORTS[1]):
        return False
    try:
        src = ipaddress.ip_network(str(rule.get("SourceCidrIp") or ""), strict=False)
    except ValueError:
        return False
    return isinstance(src, ipaddress.IPv4Network) and SLB_SOURCE.subnet_of(src)


def node_ports_open(rules: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a group's ingress rules admit TCP 30000-32767 from the SLB: the covering rule with the
    best priority (lowest number; Drop wins a tie) accepts."""
    covering = [r for r in rules if str(r.get("Direction") or "ingress") == "ingress" and _covers(r)]
    if not covering:
        return False
    best = min(covering, key=lambda r: (int(r.get("Priority") or 1), str(r.get("Policy")).lower() != "drop"))
    return str(best.get("Policy") or "Accept").lower() == "accept"


def check_security_groups(
    groups_by_instance: Mapping[str, Sequence[str]] | None,
    rules_by_group: Mapping[str, Sequence[Mapping[str, Any]]],
    error: str | None = None,
) -> Check:
    why = (
        "the SLB reaches Services on the nodes' NodePorts (TCP 30000-32767) from 100.64.0.0/10; "
        "add an ingress rule for that range to the nodes' security group"
    )
    if groups_by_instance is None:
        return Check("security groups", "skip", error or "no Alibaba credentials: not checked", why)
    closed = []
    for instance, groups in sorted(groups_by_instance.items()):
        rules = [r for g in groups for r in rules_by_group.get(g, [])]
        if not node_ports_open(rules):
            closed.append(f"{instance} ({', '.join(groups) or 'no group'})")
    if closed:
        return Check("security groups", "fail", "NodePorts closed to the SLB on " + ", ".join(closed), why)
    return Check(
        "security groups",
        "pass",
        f"TCP 30000-32767 open to the SLB on {len(groups_by_instance)} instances",
        why,
    )


def check_sysctl(values: Mapping[str, str | None] | None, error: str | None = None) -> Check:
    why = (
        f"with {SYSCTL}=0 bridged pod traffic bypasses iptables and Services stop working on that node; "
        f"load br_netfilter and set {SYSCTL}=1 (sysctl.d)"
    )
    if values is None:
        return Check(SYSCTL, "skip", error or "not read", why)
    bad = [f"{node}={v if v is not None else 'unreadable'}" for node, v in sorted(values.items()) if v != "1"]
    if bad:
        return Check(SYSCTL, "fail", "not 1 on " + ", ".join(bad), why)
    return Check(SYSCTL, "pass", f"1 on all {len(values)} nodes", why)


def blocking(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.blocks]


def render(checks: Sequence[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.verdict.upper():5} {c.name.ljust(width)}  {c.found}")
        if c.verdict != "pass":
            lines.append(f"      {' ' * width}  why: {c.why}")
    return "\n".join(lines)
