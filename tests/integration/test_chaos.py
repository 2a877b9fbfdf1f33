"""`fedctl bench chaos`, small: three apps, three SIGKILLs of the controller under throttling and 5xx in
the emulator and the members, one app deleted half-way (it and one live app publish weighted DNS).
Whatever the kill moments, the last run converges and nothing is left twice or without its app: no
duplicate Deployment or Service, no DNS record or weighted-round-robin switch of no live app, no SLB
per (app, region) other than one."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(300)  # ~35 s alone; the margin is for a machine busy with other suites
async def test_chaos_small_case_leaves_no_duplicates_and_no_orphans(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "federation.cli",
        "bench",
        "chaos",
        "--apps",
        "3",
        "--kills",
        "3",
        "--deletes",
        "1",
        "--seed",
        "7",
        "--max-uptime",
        "5",
        "--converge-timeout",
        "180",
        "--workdir",
        str(tmp_path / "chaos"),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 280)
    assert proc.returncode == 0, err.decode()[-3000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    logs = (tmp_path / "chaos" / "controller.log").read_text()[-3000:]
    assert len(report["uptimes"]) == 3, logs  # three runs were killed, none ended by itself
    assert report["exited_on_their_own"] == 0, logs
    assert sum(report["faults_answered"].values()) > 0  # the weather was on
    assert report["converged"] == 2, (report, logs)
    assert report["gone"] == 1, (report, logs)
    assert report["duplicate_objects"] == 0, report["details"]
    assert report["orphan_objects"] == 0, report["details"]
    assert report["orphan_records"] == 0, report["details"]
    assert report["orphan_wrr"] == 0, report["details"]
    assert report["wrr_on"] >= 1  # the live weighted app's switch: the check looked at real switches
    assert report["slb_pairs_not_one"] == 0, report["details"]
    assert report["orphan_slbs"] == 0, report["details"]
    assert report["clean"] is True
