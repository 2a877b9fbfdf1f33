"""CEN (Cbn) through the project's CenApi adapter (official aliyunsdkcbn request classes underneath)."""

from __future__ import annotations

import asyncio

import pytest
from aliyunsdkcbn.request.v20170912.DescribeCenGeographicSpanRemainingBandwidthRequest import (
    DescribeCenGeographicSpanRemainingBandwidthRequest,
)
from aliyunsdkcbn.request.v20170912.UnassociateCenBandwidthPackageRequest import (
    UnassociateCenBandwidthPackageRequest,
)

from federation.cloud.alibaba.cen import CenApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError


async def _wait_status(api: CenApi, cen_id: str, want: dict[str, str], within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        got = {c["ChildInstanceId"]: c["Status"] for c in await api.describe_attached_child_instances(cen_id)}
        if got == want or asyncio.get_running_loop().time() > deadline:
            assert got == want
            return
        await asyncio.sleep(0.1)


async def test_cen_create_describe_attach_detach(client: AlibabaClient) -> None:
    api = CenApi(client)
    cen_id = await api.create_cen("fed", client_token="cen-token-1", description="federation")
    assert await api.create_cen("fed", client_token="cen-token-1") == cen_id
    other = await api.create_cen("other", client_token="cen-token-2")
    cens = await api.describe_cens(cen_ids=[cen_id])
    assert [(c["CenId"], c["Name"], c["Status"]) for c in cens] == [(cen_id, "fed", "Active")]
    assert {c["CenId"] for c in await api.describe_cens()} == {cen_id, other}

    await api.attach_child_instance(cen_id, "vpc-bj", "cn-beijing")
    children = await api.describe_attached_child_instances(cen_id)
    assert [(c["ChildInstanceId"], c["Status"]) for c in children] == [("vpc-bj", "Attaching")]
    with pytest.raises(AlibabaError) as info:  # one transition at a time per CEN
        await api.attach_child_instance(cen_id, "vpc-sh", "cn-shanghai")
    assert info.value.code == "Operation.Blocking"
    await _wait_status(api, cen_id, {"vpc-bj": "Attached"})
    await api.attach_child_instance(cen_id, "vpc-sh", "cn-shanghai")
    await _wait_status(api, cen_id, {"vpc-bj": "Attached", "vpc-sh": "Attached"})
    assert [
        c["ChildInstanceId"]
        for c in await api.describe_attached_child_instances(cen_id, region="cn-shanghai")
    ] == ["vpc-sh"]
    with pytest.raises(AlibabaError) as info:
        await api.attach_child_instance(other, "vpc-sh", "cn-shanghai")
    assert info.value.code == "InvalidOperation.ChildInstanceStatus"

    await api.detach_child_instance(cen_id, "vpc-sh", "cn-shanghai")
    await _wait_status(api, cen_id, {"vpc-bj": "Attached"})
    with pytest.raises(AlibabaError) as info:
        await api.detach_child_instance(cen_id, "vpc-sh", "cn-shanghai")
    assert info.value.code == "ParameterInstanceId"
    with pytest.raises(AlibabaError) as info:
        await api.describe_attached_child_instances("cen-missing")
    assert info.value.code == "ParameterCenInstanceId"


async def test_bandwidth_packages_and_inter_region_limits(client: AlibabaClient, sdk) -> None:
    api = CenApi(client)
    cen_id = await api.create_cen("fed", client_token="c")
    with pytest.raises(AlibabaError) as info:  # no package spans China yet
        await api.set_inter_region_bandwidth_limit(cen_id, "cn-beijing", "cn-shanghai", 10)
    assert info.value.code == "InvalidOperation.BandwidthPackageNotExist"
    pkg = await api.create_bandwidth_package(20, "China", "China", client_token="p")
    assert await api.create_bandwidth_package(20, "China", "China", client_token="p") == pkg
    await api.associate_bandwidth_package(cen_id, pkg)
    assert [p["Status"] for p in await api.describe_bandwidth_packages()] == ["InUse"]
    await api.set_inter_region_bandwidth_limit(cen_id, "cn-beijing", "cn-shanghai", 10)
    await api.set_inter_region_bandwidth_limit(cen_id, "cn-beijing", "cn-hangzhou", 10)
    with pytest.raises(AlibabaError) as info:  # 10 + 10 + 5 > 20
        await api.set_inter_region_bandwidth_limit(cen_id, "cn-hangzhou", "cn-shanghai", 5)
    assert info.value.code == "InvalidOperation.BandwidthLimitExceed"
    await api.set_inter_region_bandwidth_limit(cen_id, "cn-shanghai", "cn-beijing", 4)  # same pair, lowered
    limits = {
        (x["LocalRegionId"], x["OppositeRegionId"]): x["BandwidthLimit"]
        for x in await api.describe_inter_region_bandwidth_limits(cen_id)
    }
    assert limits == {("cn-beijing", "cn-shanghai"): 4, ("cn-beijing", "cn-hangzhou"): 10}
    span = DescribeCenGeographicSpanRemainingBandwidthRequest()
    span.set_CenId(cen_id)
    span.set_GeographicRegionAId("China")
    span.set_GeographicRegionBId("China")
    assert (await sdk(span))["RemainingBandwidth"] == 6  # 20 - 4 - 10
    unassociate = UnassociateCenBandwidthPackageRequest()
    unassociate.set_CenId(cen_id)
    unassociate.set_CenBandwidthPackageId(pkg)
    with pytest.raises(Exception, match=r"InvalidOperation\.CenBandwidthLimitsNotZero"):
        await sdk(unassociate)  # the package still carries the limits set above
    await api.set_inter_region_bandwidth_limit(cen_id, "cn-shanghai", "cn-beijing", 0)
    await api.set_inter_region_bandwidth_limit(cen_id, "cn-beijing", "cn-hangzhou", 0)
    await sdk(unassociate)
    assert [p["Status"] for p in await api.describe_bandwidth_packages()] == ["Idle"]
    with pytest.raises(AlibabaError) as info:
        await api.create_bandwidth_package(1, "China", "Europe", client_token="q")
    assert info.value.code == "InvalidParameter"


async def test_the_last_instance_of_a_region_cannot_leave_while_bandwidth_names_it(
    client: AlibabaClient,
) -> None:
    api = CenApi(client)
    cen_id = await api.create_cen("fed", client_token="c-bw")
    await api.attach_child_instance(cen_id, "vpc-hz", "cn-hangzhou")
    await _wait_status(api, cen_id, {"vpc-hz": "Attached"})
    await api.attach_child_instance(cen_id, "vpc-bj", "cn-beijing")
    await _wait_status(api, cen_id, {"vpc-hz": "Attached", "vpc-bj": "Attached"})
    pkg = await api.create_bandwidth_package(10, "China", "China", client_token="p-bw")
    await api.associate_bandwidth_package(cen_id, pkg)
    await api.set_inter_region_bandwidth_limit(cen_id, "cn-hangzhou", "cn-beijing", 5)
    with pytest.raises(AlibabaError) as info:
        await api.detach_child_instance(cen_id, "vpc-hz", "cn-hangzhou")
    assert info.value.code == "InvalidOperation.CenBandwidthLimitsNotZero"
    assert "cn-hangzhou" in info.value.message
    await api.set_inter_region_bandwidth_limit(cen_id, "cn-hangzhou", "cn-beijing", 0)
    await api.detach_child_instance(cen_id, "vpc-hz", "cn-hangzhou")
    await _wait_status(api, cen_id, {"vpc-bj": "Attached"})
