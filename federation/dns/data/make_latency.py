"""Builds ``latency.json``: the shipped default round-trip times between Alibaba Cloud regions.

The table is a default only: the user's configuration overrides any pair, and live samples (persisted
by the health sweeps) override both. Each pair's number comes from one of two places, recorded per
pair in ``provenance``:

1. a published measurement (``published-rtt.csv``, one row per measured direction, with its source id;
   the sources are described in ``SOURCES`` below). Alibaba Cloud publishes its own inter-region
   latencies only inside its console (Network Intelligence Service, "cloud network performance"), so
   the figures are measurements between *other clouds'* data centres in the same two cities: an
   acceptable proxy, since inter-region RTT is dominated by the distance and the cable routes between
   the two metros, not by whose racks sit at either end. Each Alibaba region is mapped to its city in
   ``REGIONS``; a measured location stands for that city when it is in the same metro area (AWS
   us-west-1 "N. California" for Silicon Valley, IBM "Washington DC" and AWS us-east-1 for Virginia;
   AWS me-central-1 "UAE" for Dubai is the loosest of these). When several sources measured a pair,
   the first source in ``PRECEDENCE`` wins, and its figures for both directions are averaged.
   No published, citable measurement between mainland China regions (or across the mainland border)
   was found, so every pair with a mainland end is modelled.
2. a model, calibrated on the published pairs: light in fibre covers ~200 km per ms (ITU-T G.114's
   5 us/km planning figure), so a round trip over the great circle between the two cities takes
   ``2 * km / 200`` ms; real routes follow cables and landings, so RTT = stretch x that + a fixed
   overhead, with stretch and overhead fitted by least squares on the relative error over the
   published pairs. Traffic across the mainland China border passes a few international gateways;
   the penalty for it is fitted the same way when published pairs cross the border, and otherwise
   stays at ``CROSS_BORDER_MS`` (public measurements put it at tens of ms).

Run ``python -m federation.dns.data.make_latency`` to rewrite the table (it prints the fit and its
residuals); ``--check`` only compares the result with the committed file.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PUBLISHED_FILE = HERE / "published-rtt.csv"
LATENCY_FILE = HERE / "latency.json"

# region -> (city, latitude, longitude, mainland China?); cities as Alibaba Cloud's "Regions and
# zones" documentation names them
REGIONS: dict[str, tuple[str, float, float, bool]] = {
    "cn-qingdao": ("Qingdao", 36.07, 120.38, True),
    "cn-beijing": ("Beijing", 39.90, 116.40, True),
    "cn-zhangjiakou": ("Zhangjiakou", 40.77, 114.88, True),
    "cn-huhehaote": ("Hohhot", 40.84, 111.75, True),
    "cn-wulanchabu": ("Ulanqab", 41.00, 113.10, True),
    "cn-hangzhou": ("Hangzhou", 30.27, 120.15, True),
    "cn-shanghai": ("Shanghai", 31.23, 121.47, True),
    "cn-nanjing": ("Nanjing", 32.06, 118.80, True),
    "cn-fuzhou": ("Fuzhou", 26.07, 119.30, True),
    "cn-shenzhen": ("Shenzhen", 22.54, 114.06, True),
    "cn-heyuan": ("Heyuan", 23.74, 114.70, True),
    "cn-guangzhou": ("Guangzhou", 23.13, 113.26, True),
    "cn-chengdu": ("Chengdu", 30.57, 104.07, True),
    "cn-hongkong": ("Hong Kong", 22.32, 114.17, False),
    "ap-northeast-1": ("Tokyo", 35.68, 139.69, False),
    "ap-northeast-2": ("Seoul", 37.57, 126.98, False),
    "ap-southeast-1": ("Singapore", 1.35, 103.82, False),
    "ap-southeast-2": ("Sydney", -33.87, 151.21, False),
    "ap-southeast-3": ("Kuala Lumpur", 3.14, 101.69, False),
    "ap-southeast-5": ("Jakarta", -6.20, 106.85, False),
    "ap-southeast-6": ("Manila", 14.60, 120.98, False),
    "ap-southeast-7": ("Bangkok", 13.76, 100.50, False),
    "ap-south-1": ("Mumbai", 19.08, 72.88, False),
    "us-west-1": ("Silicon Valley", 37.39, -122.08, False),
    "us-east-1": ("Virginia", 38.90, -77.43, False),
    "eu-central-1": ("Frankfurt", 50.11, 8.68, False),
    "eu-west-1": ("London", 51.51, -0.13, False),
    "me-east-1": ("Dubai", 25.20, 55.27, False),
    "me-central-1": ("Riyadh", 24.71, 46.68, False),
}

MODEL = "model"
SOURCES: dict[str, dict[str, str]] = {
    "cloudping-aws-p50-1y": {
        "publisher": "CloudPing (cloudping.co, by Matt Adorjan)",
        "title": "AWS Region Latency Matrix, p50 over the last year",
        "url": "https://www.cloudping.co/api/latencies?percentile=p_50&timeframe=1Y",
        "retrieved_via": "snapshot embedded in github.com/commonwarexyz/monorepo "
        "examples/estimator/src/p50.json, commit 4622dfb1b602c30c5371c27f981384274d987d0f",
        "period": "the year before the snapshot; the snapshot lists ap-east-2 (Taipei, opened 2025-06), "
        "so it covers mid-2024 to at least mid-2025; the file records no fetch date",
        "measured": "median TCP connect round trip from a Lambda function in each AWS region to the "
        "public DynamoDB endpoint of every other region, every 6 hours",
        "terms": "figures cited as facts with attribution; no licence is stated for the data",
    },
    "ibm-vpc-2026-01-18": {
        "publisher": "IBM Cloud",
        "title": "VPC network latency dashboard, inter-region latency (table '20 Dec 2025-18 Jan 2026')",
        "url": "https://cloud.ibm.com/docs/vpc?topic=vpc-network-latency-dashboard",
        "retrieved_via": "github.com/ibm-cloud-docs/vpc _include-segments/network-latency.md, "
        "commit be2d5d2e3ea9d9e1a2fa358c91aa78a7dc5a5b59",
        "period": "2025-12-20 to 2026-01-18",
        "measured": "average round-trip latency between IBM Cloud VPC multi-zone regions",
        "terms": "IBM Cloud documentation (Apache-2.0 repository); figures cited with attribution",
    },
    MODEL: {
        "publisher": "this project",
        "title": "great-circle fibre model calibrated on the published pairs",
        "url": "",
        "period": "",
        "measured": "not measured: stretch x 2 x great-circle km / 200 km/ms + overhead "
        "(+ cross-border penalty); fitted parameters under 'model'",
        "terms": "",
    },
}
# which source wins when several measured the same pair: the one covering more pairs with a single method
PRECEDENCE: tuple[str, ...] = ("cloudping-aws-p50-1y", "ibm-vpc-2026-01-18")

FIBRE_KM_PER_MS = 200.0
CROSS_BORDER_MS = 30.0  # used while no published pair crosses the mainland border
SAME_REGION_MS = 1.0


class PublishedDataError(ValueError):
    """A row of the published figures that cannot be used; the message names file, line and field."""


@dataclass(frozen=True)
class Figure:
    city_a: str
    city_b: str
    rtt_ms: float
    source_id: str
    measured_from: str
    measured_to: str


@dataclass(frozen=True)
class Model:
    stretch: float
    overhead_ms: float
    cross_border_ms: float
    cross_border_fitted: bool

    def rtt(self, a: str, b: str) -> float:
        if a == b:
            return SAME_REGION_MS
        rtt = self.stretch * fibre_rtt_ms(a, b) + self.overhead_ms
        if REGIONS[a][3] != REGIONS[b][3]:
            rtt += self.cross_border_ms
        return rtt


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def fibre_rtt_ms(a: str, b: str) -> float:
    """Round trip over the great circle between two regions' cities at fibre speed, no stretch."""
    ca, cb = REGIONS[a], REGIONS[b]
    return 2 * great_circle_km((ca[1], ca[2]), (cb[1], cb[2])) / FIBRE_KM_PER_MS


def region_of_city() -> dict[str, str]:
    return {c[0]: r for r, c in REGIONS.items()}


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def load_figures(path: Path = PUBLISHED_FILE) -> list[Figure]:
    cities = region_of_city()
    out: list[Figure] = []
    with path.open(newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{path.name}:{n}"
            for key in ("city_a", "city_b"):
                if row.get(key) not in cities:
                    raise PublishedDataError(f"{where}: {key}: {row.get(key)!r} is no region's city")
            if row["city_a"] == row["city_b"]:
                raise PublishedDataError(f"{where}: city_b: same city as city_a")
            if row.get("source_id") not in SOURCES or row["source_id"] == MODEL:
                raise PublishedDataError(f"{where}: source_id: unknown source {row.get('source_id')!r}")
            try:
                rtt = float(row.get("rtt_ms") or "")
            except ValueError:
                raise PublishedDataError(f"{where}: rtt_ms: not a number: {row.get('rtt_ms')!r}") from None
            if not 0 < rtt < 1000:
                raise PublishedDataError(f"{where}: rtt_ms: {rtt} is outside (0, 1000)")
            out.append(
                Figure(
                    row["city_a"],
                    row["city_b"],
                    rtt,
                    row["source_id"],
                    row.get("measured_from", ""),
                    row.get("measured_to", ""),
                )
            )
    return out


def published_pairs(figures: Iterable[Figure]) -> dict[tuple[str, str], tuple[float, str]]:
    """Region pair -> (RTT, source id): the first source in PRECEDENCE that measured the pair, the
    mean of its figures (one per measured direction), rounded to 0.1 ms like the rest of the table."""
    cities = region_of_city()
    by_pair: dict[tuple[str, str], dict[str, list[float]]] = {}
    for f in figures:
        key = pair(cities[f.city_a], cities[f.city_b])
        by_pair.setdefault(key, {}).setdefault(f.source_id, []).append(f.rtt_ms)
    out: dict[tuple[str, str], tuple[float, str]] = {}
    for key, per_source in by_pair.items():
        source = next(s for s in PRECEDENCE if s in per_source)
        out[key] = (round(statistics.fmean(per_source[source]), 1), source)
    return out


def fit(published: Mapping[tuple[str, str], float]) -> Model:
    """Least squares on the *relative* error (weights 1/RTT^2): RTT = stretch * fibre RTT + overhead on
    the pairs within one side of the mainland border. Relative, because an absolute fit lets the long
    intercontinental pairs set a large overhead that ruins the short pairs, and steering within a
    country or a continent is decided by exactly those. The cross-border penalty is then the weighted
    mean residual of the pairs that cross the border, if any were published."""
    same = [(fibre_rtt_ms(a, b), v) for (a, b), v in published.items() if REGIONS[a][3] == REGIONS[b][3]]
    if len(same) < 2:
        raise PublishedDataError("fewer than two published pairs to fit the model on")
    w = [1 / (y * y) for _x, y in same]
    total = sum(w)
    mx = sum(wi * x for wi, (x, _y) in zip(w, same, strict=True)) / total
    my = sum(wi * y for wi, (_x, y) in zip(w, same, strict=True)) / total
    sxx = sum(wi * (x - mx) ** 2 for wi, (x, _y) in zip(w, same, strict=True))
    if sxx == 0:
        raise PublishedDataError("the published pairs all have the same distance: nothing to fit")
    slope = sum(wi * (x - mx) * (y - my) for wi, (x, y) in zip(w, same, strict=True)) / sxx
    intercept = my - slope * mx
    crossing = [
        (v, v - (slope * fibre_rtt_ms(a, b) + intercept))
        for (a, b), v in published.items()
        if REGIONS[a][3] != REGIONS[b][3]
    ]
    if crossing:
        cw = [1 / (y * y) for y, _r in crossing]
        penalty = sum(wi * r for wi, (_y, r) in zip(cw, crossing, strict=True)) / sum(cw)
        return Model(slope, intercept, penalty, True)
    return Model(slope, intercept, CROSS_BORDER_MS, False)


def residuals(model: Model, published: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Model minus published figure, per published pair."""
    return {k: model.rtt(*k) - v for k, v in published.items()}


def build(figures: Sequence[Figure]) -> tuple[dict[str, Any], Model, dict[tuple[str, str], float]]:
    chosen = published_pairs(figures)
    values = {k: v for k, (v, _s) in chosen.items()}
    model = fit(values)
    rtt: dict[str, dict[str, float]] = {}
    provenance: dict[str, dict[str, str]] = {}
    for a in REGIONS:
        for b in REGIONS:
            hit = chosen.get(pair(a, b)) if a != b else None
            value, source = hit if hit else (round(model.rtt(a, b), 1), MODEL)
            rtt.setdefault(a, {})[b] = value
            provenance.setdefault(a, {})[b] = source
    n_published = len(chosen)
    n_pairs = len(REGIONS) * (len(REGIONS) - 1) // 2
    used = [s for s in PRECEDENCE if any(src == s for _v, src in chosen.values())]
    doc: dict[str, Any] = {
        "source": (
            f"published inter-region RTTs for {n_published} of {n_pairs} region pairs "
            f"({', '.join(used)}: measurements between other clouds' data centres in the same cities); "
            f"the other pairs from a great-circle fibre model calibrated on them (stretch "
            f"{model.stretch:.3f}, overhead {model.overhead_ms:.1f} ms, "
            f"+{model.cross_border_ms:.0f} ms across the mainland China border); per-pair origin in "
            f"'provenance', sources in 'sources'; see make_latency.py"
        ),
        "sources": SOURCES,
        "model": {
            "stretch": round(model.stretch, 4),
            "overhead_ms": round(model.overhead_ms, 2),
            "cross_border_ms": round(model.cross_border_ms, 2),
            "cross_border_fitted": model.cross_border_fitted,
            "fibre_km_per_ms": FIBRE_KM_PER_MS,
            "fitted_on_pairs": n_published,
        },
        "regions": {
            r: {"city": c[0], "lat": c[1], "lon": c[2], "mainland": c[3]} for r, c in REGIONS.items()
        },
        "rtt_ms": rtt,
        "provenance": provenance,
    }
    return doc, model, residuals(model, values)


def concordance(a: Mapping[tuple[str, str], float], b: Mapping[tuple[str, str], float]) -> float:
    """Share of the pairs of pairs (ties in ``a`` left out) that ``b`` orders the same way as ``a``."""
    keys = sorted(a)
    same = total = 0
    for i, p in enumerate(keys):
        for q in keys[i + 1 :]:
            if a[p] == a[q]:
                continue
            total += 1
            same += (a[p] - a[q]) * (b[p] - b[q]) > 0
    return same / total if total else 1.0


def render(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def report(
    model: Model, res: Mapping[tuple[str, str], float], published: Mapping[tuple[str, str], float]
) -> str:
    how = "fitted" if model.cross_border_fitted else "not fitted: no published pair crosses the border"
    lines = [
        f"fit on {len(res)} published pairs: RTT = {model.stretch:.3f} x fibre great-circle RTT "
        f"+ {model.overhead_ms:.2f} ms; cross-border {model.cross_border_ms:.1f} ms ({how})"
    ]
    errs = list(res.values())
    rmse = math.sqrt(statistics.fmean(e * e for e in errs))
    rel = [abs(e) / published[k] for k, e in res.items()]
    lines.append(
        f"residuals (model - published): RMSE {rmse:.1f} ms, "
        f"mean |err| {statistics.fmean(abs(e) for e in errs):.1f} ms, "
        f"max |err| {max(abs(e) for e in errs):.1f} ms, "
        f"median relative {statistics.median(rel) * 100:.0f}%, max relative {max(rel) * 100:.0f}%"
    )
    modelled = {k: published[k] + e for k, e in res.items()}
    lines.append(
        f"order: the model orders {concordance(published, modelled) * 100:.1f}% of the pairs of "
        f"published pairs as the figures do"
    )
    for (a, b), e in sorted(res.items(), key=lambda kv: -abs(kv[1]))[:10]:
        v = published[(a, b)]
        lines.append(f"  {a:>15} - {b:<15} published {v:6.1f}  model {v + e:6.1f}  ({e:+.1f})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build latency.json from published RTT figures.")
    parser.add_argument("--check", action="store_true", help="Only compare with the committed latency.json.")
    args = parser.parse_args(argv)
    figures = load_figures()
    doc, model, res = build(figures)
    published = {k: v for k, (v, _s) in published_pairs(figures).items()}
    print(report(model, res, published))
    text = render(doc)
    if args.check:
        if LATENCY_FILE.read_text() != text:
            print(
                f"{LATENCY_FILE.name} is out of date: run python -m federation.dns.data.make_latency",
                file=sys.stderr,
            )
            return 1
        print(f"{LATENCY_FILE.name} is up to date")
        return 0
    LATENCY_FILE.write_text(text)
    print(f"wrote {LATENCY_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
