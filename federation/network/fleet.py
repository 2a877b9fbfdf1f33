"""The fleet as the network check sees it: MemberClusters -> MemberNetwork, FederatedApps -> region sets.

Pure translation of host objects (dicts as the API returns them); invalid objects are skipped, as the
reconcilers skip them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.network.reachability import MemberNetwork


def member_network(mc: MemberCluster) -> MemberNetwork:
    return MemberNetwork(mc.name, mc.spec.region, mc.spec.cen_id, mc.spec.vpc_id)


def members_from_objects(objs: Iterable[Mapping[str, Any]]) -> list[MemberNetwork]:
    out = []
    for obj in objs:
        try:
            out.append(member_network(MemberCluster.model_validate(obj)))
        except ValidationError:
            continue
    return out


def app_regions(objs: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``namespace/name`` -> the regions its spec lists."""
    out: dict[str, list[str]] = {}
    for obj in objs:
        try:
            app = FederatedApp.model_validate(obj)
        except ValidationError:
            continue
        out[app.key] = [r.name for r in app.spec.placement.regions]
    return out
