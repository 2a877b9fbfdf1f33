"""Stateful classic SLB (API 2014-05-15): load balancers, listeners, backends, health, tags, quota.

Behaviour from the reference notes (SDK request classes of aliyun-python-sdk-slb 3.3.22 for parameter
names; Alibaba Cloud API docs for CreateLoadBalancer / listeners / DescribeHealthStatus):
- ``ClientToken`` makes CreateLoadBalancer idempotent: the same token in the same region answers the
  same load balancer, never a second one;
- each region hands out addresses from its own pool (internet ``198.18.R.N``, intranet ``10.R.x.y``,
  documentation-safe ranges);
- a per-region instance quota (default 60) answers ``QuotaExceeded.LoadBalancer`` (code *unconfirmed*);
- delete protection answers ``OperationDenied.DeleteProtectionIsOn`` (Alibaba Cloud API docs,
  DeleteLoadBalancer: "The loadbalancer can't be deleted due to DeleteProtection is enabled.");
- missing load balancer ``InvalidLoadBalancerId.NotFound`` with HTTP 404 (status as reported in
  alibaba/terraform-provider issue #218, 2017; *unconfirmed* today);
- new listeners start ``stopped``; DescribeHealthStatus reports ``unavailable`` for servers behind a stopped
  listener or one without health check, else the state set by ``set_backend_health`` (default normal).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from federation.sandbox.aliyun.protocol import ApiError, Params, invalid, missing

PROTOCOLS = ("tcp", "udp", "http", "https")
SPECS = ("slb.s1.small", "slb.s2.small", "slb.s2.medium", "slb.s3.small", "slb.s3.medium", "slb.s3.large")
_NAME_RE = re.compile(r"^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5._/-]{0,79}$")
_REGION_RE = re.compile(r"^[a-z]{2}-[a-z0-9-]+$")
_HC_INT = {
    "HealthyThreshold": (2, 10),
    "UnhealthyThreshold": (2, 10),
    "HealthCheckConnectTimeout": (1, 300),
    "healthCheckInterval": (1, 50),
    "HealthCheckInterval": (1, 50),
    "HealthCheckTimeout": (1, 300),
    "HealthCheckConnectPort": (1, 65535),
}


def _next_token(p: Params) -> int:
    token = p.get("NextToken") or "0"
    if not token.isdigit():
        raise ApiError("InvalidParameter.NextToken", f"The specified NextToken {token!r} is not valid.")
    return int(token)


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
        self._regions: dict[str, int] = {}
        self._counter = 0
        self._clock = clock
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

    def _address(self, region: str, address_type: str) -> str:
        r = self._regions[region]
        used = {lb.address for lb in self.lbs.values() if lb.region == region}
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
            raise ApiError(
                "QuotaExceeded.LoadBalancer",
                f"The number of load balancers in {region} exceeds the quota of {self.quota_per_region}.",
            )
        self._counter += 1
        lb_id = f"lb-{region.split('-', 1)[-1].replace('-', '')[:6]}{self._counter:018x}"
        lb = LoadBalancer(
            lb_id=lb_id,
            region=region,
            name=name or f"auto_named_slb{self._counter}",
            address=p.get("Address") or self._address(region, address_type),
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
        return {}

    # ---- listeners -----------------------------------------------------------------------------
    def _create_listener(self, p: Params, protocol: str) -> dict[str, Any]:
        lb = self._lb(p)
        port = p.req_int("ListenerPort", lo=1, hi=65535)
        if any(lp == port for lp, _ in lb.listeners):
            raise ApiError("ListenerAlreadyExists", f"The listener port {port} already exists.")
        backend_port = p.int_("BackendServerPort", lo=1, hi=65535)
        if backend_port is None and not p.get("VServerGroupId"):
            raise missing("BackendServerPort")
        if protocol in ("tcp", "https") and p.get("Bandwidth") is None:
            raise missing("Bandwidth")
        bandwidth = p.int_("Bandwidth", -1, lo=-1, hi=5120)
        scheduler = p.get("Scheduler") or "wrr"
        if scheduler not in ("wrr", "rr", "wlc", "sch", "tch", "qch"):
            raise invalid("Scheduler", scheduler)
        if protocol == "https" and not p.get("ServerCertificateId"):
            raise missing("ServerCertificateId")
        hc: dict[str, Any] = {}
        for name, (lo, hi) in _HC_INT.items():
            value = p.int_(name, lo=lo, hi=hi)
            if value is not None:
                hc[name] = value
        for name in (
            "HealthCheckType",
            "HealthCheckURI",
            "HealthCheckDomain",
            "HealthCheckHttpCode",
            "HealthCheck",
            "HealthCheckSwitch",
            "HealthCheckMethod",
        ):
            if p.get(name) is not None:
                hc[name] = p.get(name)
        if hc.get("HealthCheckType", "tcp") not in ("tcp", "http"):
            raise invalid("HealthCheckType", hc["HealthCheckType"], "It must be tcp or http.")
        uri = hc.get("HealthCheckURI")
        if uri is not None and not str(uri).startswith("/"):
            raise invalid("HealthCheckURI", uri, "It must start with /.")
        if protocol in ("http", "https"):
            hc.setdefault("HealthCheck", "on")
            if hc["HealthCheck"] not in ("on", "off"):
                raise invalid("HealthCheck", hc["HealthCheck"], "It must be on or off.")
        else:
            hc.setdefault("HealthCheckSwitch", "on")
            if protocol == "tcp":
                hc.setdefault("HealthCheckType", "tcp")
        hc.setdefault("HealthyThreshold", 3)
        hc.setdefault("UnhealthyThreshold", 3)
        extra = {
            k: p.get(k)
            for k in ("ServerCertificateId", "StickySession", "VServerGroupId", "Description")
            if p.get(k) is not None
        }
        lb.listeners[(port, protocol)] = Listener(
            port, protocol, backend_port or 0, bandwidth or -1, scheduler, health_check=hc, extra=extra
        )
        return {}

    def CreateLoadBalancerTCPListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "tcp")

    def CreateLoadBalancerUDPListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "udp")

    def CreateLoadBalancerHTTPListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "http")

    def CreateLoadBalancerHTTPSListener(self, p: Params) -> dict[str, Any]:
        return self._create_listener(p, "https")

    def _listener(self, p: Params) -> tuple[LoadBalancer, Listener]:
        lb = self._lb(p)
        port = p.req_int("ListenerPort", lo=1, hi=65535)
        proto = (p.get("ListenerProtocol") or "").lower()
        for (lport, lproto), listener in lb.listeners.items():
            if lport == port and (not proto or proto == lproto):
                return lb, listener
        raise ApiError("InvalidParameter.ListenerNotFound", f"The listener {port} does not exist.")

    def StartLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        self._listener(p)[1].status = "running"
        return {}

    def StopLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        self._listener(p)[1].status = "stopped"
        return {}

    def DeleteLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        lb, listener = self._listener(p)
        del lb.listeners[(listener.port, listener.protocol)]
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
                        cfg_key: {**li.health_check, **li.extra},
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
        if len(raw) > 20:
            raise invalid("BackendServers", len(raw), "At most 20 servers per call.")
        out = []
        for i, s in enumerate(raw):
            if not isinstance(s, dict) or not s.get("ServerId"):
                raise invalid(f"BackendServers[{i}].ServerId", s, "ServerId is required.")
            try:
                weight = int(s.get("Weight", 100))
            except (TypeError, ValueError):
                raise invalid(f"BackendServers[{i}].Weight", s.get("Weight")) from None
            if not 0 <= weight <= 100:
                raise invalid(f"BackendServers[{i}].Weight", weight, "It must be between 0 and 100.")
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

    def AddBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        for s in self._servers(p):
            if not s["ServerIp"]:
                n = len(lb.backends) + 1
                s["ServerIp"] = f"192.168.{n // 250}.{n % 250 + 1}"
            s["VpcId"] = lb.vpc_id
            lb.backends[s["ServerId"]] = s
        return self._backends_answer(lb)

    def SetBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        for s in self._servers(p):
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
        return self._backends_answer(lb)

    def DescribeHealthStatus(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        port = p.int_("ListenerPort", lo=1, hi=65535)
        proto = (p.get("ListenerProtocol") or "").lower()
        out = []
        for (lport, lproto), li in sorted(lb.listeners.items()):
            if (port is not None and lport != port) or (proto and proto != lproto):
                continue
            hc_on = li.health_check.get("HealthCheck", li.health_check.get("HealthCheckSwitch", "on")) == "on"
            for b in lb.backends.values():
                if li.status != "running" or not hc_on:
                    status = "unavailable"
                else:
                    status = self.health.get((lb.lb_id, b["ServerId"]), "normal")
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
                dict(b, Health=self.health.get((lb.lb_id, b["ServerId"]), "normal"))
                for b in lb.backends.values()
            ]
            out.append(v)
        return {"load_balancers": out, "quota_per_region": self.quota_per_region}
