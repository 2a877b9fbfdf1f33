"""ECS (API version 2014-05-26), the two reads the join preflight makes: DescribeInstances and
DescribeSecurityGroupAttribute.

The instances are the ones the SLB service knows (the sandbox registers its simulated nodes there, so
a backend id and an instance id are the same thing). Each region has one security group that every
instance is in, ``sg-<region>``, created with the rules a Kubernetes node group usually has: TCP
30000-32767 (the NodePort range) and 22 from anywhere, and everything inside the group.
:meth:`EcsService.set_node_ports_open` removes or restores the NodePort rule, so a preflight can be
shown failing.

Shapes follow the ECS API reference: ``Instances.Instance[]`` with ``SecurityGroupIds.SecurityGroupId``,
``Permissions.Permission[]`` with ``IpProtocol`` (upper case), ``PortRange`` (``from/to``, ``-1/-1``
for all), ``SourceCidrIp``, ``Policy`` (``Accept``/``Drop``), ``Direction``, ``Priority`` (1-100, lower
wins). Unknown group: ``InvalidSecurityGroupId.NotFound``; a malformed ``InstanceIds``:
``InvalidInstanceIds.MalFormed``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from federation.sandbox.aliyun.protocol import ApiError, Params, invalid
from federation.sandbox.aliyun.slb import SlbService

NODE_PORT_RULE = {
    "IpProtocol": "TCP",
    "PortRange": "30000/32767",
    "SourceCidrIp": "0.0.0.0/0",
    "Policy": "Accept",
    "Direction": "ingress",
    "Priority": 1,
    "Description": "Kubernetes NodePorts (SLB backends)",
}
SSH_RULE = {**NODE_PORT_RULE, "PortRange": "22/22", "Description": "ssh"}


def group_id(region: str) -> str:
    return f"sg-{region}"


class EcsService:
    def __init__(self, slb: SlbService) -> None:
        self.slb = slb
        self.closed: set[str] = set()  # regions whose group lost the NodePort rule
        self.actions: dict[str, Callable[[Params], dict[str, Any]]] = {
            "DescribeInstances": self.DescribeInstances,
            "DescribeSecurityGroupAttribute": self.DescribeSecurityGroupAttribute,
        }

    def set_node_ports_open(self, region: str, open_: bool) -> None:
        """Remove (False) or restore (True) the NodePort rule of ``region``'s security group."""
        if open_:
            self.closed.discard(region)
        else:
            self.closed.add(region)

    def _region(self, p: Params) -> str:
        return p.req("RegionId")

    def DescribeInstances(self, p: Params) -> dict[str, Any]:
        region = self._region(p)
        wanted: list[str] | None = None
        if p.get("InstanceIds") is not None:
            raw = p.req("InstanceIds")
            try:
                wanted = json.loads(raw)
            except ValueError:
                wanted = None
            if (
                not isinstance(wanted, list)
                or not all(isinstance(x, str) for x in wanted)
                or len(wanted) > 100
            ):
                raise ApiError(
                    "InvalidInstanceIds.MalFormed", "The specified parameter InstanceIds is not valid."
                )
        items = []
        for (reg, iid), inst in sorted(self.slb.instances.items()):
            if reg != region or (wanted is not None and iid not in wanted):
                continue
            items.append(
                {
                    "InstanceId": iid,
                    "RegionId": reg,
                    "Status": "Running",
                    "InstanceNetworkType": "vpc",
                    "VpcAttributes": {"PrivateIpAddress": {"IpAddress": [inst.private_ip]}},
                    "SecurityGroupIds": {"SecurityGroupId": [group_id(reg)]},
                }
            )
        return p.page(items, key="Instances", item="Instance", default_size=10, max_size=100)

    def DescribeSecurityGroupAttribute(self, p: Params) -> dict[str, Any]:
        region = self._region(p)
        sg = p.req("SecurityGroupId")
        if sg != group_id(region):
            raise ApiError(
                "InvalidSecurityGroupId.NotFound", f"The specified security group {sg} does not exist.", 404
            )
        direction = p.get("Direction") or "all"
        if direction not in ("ingress", "egress", "all"):
            raise invalid("Direction", direction, "It must be ingress, egress or all.")
        rules: list[dict[str, Any]] = [SSH_RULE]
        if region not in self.closed:
            rules.insert(0, NODE_PORT_RULE)
        rules = [r for r in rules if direction in ("all", r["Direction"])]
        return {
            "SecurityGroupId": sg,
            "RegionId": region,
            "InnerAccessPolicy": "Accept",
            "Permissions": {"Permission": [dict(r) for r in rules]},
        }
