"""Reading published DNS the way a client sees it: one implementation for ``fedctl dns show`` /
``fedctl dns latency`` and the dashboard's DNS page and JSON API.

Pure functions over records, the line catalogue and the latency matrix (no I/O), plus
:func:`sample_medians`, the one store read both need (the live latency samples as the publisher uses
them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.dns.latency import LatencyMatrix
from federation.dns.lines import Classification, LineCatalogue, LineClassifier
from federation.dns.plan import MANAGED_TYPES, answer
from federation.dns.records import Record


def classify_client(classifier: LineClassifier, client: str) -> Classification:
    """The line of a client address, or of a CIDR taken as an EDNS Client Subnet.

    Raises ValueError naming the input when it is neither."""
    try:
        net = ipaddress.ip_network(client.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {client!r}") from None
    prefix = net.prefixlen if "/" in client else None
    return classifier.classify(net.network_address, prefix)


def client_answer(records: Sequence[Record], name: str, chain: Sequence[str]) -> tuple[str, list[str]]:
    """(line that answers, sorted values) for a client of ``chain`` asking ``name``."""
    line, values = answer(records, name, chain)
    return line, sorted(values)


def records_by_name(records: Iterable[Record]) -> dict[str, dict[str, list[str]]]:
    """name -> line -> values as shown to a user (``1.2.3.4 (weight 5)``), address records only."""
    by_name: dict[str, dict[str, list[str]]] = {}
    for r in sorted(records):
        if r.rtype in MANAGED_TYPES:
            w = f" (weight {r.weight})" if r.weight is not None else ""
            by_name.setdefault(r.name, {}).setdefault(r.line, []).append(f"{r.value}{w}")
    return by_name


def resolve_client(
    classifier: LineClassifier, records: Sequence[Record], client: str, names: Iterable[str]
) -> dict[str, Any]:
    """What ``client`` gets for each of ``names``: its line, fallback chain, ECS scope and answers."""
    cls = classify_client(classifier, client)
    return {
        "client": client,
        "line": cls.line,
        "chain": list(cls.chain),
        "scope": cls.prefix_len,
        "answers": {name: client_answer(records, name, cls.chain) for name in names},
    }


@dataclass(frozen=True, slots=True)
class LineAnswer:
    """One line of the catalogue for one name: what its clients get and whether it is published."""

    line: str
    parent: str | None
    depth: int
    published: bool  # the line has records of its own
    from_line: str  # the line whose records answer (itself, or the ancestor it falls back to)
    values: tuple[str, ...]


def line_tree(records: Sequence[Record], name: str, catalogue: LineCatalogue) -> list[LineAnswer]:
    """Every line of the catalogue in tree order (a parent before its children), with its answer."""
    own = {r.line for r in records if r.name == name and r.rtype in MANAGED_TYPES}
    children: dict[str | None, list[str]] = {}
    for line in catalogue:
        children.setdefault(line.parent, []).append(line.code)
    out: list[LineAnswer] = []
    stack: list[tuple[str, int]] = [(code, 0) for code in reversed(children.get(None, []))]
    while stack:
        code, depth = stack.pop()
        from_line, values = client_answer(records, name, catalogue.chain(code))
        out.append(LineAnswer(code, catalogue.get(code).parent, depth, code in own, from_line, tuple(values)))
        stack.extend((child, depth + 1) for child in reversed(children.get(code, [])))
    return out


def latency_rows(matrix: LatencyMatrix, line: str, regions: Iterable[str]) -> list[dict[str, Any]]:
    """A line's RTT to each region with the layer the number came from, nearest first."""
    rows = []
    for region in regions:
        rtt, source = matrix.lookup(line, region)
        rows.append({"region": region, "rtt_ms": rtt, "source": source})
    rows.sort(key=lambda r: (r["rtt_ms"] is None, r["rtt_ms"] or 0.0, r["region"]))
    return rows


def known_regions(matrix: LatencyMatrix) -> list[str]:
    return sorted(set(matrix.regions) | set(matrix.configured_regions))


def sample_medians(session: Any, catalogue: LineCatalogue, now: datetime) -> dict[tuple[str, str], float]:
    """The medians of the live latency samples the publisher uses now (its SAMPLES_WINDOW)."""
    from federation.dns.publisher import SAMPLES_WINDOW
    from federation.store.latency import latency_matrix_samples

    medians = latency_matrix_samples(session, now - SAMPLES_WINDOW)
    return {(m.source, m.region): m.median_ms for m in medians if m.source in catalogue}
