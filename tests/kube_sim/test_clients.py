"""Both Python clients (`kubernetes_asyncio` and the sync `kubernetes`) against a simulated cluster:
CRUD, optimistic concurrency, list+watch resume, 410 Gone, pagination.

Wire rules pinned here come from the Kubernetes API concepts doc: "Resource versions", "Efficient
detection of changes" (watch from a list's resourceVersion sees every later change, in order), "410 Gone
responses" and "Retrieving large results sets in chunks" (limit/continue, expired continue tokens).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.rest import ApiException

from federation.sandbox.kube import KubeSimulator, SimCluster


async def _core(kubeconfig: Path) -> tuple[client.ApiClient, Any]:
    api_client = await config.new_client_from_config(str(kubeconfig))
    return api_client, client.CoreV1Api(api_client)


def _cm(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": "t"}), data=data)


async def test_async_crud_conflict_and_status_bodies(kubeconfig: Path) -> None:
    api_client, v1 = await _core(kubeconfig)
    async with api_client:
        created = await v1.create_namespaced_config_map("default", _cm("a", k="1"))
        assert created.metadata.uid
        assert created.metadata.resource_version
        with pytest.raises(ApiException) as exc:
            await v1.create_namespaced_config_map("default", _cm("a"))
        assert exc.value.status == 409
        body = json.loads(exc.value.body or b"{}")
        assert body["reason"] == "AlreadyExists"
        assert body["kind"] == "Status"
        assert body["message"] == 'configmaps "a" already exists'

        got = await v1.read_namespaced_config_map("a", "default")
        got.data["k"] = "2"
        replaced = await v1.replace_namespaced_config_map("a", "default", got)
        assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
        # a write based on the stale copy is refused (API conventions: "Concurrency Control and Consistency")
        created.data["k"] = "3"
        with pytest.raises(ApiException) as exc:
            await v1.replace_namespaced_config_map("a", "default", created)
        assert exc.value.status == 409
        assert json.loads(exc.value.body or b"{}")["reason"] == "Conflict"

        patched = await v1.patch_namespaced_config_map("a", "default", {"data": {"extra": "x"}})
        assert patched.data == {"k": "2", "extra": "x"}
        await v1.delete_namespaced_config_map("a", "default")
        with pytest.raises(ApiException) as exc:
            await v1.read_namespaced_config_map("a", "default")
        assert exc.value.status == 404
        assert json.loads(exc.value.body or b"{}")["reason"] == "NotFound"


async def test_async_list_then_watch_resumes_from_resource_version(kubeconfig: Path) -> None:
    api_client, v1 = await _core(kubeconfig)
    async with api_client:
        listed = await v1.list_namespaced_config_map("default")
        rv = listed.metadata.resource_version
        await v1.create_namespaced_config_map("default", _cm("w1", a="1"))
        await v1.patch_namespaced_config_map("w1", "default", {"data": {"a": "2"}})
        await v1.create_namespaced_config_map("default", _cm("w2"))
        await v1.delete_namespaced_config_map("w1", "default")
        seen: list[tuple[str, str]] = []
        w = watch.Watch()
        async with w.stream(
            v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5
        ) as stream:
            async for ev in stream:
                seen.append((ev["type"], ev["object"].metadata.name))
                if len(seen) == 4:
                    w.stop()
        assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w1")]


async def test_async_watch_bookmarks_and_label_selector(kubeconfig: Path) -> None:
    api_client, v1 = await _core(kubeconfig)
    async with api_client:
        rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
        await v1.create_namespaced_config_map("default", _cm("sel"))
        other = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other", labels={"app": "x"}))
        await v1.create_namespaced_config_map("default", other)
        resp = await v1.list_namespaced_config_map(
            "default",
            watch=True,
            resource_version=rv,
            label_selector="app=t",
            allow_watch_bookmarks=True,
            timeout_seconds=1,
            _preload_content=False,
        )
        lines = [json.loads(line) async for line in resp.content]
        types = [(e["type"], e["object"]["metadata"].get("name")) for e in lines]
        assert types[0] == ("ADDED", "sel")
        assert ("ADDED", "other") not in types
        bookmarks = [e for e in lines if e["type"] == "BOOKMARK"]
        assert bookmarks, "a watch with allowWatchBookmarks gets bookmarks while idle"
        assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv) + 2


async def _drain(v1: Any, rv: str) -> None:
    async with watch.Watch().stream(
        v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2
    ) as stream:
        async for _ in stream:
            pass


async def test_async_watch_too_old_resource_version_is_410(tmp_path: Path) -> None:
    sim = KubeSimulator(rollout_delay=0.1, history_size=20)
    try:
        c = await sim.add_cluster("small")
        api_client, v1 = await _core(c.kubeconfig_path(tmp_path))
        async with api_client:
            rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
            for i in range(30):
                await v1.create_namespaced_config_map("default", _cm(f"c{i}"))
            with pytest.raises(ApiException) as exc:
                await _drain(v1, rv)
            assert exc.value.status == 410
            # a continue token from before the compaction is expired too
            page = await v1.list_namespaced_config_map("default", limit=5)
            for i in range(30, 55):
                await v1.create_namespaced_config_map("default", _cm(f"c{i}"))
            with pytest.raises(ApiException) as exc:
                await v1.list_namespaced_config_map("default", limit=5, _continue=page.metadata._continue)
            assert exc.value.status == 410
            assert json.loads(exc.value.body or b"{}")["reason"] == "Expired"
    finally:
        await sim.stop()


async def test_async_pagination(kubeconfig: Path) -> None:
    api_client, v1 = await _core(kubeconfig)
    async with api_client:
        for i in range(23):
            await v1.create_namespaced_config_map("default", _cm(f"p{i:02d}"))
        names: list[str] = []
        token: Any = None
        pages = 0
        while True:
            page = await v1.list_namespaced_config_map(
                "default", limit=10, _continue=token, label_selector="app=t"
            )
            pages += 1
            names.extend(i.metadata.name for i in page.items)
            token = page.metadata._continue
            if not token:
                break
        assert pages == 3
        assert names == sorted(names)
        assert len(set(names)) == 23
        first = await v1.list_namespaced_config_map("default", limit=10)
        assert (
            first.metadata.remaining_item_count
            == len((await v1.list_namespaced_config_map("default")).items) - 10
        )


def _sync_scenario(kubeconfig: Path) -> dict[str, Any]:
    api_client = kubernetes.config.new_client_from_config(str(kubeconfig))
    v1: Any = kubernetes.client.CoreV1Api(api_client)
    apps: Any = kubernetes.client.AppsV1Api(api_client)
    out: dict[str, Any] = {}
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", {"metadata": {"name": "s1"}, "data": {"a": "1"}})
    stale = v1.read_namespaced_config_map("s1", "default")
    v1.patch_namespaced_config_map("s1", "default", {"data": {"a": "2"}})
    try:
        v1.replace_namespaced_config_map("s1", "default", stale)
    except kubernetes.client.ApiException as e:
        out["conflict"] = e.status
    v1.delete_namespaced_config_map("s1", "default")
    w = kubernetes.watch.Watch()
    out["events"] = [
        (e["type"], e["object"].metadata.name)
        for e in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1)
    ]
    for i in range(7):
        v1.create_namespaced_config_map("default", {"metadata": {"name": f"sp{i}"}})
    page = v1.list_namespaced_config_map("default", limit=4)
    rest = v1.list_namespaced_config_map("default", limit=4, _continue=page.metadata._continue)
    out["pages"] = [len(page.items), len(rest.items), rest.metadata._continue]
    out["nodes"] = [n.spec.provider_id for n in v1.list_node().items]
    dep = apps.create_namespaced_deployment(
        "default",
        {
            "metadata": {"name": "d"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "d"}},
                "template": {
                    "metadata": {"labels": {"app": "d"}},
                    "spec": {"containers": [{"name": "c", "image": "x:1"}]},
                },
            },
        },
    )
    out["dep_generation"] = dep.metadata.generation
    api_client.close()
    return out


async def test_sync_client_crud_watch_conflict_pagination(kubeconfig: Path, cluster: SimCluster) -> None:
    out = await asyncio.to_thread(_sync_scenario, kubeconfig)
    assert out["conflict"] == 409
    assert out["events"] == [("ADDED", "s1"), ("MODIFIED", "s1"), ("DELETED", "s1")]
    assert out["pages"][0] == 4
    assert out["pages"][2] is None
    assert out["pages"][1] >= 3
    assert all(p.startswith("cn-hangzhou.i-bp1") for p in out["nodes"])
    assert len(out["nodes"]) == 2
    assert out["dep_generation"] == 1


def _sync_410(kubeconfig: Path, rv: str) -> int:
    api_client = kubernetes.config.new_client_from_config(str(kubeconfig))
    v1: Any = kubernetes.client.CoreV1Api(api_client)
    try:
        for _ in kubernetes.watch.Watch().stream(
            v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        ):
            pass
    except kubernetes.client.ApiException as e:
        return int(e.status)
    finally:
        api_client.close()
    return 0


async def test_sync_client_watch_410(tmp_path: Path) -> None:
    sim = KubeSimulator(rollout_delay=0.1, history_size=10)
    try:
        c = await sim.add_cluster("small")
        rv = str(c.api.store.rv)
        rt = c.api.resolve("", "v1", "configmaps")
        for i in range(20):
            c.api.create(rt, "default", {"metadata": {"name": f"x{i}"}})
        assert await asyncio.to_thread(_sync_410, c.kubeconfig_path(tmp_path), rv) == 410
    finally:
        await sim.stop()
