"""The rows the Overview shows, from an app's status and the store's health reasons (pure)."""

from __future__ import annotations

from federation.web.views import region_rows


def _app(regions: list[dict[str, object]]) -> dict[str, object]:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "placement": {
                "regions": [{"name": "cn-hangzhou"}, {"name": "cn-beijing"}, {"name": "ap-south-1"}]
            }
        },
        "status": {"regions": regions},
    }


def test_a_region_row_says_why_it_is_not_healthy() -> None:
    app = _app(
        [
            {"region": "cn-hangzhou", "health": "Unhealthy", "servingDNS": False, "dnsReason": "unhealthy"},
            {"region": "cn-beijing", "health": "Healthy", "servingDNS": True},
        ]
    )
    reasons = {
        ("default/web", "cn-hangzhou"): "endpoint: connection refused",
        ("default/web", "cn-beijing"): "slb: 1/3 backends abnormal",
    }
    rows = {r["region"]: r for r in region_rows(app, reasons)}
    assert rows["cn-hangzhou"]["healthReason"] == "endpoint: connection refused"
    assert rows["cn-beijing"]["healthReason"] == ""  # healthy: a stale reason is not shown
    # a region the spec lists that the status does not show yet, with why
    assert rows["ap-south-1"]["health"] == "Unknown"
    assert "no MemberCluster" in rows["ap-south-1"]["healthReason"]


def test_an_excluded_region_shows_the_placement_reason_first() -> None:
    app = _app([{"region": "cn-hangzhou", "health": "Unhealthy", "excludedReason": "drained: override"}])
    rows = region_rows(app, {("default/web", "cn-hangzhou"): "endpoint: refused"})
    assert rows[0]["healthReason"] == "drained: override"
