"""EcsApi: the ECS (API version 2014-05-26) reads the join preflight makes. Thin and policy-free.

Only reads: the instances behind a member's nodes (their security groups) and each group's rules.
"""

from __future__ import annotations

import json
from typing import Any

from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest
from aliyunsdkecs.request.v20140526.DescribeSecurityGroupAttributeRequest import (
    DescribeSecurityGroupAttributeRequest,
)

from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.retry import CallKind


class EcsApi:
    PAGE_SIZE = 100  # DescribeInstances allows 1-100, and InstanceIds at most 100 ids

    def __init__(self, client: AlibabaClient) -> None:
        self.client = client

    async def describe_instances(self, region: str, instance_ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(instance_ids), self.PAGE_SIZE):
            chunk = instance_ids[start : start + self.PAGE_SIZE]

            def make(chunk: list[str] = chunk) -> DescribeInstancesRequest:
                req = DescribeInstancesRequest()
                req.set_InstanceIds(json.dumps(chunk))
                return req

            out.extend(
                await self.client.all_pages(
                    make, "Instances", "Instance", page_size=self.PAGE_SIZE, region_id=region
                )
            )
        return out

    async def security_group_rules(self, region: str, group_id: str) -> list[dict[str, Any]]:
        req = DescribeSecurityGroupAttributeRequest()
        req.set_SecurityGroupId(group_id)
        req.set_Direction("ingress")
        resp = await self.client.call(req, CallKind.READ, region_id=region)
        return list((resp.get("Permissions") or {}).get("Permission") or [])
