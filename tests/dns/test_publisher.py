"""DnsPublisher end to end: embedded server, real queries, and the change log in the store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.asyncquery
import dns.edns
import dns.message
import pytest

from federation.dns.lines import LineClassifier
from federation.dns.providers.embedded import EmbeddedProvider
from federation.dns.publisher import AppIdentity, DnsPublisher
from federation.dns.server import DnsServer
from federation.dns.steering import RegionEndpoint
from federation.store.db import Database
from federation.store.dnslog import list_dns_changes
from federation.store.dnsstore import DatabaseDnsStore
from tests.dns.conftest import SUBNETS, spec

APP = AppIdentity("default", "shop", "uid-1")
ADDR = {"cn-hangzhou": "10.0.0.1", "us-west-1": "10.0.0.2", "eu-central-1": "10.0.0.3"}


def regions(**health: bool) -> list[RegionEndpoint]:
    return [
        RegionEndpoint(
            r,
            a,
            health.get(r.replace("-", "_"), True),
            1,
            "" if health.get(r.replace("-", "_"), True) else "probe failed",
        )
        for r, a in ADDR.items()
    ]


@pytest.fixture
async def setup(classifier: LineClassifier, db: Database) -> AsyncIterator[tuple[DnsPublisher, DnsServer]]:
    server = DnsServer(classifier)
    await server.start()
    yield DnsPublisher(EmbeddedProvider(server, zones=["example.com"]), store=DatabaseDnsStore(db)), server
    await server.stop()


async def resolve(server: DnsServer, line: str) -> set[str]:
    q = dns.message.make_query(
        "www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption.from_text(SUBNETS[line])]
    )
    assert server.address is not None
    msg = await dns.asyncquery.udp(q, server.address[0], port=server.address[1], timeout=2)
    return {rd.to_text() for rrset in msg.answer for rd in rrset}


async def test_publish_steer_fail_over_fail_open_and_log_every_change(
    setup: tuple[DnsPublisher, DnsServer], db: Database
) -> None:
    publisher, server = setup
    first = await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regions())
    assert first.ok
    assert first.reason == "Published"
    assert all(first.serving.values())
    assert "default" in first.records
    assert await resolve(server, "cn_telecom_zhejiang") == {"10.0.0.1"}
    assert await resolve(server, "os_namerica_us") == {"10.0.0.2"}

    again = await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regions())
    assert again.changes == []  # steady state: nothing to do

    failed = await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regions(cn_hangzhou=False))
    assert failed.serving["cn-hangzhou"] is False
    assert failed.reasons["cn-hangzhou"] == "unhealthy: probe failed"
    moved = await resolve(server, "cn_telecom_zhejiang")
    assert moved
    assert "10.0.0.1" not in moved

    everything_down = regions(cn_hangzhou=False, us_west_1=False, eu_central_1=False)
    open_ = await publisher.publish(APP, spec("Latency"), everything_down)
    assert open_.fail_open
    assert open_.reason == "FailOpen"
    assert await resolve(server, "os_namerica_us") == set(ADDR.values())

    log = db.call(list_dns_changes, app="default/shop", limit=500)
    reasons = {c.reason.split(":")[0] for c in log}
    assert {"created", "region-unhealthy", "fail-open"} <= reasons
    assert all(c.zone == "example.com" for c in log)


async def test_a_hostname_owned_by_another_app_is_a_conflict(setup: tuple[DnsPublisher, DnsServer]) -> None:
    publisher, server = setup
    assert (await publisher.publish(APP, spec("Weighted"), regions())).ok
    other = await publisher.publish(AppIdentity("default", "other"), spec("Weighted"), regions())
    assert not other.ok
    assert other.reason == "HostnameConflict"
    assert "owned by default/shop" in other.message
    assert await resolve(server, "os_namerica_us") == set(ADDR.values())  # untouched


async def test_delete_releases_the_names_and_logs_it(
    setup: tuple[DnsPublisher, DnsServer], db: Database
) -> None:
    publisher, server = setup
    await publisher.publish(APP, spec("Failover", failoverOrder=["us-west-1", "cn-hangzhou"]), regions())
    assert await resolve(server, "cn_telecom_zhejiang") == {"10.0.0.2"}
    assert await publisher.owned_names(APP, "example.com") == ["www.example.com"]
    gone = await publisher.delete(APP, "example.com")
    assert gone.ok
    assert await resolve(server, "cn_telecom_zhejiang") == set()
    assert await publisher.owned_names(APP, "example.com") == []
    assert "released" in {c.reason for c in db.call(list_dns_changes, app="default/shop")}


async def test_live_latency_samples_from_the_store_move_a_line(
    setup: tuple[DnsPublisher, DnsServer], db: Database
) -> None:
    from datetime import UTC, datetime

    from federation.store.latency import LatencySampleData, record_latency_samples

    publisher, server = setup
    first = await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regions())
    assert first.ok
    assert await resolve(server, "os_namerica_us") == {"10.0.0.2"}
    now = datetime.now(UTC)
    # Probes say the US clients are now far closer to Frankfurt than to Silicon Valley.
    db.call(
        record_latency_samples,
        [
            LatencySampleData("os_namerica", "eu-central-1", 3.0, now),
            LatencySampleData("os_namerica", "us-west-1", 90.0, now),
            LatencySampleData("os_namerica", "cn-hangzhou", 200.0, now),
        ],
    )
    assert await publisher.refresh_latency() == 3
    moved = await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regions())
    assert {c.reason for c in moved.changes} == {"latency-shift"}
    assert await resolve(server, "os_namerica_us") == {"10.0.0.3"}


async def test_publish_through_alidns_and_answer_from_its_dns(db: Database) -> None:
    """The same publisher on the alidns provider (the emulator): lines, failover, change log."""
    from federation.cloud.alibaba.alidns import AlidnsApi
    from federation.cloud.alibaba.client import AlibabaClient
    from federation.dns.providers.alidns import AlidnsProvider
    from federation.sandbox.aliyun import AliyunEmulator

    emu = AliyunEmulator(domains=["example.com"], edition="enterprise_standard", seed=5)
    await emu.start("127.0.0.1", 0)
    client = AlibabaClient(emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint)
    try:
        assert emu.dns_address is not None
        host, port = emu.dns_address
        publisher = DnsPublisher(AlidnsProvider(AlidnsApi(client)), store=DatabaseDnsStore(db))
        regs = [RegionEndpoint("cn-beijing", "10.0.0.1", True), RegionEndpoint("us-west-1", "10.0.0.2", True)]
        assert (await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regs)).ok

        async def ask(subnet: str) -> set[str]:
            q = dns.message.make_query(
                "www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption.from_text(subnet)]
            )
            msg = await dns.asyncquery.udp(q, host, port=port, timeout=2)
            return {rd.to_text() for rrset in msg.answer for rd in rrset}

        assert await ask("61.135.169.0/24") == {"10.0.0.1"}  # China Unicom Beijing
        assert await ask("8.8.8.0/24") == {"10.0.0.2"}  # a US network
        calls = sum(emu.call_counts().values())
        steady = await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regs)
        assert steady.changes == []
        assert sum(emu.call_counts().values()) == calls  # steady state: no API call at all
        regs[0] = RegionEndpoint("cn-beijing", "10.0.0.1", False, 1, "probe failed")
        failed = await publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regs)
        assert failed.serving == {"cn-beijing": False, "us-west-1": True}
        assert await ask("61.135.169.0/24") == {"10.0.0.2"}
        reasons = {c.reason for c in db.call(list_dns_changes, app="default/shop")}
        assert "region-unhealthy: probe failed" in reasons  # the health reason reaches the change log
    finally:
        await client.close()
        await emu.stop()


async def test_an_unknown_line_is_reported_as_unknown_line(setup: tuple[DnsPublisher, DnsServer]) -> None:
    publisher, server = setup
    geo = spec("Geo", lines=[{"line": "mars_colony", "regions": ["cn-hangzhou"]}])
    result = await publisher.publish(APP, geo, regions())
    assert not result.ok
    assert result.reason == "UnknownLine"
    assert "mars_colony" in result.message
    assert result.records  # the rest is still published: the name keeps answering
    known = spec("Geo", lines=[{"line": "cn_telecom_zhejiang", "regions": ["cn-hangzhou"]}])
    fixed = await publisher.publish(APP, known, regions())
    assert fixed.ok
    assert fixed.reason == "Published"
    assert await resolve(server, "cn_telecom_zhejiang") == {"10.0.0.1"}


async def test_a_drain_and_a_recovery_are_the_reason_of_every_change_they_bring(
    setup: tuple[DnsPublisher, DnsServer], db: Database
) -> None:
    """Lines that start or stop differing from their parent because a region failed or came back
    (their own values naming only healthy regions) are logged with that cause, not latency-shift."""
    publisher, _server = setup
    assert (await publisher.publish(APP, spec("Latency"), regions())).ok
    drained = await publisher.publish(APP, spec("Latency"), regions(cn_hangzhou=False))
    assert drained.changes
    assert {c.reason for c in drained.changes} == {"region-unhealthy: probe failed"}
    back = await publisher.publish(APP, spec("Latency"), regions())
    assert back.changes
    assert {c.reason for c in back.changes} == {"region-recovered"}
    logged = {c.reason for c in db.call(list_dns_changes, app="default/shop")}
    assert "latency-shift" not in logged
