"""What the informer caches keep of an object: only what the reconcilers read, strings shared."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

from federation.clusters.kubeapi import DEPLOYMENTS, NODES
from federation.controller.informer import LAST_APPLIED, Informer


class _Api:
    """A cluster of one listing and one watch event (then a watch that stays open)."""

    name = "fake"

    def __init__(self, items: list[dict[str, Any]], event: dict[str, Any]) -> None:
        self.items, self.event = items, event

    async def list(self, *_a: Any, **_kw: Any) -> tuple[list[dict[str, Any]], str]:
        return copy.deepcopy(self.items), "10"

    async def watch(self, *_a: Any, **_kw: Any) -> AsyncIterator[dict[str, Any]]:
        yield copy.deepcopy(self.event)
        await asyncio.Event().wait()


def _deployment(name: str, rv: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "resourceVersion": rv,
            "labels": {"app": name},
            "annotations": {LAST_APPLIED: '{"big": "copy"}', "keep": "me"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}},
        },
        "status": {"readyReplicas": 3, "conditions": [{"type": "Available", "status": "True"}]},
    }


async def _cached(resource: Any, items: list[dict[str, Any]], event: dict[str, Any]) -> dict[str, Any]:
    seen: list[str] = []
    inf = Informer(_Api(items, event), resource, lambda key, old, new: seen.append(key))  # type: ignore[arg-type]
    inf.start()
    try:
        for _ in range(200):
            if inf.synced.is_set() and len(seen) > len(items):
                break
            await asyncio.sleep(0.01)
        return inf.cache
    finally:
        await inf.stop()


async def test_listed_and_watched_objects_keep_what_reconciles_read_and_share_their_strings() -> None:
    cache = await _cached(
        DEPLOYMENTS, [_deployment("web", "5")], {"type": "ADDED", "object": _deployment("api", "11")}
    )
    assert set(cache) == {"shop/web", "shop/api"}
    for key, obj in cache.items():
        meta = obj["metadata"]
        assert "managedFields" not in meta
        assert meta["annotations"] == {"keep": "me"}
        assert obj["spec"] == _deployment("x", "0")["spec"]  # spec and status as the server sent them
        assert obj["status"] == _deployment("x", "0")["status"]
        assert meta["name"] == key.split("/")[1]
    web, api = cache["shop/web"], cache["shop/api"]
    # decoded separately, held once: the same key and value strings are one object
    assert next(iter(web["status"])) is next(iter(api["status"]))
    image = web["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image is api["spec"]["template"]["spec"]["containers"][0]["image"]


async def test_nodes_keep_conditions_provider_and_labels_not_their_images() -> None:
    node: dict[str, Any] = {
        "metadata": {"name": "n1", "resourceVersion": "3", "labels": {"zone": "a"}},
        "spec": {"providerID": "cn-hangzhou.i-123"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.5"}],
            "images": [{"names": [f"registry/img{i}:v1"], "sizeBytes": 1} for i in range(50)],
            "nodeInfo": {"kubeletVersion": "v1.30.0"},
        },
    }
    event = {
        "type": "MODIFIED",
        "object": {**node, "metadata": {**node["metadata"], "resourceVersion": "12"}},
    }
    cache = await _cached(NODES, [node], event)
    got = cache["n1"]
    assert got["status"] == {
        "conditions": node["status"]["conditions"],
        "addresses": node["status"]["addresses"],
    }
    assert got["spec"] == node["spec"]
    assert got["metadata"]["labels"] == {"zone": "a"}
    assert got["metadata"]["resourceVersion"] == "12"


async def test_an_update_is_cached_as_sent_and_shares_what_did_not_change_with_the_version_before() -> None:
    before = _deployment("web", "5")
    after = copy.deepcopy(before)
    after["metadata"]["resourceVersion"] = "12"
    after["metadata"]["labels"]["tier"] = "front"
    after["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    after["status"] = {"readyReplicas": 1, "conditions": [{"type": "Available", "status": "False"}]}
    handed: list[tuple[Any, Any]] = []
    inf = Informer(
        _Api([before], {"type": "MODIFIED", "object": after}),  # type: ignore[arg-type]
        DEPLOYMENTS,
        lambda key, old, new: handed.append((old, new)),
    )
    inf.start()
    try:
        for _ in range(200):
            if len(handed) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await inf.stop()
    (_, listed), (old, new) = handed
    assert old is listed
    # the handler sees the two versions as the server sent them (less what the cache drops) ...
    assert old["spec"] == before["spec"]
    assert old["status"] == before["status"]
    assert old["metadata"]["labels"] == {"app": "web"}
    assert new["spec"] == after["spec"]
    assert new["status"] == after["status"]
    assert new["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert new["metadata"]["resourceVersion"] == "12"
    assert new["metadata"]["annotations"] == {"keep": "me"}
    assert inf.cache["shop/web"] is new
    # ... and what did not change is held once
    assert new["metadata"]["annotations"] is old["metadata"]["annotations"]


class _EndingWatches:
    """A cluster whose every watch ends at once (as the server does at its ``timeoutSeconds``)."""

    name = "fake"

    def __init__(self) -> None:
        self.timeouts: list[int] = []

    async def list(self, *_a: Any, **_kw: Any) -> tuple[list[dict[str, Any]], str]:
        return [], "10"

    async def watch(self, *_a: Any, timeout_seconds: int, **_kw: Any) -> AsyncIterator[dict[str, Any]]:
        self.timeouts.append(timeout_seconds)
        await asyncio.sleep(0)
        return
        yield {}


async def test_watches_end_at_spread_times_not_all_together() -> None:
    # informers started together (every member's, at startup) must not all re-watch in one instant
    api = _EndingWatches()
    inf = Informer(api, DEPLOYMENTS, lambda *_: None, watch_timeout=300)  # type: ignore[arg-type]
    inf.start()
    for _ in range(200):
        if len(api.timeouts) >= 50:
            break
        await asyncio.sleep(0.001)
    await inf.stop()
    assert len(api.timeouts) >= 50
    assert all(300 <= t < 600 for t in api.timeouts)
    assert len(set(api.timeouts)) > 10
