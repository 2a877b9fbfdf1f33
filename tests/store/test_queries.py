"""The query functions the health sweeps, DNS publisher, controller and dashboard call, on both engines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from federation.dns.records import Record
from federation.store.db import Database
from federation.store.models import HealthSample, MemberClusterSeen
from federation.store.queries import (
    DnsChangeData,
    HealthSampleData,
    HealthStateData,
    LatencySampleData,
    MemberClusterData,
    RecordOwnershipError,
    ResourceData,
    TransitionData,
    app_key,
    append_dns_changes,
    delete_member_cluster,
    describe,
    get_health_state,
    inventory_add,
    inventory_list,
    inventory_mark_deleted,
    latency_matrix_samples,
    latest_health,
    latest_samples,
    list_dns_changes,
    list_member_clusters,
    list_published_records,
    list_regions,
    list_transitions,
    load_published_names,
    load_published_zone,
    prune,
    record_health_sample,
    record_health_samples,
    record_latency_samples,
    record_transition,
    replace_published_records,
    sample_history,
    upsert_health_state,
    upsert_member_cluster,
    zone_serials,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
CST = timezone(timedelta(hours=8))  # the controller's operators are in China: inputs may carry +08:00
APP = app_key("shop", "web")


def s(i: int) -> datetime:
    return T0 + timedelta(seconds=i)


def test_health_samples_round_trip_with_aware_utc_datetimes(db: Database) -> None:
    local = s(5).astimezone(CST)
    with db.session() as sess:
        record_health_sample(
            sess,
            HealthSampleData(
                "endpoint",
                "vip-hz",
                "cn-hangzhou",
                ok=False,
                at=local,
                app=APP,
                latency_ms=None,
                detail="connect: refused",
            ),
        )
    with db.session() as sess:
        [got] = sample_history(sess, "endpoint", "vip-hz")
    assert got.at == local == s(5)
    assert got.at.tzinfo is UTC
    assert got.at.microsecond == 123456
    assert (got.ok, got.detail, got.app, got.region) == (False, "connect: refused", APP, "cn-hangzhou")


def test_latest_samples_gives_the_newest_per_target_with_filters(db: Database) -> None:
    samples = [
        HealthSampleData("cluster", "hz-1", "cn-hangzhou", ok=True, at=s(0), latency_ms=10.0),
        HealthSampleData("cluster", "hz-1", "cn-hangzhou", ok=False, at=s(30), detail="timeout"),
        HealthSampleData("cluster", "hz-1", "cn-hangzhou", ok=True, at=s(20)),  # arrived late, older
        HealthSampleData("cluster", "sh-1", "cn-shanghai", ok=True, at=s(10), latency_ms=12.5),
        HealthSampleData("rollout", "shop/web@cn-hangzhou", "cn-hangzhou", ok=True, at=s(40), app=APP),
    ]
    with db.session() as sess:
        assert record_health_samples(sess, samples) == 5
    with db.session() as sess:
        latest = latest_samples(sess)
        by_region = latest_samples(sess, region="cn-hangzhou", target_kind="cluster")
        by_app = latest_samples(sess, app=APP)
        history = sample_history(sess, "cluster", "hz-1", since=s(15))
        recent = latest_samples(sess, since=s(15))
    assert [(x.target_kind, x.target_id, x.at) for x in latest] == [
        ("cluster", "hz-1", s(30)),
        ("cluster", "sh-1", s(10)),
        ("rollout", "shop/web@cn-hangzhou", s(40)),
    ]
    assert latest[0].ok is False
    assert latest[0].detail == "timeout"
    assert [x.target_id for x in by_region] == ["hz-1"]
    assert [x.target_id for x in by_app] == ["shop/web@cn-hangzhou"]
    assert [x.at for x in history] == [s(30), s(20)]  # newest first, since applied
    assert [(x.target_id, x.at) for x in recent] == [("hz-1", s(30)), ("shop/web@cn-hangzhou", s(40))]


def test_bad_sample_input_is_refused_naming_the_field(db: Database) -> None:
    with db.session() as sess, pytest.raises(ValueError, match="target_kind: 'router' is not one of"):
        record_health_sample(sess, HealthSampleData("router", "x", "cn-hangzhou", ok=True, at=T0))
    naive = datetime(2026, 1, 1, 0, 0)
    with db.session() as sess, pytest.raises(ValueError, match="at: naive datetime"):
        record_health_sample(sess, HealthSampleData("slb", "lb-1", "cn-hangzhou", ok=True, at=naive))


def test_long_detail_is_clipped_not_rejected(db: Database) -> None:
    with db.session() as sess:
        record_health_sample(
            sess, HealthSampleData("slb", "lb-1", "cn-hangzhou", ok=False, at=T0, detail="x" * 5000)
        )
    with db.session() as sess:
        [got] = sample_history(sess, "slb", "lb-1")
    assert got.detail is not None
    assert len(got.detail) == 1024
    assert got.detail.endswith("…")


def test_health_state_upsert_keeps_one_row_per_target_with_counters(db: Database) -> None:
    first = HealthStateData(
        "endpoint",
        "vip-hz",
        "cn-hangzhou",
        state="healthy",
        consecutive_failures=1,
        consecutive_successes=0,
        since=s(0),
        app=APP,
        last_sample_at=s(10),
    )
    with db.session() as sess:
        upsert_health_state(sess, first, now=s(10))
        upsert_health_state(
            sess,
            HealthStateData(
                "cluster",
                "sh-1",
                "cn-shanghai",
                state="unknown",
                consecutive_failures=0,
                consecutive_successes=0,
                since=s(0),
            ),
            now=s(10),
        )
    second = HealthStateData(
        "endpoint",
        "vip-hz",
        "cn-hangzhou",
        state="unhealthy",
        consecutive_failures=3,
        consecutive_successes=0,
        since=s(30).astimezone(CST),
        app=APP,
        last_sample_at=s(30),
        reason="3 consecutive probe failures",
    )
    with db.session() as sess:
        upsert_health_state(sess, second, now=s(31))
    with db.session() as sess:
        got = get_health_state(sess, "endpoint", "vip-hz")
        hz = latest_health(sess, region="cn-hangzhou")
        by_app = latest_health(sess, app=APP)
        everything = latest_health(sess)
        missing = get_health_state(sess, "endpoint", "nope")
    assert got is not None
    assert (got.state, got.consecutive_failures, got.since, got.reason) == (
        "unhealthy",
        3,
        s(30),
        "3 consecutive probe failures",
    )
    assert got.updated_at == s(31)
    assert got.since.tzinfo is UTC
    assert [x.target_id for x in hz] == ["vip-hz"] == [x.target_id for x in by_app]
    assert [(x.region, x.target_id) for x in everything] == [
        ("cn-hangzhou", "vip-hz"),
        ("cn-shanghai", "sh-1"),
    ]
    assert missing is None


async def test_concurrent_upserts_of_one_target_neither_fail_nor_duplicate(db: Database) -> None:
    def state(n: int) -> HealthStateData:
        return HealthStateData(
            "cluster",
            "hz-1",
            "cn-hangzhou",
            state="unhealthy",
            consecutive_failures=n,
            consecutive_successes=0,
            since=T0,
        )

    await asyncio.gather(*(db.run(upsert_health_state, state(n)) for n in range(1, 25)))
    rows = await db.run(latest_health)
    assert len(rows) == 1
    assert 1 <= rows[0].consecutive_failures <= 24


def test_health_state_rejects_bad_state_and_negative_counters(db: Database) -> None:
    bad = HealthStateData(
        "slb",
        "lb-1",
        "cn-hangzhou",
        state="degraded",
        consecutive_failures=0,
        consecutive_successes=0,
        since=T0,
    )
    with db.session() as sess, pytest.raises(ValueError, match="state: 'degraded'"):
        upsert_health_state(sess, bad)
    neg = HealthStateData(
        "slb",
        "lb-1",
        "cn-hangzhou",
        state="healthy",
        consecutive_failures=-1,
        consecutive_successes=0,
        since=T0,
    )
    with db.session() as sess, pytest.raises(ValueError, match="consecutive_failures"):
        upsert_health_state(sess, neg)


def test_database_check_constraint_backs_the_python_checks(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as sess:
        sess.add(HealthSample(target_kind="router", target_id="x", region="r", ok=True, at=T0))


def test_transitions_listed_newest_first_and_filtered(db: Database) -> None:
    with db.session() as sess:
        record_transition(
            sess,
            TransitionData(
                "endpoint",
                "vip-hz",
                "cn-hangzhou",
                "unknown",
                "healthy",
                "2 consecutive successes",
                at=s(0),
                app=APP,
            ),
        )
        record_transition(
            sess,
            TransitionData(
                "endpoint",
                "vip-hz",
                "cn-hangzhou",
                "healthy",
                "unhealthy",
                "3 consecutive failures",
                at=s(60),
                app=APP,
            ),
        )
        record_transition(
            sess,
            TransitionData(
                "cluster", "sh-1", "cn-shanghai", "healthy", "unhealthy", "API unreachable", at=s(30)
            ),
        )
    with db.session() as sess:
        all_ = list_transitions(sess)
        recent = list_transitions(sess, since=s(30))
        window = list_transitions(sess, since=s(0), until=s(60))
        hz = list_transitions(sess, region="cn-hangzhou", limit=1)
        app = list_transitions(sess, app=APP, target_kind="endpoint", target_id="vip-hz")
    assert [t.at for t in all_] == [s(60), s(30), s(0)]
    assert [t.target_id for t in recent] == ["vip-hz", "sh-1"]
    assert [t.at for t in window] == [s(30), s(0)]
    assert [(t.from_state, t.to_state) for t in hz] == [("healthy", "unhealthy")]
    assert len(app) == 2
    assert all(t.app == APP for t in app)


def test_latency_matrix_is_the_median_per_line_and_region_since(db: Database) -> None:
    rows = [
        LatencySampleData("telecom", "cn-hangzhou", rtt, s(i)) for i, rtt in enumerate([30.0, 10.0, 20.0])
    ] + [LatencySampleData("telecom", "cn-shanghai", rtt, s(i)) for i, rtt in enumerate([5.0, 7.0])]
    rows += [LatencySampleData("unicom", "cn-hangzhou", 500.0, s(-3600))]  # before the window
    with db.session() as sess:
        assert record_latency_samples(sess, rows) == 6
    with db.session() as sess:
        matrix = latency_matrix_samples(sess, since=s(-60))
    assert [(m.source, m.region, m.median_ms, m.samples, m.latest_at) for m in matrix] == [
        ("telecom", "cn-hangzhou", 20.0, 3, s(2)),
        ("telecom", "cn-shanghai", 6.0, 2, s(1)),
    ]
    with db.session() as sess, pytest.raises(ValueError, match="rtt_ms"):
        record_latency_samples(sess, [LatencySampleData("telecom", "cn-hangzhou", -1.0, T0)])


def _slb(resource_id: str, region: str, owner: str = "web", uid: str = "uid-web") -> ResourceData:
    return ResourceData(
        provider="alibaba",
        kind="slb",
        resource_id=resource_id,
        region=region,
        owner_namespace="shop",
        owner_name=owner,
        owner_uid=uid,
        created_at=s(0),
        attributes={"address": "10.0.0.1", "spec": "slb.s1.small", "ports": [80, 443]},
    )


def test_inventory_add_is_idempotent_mark_deleted_and_list_by_owner(db: Database) -> None:
    with db.session() as sess:
        inventory_add(sess, _slb("lb-hz", "cn-hangzhou"))
        inventory_add(sess, _slb("lb-hz", "cn-hangzhou"))  # a repeated create after a crash
        inventory_add(sess, _slb("lb-sh", "cn-shanghai"))
        inventory_add(sess, _slb("lb-other", "cn-hangzhou", owner="api", uid="uid-api"))
    with db.session() as sess:
        assert inventory_mark_deleted(
            sess,
            provider="alibaba",
            kind="slb",
            region="cn-shanghai",
            resource_id="lb-sh",
            at=s(100).astimezone(CST),
        )
        assert not inventory_mark_deleted(
            sess, provider="alibaba", kind="slb", region="cn-beijing", resource_id="lb-unknown"
        )
    with db.session() as sess:
        live = inventory_list(sess, owner_uid="uid-web")
        everything = inventory_list(sess, owner_namespace="shop", owner_name="web", include_deleted=True)
        in_hz = inventory_list(sess, kind="slb", region="cn-hangzhou")
    assert [r.resource_id for r in live] == ["lb-hz"]
    assert live[0].attributes == {"address": "10.0.0.1", "spec": "slb.s1.small", "ports": [80, 443]}
    assert live[0].created_at == s(0)
    assert {r.resource_id: r.deleted_at for r in everything} == {"lb-hz": None, "lb-sh": s(100)}
    assert sorted(r.resource_id for r in in_hz) == ["lb-hz", "lb-other"]

    with db.session() as sess:  # re-adopting a resource that was marked deleted revives it
        inventory_add(sess, _slb("lb-sh", "cn-shanghai"))
    with db.session() as sess:
        assert sorted(r.resource_id for r in inventory_list(sess, owner_uid="uid-web")) == ["lb-hz", "lb-sh"]


def _rec(value: str, line: str = "default", ttl: int = 60, weight: int | None = None) -> Record:
    return Record(name="www.example.com", rtype="A", line=line, value=value, ttl=ttl, weight=weight)


def test_published_records_replace_and_list_by_zone(db: Database) -> None:
    first = [_rec("1.1.1.1"), _rec("2.2.2.2"), _rec("1.1.1.1", line="telecom")]
    with db.session() as sess:
        r1 = replace_published_records(
            sess, "example.com", first, owner_app=APP, provider_ids={_rec("1.1.1.1").key: "rid-1"}, at=s(0)
        )
    assert (r1.added, r1.removed, r1.updated, r1.unchanged) == (3, 0, 0, 0)

    second = [_rec("1.1.1.1", ttl=30), _rec("3.3.3.3", line="telecom", weight=50), _rec("2.2.2.2")]
    with db.session() as sess:
        r2 = replace_published_records(sess, "example.com", second, owner_app=APP, at=s(10))
    assert (r2.added, r2.removed, r2.updated, r2.unchanged) == (1, 1, 1, 1)

    with db.session() as sess:
        got = list_published_records(sess, "example.com")
        by_app = list_published_records(sess, "example.com", owner_app=APP, name="www.example.com")
        other_zone = list_published_records(sess, "example.org")
    assert [p.record for p in got] == sorted(second, key=lambda r: (r.name, r.rtype, r.line, r.value))
    assert {p.record.value: p.provider_record_id for p in got if p.record.line == "default"} == {
        "1.1.1.1": "rid-1",
        "2.2.2.2": None,
    }
    assert {p.record.value: p.published_at for p in got} == {
        "1.1.1.1": s(10),
        "2.2.2.2": s(0),
        "3.3.3.3": s(10),
    }
    assert len(by_app) == 3
    assert other_zone == []


def test_replacing_one_apps_records_leaves_other_owners_alone(db: Database) -> None:
    other = app_key("shop", "api")
    api_rec = Record(name="api.example.com", rtype="A", line="default", value="9.9.9.9", ttl=60)
    with db.session() as sess:
        replace_published_records(sess, "example.com", [api_rec], owner_app=other, at=s(0))
        replace_published_records(sess, "example.com", [_rec("1.1.1.1")], owner_app=APP, at=s(0))
        replace_published_records(sess, "example.com", [], owner_app=APP, at=s(1))  # app deleted
    with db.session() as sess:
        assert [p.record for p in list_published_records(sess, "example.com")] == [api_rec]
    with db.session() as sess, pytest.raises(RecordOwnershipError, match="owned by shop/api"):
        replace_published_records(sess, "example.com", [api_rec], owner_app=APP, at=s(2))
    with db.session() as sess:  # the refused publish changed nothing
        assert [p.owner_app for p in list_published_records(sess, "example.com")] == [other]


def test_published_names_are_every_owners_records_of_those_names_only(db: Database) -> None:
    """What a claim check reads: the names asked for, whoever published them, nothing else."""
    other = app_key("shop", "api")
    marker = Record("_fedctl-owner.www.example.com", "TXT", "default", "heritage=fedctl,owner=shop/api", 600)
    api_rec = Record(name="api.example.com", rtype="A", line="default", value="9.9.9.9", ttl=60)
    with db.session() as sess:
        replace_published_records(sess, "example.com", [marker, api_rec], owner_app=other, at=s(0))
        replace_published_records(sess, "example.com", [_rec("1.1.1.1")], owner_app=APP, at=s(0))
        replace_published_records(sess, "example.org", [_rec("8.8.8.8")], owner_app=APP, at=s(0))
    names = ["www.example.com", "_fedctl-owner.www.example.com", "nothing.example.com"]
    with db.session() as sess:
        assert load_published_names(sess, "example.com", names) == [marker, _rec("1.1.1.1")]
        assert load_published_names(sess, "example.com", ["_fedctl-owner.api.example.com"]) == []
        assert load_published_names(sess, "example.com", []) == []


def test_zone_serial_moves_with_every_change_to_published_records_and_only_then(db: Database) -> None:
    with db.session() as sess:
        assert zone_serials(sess) == {}
        assert load_published_zone(sess, "example.com") == (0, [])
        replace_published_records(sess, "example.com", [_rec("1.1.1.1")], owner_app=APP, at=s(0))
    with db.session() as sess:
        replace_published_records(sess, "example.com", [_rec("1.1.1.1")], owner_app=APP, at=s(1))
        replace_published_records(sess, "example.org", [], owner_app=APP, at=s(1))  # nothing changed
    with db.session() as sess:
        assert zone_serials(sess) == {"example.com": 1}
        replace_published_records(sess, "example.com", [_rec("1.1.1.1", ttl=30)], owner_app=APP, at=s(2))
        replace_published_records(sess, "example.com", [], owner_app=APP, at=s(3))
    with db.session() as sess:
        assert zone_serials(sess) == {"example.com": 3}
        assert load_published_zone(sess, "example.com") == (3, [])
        replace_published_records(sess, "example.com", [_rec("2.2.2.2")], owner_app=APP, at=s(4))
    with db.session() as sess:
        assert load_published_zone(sess, "example.com") == (4, [_rec("2.2.2.2")])


def test_dns_change_log_by_app_and_time_newest_first(db: Database) -> None:
    old, new = _rec("1.1.1.1"), _rec("2.2.2.2", weight=50)
    changes = [
        DnsChangeData(
            "example.com",
            "www.example.com",
            "A",
            "default",
            "create",
            "created",
            s(0),
            new=describe(old),
            app=APP,
        ),
        DnsChangeData(
            "example.com",
            "www.example.com",
            "A",
            "telecom",
            "update",
            "region-unhealthy",
            s(60).astimezone(CST),
            old=describe(old),
            new=describe(new),
            app=APP,
        ),
        DnsChangeData(
            "example.com",
            "api.example.com",
            "A",
            "default",
            "delete",
            "removed",
            s(30),
            old="9.9.9.9 ttl=60",
            app=app_key("shop", "api"),
        ),
    ]
    with db.session() as sess:
        assert append_dns_changes(sess, changes) == 3
    with db.session() as sess:
        web = list_dns_changes(sess, app=APP)
        recent = list_dns_changes(sess, since=s(30))
        by_name = list_dns_changes(sess, zone="example.com", name="api.example.com")
        window = list_dns_changes(sess, since=s(0), until=s(60), limit=1)
    assert [(c.action, c.reason, c.at) for c in web] == [
        ("update", "region-unhealthy", s(60)),
        ("create", "created", s(0)),
    ]
    assert web[0].old == "1.1.1.1 ttl=60"
    assert web[0].new == "2.2.2.2 ttl=60 weight=50"
    assert [c.name for c in recent] == ["www.example.com", "api.example.com"]
    assert [c.action for c in by_name] == ["delete"]
    assert [c.at for c in window] == [s(30)]
    with db.session() as sess, pytest.raises(ValueError, match="action: 'upsert'"):
        append_dns_changes(sess, [DnsChangeData("example.com", "w", "A", "default", "upsert", "x", T0)])


def test_member_clusters_and_their_regions(db: Database) -> None:
    hz = MemberClusterData(
        "hz-1",
        "cn-hangzhou",
        reachable=True,
        last_seen=s(0),
        kubernetes_version="v1.30.2",
        node_count=3,
        ready_node_count=3,
        api_latency_ms=4.2,
    )
    with db.session() as sess:
        upsert_member_cluster(sess, hz)
        upsert_member_cluster(sess, MemberClusterData("sh-1", "cn-shanghai", reachable=False, last_seen=s(5)))
        upsert_member_cluster(
            sess,
            MemberClusterData(
                "hz-1",
                "cn-hangzhou",
                reachable=False,
                last_seen=s(60),
                kubernetes_version="v1.30.2",
                node_count=3,
                ready_node_count=1,
            ),
        )
    with db.session() as sess:
        clusters = list_member_clusters(sess)
        regions = list_regions(sess)
        only_hz = list_member_clusters(sess, region="cn-hangzhou")
    assert [(c.name, c.reachable, c.ready_node_count, c.last_seen) for c in clusters] == [
        ("hz-1", False, 1, s(60)),
        ("sh-1", False, None, s(5)),
    ]
    assert [(r.name, r.first_seen, r.last_seen) for r in regions] == [
        ("cn-hangzhou", s(0), s(60)),
        ("cn-shanghai", s(5), s(5)),
    ]
    assert [c.name for c in only_hz] == ["hz-1"]
    with db.session() as sess:  # a late, older observation does not move the region's last_seen back
        upsert_member_cluster(sess, MemberClusterData("hz-2", "cn-hangzhou", reachable=True, last_seen=s(1)))
        assert list_regions(sess)[0].last_seen == s(60)
    with db.session() as sess:
        assert delete_member_cluster(sess, "sh-1")
        assert not delete_member_cluster(sess, "sh-1")
    # The region a cluster names must exist: the foreign key is enforced on both engines.
    with pytest.raises(IntegrityError), db.session() as sess:
        sess.add(MemberClusterSeen(name="bj-1", region="cn-nowhere", reachable=True, last_seen=T0))


def test_prune_deletes_only_samples_older_than_retention(db: Database) -> None:
    now = T0 + timedelta(days=30)
    with db.session() as sess:
        record_health_samples(
            sess,
            [
                HealthSampleData("slb", "lb-1", "cn-hangzhou", ok=True, at=now - timedelta(days=15)),
                HealthSampleData("slb", "lb-1", "cn-hangzhou", ok=True, at=now - timedelta(days=13)),
            ],
        )
        record_latency_samples(
            sess,
            [
                LatencySampleData("telecom", "cn-hangzhou", 9.0, now - timedelta(days=20)),
                LatencySampleData("telecom", "cn-hangzhou", 9.0, now - timedelta(hours=1)),
            ],
        )
        record_transition(
            sess,
            TransitionData(
                "slb", "lb-1", "cn-hangzhou", "healthy", "unhealthy", "r", at=now - timedelta(days=29)
            ),
        )
    with db.session() as sess:
        result = prune(sess, retention_days=14, now=now)
    assert (result.health_samples, result.latency_samples) == (1, 1)
    assert result.cutoff == now - timedelta(days=14)
    with db.session() as sess:
        assert [x.at for x in sample_history(sess, "slb", "lb-1")] == [now - timedelta(days=13)]
        assert len(latency_matrix_samples(sess, since=T0)) == 1
        assert len(list_transitions(sess)) == 1  # history is kept
        with pytest.raises(ValueError, match="retention_days"):
            prune(sess, retention_days=0, now=now)


_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
_moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=_offsets)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=_moments)
def test_any_aware_datetime_round_trips_equal_and_in_utc(db: Database, moment: datetime) -> None:
    with db.session() as sess:
        record_health_sample(sess, HealthSampleData("cen", "cen-1", "cn-hangzhou", ok=True, at=moment))
    with db.session() as sess:
        got = sample_history(sess, "cen", "cen-1", limit=1)[0].at
        sess.execute(delete(HealthSample))
    assert got == moment
    assert got.tzinfo is UTC


def test_a_sweeps_write_stores_its_samples_states_and_transitions(db: Database) -> None:
    # a sweep's bulk path (COPY and a staged upsert on PostgreSQL, executemany on SQLite), read back
    # through the same queries as the single-row functions, times converted to UTC, text clipped
    from federation.store.health import HealthStateData, TransitionData, record_sweep

    n = 300  # above the size from which PostgreSQL stages the states
    ids = [f"sweep/app-{i}@cn-hangzhou" for i in range(n)]
    at = s(500).astimezone(CST)
    samples = [
        HealthSampleData("endpoint", t, "cn-hangzhou", i % 2 == 0, at, app=t.split("@")[0], detail="d" * 2000)
        for i, t in enumerate(ids)
    ]

    def states(state: str, reason: str) -> list[HealthStateData]:
        return [
            HealthStateData("endpoint", t, "cn-hangzhou", state, 0, 2, at, app=t.split("@")[0], reason=reason)
            for t in ids
        ]

    trs = [TransitionData("endpoint", t, "cn-hangzhou", "unknown", "healthy", "ok", at) for t in ids]
    with db.session() as sess:
        w = record_sweep(sess, samples, [*states("unknown", "first"), *states("healthy", "second")], trs)
    assert (w.samples, w.states, w.transitions) == (n, n, n)
    with db.session() as sess:  # a later sweep: the rows are updated, not added
        record_sweep(sess, [], states("unhealthy", "third"))
    with db.session() as sess:
        got = {st.target_id: st for st in latest_health(sess, app=None, target_kind="endpoint")}
        hist = sample_history(sess, "endpoint", ids[0])
        stored = list_transitions(sess, target_kind="endpoint", limit=1000)
    assert {st.state for st in got.values() if st.target_id in ids} == {"unhealthy"}
    assert got[ids[7]].reason == "third"
    assert got[ids[7]].since == s(500)
    assert [(x.ok, x.at) for x in hist] == [(True, s(500))]
    assert hist[0].detail is not None
    assert len(hist[0].detail) == 1024
    assert len([t for t in stored if t.target_id in ids]) == n
    with db.session() as sess, pytest.raises(ValueError, match="target_kind: 'router' is not one of"):
        record_sweep(sess, [HealthSampleData("router", "x", "cn-hangzhou", ok=True, at=T0)])
