"""Line catalogue and classifier: chains, longest-prefix match, overlay, ECS scope, shipped table."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.dns.lines import (
    CIDR_FILE,
    Line,
    LineCatalogue,
    LineClassifier,
    LineError,
    default_catalogue,
    read_table_file,
    write_table_file,
)


def test_catalogue_chains_end_at_default_and_carriers_fall_back_through_geography(
    catalogue: LineCatalogue,
) -> None:
    assert catalogue.chain("cn_telecom_zhejiang") == (
        "cn_telecom_zhejiang",
        "cn_telecom_huadong",
        "telecom",
        "cn_region_zhejiang",
        "cn_region_huadong",
        "internal",
        "default",
    )
    assert catalogue.chain("os_asia_jp") == ("os_asia_jp", "os_asia", "oversea", "default")
    for line in catalogue:
        assert catalogue.chain(line.code)[-1] == "default"
        assert line.code == "default" or line.vantage  # every line has a region standing for it


def test_catalogue_follows_the_published_line_lists(catalogue: LineCatalogue) -> None:
    # Level-1 lines as Alibaba Cloud DNS enumerates them.
    level1 = {line.code for line in catalogue if line.parent == "default"}
    assert level1 == {
        "telecom",
        "unicom",
        "mobile",
        "edu",
        "drpeng",
        "btvn",
        "cstnet",
        "wexchange",
        "founder",
        "topway_video",
        "wasu",
        "ocn",
        "cnix",
        "bgctv",
        "aliyun",
        "search",
        "oversea",
        "internal",
    }
    assert set(catalogue.children("search")) == {"google", "baidu", "biying", "youdao", "yahoo"}
    # Three levels for the big carriers: carrier, area, province.
    for carrier in ("telecom", "unicom", "mobile"):
        areas = set(catalogue.children(carrier))
        assert areas == {
            f"cn_{carrier}_{a}"
            for a in ("dongbei", "huabei", "huadong", "huanan", "huazhong", "xibei", "xinan")
        }
    assert catalogue.get("cn_unicom_guangdong").parent == "cn_unicom_huanan"
    assert catalogue.get("cn_region_xinjiang").parent == "cn_region_xibei"
    # Every country line sits under its continent; Africa as the published list spells it.
    for code in ("os_africa_ao", "os_africa_ci", "os_africa_za", "os_africa_tn", "os_africa_mu"):
        assert catalogue.get(code).parent == "os_africa"
    assert len(catalogue.children("os_africa")) >= 50
    assert all(c.startswith("os_euro_") and len(c) == 10 for c in catalogue.children("os_euro"))


def test_committed_catalogue_is_what_the_generator_writes() -> None:
    from federation.dns.data import make_lines

    assert make_lines.main(["--check"]) == 0


def test_catalogue_rejects_unknown_parents_and_cycles() -> None:
    with pytest.raises(LineError, match="'x': parent 'nope' is not a known line"):
        LineCatalogue([Line("default", "d", None, None), Line("x", "x", "nope", None)])
    with pytest.raises(LineError, match="cycle"):
        LineCatalogue(
            [Line("default", "d", None, None), Line("a", "a", "b", None), Line("b", "b", "a", None)]
        )


def test_shipped_table_names_its_source_and_date_and_classifies_known_networks() -> None:
    header = read_table_file(CIDR_FILE).header
    for source in ("@ip-location-db/asn@", "geo-whois-asn-country"):
        assert source in header["source"]
    assert header["date"][:2] == "20"
    assert "CC BY 4.0" in header["license"]
    c = LineClassifier.default()
    # CERNET's backbone, China Unicom Beijing (AS4808), a US address, Google's IPv6 resolver.
    assert c.classify("202.112.0.36").line == "edu"
    assert c.classify("61.135.169.121").chain[:3] == ("cn_unicom_beijing", "cn_unicom_huabei", "unicom")
    assert c.classify("8.8.8.8").chain[-3:] == ("os_namerica", "oversea", "default")
    assert c.classify("2001:4860:4860::8888").chain[-2:] == ("oversea", "default")
    assert c.classify("10.1.2.3").line == "default"  # private space answers default


def test_the_table_file_round_trips_and_the_same_table_gives_the_same_bytes(tmp_path: Path) -> None:
    v4 = [(0x01000000, 0x010000FF, "os_oceania_au"), (0x24150000, 0x2415FFFF, "cn_telecom_zhejiang")]
    v6 = [(0x20010DA8 << 32, (0x20010DA8 << 32) | 0xFFFFFFFF, "edu")]
    a, b = tmp_path / "a.gz", tmp_path / "b.gz"
    write_table_file(a, ["# source: test", "# date: 2026-01-01"], v4, v6)
    write_table_file(b, ["# source: test", "# date: 2026-01-01"], v4, v6)
    assert a.read_bytes() == b.read_bytes()  # regenerating a table does not make a diff ...
    assert a.read_bytes()[3:8] == b"\0\0\0\0\0"  # ... at any time: no name flag, zero mtime
    table = read_table_file(a)
    assert table.header["source"] == "test"
    assert table.v4.intervals() == v4
    assert table.v6.intervals() == v6


def test_user_overlay_wins_and_names_its_bad_entries(tmp_path: Path, catalogue: LineCatalogue) -> None:
    f = tmp_path / "cidrs.yaml"
    f.write_text("cn_telecom_zhejiang: [8.8.8.0/24]\nos_euro_de: ['2001:db8::/32']\n")
    c = LineClassifier.default(overlay_file=f)
    got = c.classify("8.8.8.8")
    assert (got.line, got.prefix_len) == ("cn_telecom_zhejiang", 24)
    assert c.classify("2001:db8::1").line == "os_euro_de"
    assert c.classify("8.8.4.4").line != "cn_telecom_zhejiang"
    f.write_text("nosuchline: [1.2.3.0/24]\n")
    with pytest.raises(LineError, match="unknown line 'nosuchline'"):
        LineClassifier.default(overlay_file=f)
    f.write_text("telecom: [1.2.3.0/33]\n")
    with pytest.raises(LineError, match=r"telecom\[0\]"):
        LineClassifier.default(overlay_file=f)


def test_ecs_source_prefix_and_mapped_addresses(classifier: LineClassifier) -> None:
    assert classifier.classify("198.51.100.77").line == "cn_telecom_zhejiang"
    assert classifier.classify("198.51.100.200", 16).line == "default"  # the /16's base is outside
    assert classifier.classify("::ffff:198.51.100.7").line == "cn_telecom_zhejiang"


LINE_CODES = ["telecom", "unicom", "os_asia", "os_euro_de", "internal"]


@st.composite
def tables(draw: st.DrawFn) -> list[tuple[ipaddress.IPv4Network, str]]:
    out: dict[ipaddress.IPv4Network, str] = {}  # one line per network: no ambiguous duplicates
    for _ in range(draw(st.integers(0, 12))):
        prefix = draw(st.integers(4, 28))
        addr = draw(st.integers(0, 2**32 - 1)) >> (32 - prefix) << (32 - prefix)
        out[ipaddress.IPv4Network((addr, prefix))] = draw(st.sampled_from(LINE_CODES))
    return list(out.items())


def naive(
    ip: ipaddress.IPv4Address,
    base: list[tuple[ipaddress.IPv4Network, str]],
    overlay: list[tuple[ipaddress.IPv4Network, str]],
) -> str:
    """The overlay wins wherever it covers; inside each table the longest prefix wins."""
    for table in (overlay, base):
        hits = [(n.prefixlen, line) for n, line in table if ip in n]
        if hits:
            return max(hits)[1]
    return "default"


@settings(max_examples=150, deadline=None)
@given(base=tables(), overlay=tables(), probes=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20))
def test_longest_prefix_match_with_overlay_and_a_scope_that_holds(
    base: list[tuple[ipaddress.IPv4Network, str]],
    overlay: list[tuple[ipaddress.IPv4Network, str]],
    probes: list[int],
) -> None:
    c = LineClassifier(default_catalogue(), base, overlay)
    edges = [int(n.network_address) for n, _ in base + overlay] + [
        int(n.broadcast_address) for n, _ in base + overlay
    ]
    for ip in [*probes, *edges]:
        addr = ipaddress.IPv4Address(ip)
        got = c.classify(addr)
        assert got.line == naive(addr, base, overlay)
        # Every address inside the answer's scope gets the same line (what a resolver will cache).
        block = ipaddress.IPv4Network((ip >> (32 - got.prefix_len) << (32 - got.prefix_len), got.prefix_len))
        for probe in (block.network_address, block.broadcast_address):
            assert c.classify(probe).line == got.line
