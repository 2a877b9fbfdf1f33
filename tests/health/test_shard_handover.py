"""Hysteresis moves with a shard: two replicas' health sweeps share one store (SQLite and PostgreSQL);
the replica that gains a shard resumes its apps' states from what the previous holder stored, before
it sweeps or reconciles them, and the replica that lost it forgets them without writing over them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from federation.api import constants as c
from federation.controller.members import MemberDirectory
from federation.controller.sweeps import ControllerHealth
from federation.health.hysteresis import Machine, State
from federation.health.signals import Signal, app_target_id
from federation.health.sweeps import HealthConfig, HealthService
from federation.health.targets import StaticSource
from federation.health.tracker import HealthTracker
from federation.placement import Schedulability
from federation.store.db import Database
from federation.store.health import (
    HealthStateData,
    app_health_states,
    latest_health,
    list_transitions,
    upsert_health_state,
)
from tests.store import conftest as store_fixtures
from tests.waiting import wait_for

# the store's fixtures: every test here runs on SQLite and on PostgreSQL
db_url = store_fixtures.db_url
migrated_url = store_fixtures.migrated_url
db = store_fixtures.db

WEB, API = "shop/web", "shop/api"
GOOD, BAD = "cn-hangzhou", "cn-beijing"  # 127.0.0.1 answers; nothing listens on 127.0.0.2
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def federated_app(name: str, port: int, addresses: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": r} for r in addresses]},
            "ports": [{"name": "http", "port": port, "targetPort": 8080}],
            "dns": {"zone": "example.com", "hostname": f"{name}.example.com"},
            "healthProbe": {"failureThreshold": 3, "successThreshold": 2},
        },
        "status": {
            "regions": [
                {"region": r, "cluster": r, "address": a, "desiredReplicas": 1, "readyReplicas": 1}
                for r, a in addresses.items()
            ]
        },
    }


class Apps:
    """The FederatedApp cache as the sweeps read it (both replicas see every app)."""

    def __init__(self, *apps: dict[str, Any]) -> None:
        self.cache = {f"{a['metadata']['namespace']}/{a['metadata']['name']}": a for a in apps}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.cache.get(key)


def replica(
    name: str, apps: Apps, holder: dict[str, str], store: Database, enqueue: Callable[[str], None]
) -> ControllerHealth:
    return ControllerHealth(
        MemberDirectory(),
        lambda: apps,  # type: ignore[arg-type,return-value]
        enqueue,
        lambda: None,
        config=HealthConfig(fast_interval=0.01, probe_networks=("127.0.0.0/8",)),
        db=store,
        leads=lambda: False,
        owns_app=lambda key: holder.get(key) == name,
        sharded=True,
    )


@contextlib.asynccontextmanager
async def listener() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def target(app: str, region: str, signal: Signal = Signal.VIP) -> tuple[str, str]:
    return (signal.value, app_target_id(app, region))


async def test_a_gained_shard_resumes_the_previous_holders_hysteresis(db: Database) -> None:
    async with listener() as port:
        apps = Apps(
            federated_app("web", port, {GOOD: "127.0.0.1", BAD: "127.0.0.2"}),
            federated_app("api", port, {GOOD: "127.0.0.1"}),
        )
        holder = {WEB: "a", API: "b"}  # each app's shard, by the replica holding it
        enqueued_b: list[str] = []
        seen_when_enqueued: dict[str, Machine | None] = {}

        def enqueue_b(key: str) -> None:
            # what B's first reconcile of the app would see
            seen_when_enqueued.setdefault(key, b.service.tracker.machines.get(target(key, BAD)))
            enqueued_b.append(key)

        a = replica("a", apps, holder, db, lambda key: None)
        b = replica("b", apps, holder, db, enqueue_b)

        # A sweeps its app: the region that refuses is confirmed unhealthy, and stored
        await a.service.sweep_vips()
        held = a.service.tracker.machines[target(WEB, BAD)]
        assert held.state is State.UNHEALTHY
        assert held.since is not None
        stored = {(s.target_kind, s.target_id): s for s in await db.run(latest_health)}
        assert stored[target(WEB, BAD)].state == "unhealthy"

        # B sweeps its own app, and has a stale machine of A's app (resumed at its start, long ago)
        await b.service.sweep_vips()
        own = b.service.tracker.machines[target(API, GOOD)]
        assert own.state is State.HEALTHY
        b.service.tracker.machines[target(WEB, BAD)] = Machine(
            State.HEALTHY, since=LONG_AGO, last_at=LONG_AGO
        )
        # an older word on B's app in the store (what its previous holder wrote before it moved to B)
        await db.run(
            upsert_health_state,
            HealthStateData(
                "endpoint",
                app_target_id(API, GOOD),
                GOOD,
                "unhealthy",
                3,
                0,
                LONG_AGO,
                app=API,
                last_sample_at=own.last_at - timedelta(seconds=5) if own.last_at else None,
            ),
        )

        # the shard of A's app moves to B
        holder[WEB] = "b"
        b.shards_gained([WEB])
        assert b.resuming(WEB)
        assert [i.key for i in b.apps()] == [API]  # not swept before its states are read
        assert b.app(WEB) is None

        async def enqueued() -> bool:
            return WEB in enqueued_b

        await wait_for(enqueued, 10, "the gained app enqueued once its states are resumed")
        assert not b.resuming(WEB)
        # resumed before the app was enqueued for its first reconcile on B
        assert enqueued_b.count(WEB) == 1
        first = seen_when_enqueued[WEB]
        assert first is not None
        assert first.state is State.UNHEALTHY
        got = b.service.tracker.machines[target(WEB, BAD)]
        assert got.state is State.UNHEALTHY  # not unknown, and the stale healthy machine is gone
        assert got.since == held.since
        assert b.service.tracker.machines[target(WEB, GOOD)].state is State.HEALTHY
        health = b.app_health(WEB, BAD, None)  # type: ignore[arg-type]
        assert health.schedulability is Schedulability.UNHEALTHY
        assert "refused" in health.reason
        # B's own app: its own state, whatever the store says
        assert b.service.tracker.machines[target(API, GOOD)] == own
        # even asked to resume it, B keeps what it probed itself after the stored sample
        assert await b.service.resume([API]) == 0
        assert b.service.tracker.machines[target(API, GOOD)] == own

        # B's sweeps carry on from there: one more failure, still unhealthy since A confirmed it
        assert sorted(i.key for i in b.apps()) == [API, WEB]
        await b.service.sweep_vips(WEB)
        assert b.service.tracker.machines[target(WEB, BAD)].since == held.since

        # A no longer holds the shard: it forgets the app's targets without writing unknown over B's
        a.service.config.forget_after = 0
        await a.service.forget_gone()
        assert target(WEB, BAD) not in a.service.tracker.machines
        stored = {(s.target_kind, s.target_id): s for s in await db.run(latest_health)}
        assert stored[target(WEB, BAD)].state == "unhealthy"
        assert stored[target(WEB, GOOD)].state == "healthy"
        assert not [t for t in await db.run(list_transitions, app=WEB) if t.to_state == "unknown"]


async def test_a_deleted_app_is_still_forgotten_as_unknown(db: Database) -> None:
    """The silent forgetting is for apps whose shard moved, not for apps that are gone."""
    async with listener() as port:
        apps = Apps(federated_app("web", port, {BAD: "127.0.0.2"}))
        a = replica("a", apps, {WEB: "a"}, db, lambda key: None)
        await a.service.sweep_vips()
        del apps.cache[WEB]
        a.service.config.forget_after = 0
        await a.service.forget_gone()
        stored = {(s.target_kind, s.target_id): s for s in await db.run(latest_health)}
        assert stored[target(WEB, BAD)].state == "unknown"


async def test_the_stored_states_of_the_gained_apps_are_read_in_one_query(db: Database) -> None:
    now = datetime.now(UTC)
    for app in ("shop/a", "shop/b", "shop/c"):
        for signal in (Signal.ROLLOUT, Signal.VIP):
            await db.run(
                upsert_health_state,
                HealthStateData(signal.value, app_target_id(app, GOOD), GOOD, "healthy", 0, 1, now, app=app),
            )
    await db.run(upsert_health_state, HealthStateData("cluster", GOOD, GOOD, "healthy", 0, 1, now))
    got = await db.run(app_health_states, ["shop/a", "shop/c", "shop/missing"])
    assert sorted((s.app, s.target_kind) for s in got) == [
        ("shop/a", "endpoint"),
        ("shop/a", "rollout"),
        ("shop/c", "endpoint"),
        ("shop/c", "rollout"),
    ]
    assert await db.run(app_health_states, ["shop/a"], since=now + timedelta(hours=1)) == []
    assert await db.run(app_health_states, []) == []

    # a replica gaining the shards of many apps reads them with one statement, not one per app
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    svc = HealthService(StaticSource(), db=db)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        taken = await svc.resume(["shop/a", "shop/b", "shop/c", *(f"shop/new-{i}" for i in range(500))])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert taken == 6
    assert len([st for st in statements if "health_states" in st]) == 1


def test_resume_replaces_stale_machines_and_keeps_newer_ones() -> None:
    t0 = LONG_AGO
    tracker = HealthTracker()
    stale, fresh, other = target("shop/a", GOOD), target("shop/a", BAD), target("shop/b", GOOD)
    tracker.machines[stale] = Machine(State.HEALTHY, since=t0, last_at=t0)
    tracker.machines[fresh] = Machine(State.HEALTHY, since=t0, last_at=t0 + timedelta(minutes=10))
    tracker.machines[other] = Machine(State.HEALTHY, since=t0, last_at=t0)

    def row(key: tuple[str, str], app: str, at: datetime) -> HealthStateData:
        return HealthStateData(
            key[0],
            key[1],
            key[1].rsplit("@", 1)[1],
            "unhealthy",
            3,
            0,
            at - timedelta(seconds=30),
            app=app,
            last_sample_at=at,
            reason="VIP refused",
        )

    at = t0 + timedelta(minutes=5)
    member = HealthStateData("cluster", GOOD, GOOD, "unhealthy", 8, 0, at, last_sample_at=at)
    taken = tracker.resume(
        [row(stale, "shop/a", at), row(fresh, "shop/a", at), row(other, "shop/b", at), member],
        ["shop/a"],
    )
    assert taken == [stale]
    assert tracker.machines[stale] == Machine(
        State.UNHEALTHY, since=at - timedelta(seconds=30), last_at=at, reason="VIP refused"
    )
    assert tracker.machines[fresh].state is State.HEALTHY  # probed here after the stored sample
    assert tracker.machines[other].state is State.HEALTHY  # not an app of the gained shard
    assert ("cluster", GOOD) not in tracker.machines  # member signals never move with a shard
