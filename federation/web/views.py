"""What the dashboard and the JSON API show, computed from plain data (pure: no I/O, no clock reads).

Inputs are the objects as the API server returns them (FederatedApps, MemberClusters, Events) and the
store's frozen dataclasses; outputs are JSON-ready dicts. Nothing here ever copies a spec wholesale:
only named fields leave, so a Secret reference or an environment value in a pod template never
reaches a page. Escaping is the page's job (it sets text, never markup).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from federation.api import constants as c

# Annotations that are noise (or a copy of the whole spec) on a page.
HIDDEN_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def app_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def _conditions(obj: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    st = obj.get("status") or {}
    return {str(cd.get("type")): cd for cd in st.get("conditions") or [] if isinstance(cd, dict)}


def _cond(cd: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if cd is None:
        return None
    return {
        "status": cd.get("status"),
        "reason": cd.get("reason"),
        "message": cd.get("message") or "",
        "lastTransitionTime": cd.get("lastTransitionTime"),
    }


def _visible_annotations(meta: Mapping[str, Any]) -> dict[str, str]:
    ann = meta.get("annotations") or {}
    return {str(k): str(v) for k, v in ann.items() if k not in HIDDEN_ANNOTATIONS}


def spec_regions(app: Mapping[str, Any]) -> list[str]:
    placement = (app.get("spec") or {}).get("placement") or {}
    return [
        str(r.get("name")) for r in placement.get("regions") or [] if isinstance(r, dict) and r.get("name")
    ]


def region_rows(
    app: Mapping[str, Any], health_reasons: Mapping[tuple[str, str], str] | None = None
) -> list[dict[str, Any]]:
    """One row per region of the app: from its status, then any region the spec lists that the
    status does not (yet) show. ``health_reasons`` maps (app key, region) to the store's reason."""
    st = app.get("status") or {}
    key = app_key(app)
    reasons = health_reasons or {}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in st.get("regions") or []:
        region = str(r.get("region"))
        seen.add(region)
        health = r.get("health") or "Unknown"
        # the store's reason explains a region that is not healthy; next to Healthy it would mislead
        stored = reasons.get((key, region)) if health != "Healthy" else None
        why = r.get("healthReason") or r.get("excludedReason") or stored or ""
        row = {
            "region": region,
            "cluster": r.get("cluster"),
            "desiredReplicas": r.get("desiredReplicas"),
            "readyReplicas": r.get("readyReplicas"),
            "reachable": r.get("reachable"),
            "health": health,
            "healthReason": why,
            "loadBalancerId": r.get("loadBalancerId"),
            "address": r.get("address"),
            "servingDNS": r.get("servingDNS"),
            "dnsReason": r.get("dnsReason") or "",
        }
        # what the regional SLB step reports about its listeners and backends, as it reports it
        for extra in ("listeners", "backends", "backendHealth", "loadBalancerStatus"):
            if extra in r:
                row[extra] = r[extra]
        rows.append(row)
    for region in spec_regions(app):
        if region not in seen:
            rows.append(
                {
                    "region": region,
                    "cluster": None,
                    "desiredReplicas": None,
                    "readyReplicas": None,
                    "reachable": None,
                    "health": "Unknown",
                    "healthReason": "not placed yet (no MemberCluster in this region, or not reconciled)",
                    "loadBalancerId": None,
                    "address": None,
                    "servingDNS": None,
                    "dnsReason": "",
                }
            )
    return rows


def app_summary(
    app: Mapping[str, Any], health_reasons: Mapping[tuple[str, str], str] | None = None
) -> dict[str, Any]:
    meta = app.get("metadata") or {}
    spec = app.get("spec") or {}
    st = app.get("status") or {}
    conds = _conditions(app)
    dns = spec.get("dns") or {}
    return {
        "key": app_key(app),
        "namespace": meta.get("namespace") or "default",
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "generation": meta.get("generation"),
        "labels": {str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        "annotations": _visible_annotations(meta),
        "replicas": spec.get("replicas"),
        "strategy": (spec.get("placement") or {}).get("strategy"),
        "specRegions": spec_regions(app),
        "hostname": dns.get("hostname"),
        "zone": dns.get("zone"),
        "policy": dns.get("policy"),
        "readyReplicas": st.get("readyReplicas"),
        "placedReplicas": st.get("replicas"),
        "regionsReady": st.get("regionsReady"),
        "failOpen": bool((st.get("dns") or {}).get("failOpen")),
        "conditions": {t: _cond(cd) for t, cd in sorted(conds.items())},
        "regions": region_rows(app, health_reasons),
        "dnsRecords": [
            {"line": r.get("line"), "values": list(r.get("values") or [])}
            for r in (st.get("dns") or {}).get("records") or []
        ],
    }


def member_row(mc: Mapping[str, Any]) -> dict[str, Any]:
    meta = mc.get("metadata") or {}
    spec = mc.get("spec") or {}
    st = mc.get("status") or {}
    conds = _conditions(mc)
    override = (meta.get("annotations") or {}).get(c.ANNOTATION_REGION_HEALTH)
    network = conds.get(c.COND_NETWORK_READY)
    return {
        "name": meta.get("name"),
        "region": spec.get("region"),
        "zones": list(spec.get("zones") or []),
        "labels": {str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
        "kubernetesVersion": st.get("kubernetesVersion"),
        "nodeCount": st.get("nodeCount"),
        "apiLatencyMs": st.get("apiLatencyMs"),
        "lastProbeTime": st.get("lastProbeTime"),
        "ready": _cond(conds.get(c.COND_READY)),
        "reachable": _cond(conds.get(c.COND_REACHABLE)),
        "network": _cond(network) if network else None,
        "networkState": (
            "attached"
            if network and network.get("status") == "True"
            else (f"detached: {network.get('reason')}" if network else "not checked")
        ),
        "healthOverride": override,
    }


def regions_view(
    apps: Sequence[Mapping[str, Any]], members: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every region known from a MemberCluster or an app's spec: its clusters and the apps there."""
    out: dict[str, dict[str, Any]] = {}

    def entry(region: str) -> dict[str, Any]:
        return out.setdefault(region, {"region": region, "clusters": [], "apps": [], "drained": False})

    for mc in members:
        row = member_row(mc)
        if row["region"]:
            e = entry(str(row["region"]))
            e["clusters"].append(row["name"])
            e["drained"] = e["drained"] or row["healthOverride"] == c.HEALTH_OVERRIDE_UNHEALTHY
    for app in apps:
        key = app_key(app)
        for row in region_rows(app):
            e = entry(row["region"])
            e["apps"].append(
                {
                    "app": key,
                    "desiredReplicas": row["desiredReplicas"],
                    "readyReplicas": row["readyReplicas"],
                    "health": row["health"],
                    "servingDNS": row["servingDNS"],
                }
            )
    return [out[k] for k in sorted(out)]


def event_row(ev: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": ev.get("type"),
        "reason": ev.get("reason"),
        "message": ev.get("message") or "",
        "count": ev.get("count") or 1,
        "firstTimestamp": ev.get("firstTimestamp") or ev.get("eventTime"),
        "lastTimestamp": ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp"),
        "source": (ev.get("source") or {}).get("component") or ev.get("reportingComponent"),
    }


# Events that record a placement decision (the App page's timeline).
PLACEMENT_REASONS = frozenset({"ReplicasPlaced", "RegionExcluded", "RegionRecovered", "PlacementInfeasible"})


def app_events(events: Iterable[Mapping[str, Any]], app: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The app's Events, newest first."""
    meta = app.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    mine = []
    for ev in events:
        inv = ev.get("involvedObject") or {}
        if inv.get("kind") != c.FEDERATEDAPP_KIND or inv.get("name") != name:
            continue
        if uid and inv.get("uid") and inv.get("uid") != uid:
            continue  # an earlier app of the same name
        mine.append(event_row(ev))
    mine.sort(key=lambda e: str(e["lastTimestamp"] or ""), reverse=True)
    return mine


def plain(obj: Any) -> Any:
    """A store dataclass (or a list of them) as JSON-ready data: datetimes in ISO 8601."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return plain(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


def change_row(ch: Any) -> dict[str, Any]:
    return {
        "at": ch.at.isoformat(),
        "zone": ch.zone,
        "name": ch.name,
        "type": ch.rtype,
        "line": ch.line,
        "action": ch.action,
        "reason": ch.reason,
        "old": ch.old,
        "new": ch.new,
        "app": ch.app,
    }
