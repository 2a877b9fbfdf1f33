"""The reachability verdicts: each CEN state named, and properties over arbitrary fleets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.network.reachability import (
    ATTACHING,
    CEN_NOT_FOUND,
    DIFFERENT_CEN,
    NO_BANDWIDTH,
    NOT_ATTACHED,
    NOT_CONFIGURED,
    READY,
    CenView,
    MemberNetwork,
    app_problems,
    limits_from_api,
    matrix,
    member_verdicts,
    pair,
    pairs_in_use,
)

HZ = MemberNetwork("hz", "cn-hangzhou", "cen-a", "vpc-hz")
BJ = MemberNetwork("bj", "cn-beijing", "cen-a", "vpc-bj")
FRA = MemberNetwork("fra", "eu-central-1", "cen-a", "vpc-fra")
ALL_PAIRS = pairs_in_use([["cn-hangzhou", "cn-beijing", "eu-central-1"]])


def cen(children: dict[str, str], limits: dict[frozenset[str], int] | None = None) -> dict[str, CenView]:
    return {"cen-a": CenView("cen-a", children=children, limits=limits or {})}


def test_each_state_has_its_reason() -> None:
    attached = {"vpc-hz": "Attached", "vpc-bj": "Attached", "vpc-fra": "Attached"}
    limits = {pair("cn-hangzhou", "cn-beijing"): 10, pair("cn-hangzhou", "eu-central-1"): 5}
    v = member_verdicts([HZ, BJ, FRA], cen(attached, limits), ALL_PAIRS)
    # beijing <-> frankfurt has no bandwidth: both ends say so, naming the pair; hangzhou is fine
    assert v["hz"].reason == READY
    assert v["fra"].ready is False
    assert "cn-beijing<->eu-central-1" in v["fra"].message
    assert v["bj"].reason == NO_BANDWIDTH
    limits[pair("cn-beijing", "eu-central-1")] = 2
    v = member_verdicts([HZ, BJ, FRA], cen(attached, limits), ALL_PAIRS)
    assert {name: x.reason for name, x in v.items()} == {"hz": READY, "bj": READY, "fra": READY}
    assert all(x.ready for x in v.values())

    v = member_verdicts([HZ, BJ], cen({"vpc-hz": "Attaching", "vpc-bj": "Attached"}, limits), ALL_PAIRS)
    assert (v["hz"].ready, v["hz"].reason) == (None, ATTACHING)  # progress, not a failure
    v = member_verdicts([HZ, BJ], cen({"vpc-bj": "Attached"}, limits), ALL_PAIRS)
    assert (v["hz"].ready, v["hz"].reason) == (False, NOT_ATTACHED)
    assert "fedctl network attach hz" in v["hz"].message
    v = member_verdicts([HZ], {"cen-a": CenView("cen-a", exists=False)}, ALL_PAIRS)
    assert (v["hz"].ready, v["hz"].reason) == (False, CEN_NOT_FOUND)
    v = member_verdicts([MemberNetwork("x", "cn-hangzhou")], {}, ALL_PAIRS)
    assert (v["x"].ready, v["x"].reason) == (None, NOT_CONFIGURED)


def test_members_on_two_cens_cannot_reach_each_other() -> None:
    other = MemberNetwork("bj", "cn-beijing", "cen-b", "vpc-bj")
    cens = {
        "cen-a": CenView("cen-a", children={"vpc-hz": "Attached"}),
        "cen-b": CenView("cen-b", children={"vpc-bj": "Attached"}),
    }
    rows = matrix([HZ, other], cens, ALL_PAIRS)
    assert [(r.ok, r.reason) for r in rows] == [(False, DIFFERENT_CEN)]
    assert app_problems(["cn-hangzhou", "cn-beijing"], rows) == rows
    assert app_problems(["cn-hangzhou"], rows) == []  # an app in one region needs no pair


def test_bandwidth_rows_count_either_direction() -> None:
    rows = [
        {"LocalRegionId": "cn-beijing", "OppositeRegionId": "cn-hangzhou", "BandwidthLimit": 10},
        {"LocalRegionId": "cn-hangzhou", "OppositeRegionId": "cn-beijing", "BandwidthLimit": 0},
    ]
    assert limits_from_api(rows) == {pair("cn-hangzhou", "cn-beijing"): 10}


REGIONS = ["cn-hangzhou", "cn-beijing", "eu-central-1", "ap-southeast-1"]
STATUS = st.sampled_from([None, "Attaching", "Attached", "Detaching"])


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[MemberNetwork], dict[str, CenView], set[frozenset[str]]]:
    members = []
    children: dict[str, dict[str, str]] = {"cen-a": {}, "cen-b": {}}
    for i, region in enumerate(REGIONS):
        cen_id = draw(st.sampled_from(["cen-a", "cen-b", None]))
        members.append(MemberNetwork(f"m{i}", region, cen_id, f"vpc-{i}" if cen_id else None))
        status = draw(STATUS)
        if cen_id and status:
            children[cen_id][f"vpc-{i}"] = status
    limits = {
        pair(a, b): draw(st.sampled_from([0, 0, 5])) for i, a in enumerate(REGIONS) for b in REGIONS[i + 1 :]
    }
    exists = draw(st.booleans())
    cens = {
        "cen-a": CenView("cen-a", exists=exists, children=children["cen-a"], limits=limits),
        "cen-b": CenView("cen-b", children=children["cen-b"], limits=limits),
    }
    apps = draw(st.lists(st.lists(st.sampled_from(REGIONS), max_size=3), max_size=4))
    return members, cens, pairs_in_use(apps)


@settings(max_examples=200, deadline=None)
@given(fleets())
def test_a_pair_is_ok_exactly_when_traffic_can_flow(
    fleet: tuple[list[MemberNetwork], dict[str, CenView], set[frozenset[str]]],
) -> None:
    members, cens, in_use = fleet
    by_name = {m.region: m for m in members}
    for row in matrix(members, cens, in_use):
        a, b = by_name[row.region_a], by_name[row.region_b]
        if not (a.configured and b.configured):
            assert row.ok is None
            continue
        attached = [
            cens[m.cen_id or ""].exists and cens[m.cen_id or ""].children.get(m.vpc_id or "") for m in (a, b)
        ]
        flows = (
            a.cen_id == b.cen_id
            and all(s == "Attached" for s in attached)
            and cens[a.cen_id or ""].limit(a.region, b.region) > 0
        )
        assert (row.ok is True) == flows, row
        if row.ok is False:
            assert row.reason in (CEN_NOT_FOUND, NOT_ATTACHED, DIFFERENT_CEN, NO_BANDWIDTH)


@settings(max_examples=100, deadline=None)
@given(fleets(), st.randoms())
def test_verdicts_do_not_depend_on_member_order(
    fleet: tuple[list[MemberNetwork], dict[str, CenView], set[frozenset[str]]], rnd: object
) -> None:
    members, cens, in_use = fleet
    shuffled = list(members)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert member_verdicts(members, cens, in_use) == member_verdicts(shuffled, cens, in_use)
    for m, v in member_verdicts(members, cens, in_use).items():
        if v.ready is True:
            member = next(x for x in members if x.name == m)
            # a ready member is attached and no pair it is in is broken
            assert cens[member.cen_id or ""].children.get(member.vpc_id or "") == "Attached"
