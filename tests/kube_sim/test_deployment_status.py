"""Properties of the simulated Deployment controller (pure): the status it reports for its ReplicaSets,
and its rollout stepping within maxSurge/maxUnavailable."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from federation.sandbox.kube import rollout
from federation.sandbox.kube.behaviour import PoolView, deployment_status


def _dep(replicas: int, strategy: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "template": {"spec": {}}}
    if strategy is not None:
        spec["strategy"] = strategy
    return {"metadata": {"name": "d", "generation": 2}, "spec": spec, "status": {}}


@given(
    st.integers(0, 50),
    st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=3),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_status_counts_and_conditions(
    replicas: int, olds: list[tuple[int, int]], complete: bool, failing: bool, deadline: bool
) -> None:
    pools = [PoolView(f"old{i}", n, min(r, n)) for i, (n, r) in enumerate(olds)]
    pools.append(PoolView("new", replicas, replicas // 2))
    s = deployment_status(
        _dep(replicas),
        pools=pools,
        new_hash="new",
        complete=complete,
        failing=failing,
        deadline_passed=deadline,
        now="2026-01-01T00:00:00Z",
    )
    ready = sum(p.ready for p in pools)
    assert s["observedGeneration"] == 2
    assert s["replicas"] == sum(p.replicas for p in pools)
    assert s["updatedReplicas"] == replicas
    assert s.get("readyReplicas", 0) == s.get("availableReplicas", 0) == ready
    assert s.get("unavailableReplicas", 0) == max(replicas - ready, 0)
    conds = {c["type"]: c for c in s["conditions"]}
    min_available = replicas - replicas * 25 // 100
    assert conds["Available"]["status"] == ("True" if ready >= min_available else "False")
    if failing and deadline:
        assert conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    elif failing and replicas:
        assert conds["Progressing"]["reason"] == "ReplicaSetUpdated"


def test_rounding_surge_up_unavailable_down() -> None:
    spec = {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}
    assert rollout.surge_and_unavailable(spec, 10) == (3, 2)
    assert rollout.surge_and_unavailable({}, 1) == (1, 0)
    assert rollout.surge_and_unavailable(
        {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}, 5
    ) == (
        0,
        1,
    )
    assert rollout.surge_and_unavailable({"strategy": {"type": "Recreate"}}, 4) == (0, 4)


def _simulate(replicas: int, surge: Any, unavailable: Any, old: int) -> list[tuple[int, int, int]]:
    """Roll from a fully ready old ReplicaSet to a new template; (total pods, available, new replicas)
    after every step, the time advancing one delay per step."""
    spec = {
        "replicas": replicas,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        },
    }
    pools = {"a": rollout.Pool("a", [[old, 0.0]])}
    seen = []
    now = 1.0
    for _ in range(4 * replicas + 10):

        def ready(p: rollout.Pool, t: float = now) -> int:
            return p.matured(t)

        rollout.step(pools, "b", spec, now=now, delay=1.0, ready=ready)
        seen.append(
            (
                sum(p.replicas for p in pools.values()),
                sum(ready(p) for p in pools.values()),
                pools["b"].replicas,
            )
        )
        if rollout.complete(pools, "b", replicas, now):
            break
        now += 1.0
    return seen


@given(
    st.integers(1, 30),
    st.one_of(st.integers(0, 5), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])),
    st.one_of(st.integers(0, 5), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])),
)
def test_rolling_update_stays_within_surge_and_unavailable(
    replicas: int, surge: Any, unavailable: Any
) -> None:
    spec = {"strategy": {"rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}
    max_surge, max_unavailable = rollout.surge_and_unavailable(spec, replicas)
    seen = _simulate(replicas, surge, unavailable, replicas)
    for total, available, _ in seen:
        assert total <= replicas + max_surge
        assert available >= min(replicas - max_unavailable, replicas)
    assert seen[-1] == (replicas, replicas, replicas)  # finished: only the new ReplicaSet, all ready
    if max_surge + max_unavailable < replicas:
        assert len(seen) > 2  # in steps, not at once


def test_recreate_replaces_everything_at_once() -> None:
    pools = {"a": rollout.Pool("a", [[4, 0.0]])}
    rollout.step(
        pools, "b", {"replicas": 4, "strategy": {"type": "Recreate"}}, now=1.0, delay=1.0, ready=lambda p: 0
    )
    assert list(pools) == ["b"]
    assert pools["b"].replicas == 4
    assert pools["b"].matured(1.5) == 0
    assert pools["b"].matured(2.0) == 4


def test_undo_template_hash_ignores_the_hash_label_and_null_timestamp() -> None:
    t = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "x"}]}}
    copied = {
        "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}, "creationTimestamp": None},
        "spec": t["spec"],
    }
    assert rollout.template_hash(t) == rollout.template_hash(copied)
