"""CenApi: one async method per CEN (product Cbn, API version 2017-09-12) action the project uses.

Thin and policy-free. Creates carry a ClientToken (safe to retry); attach/detach are not repeated
blindly (a second attach of the same VPC fails, and a lost answer may hide a success); bandwidth limits
are absolute sets.
"""

from __future__ import annotations

from typing import Any

from aliyunsdkcbn.request.v20170912.AssociateCenBandwidthPackageRequest import (
    AssociateCenBandwidthPackageRequest,
)
from aliyunsdkcbn.request.v20170912.AttachCenChildInstanceRequest import AttachCenChildInstanceRequest
from aliyunsdkcbn.request.v20170912.CreateCenBandwidthPackageRequest import CreateCenBandwidthPackageRequest
from aliyunsdkcbn.request.v20170912.CreateCenRequest import CreateCenRequest
from aliyunsdkcbn.request.v20170912.DescribeCenAttachedChildInstancesRequest import (
    DescribeCenAttachedChildInstancesRequest,
)
from aliyunsdkcbn.request.v20170912.DescribeCenBandwidthPackagesRequest import (
    DescribeCenBandwidthPackagesRequest,
)
from aliyunsdkcbn.request.v20170912.DescribeCenInterRegionBandwidthLimitsRequest import (
    DescribeCenInterRegionBandwidthLimitsRequest,
)
from aliyunsdkcbn.request.v20170912.DescribeCensRequest import DescribeCensRequest
from aliyunsdkcbn.request.v20170912.DetachCenChildInstanceRequest import DetachCenChildInstanceRequest
from aliyunsdkcbn.request.v20170912.SetCenInterRegionBandwidthLimitRequest import (
    SetCenInterRegionBandwidthLimitRequest,
)

from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.retry import CallKind


class CenApi:
    """CEN actions over an :class:`AlibabaClient`."""

    PAGE_SIZE = 50  # DescribeCens allows 1-50

    def __init__(self, client: AlibabaClient) -> None:
        self.client = client

    async def create_cen(self, name: str, *, client_token: str, description: str | None = None) -> str:
        if not client_token:
            raise ValueError("client_token: required so that a retried create cannot make two CENs")
        req = CreateCenRequest()
        req.set_Name(name)
        req.set_ClientToken(client_token)
        if description:
            req.set_Description(description)
        resp = await self.client.call(req, CallKind.TOKEN)
        return str(resp["CenId"])

    async def _pages(self, make: Any, key: str, item: str) -> list[dict[str, Any]]:
        return await self.client.all_pages(make, key, item, page_size=self.PAGE_SIZE)

    async def describe_cens(
        self, *, cen_ids: list[str] | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = []
        if cen_ids:
            filters.append({"Key": "CenId", "Value": list(cen_ids)})
        if name:
            filters.append({"Key": "Name", "Value": [name]})

        def make() -> DescribeCensRequest:
            req = DescribeCensRequest()
            if filters:
                req.set_Filters(filters)
            return req

        return await self._pages(make, "Cens", "Cen")

    async def attach_child_instance(
        self, cen_id: str, child_id: str, child_region: str, child_type: str = "VPC"
    ) -> None:
        req = AttachCenChildInstanceRequest()
        req.set_CenId(cen_id)
        req.set_ChildInstanceId(child_id)
        req.set_ChildInstanceRegionId(child_region)
        req.set_ChildInstanceType(child_type)
        await self.client.call(req, CallKind.UNSAFE)

    async def detach_child_instance(
        self, cen_id: str, child_id: str, child_region: str, child_type: str = "VPC"
    ) -> None:
        req = DetachCenChildInstanceRequest()
        req.set_CenId(cen_id)
        req.set_ChildInstanceId(child_id)
        req.set_ChildInstanceRegionId(child_region)
        req.set_ChildInstanceType(child_type)
        await self.client.call(req, CallKind.UNSAFE)

    async def describe_attached_child_instances(
        self, cen_id: str, *, region: str | None = None, child_type: str | None = None
    ) -> list[dict[str, Any]]:
        def make() -> DescribeCenAttachedChildInstancesRequest:
            req = DescribeCenAttachedChildInstancesRequest()
            req.set_CenId(cen_id)
            if region:
                req.set_ChildInstanceRegionId(region)
            if child_type:
                req.set_ChildInstanceType(child_type)
            return req

        return await self._pages(make, "ChildInstances", "ChildInstance")

    async def create_bandwidth_package(
        self, bandwidth: int, region_a: str, region_b: str, *, client_token: str, name: str | None = None
    ) -> str:
        """``region_a``/``region_b`` are geographic areas: China, North-America, Asia-Pacific, Europe, ..."""
        if not client_token:
            raise ValueError("client_token: required so that a retried create cannot buy two packages")
        req = CreateCenBandwidthPackageRequest()
        req.set_Bandwidth(bandwidth)
        req.set_GeographicRegionAId(region_a)
        req.set_GeographicRegionBId(region_b)
        req.set_ClientToken(client_token)
        if name:
            req.set_Name(name)
        resp = await self.client.call(req, CallKind.TOKEN)
        return str(resp["CenBandwidthPackageId"])

    async def associate_bandwidth_package(self, cen_id: str, package_id: str) -> None:
        req = AssociateCenBandwidthPackageRequest()
        req.set_CenId(cen_id)
        req.set_CenBandwidthPackageId(package_id)
        await self.client.call(req, CallKind.UNSAFE)

    async def describe_bandwidth_packages(self) -> list[dict[str, Any]]:
        return await self._pages(
            DescribeCenBandwidthPackagesRequest, "CenBandwidthPackages", "CenBandwidthPackage"
        )

    async def set_inter_region_bandwidth_limit(
        self, cen_id: str, local_region: str, opposite_region: str, limit_mbps: int
    ) -> None:
        req = SetCenInterRegionBandwidthLimitRequest()
        req.set_CenId(cen_id)
        req.set_LocalRegionId(local_region)
        req.set_OppositeRegionId(opposite_region)
        req.set_BandwidthLimit(limit_mbps)
        await self.client.call(req, CallKind.ABSOLUTE)

    async def describe_inter_region_bandwidth_limits(self, cen_id: str) -> list[dict[str, Any]]:
        def make() -> DescribeCenInterRegionBandwidthLimitsRequest:
            req = DescribeCenInterRegionBandwidthLimitsRequest()
            req.set_CenId(cen_id)
            return req

        return await self._pages(make, "CenInterRegionBandwidthLimits", "CenInterRegionBandwidthLimit")
