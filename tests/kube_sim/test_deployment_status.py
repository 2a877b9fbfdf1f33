"""Properties of the simulated Deployment controller's status computation (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from federation.sandbox.kube.behaviour import deployment_status


def _dep(replicas: int, prev_ready: int) -> dict:
    return {
        "metadata": {"name": "d", "generation": 2},
        "spec": {"replicas": replicas, "template": {"spec": {}}},
        "status": {"readyReplicas": prev_ready},
    }


@given(
    st.integers(0, 50),
    st.integers(0, 60),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.lists(st.booleans(), max_size=6),
)
def test_ready_replicas_bounds(
    replicas: int, prev: int, rolled_out: bool, failing: bool, deadline: bool, nodes: list[bool]
) -> None:
    st_ = deployment_status(
        _dep(replicas, prev),
        rolled_out=rolled_out,
        failing=failing,
        deadline_passed=deadline,
        node_readiness=nodes,
        now="2026-01-01T00:00:00Z",
    )
    ready = st_.get("readyReplicas", 0)
    assert 0 <= ready <= replicas
    assert st_["observedGeneration"] == 2
    assert st_["replicas"] == replicas
    assert st_.get("unavailableReplicas", 0) == replicas - ready
    if failing:
        assert ready == 0
    if rolled_out and not failing and all(nodes):
        assert ready == replicas
    if not nodes or not any(nodes):
        assert ready <= (replicas if not nodes else 0)
    conds = {c["type"]: c for c in st_["conditions"]}
    assert conds["Available"]["status"] == ("True" if ready >= replicas - replicas * 25 // 100 else "False")
    if failing and deadline:
        assert conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"
