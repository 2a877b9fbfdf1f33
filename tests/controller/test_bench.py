"""`fedctl bench controller` runs end to end and reports a write-free steady state (numbers only)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_controller_prints_one_round_per_region_count() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "federation.cli",
            "bench",
            "controller",
            "--regions",
            "1,2",
            "--apps",
            "4",
            "--rollout-delay",
            "0.05",
            "--timeout",
            "60",
            "--gc-threshold",
            "700,10,10",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rounds = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["regions"] for r in rounds] == [1, 2]
    for r in rounds:
        assert r["apps"] == 4
        assert r["steady_writes"] == 0
        assert r["steady_reconciles"] >= 5  # every app (and the single one) reconciled again
        assert r["single_app_ready_s"] > 0
        assert r["peak_rss_mib"] > 0
        # the controller runs in its own process: its CPU and the simulator's are counted apart
        assert r["converge_cpu_s"] > 0
        assert r["converge_sim_cpu_s"] > 0
        assert r["propagation_updates"] == 4  # every spec update reached every region
        # CPython's default thresholds, as asked: the young generation was collected, and the
        # collector's pauses and the event loop's stalls are measured
        assert r["gc_threshold"] == [700, 10, 10]
        assert r["gc_collections"] > 0
        assert r["loop_stall_max_s"] >= 0
