"""Writes ``lines.json``, the alidns line catalogue, from the tables below.

Run ``python -m federation.dns.data.make_lines`` after editing the tables (``--check`` compares the
result with the committed file); the JSON is what the project loads (the catalogue is data, not code).

Line codes and parents follow Alibaba Cloud DNS's published line lists, which are also what
DescribeSupportLines returns (``LineCode``/``FatherCode``):

- "Resolution line enumeration" (https://www.alibabacloud.com/help/en/dns/pubz-resolve-line-enumeration,
  updated 2025-12-17): the level-1 lines ``default``, the carriers (``telecom`` ... ``bgctv``),
  ``aliyun``, ``search`` with its engines, ``oversea`` and ``internal``;
- "ISP lines" (https://help.aliyun.com/en/dns/pubz-operator-line): each big carrier has area lines
  ``cn_<carrier>_<area>`` (``dongbei``, ``huabei``, ``huadong``, ``huanan``, ``huazhong``, ``xibei``,
  ``xinan``) with the province lines ``cn_<carrier>_<province>`` below them;
- "Lines for regions in the Chinese mainland"
  (https://www.alibabacloud.com/help/en/dns/lines-for-regions-in-the-chinese-mainland): ``internal``,
  the areas ``cn_region_<area>`` and below them the provinces ``cn_region_<province>``;
- "Lines for regions outside the Chinese mainland"
  (https://www.alibabacloud.com/help/en/dns/lines-for-regions-outside-the-chinese-mainland):
  ``oversea``, the continents ``os_<continent>`` and the countries and regions
  ``os_<continent>_<iso2>``. The page lists Africa in full; the other continents' codes follow the
  same pattern (``os_asia``, ``os_euro``, ``os_namerica``, ``os_samerica``, ``os_oceania``) and are
  generated for every ISO 3166 code of the continent. The page spells Western Sahara
  ``os_africa_os_africa_eh``, which reads as a typo; the catalogue uses ``os_africa_eh``.
  ``fedctl dns lines --check DOMAIN`` compares the catalogue with a live DescribeSupportLines answer.

Country names come from the IANA time zone database's ``iso3166.tab`` (read when this script runs;
not needed at run time).

Each line also names a *vantage* region: the cloud region whose measured latency stands for that
client population (the region nearest to it), and ``geo``: the geographic line a carrier line's
clients live in, so a carrier client falls back to its region lines before ``default``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Mainland provinces: code -> (display name, area line, vantage region).
PROVINCES: dict[str, tuple[str, str, str]] = {
    "beijing": ("Beijing", "huabei", "cn-beijing"),
    "tianjin": ("Tianjin", "huabei", "cn-beijing"),
    "hebei": ("Hebei", "huabei", "cn-zhangjiakou"),
    "shanxi": ("Shanxi", "huabei", "cn-beijing"),
    "neimenggu": ("Inner Mongolia", "huabei", "cn-huhehaote"),
    "liaoning": ("Liaoning", "dongbei", "cn-beijing"),
    "jilin": ("Jilin", "dongbei", "cn-beijing"),
    "heilongjiang": ("Heilongjiang", "dongbei", "cn-beijing"),
    "shanghai": ("Shanghai", "huadong", "cn-shanghai"),
    "jiangsu": ("Jiangsu", "huadong", "cn-shanghai"),
    "zhejiang": ("Zhejiang", "huadong", "cn-hangzhou"),
    "anhui": ("Anhui", "huadong", "cn-shanghai"),
    "fujian": ("Fujian", "huadong", "cn-hangzhou"),
    "jiangxi": ("Jiangxi", "huadong", "cn-hangzhou"),
    "shandong": ("Shandong", "huadong", "cn-qingdao"),
    "henan": ("Henan", "huazhong", "cn-beijing"),
    "hubei": ("Hubei", "huazhong", "cn-shanghai"),
    "hunan": ("Hunan", "huazhong", "cn-shenzhen"),
    "guangdong": ("Guangdong", "huanan", "cn-shenzhen"),
    "guangxi": ("Guangxi", "huanan", "cn-shenzhen"),
    "hainan": ("Hainan", "huanan", "cn-shenzhen"),
    "chongqing": ("Chongqing", "xinan", "cn-chengdu"),
    "sichuan": ("Sichuan", "xinan", "cn-chengdu"),
    "guizhou": ("Guizhou", "xinan", "cn-chengdu"),
    "yunnan": ("Yunnan", "xinan", "cn-chengdu"),
    "xizang": ("Tibet", "xinan", "cn-chengdu"),
    "shaanxi": ("Shaanxi", "xibei", "cn-chengdu"),
    "gansu": ("Gansu", "xibei", "cn-chengdu"),
    "qinghai": ("Qinghai", "xibei", "cn-chengdu"),
    "ningxia": ("Ningxia", "xibei", "cn-beijing"),
    "xinjiang": ("Xinjiang", "xibei", "cn-beijing"),
}

AREAS: dict[str, tuple[str, str]] = {
    "huabei": ("North China", "cn-beijing"),
    "dongbei": ("Northeast China", "cn-beijing"),
    "huadong": ("East China", "cn-hangzhou"),
    "huazhong": ("Central China", "cn-shanghai"),
    "huanan": ("South China", "cn-shenzhen"),
    "xinan": ("Southwest China", "cn-chengdu"),
    "xibei": ("Northwest China", "cn-chengdu"),
}

# Carriers with area and province sub-lines: code -> (display name, vantage region for the carrier).
CARRIERS: dict[str, tuple[str, str]] = {
    "telecom": ("China Telecom", "cn-shanghai"),
    "unicom": ("China Unicom", "cn-beijing"),
    "mobile": ("China Mobile", "cn-beijing"),
}
# The other level-1 lines: code -> (display name, vantage region, geographic line of its clients).
OTHER_LINES: dict[str, tuple[str, str, str | None]] = {
    "edu": ("China Education Network", "cn-beijing", "internal"),
    "drpeng": ("China Dr.Peng", "cn-beijing", "internal"),
    "btvn": ("China Broadcasting Network", "cn-beijing", "internal"),
    "cstnet": ("Science and Technology Network", "cn-beijing", "internal"),
    "wexchange": ("ChiLink Network", "cn-beijing", "internal"),
    "founder": ("Founder Broadband", "cn-beijing", "internal"),
    "topway_video": ("Topway Video", "cn-shenzhen", "internal"),
    "wasu": ("Wasu Broadband", "cn-hangzhou", "internal"),
    "ocn": ("Oriental Cable Network", "cn-shanghai", "internal"),
    "cnix": ("Haokuan Network", "cn-beijing", "internal"),
    "bgctv": ("Gehua Cable", "cn-beijing", "internal"),
    "aliyun": ("Alibaba Cloud", "cn-hangzhou", None),
}
# Search-engine crawler lines under ``search``: code -> (display name, vantage region).
SEARCH_ENGINES: dict[str, tuple[str, str]] = {
    "google": ("Google", "us-west-1"),
    "baidu": ("Baidu", "cn-beijing"),
    "biying": ("Bing", "cn-beijing"),
    "youdao": ("Youdao", "cn-beijing"),
    "yahoo": ("Yahoo", "us-west-1"),
}

CONTINENTS: dict[str, tuple[str, str]] = {
    "asia": ("Asia", "ap-southeast-1"),
    "euro": ("Europe", "eu-central-1"),
    "namerica": ("North America", "us-west-1"),
    "samerica": ("South America", "us-east-1"),
    "africa": ("Africa", "eu-central-1"),
    "oceania": ("Oceania", "ap-southeast-2"),
}

# ISO 3166-1 alpha-2 codes by continent (UN geoscheme; Russia counted in Europe, the Middle East and
# Central Asia in Asia, as Alibaba's lists do). Mainland China (CN) has its own lines.
CONTINENT_CODES: dict[str, str] = {
    "africa": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG "
    "ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
    "asia": "AE AF AM AZ BD BH BN BT CC CX CY GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK "
    "MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
    "euro": "AD AL AT AX BA BE BG BY CH CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU "
    "LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
    "namerica": "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI "
    "PA PM PR SV SX TC TT US VC VG VI UM",
    "samerica": "AR BO BR CL CO EC FK GF GY PE PY SR UY VE GS",
    "oceania": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV VU WF WS",
}
CONTINENT: dict[str, str] = {cc: cont for cont, codes in CONTINENT_CODES.items() for cc in codes.split()}

# Where a country's clients are nearer another region than their continent's vantage.
COUNTRY_VANTAGE: dict[str, str] = {
    **dict.fromkeys(["HK", "MO", "TW"], "cn-hongkong"),
    **dict.fromkeys(["JP"], "ap-northeast-1"),
    **dict.fromkeys(["KR", "KP", "MN"], "ap-northeast-2"),
    **dict.fromkeys(["MY", "BN"], "ap-southeast-3"),
    **dict.fromkeys(["ID", "TL"], "ap-southeast-5"),
    **dict.fromkeys(["PH"], "ap-southeast-6"),
    **dict.fromkeys(["TH", "KH", "LA", "MM"], "ap-southeast-7"),
    **dict.fromkeys(["IN", "PK", "BD", "LK", "NP", "BT", "MV", "AF", "IO"], "ap-south-1"),
    **dict.fromkeys(["AE", "OM", "QA", "BH", "KW", "IR", "IQ", "YE"], "me-east-1"),
    **dict.fromkeys(["SA", "JO", "SY", "LB", "IL", "PS"], "me-central-1"),
    **dict.fromkeys(["KZ", "KG", "TJ", "TM", "UZ", "AM", "AZ", "GE", "TR", "CY"], "eu-central-1"),
    **dict.fromkeys(["GB", "IE", "IM", "JE", "GG", "IS", "FO", "PT", "ES", "GI"], "eu-west-1"),
    **dict.fromkeys(
        ["CA", "PR", "VI", "VG", "BS", "BM", "CU", "DO", "HT", "JM", "KY", "TC", "PM"], "us-east-1"
    ),
    **dict.fromkeys(
        [
            "KE",
            "TZ",
            "UG",
            "ET",
            "SO",
            "DJ",
            "ER",
            "SD",
            "SS",
            "RW",
            "BI",
            "SC",
            "MU",
            "MG",
            "KM",
            "RE",
            "YT",
        ],
        "me-east-1",
    ),
    **dict.fromkeys(["GU", "MP", "PW", "FM", "MH"], "ap-northeast-1"),
}

ISO3166_TAB = Path("/usr/share/zoneinfo/iso3166.tab")


def country_names() -> dict[str, str]:
    """ISO 3166 code -> English short name, from the time zone database's ``iso3166.tab``."""
    path = ISO3166_TAB
    if not path.is_file():
        import importlib.resources

        path = Path(str(importlib.resources.files("tzdata").joinpath("zoneinfo/iso3166.tab")))
    names: dict[str, str] = {"XK": "Kosovo"}  # user-assigned code, absent from the ISO table
    for row in path.read_text(encoding="utf-8").splitlines():
        if row and not row.startswith("#"):
            code, name = row.split("\t", 1)
            names[code] = name.strip()
    return names


def build() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(code: str, name: str, parent: str | None, vantage: str | None, geo: str | None = None) -> None:
        out.append({"code": code, "name": name, "parent": parent, "vantage": vantage, "geo": geo})

    add("default", "Default", None, None)
    for code, (name, vantage) in CARRIERS.items():
        add(code, name, "default", vantage, "internal")
    for code, (name, vantage, geo) in OTHER_LINES.items():
        add(code, name, "default", vantage, geo)
    add("search", "Search engines", "default", "cn-beijing")
    for code, (name, vantage) in SEARCH_ENGINES.items():
        add(code, name, "search", vantage)
    add("internal", "Mainland China", "default", "cn-hangzhou")
    for area, (name, vantage) in AREAS.items():
        add(f"cn_region_{area}", name, "internal", vantage)
    for prov, (name, area, vantage) in PROVINCES.items():
        add(f"cn_region_{prov}", name, f"cn_region_{area}", vantage)
    for carrier, (cname, _) in CARRIERS.items():
        for area, (aname, vantage) in AREAS.items():
            add(f"cn_{carrier}_{area}", f"{cname} {aname}", carrier, vantage, f"cn_region_{area}")
        for prov, (name, area, vantage) in PROVINCES.items():
            add(
                f"cn_{carrier}_{prov}",
                f"{cname} {name}",
                f"cn_{carrier}_{area}",
                vantage,
                f"cn_region_{prov}",
            )
    add("oversea", "Outside mainland China", "default", "ap-southeast-1")
    names = country_names()
    for cont, (name, vantage) in CONTINENTS.items():
        add(f"os_{cont}", name, "oversea", vantage)
        for iso in CONTINENT_CODES[cont].split():
            add(
                f"os_{cont}_{iso.lower()}",
                f"{name} {names.get(iso, iso)}",
                f"os_{cont}",
                COUNTRY_VANTAGE.get(iso, vantage),
            )
    return out


def render() -> str:
    doc = {
        "source": "Alibaba Cloud DNS line lists (resolution line enumeration, ISP lines, lines for regions "
        "in and outside the Chinese mainland; see make_lines.py); country names from iso3166.tab",
        "lines": build(),
    }
    return json.dumps(doc, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    path = Path(__file__).with_name("lines.json")
    text = render()
    if "--check" in (argv if argv is not None else sys.argv[1:]):
        if path.read_text() != text:
            print(f"{path} is stale: run python -m federation.dns.data.make_lines", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
