"""The Kubernetes request layer against the simulator's faults: what is repeated (429 for any verb after
Retry-After, reads after 5xx and dropped connections, anything when the connection could not open),
what is not (a write answered 5xx), the per-cluster QPS/burst bucket, and paginated lists."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from federation.backoff import RetryPolicy
from federation.clusters.host import host_client
from federation.clusters.kubeapi import KubeApi, KubeError, Resource
from federation.config import Settings
from federation.controller.informer import Informer
from federation.sandbox.kube import KubeSimulator, SimCluster

CONFIGMAPS = Resource("", "v1", "configmaps")
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


class Waits:
    """Records the waits between attempts instead of sleeping them."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


@pytest.fixture
async def sim() -> AsyncIterator[KubeSimulator]:
    s = KubeSimulator(rollout_delay=0.2, bookmark_interval=0.3)
    yield s
    await s.stop()


@pytest.fixture
async def cluster(sim: KubeSimulator) -> SimCluster:
    return await sim.add_cluster("cn-hangzhou", nodes=1)


async def connect(cluster: SimCluster, **kwargs: Any) -> KubeApi:
    kwargs.setdefault("retry", FAST)
    return await KubeApi.from_kubeconfig_dict(cluster.kubeconfig_dict(), name=cluster.name, **kwargs)


def sent(cluster: SimCluster, method: str, path_end: str = "") -> list[dict[str, list[str]]]:
    """The query of each request with this method (and path suffix) the simulator received."""
    return [parse_qs(q) for m, p, q in cluster.request_log() if m == method and p.endswith(path_end)]


async def test_429_retry_after_is_honoured_for_reads_and_writes(cluster: SimCluster) -> None:
    waits = Waits()
    api = await connect(cluster, sleep=waits, max_retry_after=5.0)
    try:
        cluster.faults.set("error", status=429, retry_after=2, methods=["POST"], times=2)
        created = await api.create(CONFIGMAPS, cm("a"), "default")
        assert created["metadata"]["name"] == "a"
        assert len(sent(cluster, "POST", "/configmaps")) == 3  # two refusals, then the create
        assert waits.seen == [2.0, 2.0]
        # A Retry-After longer than the cap waits the cap; a read is repeated the same way.
        cluster.faults.set("error", status=429, retry_after=60, methods=["GET"], times=1)
        assert (await api.get(CONFIGMAPS, "a", "default") or {}).get("data") == {"k": "a"}
        assert waits.seen == [2.0, 2.0, 5.0]
        # Refused on every attempt: the error comes back once the attempts are spent.
        cluster.faults.set("error", status=429, retry_after=0)
        with pytest.raises(KubeError) as info:
            await api.create(CONFIGMAPS, cm("b"), "default")
        assert (info.value.status, info.value.retry_after) == (429, 0.0)
        assert api.calls["create"] == 3 + FAST.max_attempts
    finally:
        cluster.faults.clear()
        await api.close()


async def test_reads_are_retried_on_500_writes_are_not(cluster: SimCluster) -> None:
    waits = Waits()
    api = await connect(cluster, sleep=waits)
    try:
        await api.create(CONFIGMAPS, cm("a"), "default")
        cluster.faults.set("error", status=500, methods=["GET"], times=2)
        assert (await api.get(CONFIGMAPS, "a", "default") or {}).get("data") == {"k": "a"}
        cluster.faults.set("error", status=500, methods=["GET"], times=1)
        items, _ = await api.list(CONFIGMAPS, "default")
        assert [o["metadata"]["name"] for o in items] == ["a"]
        assert (api.calls["get"], api.calls["list"]) == (3, 2)
        assert len(waits.seen) == 3
        assert all(0 <= w <= FAST.max_delay for w in waits.seen)
        # A create answered 500 may have happened: it is reported, not repeated.
        writes: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("POST", lambda: api.create(CONFIGMAPS, cm("b"), "default")),
            ("PATCH", lambda: api.merge_patch(CONFIGMAPS, "a", {"data": {"k": "z"}}, "default")),
        ]
        for method, write in writes:
            cluster.faults.set("error", status=500, methods=[method], times=1)
            with pytest.raises(KubeError) as info:
                await write()
            assert info.value.status == 500
        assert len(sent(cluster, "POST", "/configmaps")) == 2
        assert len(sent(cluster, "PATCH", "/configmaps/a")) == 1
        assert len(waits.seen) == 3
        # Fault gone: the next create goes through (the reconcile that failed simply runs again).
        await api.create(CONFIGMAPS, cm("b"), "default")
    finally:
        cluster.faults.clear()
        await api.close()


async def test_a_connection_that_cannot_open_is_retried_for_any_verb(cluster: SimCluster) -> None:
    api = await connect(cluster, sleep=Waits())
    try:
        cluster.faults.set("down")
        await asyncio.sleep(0.05)
        for call in (
            lambda: api.get(CONFIGMAPS, "a", "default"),
            lambda: api.create(CONFIGMAPS, cm("a"), "default"),
        ):
            with pytest.raises(KubeError) as info:
                await call()
            assert info.value.status == 0
            assert info.value.refused
        assert (api.calls["get"], api.calls["create"]) == (FAST.max_attempts, FAST.max_attempts)
    finally:
        cluster.faults.clear()
        await api.close()


async def test_lists_are_paginated(cluster: SimCluster) -> None:
    api = await connect(cluster, page_size=3)
    try:
        for i in range(7):
            await api.create(CONFIGMAPS, cm(f"c{i}"), "default")
        seen: list[str] = []
        inf = Informer(
            api, CONFIGMAPS, lambda key, old, new: seen.append(key), namespace="default", page_size=3
        )
        inf.start()
        await asyncio.wait_for(inf.synced.wait(), 10)
        await inf.stop()
        assert sorted(inf.cache) == [f"default/c{i}" for i in range(7)]
        lists = [q for q in sent(cluster, "GET", "/namespaces/default/configmaps") if "watch" not in q]
        assert [q["limit"] for q in lists] == [["3"], ["3"], ["3"]]
        assert ["continue" in q for q in lists] == [False, True, True]
        nodes, _ = await api.list(Resource("", "v1", "nodes", namespaced=False), page_size=0)
        assert len(nodes) == 1
        assert "limit" not in sent(cluster, "GET", "/nodes")[-1]
    finally:
        await api.close()


class WritesBetweenPages(KubeApi):
    """Two writes right after the first page, so the list's version is compacted away (history of 1)."""

    interrupted = False

    async def request(self, verb: str, method: str, path: str, **kwargs: Any) -> Any:
        out = await super().request(verb, method, path, **kwargs)
        if verb == "list" and not self.interrupted:
            self.interrupted = True
            for name in ("late-1", "late-2"):
                await super().request("create", "POST", CONFIGMAPS.path("default"), body=cm(name))
        return out


async def test_an_expired_continue_token_restarts_the_list() -> None:
    sim = KubeSimulator(rollout_delay=0.2, history_size=1)
    try:
        cluster = await sim.add_cluster("cn-hangzhou", nodes=1)
        api = await WritesBetweenPages.from_kubeconfig_dict(cluster.kubeconfig_dict(), page_size=2)
        try:
            for i in range(5):
                await api.create(CONFIGMAPS, cm(f"c{i}"), "default")
            items, _ = await api.list(CONFIGMAPS, "default")
            names = sorted(o["metadata"]["name"] for o in items)
            assert names == ["c0", "c1", "c2", "c3", "c4", "late-1", "late-2"]
            lists = sent(cluster, "GET", "/namespaces/default/configmaps")
            assert ["continue" in q for q in lists] == [False, True, False, True, True, True]
        finally:
            await api.close()
    finally:
        await sim.stop()


async def test_the_qps_bucket_bounds_the_request_rate(cluster: SimCluster) -> None:
    api = await connect(cluster, qps=20.0, burst=5)
    try:
        # Every KubeApi over the same connection shares the cluster's bucket (probes, the Lease, ...).
        assert KubeApi(api.api_client, name="probe").limiter is api.limiter
        loop = asyncio.get_running_loop()
        before = cluster.request_counts().get("GET", 0)
        started = loop.time()
        calls = [asyncio.create_task(api.version()) for _ in range(30)]
        await asyncio.sleep(0.3)
        got, elapsed = cluster.request_counts().get("GET", 0) - before, loop.time() - started
        assert got <= 5 + 20.0 * elapsed + 1  # the burst, then the rate
        assert got < 30
        await asyncio.gather(*calls)
        assert cluster.request_counts()["GET"] - before == 30
    finally:
        await api.close()
    with pytest.raises(ValueError, match="kube_qps"):
        KubeApi(api.api_client, qps=0)


async def test_settings_pace_the_host_client(cluster: SimCluster, tmp_path: Path) -> None:
    settings = Settings(kube_qps=7, kube_burst=3)
    api = await host_client(
        cluster.kubeconfig_path(tmp_path), None, qps=settings.kube_qps, burst=settings.kube_burst
    )
    try:
        assert (api.limiter.rate, api.limiter.burst) == (7.0, 3)
        assert (Settings().kube_qps, Settings().kube_burst) == (50.0, 100)
    finally:
        await api.close()
    with pytest.raises(ValidationError, match="kube_qps"):
        Settings(kube_qps=0)
    with pytest.raises(ValidationError, match="kube_burst"):
        Settings(kube_burst=0)


class _Offline:
    """Stands in for an ApiClient: deciding whether to repeat sends nothing."""


@given(
    st.sampled_from(["get", "list", "create", "update", "patch", "delete"]),
    st.sampled_from([0, 400, 404, 409, 410, 422, 429, 500, 502, 503, 504]),
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.floats(min_value=0, max_value=600)),
    st.integers(min_value=1, max_value=10),
)
def test_what_is_repeated_by_verb_and_failure(
    verb: str, status: int, sent_: bool, timed_out: bool, retry_after: float | None, attempts: int
) -> None:
    api = KubeApi(cast(Any, _Offline()), rng=random.Random(attempts))
    err = KubeError(status, "Reason", "message", retry_after=retry_after, sent=sent_, timed_out=timed_out)
    wait = api._retry_wait(verb, err, attempts)
    refused = status == 429 or (status == 0 and not sent_ and not timed_out)
    transient = 500 <= status < 600 or (status == 0 and not timed_out)
    if refused or (verb in ("get", "list") and transient):
        assert wait is not None
        assert 0 <= wait <= max(api.max_retry_after, api.retry.max_delay)
        if retry_after is not None:
            assert wait == min(retry_after, api.max_retry_after)
    else:
        assert wait is None  # a write answered 5xx, a timeout, a 4xx: never repeated
