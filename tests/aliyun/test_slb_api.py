"""The SLB emulator's answers to what the regional load-balancer step does, through the official SDK
over HTTP: backends that must be known ECS instances, server certificates, listener and internet-spec
changes in place, ClientToken deduplication after a lost answer, and throttling through the faults."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
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
from aliyunsdkslb.request.v20140515.DeleteServerCertificateRequest import DeleteServerCertificateRequest
from aliyunsdkslb.request.v20140515.DescribeLoadBalancerAttributeRequest import (
    DescribeLoadBalancerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.DescribeLoadBalancerHTTPSListenerAttributeRequest import (
    DescribeLoadBalancerHTTPSListenerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.DescribeLoadBalancersRequest import DescribeLoadBalancersRequest
from aliyunsdkslb.request.v20140515.DescribeLoadBalancerTCPListenerAttributeRequest import (
    DescribeLoadBalancerTCPListenerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.DescribeServerCertificatesRequest import (
    DescribeServerCertificatesRequest,
)
from aliyunsdkslb.request.v20140515.ModifyLoadBalancerInternetSpecRequest import (
    ModifyLoadBalancerInternetSpecRequest,
)
from aliyunsdkslb.request.v20140515.SetLoadBalancerHTTPSListenerAttributeRequest import (
    SetLoadBalancerHTTPSListenerAttributeRequest,
)
from aliyunsdkslb.request.v20140515.SetLoadBalancerTCPListenerAttributeRequest import (
    SetLoadBalancerTCPListenerAttributeRequest,
)

from federation.sandbox.aliyun import AliyunEmulator
from federation.sandbox.kube.tls import generate
from tests.aliyun.conftest import upload_request

REGION = "cn-beijing"


async def _error(sdk: Any, req: Any, region: str = REGION) -> tuple[str, int]:
    with pytest.raises(ServerException) as info:
        await sdk(req, region=region)
    return info.value.get_error_code(), info.value.get_http_status()


async def _lb(sdk: Any, token: str, **params: str) -> str:
    req = CreateLoadBalancerRequest()
    req.set_LoadBalancerName("web")
    req.set_ClientToken(token)
    for k, v in params.items():
        getattr(req, f"set_{k}")(v)
    return str((await sdk(req, region=REGION))["LoadBalancerId"])


def _backends(lb_id: str, *ids: str) -> AddBackendServersRequest:
    req = AddBackendServersRequest()
    req.set_LoadBalancerId(lb_id)
    req.set_BackendServers(json.dumps([{"ServerId": i, "Weight": "100", "Type": "ecs"} for i in ids]))
    return req


def _tcp_listener(lb_id: str, port: int = 80) -> CreateLoadBalancerTCPListenerRequest:
    req = CreateLoadBalancerTCPListenerRequest()
    req.set_LoadBalancerId(lb_id)
    req.set_ListenerPort(port)
    req.set_BackendServerPort(30080)
    req.set_Bandwidth(-1)
    return req


async def test_backends_must_be_ecs_instances_of_the_region(sdk, emu: AliyunEmulator) -> None:
    lb_id = await _lb(sdk, "t-backends")
    emu.register_instance(REGION, "i-2zeknown1", private_ip="192.168.3.4")
    emu.register_instance("cn-hangzhou", "i-bp1elsewhere")
    assert await _error(sdk, _backends(lb_id, "i-2zeknown1", "i-2zeunknown")) == ("ObtainIpFail", 400)
    # an instance of another region is not one this region knows
    assert await _error(sdk, _backends(lb_id, "i-bp1elsewhere")) == ("ObtainIpFail", 400)
    attr_req = DescribeLoadBalancerAttributeRequest()
    attr_req.set_LoadBalancerId(lb_id)
    assert (await sdk(attr_req, region=REGION))["BackendServers"]["BackendServer"] == []  # nothing half-added
    await sdk(_backends(lb_id, "i-2zeknown1", "i-2zeknown1"), region=REGION)
    servers = (await sdk(attr_req, region=REGION))["BackendServers"]["BackendServer"]
    assert [(s["ServerId"], s["ServerIp"]) for s in servers] == [("i-2zeknown1", "192.168.3.4")]
    many = [f"i-2ze{n:04d}" for n in range(21)]
    for i in many:
        emu.register_instance(REGION, i)
    assert await _error(sdk, _backends(lb_id, *many)) == ("TooManyBackendServers", 400)


async def test_server_certificates_and_https_listeners(sdk, emu: AliyunEmulator) -> None:
    lb_id = await _lb(sdk, "t-certs")
    uploaded = await sdk(upload_request("www.example.com"), region=REGION)
    cert_id = uploaded["ServerCertificateId"]
    assert uploaded["CommonName"] == "www.example.com"
    assert len(uploaded["Fingerprint"].split(":")) == 20  # SHA-1, colon separated
    listed = await sdk(DescribeServerCertificatesRequest(), region=REGION)
    assert [c["ServerCertificateId"] for c in listed["ServerCertificates"]["ServerCertificate"]] == [cert_id]
    elsewhere = await sdk(DescribeServerCertificatesRequest(), region="cn-hangzhou")
    assert elsewhere["ServerCertificates"]["ServerCertificate"] == []  # certificates are regional

    def https(cert: str, port: int = 443) -> CreateLoadBalancerHTTPSListenerRequest:
        req = CreateLoadBalancerHTTPSListenerRequest()
        req.set_LoadBalancerId(lb_id)
        req.set_ListenerPort(port)
        req.set_BackendServerPort(30080)
        req.set_Bandwidth(-1)
        req.set_ServerCertificateId(cert)
        return req

    assert await _error(sdk, https("1234_unknown_cert")) == ("ServerCertificateId.NotFound", 400)
    await sdk(https(cert_id), region=REGION)
    # a certificate of another region is unknown here
    other = (await sdk(upload_request("other.example.com"), region="cn-hangzhou"))["ServerCertificateId"]
    change = SetLoadBalancerHTTPSListenerAttributeRequest()
    change.set_LoadBalancerId(lb_id)
    change.set_ListenerPort(443)
    change.set_ServerCertificateId(other)
    assert await _error(sdk, change) == ("ServerCertificateId.NotFound", 400)
    second = (await sdk(upload_request("www.example.com"), region=REGION))["ServerCertificateId"]
    change.set_ServerCertificateId(second)
    await sdk(change, region=REGION)
    attr = DescribeLoadBalancerHTTPSListenerAttributeRequest()
    attr.set_LoadBalancerId(lb_id)
    attr.set_ListenerPort(443)
    assert (await sdk(attr, region=REGION))["ServerCertificateId"] == second

    def delete(cert: str) -> DeleteServerCertificateRequest:
        req = DeleteServerCertificateRequest()
        req.set_ServerCertificateId(cert)
        return req

    assert await _error(sdk, delete(second)) == ("CertificateAndPrivateKeyIsRefered", 400)
    await sdk(delete(cert_id), region=REGION)  # no longer used by the listener
    assert await _error(sdk, delete(cert_id)) == ("ServerCertificateId.NotFound", 400)
    wrong_key = upload_request("www.example.com", key_pem=generate("x").key_pem)
    assert await _error(sdk, wrong_key) == ("CertificateNotMatchPrivateKey", 400)
    garbage = upload_request()
    garbage.set_ServerCertificate("not a certificate")
    assert await _error(sdk, garbage) == ("KeyFormatError", 400)
    dump = json.dumps(emu.state())
    assert second in dump
    assert "PRIVATE KEY" not in dump


async def test_listener_and_internet_spec_changes_in_place(sdk, emu: AliyunEmulator) -> None:
    lb_id = await _lb(sdk, "t-set")
    await sdk(_tcp_listener(lb_id), region=REGION)
    change = SetLoadBalancerTCPListenerAttributeRequest()
    change.set_LoadBalancerId(lb_id)
    change.set_ListenerPort(80)
    change.set_HealthCheckType("http")
    change.set_HealthCheckURI("/healthz")
    change.set_HealthCheckInterval(4)
    change.set_UnhealthyThreshold(5)
    change.set_Bandwidth(50)
    await sdk(change, region=REGION)
    attr = DescribeLoadBalancerTCPListenerAttributeRequest()
    attr.set_LoadBalancerId(lb_id)
    attr.set_ListenerPort(80)
    got = await sdk(attr, region=REGION)
    assert (got["HealthCheckType"], got["HealthCheckURI"], got["HealthCheckInterval"]) == (
        "http",
        "/healthz",
        4,
    )
    assert (got["UnhealthyThreshold"], got["Bandwidth"], got["BackendServerPort"]) == (5, 50, 30080)
    bad = SetLoadBalancerTCPListenerAttributeRequest()
    bad.set_LoadBalancerId(lb_id)
    bad.set_ListenerPort(80)
    bad.set_HealthyThreshold(1)
    bad.set_Bandwidth(10)
    assert await _error(sdk, bad) == ("InvalidParameter", 400)
    assert (await sdk(attr, region=REGION))["Bandwidth"] == 50  # a refused change changes nothing
    bad.set_ListenerPort(81)
    assert await _error(sdk, bad) == ("ListenerNotFound", 404)
    http = CreateLoadBalancerHTTPListenerRequest()
    http.set_LoadBalancerId(lb_id)
    http.set_ListenerPort(8080)
    http.set_BackendServerPort(30080)
    await sdk(http, region=REGION)
    attr.set_ListenerPort(8080)  # an HTTP listener is not a TCP one
    assert await _error(sdk, attr) == ("ListenerNotFound", 404)

    spec = ModifyLoadBalancerInternetSpecRequest()
    spec.set_LoadBalancerId(lb_id)
    spec.set_InternetChargeType("paybybandwidth")
    spec.set_Bandwidth(20)
    await sdk(spec, region=REGION)
    desc = DescribeLoadBalancersRequest()
    desc.set_LoadBalancerId(lb_id)
    lb = (await sdk(desc, region=REGION))["LoadBalancers"]["LoadBalancer"][0]
    assert (lb["InternetChargeType"], lb["Bandwidth"]) == ("paybybandwidth", 20)
    spec.set_Bandwidth(6000)
    assert await _error(sdk, spec) == ("InvalidParameter", 400)
    intranet = await _lb(sdk, "t-intranet", AddressType="intranet", VSwitchId="vsw-1", VpcId="vpc-1")
    spec.set_LoadBalancerId(intranet)
    spec.set_Bandwidth(20)
    assert await _error(sdk, spec) == ("ActionNotAllowed", 400)


async def test_client_token_survives_a_lost_answer_and_throttling_is_a_fault(
    sdk, emu: AliyunEmulator
) -> None:
    emu.faults.set("slb", "CreateLoadBalancer", error_rate=1.0, after=True, times=1)
    req = CreateLoadBalancerRequest()
    req.set_LoadBalancerName("web")
    req.set_ClientToken("app-uid-cn-beijing-1")
    assert await _error(sdk, req) == ("InternalError", 500)  # created, answer lost
    first = await sdk(req, region=REGION)
    again = await sdk(req, region=REGION)
    assert first["LoadBalancerId"] == again["LoadBalancerId"]
    assert (await sdk(DescribeLoadBalancersRequest(), region=REGION))["TotalCount"] == 1
    emu.faults.set("slb", "AddBackendServers", throttle=1.0)
    emu.register_instance(REGION, "i-2zethrottled")
    assert await _error(sdk, _backends(first["LoadBalancerId"], "i-2zethrottled")) == ("Throttling.User", 400)
    emu.faults.clear("slb", "AddBackendServers")
    await sdk(_backends(first["LoadBalancerId"], "i-2zethrottled"), region=REGION)
    assert emu.call_counts()["Slb.AddBackendServers"] == 2
