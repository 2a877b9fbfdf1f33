"""What the sweeps probe, read from FederatedApps and MemberClusters (pure translation, no I/O).

Each placed region of an app becomes an :class:`~federation.health.sweeps.AppRegionInfo` from the
app's status (its cluster, desired replicas, address and SLB, as the reconciler last wrote them) and the
Deployment a caller looks up; the VIP probe follows ``spec.healthProbe`` (its port defaults to the first
service port).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from federation.api.federatedapp import FederatedApp
from federation.health.sweeps import AppInfo, AppRegionInfo, MemberInfo, VipSpec

DeploymentLookup = Callable[[str, str], dict[str, Any] | None]  # (cluster, "namespace/name") -> object


def vip_spec(app: FederatedApp) -> VipSpec:
    p = app.spec.health_probe
    return VipSpec(
        kind=p.type,
        port=p.effective_port(app.spec.ports),
        path=p.effective_path(),
        interval=float(p.interval_seconds),
        timeout=float(p.timeout_seconds),
        failure_threshold=p.failure_threshold,
        success_threshold=p.success_threshold,
    )


def app_info(raw: dict[str, Any], deployment: DeploymentLookup | None = None) -> AppInfo | None:
    """The probe targets of one app (None for an app that does not validate or is being deleted)."""
    try:
        app = FederatedApp.model_validate(raw)
    except ValidationError:
        return None
    if app.metadata.deletion_timestamp is not None:
        return None
    key = f"{app.namespace}/{app.name}"
    regions = []
    for r in app.status.regions if app.status else []:
        if r.region not in app.spec.placement.region_names():
            continue
        dep = deployment(r.cluster, key) if deployment is not None and r.cluster else None
        regions.append(
            AppRegionInfo(
                region=r.region,
                cluster=r.cluster,
                address=r.address,
                desired=r.desired_replicas or 0,
                ready=r.ready_replicas or 0,
                deployment=dep,
                load_balancer_id=r.load_balancer_id,
            )
        )
    return AppInfo(key, vip_spec(app), tuple(regions), hostname=app.spec.dns.hostname)


@dataclass
class StaticSource:
    """A fixed set of members and apps (``fedctl sweep --once``, tests, benchmarks)."""

    member_list: list[MemberInfo] = field(default_factory=list)
    app_list: list[AppInfo] = field(default_factory=list)

    def members(self) -> Sequence[MemberInfo]:
        return self.member_list

    def apps(self) -> Sequence[AppInfo]:
        return self.app_list

    def app(self, key: str) -> AppInfo | None:
        return next((a for a in self.app_list if a.key == key), None)

    @classmethod
    def from_objects(
        cls,
        apps: Iterable[dict[str, Any]],
        members: Iterable[MemberInfo] = (),
        deployment: DeploymentLookup | None = None,
    ) -> StaticSource:
        infos = [i for i in (app_info(a, deployment) for a in apps) if i is not None]
        return cls(list(members), infos)
