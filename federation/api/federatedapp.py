"""The FederatedApp resource: one workload spread over regions, fronted by an SLB per region and smart DNS.

The models mirror ``crds/federatedapps.federation.io.yaml`` field for field (the CRD is generated from
:mod:`federation.api.crdgen`, and ``tests/api`` validates one corpus against both). Cross-field rules
here repeat the CRD's ``x-kubernetes-validations`` so an object built in Python fails the same way the
API server would fail it. Defaults equal the CRD's defaults.

Helpers on the models are pure (no I/O, no clock): the controller asks them for the effective selector,
the pod labels, the target port, the DNS failover order and so on, instead of re-deriving them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from federation.api import constants as c
from federation.api.conditions import Condition
from federation.api.meta import ApiModel, ObjectMeta, TemplateMeta

Int = StrictInt
RegionName = Annotated[str, Field(pattern=c.REGION_ID, max_length=c.REGION_ID_MAX)]
Quantity = Annotated[str, Field(pattern=c.QUANTITY)] | StrictInt

Strategy = Literal["Spread", "Weighted", "Failover"]
STRATEGIES: tuple[Strategy, ...] = ("Spread", "Weighted", "Failover")
PortProtocol = Literal["TCP", "UDP", "HTTP", "HTTPS"]
PORT_PROTOCOLS: tuple[PortProtocol, ...] = ("TCP", "UDP", "HTTP", "HTTPS")
DnsPolicy = Literal["Latency", "Geo", "Weighted", "Failover"]
DNS_POLICIES: tuple[DnsPolicy, ...] = ("Latency", "Geo", "Weighted", "Failover")
SelectorOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
SlbSpec = Literal[
    "slb.s1.small", "slb.s2.small", "slb.s2.medium", "slb.s3.small", "slb.s3.medium", "slb.s3.large"
]


def _duplicates(values: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    dups: list[Any] = []
    for value in values:
        if value in seen and value not in dups:
            dups.append(value)
        seen.add(value)
    return dups


# --- workload --------------------------------------------------------------------------------------


class LabelSelectorRequirement(ApiModel):
    key: str = Field(min_length=1, max_length=317)
    operator: SelectorOperator
    values: list[str] | None = None

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"values: must be non-empty when operator is {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values: must be empty when operator is {self.operator}")
        return self


class LabelSelector(ApiModel):
    """metav1.LabelSelector."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a set of labels satisfies this selector (Kubernetes semantics; empty selects all)."""
        for key, value in (self.match_labels or {}).items():
            if labels.get(key) != value:
                return False
        for req in self.match_expressions or []:
            present = req.key in labels
            if req.operator == "In" and (not present or labels[req.key] not in (req.values or [])):
                return False
            if req.operator == "NotIn" and present and labels[req.key] in (req.values or []):
                return False
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
        return True


class PodTemplate(ApiModel):
    """A pod template: labels/annotations and a PodSpec. The PodSpec is Kubernetes' and kept free-form;
    only what we rely on is checked (at least one container, each with a name and an image)."""

    metadata: TemplateMeta | None = None
    spec: dict[str, Any]

    @field_validator("spec")
    @classmethod
    def _containers(cls, spec: dict[str, Any]) -> dict[str, Any]:
        containers = spec.get("containers")
        if not isinstance(containers, list) or not containers:
            raise ValueError("containers: at least one container is required")
        for i, container in enumerate(containers):
            if not isinstance(container, dict):
                raise ValueError(f"containers[{i}]: must be an object")
            name = container.get("name")
            if not isinstance(name, str) or not name:
                raise ValueError(f"containers[{i}].name: Required value")
            image = container.get("image")
            if not isinstance(image, str) or not image:
                raise ValueError(f"containers[{i}].image: Required value")
        return spec

    def container_names(self) -> list[str]:
        return [str(container["name"]) for container in self.spec["containers"]]

    def labels(self) -> dict[str, str]:
        return dict(self.metadata.labels or {}) if self.metadata else {}


# --- placement -------------------------------------------------------------------------------------


class PlacementRegion(ApiModel):
    """A region the app may run in, optionally pinned to one MemberCluster there."""

    name: RegionName
    cluster: str | None = Field(default=None, pattern=c.DNS1123_SUBDOMAIN, max_length=c.DNS1123_SUBDOMAIN_MAX)
    weight: Int = Field(default=1, ge=0, le=1000)
    min_replicas: Int = Field(default=0, ge=0)
    max_replicas: Int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _min_le_max(self) -> PlacementRegion:
        if self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas: must be less than or equal to maxReplicas "
                f"({self.min_replicas} > {self.max_replicas})"
            )
        return self


class Placement(ApiModel):
    strategy: Strategy = "Spread"
    regions: list[PlacementRegion] = Field(min_length=1, max_length=32)
    failover_order: list[RegionName] | None = None
    reschedule_on_failure: StrictBool = True
    rebalance_on_recovery: StrictBool = True

    @model_validator(mode="after")
    def _cross_field(self) -> Placement:
        dups = _duplicates(r.name for r in self.regions)
        if dups:
            raise ValueError(f"regions: Duplicate value: region {dups[0]!r} is listed more than once")
        if self.strategy == "Weighted" and not any(r.weight > 0 for r in self.regions):
            raise ValueError("regions: at least one region must have a weight greater than 0 for Weighted")
        if self.strategy == "Failover" and not self.failover_order:
            raise ValueError(
                "failoverOrder: Required value: failoverOrder is required when strategy is Failover"
            )
        if self.failover_order is not None:
            names = set(self.region_names())
            unknown = [n for n in self.failover_order if n not in names]
            if unknown:
                raise ValueError(f"failoverOrder: {unknown[0]!r} is not a region listed in placement.regions")
            dups = _duplicates(self.failover_order)
            if dups:
                raise ValueError(f"failoverOrder: Duplicate value: {dups[0]!r}")
        return self

    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    def region(self, name: str) -> PlacementRegion | None:
        for r in self.regions:
            if r.name == name:
                return r
        return None


# --- per-region overrides -------------------------------------------------------------------------


class EnvVar(ApiModel):
    name: str = Field(pattern=c.ENV_VAR_NAME, min_length=1)
    value: str = ""


class ResourceRequirements(ApiModel):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class RegionOverride(ApiModel):
    """Changes applied to the Deployment in one region."""

    region: RegionName
    image: str | None = Field(default=None, min_length=1)
    container: str | None = Field(default=None, pattern=c.DNS1123_LABEL, max_length=c.DNS1123_LABEL_MAX)
    replicas: Int | None = Field(default=None, ge=0)
    certificate_id: str | None = Field(default=None, pattern=c.CERTIFICATE_ID, max_length=128)
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None

    @model_validator(mode="after")
    def _env_unique(self) -> RegionOverride:
        dups = _duplicates(e.name for e in self.env or [])
        if dups:
            raise ValueError(f"env: Duplicate value: {dups[0]!r}")
        return self


# --- service ports and the regional load balancer -------------------------------------------------


class ServicePort(ApiModel):
    name: str = Field(pattern=c.PORT_NAME, max_length=c.PORT_NAME_MAX)
    port: Int = Field(ge=1, le=65535)
    target_port: Int | None = Field(default=None, ge=1, le=65535)
    protocol: PortProtocol = "TCP"
    certificate_id: str | None = Field(default=None, pattern=c.CERTIFICATE_ID, max_length=128)

    @model_validator(mode="after")
    def _certificate_for_https(self) -> ServicePort:
        if self.certificate_id is not None and self.protocol != "HTTPS":
            raise ValueError("certificateId: Forbidden: certificateId is only valid for protocol HTTPS")
        return self

    def target_port_or_port(self) -> int:
        """The container port traffic goes to (defaults to the service port)."""
        return self.target_port if self.target_port is not None else self.port

    def transport(self) -> Literal["TCP", "UDP"]:
        """The Kubernetes Service protocol: HTTP and HTTPS ride on TCP (SLB terminates them)."""
        return "UDP" if self.protocol == "UDP" else "TCP"


class SlbHealthCheck(ApiModel):
    enabled: StrictBool = True
    type: Literal["tcp", "http"] = "tcp"
    uri: str | None = Field(default=None, pattern=c.HTTP_PATH, max_length=80)
    connect_port: Int | None = Field(default=None, ge=1, le=65535)
    interval_seconds: Int = Field(default=2, ge=1, le=50)
    timeout_seconds: Int = Field(default=5, ge=1, le=300)
    healthy_threshold: Int = Field(default=3, ge=2, le=10)
    unhealthy_threshold: Int = Field(default=3, ge=2, le=10)

    @model_validator(mode="after")
    def _http_needs_uri(self) -> SlbHealthCheck:
        if self.enabled and self.type == "http" and not self.uri:
            raise ValueError("uri: Required value: uri is required when the health check type is http")
        return self


LoadBalancerMode = Literal["Managed", "CloudController"]


class LoadBalancer(ApiModel):
    """The SLB per (app, region): created and owned by the controller (Managed), or requested from the
    member's cloud-controller-manager through a LoadBalancer Service's annotations (CloudController)."""

    mode: LoadBalancerMode = "Managed"
    address_type: Literal["internet", "intranet"] = "internet"
    spec: SlbSpec = "slb.s1.small"
    bandwidth: Int | None = Field(default=None, ge=1, le=5120)
    charge_type: Literal["paybytraffic", "paybybandwidth"] = "paybytraffic"
    certificate_id: str | None = Field(default=None, pattern=c.CERTIFICATE_ID, max_length=128)
    health_check: SlbHealthCheck = Field(default_factory=SlbHealthCheck)

    @model_validator(mode="after")
    def _bandwidth(self) -> LoadBalancer:
        if self.charge_type == "paybybandwidth" and self.bandwidth is None:
            raise ValueError(
                "bandwidth: Required value: bandwidth is required when chargeType is paybybandwidth"
            )
        return self

    def certificate_for(self, port: ServicePort) -> str | None:
        """The server certificate of an HTTPS port: its own, else the load balancer's."""
        return port.certificate_id or self.certificate_id


# --- DNS -------------------------------------------------------------------------------------------


class DnsLine(ApiModel):
    """Pins a client line (alidns line code) to a set of regions (Geo policy, or an override)."""

    line: str = Field(pattern=c.LINE_CODE, max_length=c.LINE_CODE_MAX)
    regions: list[RegionName] = Field(min_length=1)

    @field_validator("regions")
    @classmethod
    def _unique(cls, regions: list[str]) -> list[str]:
        dups = _duplicates(regions)
        if dups:
            raise ValueError(f"Duplicate value: {dups[0]!r}")
        return regions


class DnsSpec(ApiModel):
    zone: str = Field(pattern=c.DOMAIN_NAME, max_length=c.DOMAIN_NAME_MAX)
    hostname: str = Field(pattern=c.DOMAIN_NAME, max_length=c.DOMAIN_NAME_MAX)
    ttl: Int = Field(default=60, ge=1, le=86400)
    policy: DnsPolicy = "Latency"
    latency_tolerance_ms: Int = Field(default=20, ge=0, le=10000)
    failover_order: list[RegionName] | None = None
    lines: list[DnsLine] | None = None

    @model_validator(mode="after")
    def _cross_field(self) -> DnsSpec:
        if self.hostname != self.zone and not self.hostname.endswith("." + self.zone):
            raise ValueError(
                f"hostname: {self.hostname!r} must be the zone {self.zone!r} or a name inside it"
            )
        if self.policy == "Geo" and not self.lines:
            raise ValueError("lines: Required value: lines is required when policy is Geo")
        dups = _duplicates(line.line for line in self.lines or [])
        if dups:
            raise ValueError(f"lines: Duplicate value: line {dups[0]!r} is listed more than once")
        dups = _duplicates(self.failover_order or [])
        if dups:
            raise ValueError(f"failoverOrder: Duplicate value: {dups[0]!r}")
        return self

    def relative_name(self) -> str:
        """The record name relative to the zone, as alidns' RR wants it ("www", or "@" for the apex)."""
        if self.hostname == self.zone:
            return "@"
        return self.hostname[: -len(self.zone) - 1]


# --- external health probe ------------------------------------------------------------------------


class HealthProbe(ApiModel):
    """The probe of each regional VIP from outside the cluster."""

    type: Literal["TCP", "HTTP"] = "TCP"
    path: str | None = Field(default=None, pattern=c.HTTP_PATH, max_length=1024)
    port: Int | None = Field(default=None, ge=1, le=65535)
    interval_seconds: Int = Field(default=2, ge=1, le=3600)
    timeout_seconds: Int = Field(default=1, ge=1, le=60)
    failure_threshold: Int = Field(default=8, ge=1, le=10)
    success_threshold: Int = Field(default=2, ge=1, le=10)

    @model_validator(mode="after")
    def _cross_field(self) -> HealthProbe:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("timeoutSeconds: must be less than or equal to intervalSeconds")
        if self.path is not None and self.type != "HTTP":
            raise ValueError("path: Forbidden: path is only valid for HTTP probes")
        return self

    def effective_path(self) -> str:
        return self.path or "/"

    def effective_port(self, ports: list[ServicePort]) -> int:
        """The port probed: the configured one, else the first service port."""
        return self.port if self.port is not None else ports[0].port


# --- the resource ----------------------------------------------------------------------------------


class FederatedAppSpec(ApiModel):
    replicas: Int = Field(default=1, ge=0)
    template: PodTemplate
    selector: LabelSelector | None = None
    placement: Placement
    overrides: list[RegionOverride] | None = None
    ports: list[ServicePort] = Field(min_length=1, max_length=32)
    load_balancer: LoadBalancer = Field(default_factory=LoadBalancer)
    dns: DnsSpec
    health_probe: HealthProbe = Field(default_factory=HealthProbe)

    @model_validator(mode="after")
    def _cross_field(self) -> FederatedAppSpec:
        regions = set(self.placement.region_names())
        if self.selector is not None and self.selector.match_labels:
            labels = self.template.labels()
            for key, value in self.selector.match_labels.items():
                if labels.get(key) != value:
                    raise ValueError(
                        f"selector: matchLabels {key}={value} does not match template.metadata.labels"
                    )
        containers = set(self.template.container_names())
        for i, ov in enumerate(self.overrides or []):
            if ov.region not in regions:
                raise ValueError(
                    f"overrides[{i}].region: {ov.region!r} is not a region listed in placement.regions"
                )
            if ov.container is not None and ov.container not in containers:
                raise ValueError(
                    f"overrides[{i}].container: {ov.container!r} is not a container of the pod template"
                )
        dups = _duplicates(ov.region for ov in self.overrides or [])
        if dups:
            raise ValueError(f"overrides: Duplicate value: region {dups[0]!r} has more than one override")
        dups = _duplicates(p.name for p in self.ports)
        if dups:
            raise ValueError(f"ports: Duplicate value: port name {dups[0]!r}")
        dups = _duplicates((p.port, p.transport()) for p in self.ports)
        if dups:
            raise ValueError(f"ports: Duplicate value: port {dups[0][0]} is used twice for {dups[0][1]}")
        regional = {o.region for o in self.overrides or [] if o.certificate_id}
        every_region = set(self.placement.region_names()) <= regional
        for i, p in enumerate(self.ports):
            if p.protocol == "HTTPS" and not self.load_balancer.certificate_for(p) and not every_region:
                raise ValueError(
                    f"ports[{i}].certificateId: Required value: port {p.name!r} uses HTTPS and neither it, "
                    "loadBalancer.certificateId nor an override of every region names a certificate"
                )
        for i, line in enumerate(self.dns.lines or []):
            unknown = [r for r in line.regions if r not in regions]
            if unknown:
                raise ValueError(
                    f"dns.lines[{i}].regions: {unknown[0]!r} is not a region listed in placement.regions"
                )
        unknown = [r for r in self.dns.failover_order or [] if r not in regions]
        if unknown:
            raise ValueError(f"dns.failoverOrder: {unknown[0]!r} is not a region listed in placement.regions")
        if self.dns.policy == "Failover" and not (self.dns.failover_order or self.placement.failover_order):
            raise ValueError(
                "dns.failoverOrder: Required value: the Failover DNS policy needs dns.failoverOrder "
                "or placement.failoverOrder"
            )
        if self.health_probe.port is not None and self.health_probe.port not in {p.port for p in self.ports}:
            raise ValueError(f"healthProbe.port: {self.health_probe.port} is not one of spec.ports")
        return self

    def override_for(self, region: str) -> RegionOverride | None:
        for ov in self.overrides or []:
            if ov.region == region:
                return ov
        return None

    def certificate_for(self, port: ServicePort, region: str | None = None) -> str | None:
        """The SLB server certificate of an HTTPS port in ``region``: the region override's (server
        certificates are regional), else the port's, else the load balancer's."""
        ov = self.override_for(region) if region else None
        if ov is not None and ov.certificate_id:
            return ov.certificate_id
        return self.load_balancer.certificate_for(port)

    def dns_failover_order(self) -> list[str]:
        """Regions in DNS failover priority: dns.failoverOrder, else placement.failoverOrder, else the
        order of placement.regions; regions the explicit order leaves out follow in listed order."""
        explicit = list(self.dns.failover_order or self.placement.failover_order or [])
        return explicit + [r for r in self.placement.region_names() if r not in explicit]


class BackendHealth(ApiModel):
    """DescribeHealthStatus of the regional SLB, counted over (backend, listener port) pairs."""

    normal: Int = Field(default=0, ge=0)
    abnormal: Int = Field(default=0, ge=0)
    unavailable: Int = Field(default=0, ge=0)


class RegionStatus(ApiModel):
    region: str
    cluster: str | None = None
    desired_replicas: Int | None = Field(default=None, ge=0)
    ready_replicas: Int | None = Field(default=None, ge=0)
    reachable: StrictBool | None = None
    health: str | None = None
    health_reason: str | None = None
    excluded_reason: str | None = None
    load_balancer_id: str | None = None
    address: str | None = None
    backend_health: BackendHealth | None = None
    listeners: list[str] | None = None
    serving_dns: StrictBool | None = Field(default=None, alias="servingDNS")
    dns_reason: str | None = None
    phase: Literal["Serving", "Joining", "Draining", "Drained"] | None = None
    phase_reason: str | None = None
    draining_until: datetime | None = None
    dns_removed_at: datetime | None = None


class DnsRecordStatus(ApiModel):
    line: str
    values: list[str] = Field(default_factory=list)


class DnsStatus(ApiModel):
    hostname: str | None = None
    fail_open: StrictBool = False
    records: list[DnsRecordStatus] = Field(default_factory=list)


class FederatedAppStatus(ApiModel):
    observed_generation: Int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(default_factory=list)
    replicas: Int | None = Field(default=None, ge=0)
    ready_replicas: Int | None = Field(default=None, ge=0)
    regions_ready: str | None = Field(
        default=None, description="regions with every replica ready / regions the spec lists, e.g. 2/3"
    )
    regions: list[RegionStatus] = Field(default_factory=list)
    dns: DnsStatus | None = None


class FederatedApp(ApiModel):
    api_version: Literal["federation.io/v1alpha1"] = "federation.io/v1alpha1"
    kind: Literal["FederatedApp"] = "FederatedApp"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: FederatedAppSpec
    status: FederatedAppStatus | None = None

    @model_validator(mode="after")
    def _name_is_label(self) -> FederatedApp:
        # The name becomes the federation.io/app label value in every member: a DNS-1123 label.
        name = self.metadata.name
        if name is not None and (len(name) > c.DNS1123_LABEL_MAX or not re.match(c.DNS1123_LABEL, name)):
            raise ValueError(
                "metadata.name: must be a DNS-1123 label of at most 63 characters "
                "(it becomes a label value in member clusters)"
            )
        return self

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def key(self) -> str:
        """ "namespace/name", the work-queue key."""
        return f"{self.namespace}/{self.name}"

    def effective_selector(self) -> LabelSelector:
        """spec.selector, or the generated one: {matchLabels: {federation.io/app: <name>}}."""
        if self.spec.selector is not None:
            return self.spec.selector
        return LabelSelector(match_labels={c.LABEL_APP: self.name})

    def pod_labels(self) -> dict[str, str]:
        """Template labels plus the app label, so the generated selector always selects the pods."""
        return {**self.spec.template.labels(), c.LABEL_APP: self.name}

    def ownership_labels(self, uid: str | None = None) -> dict[str, str]:
        """Labels put on every object created in a member cluster for this app."""
        labels = {
            c.LABEL_APP: self.name,
            c.LABEL_APP_NAMESPACE: self.namespace,
            c.LABEL_MANAGED_BY: c.MANAGED_BY,
        }
        owner_uid = uid if uid is not None else self.metadata.uid
        if owner_uid:
            labels[c.LABEL_APP_UID] = owner_uid
        return labels


__all__ = [
    "DNS_POLICIES",
    "PORT_PROTOCOLS",
    "STRATEGIES",
    "BackendHealth",
    "DnsLine",
    "DnsPolicy",
    "DnsRecordStatus",
    "DnsSpec",
    "DnsStatus",
    "EnvVar",
    "FederatedApp",
    "FederatedAppSpec",
    "FederatedAppStatus",
    "HealthProbe",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LoadBalancer",
    "LoadBalancerMode",
    "Placement",
    "PlacementRegion",
    "PodTemplate",
    "PortProtocol",
    "RegionOverride",
    "RegionStatus",
    "ResourceRequirements",
    "ServicePort",
    "SlbHealthCheck",
    "Strategy",
]
