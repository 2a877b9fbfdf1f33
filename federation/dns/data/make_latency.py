"""Writes ``latency.json``: the shipped default round-trip times between cloud regions.

No public source publishes a complete, current inter-region RTT matrix for Alibaba Cloud, so the
default table is a model, and only a default: the user's configuration overrides any pair, and
live samples (persisted by the health sweeps) override both. The model, with its sources:

- region locations: the cities Alibaba Cloud names for its regions ("Regions and zones", Alibaba
  Cloud documentation), coordinates of those cities;
- propagation: light in optical fibre travels at about 2/3 c, ~200 km per ms (ITU-T G.114 uses the
  same 5 us/km planning figure), over a path stretched 1.5x beyond the great circle (routes follow
  cables and landings, not geodesics), plus 2 ms of switching per round trip;
- cross-border: traffic between mainland China and elsewhere crosses a few international gateways,
  which public measurements put at tens of ms extra; the model adds 30 ms.

Spot checks against published measurements of this kind (e.g. Hangzhou-Beijing ~25-30 ms,
Hangzhou-Singapore ~70-80 ms over the internet) are within the tolerance a DNS steering decision
needs: the table orders regions by distance, which is what steering uses it for.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

# region -> (city, latitude, longitude, mainland China?)
REGIONS: dict[str, tuple[str, float, float, bool]] = {
    "cn-qingdao": ("Qingdao", 36.07, 120.38, True),
    "cn-beijing": ("Beijing", 39.90, 116.40, True),
    "cn-zhangjiakou": ("Zhangjiakou", 40.77, 114.88, True),
    "cn-huhehaote": ("Hohhot", 40.84, 111.75, True),
    "cn-wulanchabu": ("Ulanqab", 41.00, 113.10, True),
    "cn-hangzhou": ("Hangzhou", 30.27, 120.15, True),
    "cn-shanghai": ("Shanghai", 31.23, 121.47, True),
    "cn-nanjing": ("Nanjing", 32.06, 118.80, True),
    "cn-fuzhou": ("Fuzhou", 26.07, 119.30, True),
    "cn-shenzhen": ("Shenzhen", 22.54, 114.06, True),
    "cn-heyuan": ("Heyuan", 23.74, 114.70, True),
    "cn-guangzhou": ("Guangzhou", 23.13, 113.26, True),
    "cn-chengdu": ("Chengdu", 30.57, 104.07, True),
    "cn-hongkong": ("Hong Kong", 22.32, 114.17, False),
    "ap-northeast-1": ("Tokyo", 35.68, 139.69, False),
    "ap-northeast-2": ("Seoul", 37.57, 126.98, False),
    "ap-southeast-1": ("Singapore", 1.35, 103.82, False),
    "ap-southeast-2": ("Sydney", -33.87, 151.21, False),
    "ap-southeast-3": ("Kuala Lumpur", 3.14, 101.69, False),
    "ap-southeast-5": ("Jakarta", -6.20, 106.85, False),
    "ap-southeast-6": ("Manila", 14.60, 120.98, False),
    "ap-southeast-7": ("Bangkok", 13.76, 100.50, False),
    "ap-south-1": ("Mumbai", 19.08, 72.88, False),
    "us-west-1": ("Silicon Valley", 37.39, -122.08, False),
    "us-east-1": ("Virginia", 38.90, -77.43, False),
    "eu-central-1": ("Frankfurt", 50.11, 8.68, False),
    "eu-west-1": ("London", 51.51, -0.13, False),
    "me-east-1": ("Dubai", 25.20, 55.27, False),
    "me-central-1": ("Riyadh", 24.71, 46.68, False),
}

FIBRE_KM_PER_MS = 200.0
PATH_STRETCH = 1.5
SWITCHING_MS = 2.0
CROSS_BORDER_MS = 30.0


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def rtt_ms(a: str, b: str) -> float:
    if a == b:
        return 1.0
    ca, cb = REGIONS[a], REGIONS[b]
    km = great_circle_km((ca[1], ca[2]), (cb[1], cb[2]))
    rtt = 2 * km * PATH_STRETCH / FIBRE_KM_PER_MS + SWITCHING_MS
    if ca[3] != cb[3]:
        rtt += CROSS_BORDER_MS
    return round(rtt, 1)


def main() -> None:
    doc = {
        "source": "model: great-circle distance between region cities x1.5 path stretch at 200 km/ms "
                  "(ITU-T G.114 5 us/km) + 2 ms, +30 ms across the mainland China border; "
                  "see make_latency.py",
        "regions": {r: {"city": c[0], "lat": c[1], "lon": c[2], "mainland": c[3]}
                    for r, c in REGIONS.items()},
        "rtt_ms": {a: {b: rtt_ms(a, b) for b in REGIONS} for a in REGIONS},
    }
    Path(__file__).with_name("latency.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
