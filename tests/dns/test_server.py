"""The embedded authoritative server over real sockets: dnspython and the real dig."""

from __future__ import annotations

import asyncio
import contextlib
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


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.sampled_from(["198.51.100", "203.0.113", "192.0.2", "198.18.7", "100.64.1"]),
    last=st.integers(0, 255),
    srclen=st.integers(1, 32),
    name=st.sampled_from(["www.example.com", "WwW.Example.COM", "alias.example.com", "nope.example.com"]),
    tcp=st.booleans(),
)
def test_ecs_answers_from_the_rendered_cache_equal_a_fresh_answer(
    classifier: LineClassifier, first: str, last: int, srclen: int, name: str, tcp: bool
) -> None:
    """Resolvers send each client's subnet: after one answer per question and line, others of the
    same line come from the rendered answer with their own address patched in, byte for byte what
    a server answering it for the first time sends."""
    warm = DnsServer(classifier)
    warm.set_zone("example.com", ZONE_RECORDS)
    # a neighbour /24 of the same first octets warms the cache for the line
    warm.handle(
        dns.message.make_query(
            name, "A", use_edns=0, options=[dns.edns.ECSOption(f"{first}.{(last + 1) % 256}", srclen)]
        ).to_wire(),
        "127.0.0.1",
        tcp=tcp,
    )
    query = dns.message.make_query(
        name, "A", use_edns=0, options=[dns.edns.ECSOption(f"{first}.{last}", srclen)]
    ).to_wire()
    fresh = DnsServer(classifier)
    fresh.set_zone("example.com", ZONE_RECORDS)
    assert warm.handle(query, "127.0.0.1", tcp=tcp) == fresh.handle(query, "127.0.0.1", tcp=tcp)
    neighbour = classifier.classify(f"{first}.{(last + 1) % 256}", srclen)
    if neighbour == classifier.classify(f"{first}.{last}", srclen):
        assert warm.stats["cached"] == 1  # answered from the neighbour's rendered answer


async def test_worker_processes_answer_on_the_same_port_and_follow_every_change() -> None:
    from federation.dns.workers import WorkerPool

    server = DnsServer(LineClassifier.default())
    pool = WorkerPool(server, 2)
    server.set_zone("example.com", [R("www.example.com", "A", "default", "10.7.0.1", 60)])
    address = await server.start("127.0.0.1", 0, reuse_port=True)
    await pool.start(*address)
    try:
        # a worker takes queries only once it holds the zones: never a REFUSED at the start
        first = dns.message.make_query("www.example.com", "A")
        for _ in range(40):
            got = await dns.asyncquery.udp(first, address[0], port=address[1], timeout=2)
            assert values(got) == {"10.7.0.1"}
        server.replace_names(
            "example.com", ["www.example.com"], [R("www.example.com", "A", "default", "10.7.0.2", 60)]
        )
        server.set_zone("example.org", [R("api.example.org", "A", "default", "10.8.0.1", 60)])

        async def answers(name: str) -> Counter[str]:
            # many source ports: the kernel spreads them over the server and both workers
            seen: Counter[str] = Counter()
            for _ in range(40):
                q = dns.message.make_query(name, "A")
                for attempt in range(20):
                    r = await dns.asyncquery.udp(q, address[0], port=address[1], timeout=2)
                    got = values(r)
                    if got or attempt == 19:
                        break
                    await asyncio.sleep(0.1)  # a worker still applying the change
                seen.update(got or {"(none)"})
            return seen

        async def settled(name: str, want: Counter[str]) -> Counter[str]:
            # a worker applies a change a moment after the server (it is pushed, in order): wait for
            # every process to answer the new records, within a bound
            for _ in range(50):
                got = await answers(name)
                if got == want:
                    break
                await asyncio.sleep(0.1)
            return got

        assert await settled("www.example.com", Counter({"10.7.0.2": 40})) == Counter({"10.7.0.2": 40})
        assert await settled("api.example.org", Counter({"10.8.0.1": 40})) == Counter({"10.8.0.1": 40})
        server.remove_zone("example.org")

        async def rcodes() -> Counter[int]:
            q = dns.message.make_query("api.example.org", "A")
            return Counter(
                [
                    (await dns.asyncquery.udp(q, address[0], port=address[1], timeout=2)).rcode()
                    for _ in range(30)
                ]
            )

        for _ in range(50):  # every process refuses the removed zone once it has applied the change
            refused = await rcodes()
            if refused == Counter({dns.rcode.REFUSED: 30}):
                break
            await asyncio.sleep(0.1)
        assert refused == Counter({dns.rcode.REFUSED: 30})
        # the workers' answers are counted where the metrics read them, within a report interval
        for _ in range(50):
            if sum(server.query_counts.values()) >= 110:
                break
            await asyncio.sleep(0.1)
        assert sum(server.query_counts.values()) >= 110
    finally:
        await pool.stop()
        await server.stop()


async def test_a_udp_thread_answers_byte_for_byte_as_the_loop_and_stops(classifier: LineClassifier) -> None:
    """``fedctl dns serve`` and the worker processes answer UDP from a thread blocked in recvfrom."""
    threaded = DnsServer(classifier)
    threaded.set_zone("example.com", ZONE_RECORDS)
    reference = DnsServer(classifier)
    reference.set_zone("example.com", ZONE_RECORDS)
    await threaded.start("127.0.0.1", 0, udp_thread=True)
    try:
        assert values(await ask(threaded, "www.example.com", subnet="198.51.100.0/24")) == {"10.0.0.2"}
        for q in (
            dns.message.make_query("WWW.example.com", "A", use_edns=0),
            dns.message.make_query("big.example.com", "TXT", use_edns=False),  # truncated
            dns.message.make_query("nope.example.com", "A"),
            dns.message.make_query(
                "alias.example.com", "A", use_edns=0, options=[dns.edns.ECSOption("192.0.2.0", 24)]
            ),
        ):
            got = await _raw_udp(threaded, q.to_wire())
            assert got == reference.handle(q.to_wire(), "127.0.0.1", tcp=False)
        assert await _raw_udp(threaded, b"\x01\x02") is None  # dropped, and the thread lives on
        assert values(await ask(threaded, "www.example.com", tcp=True)) == {"10.0.0.1"}
        thread = threaded._udp_thread
        assert thread is not None
        assert thread.is_alive()
    finally:
        await threaded.stop()
    assert not thread.is_alive()


async def test_the_loop_reads_a_socket_shared_with_a_blocking_reader_without_stalling(
    server: DnsServer,
) -> None:
    """Worker processes block in recvfrom on the server's own socket (blocking is the socket's, so
    it is blocking for the server too): the event loop must never block on a datagram another
    reader took first."""
    sock = server.share_udp()
    assert sock is not None
    other = DnsServer(server.classifier)
    other.set_zone("example.com", ZONE_RECORDS)
    other.serve_udp(sock, thread=True)  # the second reader, as a worker process is
    try:
        answers = [await ask(server, "www.example.com", subnet="198.51.100.0/24") for _ in range(60)]
        assert all(values(a) == {"10.0.0.2"} for a in answers)
        # the loop kept answering TCP all along; every datagram was answered by one of the two
        assert values(await ask(server, "www.example.com", tcp=True)) == {"10.0.0.1"}
        assert sum(server.query_counts.values()) + sum(other.query_counts.values()) >= 61
    finally:
        other._udp = None
        asyncio.get_running_loop().remove_reader(sock.fileno())
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        assert other._udp_thread is not None
        await asyncio.to_thread(other._udp_thread.join, 5)


def _spelled(name: str, upper: list[bool]) -> str:
    return "".join(c.upper() if i < len(upper) and upper[i] else c for i, c in enumerate(name))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(
        [
            "www.example.com",
            "alias.example.com",
            "out.example.com",
            "nope.example.com",
            "deep.example.com",
            "a.b.deep.example.com",
            "example.com",
            "big.example.com",
            "txt.example.com",
            "www.example.org",
        ]
    ),
    rtype=st.sampled_from(["A", "AAAA", "TXT", "CNAME", "SOA", "NS", "MX", "ANY"]),
    first=st.lists(st.booleans(), max_size=20),
    second=st.lists(st.booleans(), max_size=20),
    payload=st.one_of(st.none(), st.integers(512, 4096)),
    subnet=st.one_of(
        st.none(),
        st.tuples(st.sampled_from(["198.51.100", "203.0.113", "192.0.2", "198.18.7"]), st.integers(1, 32)),
    ),
    tcp=st.booleans(),
    ids=st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    hosts=st.tuples(st.integers(0, 255), st.integers(0, 255)),
)
def test_a_question_in_another_case_is_answered_from_the_cache_byte_for_byte(
    classifier: LineClassifier,
    name: str,
    rtype: str,
    first: list[bool],
    second: list[bool],
    payload: int | None,
    subnet: tuple[str, int] | None,
    tcp: bool,
    ids: tuple[int, int],
    hosts: tuple[int, int],
) -> None:
    """Resolvers randomise the case of the names they ask (0x20): after one spelling of a question,
    every other spelling is answered from the cached response with its own spelling echoed, byte
    for byte what a server that never saw the question answers (with ECS, also for another client
    subnet of the same line and scope)."""

    def query(spelling: str, qid: int, host: int) -> bytes:
        options: list[dns.edns.Option] | None = (
            [dns.edns.ECSOption(f"{subnet[0]}.{host}", subnet[1])] if subnet else None
        )
        q = dns.message.make_query(
            spelling,
            rtype,
            use_edns=0 if payload or subnet else False,
            payload=payload or 1232,
            options=options,
        )
        q.id = qid
        return q.to_wire()

    # dnspython shuffles a set's records as it renders them: both renders draw the same order
    warm = DnsServer(classifier)
    warm.set_zone("example.com", ZONE_RECORDS)
    random.seed(15)
    warm.handle(query(_spelled(name, first), ids[0], hosts[0]), "127.0.0.1", tcp=tcp)
    asked = query(_spelled(name, second), ids[1], hosts[1])
    fresh = DnsServer(classifier)
    fresh.set_zone("example.com", ZONE_RECORDS)
    random.seed(15)
    want = fresh.handle(asked, "127.0.0.1", tcp=tcp)
    assert want is not None
    assert warm.handle(asked, "127.0.0.1", tcp=tcp) == want
    if subnet is None or classifier.classify(f"{subnet[0]}.{hosts[0]}", subnet[1]) == classifier.classify(
        f"{subnet[0]}.{hosts[1]}", subnet[1]
    ):
        assert warm.stats["cached"] == 1  # each of these answers echoes its question: all cacheable


def test_a_change_of_some_names_keeps_the_other_names_cached_answers(classifier: LineClassifier) -> None:
    """A publish replaces a few apps' names: the answers of every other name stay cached (no render
    of every name and line after each publish); the changed names and every negative answer (its
    SOA carries the new serial) are answered afresh."""
    server = DnsServer(classifier)
    server.set_zone("example.com", ZONE_RECORDS)

    def ask_(name: str, rtype: str = "A") -> dns.message.Message:
        out = server.handle(dns.message.make_query(name, rtype).to_wire(), "127.0.0.1", tcp=False)
        assert out is not None
        return dns.message.from_wire(out)

    for name in ("txt.example.com", "www.example.com", "alias.example.com", "nope.example.com"):
        ask_(name, "TXT" if name.startswith("txt") else "A")
    serial = ask_("nope.example.com").authority[0][0].serial
    cached = server.stats["cached"]
    server.replace_names(
        "example.com", ["www.example.com"], [R("www.example.com", "A", "default", "10.9.9.9", 60)]
    )
    assert values(ask_("txt.example.com", "TXT")) == {'"hello world"'}
    assert server.stats["cached"] == cached + 1  # untouched name: from the cache
    assert values(ask_("www.example.com")) == {"10.9.9.9"}
    assert values(ask_("alias.example.com")) == {"www.example.com.", "10.9.9.9"}  # its CNAME target changed
    nx = ask_("nope.example.com")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.authority[0][0].serial == serial + 1
    assert server.stats["cached"] == cached + 1


_NAMES = [
    "www.example.com",
    "alias.example.com",
    "out.example.com",
    "new.example.com",
    "b.deep.example.com",
    "a.b.deep.example.com",
    "example.com",
    "txt.example.com",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.lists(
        st.tuples(
            st.sampled_from(_NAMES[:5]),
            st.lists(st.sampled_from(["10.5.0.1", "10.5.0.2", "10.5.0.3"]), max_size=3, unique=True),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_answers_after_changes_are_byte_for_byte_a_fresh_servers(
    classifier: LineClassifier, changes: list[tuple[str, list[str]]]
) -> None:
    """Whatever was cached before, every answer after each of a sequence of name changes is the one
    a server that only saw the changes (never a query) gives."""
    warm = DnsServer(classifier)
    warm.set_zone("example.com", ZONE_RECORDS)
    done: list[tuple[str, list[Record]]] = []
    for step in range(len(changes) + 1):
        fresh = DnsServer(classifier)
        fresh.set_zone("example.com", ZONE_RECORDS)
        for changed, records in done:
            fresh.replace_names("example.com", [changed], records)
        for name in _NAMES:
            for rtype in ("A", "CNAME", "TXT", "SOA", "ANY"):
                wire = dns.message.make_query(name, rtype).to_wire()
                random.seed(15)  # dnspython shuffles a set's records as it renders them: same order
                want = fresh.handle(wire, "127.0.0.1", tcp=False)
                random.seed(15)
                assert warm.handle(wire, "127.0.0.1", tcp=False) == want, (name, rtype, done)
        if step < len(changes):
            name, addresses = changes[step]
            records = [R(name, "A", "default", v, 60) for v in addresses]
            warm.replace_names("example.com", [name], records)
            done.append((name, records))
