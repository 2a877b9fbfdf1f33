"""The embedded authoritative DNS server: line-aware answers over UDP and TCP, on dnspython.

One server serves any number of zones, each an immutable :class:`_Zone` built from
:class:`~federation.dns.records.Record` s and swapped in with one assignment (``set_zone``), so a
query sees either the old record set or the new one, never a mix.

Answer selection (CONTRACT.md): the client's line chain comes from its EDNS Client Subnet when the
query carries one (RFC 7871), else from the packet's source address; for (name, type) the answer is
the records of the first line in the chain that has records for that name and type, or a CNAME at
that line (then chased inside the zone). Weighted sets (any record with a weight) answer ONE record
per response, drawn at random in proportion to the weights, as alidns's weighted round robin does;
unweighted sets answer all their records. The random source is injectable (``rng``) so tests can
seed it.

Wire behaviour: AA on every authoritative answer; NXDOMAIN (name absent) vs NODATA (name exists,
type absent; empty non-terminals exist) with the zone's SOA in the authority section (RFC 2308
section 3) and its TTL capped by the SOA minimum; REFUSED for names outside every served zone;
EDNS0 answered with version 0 and BADVERS for higher versions (RFC 6891 section 6.1.3); the ECS
option echoed with SCOPE PREFIX-LENGTH = the classifier's matched prefix (RFC 7871 section 7.2.1);
UDP responses larger than 512 bytes (no EDNS) or the client's advertised payload are sent empty with
TC so the client retries over TCP (RFC 1035 section 4.2.1, RFC 7766); TCP carries 2-byte length
framed messages, several per connection. Malformed input is answered FORMERR when its header is
readable and dropped otherwise; no packet can stop the server.

Before its records are loaded (a replica that serves what the leader published and has not read it
yet: ``loaded`` False), every question is answered SERVFAIL: a resolver then asks another of the
zone's servers at once and caches the failure briefly at most (RFC 2308 section 7.1), where REFUSED
would mark this server lame for the zone and NXDOMAIN/NODATA would be cached as the truth for the
SOA minimum.

Repeated questions are answered from a response cache keyed by the query's bytes after its ID (the
question's name in lower case), the transport and the source's line (weighted answers are never
cached). A change of some names (``replace_names``, what a publish does) drops the answers made from
those names' records and every negative answer; any other change empties it.
Wildcards and DNSSEC are not supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from federation.dns.lines import Classification, LineClassifier
from federation.dns.records import Record

log = logging.getLogger(__name__)

MAX_UDP_PAYLOAD = 4096  # the largest UDP answer we send, whatever the client advertises
OUR_PAYLOAD = 1232  # advertised in our OPT record (DNS flag day 2020 recommendation)
TCP_IDLE_TIMEOUT = 10.0
UDP_BATCH = 64  # datagrams read per wake-up of the event loop (a loaded server answers in bursts)
_DONTWAIT = socket.MSG_DONTWAIT  # the loop's reads and writes never block (see share_udp)
_RCODE_TEXT = {int(r): r.name for r in dns.rcode.Rcode if int(r) < 16}
CACHE_SIZE = 50_000  # cached responses (and source classifications) before the cache starts over
MAX_CNAME_CHAIN = 8
SUPPORTED_TYPES = {"A", "AAAA", "CNAME", "TXT", "SOA", "NS"}


def _norm(name: str) -> str:
    return name.lower().rstrip(".")


def _rdata_text(rtype: str, value: str) -> str:
    if rtype == "TXT" and not value.startswith('"'):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if rtype in ("CNAME", "NS") and not value.endswith("."):
        return value + "."
    return value


@dataclass(frozen=True, slots=True)
class _Answer:
    """Precomputed answer for one (name, type, line): the whole RRset and, if weighted, one RRset
    per record with the cumulative weights to draw from."""

    rrset: dns.rrset.RRset
    singles: tuple[dns.rrset.RRset, ...] = ()
    cumulative: tuple[int, ...] = ()


@dataclass(slots=True)
class _Zone:
    origin: str
    serial: int
    answers: dict[tuple[str, str], dict[str, _Answer]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    soa: dns.rrset.RRset | None = None
    neg_ttl: int = 60
    synthetic: bool = False  # SOA/NS made up by the server (rebuilt with each serial)


def _answer_for(name: str, rtype: str, line: str, recs: list[Record]) -> _Answer:
    dname = dns.name.from_text(name)
    ttl = min(r.ttl for r in recs)
    try:
        rrset = dns.rrset.from_text(dname, ttl, "IN", rtype, *[_rdata_text(rtype, r.value) for r in recs])
    except dns.exception.DNSException as exc:
        raise ValueError(f"record {name} {rtype} line {line}: bad value: {exc}") from None
    if any(r.weight is not None for r in recs) and len(recs) > 1:
        singles = tuple(
            dns.rrset.from_text(dname, ttl, "IN", rtype, _rdata_text(rtype, r.value)) for r in recs
        )
        cum: list[int] = []
        total = 0
        for r in recs:
            total += max(r.weight if r.weight is not None else 1, 0)
            cum.append(total)
        if total > 0:
            return _Answer(rrset, singles, tuple(cum))
    return _Answer(rrset)


def _with_ancestors(names: set[str], name: str, origin: str) -> None:
    # Every owner name and its ancestors inside the zone exist (empty non-terminals answer NODATA).
    n = name
    while n not in names:
        names.add(n)
        if n == origin or "." not in n:
            break
        n = n.split(".", 1)[1]


def _build_zone(
    zone: str,
    records: Iterable[Record],
    serial: int,
    soa_ttl: int,
    *,
    base: _Zone | None = None,
    replaced: Iterable[str] = (),
) -> _Zone:
    """A zone from ``records``; with ``base``, the base zone whose ``replaced`` names get ``records``."""
    origin = _norm(zone)
    z = _Zone(origin=origin, serial=serial)
    gone = {_norm(n) for n in replaced}
    if base is not None:
        synthetic = {(origin, "SOA"), (origin, "NS")} if base.synthetic else set()
        z.answers = {k: v for k, v in base.answers.items() if k[0] not in gone and k not in synthetic}
    grouped: dict[tuple[str, str, str], list[Record]] = {}
    for rec in records:
        name = _norm(rec.name)
        if name != origin and not name.endswith("." + origin):
            raise ValueError(f"record {rec.name} {rec.rtype}: name is outside zone {origin}")
        if base is not None and name not in gone:
            raise ValueError(f"record {rec.name} {rec.rtype}: name is not among the replaced names")
        rtype = rec.rtype.upper()
        if rtype not in SUPPORTED_TYPES:
            raise ValueError(
                f"record {rec.name} {rec.rtype}: type not served (one of {sorted(SUPPORTED_TYPES)})"
            )
        grouped.setdefault((name, rtype, rec.line), []).append(rec)
    for (name, rtype, line), recs in grouped.items():
        z.answers.setdefault((name, rtype), {})[line] = _answer_for(name, rtype, line, recs)
    if (origin, "SOA") not in z.answers or (origin, "NS") not in z.answers:
        z.synthetic = True
    if (origin, "SOA") not in z.answers:
        soa_value = f"ns1.{origin}. hostmaster.{origin}. {serial} 3600 600 86400 {soa_ttl}"
        z.answers[(origin, "SOA")] = {
            "default": _answer_for(
                origin, "SOA", "default", [Record(origin, "SOA", "default", soa_value, soa_ttl)]
            )
        }
    if (origin, "NS") not in z.answers:
        z.answers[(origin, "NS")] = {
            "default": _answer_for(
                origin, "NS", "default", [Record(origin, "NS", "default", f"ns1.{origin}", 3600)]
            )
        }
    kept = {k[0] for k in grouped}
    if base is not None and all(n in kept or n not in base.names for n in gone):
        z.names = set(base.names)  # no name disappeared: only add the new ones
        for name in kept:
            _with_ancestors(z.names, name, origin)
    else:
        for name, _rtype in z.answers:
            _with_ancestors(z.names, name, origin)
    soa_lines = z.answers[(origin, "SOA")]
    z.soa = (soa_lines.get("default") or next(iter(soa_lines.values()))).rrset
    z.neg_ttl = min(z.soa.ttl, z.soa[0].minimum)
    return z


class _Seen:
    """What answering one query found out, for its counters and the cache (one per query: the UDP
    thread and the event loop's TCP connections may be answering at the same time)."""

    __slots__ = ("line", "names", "random")

    def __init__(self) -> None:
        self.line = "-"  # the line the query was classified to
        self.random = False  # a weighted draw was made: never cache the answer
        # a positive answer: the names whose records made it (the question's, CNAME targets)
        self.names: list[str] | None = None


class DnsServer:
    """Authoritative server for the zones given to :meth:`set_zone`."""

    def __init__(
        self, classifier: LineClassifier, *, rng: random.Random | None = None, negative_ttl: int = 60
    ) -> None:
        self.classifier = classifier
        self._rng = rng or random.Random()
        self._negative_ttl = negative_ttl
        self._zones: dict[str, _Zone] = {}
        self._serials: dict[str, int] = {}
        self._udp: socket.socket | None = None
        self._udp_thread: threading.Thread | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_tasks: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] | None = None
        self.stats = {"queries": 0, "cached": 0, "formerr": 0, "dropped": 0, "truncated": 0, "servfail": 0}
        # a cached response with its (line, rcode) counter key (counted per line and rcode)
        # (keys: the query after its ID, TCP, the line; ECS queries also by the part before the address)
        self._cache: dict[tuple[Any, ...], tuple[bytes, tuple[str, str]]] = {}
        # what the cached answers were made from: name -> keys of the positive answers made from
        # its records (dropped when the name changes), and the keys of every other answer (negative
        # ones carry the SOA, whose serial moves with any change: dropped on every change)
        self._cache_names: dict[str, list[tuple[Any, ...]]] = {}
        self._cache_other: list[tuple[Any, ...]] = []
        self._cache_lock = threading.Lock()  # orders stores against the changes (see handle)
        self._generation = 0  # bumped by every change: an answer started before it is not stored
        self._indexed = 0  # keys in the two indexes (a CNAME's answer is dropped by its target too)
        self._peers: dict[str, Classification] = {}
        self._peer_lines: dict[str, str] = {}  # the same, the line only (the cache key's part)
        self._subnets: dict[tuple[int, int, bytes], Classification] = {}  # ECS (family, bits, address)
        self._loaded = True
        self.query_counts: Counter[tuple[str, str]] = Counter()  # (line, rcode) -> answered
        # told every zone change (worker processes serving the same zones: federation.dns.workers)
        self.mirror: Callable[[tuple[Any, ...]], None] | None = None

    # -- zone state -------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """False until the records to serve are known: every question is answered SERVFAIL."""
        return self._loaded

    @loaded.setter
    def loaded(self, value: bool) -> None:
        if value != self._loaded:
            self._loaded = value
            self._new_cache()
            if self.mirror is not None:
                self.mirror(("loaded", value))

    def _new_cache(self, names: Iterable[str] | None = None) -> None:
        """Forget the cached answers a change may have changed: with ``names`` (the names whose
        records were replaced), those made from their records and every non-positive answer; else
        all. An answer being computed meanwhile (zones are built in other threads while the server
        answers) started before the generation moved, and is not stored."""
        with self._cache_lock:
            self._generation += 1
            if names is None:
                self._cache = {}
                self._cache_names = {}
                self._cache_other = []
                self._indexed = 0
                return
            cache = self._cache
            for name in names:
                for key in self._cache_names.pop(name, ()):
                    cache.pop(key, None)
            for key in self._cache_other:
                cache.pop(key, None)
            self._cache_other = []

    def set_zone(self, zone: str, records: Iterable[Record]) -> None:
        """Replace the whole record set of ``zone`` at once (a query sees old or new, never a mix)."""
        origin = _norm(zone)
        records = list(records)
        serial = self._serials.get(origin, 0) + 1
        built = _build_zone(origin, records, serial, self._negative_ttl)
        self._serials[origin] = serial
        self._swap(origin, built)
        if self.mirror is not None:
            self.mirror(("set", origin, records))

    def replace_names(self, zone: str, names: Iterable[str], records: Iterable[Record]) -> None:
        """Replace the records of some names of ``zone`` (all their types and lines) at once;
        cheaper than :meth:`set_zone` for a small change in a big zone."""
        origin = _norm(zone)
        base = self._zones.get(origin)
        if base is None:
            self.set_zone(origin, records)
            return
        names, records = list(names), list(records)
        serial = self._serials.get(origin, 0) + 1
        built = _build_zone(origin, records, serial, self._negative_ttl, base=base, replaced=names)
        self._serials[origin] = serial
        # the cached answers of the other names stay: a change of a few apps' records is not a
        # render of every name and line the server is asked for
        self._swap(origin, built, {_norm(n) for n in names})
        if self.mirror is not None:
            self.mirror(("replace", origin, names, records))

    def remove_zone(self, zone: str) -> None:
        self._zones.pop(_norm(zone), None)
        self._new_cache()
        if self.mirror is not None:
            self.mirror(("remove", _norm(zone)))

    def _swap(self, origin: str, built: _Zone, names: Iterable[str] | None = None) -> None:
        self._zones[origin] = built  # the zone first, then the cache (see _new_cache)
        self._new_cache(names)

    def zones(self) -> list[str]:
        return sorted(self._zones)

    # -- answering ------------------------------------------------------------------------------

    def _find_zone(self, qname: str) -> _Zone | None:
        name = qname
        while True:
            z = self._zones.get(name)
            if z is not None:
                return z
            if "." not in name:
                return self._zones.get("") if name else None
            name = name.split(".", 1)[1]

    def _pick(self, answer: _Answer, seen: _Seen | None) -> dns.rrset.RRset:
        if not answer.cumulative:
            return answer.rrset
        if seen is not None:
            seen.random = True
        point = self._rng.randrange(answer.cumulative[-1])
        for i, edge in enumerate(answer.cumulative):
            if point < edge:
                return answer.singles[i]
        return answer.singles[-1]  # pragma: no cover

    def _lookup(self, z: _Zone, name: str, rtype: str, chain: tuple[str, ...]) -> tuple[str, _Answer] | None:
        by_line = z.answers.get((name, rtype))
        cname_by_line = z.answers.get((name, "CNAME")) if rtype != "CNAME" else None
        for line in chain:
            if by_line is not None and line in by_line:
                return rtype, by_line[line]
            if cname_by_line is not None and line in cname_by_line:
                return "CNAME", cname_by_line[line]
        return None

    def resolve(
        self, qname: str, rtype: str, cls: Classification, seen: _Seen | None = None
    ) -> tuple[int, list[dns.rrset.RRset], list[dns.rrset.RRset]]:
        """(rcode, answer, authority) for one question from a client of class ``cls`` (``seen``
        learns whether a weighted draw was made)."""
        if not self._loaded:
            return dns.rcode.SERVFAIL, [], []
        name = _norm(qname)
        z = self._find_zone(name)
        if z is None:
            return dns.rcode.REFUSED, [], []
        answer: list[dns.rrset.RRset] = []
        visited = [name]  # the names whose records make the answer
        for _ in range(MAX_CNAME_CHAIN):
            types = [rtype] if rtype != "ANY" else sorted({t for (n, t) in z.answers if n == name})
            found = False
            for t in types:
                hit = self._lookup(z, name, t, cls.chain)
                if hit is None:
                    continue
                found = True
                answer.append(self._pick(hit[1], seen))
                if hit[0] == "CNAME" and t != "CNAME":
                    target = _norm(hit[1].rrset[0].target.to_text())
                    if target == name or not (target == z.origin or target.endswith("." + z.origin)):
                        return self._positive(answer, visited, seen)
                    name = target
                    visited.append(name)
                    break
            else:
                if found:
                    return self._positive(answer, visited, seen)
                rcode = dns.rcode.NOERROR if name in z.names else dns.rcode.NXDOMAIN
                return rcode, answer, [self._negative_soa(z)]
        return self._positive(answer, visited, seen)

    @staticmethod
    def _positive(
        answer: list[dns.rrset.RRset], visited: list[str], seen: _Seen | None
    ) -> tuple[int, list[dns.rrset.RRset], list[dns.rrset.RRset]]:
        # an SOA in the answer (the apex's, ANY) may be the server's own, whose serial moves with
        # every change: such an answer is not tied to its names only
        if seen is not None and all(rr.rdtype != dns.rdatatype.SOA for rr in answer):
            seen.names = visited
        return dns.rcode.NOERROR, answer, []

    def _negative_soa(self, z: _Zone) -> dns.rrset.RRset:
        assert z.soa is not None
        if z.soa.ttl <= z.neg_ttl:
            return z.soa
        soa = z.soa.copy()
        soa.ttl = z.neg_ttl
        return soa

    def handle(self, wire: bytes, peer: str, *, tcp: bool) -> bytes | None:
        """The response to one message, or None to drop it. Never raises.

        Responses are cached by the query's bytes after its ID, the transport and the source's line
        (the answer is a function of those while the zones stay as they are; the cache is emptied
        on every zone change), so a repeated question costs one dict lookup instead of a parse and
        a render. Weighted answers (random by design) are never cached.

        The question's name is part of the key in lower case: resolvers randomise its case (0x20)
        so that no two of their queries are the same bytes. A response differs from the one to the
        lower-case query only in the question it echoes (every later name that is the question's,
        or ends with it, is a compression pointer to it, whatever its case), so the cached response
        is served with the client's spelling of the question put back."""
        key = None
        cache = self._cache
        subnet = None
        folded = wire  # the query with its question's name in lower case
        name = lower = b""
        end = 0
        if len(wire) >= 12 and not wire[2] & 0x80:
            # the line stands for the whole class: its chain is the line's, and the peer's prefix
            # never shows in an answer (ECS scopes come from the option, which is in the bytes)
            line = self._peer_lines.get(peer)
            if line is None:
                line = self._peer_class(peer).line
            key = (wire[2:], tcp, line)
            hit = cache.get(key)
            if hit is not None:
                self.stats["cached"] += 1
                self.query_counts[hit[1]] += 1
                return wire[:2] + hit[0]
            end = _qname_end(wire)
            if end:
                name = wire[12:end]
                lower = name.lower()
                if lower != name:
                    folded = wire[:12] + lower + wire[end:]
                    key = (folded[2:], tcp, line)
                    hit = cache.get(key)
                    if hit is not None:
                        body = _respell(hit[0], name, end)
                        if body is not None:
                            self.stats["cached"] += 1
                            self.query_counts[hit[1]] += 1
                            return wire[:2] + body
            subnet = _ecs_subnet(folded)
            if subnet is not None:
                # Per question and ECS line, one rendered answer whose echoed address is patched
                # in: resolvers send each of their clients' /24s, which the byte key above tells apart.
                start, family, addr = subnet
                ecs_cls = self._subnet_class(family, folded[start + 2], addr)
                ecs_key = (folded[2 : start + 3], tcp, ecs_cls.line, ecs_cls.prefix_len)
                hit = cache.get(ecs_key)
                if hit is not None:
                    body = hit[0] if folded is wire else _respell(hit[0], name, end)
                    if body is not None:
                        self.stats["cached"] += 1
                        self.query_counts[hit[1]] += 1
                        return wire[:2] + body + addr
        generation = self._generation  # before the zones are read (see _new_cache)
        seen = _Seen()
        try:
            out = self._handle(wire, peer, tcp, seen)
        except Exception:
            log.exception("dns: answering a query failed")
            self.stats["servfail"] += 1
            out = _header_only(wire, dns.rcode.SERVFAIL)
            self._count(seen.line, out[2:])
            return out
        if out is None:
            return None
        counter_key = self._count(seen.line, out[2:])
        if key is not None and not seen.random:
            body = out[2:]
            if folded is not wire:
                spelled = _respell(body, lower, end)
                if spelled is not None:  # kept as the answer to the lower-case question
                    body = spelled
                else:  # no question echoed (a bare header): only for these very bytes
                    key = (wire[2:], tcp, key[2])
                    subnet = None
            entries: list[tuple[tuple[Any, ...], tuple[bytes, tuple[str, str]]]] = [
                (key, (body, counter_key))
            ]
            if subnet is not None:
                start, family, addr = subnet
                # the answer must end with the option echoed as we would patch it: family, source
                # prefix, scope (the matched block's), address
                tail = wire[start : start + 3] + bytes((ecs_cls.prefix_len,)) + addr
                if out.endswith(tail):
                    entries.append((ecs_key, (body[: len(body) - len(addr)], counter_key)))
            self._store(generation, entries, seen.names)
        return out

    def _store(
        self,
        generation: int,
        entries: list[tuple[tuple[Any, ...], tuple[bytes, tuple[str, str]]]],
        names: list[str] | None,
    ) -> None:
        with self._cache_lock:
            if generation != self._generation:  # computed from zones a change has replaced since
                return
            cache = self._cache
            if len(cache) >= CACHE_SIZE or self._indexed >= 4 * CACHE_SIZE:
                cache.clear()
                self._cache_names = {}
                self._cache_other = []
                self._indexed = 0
            for key, value in entries:
                cache[key] = value
                if names:
                    for name in set(names):
                        self._cache_names.setdefault(name, []).append(key)
                        self._indexed += 1
                else:
                    self._cache_other.append(key)
                    self._indexed += 1

    def _subnet_class(self, family: int, srclen: int, addr: bytes) -> Classification:
        key = (family, srclen, addr)
        cls = self._subnets.get(key)
        if cls is None:
            if len(self._subnets) >= CACHE_SIZE:
                self._subnets.clear()
            af, width = (socket.AF_INET, 4) if family == 1 else (socket.AF_INET6, 16)
            address = socket.inet_ntop(af, addr.ljust(width, b"\0"))
            cls = self._subnets[key] = self.classifier.classify(address, srclen)
        return cls

    def _count(self, line: str, after_id: bytes) -> tuple[str, str]:
        # the rcode is the low nibble of the second flags byte (byte 3 of the message)
        key = (line, _RCODE_TEXT.get(after_id[1] & 0xF, str(after_id[1] & 0xF)))
        self.query_counts[key] += 1
        return key

    def _peer_class(self, peer: str) -> Classification:
        cls = self._peers.get(peer)
        if cls is None:
            if len(self._peers) >= CACHE_SIZE:
                self._peers.clear()
                self._peer_lines.clear()
            cls = self._peers[peer] = self.classifier.classify(peer)
            self._peer_lines[peer] = cls.line
        return cls

    def _handle(self, wire: bytes, peer: str, tcp: bool, seen: _Seen) -> bytes | None:
        if len(wire) < 12:
            self.stats["dropped"] += 1
            return None
        if wire[2] & 0x80:  # QR set: a response, never answer it (avoids reflection loops)
            self.stats["dropped"] += 1
            return None
        try:
            query = dns.message.from_wire(wire)
        except dns.message.BadEDNS:
            self.stats["formerr"] += 1
            return _header_only(wire, dns.rcode.FORMERR)
        except Exception:
            self.stats["formerr"] += 1
            return _header_only(wire, dns.rcode.FORMERR)
        self.stats["queries"] += 1
        if query.opcode() != dns.opcode.QUERY:
            return _header_only(wire, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return _header_only(wire, dns.rcode.FORMERR)
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
        response.flags &= ~dns.flags.RA
        if query.edns > 0:
            response.use_edns(0, 0, OUR_PAYLOAD)
            response.set_rcode(dns.rcode.BADVERS)
            return response.to_wire()
        question = query.question[0]
        ecs = next((o for o in query.options if isinstance(o, dns.edns.ECSOption)), None)
        if ecs is not None:
            if ecs.scopelen != 0:  # RFC 7871 section 7.1.2: SCOPE must be 0 in queries
                return _header_only(wire, dns.rcode.FORMERR)
            if ecs.srclen == 0:
                cls = self._peer_class(peer)
                cls = Classification(cls.line, cls.chain, 0)
            else:
                cls = self.classifier.classify(ecs.address, ecs.srclen)
            response.use_edns(
                0, 0, OUR_PAYLOAD, options=[dns.edns.ECSOption(ecs.address, ecs.srclen, cls.prefix_len)]
            )
        else:
            cls = self._peer_class(peer)
        if question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        qtype = dns.rdatatype.to_text(question.rdtype)
        seen.line = cls.line
        rcode, answer, authority = self.resolve(question.name.to_text(), qtype, cls, seen)
        response.set_rcode(dns.rcode.Rcode(rcode))
        if rcode not in (dns.rcode.REFUSED, dns.rcode.SERVFAIL):
            response.flags |= dns.flags.AA
        # Keep the owner names exactly as the client spelled the question (0x20 case randomisation).
        response.answer = [_owner_case(rr, question.name) for rr in answer]
        response.authority = authority
        if tcp:
            return response.to_wire(max_size=65535)
        limit = 512 if query.edns < 0 else max(512, min(query.payload, MAX_UDP_PAYLOAD))
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            self.stats["truncated"] += 1
            response.answer = []
            response.authority = []
            response.additional = []
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=limit)

    # -- transports -----------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False, udp_thread: bool = False
    ) -> tuple[str, int]:
        """Listen on UDP and TCP on the same port (an ephemeral one when ``port`` is 0); with
        ``reuse_port`` other processes may bind the same UDP port (SO_REUSEPORT: the kernel spreads
        the clients over them); with ``udp_thread`` UDP is answered by a thread of its own
        (:meth:`serve_udp`), for a process whose event loop has little else to do."""
        last_error: OSError | None = None
        for _ in range(20):
            udp = bind_udp(host, port, reuse_port=reuse_port)
            bound = int(udp.getsockname()[1])
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, host, bound, reuse_address=True)
            except OSError as exc:  # the UDP port's TCP twin is taken: try another ephemeral port
                udp.close()
                last_error = exc
                if port:
                    raise
                continue
            self.serve_udp(udp, thread=udp_thread)
            self.address = (host, bound)
            log.info("dns: serving %s on %s:%d (udp+tcp)", ", ".join(self.zones()) or "no zones", host, bound)
            return self.address
        raise OSError(f"dns: no port free for both UDP and TCP on {host}: {last_error}")

    def serve_udp(self, sock: socket.socket, *, thread: bool = False) -> None:
        """Answer the datagrams arriving on ``sock`` (bound, non-blocking) from the running loop, or
        with ``thread`` from a thread of its own that blocks in ``recvfrom``.

        The thread is the fast way for a process that does little else (the worker processes,
        ``fedctl dns serve``): the kernel wakes it straight from the socket, with no poll, no event
        loop iteration and no EAGAIN per datagram, which is most of the CPU a query costs at a
        moderate rate. Zone changes are made by other threads meanwhile, as they are with the loop
        (each query sees a zone before or after a change, never a mix)."""
        self._udp = sock
        if not thread:
            asyncio.get_running_loop().add_reader(sock.fileno(), self._drain_udp, sock)
            return
        sock.setblocking(True)
        self._udp_thread = threading.Thread(target=self._udp_loop, args=(sock,), name="dns udp", daemon=True)
        self._udp_thread.start()

    def share_udp(self) -> socket.socket | None:
        """The UDP socket, for other processes to read beside this one (worker processes inherit it),
        or None before :meth:`start`.

        A process reading it from a thread blocks in ``recvfrom``, and blocking is a property of the
        socket all the processes share: the socket is made blocking, and this process's event loop,
        if it reads it, asks with MSG_DONTWAIT (so a datagram another process took first costs one
        EAGAIN, never a stalled loop)."""
        if self._udp is not None:
            self._udp.setblocking(True)
        return self._udp

    def _udp_loop(self, sock: socket.socket) -> None:
        handle = self.handle
        recvfrom = sock.recvfrom
        sendto = sock.sendto
        peer_lines = self._peer_lines
        stats = self.stats
        counts = self.query_counts
        while True:
            try:
                data, addr = recvfrom(65535)
            except OSError as exc:
                if self._udp is not sock:
                    return
                log.debug("dns: udp error %s", exc)
                continue
            if addr is None:  # shut down by stop()
                return
            # handle()'s first step inlined (a repeated question from a known source): this loop
            # is where a loaded server spends its time, and a call is a good part of a cache hit
            if len(data) >= 12 and not data[2] & 0x80:
                line = peer_lines.get(addr[0])
                if line is not None:
                    hit = self._cache.get((data[2:], False, line))
                    if hit is not None:
                        stats["cached"] += 1
                        counts[hit[1]] += 1
                        try:
                            sendto(data[:2] + hit[0], addr)
                        except OSError:
                            stats["dropped"] += 1
                        continue
            out = handle(data, addr[0], tcp=False)
            if out is not None:
                try:
                    sendto(out, addr)
                except OSError:  # client gone: it asks again
                    self.stats["dropped"] += 1

    def _drain_udp(self, sock: socket.socket) -> None:
        # Read what is queued, up to a batch, per wake-up: one poll per burst instead of one per
        # datagram, and no transport object in the way (asyncio's reads one datagram per wake-up).
        handle = self.handle
        recvfrom = sock.recvfrom
        sendto = sock.sendto
        for _ in range(UDP_BATCH):
            try:
                data, addr = recvfrom(65535, _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP unreachable from a vanished client
                log.debug("dns: udp error %s", exc)
                continue
            if addr is None:  # the socket was shut down
                return
            out = handle(data, addr[0], tcp=False)
            if out is not None:
                try:
                    sendto(out, _DONTWAIT, addr)
                except OSError:  # send buffer full or client gone: it asks again
                    self.stats["dropped"] += 1

    async def stop(self) -> None:
        udp, self._udp = self._udp, None
        thread, self._udp_thread = self._udp_thread, None
        if udp is not None and thread is not None:
            # wakes the thread's recvfrom (it returns no sender); ENOTCONN is raised all the same
            with contextlib.suppress(OSError):
                udp.shutdown(socket.SHUT_RDWR)
            await asyncio.to_thread(thread.join, 5.0)
        elif udp is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(udp.fileno())
        if udp is not None:
            udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._tcp_tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
            self._tcp = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tcp_tasks.add(task)
        peer = writer.get_extra_info("peername")[0]
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    head = await reader.readexactly(2)
                    (length,) = struct.unpack("!H", head)
                    wire = await reader.readexactly(length)
                out = self.handle(wire, peer, tcp=True)
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._tcp_tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def bind_udp(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A non-blocking UDP socket bound to ``host:port`` (SO_REUSEPORT set when ``reuse_port``)."""
    family, _type, _proto, _canon, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _owner_case(rrset: dns.rrset.RRset, qname: dns.name.Name) -> dns.rrset.RRset:
    if rrset.name == qname and rrset.name.to_text() != qname.to_text():
        out = rrset.copy()
        out.name = qname
        return out
    return rrset


_ONE_QUESTION_ONE_OPT = b"\x00\x01\x00\x00\x00\x00\x00\x01"


def _ecs_subnet(wire: bytes) -> tuple[int, int, bytes] | None:
    """For the common shape of an ECS query (one question, then an EDNS0 OPT record carrying only an
    ECS option with a source prefix, at the end of the message): where the option's data starts,
    the address family and the address bytes. None for anything else (the full parser decides)."""
    if wire[4:12] != _ONE_QUESTION_ONE_OPT:
        return None
    n = len(wire)
    i = 12
    while i < n and wire[i]:
        if wire[i] > 63:  # a compression pointer or a reserved label type: not our shape
            return None
        i += wire[i] + 1
    i += 5  # the root label, QTYPE, QCLASS
    # OPT: root owner, TYPE 41, CLASS = payload, extended RCODE, VERSION 0, flags, RDLENGTH
    if n < i + 19 or wire[i : i + 3] != b"\x00\x00\x29" or wire[i + 6] != 0:
        return None
    opt = i + 11
    if opt + ((wire[i + 9] << 8) | wire[i + 10]) != n or wire[opt : opt + 2] != b"\x00\x08":
        return None
    if opt + 4 + ((wire[opt + 2] << 8) | wire[opt + 3]) != n:
        return None
    start = opt + 4
    family, srclen, scope, addr = (
        (wire[start] << 8) | wire[start + 1],
        wire[start + 2],
        wire[start + 3],
        wire[start + 4 :],
    )
    width = 32 if family == 1 else 128 if family == 2 else 0
    if not width or scope or not 0 < srclen <= width or len(addr) != (srclen + 7) // 8:
        return None
    if srclen % 8 and addr[-1] & (0xFF >> (srclen % 8)):  # bits past the source prefix
        return None
    return start, family, addr


def _qname_end(wire: bytes) -> int:
    """For a message of one question whose name is plain labels (no compression pointer): the offset
    just past the name's root label; 0 for anything else (those are cached by their own bytes)."""
    if wire[4:6] != b"\x00\x01":
        return 0
    n = len(wire)
    i = 12
    while i < n:
        length = wire[i]
        if not length:
            return i + 1
        if length > 63:
            return 0
        i += length + 1
    return 0


def _respell(body: bytes, name: bytes, end: int) -> bytes | None:
    """``body`` (a response after its ID, to a query whose question's name ends at ``end``) with that
    name spelled as ``name`` (the same name in another case), or None when ``body`` does not echo
    the question (a bare header: FORMERR, NOTIMP)."""
    if body[2:4] != b"\x00\x01" or len(body) < end - 2:
        return None
    return body[:10] + name + body[end - 2 :]


def _header_only(wire: bytes, rcode: int) -> bytes:
    """A bare response header echoing the query's ID and opcode (when the body is unusable)."""
    qid = wire[0:2]
    opcode_bits = wire[2] & 0x78
    rd = wire[2] & 0x01
    flags = 0x8000 | (opcode_bits << 8) | (rd << 8) | (rcode & 0xF)
    return qid + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
