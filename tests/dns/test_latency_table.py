"""The shipped latency table: complete, symmetric, faithful to the published figures it cites, the
model calibrated on them, and reproducible from its inputs."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.dns.data import make_latency as ml
from federation.dns.latency import LATENCY_FILE, LatencyMatrix
from federation.dns.lines import default_catalogue

DOC = json.loads(LATENCY_FILE.read_text())
REGIONS = list(DOC["regions"])
PAIRS = [(a, b) for i, a in enumerate(REGIONS) for b in REGIONS[i + 1 :]]


def figures_by_pair() -> dict[tuple[str, str], dict[str, list[float]]]:
    """Read the published CSV independently of the generator: pair -> source -> figures."""
    city = {info["city"]: r for r, info in DOC["regions"].items()}
    out: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with ml.PUBLISHED_FILE.open(newline="") as fh:
        for row in csv.DictReader(fh):
            a, b = sorted((city[row["city_a"]], city[row["city_b"]]))
            out[(a, b)][row["source_id"]].append(float(row["rtt_ms"]))
    return out


def test_table_is_complete_symmetric_and_positive_for_every_region() -> None:
    assert len(REGIONS) == 29
    assert set(REGIONS) == set(ml.REGIONS)
    rtt, prov = DOC["rtt_ms"], DOC["provenance"]
    for a in REGIONS:
        assert set(rtt[a]) == set(REGIONS)
        assert set(prov[a]) == set(REGIONS)
        for b in REGIONS:
            assert rtt[a][b] == rtt[b][a], (a, b)
            assert prov[a][b] == prov[b][a], (a, b)
            assert rtt[a][b] > 0
            if a != b:
                assert rtt[a][b] > rtt[a][a]  # another region is never nearer than the region itself


def test_every_published_pair_carries_its_figure_and_no_figure_is_ignored() -> None:
    published = figures_by_pair()
    order = list(ml.PRECEDENCE)
    marked = {ml.pair(a, b) for a, b in PAIRS if DOC["provenance"][a][b] != ml.MODEL}
    assert marked == set(published)  # every measured pair is used, nothing else claims to be measured
    for (a, b), per_source in published.items():
        source = min(per_source, key=order.index)
        assert DOC["provenance"][a][b] == source
        # the table holds the mean over the directions the source measured, at the table's 0.1 ms
        assert DOC["rtt_ms"][a][b] == round(statistics.fmean(per_source[source]), 1), (a, b)


def test_every_provenance_names_a_described_source() -> None:
    sources = DOC["sources"]
    used = {DOC["provenance"][a][b] for a in REGIONS for b in REGIONS}
    assert used <= set(sources)
    assert ml.MODEL in used
    for sid in used - {ml.MODEL}:
        assert sources[sid]["url"].startswith("https://"), sid
        for key in ("period", "measured", "publisher", "retrieved_via"):
            assert sources[sid][key], (sid, key)


def test_two_independent_publishers_agree_where_both_measured_the_same_cities() -> None:
    # The proxy assumption: RTT between two metros depends on the metros, not on whose data centres
    # sit there. Where IBM and AWS figures cover the same city pair, they agree closely.
    both = {k: v for k, v in figures_by_pair().items() if len(v) > 1}
    assert len(both) >= 8
    for (a, b), per_source in both.items():
        means = [statistics.fmean(v) for v in per_source.values()]
        assert max(means) - min(means) <= max(10.0, 0.15 * max(means)), (a, b, per_source)


def test_modelled_pairs_follow_the_fitted_model_recorded_in_the_file() -> None:
    m = DOC["model"]
    model = ml.Model(m["stretch"], m["overhead_ms"], m["cross_border_ms"], m["cross_border_fitted"])
    modelled = [(a, b) for a, b in PAIRS if DOC["provenance"][a][b] == ml.MODEL]
    assert len(modelled) + m["fitted_on_pairs"] == len(PAIRS)
    for a, b in modelled:
        assert DOC["rtt_ms"][a][b] == pytest.approx(model.rtt(a, b), abs=0.06), (a, b)


def published_values() -> dict[tuple[str, str], float]:
    return {k: v for k, (v, _s) in ml.published_pairs(ml.load_figures()).items()}


def test_calibration_beats_the_old_fixed_parameters_and_orders_most_published_pairs() -> None:
    published = published_values()
    fitted = ml.fit(published)

    def median_rel(model: ml.Model) -> float:
        return statistics.median(abs(model.rtt(a, b) - v) / v for (a, b), v in published.items())

    uncalibrated = ml.Model(1.5, 2.0, 30.0, False)  # the table's former hand-picked parameters
    assert median_rel(fitted) < median_rel(uncalibrated)
    assert median_rel(fitted) < 0.2
    # distance alone orders most pairs of published pairs as the measurements do
    modelled = {k: fitted.rtt(*k) for k in published}
    assert ml.concordance(published, modelled) > 0.85


def test_the_fit_is_a_least_squares_minimum_on_the_published_pairs() -> None:
    published = published_values()
    best = ml.fit(published)

    def loss(stretch: float, overhead: float) -> float:
        m = ml.Model(stretch, overhead, best.cross_border_ms, False)
        return sum(((m.rtt(a, b) - v) / v) ** 2 for (a, b), v in published.items())

    at_best = loss(best.stretch, best.overhead_ms)
    for ds, do in ((0.02, 0), (-0.02, 0), (0, 1.0), (0, -1.0), (0.02, -1.0), (-0.02, 1.0)):
        assert loss(best.stretch + ds, best.overhead_ms + do) > at_best


@settings(max_examples=60, deadline=None)
@given(
    stretch=st.floats(1.0, 3.0),
    overhead=st.floats(0.0, 40.0),
    penalty=st.floats(0.0, 80.0),
    picks=st.sets(st.sampled_from(PAIRS), min_size=6, max_size=40),
)
def test_fit_recovers_the_parameters_of_exact_synthetic_figures(
    stretch: float, overhead: float, penalty: float, picks: set[tuple[str, str]]
) -> None:
    truth = ml.Model(stretch, overhead, penalty, True)
    data = {p: truth.rtt(*p) for p in picks}
    same = {ml.fibre_rtt_ms(a, b) for a, b in picks if ml.REGIONS[a][3] == ml.REGIONS[b][3]}
    if len(same) < 2:
        with pytest.raises(ml.PublishedDataError):
            ml.fit(data)
        return
    got = ml.fit(data)
    assert got.stretch == pytest.approx(stretch, rel=1e-6)
    assert got.overhead_ms == pytest.approx(overhead, abs=1e-5)
    crosses = any(ml.REGIONS[a][3] != ml.REGIONS[b][3] for a, b in picks)
    assert got.cross_border_fitted is crosses
    assert got.cross_border_ms == pytest.approx(penalty if crosses else ml.CROSS_BORDER_MS, abs=1e-5)


def test_regenerating_reproduces_the_committed_file() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "federation.dns.data.make_latency", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout
    assert "RMSE" in out.stdout  # the fit and its residuals are reported


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("Atlantis,Tokyo,50,cloudping-aws-p50-1y,x,y", "city_a"),
        ("Tokyo,Tokyo,50,cloudping-aws-p50-1y,x,y", "city_b"),
        ("Tokyo,Seoul,fast,cloudping-aws-p50-1y,x,y", "rtt_ms"),
        ("Tokyo,Seoul,-3,cloudping-aws-p50-1y,x,y", "rtt_ms"),
        ("Tokyo,Seoul,30,somebody,x,y", "source_id"),
    ],
)
def test_a_bad_published_row_is_refused_naming_line_and_field(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "rtt.csv"
    path.write_text(
        "city_a,city_b,rtt_ms,source_id,measured_from,measured_to\n"
        "Tokyo,Seoul,36.3,cloudping-aws-p50-1y,x,y\n" + row + "\n"
    )
    with pytest.raises(ml.PublishedDataError, match=f"rtt.csv:3: {field}"):
        ml.load_figures(path)


def test_lookup_tells_a_published_figure_from_a_modelled_one_and_from_config() -> None:
    cat = default_catalogue()
    jp = next(line.code for line in cat if line.vantage == "ap-northeast-1")
    matrix = LatencyMatrix(cat)
    assert matrix.lookup(jp, "eu-central-1") == (DOC["rtt_ms"]["ap-northeast-1"]["eu-central-1"], "published")
    assert matrix.lookup(jp, "cn-beijing") == (DOC["rtt_ms"]["ap-northeast-1"]["cn-beijing"], "model")
    configured = LatencyMatrix(cat, configured_regions={"cn-beijing": {"ap-northeast-1": 40.0}})
    assert configured.lookup(jp, "cn-beijing") == (40.0, "config")
    assert configured.with_samples({(jp, "cn-beijing"): 33.0}).lookup(jp, "cn-beijing") == (33.0, "sample")
    assert configured.with_samples({}).lookup(jp, "eu-central-1")[1] == "published"
