"""The latency matrix: round-trip time from each client line to each region.

Three layers, the first that knows a (line, region) pair wins:

1. live samples (the health sweeps' probes, persisted by the store; passed in as plain data),
2. the user's configuration (``lines: {line: {region: ms}}`` and ``regions: {region: {region: ms}}``),
3. the shipped default table of region-to-region RTTs (``data/latency.json``, see
   ``data/make_latency.py`` for its sources), applied to a line through its vantage region. Each of
   its pairs is either a published measurement or the calibrated model; ``lookup`` says which.

Pure: no I/O after construction (``load_config`` reads a file for the CLI and the controller).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from federation.dns.lines import LineCatalogue

LATENCY_FILE = Path(__file__).with_name("data") / "latency.json"

RegionTable = Mapping[str, Mapping[str, float]]
LineTable = Mapping[str, Mapping[str, float]]


class LatencyConfigError(ValueError):
    """A latency configuration entry that cannot be used; the message names it."""


@cache
def _default_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(LATENCY_FILE.read_text())
    return doc


@cache
def default_region_table() -> dict[str, dict[str, float]]:
    return {a: {b: float(v) for b, v in row.items()} for a, row in _default_doc()["rtt_ms"].items()}


@cache
def default_provenance() -> dict[str, dict[str, str]]:
    """Per pair of the default table: the id of the published source it comes from, or ``model``."""
    return {a: {b: str(v) for b, v in row.items()} for a, row in _default_doc().get("provenance", {}).items()}


@dataclass(frozen=True)
class LatencyMatrix:
    """RTT lookups by (line, region); ``source`` tells which layer answered. ``provenance`` labels the
    pairs of ``regions`` (source id or ``model``); give it along with a custom ``regions`` table."""

    catalogue: LineCatalogue
    regions: RegionTable = field(default_factory=default_region_table)
    configured_lines: LineTable = field(default_factory=dict)
    configured_regions: RegionTable = field(default_factory=dict)
    samples: Mapping[tuple[str, str], float] = field(default_factory=dict)
    provenance: Mapping[str, Mapping[str, str]] = field(default_factory=default_provenance)

    def region_rtt(self, a: str, b: str) -> float | None:
        for table in (self.configured_regions, self.regions):
            v = table.get(a, {}).get(b)
            if v is None:
                v = table.get(b, {}).get(a)  # RTT is symmetric
            if v is not None:
                return v
        return None

    def region_source(self, a: str, b: str) -> str:
        """Where ``region_rtt(a, b)`` comes from: config, published, model, or default (a pair of a
        ``regions`` table without provenance)."""
        if (
            self.configured_regions.get(a, {}).get(b) is not None
            or self.configured_regions.get(b, {}).get(a) is not None
        ):
            return "config"
        origin = self.provenance.get(a, {}).get(b) or self.provenance.get(b, {}).get(a)
        if origin is None:
            return "default"
        return "model" if origin == "model" else "published"

    def lookup(self, line: str, region: str) -> tuple[float | None, str]:
        """(RTT in ms or None when unknown, source: sample | config | published | model | default |
        unknown); published and model are the two kinds of pair in the shipped table."""
        sample = self.samples.get((line, region))
        if sample is not None:
            return sample, "sample"
        configured = self.configured_lines.get(line, {}).get(region)
        if configured is not None:
            return configured, "config"
        if line not in self.catalogue:
            return None, "unknown"
        vantage = self.catalogue.get(line).vantage
        if vantage is None:
            return None, "unknown"
        v = self.region_rtt(vantage, region)
        return (v, self.region_source(vantage, region)) if v is not None else (None, "unknown")

    def rtt(self, line: str, region: str) -> float | None:
        return self.lookup(line, region)[0]

    def with_samples(self, samples: Mapping[tuple[str, str], float]) -> LatencyMatrix:
        return LatencyMatrix(
            self.catalogue,
            self.regions,
            self.configured_lines,
            self.configured_regions,
            dict(samples),
            self.provenance,
        )


def parse_config(doc: Mapping[str, Any], source: str = "latency config") -> tuple[LineTable, RegionTable]:
    """Validate ``{lines: {line: {region: ms}}, regions: {region: {region: ms}}}``."""
    out: list[dict[str, dict[str, float]]] = []
    for key in ("lines", "regions"):
        table: dict[str, dict[str, float]] = {}
        raw = doc.get(key) or {}
        if not isinstance(raw, Mapping):
            raise LatencyConfigError(f"{source}: {key}: expected a mapping")
        for a, row in raw.items():
            if not isinstance(row, Mapping):
                raise LatencyConfigError(f"{source}: {key}.{a}: expected a mapping of region to ms")
            for b, ms in row.items():
                if isinstance(ms, bool) or not isinstance(ms, int | float) or ms < 0:
                    raise LatencyConfigError(
                        f"{source}: {key}.{a}.{b}: expected a number of ms >= 0, got {ms!r}"
                    )
                table.setdefault(str(a), {})[str(b)] = float(ms)
        out.append(table)
    unknown = set(doc) - {"lines", "regions"}
    if unknown:
        raise LatencyConfigError(f"{source}: unknown keys {sorted(unknown)} (expected lines, regions)")
    return out[0], out[1]


def load_config(path: Path) -> tuple[LineTable, RegionTable]:
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, Mapping):
        raise LatencyConfigError(f"{path}: expected a mapping")
    return parse_config(doc, str(path))
