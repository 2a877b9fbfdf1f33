"""The narrow, named collaborators each reconciler gets instead of the whole controller.

:class:`AppCollaborators` and :class:`ClusterCollaborators` list exactly what one reconcile may read
and write; the controller (``manager.py``) builds them from its informers, queues, clients and member
directory for each leadership term, and a test builds them from fakes (no sockets). The protocols are
structural: ``KubeApi``, ``Informer``, ``WorkQueue`` and ``EventRecorder`` satisfy them as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.clusters.kubeapi import Resource
from federation.clusters.propagate import MemberTarget, ObjectCache, RegionPropagation
from federation.clusters.registry import MemberRegistry
from federation.controller.members import MemberDirectory
from federation.controller.steps import ReconcileStep
from federation.health.source import RegionHealthSource
from federation.network.reachability import Verdict as NetworkVerdict

Obj = dict[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


class HostWriter(Protocol):
    """Writes to our own objects on the host (metadata and the status subresource)."""

    async def merge_patch(
        self, res: Resource, name: str, body: Obj, namespace: str | None = None, sub: str | None = None
    ) -> Obj: ...


class EventSink(Protocol):
    async def record(
        self, obj: Obj, type_: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None: ...


class ClusterCatalog(Protocol):
    """The MemberClusters the host declares (valid ones only)."""

    def member_clusters(self) -> list[MemberCluster]: ...


class MemberHandle(MemberTarget, Protocol):
    """A member as the app reconciler sees it: a propagation target with what the probes know."""

    @property
    def reachable(self) -> bool | None: ...

    @property
    def synced(self) -> bool: ...


class MemberLookup(Protocol):
    def view(self, name: str) -> MemberHandle | None: ...

    def all_views(self) -> Sequence[MemberHandle]: ...


class Propagation(Protocol):
    """Writing an app into one member and removing it (:class:`federation.clusters.propagate.Propagator`)."""

    async def propagate(
        self, app: FederatedApp, region: str, replicas: int, target: MemberTarget
    ) -> RegionPropagation: ...

    async def remove(self, app: FederatedApp, target: MemberTarget) -> list[str]: ...


@dataclass
class AppCollaborators:
    apps: ObjectCache  # the FederatedApp cache (reads, and our own writes remembered)
    clusters: ClusterCatalog
    members: MemberLookup
    health: RegionHealthSource
    propagation: Propagation
    host: HostWriter
    events: EventSink
    requeue_after: Callable[[str, float], None]  # look at an app again after a delay (seconds)
    probe_member: Callable[[str], None]  # a member failed a write: probe it now
    steps: Sequence[ReconcileStep] = ()
    clock: Callable[[], datetime] = utcnow
    pending_recheck: float = 0.5  # seconds until an app waiting for a member's first probe is looked at
    drain_grace: float | None = None  # seconds a drained region keeps its replicas after DNS moved; None: TTL
    manages_dns: bool = False  # a DNS step runs: leaving regions wait out their DNS answer


class SecretSource(Protocol):
    async def secret(self, namespace: str, name: str) -> Obj | None: ...


@dataclass
class ClusterSettings:
    probe_interval: float = 10.0
    member_timeout: float = 5.0
    status_refresh: float = 60.0


@dataclass
class ClusterCollaborators:
    clusters: ObjectCache  # the MemberCluster cache
    secrets: SecretSource
    registry: MemberRegistry
    members: MemberDirectory
    host: HostWriter  # MemberCluster status
    requeue_after: Callable[[str, float], None]  # the next probe of a member
    health_changed: Callable[[], None]  # a member's health changed: every app may place differently
    settings: ClusterSettings = field(default_factory=ClusterSettings)
    # the CEN verdict of a member (NetworkReady), None while the network is not checked
    network: Callable[[str], NetworkVerdict | None] = lambda name: None
    # the health sweeps still hold this member's API healthy: one failed probe is not acted on (their
    # hysteresis decides); always False without sweeps
    sweeps_hold_healthy: Callable[[str], bool] = lambda name: False
    clock: Callable[[], datetime] = utcnow
