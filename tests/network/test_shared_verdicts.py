"""Sharded replicas share the elected replica's CEN pair verdicts through the store: the replica that
reads CEN (the emulator's, over HTTP with the real SDK) writes them when they change, and another
replica, which makes no CEN call, names the same broken pair for an app it holds; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest

from federation.cloud.alibaba.cen import CenApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.controller.networkstep import StoredPairs
from federation.network.monitor import NetworkMonitor
from federation.sandbox.aliyun import AliyunEmulator
from federation.store.db import Database
from federation.store.network import PairVerdict, pair_verdicts, replace_pair_verdicts
from tests.store import conftest as store_fixtures
from tests.waiting import wait_for

REGIONS = {"hz": "cn-hangzhou", "bj": "cn-beijing"}
APP = "default/web"


class Fleet:
    """One replica's caches: the same MemberClusters and apps everywhere; elected or not."""

    def __init__(self, members: list[dict[str, Any]], leader: bool) -> None:
        self.members = members
        self.leader = leader

    def member_objects(self) -> Iterable[Mapping[str, Any]]:
        return self.members

    def app_objects(self) -> Iterable[Mapping[str, Any]]:
        return [
            {
                "apiVersion": "federation.io/v1alpha1",
                "kind": "FederatedApp",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "replicas": 2,
                    "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
                    "ports": [{"name": "http", "port": 80}],
                    "placement": {"regions": [{"name": r} for r in REGIONS.values()]},
                    "dns": {"zone": "example.com", "hostname": "web.example.com"},
                },
            }
        ]

    def is_leader(self) -> bool:
        return self.leader


def member(name: str, cen_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "MemberCluster",
        "metadata": {"name": name},
        "spec": {
            "region": REGIONS[name],
            "kubeconfigSecretRef": {"name": f"{name}-kubeconfig", "namespace": "federation-system"},
            "cenId": cen_id,
            "vpcId": f"vpc-{name}",
        },
    }


class NoCalls:
    """The follower's Alibaba client: it records any call (a follower must make none)."""

    def __init__(self) -> None:
        self.calls: list[object] = []

    async def call(self, request: object, *args: object) -> dict[str, Any]:
        self.calls.append(request)
        raise AssertionError("a replica that is not elected called CEN")


# the store's fixtures: every test here runs on SQLite and on PostgreSQL
db_url = store_fixtures.db_url
migrated_url = store_fixtures.migrated_url
db = store_fixtures.db


@pytest.fixture
async def cen() -> AsyncIterator[CenApi]:
    emu = AliyunEmulator(domains=["example.com"], cen_transition_delay=0.1, seed=3)
    await emu.start("127.0.0.1", 0, dns_port=None)
    try:
        yield CenApi(
            AlibabaClient(emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint)
        )
    finally:
        await emu.stop()


def test_the_store_keeps_one_row_per_pair_and_writes_only_changes(db: Database) -> None:
    broken = PairVerdict("cn-beijing", "cn-hangzhou", False, "NotAttached", "vpc-bj is not attached")
    other = PairVerdict("cn-beijing", "eu-central-1", None, "NotConfigured", "")
    assert db.call(replace_pair_verdicts, [broken, other]) == 2
    assert db.call(pair_verdicts) == [broken, other]
    assert db.call(replace_pair_verdicts, [broken, other]) == 0  # steady: no write
    healed = PairVerdict("cn-beijing", "cn-hangzhou", True, "Ready", "10 Mbps")
    assert db.call(replace_pair_verdicts, [healed]) == 2  # one changed, one no longer in use
    assert db.call(pair_verdicts) == [healed]


async def test_a_replica_that_does_not_read_cen_names_the_elected_replicas_broken_pair(
    db: Database, cen: CenApi
) -> None:
    cen_id = await cen.create_cen("fleet", client_token="fleet-1")
    await cen.attach_child_instance(cen_id, "vpc-hz", "cn-hangzhou")
    members = [member("hz", cen_id), member("bj", cen_id)]
    changed: list[str] = []
    elected = NetworkMonitor(cen, Fleet(members, leader=True), interval=0.2, shared=StoredPairs(db))
    no_calls = NoCalls()
    follower = NetworkMonitor(
        CenApi(no_calls),  # type: ignore[arg-type]
        Fleet(members, leader=False),
        shared=StoredPairs(db),
        follow_interval=0.1,
        on_app_change=changed.append,
    )
    regions = list(REGIONS.values())
    await elected.start()
    await follower.start()
    try:

        async def follower_names_the_pair() -> list[Any] | None:
            got = follower.problems(regions)
            return got or None

        broken = await wait_for(follower_names_the_pair, 10, "the follower naming cn-beijing<->cn-hangzhou")
        assert [(r.region_a, r.region_b, r.reason) for r in broken] == [
            (r.region_a, r.region_b, r.reason) for r in elected.problems(regions)
        ]
        assert "NotAttached" in broken[0].reason or "NoBandwidth" in broken[0].reason
        assert APP in changed  # the follower looks at its app again when the verdict arrives

        # the fix reaches the follower too: attach Beijing and give the pair bandwidth
        await cen.attach_child_instance(cen_id, "vpc-bj", "cn-beijing")
        pkg = await cen.create_bandwidth_package(10, "China", "China", client_token="bw-1")
        await cen.associate_bandwidth_package(cen_id, pkg)

        async def attached() -> bool:
            rows = await cen.describe_attached_child_instances(cen_id)
            return sum(1 for r in rows if r.get("Status") == "Attached") == 2

        await wait_for(attached, 10, "both VPCs attached")
        await cen.set_inter_region_bandwidth_limit(cen_id, "cn-hangzhou", "cn-beijing", 5)

        async def healed() -> bool:
            return not follower.problems(regions)

        await wait_for(healed, 10, "the follower seeing the pair healed")
        assert changed.count(APP) >= 2
        await asyncio.sleep(0.3)
        assert no_calls.calls == []  # the follower read the store, never CEN
    finally:
        await follower.stop()
        await elected.stop()
