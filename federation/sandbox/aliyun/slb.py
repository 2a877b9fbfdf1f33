"""Stateful classic SLB (API 2014-05-15): load balancers, listeners, backends, health, tags, quota,
server certificates and the ECS instances backends must be.

Behaviour from the reference notes (SDK request classes of aliyun-python-sdk-slb 3.3.22 for parameter
names; Alibaba Cloud API docs for CreateLoadBalancer / listeners / DescribeHealthStatus). Error codes
marked [common] are from the SLB API reference's "Common error codes" page (HTTP status, code and
message as listed there); [tf] from terraform-provider-alicloud's error constants:
- ``ClientToken`` makes CreateLoadBalancer idempotent: the same token in the same region answers the
  same load balancer, never a second one;
- each region hands out addresses from its own pool (internet ``198.18.R.N``, intranet ``10.R.x.y``,
  documentation-safe ranges), or with a data plane attached (the sandbox) a distinct loopback address
  per load balancer that really answers (:mod:`federation.sandbox.aliyun.slbdata`);
- a per-region instance quota (default 60) answers 400 ``OverQuota`` "Instance num exceeded Quota."
  [common];
- delete protection answers ``OperationDenied.DeleteProtectionIsOn`` (Alibaba Cloud API docs,
  DeleteLoadBalancer: "The loadbalancer can't be deleted due to DeleteProtection is enabled.");
- missing load balancer ``InvalidLoadBalancerId.NotFound`` with HTTP 404 (status as reported in
  alibaba/terraform-provider issue #218, 2017; *unconfirmed* today);
- a listener that does not exist: 404 ``ListenerNotFound`` [common]; a port already used: 400
  ``ListenerAlreadyExists`` [common];
- backends must be ECS instances the region knows (:meth:`SlbService.register_instance`); an unknown
  id answers 400 ``ObtainIpFail`` "The specified BackendServers is invalid; some of the specified
  backend servers do not exist or are not running." [common]; more than 20 in one call 400
  ``TooManyBackendServers``, a weight outside 0-100 400 ``InvalidWeight.Malformed`` [common];
- server certificates are regional; an HTTPS listener or a delete naming an unknown one answers
  ``ServerCertificateId.NotFound`` [tf] (HTTP 400, status *unconfirmed*); deleting one a listener uses
  400 ``CertificateAndPrivateKeyIsRefered`` [common]; a certificate that is not PEM 400
  ``KeyFormatError``, a key that does not match it 400 ``CertificateNotMatchPrivateKey`` [common];
- Set{TCP,UDP,HTTP,HTTPS}ListenerAttribute change a listener in place; like the real request classes
  they take no ``BackendServerPort`` (a changed backend port means a new listener);
- ModifyLoadBalancerInternetSpec: an intranet instance cannot go pay-by-bandwidth, 400
  ``ActionNotAllowed`` [common];
- new listeners start ``stopped``; DescribeHealthStatus reports ``unavailable`` for servers behind a stopped
  listener or one without health check, else what the data plane's health check found, or what
  ``set_backend_health`` set (default normal).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from federation.sandbox.aliyun.protocol import ApiError, Params, invalid, missing
from federation.sandbox.loopback import require_loopback

PROTOCOLS = ("tcp", "udp", "http", "https")
SPECS = ("slb.s1.small", "slb.s2.small", "slb.s2.medium", "slb.s3.small", "slb.s3.medium", "slb.s3.large")
_NAME_RE = re.compile(r"^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5._/-]{0,79}$")
_REGION_RE = re.compile(r"^[a-z]{2}-[a-z0-9-]+$")
_HTTP_CODES = {"http_2xx", "http_3xx", "http_4xx", "http_5xx"}
_HC_INT = {
    "HealthyThreshold": (2, 10),
    "UnhealthyThreshold": (2, 10),
    "HealthCheckConnectTimeout": (1, 300),
    "healthCheckInterval": (1, 50),
    "HealthCheckInterval": (1, 50),
    "HealthCheckTimeout": (1, 300),
    "HealthCheckConnectPort": (1, 65535),
}


def _cert_not_found(cert_id: str) -> ApiError:
    return ApiError(
        "ServerCertificateId.NotFound", f"The specified ServerCertificateId {cert_id} does not exist."
    )


def _parse_certificate(cert_pem: str, key_pem: str) -> tuple[str, str, list[str], float]:
    """(fingerprint, common name, alternative names, expiry) of a PEM certificate whose key matches."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise ApiError(
            "KeyFormatError", "The specified ServerCertificate is incorrectly formatted."
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:  # [common]
        raise ApiError("PrivateKeyEncryption", "Key has Encrypted .") from None
    except ValueError:
        raise invalid("PrivateKey", "(not shown)", "The specified parameter key format is error.") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
        raise ApiError("CertificateNotMatchPrivateKey", "Certificate and key does not match.")
    digest = cert.fingerprint(hashes.SHA1()).hex()  # the API reports SHA-1 fingerprints
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        alt = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        alt = []
    return (
        ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        str(cns[0].value) if cns else "",
        alt,
        cert.not_valid_after_utc.timestamp(),
    )


def _next_token(p: Params) -> int:
    token = p.get("NextToken") or "0"
    if not token.isdigit():
        raise ApiError("InvalidParameter.NextToken", f"The specified NextToken {token!r} is not valid.")
    return int(token)


@dataclass
class EcsInstance:
    """An ECS instance a region knows: what a backend ``ServerId`` must name."""

    instance_id: str
    region: str
    private_ip: str
    address: str | None = None  # where it really answers (loopback, in the sandbox); None: nowhere


@dataclass
class Certificate:
    cert_id: str
    region: str
    name: str
    cert_pem: str
    key_pem: str
    fingerprint: str
    common_name: str
    alt_names: list[str]
    expire: float
    created: float


@dataclass
class Listener:
    port: int
    protocol: str
    backend_port: int
    bandwidth: int
    scheduler: str
    status: str = "stopped"
    health_check: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadBalancer:
    lb_id: str
    region: str
    name: str
    address: str
    address_type: str
    network_type: str
    vpc_id: str
    vswitch_id: str
    spec: str
    charge_type: str
    bandwidth: int
    master_zone: str
    slave_zone: str
    create_time: str
    delete_protection: str
    status: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    listeners: dict[tuple[int, str], Listener] = field(default_factory=dict)
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)


class SlbService:
    """All regions' load balancers of one account."""

    def __init__(self, quota_per_region: int = 60, clock: Callable[[], float] = time.time) -> None:
        self.quota_per_region = quota_per_region
        self.lbs: dict[str, LoadBalancer] = {}
        self.tokens: dict[tuple[str, str], str] = {}
        self.health: dict[tuple[str, str], str] = {}
        # what the data plane's health checks found: (lb id, listener port, protocol, server id) -> status
        self.checked: dict[tuple[str, int, str, str], str] = {}
        self.instances: dict[tuple[str, str], EcsInstance] = {}  # (region, instance id)
        self.certificates: dict[str, Certificate] = {}
        self._regions: dict[str, int] = {}
        self._counter = 0
        self._clock = clock
        # The sandbox's data plane: hands out loopback addresses (region, lb id) -> address.
        self.address_allocator: Callable[[str, str], str] | None = None
        # The simulated public address of each load balancer when the allocator replaced it.
        self.public_addresses: dict[str, str] = {}
        # DescribeHealthStatus for a backend no health check has looked at yet (the data plane: unavailable)
        self.unchecked_status = "normal"
        self.actions: dict[str, Callable[[Params], dict[str, Any]]] = {
            name: getattr(self, name)
            for name in (
                "CreateLoadBalancer",
                "DescribeLoadBalancers",
                "DescribeLoadBalancerAttribute",
                "SetLoadBalancerStatus",
                "DeleteLoadBalancer",
                "CreateLoadBalancerTCPListener",
                "CreateLoadBalancerUDPListener",
                "CreateLoadBalancerHTTPListener",
                "CreateLoadBalancerHTTPSListener",
                "DescribeLoadBalancerListeners",
                "StartLoadBalancerListener",
                "StopLoadBalancerListener",
                "DeleteLoadBalancerListener",
                "AddBackendServers",
                "RemoveBackendServers",
                "SetBackendServers",
                "DescribeHealthStatus",
                "TagResources",
                "UntagResources",
                "ListTagResources",
                "AddTags",
                "RemoveTags",
                "DescribeTags",
                "DescribeLoadBalancerTCPListenerAttribute",
                "DescribeLoadBalancerUDPListenerAttribute",
                "DescribeLoadBalancerHTTPListenerAttribute",
                "DescribeLoadBalancerHTTPSListenerAttribute",
                "SetLoadBalancerTCPListenerAttribute",
                "SetLoadBalancerUDPListenerAttribute",
                "SetLoadBalancerHTTPListenerAttribute",
                "SetLoadBalancerHTTPSListenerAttribute",
                "ModifyLoadBalancerInternetSpec",
                "ModifyLoadBalancerInstanceSpec",
                "SetLoadBalancerDeleteProtection",
                "SetLoadBalancerName",
                "UploadServerCertificate",
                "DescribeServerCertificates",
                "DeleteServerCertificate",
                "SetServerCertificateName",
            )
        }

    # ---- helpers -------------------------------------------------------------------------------
    def _region(self, p: Params) -> str:
        region = p.req("RegionId")
        if not _REGION_RE.match(region):
            raise invalid("RegionId", region)
        if region not in self._regions:
            self._regions[region] = len(self._regions) + 1
        return region

    def _lb(self, p: Params, name: str = "LoadBalancerId") -> LoadBalancer:
        lb_id = p.req(name)
        lb = self.lbs.get(lb_id)
        if lb is None or lb.region != p.get("RegionId", lb.region):
            raise ApiError(
                "InvalidLoadBalancerId.NotFound", f"The specified LoadBalancerId {lb_id} does not exist.", 404
            )
        return lb

    def register_instance(
        self, region: str, instance_id: str, *, private_ip: str = "", address: str | None = None
    ) -> EcsInstance:
        """Make ``instance_id`` an ECS instance of ``region`` (a valid backend ``ServerId`` there);
        ``address`` is where it really answers (the sandbox's node loopback address), if anywhere."""
        if not _REGION_RE.match(region):
            raise ValueError(f"region: {region!r} is not a region id")
        if not instance_id.startswith("i-"):
            raise ValueError(f"instance_id: {instance_id!r} is not an ECS instance id (i-...)")
        if address is not None:
            require_loopback(address, "address")
        n = len(self.instances) + 1
        inst = EcsInstance(instance_id, region, private_ip or f"192.168.{n // 250}.{n % 250 + 1}", address)
        self.instances[(region, instance_id)] = inst
        return inst

    def unregister_instance(self, region: str, instance_id: str) -> None:
        self.instances.pop((region, instance_id), None)

    def _address(self, region: str, address_type: str) -> str:
        r = self._regions[region]
        used = {lb.address for lb in self.lbs.values() if lb.region == region}
        used |= {a for lb_id, a in self.public_addresses.items() if lb_id in self.lbs}
        for n in range(1, 65000):
            addr = (
                (f"198.18.{r}.{n}" if n < 255 else None)
                if address_type == "internet"
                else f"10.{r}.{n // 250}.{n % 250 + 1}"
            )
            if addr is None:
                break
            if addr not in used:
                return addr
        raise ApiError("OperationFailed.NoAvailableAddress", f"No address is left in {region}.")

    def set_backend_health(self, lb_id: str, server_id: str, status: str) -> None:
        if status not in ("normal", "abnormal"):
            raise ValueError(f"status: must be normal or abnormal, got {status!r}")
        if lb_id not in self.lbs:
            raise KeyError(f"load balancer {lb_id!r} does not exist")
        self.health[(lb_id, server_id)] = status

    def _view(self, lb: LoadBalancer) -> dict[str, Any]:
        return {
            "LoadBalancerId": lb.lb_id,
            "LoadBalancerName": lb.name,
            "LoadBalancerStatus": lb.status,
            "Address": lb.address,
            "AddressType": lb.address_type,
            "NetworkType": lb.network_type,
            "VpcId": lb.vpc_id,
            "VSwitchId": lb.vswitch_id,
            "RegionId": lb.region,
            "RegionIdAlias": lb.region,
            "MasterZoneId": lb.master_zone,
            "SlaveZoneId": lb.slave_zone,
            "LoadBalancerSpec": lb.spec,
            "InternetChargeType": lb.charge_type,
            "Bandwidth": lb.bandwidth,
            "CreateTime": lb.create_time,
            "CreateTimeStamp": 0,
            "PayType": "PayOnDemand",
            "AddressIPVersion": "ipv4",
            "DeleteProtection": lb.delete_protection,
            "ResourceGroupId": "rg-default",
            "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in sorted(lb.tags.items())]},
        }

    # ---- load balancers ------------------------------------------------------------------------
    def CreateLoadBalancer(self, p: Params) -> dict[str, Any]:
        region = self._region(p)
        token = p.get("ClientToken")
        if token and (region, token) in self.tokens and self.tokens[(region, token)] in self.lbs:
            lb = self.lbs[self.tokens[(region, token)]]
            return self._create_answer(lb)
        name = p.get("LoadBalancerName")
        if name is not None and not _NAME_RE.match(name):
            raise invalid("LoadBalancerName", name, "It must be 1-80 characters and start with a letter.")
        vswitch = p.get("VSwitchId", "") or ""
        address_type = (p.get("AddressType") or ("intranet" if vswitch else "internet")).lower()
        if address_type not in ("internet", "intranet"):
            raise invalid("AddressType", address_type, "It must be internet or intranet.")
        spec = p.get("LoadBalancerSpec") or "slb.s1.small"
        if spec not in SPECS:
            raise invalid("LoadBalancerSpec", spec)
        charge = (p.get("InternetChargeType") or "paybytraffic").lower()
        if charge not in ("paybytraffic", "paybybandwidth"):
            raise invalid("InternetChargeType", charge)
        bandwidth = p.int_("Bandwidth", 5120, lo=1, hi=5120)
        assert bandwidth is not None
        protection = (p.get("DeleteProtection") or "off").lower()
        if protection not in ("on", "off"):
            raise invalid("DeleteProtection", protection, "It must be on or off.")
        tags = p.tags()
        if len(tags) > 20:
            raise invalid("Tag", len(tags), "At most 20 tags.")
        if sum(1 for lb in self.lbs.values() if lb.region == region) >= self.quota_per_region:
            raise ApiError("OverQuota", "Instance num exceeded Quota.")  # [common]
        self._counter += 1
        lb_id = f"lb-{region.split('-', 1)[-1].replace('-', '')[:6]}{self._counter:018x}"
        address = p.get("Address") or self._address(region, address_type)
        if self.address_allocator is not None:
            # the sandbox: the address handed out is one that really answers; the simulated one is kept
            self.public_addresses[lb_id] = address
            address = self.address_allocator(region, lb_id)
        lb = LoadBalancer(
            lb_id=lb_id,
            region=region,
            name=name or f"auto_named_slb{self._counter}",
            address=address,
            address_type=address_type,
            network_type="vpc" if vswitch else "classic",
            vpc_id=p.get("VpcId", "") or "",
            vswitch_id=vswitch,
            spec=spec,
            charge_type=charge,
            bandwidth=bandwidth,
            master_zone=p.get("MasterZoneId") or f"{region}-a",
            slave_zone=p.get("SlaveZoneId") or f"{region}-b",
            create_time=time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(self._clock())),
            delete_protection=protection,
            tags=tags,
        )
        self.lbs[lb_id] = lb
        if token:
            self.tokens[(region, token)] = lb_id
        return self._create_answer(lb)

    @staticmethod
    def _create_answer(lb: LoadBalancer) -> dict[str, Any]:
        return {
            "LoadBalancerId": lb.lb_id,
            "LoadBalancerName": lb.name,
            "Address": lb.address,
            "AddressIPVersion": "ipv4",
            "NetworkType": lb.network_type,
            "VpcId": lb.vpc_id,
            "VSwitchId": lb.vswitch_id,
            "ResourceGroupId": "rg-default",
            "OrderId": 0,
        }

    def DescribeLoadBalancers(self, p: Params) -> dict[str, Any]:
        region = self._region(p)
        ids = [x.strip() for x in (p.get("LoadBalancerId") or "").split(",") if x.strip()]
        if len(ids) > 10:
            raise invalid("LoadBalancerId", p.get("LoadBalancerId"), "At most 10 ids.")
        want_tags = dict(p.tags())
        if p.get("Tags"):
            raw = p.json("Tags")
            if not isinstance(raw, list) or not all(isinstance(t, dict) and "TagKey" in t for t in raw):
                raise invalid("Tags", p.get("Tags"), 'It must be [{"TagKey":..,"TagValue":..}].')
            want_tags.update({str(t["TagKey"]): str(t.get("TagValue", "")) for t in raw})
        exact = {
            "LoadBalancerName": "name",
            "AddressType": "address_type",
            "Address": "address",
            "NetworkType": "network_type",
            "VpcId": "vpc_id",
            "VSwitchId": "vswitch_id",
            "LoadBalancerStatus": "status",
            "InternetChargeType": "charge_type",
            "MasterZoneId": "master_zone",
            "SlaveZoneId": "slave_zone",
        }
        out = []
        for lb in sorted(self.lbs.values(), key=lambda x: x.lb_id):
            if lb.region != region or (ids and lb.lb_id not in ids):
                continue
            if any(p.get(k) is not None and str(getattr(lb, a)) != p.get(k) for k, a in exact.items()):
                continue
            if any(lb.tags.get(k) != v for k, v in want_tags.items()):
                continue
            if p.get("ServerId") and p.get("ServerId") not in lb.backends:
                continue
            out.append(self._view(lb))
        return p.page(out, key="LoadBalancers", item="LoadBalancer", default_size=10, max_size=100)

    def DescribeLoadBalancerAttribute(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        view = self._view(lb)
        ports = sorted(lb.listeners)
        view.update(
            {
                "ListenerPorts": {"ListenerPort": [port for port, _ in ports]},
                "ListenerPortsAndProtocol": {
                    "ListenerPortAndProtocol": [
                        {"ListenerPort": port, "ListenerProtocol": proto} for port, proto in ports
                    ]
                },
                "BackendServers": {"BackendServer": [dict(b) for b in lb.backends.values()]},
            }
        )
        return view

    def SetLoadBalancerStatus(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        status = p.req("LoadBalancerStatus")
        if status not in ("active", "inactive"):
            raise invalid("LoadBalancerStatus", status, "It must be active or inactive.")
        lb.status = status
        return {}

    def DeleteLoadBalancer(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        if lb.delete_protection == "on":
            raise ApiError(
                "OperationDenied.DeleteProtectionIsOn",
                "The loadbalancer can't be deleted due to DeleteProtection is enabled.",
            )
        del self.lbs[lb.lb_id]
        self.tokens = {k: v for k, v in self.tokens.items() if v != lb.lb_id}
        self.health = {k: v for k, v in self.health.items() if k[0] != lb.lb_id}
        self.checked = {k: v for k, v in self.checked.items() if k[0] != lb.lb_id}
        self.public_addresses.pop(lb.lb_id, None)
        return {}

    def ModifyLoadBalancerInternetSpec(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        charge = (p.get("InternetChargeType") or lb.charge_type).lower()
        if charge not in ("paybytraffic", "paybybandwidth"):
            raise invalid("InternetChargeType", charge, "It must be paybytraffic or paybybandwidth.")
        if charge == "paybybandwidth" and lb.address_type == "intranet":
            raise ApiError(  # [common]
                "ActionNotAllowed",
                "The Intranet LB's InternetChargeType is not allowed change to paybybandwidth.",
            )
        bandwidth = p.int_("Bandwidth", lb.bandwidth, lo=1, hi=5120)
        assert bandwidth is not None
        lb.charge_type, lb.bandwidth = charge, bandwidth
        return {"OrderId": 0}

    def ModifyLoadBalancerInstanceSpec(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        spec = p.req("LoadBalancerSpec")
        if spec not in SPECS:
            raise invalid("LoadBalancerSpec", spec)
        lb.spec = spec
        return {"OrderId": 0}

    def SetLoadBalancerDeleteProtection(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        value = p.req("DeleteProtection").lower()
        if value not in ("on", "off"):
            raise invalid("DeleteProtection", value, "It must be on or off.")
        lb.delete_protection = value
        return {}

    def SetLoadBalancerName(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        name = p.req("LoadBalancerName")
        if not _NAME_RE.match(name):
            raise invalid("LoadBalancerName", name, "It must be 1-80 characters and start with a letter.")
        lb.name = name
        return {}

    # ---- listeners -----------------------------------------------------------------------------
    def _listener_settings(self, p: Params, lb: LoadBalancer, protocol: str, li: Listener | None) -> Listener:
        """The listener ``p`` describes: a new one (``li`` None) or ``li`` with the given fields changed.
        Validation happens before anything is changed, so a refused update leaves the listener as it was."""
        creating = li is None
        if creating and protocol in ("tcp", "https") and p.get("Bandwidth") is None:
            raise missing("Bandwidth")
        bandwidth = p.int_("Bandwidth", li.bandwidth if li else -1, lo=-1, hi=5120)
        scheduler = p.get("Scheduler") or (li.scheduler if li else "wrr")
        if scheduler not in ("wrr", "rr", "wlc", "sch", "tch", "qch"):
            raise invalid("Scheduler", scheduler)
        hc: dict[str, Any] = dict(li.health_check) if li else {}
        for name, (lo, hi) in _HC_INT.items():
            value = p.int_(name, lo=lo, hi=hi)
            if value is not None:
                # the TCP create spells it healthCheckInterval, the Set* actions HealthCheckInterval
                hc["HealthCheckInterval" if name == "healthCheckInterval" else name] = value
        for name in (
            "HealthCheckType",
            "HealthCheckURI",
            "HealthCheckDomain",
            "HealthCheckHttpCode",
            "HealthCheck",
            "HealthCheckSwitch",
            "HealthCheckMethod",
            "healthCheckReq",
            "healthCheckExp",
        ):
            if p.get(name) is not None:
                hc[name] = p.get(name)
        if hc.get("HealthCheckType", "tcp") not in (
            ("tcp", "http", "udp") if protocol == "udp" else ("tcp", "http")
        ):
            raise invalid(
                "HealthCheckType", hc["HealthCheckType"], "It must be tcp or http (or udp, on UDP)."
            )
        uri = hc.get("HealthCheckURI")
        if uri is not None and not str(uri).startswith("/"):
            raise invalid("HealthCheckURI", uri, "It must start with /.")
        method = hc.get("HealthCheckMethod")
        if method is not None and str(method).lower() not in ("head", "get"):
            raise invalid("HealthCheckMethod", method, "It must be head or get.")
        codes = hc.get("HealthCheckHttpCode")
        if codes is not None and not set(str(codes).split(",")) <= _HTTP_CODES:
            raise invalid(
                "HealthCheckHttpCode", codes, "It must be http_2xx, http_3xx, http_4xx or http_5xx."
            )
        if protocol in ("http", "https"):
            hc.setdefault("HealthCheck", "on")
            if hc["HealthCheck"] not in ("on", "off"):
                raise invalid("HealthCheck", hc["HealthCheck"], "It must be on or off.")
        else:
            hc.setdefault("HealthCheckSwitch", "on")
            if hc["HealthCheckSwitch"] not in ("on", "off"):
                raise invalid("HealthCheckSwitch", hc["HealthCheckSwitch"], "It must be on or off.")
            if protocol == "tcp":
                hc.setdefault("HealthCheckType", "tcp")
        hc.setdefault("HealthyThreshold", 3)
        hc.setdefault("UnhealthyThreshold", 3)
        extra = dict(li.extra) if li else {}
        for k in ("ServerCertificateId", "StickySession", "VServerGroupId", "Description"):
            if p.get(k) is not None:
                extra[k] = p.get(k)
        if protocol == "https":
            cert_id = extra.get("ServerCertificateId")
            if not cert_id:
                raise missing("ServerCertificateId")
            cert = self.certificates.get(str(cert_id))
            if cert is None or cert.region != lb.region:
                raise _cert_not_found(str(cert_id))
        if creating:
            backend_port = p.int_("BackendServerPort", lo=1, hi=65535)
            if backend_port is None and not p.get("VServerGroupId"):
                raise missing("BackendServerPort")
            port = p.req_int("ListenerPort", lo=1, hi=65535)
            return Listener(
                port, protocol, backend_port or 0, bandwidth or -1, scheduler, health_check=hc, extra=extra
            )
        assert li is not None
        li.bandwidth, li.scheduler, li.health_check, li.extra = bandwidth or -1, scheduler, hc, extra
        return li

    def _create_listener(self, p: Params, protocol: str) -> dict[str, Any]:
        lb = self._lb(p)
        port = p.req_int("ListenerPort", lo=1, hi=65535)
        if any(lp == port for lp, _ in lb.listeners):
            raise ApiError("ListenerAlreadyExists", "A listener with the specified port already exists")
        lb.listeners[(port, protocol)] = self._listener_settings(p, lb, protocol, None)
        return {}

    def CreateLoadBalancerTCPListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "tcp")

    def CreateLoadBalancerUDPListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "udp")

    def CreateLoadBalancerHTTPListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "http")

    def CreateLoadBalancerHTTPSListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "https")

    def _listener(self, p: Params, protocol: str | None = None) -> tuple[LoadBalancer, Listener]:
        lb = self._lb(p)
        port = p.req_int("ListenerPort", lo=1, hi=65535)
        proto = protocol or (p.get("ListenerProtocol") or "").lower()
        for (lport, lproto), listener in lb.listeners.items():
            if lport == port and (not proto or proto == lproto):
                return lb, listener
        raise ApiError(  # [common]
            "ListenerNotFound",
            "You have not created a listener for the specified port of the load balancer.",
            404,
        )

    def _set_listener(self, p: Params, protocol: str) -> dict[str, Any]:
        lb, li = self._listener(p, protocol)
        self._listener_settings(p, lb, protocol, li)
        return {}

    def SetLoadBalancerTCPListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._set_listener(p, "tcp")

    def SetLoadBalancerUDPListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._set_listener(p, "udp")

    def SetLoadBalancerHTTPListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._set_listener(p, "http")

    def SetLoadBalancerHTTPSListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._set_listener(p, "https")

    @staticmethod
    def _listener_config(li: Listener) -> dict[str, Any]:
        cfg = {**li.health_check, **li.extra}
        if li.protocol in ("tcp", "udp") and "HealthCheckInterval" in cfg:
            cfg["healthCheckInterval"] = cfg["HealthCheckInterval"]  # both spellings, as the API has both
        return cfg

    def _describe_listener(self, p: Params, protocol: str) -> dict[str, Any]:
        lb, li = self._listener(p, protocol)
        return {
            "LoadBalancerId": lb.lb_id,
            "ListenerPort": li.port,
            "ListenerProtocol": li.protocol,
            "BackendServerPort": li.backend_port,
            "Bandwidth": li.bandwidth,
            "Status": li.status,
            "Scheduler": li.scheduler,
            **self._listener_config(li),
        }

    def DescribeLoadBalancerTCPListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._describe_listener(p, "tcp")

    def DescribeLoadBalancerUDPListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._describe_listener(p, "udp")

    def DescribeLoadBalancerHTTPListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._describe_listener(p, "http")

    def DescribeLoadBalancerHTTPSListenerAttribute(self, p: Params) -> dict[str, Any]:
        return self._describe_listener(p, "https")

    def StartLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        self._listener(p)[1].status = "running"
        return {}

    def StopLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        self._listener(p)[1].status = "stopped"
        return {}

    def DeleteLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        lb, listener = self._listener(p)
        del lb.listeners[(listener.port, listener.protocol)]
        self.checked = {
            k: v for k, v in self.checked.items() if k[:3] != (lb.lb_id, listener.port, listener.protocol)
        }
        return {}

    def DescribeLoadBalancerListeners(self, p: Params) -> dict[str, Any]:
        self._region(p)
        ids = p.repeat("LoadBalancerId")
        proto = (p.get("ListenerProtocol") or "").lower()
        port = p.int_("ListenerPort", lo=1, hi=65535)
        max_results = p.int_("MaxResults", 20, lo=1, hi=100)
        assert max_results is not None
        items = []
        for lb in sorted(self.lbs.values(), key=lambda x: x.lb_id):
            if lb.region != p.get("RegionId") or (ids and lb.lb_id not in ids):
                continue
            for (lport, lproto), li in sorted(lb.listeners.items()):
                if (proto and lproto != proto) or (port is not None and lport != port):
                    continue
                cfg_key = f"{lproto.upper()}ListenerConfig"
                items.append(
                    {
                        "LoadBalancerId": lb.lb_id,
                        "ListenerPort": lport,
                        "ListenerProtocol": lproto,
                        "Status": li.status,
                        "Scheduler": li.scheduler,
                        "Bandwidth": li.bandwidth,
                        "BackendServerPort": li.backend_port,
                        "Description": li.extra.get("Description", ""),
                        cfg_key: self._listener_config(li),
                    }
                )
        start = _next_token(p)
        page = items[start : start + max_results]
        nxt = start + max_results
        return {
            "Listeners": page,
            "TotalCount": len(items),
            "MaxResults": max_results,
            "NextToken": str(nxt) if nxt < len(items) else "",
        }

    # ---- backends and health -------------------------------------------------------------------
    def _servers(self, p: Params) -> list[dict[str, Any]]:
        raw = p.json("BackendServers")
        if not isinstance(raw, list) or not raw:
            raise invalid("BackendServers", p.get("BackendServers"), "It must be a non-empty JSON array.")
        if len(raw) > 20:  # [common]
            raise ApiError(
                "TooManyBackendServers",
                "The total number of input real servers exceeds max supported number: 20",
            )
        out = []
        for i, s in enumerate(raw):
            if not isinstance(s, dict) or not s.get("ServerId"):
                raise invalid(f"BackendServers[{i}].ServerId", s, "ServerId is required.")
            try:
                weight = int(s.get("Weight", 100))
            except (TypeError, ValueError):
                weight = -1
            if not 0 <= weight <= 100:  # [common]
                raise ApiError(
                    "InvalidWeight.Malformed", f"A specified weight is not valid: {s.get('Weight')!r}."
                )
            stype = s.get("Type", "ecs")
            if stype not in ("ecs", "eni", "eci"):
                raise invalid(f"BackendServers[{i}].Type", stype, "It must be ecs, eni or eci.")
            out.append(
                {
                    "ServerId": str(s["ServerId"]),
                    "Weight": weight,
                    "Type": stype,
                    "Description": str(s.get("Description", "")),
                    "ServerIp": s.get("ServerIp", ""),
                }
            )
        return out

    @staticmethod
    def _backends_answer(lb: LoadBalancer) -> dict[str, Any]:
        return {
            "LoadBalancerId": lb.lb_id,
            "BackendServers": {
                "BackendServer": [
                    {"ServerId": b["ServerId"], "Weight": b["Weight"], "Type": b["Type"]}
                    for b in lb.backends.values()
                ]
            },
        }

    def _known(self, lb: LoadBalancer, servers: list[dict[str, Any]]) -> None:
        """Every ECS ``ServerId`` must be an instance of the load balancer's region."""
        unknown = [
            s["ServerId"]
            for s in servers
            if s["Type"] == "ecs" and (lb.region, s["ServerId"]) not in self.instances
        ]
        if unknown:  # [common]
            raise ApiError(
                "ObtainIpFail",
                "The specified BackendServers is invalid; some of the specified backend servers do not exist "
                f"or are not running: {', '.join(unknown)}.",
            )

    def AddBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        servers = self._servers(p)
        self._known(lb, servers)
        seen: set[str] = set()
        for s in servers:
            # API docs: "If two or more same ECS instances are added in a request, only the first is added."
            if s["ServerId"] in seen:
                continue
            seen.add(s["ServerId"])
            inst = self.instances.get((lb.region, s["ServerId"]))
            if inst is not None:
                s["ServerIp"] = inst.private_ip
            s["VpcId"] = lb.vpc_id
            lb.backends[s["ServerId"]] = s
        return self._backends_answer(lb)

    def SetBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        servers = self._servers(p)
        self._known(lb, servers)
        for s in servers:
            if s["ServerId"] not in lb.backends:
                raise ApiError(
                    "InvalidBackendServer.NotFound",
                    f"The backend server {s['ServerId']} is not attached to {lb.lb_id}.",
                )
            lb.backends[s["ServerId"]]["Weight"] = s["Weight"]
        return self._backends_answer(lb)

    def RemoveBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        for s in self._servers(p):
            lb.backends.pop(s["ServerId"], None)
            self.health.pop((lb.lb_id, s["ServerId"]), None)
            self.checked = {
                k: v for k, v in self.checked.items() if (k[0], k[3]) != (lb.lb_id, s["ServerId"])
            }
        return self._backends_answer(lb)

    def backend_status(self, lb: LoadBalancer, li: Listener, server_id: str) -> str:
        """normal | abnormal | unavailable: what DescribeHealthStatus says for one backend of a listener."""
        hc = li.health_check
        if lb.status != "active" or li.status != "running":
            return "unavailable"
        if hc.get("HealthCheck", hc.get("HealthCheckSwitch", "on")) != "on":
            return "unavailable"
        forced = self.health.get((lb.lb_id, server_id))
        if forced is not None:
            return forced
        return self.checked.get((lb.lb_id, li.port, li.protocol, server_id), self.unchecked_status)

    def DescribeHealthStatus(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        port = p.int_("ListenerPort", lo=1, hi=65535)
        proto = (p.get("ListenerProtocol") or "").lower()
        out = []
        for (lport, lproto), li in sorted(lb.listeners.items()):
            if (port is not None and lport != port) or (proto and proto != lproto):
                continue
            for b in lb.backends.values():
                status = self.backend_status(lb, li, b["ServerId"])
                out.append(
                    {
                        "ServerId": b["ServerId"],
                        "ServerIp": b["ServerIp"],
                        "Port": li.backend_port,
                        "ListenerPort": lport,
                        "Protocol": lproto,
                        "ServerHealthStatus": status,
                        "EniHost": "",
                    }
                )
        return {"BackendServers": {"BackendServer": out}}

    # ---- server certificates -------------------------------------------------------------------
    def UploadServerCertificate(self, p: Params) -> dict[str, Any]:
        region = self._region(p)
        cert_pem, key_pem = p.get("ServerCertificate"), p.get("PrivateKey")
        if not cert_pem or not key_pem:
            if p.get("AliCloudCertificateId"):
                raise ApiError("UnsupportedParameter", "The emulator has no Certificate Management Service.")
            raise invalid(
                "ServerCertificate", None, "The specified parameter ServerCertificate or Key is empty."
            )
        parsed = _parse_certificate(cert_pem, key_pem)
        self._counter += 1
        now = self._clock()
        cert_id = f"{1000000000000000 + self._counter}_{int(now * 1000):x}_{self._counter:010d}"
        name = p.get("ServerCertificateName") or cert_id
        self.certificates[cert_id] = Certificate(
            cert_id, region, name, cert_pem, key_pem, *parsed, created=now
        )
        return self._cert_view(self.certificates[cert_id])

    def _cert_view(self, c: Certificate) -> dict[str, Any]:
        return {
            "ServerCertificateId": c.cert_id,
            "ServerCertificateName": c.name,
            "Fingerprint": c.fingerprint,
            "RegionId": c.region,
            "RegionIdAlias": c.region,
            "CommonName": c.common_name,
            "SubjectAlternativeNames": {"SubjectAlternativeName": list(c.alt_names)},
            "ExpireTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.expire)),
            "ExpireTimeStamp": int(c.expire * 1000),
            "CreateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.created)),
            "CreateTimeStamp": int(c.created * 1000),
            "IsAliCloudCertificate": 0,
            "AliCloudCertificateId": "",
            "AliCloudCertificateName": "",
            "ResourceGroupId": "rg-default",
        }

    def DescribeServerCertificates(self, p: Params) -> dict[str, Any]:
        region = self._region(p)
        ids = [x.strip() for x in (p.get("ServerCertificateId") or "").split(",") if x.strip()]
        certs = [
            self._cert_view(c)
            for c in sorted(self.certificates.values(), key=lambda c: c.cert_id)
            if c.region == region and (not ids or c.cert_id in ids)
        ]
        return {"ServerCertificates": {"ServerCertificate": certs}}

    def _certificate(self, p: Params) -> Certificate:
        region = self._region(p)
        cert_id = p.req("ServerCertificateId")
        cert = self.certificates.get(cert_id)
        if cert is None or cert.region != region:
            raise _cert_not_found(cert_id)
        return cert

    def DeleteServerCertificate(self, p: Params) -> dict[str, Any]:
        cert = self._certificate(p)
        for lb in self.lbs.values():
            if any(li.extra.get("ServerCertificateId") == cert.cert_id for li in lb.listeners.values()):
                raise ApiError(  # [common]
                    "CertificateAndPrivateKeyIsRefered", "Certificate and PrivateKey Is Refered."
                )
        del self.certificates[cert.cert_id]
        return {}

    def SetServerCertificateName(self, p: Params) -> dict[str, Any]:
        cert = self._certificate(p)
        cert.name = p.req("ServerCertificateName")
        return {}

    # ---- tags ----------------------------------------------------------------------------------
    def _tag_targets(self, p: Params) -> list[LoadBalancer]:
        rtype = p.req("ResourceType")
        if rtype != "instance":
            raise invalid("ResourceType", rtype, "The emulator tags load balancer instances only.")
        ids = p.repeat("ResourceId")
        if not ids:
            raise missing("ResourceId.N")
        if len(ids) > 20:
            raise invalid("ResourceId", len(ids), "At most 20 resources.")
        return [self._lb(Params({"LoadBalancerId": i, "RegionId": p.req("RegionId")})) for i in ids]

    def TagResources(self, p: Params) -> dict[str, Any]:
        tags = p.tags()
        if not tags:
            raise missing("Tag.N.Key")
        for lb in self._tag_targets(p):
            if len({**lb.tags, **tags}) > 20:
                raise ApiError("QuotaExceeded.TagNum", f"{lb.lb_id} would have more than 20 tags.")
            lb.tags.update(tags)
        return {}

    def UntagResources(self, p: Params) -> dict[str, Any]:
        keys = p.repeat("TagKey")
        every = p.bool_("All", False)
        for lb in self._tag_targets(p):
            for k in list(lb.tags) if every else keys:
                lb.tags.pop(k, None)
        return {}

    def ListTagResources(self, p: Params) -> dict[str, Any]:
        region = self._region(p)
        ids = p.repeat("ResourceId")
        want = p.tags()
        if not ids and not want:
            raise missing("ResourceId.N")
        items: list[dict[str, str]] = []
        for lb in sorted(self.lbs.values(), key=lambda x: x.lb_id):
            if lb.region != region or (ids and lb.lb_id not in ids):
                continue
            if any(lb.tags.get(k) != v for k, v in want.items()):
                continue
            items.extend(
                {"ResourceId": lb.lb_id, "ResourceType": "instance", "TagKey": k, "TagValue": v}
                for k, v in sorted(lb.tags.items())
            )
        start = _next_token(p)
        page = items[start : start + 50]
        return {
            "TagResources": {"TagResource": page},
            "NextToken": str(start + 50) if start + 50 < len(items) else "",
        }

    def _legacy_tags(self, p: Params) -> dict[str, str]:
        raw = p.json("Tags")
        if not isinstance(raw, list):
            raise invalid("Tags", p.get("Tags"), "It must be a JSON array.")
        return {
            str(t["TagKey"]): str(t.get("TagValue", "")) for t in raw if isinstance(t, dict) and "TagKey" in t
        }

    def AddTags(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        lb.tags.update(self._legacy_tags(p))
        return {}

    def RemoveTags(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        for k in self._legacy_tags(p):
            lb.tags.pop(k, None)
        return {}

    def DescribeTags(self, p: Params) -> dict[str, Any]:
        self._region(p)
        lbs = (
            [self._lb(p)]
            if p.get("LoadBalancerId")
            else [lb for lb in self.lbs.values() if lb.region == p.get("RegionId")]
        )
        counts: dict[tuple[str, str], int] = {}
        for lb in lbs:
            for k, v in lb.tags.items():
                counts[(k, v)] = counts.get((k, v), 0) + 1
        items = [{"TagKey": k, "TagValue": v, "InstanceCount": n} for (k, v), n in sorted(counts.items())]
        return {"TagSets": {"TagSet": items}, "TotalCount": len(items), "PageNumber": 1, "PageSize": 50}

    def state(self) -> dict[str, Any]:
        out = []
        for lb in sorted(self.lbs.values(), key=lambda x: x.lb_id):
            v = self._view(lb)
            if lb.lb_id in self.public_addresses:
                v["SimulatedPublicAddress"] = self.public_addresses[lb.lb_id]
            v["Listeners"] = [
                {
                    "ListenerPort": li.port,
                    "ListenerProtocol": li.protocol,
                    "Status": li.status,
                    "BackendServerPort": li.backend_port,
                    "HealthCheck": li.health_check,
                }
                for li in lb.listeners.values()
            ]
            v["BackendServers"] = [
                dict(
                    b,
                    Health={
                        f"{li.protocol}:{li.port}": self.backend_status(lb, li, b["ServerId"])
                        for li in lb.listeners.values()
                    },
                )
                for b in lb.backends.values()
            ]
            out.append(v)
        return {
            "load_balancers": out,
            "quota_per_region": self.quota_per_region,
            "instances": [
                {
                    "region": i.region,
                    "instance_id": i.instance_id,
                    "private_ip": i.private_ip,
                    "address": i.address,
                }
                for i in sorted(self.instances.values(), key=lambda i: (i.region, i.instance_id))
            ],
            # never the private keys
            "server_certificates": [
                self._cert_view(c) for c in sorted(self.certificates.values(), key=lambda c: c.cert_id)
            ],
        }
