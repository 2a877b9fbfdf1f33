"""What each probe's raw answer means (pure), and a region's verdict for an app."""

from __future__ import annotations

from datetime import UTC, datetime

from federation.health.hysteresis import Machine, State
from federation.health.signals import (
    Signal,
    app_target_id,
    nodes_result,
    rollout_result,
    slb_result,
    verdict,
)

APP = "default/web"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def dep(want: int, available: int, progressing: tuple[str, str] | None) -> dict[str, object]:
    conds = []
    if progressing is not None:
        conds.append({"type": "Progressing", "status": progressing[0], "reason": progressing[1]})
    conds.append({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"})
    return {"spec": {"replicas": want}, "status": {"availableReplicas": available, "conditions": conds}}


def test_a_rollout_is_judged_only_when_it_can_no_longer_finish() -> None:
    assert rollout_result(APP, dep(3, 3, ("True", "NewReplicaSetAvailable")), 3) == (
        True,
        "Deployment default/web: 3/3 available",
    )
    # a fresh rollout, or a region given its replicas back: not judged until it finishes or fails
    assert rollout_result(APP, dep(3, 0, ("True", "ReplicaSetUpdated")), 3)[0] is None
    ok, detail = rollout_result(APP, dep(3, 0, ("False", "ProgressDeadlineExceeded")), 3)
    assert ok is False
    assert detail == "Deployment default/web: 0/3 available (ProgressDeadlineExceeded)"
    # completed once, every replica gone since (crash-looping)
    assert rollout_result(APP, dep(3, 0, ("True", "NewReplicaSetAvailable")), 3)[0] is False
    # the canary of an excluded region is judged on what the Deployment asks for
    assert rollout_result(APP, dep(1, 1, ("True", "NewReplicaSetAvailable")), 0)[0] is True
    assert rollout_result(APP, dep(0, 0, None), 0)[0] is None
    assert rollout_result(APP, None, 3)[0] is None


def test_slb_and_nodes_results() -> None:
    assert slb_result([{"ServerHealthStatus": "abnormal"}] * 3) == (False, "0/3 SLB backends normal")
    assert slb_result([{"ServerHealthStatus": "normal"}, {"ServerHealthStatus": "abnormal"}])[0] is True
    assert slb_result([])[0] is None
    assert slb_result([{"ServerHealthStatus": "unavailable"}] * 2)[0] is None  # not checked yet
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    not_ready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    assert nodes_result([not_ready, not_ready]) == (False, "0/2 nodes Ready", 0, 2)
    assert nodes_result([ready, not_ready])[:2] == (True, "1/2 nodes Ready")


def test_a_region_is_unhealthy_when_any_signal_is_and_unknown_never_drains() -> None:
    tid = app_target_id(APP, "cn-hangzhou")
    machines = {
        (Signal.MEMBER.value, "hz"): Machine(State.HEALTHY, reason="member API answered"),
        (Signal.VIP.value, tid): Machine(State.UNHEALTHY, failures=3, reason="VIP 127.0.0.5:80 refused"),
        (Signal.ROLLOUT.value, tid): Machine(State.UNKNOWN),
    }
    v = verdict(APP, "cn-hangzhou", "hz", machines)
    assert v.state is State.UNHEALTHY
    assert v.reason == "VIP 127.0.0.5:80 refused 3 times"
    machines[(Signal.VIP.value, tid)] = Machine(State.UNKNOWN)
    v = verdict(APP, "cn-hangzhou", "hz", machines)
    assert v.healthy
    assert v.state is State.HEALTHY
    assert verdict(APP, "cn-beijing", None, machines).state is State.UNKNOWN
