"""Classic SLB through the official SDK request classes and the project's SlbApi adapter."""

from __future__ import annotations

import json

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkslb.request.v20140515.AddTagsRequest import AddTagsRequest
from aliyunsdkslb.request.v20140515.CreateLoadBalancerRequest import CreateLoadBalancerRequest
from aliyunsdkslb.request.v20140515.DescribeLoadBalancerListenersRequest import (
    DescribeLoadBalancerListenersRequest,
)
from aliyunsdkslb.request.v20140515.DescribeLoadBalancersRequest import DescribeLoadBalancersRequest
from aliyunsdkslb.request.v20140515.DescribeTagsRequest import DescribeTagsRequest
from aliyunsdkslb.request.v20140515.RemoveTagsRequest import RemoveTagsRequest

from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError
from federation.cloud.alibaba.slb import BackendServer, HealthCheck, ListenerSpec, SlbApi
from federation.sandbox.aliyun import AliyunEmulator
from tests.aliyun.conftest import upload_request

REGION = "cn-beijing"


async def test_create_is_idempotent_with_client_token(sdk, emu: AliyunEmulator) -> None:
    def create() -> CreateLoadBalancerRequest:
        req = CreateLoadBalancerRequest()
        req.set_LoadBalancerName("web-cn-beijing")
        req.set_ClientToken("app-uid-1234-cn-beijing")
        req.set_Tags([{"Key": "federation.io/app", "Value": "web"}])
        return req

    first = await sdk(create(), region=REGION)
    again = await sdk(create(), region=REGION)
    assert first["LoadBalancerId"] == again["LoadBalancerId"]
    assert first["Address"].startswith("198.18.")
    listed = await sdk(DescribeLoadBalancersRequest(), region=REGION)
    assert listed["TotalCount"] == 1
    lb = listed["LoadBalancers"]["LoadBalancer"][0]
    assert lb["Tags"]["Tag"] == [{"TagKey": "federation.io/app", "TagValue": "web"}]
    assert (lb["LoadBalancerStatus"], lb["RegionId"], lb["AddressType"]) == ("active", REGION, "internet")
    # another region has its own address pool and sees none of this region's instances
    other = await sdk(create(), region="cn-shanghai")
    assert other["LoadBalancerId"] != first["LoadBalancerId"]
    assert other["Address"].split(".")[2] != first["Address"].split(".")[2]


async def test_describe_filters_tags_and_paging(client: AlibabaClient, sdk, monkeypatch) -> None:
    api = SlbApi(client)
    ids = []
    for i in range(12):
        tags = {"federation.io/app": "a" if i % 2 else "b", "k": str(i)}
        lb = await api.create_load_balancer(REGION, f"lb{i}", client_token=f"tok-{i}", tags=tags)
        ids.append(lb["LoadBalancerId"])
    req = DescribeLoadBalancersRequest()
    req.set_PageSize(5)
    req.set_PageNumber(3)
    page3 = await sdk(req, region=REGION)
    assert (page3["TotalCount"], len(page3["LoadBalancers"]["LoadBalancer"])) == (12, 2)
    monkeypatch.setattr(SlbApi, "PAGE_SIZE", 5)
    assert len(await api.describe_load_balancers(REGION)) == 12
    tagged = await api.describe_load_balancers(REGION, tags={"federation.io/app": "a"})
    assert sorted(lb["LoadBalancerId"] for lb in tagged) == sorted(ids[1::2])
    assert tagged[0]["TagMap"]["federation.io/app"] == "a"
    both = await api.describe_load_balancers(REGION, tags={"federation.io/app": "a", "k": "3"})
    assert [lb["LoadBalancerId"] for lb in both] == [ids[3]]
    assert len(await api.describe_load_balancers(REGION, ids=ids[:3])) == 3
    bad = DescribeLoadBalancersRequest()
    bad.set_Tags("not json")
    with pytest.raises(ServerException) as info:
        await sdk(bad, region=REGION)
    assert info.value.get_error_code() == "InvalidParameter"


async def test_missing_lb_delete_protection_and_status(client: AlibabaClient) -> None:
    api = SlbApi(client)
    with pytest.raises(AlibabaError) as info:
        await api.describe_load_balancer_attribute(REGION, "lb-doesnotexist")
    assert (info.value.code, info.value.http_status) == ("InvalidLoadBalancerId.NotFound", 404)
    assert await api.delete_load_balancer(REGION, "lb-doesnotexist") is False
    lb = await api.create_load_balancer(REGION, "protected", client_token="p1", delete_protection=True)
    with pytest.raises(AlibabaError) as info:
        await api.delete_load_balancer(REGION, lb["LoadBalancerId"])
    assert info.value.code == "OperationDenied.DeleteProtectionIsOn"
    await api.set_load_balancer_status(REGION, lb["LoadBalancerId"], False)
    attr = await api.describe_load_balancer_attribute(REGION, lb["LoadBalancerId"])
    assert (attr["LoadBalancerStatus"], attr["DeleteProtection"]) == ("inactive", "on")
    free = await api.create_load_balancer(REGION, "free", client_token="f1")
    assert await api.delete_load_balancer(REGION, free["LoadBalancerId"]) is True
    with pytest.raises(ValueError, match="client_token"):
        await api.create_load_balancer(REGION, "x", client_token="")


async def test_quota_per_region() -> None:
    emu = AliyunEmulator(domains=[], slb_quota_per_region=2)
    await emu.start(dns_port=None)
    client = AlibabaClient(emu.access_key_id, emu.access_key_secret, REGION, endpoint=emu.endpoint)
    try:
        api = SlbApi(client)
        await api.create_load_balancer(REGION, "one", client_token="1")
        await api.create_load_balancer(REGION, "two", client_token="2")
        with pytest.raises(AlibabaError) as info:
            await api.create_load_balancer(REGION, "three", client_token="3")
        assert (info.value.code, info.value.message) == ("OverQuota", "Instance num exceeded Quota.")
        await api.create_load_balancer(
            "cn-shanghai", "elsewhere", client_token="4"
        )  # the quota is per region
    finally:
        await client.close()
        await emu.stop()


async def test_listeners_all_protocols(client: AlibabaClient, sdk) -> None:
    api = SlbApi(client)
    lb_id = (await api.create_load_balancer(REGION, "web", client_token="l1"))["LoadBalancerId"]
    hc = HealthCheck(
        type="http",
        uri="/healthz",
        interval_seconds=3,
        timeout_seconds=4,
        healthy_threshold=2,
        unhealthy_threshold=4,
        http_code="http_2xx",
    )
    await api.create_listener(REGION, lb_id, ListenerSpec("tcp", 80, 8080, health_check=hc))
    await api.create_listener(REGION, lb_id, ListenerSpec("udp", 53, 5353))
    await api.create_listener(REGION, lb_id, ListenerSpec("http", 8000, 8080, health_check=hc))
    cert_id = (await sdk(upload_request(), region=REGION))["ServerCertificateId"]
    await api.create_listener(REGION, lb_id, ListenerSpec("https", 443, 8443, certificate_id=cert_id))
    # a repeated create is harmless (ListenerAlreadyExists is absorbed by the adapter)
    await api.create_listener(REGION, lb_id, ListenerSpec("tcp", 80, 8080, health_check=hc))
    listeners = {
        (li["ListenerPort"], li["ListenerProtocol"]): li
        for li in await api.describe_listeners(REGION, [lb_id])
    }
    assert set(listeners) == {(80, "tcp"), (53, "udp"), (8000, "http"), (443, "https")}
    assert all(li["Status"] == "stopped" for li in listeners.values())
    tcp = listeners[(80, "tcp")]["TCPListenerConfig"]
    assert (tcp["HealthCheckType"], tcp["HealthCheckURI"], tcp["healthCheckInterval"]) == (
        "http",
        "/healthz",
        3,
    )
    assert listeners[(443, "https")]["HTTPSListenerConfig"]["ServerCertificateId"] == cert_id
    await api.start_listener(REGION, lb_id, 80, "tcp")
    assert (await api.describe_listeners(REGION, [lb_id], port=80))[0]["Status"] == "running"
    await api.stop_listener(REGION, lb_id, 80)
    assert (await api.describe_listeners(REGION, [lb_id], protocol="tcp"))[0]["Status"] == "stopped"
    assert await api.delete_listener(REGION, lb_id, 53, "udp") is True
    assert await api.delete_listener(REGION, lb_id, 53, "udp") is False
    attr = await api.describe_load_balancer_attribute(REGION, lb_id)
    assert sorted(attr["ListenerPorts"]["ListenerPort"]) == [80, 443, 8000]
    bad_token = DescribeLoadBalancerListenersRequest()
    bad_token.set_NextToken("not-a-token")
    with pytest.raises(ServerException) as sdk_err:
        await sdk(bad_token, region=REGION)
    assert sdk_err.value.get_error_code() == "InvalidParameter.NextToken"
    with pytest.raises(ValueError, match="certificate_id"):
        await api.create_listener(REGION, lb_id, ListenerSpec("https", 8443, 8443))
    with pytest.raises(AlibabaError) as info:
        await api.create_listener(
            REGION, lb_id, ListenerSpec("tcp", 81, 8080, health_check=HealthCheck(healthy_threshold=11))
        )
    assert info.value.code == "InvalidParameter"


async def test_backends_and_health(client: AlibabaClient, emu: AliyunEmulator) -> None:
    api = SlbApi(client)
    for i in ("i-a", "i-b", "i-c"):
        emu.register_instance(REGION, i)
    lb_id = (await api.create_load_balancer(REGION, "web", client_token="b1"))["LoadBalancerId"]
    await api.create_listener(REGION, lb_id, ListenerSpec("tcp", 80, 8080))
    added = await api.add_backend_servers(
        REGION, lb_id, [BackendServer("i-a", 100), BackendServer("i-b", 50)]
    )
    assert {(s["ServerId"], s["Weight"]) for s in added} == {("i-a", 100), ("i-b", 50)}
    await api.set_backend_servers(REGION, lb_id, [BackendServer("i-b", 10)])
    health = await api.describe_health_status(REGION, lb_id)
    assert {h["ServerHealthStatus"] for h in health} == {"unavailable"}  # listener not started
    await api.start_listener(REGION, lb_id, 80)
    emu.set_backend_health(lb_id, "i-b", "abnormal")
    by_server = {
        h["ServerId"]: h["ServerHealthStatus"]
        for h in await api.describe_health_status(REGION, lb_id, port=80)
    }
    assert by_server == {"i-a": "normal", "i-b": "abnormal"}
    remaining = await api.remove_backend_servers(REGION, lb_id, [BackendServer("i-a")])
    assert [(s["ServerId"], s["Weight"]) for s in remaining] == [("i-b", 10)]
    with pytest.raises(AlibabaError) as info:
        await api.set_backend_servers(REGION, lb_id, [BackendServer("i-c", 1)])
    assert info.value.code == "InvalidBackendServer.NotFound"  # known instance, not attached
    with pytest.raises(AlibabaError) as info:
        await api.add_backend_servers(REGION, lb_id, [BackendServer("i-c", 101)])
    assert info.value.code == "InvalidWeight.Malformed"
    await api.create_load_balancer(REGION, "other", client_token="b2")
    behind = await api.describe_load_balancers(REGION, server_id="i-b")
    assert [x["LoadBalancerId"] for x in behind] == [lb_id]


async def test_tags_new_and_legacy_actions(client: AlibabaClient, sdk) -> None:
    api = SlbApi(client)
    a = (await api.create_load_balancer(REGION, "a", client_token="t-a"))["LoadBalancerId"]
    b = (await api.create_load_balancer(REGION, "b", client_token="t-b"))["LoadBalancerId"]
    await api.tag_resources(REGION, [a, b], {"team": "web", "env": "prod"})
    await api.untag_resources(REGION, [b], ["env"])
    pairs = {
        (t["ResourceId"], t["TagKey"], t["TagValue"])
        for t in await api.list_tag_resources(REGION, ids=[a, b])
    }
    assert pairs == {(a, "team", "web"), (a, "env", "prod"), (b, "team", "web")}
    prod = await api.list_tag_resources(REGION, tags={"env": "prod"})
    assert {t["ResourceId"] for t in prod} == {a}
    add = AddTagsRequest()
    add.set_LoadBalancerId(b)
    add.set_Tags(json.dumps([{"TagKey": "legacy", "TagValue": "yes"}]))
    await sdk(add, region=REGION)
    tags = await sdk(DescribeTagsRequest(), region=REGION)
    sets = {(t["TagKey"], t["TagValue"]): t["InstanceCount"] for t in tags["TagSets"]["TagSet"]}
    assert sets == {("team", "web"): 2, ("env", "prod"): 1, ("legacy", "yes"): 1}
    remove = RemoveTagsRequest()
    remove.set_LoadBalancerId(b)
    remove.set_Tags(json.dumps([{"TagKey": "legacy"}]))
    await sdk(remove, region=REGION)
    left = await api.list_tag_resources(REGION, ids=[b])
    assert [(t["TagKey"], t["TagValue"]) for t in left] == [("team", "web")]
