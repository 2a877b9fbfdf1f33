"""SlbApi: one async method per classic SLB action the project uses (API version 2014-05-15).

Every method takes the region explicitly (one SLB per app per region). Thin and policy-free: creates
require a ClientToken (the service deduplicates it, so they are retried safely); deletes treat
"not found" as done; listener, backend and status changes are absolute sets.
"""

from __future__ import annotations

import json
from typing import Any

from aliyunsdkslb.request.v20140515.AddBackendServersRequest import AddBackendServersRequest
from aliyunsdkslb.request.v20140515.CreateLoadBalancerHTTPListenerRequest import (
    CreateLoadBalancerHTTPListenerRequest,
)
from aliyunsdkslb.request.v20140515.CreateLoadBalancerHTTPSListenerRequest import (
    CreateLoadBalancerHTTPSListenerRequest,
)
from aliyunsdkslb.request.v20140515.CreateLoadBalancerRequest import CreateLoadBalancerRequest
from aliyunsdkslb.request.v20140515.CreateLoadBalancerTCPListenerRequest import (
    CreateLoadBalancerTCPListenerRequest,
)
from aliyunsdkslb.request.v20140515.CreateLoadBalancerUDPListenerRequest import (
    CreateLoadBalancerUDPListenerRequest,
)
from aliyunsdkslb.request.v20140515.DeleteLoadBalancerListenerRequest import DeleteLoadBalancerListenerRequest
from aliyunsdkslb.request.v20140515.DeleteLoadBalancerRequest import DeleteLoadBalancerRequest
from aliyunsdkslb.request.v20140515.DescribeHealthStatusRequest import DescribeHealthStatusRequest
from aliyunsdkslb.request.v20140515.DescribeLoadBalancerAttributeRequest import (
    DescribeLoadBalancerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.DescribeLoadBalancerListenersRequest import (
    DescribeLoadBalancerListenersRequest,
)
from aliyunsdkslb.request.v20140515.DescribeLoadBalancersRequest import DescribeLoadBalancersRequest
from aliyunsdkslb.request.v20140515.ListTagResourcesRequest import ListTagResourcesRequest
from aliyunsdkslb.request.v20140515.ModifyLoadBalancerInstanceSpecRequest import (
    ModifyLoadBalancerInstanceSpecRequest,
)
from aliyunsdkslb.request.v20140515.ModifyLoadBalancerInternetSpecRequest import (
    ModifyLoadBalancerInternetSpecRequest,
)
from aliyunsdkslb.request.v20140515.RemoveBackendServersRequest import RemoveBackendServersRequest
from aliyunsdkslb.request.v20140515.SetBackendServersRequest import SetBackendServersRequest
from aliyunsdkslb.request.v20140515.SetLoadBalancerDeleteProtectionRequest import (
    SetLoadBalancerDeleteProtectionRequest,
)
from aliyunsdkslb.request.v20140515.SetLoadBalancerHTTPListenerAttributeRequest import (
    SetLoadBalancerHTTPListenerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.SetLoadBalancerHTTPSListenerAttributeRequest import (
    SetLoadBalancerHTTPSListenerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.SetLoadBalancerStatusRequest import SetLoadBalancerStatusRequest
from aliyunsdkslb.request.v20140515.SetLoadBalancerTCPListenerAttributeRequest import (
    SetLoadBalancerTCPListenerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.SetLoadBalancerUDPListenerAttributeRequest import (
    SetLoadBalancerUDPListenerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.StartLoadBalancerListenerRequest import StartLoadBalancerListenerRequest
from aliyunsdkslb.request.v20140515.StopLoadBalancerListenerRequest import StopLoadBalancerListenerRequest
from aliyunsdkslb.request.v20140515.TagResourcesRequest import TagResourcesRequest
from aliyunsdkslb.request.v20140515.UntagResourcesRequest import UntagResourcesRequest

from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError
from federation.cloud.alibaba.retry import CallKind
from federation.slb.types import BackendServer, HealthCheck, ListenerSpec

__all__ = ["BackendServer", "HealthCheck", "ListenerSpec", "SlbApi"]

_LISTENER_REQUESTS: dict[str, type] = {
    "tcp": CreateLoadBalancerTCPListenerRequest,
    "udp": CreateLoadBalancerUDPListenerRequest,
    "http": CreateLoadBalancerHTTPListenerRequest,
    "https": CreateLoadBalancerHTTPSListenerRequest,
}
_LISTENER_SET_REQUESTS: dict[str, type] = {
    "tcp": SetLoadBalancerTCPListenerAttributeRequest,
    "udp": SetLoadBalancerUDPListenerAttributeRequest,
    "http": SetLoadBalancerHTTPListenerAttributeRequest,
    "https": SetLoadBalancerHTTPSListenerAttributeRequest,
}


def _tags_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _tags_from_api(obj: dict[str, Any]) -> dict[str, str]:
    return {str(t["TagKey"]): str(t.get("TagValue", "")) for t in obj.get("Tags", {}).get("Tag", [])}


def _set_http_check(req: Any, hc: HealthCheck) -> None:
    """The HTTP health-check fields a listener request takes when they are set."""
    if hc.uri:
        req.set_HealthCheckURI(hc.uri)
    if hc.domain:
        req.set_HealthCheckDomain(hc.domain)
    if hc.http_code:
        req.set_HealthCheckHttpCode(hc.http_code)


def _listener_protocol(listener: ListenerSpec) -> str:
    proto = listener.protocol.lower()
    if proto not in _LISTENER_REQUESTS:
        raise ValueError(f"listener.protocol: {listener.protocol!r} is not one of tcp, udp, http, https")
    if proto == "https" and not listener.certificate_id:
        raise ValueError("listener.certificate_id: required for an HTTPS listener")
    return proto


def _fill_listener(req: Any, lb_id: str, listener: ListenerSpec, *, create: bool) -> None:
    """The parameters a listener create or attribute set takes (the same ones but the backend port)."""
    proto = listener.protocol.lower()
    req.set_LoadBalancerId(lb_id)
    req.set_ListenerPort(listener.listener_port)
    if create:
        req.set_BackendServerPort(listener.backend_port)
    req.set_Bandwidth(listener.bandwidth)
    req.set_Scheduler(listener.scheduler)
    hc = listener.health_check
    req.set_HealthyThreshold(hc.healthy_threshold)
    req.set_UnhealthyThreshold(hc.unhealthy_threshold)
    if hc.connect_port is not None:
        req.set_HealthCheckConnectPort(hc.connect_port)
    if proto in ("tcp", "udp"):
        req.set_HealthCheckSwitch("on" if hc.enabled else "off")
        req.set_HealthCheckConnectTimeout(hc.timeout_seconds)
        if create:
            req.set_healthCheckInterval(hc.interval_seconds)  # lowercase h: the create action's spelling
        else:
            req.set_HealthCheckInterval(hc.interval_seconds)  # the Set* actions spell it uppercase
        if proto == "tcp":
            req.set_HealthCheckType(hc.type)
            if hc.type == "http":
                _set_http_check(req, hc)
    else:
        req.set_StickySession("off")
        req.set_HealthCheck("on" if hc.enabled else "off")
        if hc.enabled:
            req.set_HealthCheckInterval(hc.interval_seconds)
            req.set_HealthCheckTimeout(hc.timeout_seconds)
            _set_http_check(req, hc)
        if proto == "https":
            req.set_ServerCertificateId(listener.certificate_id)


class SlbApi:
    """Classic SLB actions over an :class:`AlibabaClient`."""

    PAGE_SIZE = 100

    def __init__(self, client: AlibabaClient) -> None:
        self.client = client

    async def create_load_balancer(
        self,
        region: str,
        name: str,
        *,
        client_token: str,
        address_type: str = "internet",
        spec: str | None = None,
        bandwidth: int | None = None,
        charge_type: str | None = None,
        vpc_id: str | None = None,
        vswitch_id: str | None = None,
        master_zone_id: str | None = None,
        slave_zone_id: str | None = None,
        delete_protection: bool = False,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create (or, with a repeated ``client_token``, find) a load balancer; returns the API answer
        (LoadBalancerId, Address, ...)."""
        if not client_token:
            raise ValueError("client_token: required so that a retried create cannot make two SLBs")
        req = CreateLoadBalancerRequest()
        req.set_LoadBalancerName(name)
        req.set_ClientToken(client_token)
        req.set_AddressType(address_type)
        req.set_DeleteProtection("on" if delete_protection else "off")
        for setter, value in (
            ("LoadBalancerSpec", spec),
            ("Bandwidth", bandwidth),
            ("InternetChargeType", charge_type),
            ("VpcId", vpc_id),
            ("VSwitchId", vswitch_id),
            ("MasterZoneId", master_zone_id),
            ("SlaveZoneId", slave_zone_id),
        ):
            if value is not None:
                getattr(req, f"set_{setter}")(value)
        if tags:
            req.set_Tags(_tags_list(tags))
        return await self.client.call(req, CallKind.TOKEN, region_id=region)

    async def describe_load_balancers(
        self,
        region: str,
        *,
        ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        name: str | None = None,
        server_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """All matching load balancers (every page). ``tags`` must all match (the ``Tags`` JSON filter)."""

        def make() -> DescribeLoadBalancersRequest:
            req = DescribeLoadBalancersRequest()
            if ids:
                req.set_LoadBalancerId(",".join(ids))
            if name:
                req.set_LoadBalancerName(name)
            if server_id:
                req.set_ServerId(server_id)
            if tags:
                req.set_Tags(json.dumps([{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]))
            return req

        items = await self.client.all_pages(
            make, "LoadBalancers", "LoadBalancer", page_size=self.PAGE_SIZE, region_id=region
        )
        return [{**lb, "TagMap": _tags_from_api(lb)} for lb in items]

    async def describe_load_balancer_attribute(self, region: str, lb_id: str) -> dict[str, Any]:
        req = DescribeLoadBalancerAttributeRequest()
        req.set_LoadBalancerId(lb_id)
        return await self.client.call(req, CallKind.READ, region_id=region)

    async def set_load_balancer_status(self, region: str, lb_id: str, active: bool) -> None:
        req = SetLoadBalancerStatusRequest()
        req.set_LoadBalancerId(lb_id)
        req.set_LoadBalancerStatus("active" if active else "inactive")
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def delete_load_balancer(self, region: str, lb_id: str) -> bool:
        """Delete; False when it was already gone. Delete protection surfaces as an AlibabaError."""
        req = DeleteLoadBalancerRequest()
        req.set_LoadBalancerId(lb_id)
        try:
            await self.client.call(req, CallKind.ABSOLUTE, region_id=region)
        except AlibabaError as err:
            if err.not_found:
                return False
            raise
        return True

    async def create_listener(self, region: str, lb_id: str, listener: ListenerSpec) -> None:
        req = _LISTENER_REQUESTS[_listener_protocol(listener)]()
        _fill_listener(req, lb_id, listener, create=True)
        # A repeated create answers ListenerAlreadyExists: harmless, so the call is safe to retry.
        try:
            await self.client.call(req, CallKind.ABSOLUTE, region_id=region)
        except AlibabaError as err:
            if err.code != "ListenerAlreadyExists":
                raise

    async def set_listener_attribute(self, region: str, lb_id: str, listener: ListenerSpec) -> None:
        """Set every attribute of an existing listener to ``listener``'s (an absolute set). The backend
        port and the protocol cannot change in place: delete and create the listener for those."""
        req = _LISTENER_SET_REQUESTS[_listener_protocol(listener)]()
        _fill_listener(req, lb_id, listener, create=False)
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def modify_internet_spec(
        self, region: str, lb_id: str, *, charge_type: str, bandwidth: int | None = None
    ) -> None:
        """Charge type (paybytraffic | paybybandwidth) and bandwidth of an internet SLB (absolute)."""
        req = ModifyLoadBalancerInternetSpecRequest()
        req.set_LoadBalancerId(lb_id)
        req.set_InternetChargeType(charge_type)
        if bandwidth is not None:
            req.set_Bandwidth(bandwidth)
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def modify_instance_spec(self, region: str, lb_id: str, spec: str) -> None:
        req = ModifyLoadBalancerInstanceSpecRequest()
        req.set_LoadBalancerId(lb_id)
        req.set_LoadBalancerSpec(spec)
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def set_delete_protection(self, region: str, lb_id: str, on: bool) -> None:
        req = SetLoadBalancerDeleteProtectionRequest()
        req.set_LoadBalancerId(lb_id)
        req.set_DeleteProtection("on" if on else "off")
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def describe_listeners(
        self, region: str, lb_ids: list[str], *, protocol: str | None = None, port: int | None = None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            req = DescribeLoadBalancerListenersRequest()
            req.set_LoadBalancerIds(lb_ids)
            req.set_MaxResults(100)
            if protocol:
                req.set_ListenerProtocol(protocol)
            if port is not None:
                req.set_ListenerPort(port)
            if token:
                req.set_NextToken(token)
            resp = await self.client.call(req, CallKind.READ, region_id=region)
            out.extend(resp.get("Listeners", []))
            token = resp.get("NextToken") or None
            if not token:
                return out

    async def _listener_op(
        self, request_cls: type, region: str, lb_id: str, port: int, protocol: str | None
    ) -> None:
        req = request_cls()
        req.set_LoadBalancerId(lb_id)
        req.set_ListenerPort(port)
        if protocol:
            req.set_ListenerProtocol(protocol)
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def start_listener(self, region: str, lb_id: str, port: int, protocol: str | None = None) -> None:
        await self._listener_op(StartLoadBalancerListenerRequest, region, lb_id, port, protocol)

    async def stop_listener(self, region: str, lb_id: str, port: int, protocol: str | None = None) -> None:
        await self._listener_op(StopLoadBalancerListenerRequest, region, lb_id, port, protocol)

    async def delete_listener(self, region: str, lb_id: str, port: int, protocol: str | None = None) -> bool:
        try:
            await self._listener_op(DeleteLoadBalancerListenerRequest, region, lb_id, port, protocol)
        except AlibabaError as err:
            if err.not_found or err.code in ("ListenerNotFound", "InvalidParameter.ListenerNotFound"):
                return False
            raise
        return True

    async def _backends(
        self, request_cls: type, region: str, lb_id: str, servers: list[BackendServer]
    ) -> list[dict[str, Any]]:
        req = request_cls()
        req.set_LoadBalancerId(lb_id)
        req.set_BackendServers(json.dumps([s.to_api() for s in servers]))
        resp = await self.client.call(req, CallKind.ABSOLUTE, region_id=region)
        result: list[dict[str, Any]] = resp.get("BackendServers", {}).get("BackendServer", [])
        return result

    async def add_backend_servers(
        self, region: str, lb_id: str, servers: list[BackendServer]
    ) -> list[dict[str, Any]]:
        return await self._backends(AddBackendServersRequest, region, lb_id, servers)

    async def remove_backend_servers(
        self, region: str, lb_id: str, servers: list[BackendServer]
    ) -> list[dict[str, Any]]:
        return await self._backends(RemoveBackendServersRequest, region, lb_id, servers)

    async def set_backend_servers(
        self, region: str, lb_id: str, servers: list[BackendServer]
    ) -> list[dict[str, Any]]:
        """Change weights of servers already attached."""
        return await self._backends(SetBackendServersRequest, region, lb_id, servers)

    async def describe_health_status(
        self, region: str, lb_id: str, *, port: int | None = None, protocol: str | None = None
    ) -> list[dict[str, Any]]:
        req = DescribeHealthStatusRequest()
        req.set_LoadBalancerId(lb_id)
        if port is not None:
            req.set_ListenerPort(port)
        if protocol:
            req.set_ListenerProtocol(protocol)
        resp = await self.client.call(req, CallKind.READ, region_id=region)
        result: list[dict[str, Any]] = resp.get("BackendServers", {}).get("BackendServer", [])
        return result

    async def tag_resources(
        self, region: str, ids: list[str], tags: dict[str, str], resource_type: str = "instance"
    ) -> None:
        req = TagResourcesRequest()
        req.set_ResourceType(resource_type)
        req.set_ResourceIds(ids)
        req.set_Tags(_tags_list(tags))
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def untag_resources(
        self, region: str, ids: list[str], keys: list[str], resource_type: str = "instance"
    ) -> None:
        req = UntagResourcesRequest()
        req.set_ResourceType(resource_type)
        req.set_ResourceIds(ids)
        req.set_TagKeys(keys)
        await self.client.call(req, CallKind.ABSOLUTE, region_id=region)

    async def list_tag_resources(
        self,
        region: str,
        *,
        ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        resource_type: str = "instance",
    ) -> list[dict[str, str]]:
        """[{ResourceId, ResourceType, TagKey, TagValue}] over every page."""
        out: list[dict[str, str]] = []
        token: str | None = None
        while True:
            req = ListTagResourcesRequest()
            req.set_ResourceType(resource_type)
            if ids:
                req.set_ResourceIds(ids)
            if tags:
                req.set_Tags(_tags_list(tags))
            if token:
                req.set_NextToken(token)
            resp = await self.client.call(req, CallKind.READ, region_id=region)
            out.extend(resp.get("TagResources", {}).get("TagResource", []))
            token = resp.get("NextToken") or None
            if not token:
                return out
