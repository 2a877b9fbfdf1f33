"""What ``kubectl get fapp`` shows in REGIONS: ready regions over every region the spec lists."""

from __future__ import annotations

from datetime import UTC, datetime

from federation.controller.appstatus import AppReport, RegionObservation, build_status
from federation.placement import PlacementResult, RegionAssignment


def test_regions_ready_counts_every_region_the_spec_lists() -> None:
    placement = PlacementResult(
        (
            RegionAssignment("cn-hangzhou", 3, "active"),
            RegionAssignment("cn-beijing", 3, "active"),
            RegionAssignment("ap-south-1", 0, "excluded", "no MemberCluster in region ap-south-1"),
        )
    )
    observed = {
        r: RegionObservation(
            r, cluster=r, reachable=True, health="Healthy", ready_replicas=3, rolled_out=True
        )
        for r in ("cn-hangzhou", "cn-beijing")
    }
    status = build_status(None, AppReport(1, placement, observed), datetime(2026, 1, 1, tzinfo=UTC))
    assert status.regions_ready == "2/3"
    degraded = next(cd for cd in status.conditions if cd.type == "Degraded")
    assert degraded.status == "True"
    assert "no MemberCluster in region ap-south-1" in degraded.message
