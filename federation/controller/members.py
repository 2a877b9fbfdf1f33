"""What the controller knows about its member clusters: their clients and caches, and their last probe.

:class:`MemberDirectory` is shared by name between the two reconcilers: the cluster reconciler writes
(views appear as the registry builds clients; each probe's outcome is recorded), the app reconciler and
the steps read. :class:`MemberReachability` is the controller's own
:class:`~federation.health.source.RegionHealthSource`: drains, deletion, and reachability/readiness
from the probes; a health sweep adds its own source beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from federation.api import constants as c
from federation.api.membercluster import MemberCluster
from federation.clusters.kubeapi import KubeApi
from federation.clusters.registry import Member
from federation.controller.informer import Informer
from federation.health.source import HEALTHY, MemberHealth
from federation.placement import Schedulability

WAITING_FOR_PROBE = "waiting for the first probe"


@dataclass
class MemberView:
    """A member's client and its caches of what we own there (a :class:`~federation.clusters.propagate.
    MemberTarget`)."""

    member: Member
    deployments: Informer
    services: Informer
    reachable: bool | None = None  # None until the first probe
    ready: bool | None = None
    message: str = ""
    namespaces: set[str] = field(default_factory=set)  # known to exist there (saves a GET per create)
    writer: KubeApi | None = None  # what propagation writes with (default: the member's client)
    nodes: Informer | None = None  # every Node, when a step needs them (the regional SLB's backends)

    @property
    def name(self) -> str:
        return self.member.name

    @property
    def api(self) -> KubeApi:
        return self.writer or self.member.api

    @property
    def synced(self) -> bool:
        return (
            self.deployments.synced.is_set()
            and self.services.synced.is_set()
            and (self.nodes is None or self.nodes.synced.is_set())
        )

    @property
    def usable(self) -> bool:
        """Known reachable enough to write to, with caches to decide from."""
        return self.reachable is not False and self.synced


@dataclass(frozen=True, slots=True)
class MemberProbe:
    """The outcome of one probe of a member's API."""

    reachable: bool
    ready: bool
    drained: bool
    problem: str | None = None


class MemberDirectory:
    """Member views by MemberCluster name, and the last probe of each member since leading began."""

    def __init__(self) -> None:
        self.views: dict[str, MemberView] = {}
        self.probes: dict[str, MemberProbe] = {}

    def view(self, name: str) -> MemberView | None:
        return self.views.get(name)

    def all_views(self) -> list[MemberView]:
        return list(self.views.values())

    def record_probe(self, name: str, probe: MemberProbe) -> bool:
        """Remember a probe; True if it differs from the last one (a health change)."""
        if self.probes.get(name) == probe:
            return False
        self.probes[name] = probe
        return True

    def forget_probe(self, name: str) -> bool:
        return self.probes.pop(name, None) is not None

    def probed(self) -> set[str]:
        return set(self.probes)

    def clear(self) -> None:
        self.views.clear()
        self.probes.clear()


class MemberReachability:
    """Health from what the controller itself sees: drain annotation, deletion, API probe, node readiness."""

    def __init__(self, members: MemberDirectory) -> None:
        self.members = members

    def member_health(self, cluster: MemberCluster) -> MemberHealth:
        name = cluster.name
        unhealthy = Schedulability.UNHEALTHY
        if cluster.metadata.deletion_timestamp is not None:
            return MemberHealth(unhealthy, f"MemberCluster {name} is being deleted")
        if cluster.drained():
            drain = f"{c.ANNOTATION_REGION_HEALTH}={c.HEALTH_OVERRIDE_UNHEALTHY}"
            return MemberHealth(unhealthy, f"drained: {drain} on MemberCluster {name}")
        view = self.members.view(name)
        if view is None:
            probe = self.members.probes.get(name)
            if probe is None or probe.problem is None:
                return MemberHealth(unhealthy, f"{WAITING_FOR_PROBE} of member {name}", pending=True)
            return MemberHealth(unhealthy, f"member {name}: {probe.problem}")
        if view.reachable is False:
            return MemberHealth(unhealthy, f"member {name} unreachable: {view.message}")
        if view.ready is False:
            return MemberHealth(unhealthy, f"member {name} not ready: {view.message}")
        if view.reachable is None and not view.synced:
            return MemberHealth(unhealthy, f"{WAITING_FOR_PROBE} of member {name}", pending=True)
        return HEALTHY
