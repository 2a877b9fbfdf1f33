"""Property tests of the make-before-break order (federation/drain.py): a region's traffic leaves
before its capacity, capacity elsewhere is ready before its traffic leaves, a dead region waits for
nothing, a joining region is answered only when ready, and every sequence ends at the placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from federation.drain import RegionMove, RegionState, next_look, transition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = timedelta(seconds=60)
NAMES = ["cn-hangzhou", "cn-beijing", "eu-central-1", "us-west-1"]


@st.composite
def states(draw: st.DrawFn) -> list[RegionState]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    out = []
    for n in names:
        target = draw(st.integers(0, 6))
        wanted = target > 0 and draw(st.booleans())
        applied = draw(st.integers(0, 6))
        in_dns = draw(st.booleans())
        out_at = None if in_dns else draw(st.one_of(st.none(), st.integers(-120, 0)))
        out.append(
            RegionState(
                n,
                target=target,
                wanted=wanted,
                applied=applied,
                ready=draw(st.integers(0, max(applied, target))),
                reachable=draw(st.booleans()),
                in_dns=in_dns,
                dns_out_at=None if out_at is None else NOW + timedelta(seconds=out_at),
            )
        )
    return out


def _capacity_ready(regions: list[RegionState]) -> bool:
    staying = [r for r in regions if r.wanted and r.reachable and r.target > 0]
    return bool(staying) and all(r.ready >= r.target for r in staying)


@given(states())
def test_traffic_leaves_before_capacity(regions: list[RegionState]) -> None:
    moves = transition(regions, now=NOW, grace=GRACE)
    for r in regions:
        m = moves[r.name]
        if r.wanted or not r.reachable or m.replicas >= r.applied:
            continue
        # a live leaving region gives up replicas only when out of DNS for the whole grace period
        assert not r.in_dns
        assert not m.serve_dns
        assert r.dns_out_at is None or r.dns_out_at + GRACE <= NOW


@given(states())
def test_capacity_elsewhere_is_ready_before_traffic_leaves(regions: list[RegionState]) -> None:
    moves = transition(regions, now=NOW, grace=GRACE)
    for r in regions:
        if r.in_dns and r.reachable and not moves[r.name].serve_dns and not r.wanted:
            assert _capacity_ready(regions)


@given(states())
def test_a_dead_region_waits_for_nothing(regions: list[RegionState]) -> None:
    moves = transition(regions, now=NOW, grace=GRACE)
    for r in regions:
        if not r.reachable:
            assert not moves[r.name].serve_dns
        if not r.reachable and not r.wanted:
            assert moves[r.name].replicas == r.target
            assert moves[r.name].phase == "Drained"


@given(states())
def test_joining_regions_are_answered_only_when_ready_and_replicas_stay_in_bounds(
    regions: list[RegionState],
) -> None:
    moves = transition(regions, now=NOW, grace=GRACE)
    for r in regions:
        m = moves[r.name]
        assert min(r.target, r.applied) <= m.replicas <= max(r.target, r.applied)
        if r.wanted:
            assert m.replicas >= r.target  # gaining regions get theirs at once
        if m.serve_dns and not r.in_dns:
            assert r.wanted
            assert r.ready >= r.target
        if m.phase == "Draining" and m.until is not None:
            assert m.until > NOW


def _step(regions: list[RegionState], moves: dict[str, RegionMove], now: datetime) -> list[RegionState]:
    """The world after the controller acted on ``moves``: rollouts finish, DNS changes are confirmed."""
    out = []
    for r in regions:
        m = moves[r.name]
        left = r.in_dns and not m.serve_dns
        out.append(
            RegionState(
                r.name,
                target=r.target,
                wanted=r.wanted,
                applied=m.replicas,
                ready=m.replicas,
                reachable=r.reachable,
                in_dns=m.serve_dns,
                dns_out_at=now if left else (None if m.serve_dns else r.dns_out_at),
            )
        )
    return out


@given(states())
def test_every_sequence_ends_at_the_placement(regions: list[RegionState]) -> None:
    now = NOW
    for _ in range(8):
        moves = transition(regions, now=now, grace=GRACE)
        regions = _step(regions, moves, now)
        wait = next_look(moves, now)
        now += wait if wait is not None else timedelta(seconds=1)
    moves = transition(regions, now=now, grace=GRACE)
    # with no region to take over, a live leaving region keeps answering (never an empty name)
    takeover = any(r.wanted and r.reachable for r in regions)
    for r in regions:
        if r.reachable and (takeover or r.wanted):
            assert moves[r.name].replicas == r.target
        if r.wanted and r.reachable:
            assert moves[r.name].serve_dns
        if not r.wanted and takeover:
            assert not moves[r.name].serve_dns


def test_the_drain_timeline() -> None:
    """cn-hangzhou is drained: replicas up elsewhere, DNS moved once they are ready, grace, scale down."""
    hz = RegionState("cn-hangzhou", target=0, wanted=False, applied=4, ready=4, in_dns=True)
    bj = RegionState("cn-beijing", target=8, wanted=True, applied=4, ready=4, in_dns=True)
    m = transition([hz, bj], now=NOW, grace=GRACE)
    assert (m["cn-beijing"].replicas, m["cn-hangzhou"].replicas) == (8, 4)
    assert m["cn-hangzhou"].serve_dns  # Beijing is not ready yet
    bj = RegionState("cn-beijing", target=8, wanted=True, applied=8, ready=8, in_dns=True)
    m = transition([hz, bj], now=NOW, grace=GRACE)
    assert not m["cn-hangzhou"].serve_dns
    assert m["cn-hangzhou"].replicas == 4
    hz = RegionState("cn-hangzhou", target=0, wanted=False, applied=4, ready=4, dns_out_at=NOW)
    m = transition([hz, bj], now=NOW + timedelta(seconds=30), grace=GRACE)
    assert m["cn-hangzhou"].phase == "Draining"
    assert m["cn-hangzhou"].until == NOW + GRACE
    assert m["cn-hangzhou"].replicas == 4
    assert next_look(m, NOW + timedelta(seconds=30)) == timedelta(seconds=30)
    m = transition([hz, bj], now=NOW + GRACE, grace=GRACE)
    assert (m["cn-hangzhou"].phase, m["cn-hangzhou"].replicas) == ("Drained", 0)
    # without DNS to wait out, the region goes as soon as Beijing is ready
    hz = RegionState("cn-hangzhou", target=0, wanted=False, applied=4, ready=4, in_dns=True)
    assert transition([hz, bj], now=NOW, grace=GRACE, dns=False)["cn-hangzhou"].replicas == 0
