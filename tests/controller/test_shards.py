"""The shard assignment (pure): every shard to one live replica, balanced, holdings kept when they can
be, and replicas that follow their own plans round after round converge without ever sharing a shard."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.controller.shards import assign, plan, shard_of

NAMES = st.sampled_from([f"r{i}" for i in range(8)])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[int, set[str], dict[int, str]]:
    """(shards, live replicas, current holders: some live, some dead, some shards free)."""
    n = draw(st.integers(1, 64))
    live = draw(st.sets(NAMES, min_size=1, max_size=8))
    holders = draw(st.dictionaries(st.integers(0, n - 1), NAMES, max_size=n))
    return n, live, holders


@given(worlds())
def test_every_shard_goes_to_one_live_replica_and_nobody_holds_more_than_a_fair_share_plus_one(
    world: tuple[int, set[str], dict[int, str]],
) -> None:
    n, live, holders = world
    out = assign(n, live, holders)
    assert sorted(out) == list(range(n))  # no shard lost
    assert set(out.values()) <= live
    counts = [sum(1 for r in out.values() if r == x) for x in live]
    fair = n // len(live)
    assert max(counts) <= fair + 1
    assert min(counts) >= fair
    assert max(counts) - min(counts) <= 1


@given(worlds())
def test_a_live_replica_keeps_its_shards_up_to_its_share(world: tuple[int, set[str], dict[int, str]]) -> None:
    n, live, holders = world
    out = assign(n, live, holders)
    fair = n // len(live)
    for r in live:
        held = [s for s, h in holders.items() if h == r]
        kept = [s for s in held if out[s] == r]
        assert len(kept) >= min(len(held), fair)


@given(worlds())
def test_stable_when_nothing_changes(world: tuple[int, set[str], dict[int, str]]) -> None:
    n, live, holders = world
    balanced = assign(n, live, holders)
    assert assign(n, live, balanced) == balanced
    for me in live:
        p = plan(me, n, live, balanced)
        assert p.acquire == frozenset()
        assert p.release == frozenset()


@settings(max_examples=60)
@given(worlds(), st.lists(st.sets(NAMES, min_size=1, max_size=8), min_size=1, max_size=4))
def test_replicas_following_their_plans_converge_and_never_share_a_shard(
    world: tuple[int, set[str], dict[int, str]], memberships: list[set[str]]
) -> None:
    """Replicas join and die; each round every live replica releases, then acquires what its plan says
    (from the same view of the Leases). A dead replica's shards are free once its Lease expires."""
    n, _, holders = world
    for live in memberships:
        holders = {s: r for s, r in holders.items() if r in live}  # the dead's Leases expired
        for _round in range(3):
            plans = {me: plan(me, n, live, holders) for me in sorted(live)}
            for me, p in plans.items():
                for s in p.release:
                    assert holders[s] == me
                    del holders[s]
            for me, p in plans.items():
                for s in p.acquire:
                    assert s not in holders, f"{me} and {holders.get(s)} both take shard {s}"
                    holders[s] = me
        assert sorted(holders) == list(range(n))  # every shard held again
        counts = [sum(1 for r in holders.values() if r == x) for x in live]
        assert max(counts) - min(counts) <= 1


def test_a_new_replica_gets_its_share_by_the_others_releasing_their_surplus() -> None:
    holders = dict.fromkeys(range(16), "a")
    p = plan("a", 16, {"a", "b"}, holders)
    assert len(p.release) == 8
    assert p.acquire == frozenset()
    assert plan("b", 16, {"a", "b"}, holders).acquire == frozenset()  # nothing free yet: it waits
    rest = {s: r for s, r in holders.items() if s not in p.release}
    assert plan("b", 16, {"a", "b"}, rest).acquire == p.release


@given(st.text(min_size=1, max_size=40), st.integers(1, 256))
def test_shard_of_is_stable_and_in_range(uid: str, n: int) -> None:
    s = shard_of(uid, n)
    assert 0 <= s < n
    assert shard_of(uid, n) == s


def test_shard_of_spreads_uids() -> None:
    counts = [0] * 16
    for i in range(1600):
        counts[shard_of(f"0b5c7e1a-{i:04d}-4f0e-9d6a-1c2b3d4e5f60", 16)] += 1
    assert min(counts) > 50
    assert max(counts) < 150
