"""Writes ``lines.json``, the alidns line catalogue, from the tables below.

Run ``python -m federation.dns.data.make_lines`` after editing the tables; the JSON is what the
project loads (the catalogue is data, not code). Line codes follow alidns's DescribeSupportLines
(``LineCode``/``FatherCode``): level-1 lines ``default``, the carriers, ``internal`` and ``oversea``;
carrier-by-province lines ``cn_<carrier>_<province>``; mainland regions ``cn_region_<area>`` and
provinces ``cn_region_<province>``; overseas continents ``os_<continent>`` and countries
``os_<continent>_<iso2>``. The province and overseas-country codes are from third-party listings of
alidns lines and are not confirmed against a live account; ``fedctl dns lines --check`` compares them
with a live DescribeSupportLines answer.

Each line also names a *vantage* region: the cloud region whose measured latency stands for that
client population (the region nearest to it), and ``geo``: the geographic line a carrier line's
clients live in, so a carrier client falls back to its region lines before ``default``.
"""

from __future__ import annotations

import json
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

# Carriers with province sub-lines: code -> (display name, vantage region for the whole carrier).
CARRIERS: dict[str, tuple[str, str]] = {
    "telecom": ("China Telecom", "cn-shanghai"),
    "unicom": ("China Unicom", "cn-beijing"),
    "mobile": ("China Mobile", "cn-beijing"),
}
# Carriers without province sub-lines.
SMALL_CARRIERS: dict[str, tuple[str, str]] = {
    "edu": ("CERNET (education network)", "cn-beijing"),
    "cstnet": ("China Science and Technology Network", "cn-beijing"),
    "drpeng": ("Dr. Peng", "cn-beijing"),
    "btvn": ("Beijing Gehua CATV", "cn-beijing"),
    "cnix": ("China Networks Inter-Exchange", "cn-beijing"),
}

CONTINENTS: dict[str, tuple[str, str]] = {
    "asia": ("Asia", "ap-southeast-1"),
    "euro": ("Europe", "eu-central-1"),
    "namerica": ("North America", "us-west-1"),
    "samerica": ("South America", "us-east-1"),
    "africa": ("Africa", "eu-central-1"),
    "oceania": ("Oceania", "ap-southeast-2"),
}

# Overseas countries with their own line: iso2 -> (continent, display name, vantage region).
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "hk": ("asia", "Hong Kong", "cn-hongkong"),
    "mo": ("asia", "Macao", "cn-hongkong"),
    "tw": ("asia", "Taiwan", "cn-hongkong"),
    "jp": ("asia", "Japan", "ap-northeast-1"),
    "kr": ("asia", "South Korea", "ap-northeast-2"),
    "sg": ("asia", "Singapore", "ap-southeast-1"),
    "my": ("asia", "Malaysia", "ap-southeast-3"),
    "id": ("asia", "Indonesia", "ap-southeast-5"),
    "th": ("asia", "Thailand", "ap-southeast-7"),
    "ph": ("asia", "Philippines", "ap-southeast-6"),
    "vn": ("asia", "Vietnam", "ap-southeast-1"),
    "in": ("asia", "India", "ap-southeast-1"),
    "ae": ("asia", "United Arab Emirates", "me-east-1"),
    "sa": ("asia", "Saudi Arabia", "me-central-1"),
    "us": ("namerica", "United States", "us-west-1"),
    "ca": ("namerica", "Canada", "us-east-1"),
    "mx": ("namerica", "Mexico", "us-west-1"),
    "br": ("samerica", "Brazil", "us-east-1"),
    "gb": ("euro", "United Kingdom", "eu-west-1"),
    "de": ("euro", "Germany", "eu-central-1"),
    "fr": ("euro", "France", "eu-central-1"),
    "nl": ("euro", "Netherlands", "eu-central-1"),
    "ru": ("euro", "Russia", "eu-central-1"),
    "au": ("oceania", "Australia", "ap-southeast-2"),
    "za": ("africa", "South Africa", "eu-central-1"),
}


def build() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(code: str, name: str, parent: str | None, vantage: str | None, geo: str | None = None) -> None:
        out.append({"code": code, "name": name, "parent": parent, "vantage": vantage, "geo": geo})

    add("default", "Default", None, None)
    for code, (name, vantage) in CARRIERS.items():
        add(code, name, "default", vantage, "internal")
    for code, (name, vantage) in SMALL_CARRIERS.items():
        add(code, name, "default", vantage, "internal")
    add("internal", "Mainland China", "default", "cn-hangzhou")
    for area, (name, vantage) in AREAS.items():
        add(f"cn_region_{area}", name, "internal", vantage)
    for prov, (name, area, vantage) in PROVINCES.items():
        add(f"cn_region_{prov}", name, f"cn_region_{area}", vantage)
    for carrier, (cname, _) in CARRIERS.items():
        for prov, (name, _area, vantage) in PROVINCES.items():
            add(f"cn_{carrier}_{prov}", f"{cname} {name}", carrier, vantage, f"cn_region_{prov}")
    add("oversea", "Outside mainland China", "default", "ap-southeast-1")
    for cont, (name, vantage) in CONTINENTS.items():
        add(f"os_{cont}", name, "oversea", vantage)
    for iso, (cont, name, vantage) in COUNTRIES.items():
        add(f"os_{cont}_{iso}", name, f"os_{cont}", vantage)
    return out


def main() -> None:
    path = Path(__file__).with_name("lines.json")
    doc = {
        "source": "alidns DescribeSupportLines line codes (LineCode, FatherCode); province and country "
                  "codes from third-party listings, unconfirmed against a live account",
        "lines": build(),
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
