"""Shard Leases between replicas (over an in-memory Lease API with resourceVersion conflicts and a
shared fake clock): balanced, handed over when a replica joins, taken over from a dead one only after
its Leases expired, and never writable by two replicas at once."""

from __future__ import annotations

import asyncio
import copy
import itertools
from pathlib import Path
from typing import Any

from federation.clusters.kubeapi import KubeError
from federation.controller.cli import shard_table
from federation.controller.sharding import CURRENT, ShardManager
from tests.waiting import wait_for

SHARDS = 16


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Leases:
    """The Lease API as the manager uses it: list by label, create, replace (409 on a stale
    resourceVersion), delete."""

    def __init__(self) -> None:
        self.objs: dict[str, dict[str, Any]] = {}
        self.rv = itertools.count(1)
        self.down: set[str] = set()  # identities whose requests fail (cut off from the API server)

    def client(self, identity: str) -> Api:
        return Api(self, identity)


class Api:
    def __init__(self, leases: Leases, identity: str) -> None:
        self.leases = leases
        self.identity = identity

    def _check(self) -> None:
        if self.identity in self.leases.down:
            raise KubeError(0, "ConnectionError", "cut off")

    async def list(self, res: Any, namespace: str | None = None, **kw: Any) -> tuple[list[Any], str]:
        self._check()
        return [copy.deepcopy(o) for o in self.leases.objs.values()], "1"

    async def create(self, res: Any, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self._check()
        name = body["metadata"]["name"]
        if name in self.leases.objs:
            raise KubeError(409, "AlreadyExists", name)
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(next(self.leases.rv))
        self.leases.objs[name] = obj
        return copy.deepcopy(obj)

    async def replace(
        self, res: Any, name: str, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        self._check()
        cur = self.leases.objs.get(name)
        if cur is None or cur["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            raise KubeError(409, "Conflict", name)
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(next(self.leases.rv))
        self.leases.objs[name] = obj
        return copy.deepcopy(obj)

    async def delete(self, res: Any, name: str, namespace: str | None = None, **kw: Any) -> bool:
        self._check()
        return self.leases.objs.pop(name, None) is not None


def manager(leases: Leases, identity: str, clock: Clock) -> ShardManager:
    return ShardManager(
        leases.client(identity),  # type: ignore[arg-type]
        lease_name="fedctl-controller",
        namespace="federation-system",
        identity=identity,
        shards=SHARDS,
        lease_duration=3.0,
        renew_deadline=2.0,
        retry_period=0.5,
        clock=clock,
    )


async def rounds(managers: list[ShardManager], clock: Clock, n: int) -> None:
    """``n`` rounds of every manager, the clock moving a retry period each; after every step no shard
    is writable by two of them."""
    for _ in range(n):
        for m in managers:
            await m.round()
            writable = [s for m2 in managers for s in range(SHARDS) if m2.may_write_shard(s)]
            assert len(writable) == len(set(writable)), "a shard writable by two replicas"
        clock.now += 0.5


def counts(managers: list[ShardManager]) -> list[int]:
    return [len(m.held()) for m in managers]


async def test_replicas_share_the_shards_balanced_and_a_new_one_gets_its_share() -> None:
    leases, clock = Leases(), Clock()
    a, b = manager(leases, "a", clock), manager(leases, "b", clock)
    await rounds([a, b], clock, 4)
    assert sorted(counts([a, b])) == [8, 8]
    assert a.held() | b.held() == set(range(SHARDS))
    c = manager(leases, "c", clock)
    await rounds([a, b, c], clock, 4)
    assert sorted(counts([a, b, c])) == [5, 5, 6]
    assert a.held() | b.held() | c.held() == set(range(SHARDS))
    before = (a.held(), b.held(), c.held())
    await rounds([a, b, c], clock, 4)
    assert (a.held(), b.held(), c.held()) == before  # stable when nothing changes


async def test_a_dead_replicas_shards_are_taken_only_after_its_leases_expire() -> None:
    leases, clock = Leases(), Clock()
    a, b = manager(leases, "a", clock), manager(leases, "b", clock)
    await rounds([a, b], clock, 4)
    orphaned = b.held()
    leases.down.add("b")  # b is cut off: it cannot renew
    await rounds([a, b], clock, 4)  # 2 s: b's renew deadline passed, its Leases not yet expired
    assert not any(b.may_write_shard(s) for s in orphaned)  # b stopped writing
    assert a.held() == set(range(SHARDS)) - orphaned  # and a has not taken them yet
    await rounds([a, b], clock, 4)  # past the lease duration
    assert a.held() == set(range(SHARDS))


def test_the_gate_follows_the_shard_of_the_app_being_reconciled() -> None:
    leases, clock = Leases(), Clock()
    m = manager(leases, "a", clock)
    m._held[3] = clock.now
    gate = m.gate(lambda: False)
    assert gate() is False  # outside an app: the leader's gate
    token = CURRENT.set(("default/web", 3))
    try:
        assert gate() is True
        clock.now += 2.0  # the renew deadline passed without a renewal
        assert gate() is False
    finally:
        CURRENT.reset(token)


def test_status_shards_table() -> None:
    from datetime import UTC, datetime

    def lease(name: str, role: str, holder: str, renewed: str, shard: int | None = None) -> dict[str, Any]:
        labels = {"federation.io/shard-set": "fedctl-controller", "federation.io/lease-role": role}
        if shard is not None:
            labels["federation.io/shard"] = str(shard)
        return {
            "metadata": {"name": name, "labels": labels},
            "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": 15},
        }

    now = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    leases = [
        lease("s0", "shard", "pod-a", "2026-01-01T12:00:09.000000Z", 0),
        lease("s1", "shard", "pod-b", "2026-01-01T12:00:08.500000Z", 1),
        lease("s2", "shard", "pod-c", "2026-01-01T11:59:00.000000Z", 2),
        lease("ra", "replica", "pod-a", "2026-01-01T12:00:09.000000Z"),
        lease("rb", "replica", "pod-b", "2026-01-01T12:00:09.000000Z"),
    ]
    out = shard_table(leases, {"spec": {"holderIdentity": "pod-a"}}, now)
    lines = out.splitlines()
    assert lines[0].split() == ["SHARD", "HOLDER", "RENEWED", "AGO", "STATE"]
    assert lines[1].split() == ["0", "pod-a", "2026-01-01T12:00:09.000000Z", "1.0s", "held"]
    assert lines[3].split()[-1] == "expired"
    assert "replica pod-a: 1 shard(s), seen 1.0s ago" in out
    assert "leader (cluster-level work): pod-a; 2/3 shards held" in out


async def test_a_replica_joins_only_once_its_caches_are_ready() -> None:
    leases, clock = Leases(), Clock()
    a = manager(leases, "a", clock)
    await rounds([a], clock, 3)
    synced = False
    b = manager(leases, "b", clock)
    b.ready = lambda: synced
    await rounds([a, b], clock, 4)
    assert counts([a, b]) == [SHARDS, 0]  # b is not seen yet: a keeps every shard
    assert b.presence not in leases.objs
    synced = True
    await rounds([a, b], clock, 4)
    assert counts([a, b]) == [SHARDS // 2, SHARDS // 2]


async def test_a_replica_that_is_not_elected_places_by_the_leaders_member_verdicts(tmp_path: Path) -> None:
    """The member sweeps run on the elected replica; another replica reads their states from the store,
    so a member the leader's sweeps hold unhealthy takes no replicas from any replica."""
    from datetime import UTC, datetime

    from federation.api.membercluster import MemberCluster
    from federation.controller.members import MemberDirectory
    from federation.controller.sweeps import ControllerHealth
    from federation.placement import Schedulability
    from federation.store import migrate
    from federation.store.db import Database
    from federation.store.health import HealthStateData, upsert_health_state

    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    db = Database(url)
    enqueued: list[str] = []
    health = ControllerHealth(
        MemberDirectory(),
        lambda: None,
        enqueued.append,
        lambda: enqueued.append("*"),
        db=db,
        leads=lambda: False,
        sharded=True,
        follow_interval=0.05,
    )
    mc = MemberCluster.model_validate(
        {
            "metadata": {"name": "cn-beijing"},
            "spec": {"region": "cn-beijing", "kubeconfigSecretRef": {"name": "k", "namespace": "fed"}},
        }
    )
    try:
        await health.start()
        assert health.member_health(mc).schedulability is Schedulability.SCHEDULABLE
        await db.run(
            upsert_health_state,
            HealthStateData(
                "nodes",
                "cn-beijing",
                "cn-beijing",
                "unhealthy",
                3,
                0,
                datetime.now(UTC),
                reason="0/3 nodes Ready",
            ),
        )

        async def excluded() -> bool:
            return health.member_health(mc).schedulability is Schedulability.UNHEALTHY

        await wait_for(excluded, 5, "the leader's nodes verdict read from the store")
        assert health.member_health(mc).reason == "0/3 nodes Ready"
        assert "*" in enqueued  # every app of this replica looked at again
    finally:
        await health.stop()
        db.dispose()


async def test_gained_shards_are_held_only_together_with_their_hook() -> None:
    """Nothing in the process sees a gained shard as its own (sweeps, reconciles, the write gate) while
    the other Lease writes of the round are still going: the shards are held at the moment ``on_gained``
    runs (which the health sweeps need, to resume the apps' states before anything probes them)."""
    leases, clock = Leases(), Clock()
    a = manager(leases, "a", clock)
    held_during_writes: list[set[int]] = []
    gained: list[tuple[set[int], set[int]]] = []

    class SlowApi(Api):
        async def create(
            self, res: Any, body: dict[str, Any], namespace: str | None = None
        ) -> dict[str, Any]:
            out = await super().create(res, body, namespace)
            await asyncio.sleep(0)  # let the other shards' writes (and anything else) run meanwhile
            held_during_writes.append(a.held())
            return out

    a.api = SlowApi(leases, "a")  # type: ignore[assignment]
    a.on_gained = lambda shards: gained.append((set(shards), a.held()))
    await rounds([a], clock, 2)
    assert gained == [(set(range(SHARDS)), set(range(SHARDS)))]
    assert len(held_during_writes) > SHARDS  # the presence Lease and every shard's
    assert all(h == set() for h in held_during_writes)
