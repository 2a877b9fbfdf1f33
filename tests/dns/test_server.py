"""The embedded authoritative server over real sockets: dnspython and the real dig."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import struct
from collections import Counter

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.dns.lines import LineClassifier
from federation.dns.records import Record
from federation.dns.server import DnsServer

R = Record
ZONE_RECORDS = [
    R("www.example.com", "A", "default", "10.0.0.1", 60),
    R("www.example.com", "A", "telecom", "10.0.0.2", 60),  # cn_telecom_zhejiang falls back to telecom
    R("www.example.com", "A", "os_namerica", "10.0.0.3", 60),
    R("www.example.com", "AAAA", "default", "2001:db8::1", 60),
    R("alias.example.com", "CNAME", "default", "www.example.com", 60),
    R("out.example.com", "CNAME", "default", "elsewhere.example.net", 60),
    R("txt.example.com", "TXT", "default", "hello world", 60),
    R("a.b.deep.example.com", "A", "default", "10.0.0.9", 60),
    *[R("big.example.com", "TXT", "default", f"{i:03d}" + "x" * 200, 60) for i in range(4)],
]


async def ask(
    server: DnsServer,
    name: str,
    rtype: str = "A",
    *,
    subnet: str | None = None,
    tcp: bool = False,
    edns: bool = True,
    payload: int = 1232,
) -> dns.message.Message:
    q = dns.message.make_query(
        name,
        rtype,
        use_edns=0 if edns else False,
        payload=payload,
        options=[dns.edns.ECSOption.from_text(subnet)] if subnet else None,
    )
    assert server.address is not None
    host, port = server.address
    if tcp:
        return await dns.asyncquery.tcp(q, host, port=port, timeout=2)
    return await dns.asyncquery.udp(q, host, port=port, timeout=2)


def values(msg: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in msg.answer for rd in rrset}


@pytest.fixture
async def server(dns_server: DnsServer) -> DnsServer:
    dns_server.set_zone("example.com", ZONE_RECORDS)
    return dns_server


async def test_each_client_subnet_gets_its_lines_answer_with_the_scope(server: DnsServer) -> None:
    telecom = await ask(server, "www.example.com", subnet="198.51.100.0/24")
    assert values(telecom) == {"10.0.0.2"}
    ecs = next(o for o in telecom.options if isinstance(o, dns.edns.ECSOption))
    assert (ecs.srclen, ecs.scopelen) == (24, 24)
    assert values(await ask(server, "www.example.com", subnet="192.0.2.0/24")) == {"10.0.0.3"}
    germany = await ask(server, "www.example.com", subnet="198.18.5.0/24")
    assert values(germany) == {"10.0.0.1"}  # os_euro_de has no records: falls back to default
    # without ECS the packet's source (127.0.0.1, in no line) decides
    plain = await ask(server, "www.example.com")
    assert values(plain) == {"10.0.0.1"}
    assert plain.flags & dns.flags.AA


async def test_nxdomain_nodata_refused_and_the_soa(server: DnsServer) -> None:
    nx = await ask(server, "nope.example.com")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.authority[0].rdtype == dns.rdatatype.SOA
    nodata = await ask(server, "www.example.com", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    ent = await ask(server, "deep.example.com")  # empty non-terminal: exists, no data
    assert (ent.rcode(), ent.answer) == (dns.rcode.NOERROR, [])
    refused = await ask(server, "www.example.org")
    assert refused.rcode() == dns.rcode.REFUSED
    assert not refused.flags & dns.flags.AA
    for rtype in ("SOA", "NS"):
        assert (await ask(server, "example.com", rtype)).answer[0].rdtype == dns.rdatatype.from_text(rtype)
    assert values(await ask(server, "txt.example.com", "TXT")) == {'"hello world"'}
    assert values(await ask(server, "www.example.com", "AAAA")) == {"2001:db8::1"}


async def test_cname_is_chased_inside_the_zone_only(server: DnsServer) -> None:
    chased = await ask(server, "alias.example.com", subnet="198.51.100.0/24")
    assert [r.rdtype for r in chased.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert values(chased) == {"www.example.com.", "10.0.0.2"}
    outside = await ask(server, "out.example.com")
    assert values(outside) == {"elsewhere.example.net."}


async def test_large_answers_truncate_over_udp_and_come_whole_over_tcp(server: DnsServer) -> None:
    small = await ask(server, "big.example.com", "TXT", edns=False)
    assert small.flags & dns.flags.TC
    assert not small.answer
    whole = await ask(server, "big.example.com", "TXT", tcp=True)
    assert len(values(whole)) == 4
    assert not whole.flags & dns.flags.TC
    edns_big = await ask(server, "big.example.com", "TXT", payload=4096)  # fits the advertised size
    assert len(values(edns_big)) == 4


async def test_weighted_sets_answer_one_record_drawn_by_weight(classifier: LineClassifier) -> None:
    server = DnsServer(classifier, rng=random.Random(7))
    server.set_zone(
        "example.com",
        [
            R("w.example.com", "A", "default", "10.0.0.1", 60, 3),
            R("w.example.com", "A", "default", "10.0.0.2", 60, 1),
        ],
    )
    await server.start()
    try:
        seen: Counter[str] = Counter()
        for _ in range(400):
            (v,) = values(await ask(server, "w.example.com"))
            seen[v] += 1
        assert 0.65 < seen["10.0.0.1"] / 400 < 0.85  # 3:1
    finally:
        await server.stop()


async def test_zone_swaps_are_atomic_under_load(server: DnsServer) -> None:
    old = [R("www.example.com", "A", "default", f"10.1.0.{i}", 60) for i in range(1, 4)]
    new = [R("www.example.com", "A", "default", f"10.2.0.{i}", 60) for i in range(1, 4)]
    stop = asyncio.Event()

    async def flip() -> None:
        while not stop.is_set():
            server.set_zone("example.com", old)
            await asyncio.sleep(0)
            server.set_zone("example.com", new)
            await asyncio.sleep(0)

    task = asyncio.create_task(flip())
    try:
        for _ in range(150):
            got = values(await ask(server, "www.example.com"))
            assert got in ({r.value for r in old}, {r.value for r in new})
    finally:
        stop.set()
        await task


async def _raw_udp(server: DnsServer, payload: bytes) -> bytes | None:
    assert server.address is not None
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, server.address)
        await loop.sock_sendall(sock, payload)
        return await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.3)
    except TimeoutError:
        return None
    finally:
        sock.close()


async def test_malformed_packets_get_formerr_or_silence_and_the_server_lives(server: DnsServer) -> None:
    good = dns.message.make_query("www.example.com", "A")
    wire = good.to_wire()
    formerr = await _raw_udp(server, wire[:12] + b"\x07garbage")
    assert formerr is not None
    assert formerr[:2] == wire[:2]
    assert formerr[3] & 0x0F == dns.rcode.FORMERR
    assert await _raw_udp(server, b"\x01\x02") is None  # shorter than a header: dropped
    response_bit = bytes([wire[0], wire[1], wire[2] | 0x80]) + wire[3:]
    assert await _raw_udp(server, response_bit) is None  # never answer a response
    badvers = dns.message.make_query("www.example.com", "A", use_edns=1)
    got = dns.message.from_wire(await _raw_udp(server, badvers.to_wire()) or b"")
    assert got.rcode() == dns.rcode.BADVERS
    # TCP: a garbage frame, then a good query on a new connection
    assert server.address is not None
    _reader, writer = await asyncio.open_connection(*server.address)
    writer.write(struct.pack("!H", 5) + b"\xff" * 5)
    await writer.drain()
    writer.close()
    assert values(await ask(server, "www.example.com", tcp=True)) == {"10.0.0.1"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(min_size=0, max_size=300))
def test_random_bytes_never_break_the_handler(classifier: LineClassifier, junk: bytes) -> None:
    server = DnsServer(classifier)
    server.set_zone("example.com", ZONE_RECORDS)
    out = server.handle(junk, "127.0.0.1", tcp=False)
    assert out is None or len(out) >= 12
    ok = server.handle(dns.message.make_query("www.example.com", "A").to_wire(), "127.0.0.1", tcp=False)
    assert ok is not None
    assert values(dns.message.from_wire(ok)) == {"10.0.0.1"}


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
async def test_dig_from_different_subnets_gets_different_regions(server: DnsServer) -> None:
    assert server.address is not None
    host, port = server.address

    async def dig(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "dig",
            f"@{host}",
            "-p",
            str(port),
            "+short",
            "+time=2",
            "+tries=1",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err
        return out.decode().strip()

    assert await dig("+subnet=198.51.100.0/24", "www.example.com") == "10.0.0.2"
    assert await dig("+subnet=192.0.2.0/24", "www.example.com") == "10.0.0.3"
    assert await dig("+subnet=198.18.0.0/24", "www.example.com") == "10.0.0.1"
    # dig retries over TCP by itself on TC
    assert len((await dig("+noedns", "big.example.com", "TXT")).splitlines()) == 4
