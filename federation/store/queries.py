"""The store's query functions in one import: ``from federation.store.queries import ...``.

Every function takes a :class:`~sqlalchemy.orm.Session` (one unit of work, from
``Database.session()`` or ``await Database.run(fn, ...)``) as its first argument, and reads return
frozen dataclasses, safe to hand across threads and to keep after the session ends. Timestamps in and
out are aware datetimes (UTC out); a naive one is refused with an error naming the field.
"""

from __future__ import annotations

from federation.store.clusters import (
    MemberClusterData,
    RegionData,
    delete_member_cluster,
    ensure_region,
    list_member_clusters,
    list_regions,
    upsert_member_cluster,
)
from federation.store.dnslog import (
    DnsChangeData,
    PublishedRecordData,
    RecordOwnershipError,
    ReplaceResult,
    append_dns_changes,
    bump_zone_serial,
    describe,
    list_dns_changes,
    list_published_records,
    load_published_names,
    load_published_zone,
    replace_published_records,
    zone_serials,
)
from federation.store.health import (
    HealthSampleData,
    HealthStateData,
    TransitionData,
    delete_health_state,
    get_health_state,
    latest_health,
    latest_samples,
    list_transitions,
    record_health_sample,
    record_health_samples,
    record_sweep,
    record_transition,
    sample_history,
    upsert_health_state,
)
from federation.store.inventory import ResourceData, inventory_add, inventory_list, inventory_mark_deleted
from federation.store.latency import (
    LatencyMedian,
    LatencySampleData,
    latency_matrix_samples,
    record_latency_sample,
    record_latency_samples,
)
from federation.store.models import DnsAction, HealthStateName, TargetKind
from federation.store.retention import PruneResult, prune
from federation.store.values import app_key

__all__ = [
    "DnsAction",
    "DnsChangeData",
    "HealthSampleData",
    "HealthStateData",
    "HealthStateName",
    "LatencyMedian",
    "LatencySampleData",
    "MemberClusterData",
    "PruneResult",
    "PublishedRecordData",
    "RecordOwnershipError",
    "RegionData",
    "ReplaceResult",
    "ResourceData",
    "TargetKind",
    "TransitionData",
    "app_key",
    "append_dns_changes",
    "bump_zone_serial",
    "delete_health_state",
    "delete_member_cluster",
    "describe",
    "ensure_region",
    "get_health_state",
    "inventory_add",
    "inventory_list",
    "inventory_mark_deleted",
    "latency_matrix_samples",
    "latest_health",
    "latest_samples",
    "list_dns_changes",
    "list_member_clusters",
    "list_published_records",
    "list_regions",
    "list_transitions",
    "load_published_names",
    "load_published_zone",
    "prune",
    "record_health_sample",
    "record_health_samples",
    "record_latency_sample",
    "record_latency_samples",
    "record_sweep",
    "record_transition",
    "replace_published_records",
    "sample_history",
    "upsert_health_state",
    "upsert_member_cluster",
    "zone_serials",
]
