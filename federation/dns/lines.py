"""The line catalogue (alidns line codes and their parents) and the classifier of client addresses.

A *line* is a population of DNS clients. The catalogue is data (``data/lines.json``, written by
``data/make_lines.py``); every line has a parent ending at ``default``, a *vantage* region whose
latency stands for its clients, and for carrier lines a ``geo`` line (the region their clients live
in) so that a carrier client falls back through its geographic lines before ``default``.

:class:`LineClassifier` maps a client address, or an EDNS Client Subnet, to the most specific line
and that line's chain, with the prefix length of the table entry that matched: that prefix is the
ECS scope of the answer (RFC 7871 section 7.2.1: the answer is valid for the whole scope subnet).
The table is kept as sorted, non-overlapping intervals in machine-word arrays, so a lookup is one
bisect; the scope is the largest CIDR block around the address that stays inside its interval (or
inside the gap, for an address no line claims). The shipped table (``data/cidr-lines.gz``, built by
``data/make_cidr_table.py`` from ip-location-db's ASN and country data, the Chinese carriers by AS
number; its header names the sources and date)
loads in about 0.1 s; the user's CIDRs (``dns_cidrs``) are painted over it and win where they overlap.
"""

from __future__ import annotations

import bisect
import gzip
import ipaddress
import json
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from federation.dns.records import DEFAULT_LINE

DATA_DIR = Path(__file__).with_name("data")
LINES_FILE = DATA_DIR / "lines.json"
CIDR_FILE = DATA_DIR / "cidr-lines.gz"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Interval = tuple[int, int, str]  # first address, last address, line


class LineError(ValueError):
    """A catalogue, table or overlay entry that cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Line:
    code: str
    name: str
    parent: str | None  # None only for "default"
    vantage: str | None  # region whose latency stands for this line; None for "default"
    geo: str | None = None  # geographic line of a carrier line's clients


class LineCatalogue:
    """The lines, validated: every parent exists, no cycles, ``default`` is the single root."""

    def __init__(self, lines: Iterable[Line]) -> None:
        self._lines: dict[str, Line] = {}
        for line in lines:
            if line.code in self._lines:
                raise LineError(f"line {line.code!r}: duplicate code")
            self._lines[line.code] = line
        if DEFAULT_LINE not in self._lines:
            raise LineError("line catalogue: the 'default' line is missing")
        for line in self._lines.values():
            if line.code != DEFAULT_LINE and line.parent is None:
                raise LineError(f"line {line.code!r}: parent is required")
            for ref, field in ((line.parent, "parent"), (line.geo, "geo")):
                if ref is not None and ref not in self._lines:
                    raise LineError(f"line {line.code!r}: {field} {ref!r} is not a known line")
        self._chains: dict[str, tuple[str, ...]] = {}
        for code in self._lines:
            self._chains[code] = self._build_chain(code)

    def _ancestors(self, code: str) -> list[str]:
        out: list[str] = []
        cur: str | None = code
        while cur is not None and cur != DEFAULT_LINE:
            if cur in out:
                raise LineError(f"line {code!r}: parent cycle through {cur!r}")
            out.append(cur)
            cur = self._lines[cur].parent
        return out

    def _build_chain(self, code: str) -> tuple[str, ...]:
        chain = self._ancestors(code)
        # A carrier client also belongs to its geographic lines (geo of the line or of an ancestor).
        for member in list(chain):
            geo = self._lines[member].geo
            if geo is not None:
                for g in self._ancestors(geo):
                    if g not in chain:
                        chain.append(g)
        chain.append(DEFAULT_LINE)
        return tuple(chain)

    @classmethod
    def from_dicts(cls, items: Iterable[Mapping[str, Any]]) -> LineCatalogue:
        lines = []
        for i, item in enumerate(items):
            try:
                lines.append(
                    Line(
                        code=str(item["code"]),
                        name=str(item.get("name", item["code"])),
                        parent=item.get("parent"),
                        vantage=item.get("vantage"),
                        geo=item.get("geo"),
                    )
                )
            except KeyError as exc:
                raise LineError(f"lines[{i}]: field {exc.args[0]!r} is required") from None
        return cls(lines)

    @classmethod
    def load(cls, path: Path | None = None) -> LineCatalogue:
        doc = json.loads((path or LINES_FILE).read_text())
        return cls.from_dicts(doc["lines"])

    def __contains__(self, code: object) -> bool:
        return code in self._lines

    def __iter__(self) -> Iterator[Line]:
        return iter(self._lines.values())

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def codes(self) -> list[str]:
        return list(self._lines)

    def get(self, code: str) -> Line:
        try:
            return self._lines[code]
        except KeyError:
            raise LineError(f"unknown line {code!r}") from None

    def chain(self, code: str) -> tuple[str, ...]:
        """``code`` and its fallbacks, most specific first, always ending with ``default``."""
        try:
            return self._chains[code]
        except KeyError:
            raise LineError(f"unknown line {code!r}") from None

    def children(self, code: str) -> list[str]:
        return [line.code for line in self._lines.values() if line.parent == code]


@cache
def default_catalogue() -> LineCatalogue:
    """The shipped catalogue (loaded once; it is immutable)."""
    return LineCatalogue.load()


@dataclass(frozen=True, slots=True)
class Classification:
    line: str  # most specific line of the client
    chain: tuple[str, ...]  # line and its fallbacks, ending with "default"
    prefix_len: int  # prefix of the table block that matched: the ECS scope of the answer


class _Family:
    """Sorted, non-overlapping intervals of one address family, each with a line.

    IPv4 is keyed by the 32-bit address; IPv6 by its top 64 bits (the table never needs to tell
    hosts of one /64 apart), so both fit machine-word arrays."""

    __slots__ = ("bits", "ends", "lines", "names", "starts")

    def __init__(
        self,
        bits: int,
        starts: Sequence[int],
        ends: Sequence[int],
        lines: Sequence[int],
        names: Sequence[str],
    ) -> None:
        self.bits = bits
        self.starts = starts
        self.ends = ends
        self.lines = lines
        self.names = names

    @classmethod
    def from_intervals(cls, bits: int, ivs: Iterable[Interval]) -> _Family:
        code = "I" if bits == 32 else "Q"
        starts, ends, lines = array(code), array(code), array("H")
        names: list[str] = []
        index: dict[str, int] = {}
        for s, e, line in ivs:
            if line not in index:
                index[line] = len(names)
                names.append(line)
            starts.append(s)
            ends.append(e)
            lines.append(index[line])
        return cls(bits, starts, ends, lines, names)

    def intervals(self) -> list[Interval]:
        return [(s, e, self.names[i]) for s, e, i in zip(self.starts, self.ends, self.lines, strict=True)]

    def lookup(self, ip: int) -> tuple[str | None, int]:
        """(line or None, prefix length of the largest aligned block around ip with one answer)."""
        i = bisect.bisect_right(self.starts, ip) - 1
        if i >= 0 and ip <= self.ends[i]:
            line: str | None = self.names[self.lines[i]]
            lo_edge, hi_edge = self.starts[i], self.ends[i]
        else:
            # Unmatched: scope the answer to the gap, so a resolver never caches it for addresses
            # that belong to a line.
            line = None
            lo_edge = self.ends[i] + 1 if i >= 0 else 0
            hi_edge = self.starts[i + 1] - 1 if i + 1 < len(self.starts) else (1 << self.bits) - 1
        p = self.bits - (hi_edge - lo_edge + 1).bit_length() + 1
        while p < self.bits:
            size = 1 << (self.bits - p)
            lo = ip & ~(size - 1)
            if lo >= lo_edge and lo + size - 1 <= hi_edge:
                break
            p += 1
        return line, max(p, 0)

    def __len__(self) -> int:
        return len(self.starts)


def _addr(bits: int, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if bits == 32 else ipaddress.IPv6Address(value)


def _coalesce(ivs: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Join adjacent intervals of the same line (fewer, larger blocks: wider ECS scopes)."""
    merged: list[tuple[int, int, str]] = []
    for iv in ivs:
        if merged and merged[-1][2] == iv[2] and merged[-1][1] + 1 == iv[0]:
            merged[-1] = (merged[-1][0], iv[1], iv[2])
        else:
            merged.append(iv)
    return merged


def _paint(base: list[Interval], top: Iterable[Interval]) -> list[Interval]:
    """``base`` (sorted, non-overlapping) with each interval of ``top`` painted over it in turn."""
    ivs = list(base)
    starts = [iv[0] for iv in ivs]
    for s, e, line in top:
        lo = max(bisect.bisect_right(starts, s) - 1, 0)
        hi = bisect.bisect_right(starts, e)
        pieces: list[tuple[int, int, str]] = []
        for os_, oe, ol in ivs[lo:hi]:
            if oe < s or os_ > e:
                pieces.append((os_, oe, ol))
                continue
            if os_ < s:
                pieces.append((os_, s - 1, ol))
            if oe > e:
                pieces.append((e + 1, oe, ol))
        pieces.append((s, e, line))
        pieces.sort()
        ivs[lo:hi] = pieces
        starts[lo:hi] = [p[0] for p in pieces]
    return ivs


def _key(net: IPNetwork) -> tuple[int, int]:
    """First and last key of a network: the address for IPv4, the top 64 bits for IPv6 (a block
    longer than /64 is widened to its /64)."""
    if net.version == 4:
        return int(net.network_address), int(net.broadcast_address)
    return int(net.network_address) >> 64, int(net.broadcast_address) >> 64


def _intervals(entries: Iterable[tuple[IPNetwork, str]], version: int) -> list[Interval]:
    """Entries of one family as sorted, non-overlapping intervals; where entries overlap, the more
    specific one wins (painted broadest first)."""
    nets = [(n, line) for n, line in entries if n.version == version]
    ivs = sorted((*_key(n), line) for n, line in nets)
    if all(ivs[i][1] < ivs[i + 1][0] for i in range(len(ivs) - 1)):
        return _coalesce(ivs)
    nets.sort(key=lambda e: (e[0].prefixlen, int(e[0].network_address)))
    return _coalesce(_paint([], ((*_key(n), line) for n, line in nets)))


def parse_table(text: str, source: str = "table") -> list[tuple[IPNetwork, str]]:
    """Parse ``<cidr> <line>`` lines (``#`` comments) into entries."""
    entries: list[tuple[IPNetwork, str]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        row = raw.split("#", 1)[0].split()
        if not row:
            continue
        if len(row) != 2:
            raise LineError(f"{source}:{n}: expected '<cidr> <line>', got {raw.strip()!r}")
        try:
            net = ipaddress.ip_network(row[0], strict=False)
        except ValueError as exc:
            raise LineError(f"{source}:{n}: {exc}") from None
        entries.append((net, row[1]))
    return entries


def load_overlay(path: Path) -> list[tuple[IPNetwork, str]]:
    """The user's CIDRs: YAML/JSON ``{line: [cidr, ...]}`` or a ``<cidr> <line>`` text file."""
    text = path.read_text()
    if path.suffix in (".yaml", ".yml", ".json"):
        doc = yaml.safe_load(text) or {}
        if not isinstance(doc, dict):
            raise LineError(f"{path}: expected a mapping of line code to a list of CIDRs")
        entries: list[tuple[IPNetwork, str]] = []
        for line, cidrs in doc.items():
            if not isinstance(cidrs, list):
                raise LineError(f"{path}: {line}: expected a list of CIDRs")
            for i, cidr in enumerate(cidrs):
                try:
                    entries.append((ipaddress.ip_network(str(cidr), strict=False), str(line)))
                except ValueError as exc:
                    raise LineError(f"{path}: {line}[{i}]: {exc}") from None
        return entries
    return parse_table(text, str(path))


@dataclass(frozen=True)
class TableFile:
    """The shipped table as read from disk: header fields and one family table per version."""

    header: dict[str, str]
    v4: _Family
    v6: _Family


_MAGIC = b"FEDLINES1\n"


def write_table_file(
    path: Path, header_lines: Sequence[str], v4: Sequence[Interval], v6: Sequence[Interval]
) -> None:
    """Write the binary table: text header (``# key: value`` lines), then per family the sorted
    interval starts, ends (little-endian u32 for IPv4, u64 = top half of the address for IPv6) and
    line indexes (u16) into the space-separated line list."""
    f4, f6 = _Family.from_intervals(32, v4), _Family.from_intervals(64, v6)
    names = sorted(set(f4.names) | set(f6.names))
    index = {n: i for i, n in enumerate(names)}
    parts = [
        _MAGIC,
        "".join(f"{h}\n" for h in header_lines).encode(),
        b"--\n",
        (" ".join(names) + "\n").encode(),
    ]
    for fam in (f4, f6):
        starts, ends = array(fam.starts.typecode), array(fam.ends.typecode)  # type: ignore[attr-defined]
        starts.extend(fam.starts)
        ends.extend(fam.ends)
        lines = array("H", (index[fam.names[i]] for i in fam.lines))
        if sys.byteorder == "big":  # pragma: no cover
            for arr in (starts, ends, lines):
                arr.byteswap()
        parts += [f"{len(starts)}\n".encode(), starts.tobytes(), ends.tobytes(), lines.tobytes()]
    # No name and a zero mtime in the gzip header: the same inputs give the same bytes, so a
    # regenerated table shows no diff.
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as fh,
    ):
        fh.write(b"".join(parts))


def read_table_file(path: Path) -> TableFile:
    """Read the binary table written by :func:`write_table_file`."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(_MAGIC):
        raise LineError(f"{path}: not a line table (bad magic)")
    pos = len(_MAGIC)
    end = data.index(b"\n--\n", pos)
    header: dict[str, str] = {}
    for raw in data[pos:end].decode().splitlines():
        key, sep, value = raw.lstrip("# ").partition(":")
        if sep:
            header[key.strip()] = value.strip()
    pos = end + 4
    nl = data.index(b"\n", pos)
    names = data[pos:nl].decode().split()
    pos = nl + 1
    fams: list[_Family] = []
    for bits, code, width in ((32, "I", 4), (64, "Q", 8)):
        nl = data.index(b"\n", pos)
        count = int(data[pos:nl])
        pos = nl + 1
        arrs: list[array[int]] = []
        for typecode, size in ((code, width), (code, width), ("H", 2)):
            arr = array(typecode)
            arr.frombytes(data[pos : pos + count * size])
            if sys.byteorder == "big":  # pragma: no cover
                arr.byteswap()
            pos += count * size
            arrs.append(arr)
        fams.append(_Family(bits, arrs[0], arrs[1], arrs[2], names))
    return TableFile(header, fams[0], fams[1])


class LineClassifier:
    """Client address or ECS subnet -> :class:`Classification` (longest-prefix match).

    ``table`` is the shipped table (or None), ``entries`` further CIDRs of equal rank (tests, small
    tables) and ``overlay`` the user's CIDRs, which win over both wherever they overlap."""

    def __init__(
        self,
        catalogue: LineCatalogue,
        entries: Iterable[tuple[IPNetwork, str]] = (),
        overlay: Iterable[tuple[IPNetwork, str]] = (),
        *,
        table: TableFile | None = None,
    ) -> None:
        self.catalogue = catalogue
        base = list(entries)
        extra = list(overlay)
        for net, line in [*base, *extra]:
            if line not in catalogue:
                raise LineError(f"CIDR {net}: unknown line {line!r}")
        if table is not None:
            unknown = sorted((set(table.v4.names) | set(table.v6.names)) - set(catalogue.codes))
            if unknown:
                raise LineError(f"line table names lines missing from the catalogue: {unknown[:5]}")
        self.header = dict(table.header) if table is not None else {}
        fams: list[_Family] = []
        for version, bits in ((4, 32), (6, 64)):
            shipped = (table.v4 if version == 4 else table.v6) if table is not None else None
            if shipped is not None and not base and not extra:
                fams.append(shipped)  # the common case: use the loaded arrays as they are
                continue
            ivs = shipped.intervals() if shipped is not None else []
            if base:
                ivs = _coalesce(_paint(ivs, _intervals(base, version))) if ivs else _intervals(base, version)
            if extra:
                ivs = _coalesce(_paint(ivs, _intervals(extra, version)))
            fams.append(_Family.from_intervals(bits, ivs))
        self._v4, self._v6 = fams

    @classmethod
    def default(
        cls,
        overlay_file: Path | None = None,
        catalogue: LineCatalogue | None = None,
        table_file: Path | None = None,
    ) -> LineClassifier:
        """The shipped table overlaid by the user's CIDR file (YAML ``{line: [cidr]}`` or text)."""
        cat = catalogue or default_catalogue()
        table = _shipped_table(table_file or CIDR_FILE)
        overlay = load_overlay(overlay_file) if overlay_file is not None else []
        return cls(cat, overlay=overlay, table=table)

    @property
    def size(self) -> int:
        return len(self._v4) + len(self._v6)

    def ipv4_intervals(self) -> Iterator[Interval]:
        """The IPv4 table as (first, last, line) intervals, in address order."""
        fam = self._v4
        for start, end, idx in zip(fam.starts, fam.ends, fam.lines, strict=True):
            yield start, end, fam.names[idx]

    def classify(self, address: str | IPAddress, source_prefix: int | None = None) -> Classification:
        """Classify a client address (or the address of an ECS subnet of ``source_prefix`` bits)."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
            source_prefix = None if source_prefix is None else max(source_prefix - 96, 0)
        if ip.version == 4:
            fam, value = self._v4, int(ip)
        else:
            fam, value = self._v6, int(ip) >> 64
        if source_prefix is not None and source_prefix < fam.bits:
            value &= ~((1 << (fam.bits - source_prefix)) - 1)
        line, prefix = fam.lookup(value)
        code = line or DEFAULT_LINE
        return Classification(code, self.catalogue.chain(code), prefix)


@cache
def _shipped_table(path: Path) -> TableFile | None:
    """The table file, read once per process (it is never modified)."""
    return read_table_file(path) if path.exists() else None
