"""The controller watches Secrets only in namespaces some MemberCluster keeps its kubeconfig in: a watch
starts with the first reference and stops with the last."""

from __future__ import annotations

import asyncio
from typing import Any

from federation.api import constants as c
from federation.clusters.resources import MEMBERCLUSTERS
from federation.sandbox.wiring import SYSTEM_NAMESPACE
from tests.controller.conftest import REGIONS, World, fast_config
from tests.waiting import wait_for


def member(name: str, secret_namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": "MemberCluster",
        "metadata": {"name": name},
        "spec": {
            "region": "ap-southeast-1",
            "kubeconfigSecretRef": {
                "name": f"{name}-kubeconfig",
                "namespace": secret_namespace,
                "key": "config",
            },
        },
    }


async def test_secret_informers_follow_the_namespaces_member_clusters_reference(world: World) -> None:
    ctrl = await world.sb.start_controller(fast_config())

    async def watched() -> set[str]:
        return set(ctrl.secret_informers)

    await wait_for(lambda: _equals(watched, {SYSTEM_NAMESPACE}), what="the system namespace watched")
    await world.host.create(MEMBERCLUSTERS, member("extra-a", "team-a"))
    await world.host.create(MEMBERCLUSTERS, member("extra-b", "team-a"))
    await wait_for(lambda: _equals(watched, {SYSTEM_NAMESPACE, "team-a"}), what="team-a watched")
    team_a = ctrl.secret_informers["team-a"]
    team_a_loop = team_a._task
    assert team_a_loop is not None

    # One of two references moves elsewhere: team-a is still needed, team-b starts.
    await world.host.merge_patch(
        MEMBERCLUSTERS, "extra-b", {"spec": {"kubeconfigSecretRef": {"namespace": "team-b"}}}
    )
    await wait_for(lambda: _equals(watched, {SYSTEM_NAMESPACE, "team-a", "team-b"}), what="team-b watched")
    assert ctrl.secret_informers["team-a"] is team_a

    # The last references go: so do their watches, and the loop of the one stopped ends.
    await world.host.delete(MEMBERCLUSTERS, "extra-a")
    await world.host.delete(MEMBERCLUSTERS, "extra-b")
    await wait_for(lambda: _equals(watched, {SYSTEM_NAMESPACE}), what="team-a and team-b released")
    await wait_for(lambda: _done(team_a_loop), what="team-a's watch loop ended")
    assert ctrl.secret_informers[SYSTEM_NAMESPACE].synced.is_set()


async def test_member_clients_are_paced_by_the_controller_config(world: World) -> None:
    ctrl = await world.sb.start_controller(fast_config(kube_qps=30.0, kube_burst=7))

    async def members() -> list[Any]:
        return ctrl.registry.members() if len(ctrl.registry.members()) == len(REGIONS) else []

    for m in await wait_for(members, what="every member's client"):
        assert (m.api.limiter.rate, m.api.limiter.burst) == (30.0, 7)
        assert m.probe_api.limiter is m.api.limiter  # one bucket per cluster


async def _equals(get: Any, expected: set[str]) -> bool:
    return bool(await get() == expected)


async def _done(task: asyncio.Task[None]) -> bool:
    return task.done()
