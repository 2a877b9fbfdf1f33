"""Plan/diff: ownership, minimal changes, and an order that never leaves a name without an answer."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.dns.lines import default_catalogue
from federation.dns.plan import (
    MANAGED_TYPES,
    answer,
    claimants,
    make_plan,
    owner_record,
    ownership,
    simulate,
)
from federation.dns.providers.embedded import EmbeddedProvider
from federation.dns.records import DEFAULT_LINE, Record

CAT = default_catalogue()
ZONE = "example.com"
OURS = ("www.example.com", "api.example.com")
LINES = (DEFAULT_LINE, "telecom", "internal", "os_asia", "cn_region_huadong")
VALUES = ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")
ME = "default/shop"


def foreign() -> list[Record]:
    """Someone else's records: a name without a marker, and a name with another app's marker."""
    return [
        Record("legacy.example.com", "A", DEFAULT_LINE, "192.0.2.1", 600),
        Record("blog.example.com", "A", DEFAULT_LINE, "192.0.2.2", 600),
        owner_record("blog.example.com", "default/blog"),
    ]


@st.composite
def record_sets(draw: st.DrawFn, name: str) -> list[Record]:
    """A valid answer set for one name: default always present, A values per line, maybe weighted."""
    lines = [DEFAULT_LINE, *draw(st.lists(st.sampled_from(LINES[1:]), unique=True))]
    ttl = draw(st.sampled_from([60, 300]))
    out = []
    for line in lines:
        values = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique=True))
        weighted = len(values) > 1 and draw(st.booleans())
        for v in values:
            out.append(Record(name, "A", line, v, ttl, draw(st.integers(1, 5)) if weighted else None))
    return out


@st.composite
def desired_sets(draw: st.DrawFn) -> list[Record]:
    names = draw(st.lists(st.sampled_from(OURS), min_size=1, unique=True))
    return [r for n in names for r in draw(record_sets(n))]


def published(records: list[Record]) -> list[Record]:
    """A state in which we published ``records`` earlier (markers included)."""
    names = sorted({r.name for r in records})
    return records + [owner_record(n, ME) for n in names]


def managed(state: frozenset[Record] | set[Record] | list[Record], name: str) -> set[Record]:
    return {r for r in state if r.name == name and r.rtype in MANAGED_TYPES}


@settings(max_examples=150, deadline=None)
@given(before=desired_sets(), after=desired_sets())
def test_applying_step_by_step_never_empties_a_name_and_never_touches_foreign(
    before: list[Record], after: list[Record]
) -> None:
    current = published(before) + foreign()
    plan = make_plan(ZONE, ME, after, current)
    assert not plan.conflicts
    untouched = set(foreign())
    wanted_names = {r.name for r in after}
    states = list(simulate(current, plan))
    for state in states:
        assert untouched <= state  # foreign records stay, at every step
        for name in wanted_names & {r.name for r in before}:
            for line in LINES:  # every client of a kept name gets an answer at every step
                assert answer(state, name, CAT.chain(line))[1], (name, line)
    final = states[-1] if states else frozenset(current)
    for name in OURS:
        assert managed(final, name) == {r for r in after if r.name == name}
    # markers: present exactly for the names we publish
    assert {n for n, o in ownership(final).items() if o == ME} == wanted_names


@settings(max_examples=100, deadline=None)
@given(records=desired_sets())
def test_a_plan_against_its_own_result_is_empty(records: list[Record]) -> None:
    current = published(records) + foreign()
    assert make_plan(ZONE, ME, records, current).empty
    # and from nothing, the result of one plan is steady
    plan = make_plan(ZONE, ME, records, foreign())
    final = list(simulate(foreign(), plan))[-1]
    assert make_plan(ZONE, ME, records, final).empty


@settings(max_examples=80, deadline=None)
@given(before=desired_sets(), after=desired_sets())
def test_plans_respect_the_provider_rules(before: list[Record], after: list[Record]) -> None:
    """The embedded provider enforces alidns's rules (no duplicates, no CNAME beside A)."""
    provider = EmbeddedProvider(zones=[ZONE])
    asyncio.run(provider.apply(make_plan(ZONE, ME, before, [])))
    current = asyncio.run(provider.records(ZONE))
    plan = make_plan(ZONE, ME, after, current)
    asyncio.run(provider.apply(plan))
    assert make_plan(ZONE, ME, after, asyncio.run(provider.records(ZONE))).empty


def test_names_without_our_marker_or_with_anothers_are_conflicts_and_left_alone() -> None:
    desired = [
        Record("legacy.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60),
        Record("blog.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60),
    ]
    plan = make_plan(ZONE, ME, desired, foreign())
    assert plan.empty
    assert sorted(plan.conflicts) == [
        "blog.example.com: owned by default/blog",
        "legacy.example.com: has records without an ownership marker (not ours)",
    ]


def test_a_name_claimed_by_two_apps_is_a_conflict_naming_both_and_is_left_to_the_survivor() -> None:
    """Two claims that raced left both markers: neither app touches the records, each is told who
    else claims the name, and the app that gives it up removes only its own marker."""
    both = [
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60),  # ours
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.9.9", 60),  # the other app's
        owner_record("www.example.com", ME),
        owner_record("www.example.com", "default/other"),
    ]
    want = [Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60)]
    message = (
        "www.example.com: claimed by both default/other and default/shop (their claims raced); its "
        "records are left as they are until one of the apps gives the name up"
    )
    for owner in (ME, "default/other"):
        plan = make_plan(ZONE, owner, want, both)
        assert plan.empty
        assert plan.conflicts == (message,)
    third = make_plan(ZONE, "default/third", want, both)
    assert third.empty
    assert third.conflicts == ("www.example.com: owned by default/other and default/shop",)
    assert claimants(both) == {"www.example.com": frozenset({ME, "default/other"})}

    release = make_plan(ZONE, ME, [], both)  # our app is deleted, or moved to another hostname
    assert [(c.action, c.record) for c in release.changes] == [
        ("delete", owner_record("www.example.com", ME))
    ]
    left = set(both) - {owner_record("www.example.com", ME)}
    survivor = make_plan(
        ZONE, "default/other", [Record("www.example.com", "A", DEFAULT_LINE, "10.0.9.9", 60)], left
    )
    assert not survivor.conflicts
    assert [(c.action, c.record.value) for c in survivor.changes] == [("delete", "10.0.0.1")]


def test_a_fresh_name_gets_its_marker_first_and_a_released_name_loses_it_last() -> None:
    recs = [Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60)]
    plan = make_plan(ZONE, ME, recs, [])
    assert [c.record.rtype for c in plan.changes] == ["TXT", "A"]
    release = make_plan(ZONE, ME, [], published(recs))
    assert [(c.action, c.record.rtype) for c in release.changes] == [("delete", "A"), ("delete", "TXT")]


def test_value_changes_are_updates_in_place_and_weight_only_changes_too() -> None:
    old = [
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60, 3),
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.2", 60, 1),
    ]
    new = [
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60, 1),
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.3", 60, 1),
    ]
    plan = make_plan(ZONE, ME, new, published(old))
    assert sorted((c.action, c.record.value, c.old.value if c.old else None) for c in plan.changes) == [
        ("update", "10.0.0.1", "10.0.0.1"),
        ("update", "10.0.0.3", "10.0.0.2"),
    ]
    creates_deletes = make_plan(ZONE, ME, new, published(old), update_in_place=False)
    actions = [c.action for c in creates_deletes.changes if c.record.value != "10.0.0.1"]
    assert actions == ["create", "delete"]


def test_type_switch_on_a_line_answers_from_the_parent_meanwhile() -> None:
    old = [
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60),
        Record("www.example.com", "A", "telecom", "10.0.0.2", 60),
    ]
    new = [
        Record("www.example.com", "A", DEFAULT_LINE, "10.0.0.1", 60),
        Record("www.example.com", "CNAME", "telecom", "lb.cn-hangzhou.example.net", 60),
    ]
    current = published(old)
    plan = make_plan(ZONE, ME, new, current)
    provider = EmbeddedProvider(zones=[ZONE])
    asyncio.run(provider.apply(make_plan(ZONE, ME, old, [])))
    asyncio.run(provider.apply(plan))  # the provider refuses CNAME beside A: the order must avoid it
    for state in simulate(current, plan):
        assert answer(state, "www.example.com", CAT.chain("cn_telecom_zhejiang"))[1]
    final = asyncio.run(provider.records(ZONE))
    assert answer(final, "www.example.com", CAT.chain("telecom")) == (
        "telecom",
        frozenset({"lb.cn-hangzhou.example.net"}),
    )
