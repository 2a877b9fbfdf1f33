"""`fedctl bench ...`: benchmarks that print numbers (they assert nothing).

The benchmarks drive the stand-ins, so they live under ``federation.sandbox``; this group names them by
module path and imports one only when it runs (the one place product code refers to the sandbox).
"""

from __future__ import annotations

import click

from federation.cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "kube": "federation.sandbox.kube.bench:bench_kube",
        "controller": "federation.sandbox.bench.controller:bench_controller",
        "dns": "federation.sandbox.bench.dns:bench_dns",
        "chaos": "federation.sandbox.chaos:bench_chaos",
        "slb": "federation.sandbox.bench.slb:bench_slb",
        "health": "federation.sandbox.bench.health:bench_health",
        "failover": "federation.sandbox.bench.health:bench_failover",
    },
)
def bench() -> None:
    """Measure the simulator, the controller, the DNS server and the SLB step, and print the numbers."""
