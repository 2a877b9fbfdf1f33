"""The app reconciler on fake collaborators: placement -> propagation decisions -> status, no sockets.

The integration tests (test_propagation.py and friends) run the same reconciler over the simulator;
these pin down its decisions with nothing but in-memory fakes behind the collaborator protocols.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from federation.api import constants as c
from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.clusters.kubeapi import Resource
from federation.clusters.propagate import MemberTarget, RegionPropagation
from federation.controller.apps import AppReconciler, RetryLater
from federation.controller.collaborators import AppCollaborators
from federation.controller.manager import app_changed
from federation.controller.steps import StepContext, StepFailed
from federation.health.source import HEALTHY, MemberHealth
from federation.placement import Schedulability
from tests.controller.conftest import REGIONS, make_app

Obj = dict[str, Any]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network socket opened here would mean a collaborator reached past its fake (the event loop's
    own AF_UNIX wake-up pair is allowed)."""
    real = socket.socket

    def guarded(family: int = socket.AF_INET, *args: Any, **kwargs: Any) -> Any:
        if family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError("the app reconciler opened a network socket")
        return real(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", guarded)


class Cache:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def remember(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self.objects[f"{meta['namespace']}/{meta['name']}"] = obj

    def forget(self, key: str) -> None:
        self.objects.pop(key, None)


@dataclass
class Member:
    name: str
    reachable: bool | None = True
    synced: bool = True
    api: Any = None  # the fake propagation never calls it
    deployments: Cache = field(default_factory=Cache)
    services: Cache = field(default_factory=Cache)
    namespaces: set[str] = field(default_factory=set)


class Members:
    def __init__(self, names: Sequence[str]) -> None:
        self.members = {n: Member(n) for n in names}

    def view(self, name: str) -> Member | None:
        return self.members.get(name)

    def all_views(self) -> list[Member]:
        return list(self.members.values())


class Clusters:
    def __init__(self, regions: Sequence[str]) -> None:
        self.items = [
            MemberCluster.model_validate(
                {
                    "metadata": {"name": r},
                    "spec": {"region": r, "kubeconfigSecretRef": {"name": r, "namespace": "fed"}},
                }
            )
            for r in regions
        ]

    def member_clusters(self) -> list[MemberCluster]:
        return list(self.items)


class Health:
    def __init__(self) -> None:
        self.answers: dict[str, MemberHealth] = {}

    def member_health(self, cluster: MemberCluster) -> MemberHealth:
        return self.answers.get(cluster.name, HEALTHY)


class Propagation:
    """Records what it was asked to write; every write 'succeeds' and the replicas are ready at once."""

    def __init__(self) -> None:
        self.written: dict[str, int] = {}
        self.removed: list[str] = []
        self.failing: dict[str, str] = {}

    async def propagate(
        self, app: FederatedApp, region: str, replicas: int, target: MemberTarget
    ) -> RegionPropagation:
        if target.name in self.failing:
            return RegionPropagation(problem=self.failing[target.name])
        self.written[region] = replicas
        return RegionPropagation(ready_replicas=replicas, rolled_out=True)

    async def remove(self, app: FederatedApp, target: MemberTarget) -> list[str]:
        self.removed.append(target.name)
        return []


class Host:
    """The host API: merge patches applied to the app kept in ``apps``."""

    def __init__(self, apps: Cache) -> None:
        self.apps = apps
        self.patches: list[tuple[str | None, Obj]] = []

    async def merge_patch(
        self, res: Resource, name: str, body: Obj, namespace: str | None = None, sub: str | None = None
    ) -> Obj:
        self.patches.append((sub, copy.deepcopy(body)))
        obj = copy.deepcopy(self.apps.objects[f"{namespace}/{name}"])
        if sub == "status":
            status = {**(obj.get("status") or {}), **body["status"]}
            obj["status"] = {k: v for k, v in status.items() if v is not None}
        else:
            obj["metadata"].update({k: v for k, v in body["metadata"].items() if k != "resourceVersion"})
        return obj


class Events:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        self.reasons.append(reason)


@dataclass
class Rig:
    reconciler: AppReconciler
    apps: Cache
    host: Host
    health: Health
    members: Members
    propagation: Propagation
    events: Events
    requeued: list[tuple[str, float]]
    probed: list[str]

    async def reconcile(self, key: str = "shop/web") -> None:
        await self.reconciler.reconcile(key)

    def status(self, key: str = "shop/web") -> Obj:
        return self.apps.objects[key].get("status") or {}

    def condition(self, ctype: str) -> tuple[str, str]:
        for cd in self.status().get("conditions") or []:
            if cd["type"] == ctype:
                return cd["status"], cd["reason"]
        raise AssertionError(f"no {ctype} condition in {self.status()}")


def rig(app: Obj, steps: Sequence[Any] = ()) -> Rig:
    apps = Cache()
    app = copy.deepcopy(app)
    app["metadata"].update(uid="uid-1", generation=1, resourceVersion="1")
    apps.remember(app)
    host, health, members = Host(apps), Health(), Members(REGIONS)
    propagation, events = Propagation(), Events()
    requeued: list[tuple[str, float]] = []
    probed: list[str] = []
    deps = AppCollaborators(
        apps=apps,
        clusters=Clusters(REGIONS),
        members=members,
        health=health,
        propagation=propagation,
        host=host,
        events=events,
        requeue_after=lambda key, delay: requeued.append((key, delay)),
        probe_member=probed.append,
        steps=steps,
        clock=lambda: NOW,
    )
    return Rig(AppReconciler(deps), apps, host, health, members, propagation, events, requeued, probed)


async def test_spread_places_propagates_and_reports_ready() -> None:
    r = rig(make_app(replicas=6))
    await r.reconcile()
    assert c.FINALIZER in r.apps.objects["shop/web"]["metadata"]["finalizers"]
    assert r.propagation.written == dict.fromkeys(REGIONS, 2)
    assert r.condition("Ready") == ("True", "AllRegionsReady")
    assert {x["region"]: x["desiredReplicas"] for x in r.status()["regions"]} == dict.fromkeys(REGIONS, 2)
    assert "ReplicasPlaced" in r.events.reasons


async def test_an_unschedulable_member_loses_its_replicas_and_the_status_says_why() -> None:
    r = rig(make_app(replicas=6))
    r.health.answers["cn-beijing"] = MemberHealth(Schedulability.UNHEALTHY, "drained for maintenance")
    await r.reconcile()
    assert r.propagation.written == {"cn-hangzhou": 3, "cn-beijing": 0, "eu-central-1": 3}
    beijing = next(x for x in r.status()["regions"] if x["region"] == "cn-beijing")
    assert beijing["excludedReason"] == "drained for maintenance"
    assert r.condition("Degraded") == ("True", "RegionExcluded")
    assert "RegionExcluded" in r.events.reasons


async def test_a_second_reconcile_of_an_unchanged_world_writes_nothing() -> None:
    r = rig(make_app(replicas=4))
    await r.reconcile()
    patches = len(r.host.patches)
    await r.reconcile()
    assert len(r.host.patches) == patches


async def test_a_member_waiting_for_its_first_probe_is_looked_at_again_soon() -> None:
    r = rig(make_app(replicas=3))
    r.health.answers["eu-central-1"] = MemberHealth(Schedulability.UNHEALTHY, "not probed yet", pending=True)
    await r.reconcile()
    assert r.requeued == [("shop/web", 0.5)]


async def test_a_failed_write_fails_the_reconcile_after_reporting_it() -> None:
    r = rig(make_app(replicas=3))
    r.propagation.failing["cn-beijing"] = "writing to member cn-beijing failed: 500 InternalError"
    with pytest.raises(RetryLater):
        await r.reconcile()
    assert r.condition("Ready") == ("False", "NotReady")
    beijing_msg = next(
        cd["message"]
        for cd in r.status()["conditions"]
        if cd["type"] == "Degraded" and cd["status"] == "True"
    )
    assert "cn-beijing" in beijing_msg


async def test_a_region_left_out_of_the_spec_is_cleaned_from_its_member() -> None:
    app = make_app(replicas=2, regions=("cn-hangzhou", "eu-central-1"))
    r = rig(app)
    await r.reconcile()
    assert r.propagation.removed == ["cn-beijing"]


@dataclass
class RecordingStep:
    name: str = "Probe"
    seen: list[dict[str, int]] = field(default_factory=list)

    async def apply(self, ctx: StepContext) -> None:
        self.seen.append({a.name: a.replicas for a in ctx.placement.regions})
        ctx.region_fields.setdefault("cn-hangzhou", {})["address"] = "192.0.2.10"

    async def cleanup(self, ctx: StepContext) -> None:
        return None


async def test_steps_see_the_placement_and_their_fields_reach_the_status() -> None:
    step = RecordingStep()
    r = rig(make_app(replicas=3), steps=[step])
    await r.reconcile()
    assert step.seen == [dict.fromkeys(REGIONS, 1)]
    hz = next(x for x in r.status()["regions"] if x["region"] == "cn-hangzhou")
    assert hz["address"] == "192.0.2.10"


class RefusingStep:
    """A step whose cloud API refuses, with a different request id every time (as real ones do)."""

    name = "LB"

    def __init__(self, exc: type[Exception] = StepFailed) -> None:
        self.calls = 0
        self.broken = True
        self.exc = exc

    async def apply(self, ctx: StepContext) -> None:
        self.calls += 1
        if not self.broken:
            return
        if self.exc is StepFailed:
            raise StepFailed("Throttled", "the load balancer API refused the call", retry_after=3.0)
        raise self.exc(f"Throttling [RequestId {self.calls:08d}-4b2c]")

    async def cleanup(self, ctx: StepContext) -> None:
        return None


@pytest.mark.parametrize("exc", [StepFailed, RuntimeError])
async def test_a_failing_step_fails_the_reconcile_with_a_condition_that_does_not_change(exc: type) -> None:
    step = RefusingStep(exc)
    r = rig(make_app(replicas=3), steps=[step])
    with pytest.raises(RetryLater) as failed:
        await r.reconcile()
    assert failed.value.retry_after == (3.0 if exc is StepFailed else 0.0)
    cond = next(cd for cd in r.status()["conditions"] if cd["type"] == "LBFailed")
    assert cond["status"] == "True"
    assert "RequestId" not in cond["message"]
    patches = len(r.host.patches)
    for _ in range(3):  # the same failure again: nothing new to say, nothing written
        with pytest.raises(RetryLater):
            await r.reconcile()
    assert len(r.host.patches) == patches

    step.broken = False
    await r.reconcile()
    assert r.condition("LBFailed") == ("False", "Succeeded")


def test_only_changes_a_reconcile_depends_on_enqueue_the_app() -> None:
    app = make_app()
    app["metadata"].update(generation=1, resourceVersion="5", finalizers=[c.FINALIZER])
    ours = copy.deepcopy(app)
    ours["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    ours["metadata"]["resourceVersion"] = "6"
    assert not app_changed(app, ours)  # our own status write
    for path, value in [
        (("spec", "replicas"), 9),
        (("metadata", "generation"), 2),
        (("metadata", "deletionTimestamp"), "2026-01-01T00:00:00Z"),
        (("metadata", "finalizers"), []),
        (("metadata", "annotations"), {"federation.io/note": "x"}),
        (("metadata", "labels"), {"team": "a"}),
    ]:
        changed = copy.deepcopy(app)
        changed[path[0]][path[1]] = value
        assert app_changed(app, changed), path
