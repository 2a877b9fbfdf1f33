"""The MemberCluster resource (cluster-scoped): one Kubernetes cluster in one Alibaba Cloud region.

Mirrors ``crds/memberclusters.federation.io.yaml``; see :mod:`federation.api.federatedapp` for how the
two are kept in agreement. The kubeconfig itself never appears here: only a reference to the Secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from federation.api import constants as c
from federation.api.conditions import Condition
from federation.api.meta import ApiModel, ObjectMeta

ZoneId = Annotated[str, Field(pattern=c.ZONE_ID, max_length=c.REGION_ID_MAX + 8)]
VSwitchId = Annotated[str, Field(pattern=c.VSWITCH_ID, max_length=64)]


class SecretKeyRef(ApiModel):
    """Where the member's kubeconfig lives on the host cluster."""

    name: str = Field(pattern=c.DNS1123_SUBDOMAIN, max_length=c.DNS1123_SUBDOMAIN_MAX)
    namespace: str = Field(pattern=c.DNS1123_LABEL, max_length=c.DNS1123_LABEL_MAX)
    key: str = Field(default=c.DEFAULT_KUBECONFIG_KEY, pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)


class Capacity(ApiModel):
    """Hints for placement: the most replicas this cluster should be given across all apps."""

    max_replicas: StrictInt | None = Field(default=None, ge=0)


class MemberClusterSpec(ApiModel):
    region: str = Field(pattern=c.REGION_ID, max_length=c.REGION_ID_MAX)
    zones: list[ZoneId] | None = None
    kubeconfig_secret_ref: SecretKeyRef
    vpc_id: str | None = Field(default=None, pattern=c.VPC_ID, max_length=64)
    v_switch_ids: list[VSwitchId] | None = None
    cen_id: str | None = Field(default=None, pattern=c.CEN_ID, max_length=64)
    labels: dict[str, str] | None = None
    capacity: Capacity | None = None

    @field_validator("zones", "v_switch_ids")
    @classmethod
    def _unique(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and len(set(values)) != len(values):
            raise ValueError("Duplicate value: entries must be unique")
        return values

    @model_validator(mode="after")
    def _cross_field(self) -> MemberClusterSpec:
        for zone in self.zones or []:
            if not zone.startswith(self.region) or zone == self.region:
                raise ValueError(f"zones: zone {zone!r} is not in region {self.region!r}")
        if self.v_switch_ids and not self.vpc_id:
            raise ValueError("vpcId: Required value: vpcId is required when vSwitchIds are given")
        return self


class MemberClusterStatus(ApiModel):
    conditions: list[Condition] = Field(default_factory=list)
    kubernetes_version: str | None = None
    node_count: StrictInt | None = Field(default=None, ge=0)
    api_latency_ms: float | None = Field(default=None, ge=0)
    last_probe_time: datetime | None = None


class MemberCluster(ApiModel):
    api_version: Literal["federation.io/v1alpha1"] = "federation.io/v1alpha1"
    kind: Literal["MemberCluster"] = "MemberCluster"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MemberClusterSpec
    status: MemberClusterStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    def health_override(self) -> str | None:
        """The operator's health override annotation ("Unhealthy" drains the region), if set."""
        return (self.metadata.annotations or {}).get(c.ANNOTATION_REGION_HEALTH)

    def drained(self) -> bool:
        return self.health_override() == c.HEALTH_OVERRIDE_UNHEALTHY


__all__ = ["Capacity", "MemberCluster", "MemberClusterSpec", "MemberClusterStatus", "SecretKeyRef"]
