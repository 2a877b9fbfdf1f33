"""CloudController mode: the annotations asking Alibaba's cloud-controller-manager for the SLB: pure.

With ``spec.loadBalancer.mode: CloudController`` the member's Service is ``type: LoadBalancer`` and the
CCM (ACK's, or any cluster running it) creates and owns the SLB; these annotations carry the same
settings the Managed step would apply itself (prefix ``service.beta.kubernetes.io/alibaba-cloud-
loadbalancer-``): address type, spec, charge type and bandwidth, the protocol of each port and the
HTTPS certificate, the health check, the vSwitch of an intranet SLB, the zones, the name and tags, and
deletion protection off. The region's address is then the Service's ``status.loadBalancer``.
"""

from __future__ import annotations

from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.slb.plan import lb_name, lb_tags

PREFIX = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"


def ccm_annotations(app: FederatedApp, mc: MemberCluster | None) -> dict[str, str]:
    lb = app.spec.load_balancer
    hc = lb.health_check
    ann: dict[str, str] = {
        "address-type": lb.address_type,
        "spec": lb.spec,
        "charge-type": lb.charge_type,
        "protocol-port": ",".join(f"{p.protocol.lower()}:{p.port}" for p in app.spec.ports),
        "name": lb_name(app.namespace, app.name),
        "additional-resource-tags": ",".join(f"{k}={v}" for k, v in sorted(lb_tags(app).items()) if v),
        "delete-protection": "off",
        "health-check-flag": "on" if hc.enabled else "off",
        "health-check-switch": "on" if hc.enabled else "off",
    }
    if lb.bandwidth is not None:
        ann["bandwidth"] = str(lb.bandwidth)
    region = mc.spec.region if mc is not None else None
    certs = {app.spec.certificate_for(p, region) for p in app.spec.ports if p.protocol == "HTTPS"} - {None}
    if certs:
        # the CCM takes one certificate per Service: every HTTPS port shares it
        ann["cert-id"] = sorted(c for c in certs if c)[0]
    if hc.enabled:
        ann.update(
            {
                "health-check-type": hc.type,
                "health-check-interval": str(hc.interval_seconds),
                "health-check-connect-timeout": str(hc.timeout_seconds),
                "health-check-timeout": str(hc.timeout_seconds),
                "healthy-threshold": str(hc.healthy_threshold),
                "unhealthy-threshold": str(hc.unhealthy_threshold),
            }
        )
        if hc.uri:
            ann["health-check-uri"] = hc.uri
        if hc.connect_port is not None:
            ann["health-check-connect-port"] = str(hc.connect_port)
    if mc is not None:
        if lb.address_type == "intranet" and mc.spec.v_switch_ids:
            ann["vswitch-id"] = mc.spec.v_switch_ids[0]
        zones = list(mc.spec.zones or [])
        if zones:
            ann["master-zoneid"] = zones[0]
        if len(zones) > 1:
            ann["slave-zoneid"] = zones[1]
    return {PREFIX + k: v for k, v in sorted(ann.items())}


def certificate_conflict(app: FederatedApp, region: str | None = None) -> str | None:
    """The CCM takes one certificate per Service: ports naming different ones cannot be expressed."""
    spec = app.spec
    certs = sorted(
        {c for p in spec.ports if p.protocol == "HTTPS" and (c := spec.certificate_for(p, region))}
    )
    if len(certs) > 1:
        return (
            "CloudController mode: the cloud-controller-manager takes one certificate per Service, the "
            f"HTTPS ports name {', '.join(certs)}; {certs[0]} is used for all"
        )
    return None
