"""`fedctl bench ...`: benchmarks that print numbers (they assert nothing)."""

from __future__ import annotations

import click

from federation.cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "kube": "federation.sandbox.kube.bench:bench_kube",
        "controller": "federation.controller.bench:bench_controller",
        "dns": "federation.dns.bench:bench_dns",
    },
)
def bench() -> None:
    """Measure the simulator, the controller and the DNS server, and print the numbers."""
