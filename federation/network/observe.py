"""Reading the CEN state the reachability verdicts need, and the one write an operator may ask for.

Reads only, three per CEN: DescribeCens (does it exist), DescribeCenAttachedChildInstances,
DescribeCenInterRegionBandwidthLimits. ``attach`` is never called by the controller: changing the
network is an operator's decision (``fedctl network attach``).

AttachCenChildInstance takes no ClientToken (the Cbn API defines none for it), so ``attach`` is made
idempotent by reading first: an attached or attaching VPC is left alone, and after an ambiguous answer
(timeout, reset) the state is read again instead of repeating the call, since a second attach of the
same VPC is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from federation.cloud.alibaba.cen import CenApi
from federation.cloud.alibaba.errors import AlibabaError
from federation.network.reachability import CenView, MemberNetwork, limits_from_api


async def observe_cen(api: CenApi, cen_id: str) -> CenView:
    try:
        found = await api.describe_cens(cen_ids=[cen_id])
        if not any(c.get("CenId") == cen_id for c in found):
            return CenView(cen_id, exists=False)
        children = await api.describe_attached_child_instances(cen_id, child_type="VPC")
        limits = await api.describe_inter_region_bandwidth_limits(cen_id)
    except AlibabaError as exc:
        if exc.not_found:
            return CenView(cen_id, exists=False)
        raise
    return CenView(
        cen_id,
        children={str(c.get("ChildInstanceId")): str(c.get("Status")) for c in children},
        limits=limits_from_api(limits),
    )


async def observe(api: CenApi, members: Iterable[MemberNetwork]) -> dict[str, CenView]:
    """Every CEN some member names, read concurrently."""
    cen_ids = sorted({m.cen_id for m in members if m.configured and m.cen_id})
    views = await asyncio.gather(*(observe_cen(api, cen_id) for cen_id in cen_ids))
    return dict(zip(cen_ids, views, strict=True))


async def attach(api: CenApi, member: MemberNetwork) -> str:
    """Attach the member's VPC to its CEN unless it already is; returns what happened, in words."""
    if not member.configured or not member.cen_id or not member.vpc_id:
        raise ValueError(
            f"MemberCluster {member.name}: spec.cenId and spec.vpcId are both required to attach"
        )
    view = await observe_cen(api, member.cen_id)
    if not view.exists:
        raise LookupError(f"CEN {member.cen_id} does not exist")
    status = view.children.get(member.vpc_id)
    if status in ("Attached", "Attaching"):
        return f"VPC {member.vpc_id} is already {status.lower()} to CEN {member.cen_id}: nothing to do"
    if status == "Detaching":
        raise RuntimeError(
            f"VPC {member.vpc_id} is detaching from CEN {member.cen_id}: try again when it is done"
        )
    try:
        await api.attach_child_instance(member.cen_id, member.vpc_id, member.region)
    except AlibabaError as exc:
        if not exc.ambiguous:
            raise
        view = await observe_cen(api, member.cen_id)  # did the lost call go through?
        if view.children.get(member.vpc_id) not in ("Attached", "Attaching"):
            raise
    return f"VPC {member.vpc_id} ({member.region}) is attaching to CEN {member.cen_id}"
