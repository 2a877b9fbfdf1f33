"""The emulator's alidns records answered over real DNS (UDP and TCP) by the shared DNS server,
line chosen from the client address or its EDNS Client Subnet."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.edns
import dns.message
import dns.rcode
import pytest

from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.dns.lines import LineClassifier, default_catalogue
from federation.sandbox.aliyun import AliyunEmulator

TELECOM_NET = "198.51.100.0/24"


@pytest.fixture
async def dns_emu() -> AsyncIterator[AliyunEmulator]:
    classifier = LineClassifier(default_catalogue(), entries=[(ipaddress.ip_network(TELECOM_NET), "telecom")])
    e = AliyunEmulator(domains=["example.com"], classifier=classifier)
    await e.start("127.0.0.1", 0, dns_port=0)
    yield e
    await e.stop()


async def _ask(
    emu: AliyunEmulator, name: str, *, ecs: str | None = None, tcp: bool = False
) -> dns.message.Message:
    options: list[dns.edns.Option] = [dns.edns.ECSOption(ecs, 24)] if ecs else []
    q = dns.message.make_query(name, "A", use_edns=0, options=options)
    host, port = emu.dns_address or ("", 0)
    if tcp:
        return await dns.asyncquery.tcp(q, host, port=port, timeout=3)
    return await dns.asyncquery.udp(q, host, port=port, timeout=3)


def _values(msg: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in msg.answer for rd in rrset}


async def test_records_are_answered_per_line(dns_emu: AliyunEmulator) -> None:
    client = AlibabaClient(
        dns_emu.access_key_id, dns_emu.access_key_secret, "cn-hangzhou", endpoint=dns_emu.endpoint
    )
    try:
        api = AlidnsApi(client)
        default_id = await api.add_domain_record("example.com", "www", "A", "192.0.2.1", ttl=60)
        await api.add_domain_record("example.com", "www", "A", "192.0.2.2", ttl=60, line="telecom")
        answer = await _ask(dns_emu, "www.example.com")
        assert _values(answer) == {"192.0.2.1"}
        assert answer.answer[0].ttl == 60
        assert _values(await _ask(dns_emu, "www.example.com", ecs="198.51.100.0")) == {"192.0.2.2"}
        assert _values(await _ask(dns_emu, "www.example.com", tcp=True)) == {"192.0.2.1"}

        # a disabled record is not served; changes are visible at once
        await api.set_domain_record_status(default_id, False)
        assert _values(await _ask(dns_emu, "www.example.com")) == set()
        await api.set_domain_record_status(default_id, True)
        await api.update_domain_record(default_id, "www", "A", "192.0.2.9", ttl=60)
        assert _values(await _ask(dns_emu, "www.example.com")) == {"192.0.2.9"}
        await api.delete_domain_record(default_id)
        gone = await _ask(dns_emu, "api.example.com")
        assert gone.rcode() == dns.rcode.NXDOMAIN
    finally:
        await client.close()
