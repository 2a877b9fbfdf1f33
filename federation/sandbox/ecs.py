"""The sandbox's ECS inventory: every simulated node is an ECS instance the SLB emulator knows.

A node's instance id comes from its ``spec.providerID`` (``<region>.<instance-id>``, as Alibaba's
cloud-controller-manager sets it), its private IP from its InternalIP, and the address where its
NodePorts really answer from its ``sandbox.federation.io/address`` annotation. Registration follows the
cluster's store, so nodes added later are backends the emulator accepts too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from federation.sandbox.kube.behaviour import NODE_KEY
from federation.sandbox.kube.nodeports import node_address
from federation.sandbox.kube.store import Event

if TYPE_CHECKING:
    from federation.sandbox.aliyun.slb import SlbService
    from federation.sandbox.kube.cluster import SimCluster

log = logging.getLogger(__name__)


def instance_of(node: dict[str, Any]) -> tuple[str, str] | None:
    """(region, instance id) from ``spec.providerID`` ``<region>.<instance-id>``; None when unusable."""
    provider = str((node.get("spec") or {}).get("providerID") or "")
    region, _, instance = provider.partition(".")
    return (region, instance) if region and instance.startswith("i-") else None


def instance_info(node: dict[str, Any]) -> dict[str, Any] | None:
    """The node as the emulator registers an ECS instance (``region``, ``instance_id``, ``private_ip``,
    ``address``: the emulator admin API's ``/instances`` item); None without a usable providerID."""
    found = instance_of(node)
    if found is None:
        return None
    ips = [
        a.get("address", "")
        for a in (node.get("status") or {}).get("addresses") or ()
        if a.get("type") == "InternalIP"
    ]
    return {
        "region": found[0],
        "instance_id": found[1],
        "private_ip": ips[0] if ips else "",
        "address": node_address(node),
    }


def _register(slb: SlbService, node: dict[str, Any]) -> None:
    info = instance_info(node)
    if info is not None:
        slb.register_instance(
            info["region"], info["instance_id"], private_ip=info["private_ip"], address=info["address"]
        )


def register_cluster_nodes(slb: SlbService, cluster: SimCluster) -> None:
    """Register the cluster's nodes now and whenever one is added or changed."""
    for _, node in cluster.api.store.iter_objects(NODE_KEY):
        _register(slb, node)

    def on_event(ev: Event) -> None:
        if ev.rkey == NODE_KEY and ev.type in ("ADDED", "MODIFIED"):
            try:
                _register(slb, ev.obj)
            except ValueError as exc:
                log.warning("sandbox ECS: node %s not registered: %s", ev.obj["metadata"]["name"], exc)

    cluster.api.store.listeners.append(on_event)
