"""The shipped CIDR -> line table and its generator: sources in the header, carriers by AS number,
well-known networks, and the generator's merge and mapping rules on small inputs."""

from __future__ import annotations

import io
import ipaddress
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.dns.data import make_cidr_table as gen
from federation.dns.data.make_lines import PROVINCES
from federation.dns.lines import CIDR_FILE, LineCatalogue, LineClassifier, read_table_file
from federation.sandbox.wiring import DNS_CLIENTS


@pytest.fixture(scope="module")
def shipped() -> LineClassifier:
    return LineClassifier.default()


@pytest.fixture(scope="module")
def asn_table() -> dict[str, list[dict[str, object]]]:
    return gen.load_asn_file()


def test_header_names_each_source_with_version_date_licence_and_digest() -> None:
    header = read_table_file(CIDR_FILE).header
    for pkg in gen.PACKAGES:
        assert f"{pkg.name}@{pkg.version}" in header["source"]
        assert pkg.name in header["license"]
    assert re.fullmatch(r"20\d\d-\d\d-\d\d", header["date"])
    assert header["date"] == gen.ASN.date
    for licence in ("CC BY 4.0", "CC BY-SA 4.0", "MaxMind", "db-ip.com"):
        assert licence in header["license"]
    for key, pkg in (
        ("input-asn", gen.ASN),
        ("input-country", gen.COUNTRY),
        ("input-city", gen.CITY),
        ("input-city-fallback", gen.DBIP_CITY),
    ):
        assert f"sha256 {pkg.sha256}" in header[key]
    assert "bugs" in header["caution"]
    counts = re.match(r"ipv4 (\d+), ipv6 (\d+)", header["intervals"])
    assert counts is not None
    v4, v6 = int(counts[1]), int(counts[2])
    table = read_table_file(CIDR_FILE)
    assert (len(table.v4), len(table.v6)) == (v4, v6)


@pytest.mark.parametrize(
    ("address", "line"),
    [
        ("202.112.0.36", "edu"),  # CERNET backbone, AS4538
        ("223.5.5.5", "aliyun"),  # AliDNS, AS45102 (pinned to the aliyun line)
        ("8.8.8.8", "os_namerica_us"),
        ("85.214.0.1", "os_euro_de"),  # Strato, Berlin
        ("168.95.1.1", "os_asia_tw"),  # Chunghwa Telecom: outside mainland China's lines
        ("202.175.3.3", "os_asia_mo"),  # CTM Macau
        ("203.198.0.1", "os_asia_hk"),  # PCCW/HKT
        ("159.226.1.1", "cstnet"),  # CSTNET, AS7497
        ("10.1.2.3", "default"),  # private space has no entry
        ("192.168.1.1", "default"),  # the country data says AU here: reserved space is cut out
        ("172.20.0.1", "default"),
        ("2001:4860:4860::8888", "os_namerica_us"),
        ("2001:da8::1", "edu"),  # CERNET2: the country data says AU, the domestic carrier AS wins
    ],
)
def test_well_known_networks_classify_to_their_line(shipped: LineClassifier, address: str, line: str) -> None:
    assert shipped.classify(address).line == line


def test_big_carriers_get_province_lines_from_their_as_numbers(shipped: LineClassifier) -> None:
    # AS4808, China Unicom Beijing: the province comes from the AS, whatever the block's geolocation.
    assert shipped.classify("61.135.169.121").chain[:3] == ("cn_unicom_beijing", "cn_unicom_huabei", "unicom")
    # AS56040, China Mobile Guangdong.
    assert shipped.classify("36.138.120.1").chain[:3] == ("cn_mobile_guangdong", "cn_mobile_huanan", "mobile")
    # AS4847 originates China Telecom Beijing's blocks.
    got = shipped.classify("219.141.136.10")
    assert got.chain[:3] == ("cn_telecom_beijing", "cn_telecom_huabei", "telecom")
    # A CHINANET backbone (AS4134) block that GeoLite2 does not place: DB-IP's province, here the
    # Guangzhou resolver of China Telecom Guangdong.
    got = shipped.classify("202.96.128.86")
    assert got.chain[:3] == ("cn_telecom_guangdong", "cn_telecom_huanan", "telecom")
    # IPv6: China Telecom's and China Mobile's /16s.
    assert "telecom" in shipped.classify("240e::1").chain
    assert "mobile" in shipped.classify("2409:8000::1").chain


def test_nearly_all_big_carrier_space_has_a_province_line() -> None:
    carrier_only = with_province = 0
    for first, last, line in read_table_file(CIDR_FILE).v4.intervals():
        if line in ("telecom", "unicom", "mobile"):
            carrier_only += last - first + 1
        elif line.startswith(("cn_telecom_", "cn_unicom_", "cn_mobile_")):
            with_province += last - first + 1
    assert with_province > 100 * carrier_only  # a province sub-line for > 99% of their IPv4 space


def test_sandbox_clients_classify_to_the_lines_the_sandbox_prints(shipped: LineClassifier) -> None:
    for cidr, who, line in DNS_CLIENTS:
        address, prefix = cidr.split("/")
        assert shipped.classify(address, int(prefix)).line == line, who


def test_every_line_of_the_shipped_table_is_in_the_catalogue(catalogue: LineCatalogue) -> None:
    table = read_table_file(CIDR_FILE)
    names = set(table.v4.names) | set(table.v6.names)
    assert names <= set(catalogue.codes)
    # Both families are non-trivial and carry the three big carriers and the overseas lines.
    assert min(len(table.v4), len(table.v6)) > 50_000
    assert {"telecom", "unicom", "mobile", "edu", "aliyun", "internal", "os_euro_de"} <= names


def test_carrier_as_table_puts_each_as_under_one_carrier_of_the_catalogue(
    asn_table: dict[str, list[dict[str, object]]], catalogue: LineCatalogue
) -> None:
    counts = Counter(int(str(row["asn"])) for rows in asn_table.values() for row in rows)
    assert [a for a, n in counts.items() if n > 1] == []
    by_asn = gen.carriers_by_asn(asn_table)
    for number, carrier in gen.PINNED.items():
        assert by_asn[number][0] == carrier, number
    for carrier, rows in asn_table.items():
        assert carrier in catalogue
        for row in rows:
            assert row["province"] is None or row["province"] in PROVINCES
    assert (by_asn[4808], by_asn[56040]) == (("unicom", "beijing"), ("mobile", "guangdong"))
    assert by_asn[4134] == ("telecom", None)  # the nationwide backbone has no province
    assert 56043 not in by_asn  # not China Mobile's, whatever its neighbours are


# --- the generator's rules on small inputs ----------------------------------------------------------------


def test_carrier_and_province_rules_read_organisation_names() -> None:
    assert gen.carrier_of("CHINANET Guangdong province network") == "telecom"
    assert gen.carrier_of("CERNET2 IX at Beijing University of Posts and Telecommunications") == "edu"
    assert gen.carrier_of("China TieTong Telecommunications Corporation") == "mobile"
    assert gen.carrier_of("Beijing Baidu Netcom Science and Technology Co., Ltd.") is None
    assert gen.carrier_of("Chongqing Telecom") == "telecom"
    assert gen.carrier_of("BEIJING GEHUA CATV NETWORK CO.LTD") == "bgctv"
    assert gen.carrier_of("Hebei Broadcasting&TV Network") == "btvn"
    assert gen.province_of("China Unicom Shenzen network") == "guangdong"
    assert gen.province_of("UNICOM InnerMongolia province network") == "neimenggu"
    assert gen.province_of("CHINANET SHAANXI province Cloud Base network") == "shaanxi"
    assert gen.province_of("Shanxi Datong Coal Group") == "shanxi"
    assert gen.province_of("Chinanet") is None


def _stats(org: str, cn: int, total: int, provinces: dict[str, int] | None = None) -> gen.AsStats:
    s = gen.AsStats(org=org)
    s.addresses["v4"], s.cn["v4"] = total, cn
    s.provinces.update(provinces or {})
    return s


def test_carrier_table_rule_pins_names_provinces_and_excludes_foreign_ases() -> None:
    stats = {
        4134: _stats("Chinanet", 100_000, 100_000, {"guangdong": 90_000}),  # backbone: no province
        4808: _stats("Something Renamed", 50_000, 50_000),  # pinned: unicom whatever the name
        64500: _stats("China Telecom", 20_000, 20_000, {"zhejiang": 19_000, "jiangsu": 100}),
        64501: _stats("China Telecom", 20_000, 20_000, {"zhejiang": 600, "jiangsu": 500}),  # no majority
        64502: _stats("China Unicom Americas", 100, 10_000),  # mostly outside CN: not a CN carrier
        64503: _stats("CHINANET Hubei province network", 5_000, 5_000, {"guangdong": 5_000}),
        64504: _stats("Tencent", 5_000, 5_000),
    }
    table = gen.carrier_table(stats)
    by_asn = gen.carriers_by_asn(table)
    assert by_asn[4134] == ("telecom", None)
    assert by_asn[4808][0] == "unicom"
    assert by_asn[64500] == ("telecom", "zhejiang")
    assert by_asn[64501] == ("telecom", None)
    assert by_asn[64503] == ("telecom", "hubei")  # the name wins over the geolocation
    assert {64502, 64504}.isdisjoint(by_asn)
    assert [r["asn"] for r in table["telecom"]][:1] == [4134]  # biggest first
    with pytest.raises(ValueError, match="AS7 is listed under 'telecom' and 'unicom'"):
        gen.carriers_by_asn({"telecom": [{"asn": 7}], "unicom": [{"asn": 7}]})


def test_line_for_blocks() -> None:
    carriers = {4808: ("unicom", "beijing"), 4134: ("telecom", None), 4538: ("edu", None)}
    assert gen.line_for("CN", (4808, "x"), "shanghai", carriers) == "cn_unicom_beijing"  # the AS wins
    assert gen.line_for("CN", (4134, "x"), "zhejiang", carriers) == "cn_telecom_zhejiang"
    assert gen.line_for("CN", (4134, "x"), None, carriers) == "telecom"
    assert gen.line_for("CN", (4538, "x"), "beijing", carriers) == "edu"
    assert gen.line_for("CN", (64500, "Tencent"), "guangdong", carriers) == "cn_region_guangdong"
    assert gen.line_for("CN", (64500, "Hangzhou Foo"), None, carriers) == "cn_region_zhejiang"
    assert gen.line_for("CN", None, None, carriers) == "internal"
    assert gen.line_for("HK", (4134, "x"), None, carriers) == "os_asia_hk"
    assert gen.line_for("DE", None, None, carriers) == "os_euro_de"
    assert gen.line_for("ZZ", None, None, carriers) is None
    # A domestic carrier's block that the country data puts abroad is taken as CN; HK stays HK, and a
    # carrier AS that is not domestic keeps the country data's answer.
    domestic = frozenset({4538, 4134})
    assert gen.line_for("AU", (4538, "x"), None, carriers, domestic) == "edu"
    assert gen.line_for("HK", (4134, "x"), None, carriers, domestic) == "os_asia_hk"
    assert gen.line_for("AU", (4808, "x"), None, carriers, domestic) == "os_oceania_au"


def test_domestic_carrier_ases_are_the_ones_almost_all_in_china(
    asn_table: dict[str, list[dict[str, object]]],
) -> None:
    rows = {r["asn"]: r for rs in asn_table.values() for r in rs}
    assert gen.domestic_asns(asn_table) == {n for n, r in rows.items() if r["domestic"]}
    for number in (4134, 4837, 9808, 4538):
        share = rows[number]["cn_share"]
        assert rows[number]["domestic"]
        assert isinstance(share, float)
        assert share >= gen.DOMESTIC
    assert not rows[45102]["domestic"]  # Alibaba (US): mostly abroad, so its foreign blocks stay foreign


layer = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 20), st.sampled_from("abc")), max_size=12)


@given(st.lists(layer, min_size=1, max_size=3))
def test_overlay_gives_every_address_the_value_of_each_layer(raw: list[list[tuple[int, int, str]]]) -> None:
    layers = [gen.disjoint((s, s + n, v) for s, n, v in rows) for rows in raw]

    def at(ly: list[tuple[int, int, str]], x: int) -> str | None:
        return next((v for s, e, v in ly if s <= x <= e), None)

    pieces = list(gen.overlay(layers))
    covered = set()
    for first, last, values in pieces:
        assert first <= last
        for x in range(first, last + 1):
            assert values == [at(ly, x) for ly in layers]
            covered.add(x)
    assert covered == {x for s, e, _ in layers[0] for x in range(s, e + 1)}


def test_reserved_space_is_cut_out_of_the_country_layer() -> None:
    ip = ipaddress.ip_address
    v4 = gen.carve([(int(ip("172.0.0.0")), int(ip("192.168.255.255")), "AU")], 4)
    assert v4[0] == (int(ip("172.0.0.0")), int(ip("172.15.255.255")), "AU")
    assert v4[1][0] == int(ip("172.32.0.0"))
    for reserved in ("172.16.0.1", "192.168.1.1", "192.0.2.1", "192.88.99.1"):
        assert all(not s <= int(ip(reserved)) <= e for s, e, _ in v4), reserved
    assert v4[-1] == (int(ip("192.88.100.0")), int(ip("192.167.255.255")), "AU")
    v6 = gen.carve([(int(ip("2001:db7::")), int(ip("2001:db9::")) - 1, "DE")], 6)
    assert v6 == [(int(ip("2001:db7::")), int(ip("2001:db8::")) - 1, "DE")]


def test_intervals_join_neighbours_and_key_ipv6_by_its_top_64_bits() -> None:
    carriers = {4134: ("telecom", None)}
    v4 = gen.intervals(
        [
            (0, 9, ["CN", (4134, "x"), None]),
            (10, 19, ["CN", (4134, "x"), None]),
            (20, 29, ["DE", None, None]),
            (30, 39, ["ZZ", None, None]),
        ],
        carriers,
        v6=False,
    )
    assert v4 == [(0, 19, "telecom"), (20, 29, "os_euro_de")]
    p = 1 << 64
    v6 = gen.intervals(
        [
            (p, 2 * p - 1, ["DE", None, None]),
            (2 * p, 2 * p + 5, ["FR", None, None]),
            (2 * p + 6, 3 * p - 1, ["US", None, None]),
        ],
        carriers,
        v6=True,
    )
    assert v6 == [(1, 1, "os_euro_de"), (2, 2, "os_euro_fr")]  # a sub-/64 block keeps the first line


def _tarball(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_reads_the_packages_csv_and_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    tgz = tmp_path / gen.ASN.tarball
    _tarball(
        tgz,
        {
            "package/asn-ipv4.csv": '1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."\n'
            "1.0.0.128,1.0.0.200,1,overlapping row of a buggy build\n"
            "1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\n",
            "package/geo.csv": "2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,jp\n",
        },
    )
    with tarfile.open(tgz) as tar:
        assert gen.read_asn(tar, "package/asn-ipv4.csv") == [
            (0x01000000, 0x010000FF, (13335, "Cloudflare, Inc.")),
            (0x01000400, 0x010007FF, (38803, "Gtelecom Pty Ltd")),
        ]
        ((first, last, cc),) = gen.read_country(tar, "package/geo.csv")
        assert (first >> 96, (last - first + 1).bit_length() - 1, cc) == (0x20010200, 96, "JP")
    with pytest.raises(SystemExit, match=r"sha256 \w+ is not the pinned"):
        gen.fetch(gen.ASN, tmp_path)  # present, so no npm call: checked and refused
