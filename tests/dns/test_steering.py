"""Steering policies: the answers per line, the default line, fail-open, failover order, weights."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.dns.latency import LatencyMatrix
from federation.dns.lines import LineCatalogue, default_catalogue
from federation.dns.plan import answer
from federation.dns.records import DEFAULT_LINE
from federation.dns.steering import DesiredRecords, RegionEndpoint, desired_records, dns_weights
from tests.dns.conftest import spec

CAT = default_catalogue()
MATRIX = LatencyMatrix(CAT)
REGIONS = ["cn-hangzhou", "cn-beijing", "cn-shenzhen", "ap-southeast-1", "us-west-1", "eu-central-1"]


def ep(region: str, healthy: bool = True, weight: int = 1, n: int = 0) -> RegionEndpoint:
    return RegionEndpoint(region, f"10.0.{REGIONS.index(region)}.{n + 1}", healthy, weight)


def served(d: DesiredRecords, line: str) -> set[str]:
    _line, values = answer(d.records, "www.example.com", CAT.chain(line))
    by_addr = {f"10.0.{i}.1": r for i, r in enumerate(REGIONS)}
    return {by_addr[v] for v in values}


def test_latency_sends_each_line_to_its_nearest_healthy_region() -> None:
    regions = [ep("cn-hangzhou"), ep("cn-beijing"), ep("us-west-1"), ep("eu-central-1")]
    d = desired_records(spec("Latency", latencyToleranceMs=5), regions, MATRIX, CAT)
    assert served(d, "cn_region_huadong") == {"cn-hangzhou"}
    assert served(d, "cn_region_huabei") == {"cn-beijing"}
    assert served(d, "os_namerica") == {"us-west-1"}
    assert served(d, "os_euro_de") == {"eu-central-1"}
    # default answers every healthy region
    assert served(d, DEFAULT_LINE) == {"cn-hangzhou", "cn-beijing", "us-west-1", "eu-central-1"}
    assert not d.fail_open
    assert all(d.serving.values())


def test_latency_tolerance_band_adds_close_regions_with_weights() -> None:
    regions = [ep("cn-hangzhou", weight=3), ep("cn-beijing", weight=1), ep("us-west-1")]
    d = desired_records(spec("Latency", latencyToleranceMs=40), regions, MATRIX, CAT)
    assert served(d, "cn_region_huadong") == {"cn-hangzhou", "cn-beijing"}
    line, _values = answer(d.records, "www.example.com", CAT.chain("cn_region_huadong"))
    weights = {r.value: r.weight for r in d.records if r.line == line}
    assert weights == {"10.0.0.1": 3, "10.0.1.1": 1}


def test_unhealthy_region_leaves_every_line_and_its_clients_move() -> None:
    regions = [ep("cn-hangzhou", healthy=False), ep("cn-beijing"), ep("us-west-1")]
    d = desired_records(spec(), regions, MATRIX, CAT)
    assert all(r.value != "10.0.0.1" for r in d.records)
    assert served(d, "cn_region_huadong") == {"cn-beijing"}
    assert d.serving["cn-hangzhou"] is False
    assert d.reasons["cn-hangzhou"].startswith("unhealthy")


def test_live_samples_beat_the_default_table() -> None:
    regions = [ep("cn-hangzhou"), ep("cn-beijing")]
    samples = {("cn_region_huadong", "cn-beijing"): 2.0, ("cn_region_huadong", "cn-hangzhou"): 80.0}
    d = desired_records(spec("Latency", latencyToleranceMs=5), regions, MATRIX.with_samples(samples), CAT)
    assert served(d, "cn_region_huadong") == {"cn-beijing"}


def test_geo_map_with_parent_fallback() -> None:
    lines = [
        {"line": "os_asia", "regions": ["ap-southeast-1"]},
        {"line": "internal", "regions": ["cn-beijing"]},
    ]
    regions = [ep("cn-beijing"), ep("ap-southeast-1"), ep("us-west-1")]
    d = desired_records(spec("Geo", lines=lines), regions, MATRIX, CAT)
    assert served(d, "os_asia_jp") == {"ap-southeast-1"}  # country falls back to its continent
    assert served(d, "cn_telecom_zhejiang") == {"cn-beijing"}  # carrier falls back to mainland
    assert served(d, "os_euro") == {"cn-beijing", "ap-southeast-1", "us-west-1"}  # default
    # the mapped region fails: its lines fall back along their parents to default
    regions[1] = ep("ap-southeast-1", healthy=False)
    d = desired_records(spec("Geo", lines=lines), regions, MATRIX, CAT)
    assert served(d, "os_asia_jp") == {"cn-beijing", "us-west-1"}


def test_weighted_publishes_default_only_by_replica_weight() -> None:
    regions = [ep("cn-hangzhou", weight=6), ep("cn-beijing", weight=3), ep("us-west-1", weight=0)]
    d = desired_records(spec("Weighted"), regions, MATRIX, CAT)
    assert {r.line for r in d.records} == {DEFAULT_LINE}
    assert {r.value: r.weight for r in d.records} == {"10.0.0.1": 6, "10.0.1.1": 3}
    assert d.reasons["us-west-1"] == "no-replicas"


@settings(max_examples=200, deadline=None)
@given(health=st.lists(st.booleans(), min_size=3, max_size=6), order=st.permutations(REGIONS))
def test_failover_answers_the_first_healthy_region_of_any_length_order(
    health: list[bool], order: list[str]
) -> None:
    regions = [ep(r, healthy=h) for r, h in zip(REGIONS, health, strict=False)]
    names = [e.region for e in regions]
    order = [r for r in order if r in names]
    d = desired_records(spec("Failover", failoverOrder=order), regions, MATRIX, CAT)
    healthy = [r for r in order if dict(zip(names, health, strict=False))[r]]
    expected = {healthy[0]} if healthy else set(names)
    for line in ("default", "telecom", "os_euro_de", "cn_region_huanan"):
        assert served(d, line) == expected
    assert d.fail_open is (not healthy)


@settings(max_examples=300, deadline=None)
@given(
    policy=st.sampled_from(["Latency", "Geo", "Weighted", "Failover"]),
    health=st.lists(st.booleans(), min_size=1, max_size=6),
    weights=st.lists(st.integers(0, 300), min_size=6, max_size=6),
    tolerance=st.integers(0, 200),
)
def test_default_line_always_answers_and_fail_open_when_none_healthy(
    policy: str, health: list[bool], weights: list[int], tolerance: int
) -> None:
    regions = [ep(r, healthy=h, weight=w) for r, h, w in zip(REGIONS, health, weights, strict=False)]
    lines = [{"line": "os_asia", "regions": [regions[0].region]}]
    d = desired_records(spec(policy, latencyToleranceMs=tolerance, lines=lines), regions, MATRIX, CAT)
    assert any(r.line == DEFAULT_LINE for r in d.records)
    eligible = [e for e in regions if e.healthy and e.weight > 0]
    assert d.fail_open is (not eligible)
    served_regions = {r for r, s in d.serving.items() if s}
    if eligible:
        assert served_regions <= {e.region for e in eligible}  # never an unhealthy region
    else:
        assert served_regions == {e.region for e in regions}  # fail open to all
    for line in CAT.codes:  # every client line gets an answer
        assert answer(d.records, "www.example.com", CAT.chain(line))[1]
    for r in d.records:
        assert r.weight is None or 1 <= r.weight <= 100


def test_lines_with_the_same_answer_as_their_parent_are_not_published(catalogue: LineCatalogue) -> None:
    d = desired_records(spec("Latency"), [ep("cn-hangzhou")], MATRIX, catalogue)
    assert [r.line for r in d.records] == [DEFAULT_LINE]


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=10))
def test_dns_weights_keep_order_and_range(ws: list[int]) -> None:
    out = dns_weights(ws)
    if len(set(ws)) == 1:
        assert out == [None] * len(ws)
    else:
        assert all(w is not None and 1 <= w <= 100 for w in out)
        for a, b in zip(ws, out, strict=True):
            for c, d in zip(ws, out, strict=True):
                if a > c:
                    assert b >= d  # type: ignore[operator]


def test_per_line_overrides_pin_a_line_under_latency_and_unknown_lines_are_reported() -> None:
    regions = [ep("cn-hangzhou"), ep("us-west-1")]
    lines = [
        {"line": "os_namerica", "regions": ["cn-hangzhou"]},
        {"line": "os_mars", "regions": ["us-west-1"]},
    ]
    d = desired_records(spec("Latency", lines=lines), regions, MATRIX, CAT)
    assert served(d, "os_namerica_us") == {"cn-hangzhou"}  # pinned, though us-west-1 is nearer
    assert d.unknown_lines == ("os_mars",)
