"""Property tests of the pure placement function (federation/placement.py)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from federation.placement import (
    PlacementInput,
    PlacementResult,
    PreviousRegion,
    RegionInput,
    Schedulability,
    place,
)

NAMES = ["cn-hangzhou", "cn-beijing", "cn-shanghai", "eu-central-1", "us-west-1", "ap-southeast-1"]


@st.composite
def regions(draw: st.DrawFn, min_size: int = 1, bounded: bool = True) -> list[RegionInput]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=min_size, max_size=len(NAMES), unique=True))
    out = []
    for n in names:
        lo = draw(st.integers(0, 3)) if bounded else 0
        hi = draw(st.one_of(st.none(), st.integers(lo, lo + 20))) if bounded else None
        out.append(RegionInput(n, weight=draw(st.integers(0, 10)), min_replicas=lo, max_replicas=hi))
    return out


def previous_of(result: PlacementResult) -> dict[str, PreviousRegion]:
    return {r.name: PreviousRegion(r.replicas, r.state) for r in result.regions}


def with_health(regs: list[RegionInput], sick: set[str]) -> list[RegionInput]:
    return [
        dataclasses.replace(r, schedulability=Schedulability.UNHEALTHY, reason="member unreachable")
        if r.name in sick
        else r
        for r in regs
    ]


strategies = st.sampled_from(["Spread", "Weighted", "Failover"])
uids = st.uuids().map(str)


@given(
    regs=regions(),
    total=st.integers(0, 200),
    strategy=strategies,
    uid=uids,
    sick=st.sets(st.sampled_from(NAMES)),
    reschedule=st.booleans(),
)
def test_sum_exact_and_bounds_hold(regs, total, strategy, uid, sick, reschedule):
    inp = PlacementInput(
        total,
        strategy,
        with_health(regs, sick),
        uid,
        failover_order=NAMES[::-1],
        reschedule_on_failure=reschedule,
    )
    res = place(inp)
    assert [r.name for r in res.regions] == [r.name for r in regs]
    placed = [r for r in regs if r.name not in sick or not reschedule]
    if not placed:
        assert res.problems  # fail static is reported, never silent
        return
    for r in regs:
        got = res.get(r.name)
        assert got is not None
        if r.name in sick and reschedule:
            assert (got.replicas, got.state) == (0, "excluded")
            assert got.reason == "member unreachable"
        else:
            assert got.replicas >= r.min_replicas
            if r.max_replicas is not None:
                assert got.replicas <= max(r.max_replicas, r.min_replicas)
    if res.feasible:
        assert res.total == total
    else:
        lo = sum(r.min_replicas for r in placed)
        caps = [r.max_replicas for r in placed]
        hi = None if None in caps else sum(c for c in caps if c is not None)
        assert lo > total or (hi is not None and hi < total)


@given(regs=regions(), total=st.integers(0, 200), strategy=strategies, uid=uids, seed=st.integers())
def test_deterministic_and_independent_of_listing_order(regs, total, strategy, uid, seed):
    inp = PlacementInput(total, strategy, regs, uid, failover_order=NAMES)
    first = place(inp)
    assert place(inp) == first
    shuffled = list(regs)
    random.Random(seed).shuffle(shuffled)
    assert place(dataclasses.replace(inp, regions=shuffled)).replicas == first.replicas


@given(
    regs=regions(),
    total=st.integers(0, 200),
    strategy=st.sampled_from(["Spread", "Weighted"]),
    uid=uids,
    extra=st.integers(1, 20),
)
def test_scaling_up_never_takes_replicas_from_a_region(regs, total, strategy, uid, extra):
    before = place(PlacementInput(total, strategy, regs, uid))
    after = place(PlacementInput(total + extra, strategy, regs, uid, previous=previous_of(before)))
    assume(before.feasible and after.feasible)
    diff = {n: after.replicas[n] - before.replicas[n] for n in before.replicas}
    assert all(d >= 0 for d in diff.values())
    assert sum(diff.values()) == extra  # minimal: only the new replicas are placed


@given(regs=regions(min_size=2), total=st.integers(0, 200), strategy=strategies, uid=uids, data=st.data())
def test_failure_moves_only_the_failed_regions_replicas(regs, total, strategy, uid, data):
    sick = data.draw(st.sampled_from([r.name for r in regs]))
    order = data.draw(st.permutations([r.name for r in regs]))
    healthy = place(PlacementInput(total, strategy, regs, uid, failover_order=order))
    failed = place(
        PlacementInput(
            total,
            strategy,
            with_health(regs, {sick}),
            uid,
            failover_order=order,
            previous=previous_of(healthy),
        )
    )
    assume(healthy.feasible and failed.feasible)
    assert failed.replicas[sick] == 0
    for n, before in healthy.replicas.items():
        if n != sick:
            assert failed.replicas[n] >= before
    moved = sum(abs(failed.replicas[n] - healthy.replicas[n]) for n in healthy.replicas)
    assert moved == 2 * healthy.replicas[sick]


@given(regs=regions(min_size=2), total=st.integers(0, 200), strategy=strategies, uid=uids, data=st.data())
def test_recovery_with_rebalance_restores_the_weighted_assignment(regs, total, strategy, uid, data):
    sick = data.draw(st.sampled_from([r.name for r in regs]))
    order = data.draw(st.permutations([r.name for r in regs]))
    base = PlacementInput(total, strategy, regs, uid, failover_order=order)
    healthy = place(base)
    failed = place(
        dataclasses.replace(base, regions=with_health(regs, {sick}), previous=previous_of(healthy))
    )
    recovered = place(dataclasses.replace(base, previous=previous_of(failed)))
    assume(healthy.feasible and failed.feasible)
    assert recovered.replicas == healthy.replicas
    # a healthy region gives back at most what it took over: never less than the weights require
    for n in healthy.replicas:
        if n != sick:
            assert recovered.replicas[n] >= healthy.replicas[n]
            assert failed.replicas[n] - recovered.replicas[n] <= failed.replicas[n] - healthy.replicas[n]


@given(regs=regions(min_size=2), total=st.integers(0, 200), strategy=strategies, uid=uids, data=st.data())
def test_recovery_without_rebalance_holds_the_region(regs, total, strategy, uid, data):
    sick = data.draw(st.sampled_from([r.name for r in regs]))
    base = PlacementInput(
        total, strategy, regs, uid, failover_order=[r.name for r in regs], rebalance_on_recovery=False
    )
    healthy = place(base)
    failed = place(
        dataclasses.replace(base, regions=with_health(regs, {sick}), previous=previous_of(healthy))
    )
    assume(failed.feasible)
    recovered = place(dataclasses.replace(base, previous=previous_of(failed)))
    others_cap = [r.max_replicas for r in regs if r.name != sick]
    sick_min = next(r.min_replicas for r in regs if r.name == sick)
    if None in others_cap or sum(c for c in others_cap if c is not None) >= total - sick_min:
        got = recovered.get(sick)
        assert got is not None
        assert got.state == "held"
        assert got.replicas == sick_min
        assert "rebalanceOnRecovery=false" in got.reason
        if failed.total == total and recovered.feasible:
            # the others give up no more than the held region's minReplicas requires
            lost = sum(max(0, failed.replicas[n] - recovered.replicas[n]) for n in failed.replicas)
            assert lost <= sick_min
        # the hold persists over further reconciles ...
        again = place(dataclasses.replace(base, previous=previous_of(recovered)))
        assert again == recovered
        # ... until the spec changes
        edited = place(dataclasses.replace(base, previous=previous_of(recovered), spec_changed=True))
        assert edited.replicas == healthy.replicas
    else:
        assert recovered.replicas == healthy.replicas  # the others could not carry the load: released


@given(regs=regions(min_size=1), total=st.integers(0, 100), uid=uids, data=st.data())
def test_failover_puts_everything_in_the_first_healthy_region(regs, total, uid, data):
    order = data.draw(st.permutations([r.name for r in regs]))
    sick = data.draw(st.sets(st.sampled_from([r.name for r in regs])))
    regs = [dataclasses.replace(r, max_replicas=None) for r in regs]
    res = place(PlacementInput(total, "Failover", with_health(regs, sick), uid, failover_order=order))
    alive = [n for n in order if n not in sick]
    assume(alive and res.feasible)
    mins = {r.name: r.min_replicas for r in regs}
    primary = alive[0]
    assert res.replicas[primary] == total - sum(mins[n] for n in alive[1:])
    for n in alive[1:]:
        assert res.replicas[n] == mins[n]


def test_spread_is_even_and_the_odd_replica_is_a_stable_per_app_choice():
    regs = [RegionInput(n) for n in NAMES[:3]]
    res = place(PlacementInput(7, "Spread", regs, "uid-1"))
    assert sorted(res.replicas.values()) == [2, 2, 3]
    assert place(PlacementInput(7, "Spread", regs, "uid-1")) == res
    # different apps do not all put their extra replica in the same region
    winners = {
        max(place(PlacementInput(7, "Spread", regs, f"uid-{i}")).replicas.items(), key=lambda kv: kv[1])[0]
        for i in range(30)
    }
    assert len(winners) == 3


def test_weighted_follows_weights_and_reports_infeasible_bounds():
    regs = [
        RegionInput("a", weight=3),
        RegionInput("b", weight=1),
        RegionInput("c", weight=0, min_replicas=1),
    ]
    assert place(PlacementInput(9, "Weighted", regs, "u")).replicas == {"a": 6, "b": 2, "c": 1}
    capped = [RegionInput("a", max_replicas=2), RegionInput("b", max_replicas=3)]
    res = place(PlacementInput(10, "Weighted", capped, "u"))
    assert res.replicas == {"a": 2, "b": 3}
    assert res.problems == (
        "the maxReplicas of the placed regions allow only 5 of the 10 replicas asked for",
    )
    mins = [RegionInput("a", min_replicas=4), RegionInput("b", min_replicas=4)]
    res = place(PlacementInput(5, "Spread", mins, "u"))
    assert res.replicas == {"a": 4, "b": 4}
    assert "minReplicas" in res.problems[0]


def test_unavailable_region_is_excluded_even_without_rescheduling():
    regs = [
        RegionInput("a"),
        RegionInput("b", schedulability=Schedulability.UNAVAILABLE, reason="no MemberCluster for region b"),
    ]
    res = place(PlacementInput(4, "Spread", regs, "u", reschedule_on_failure=False))
    assert res.replicas == {"a": 4, "b": 0}
    assert res.excluded == {"b": "no MemberCluster for region b"}


def test_unhealthy_region_keeps_its_share_when_rescheduling_is_off():
    regs = [RegionInput("a"), RegionInput("b", schedulability=Schedulability.UNHEALTHY, reason="drained")]
    res = place(PlacementInput(4, "Spread", regs, "u", reschedule_on_failure=False))
    assert res.replicas == {"a": 2, "b": 2}
    b = res.get("b")
    assert b is not None
    assert b.state == "active"
    assert "rescheduleOnFailure=false" in b.reason


def test_all_regions_down_fails_static():
    regs = [RegionInput("a"), RegionInput("b")]
    prev = {"a": PreviousRegion(3), "b": PreviousRegion(1)}
    res = place(PlacementInput(4, "Spread", with_health(regs, {"a", "b"}), "u", previous=prev))
    assert res.replicas == {"a": 3, "b": 1}
    assert res.excluded == {"a": "member unreachable", "b": "member unreachable"}
    assert "no healthy region" in res.problems[0]


@pytest.mark.parametrize(("field", "value"), [("weight", -1), ("min_replicas", -2), ("max_replicas", -3)])
def test_bad_region_input_names_the_field(field, value):
    with pytest.raises(ValueError, match="region x"):
        RegionInput("x", **{field: value})
