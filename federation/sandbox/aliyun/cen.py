"""Stateful CEN (product Cbn, API 2017-09-12): instances, child attachments, bandwidth packages, limits.

Child instances move ``Attaching`` -> ``Attached`` (and ``Detaching`` -> gone) after ``transition_delay``
seconds, computed from the clock when read, so nothing runs in the background. While a child of a CEN is
in transition, another attach/detach on that CEN answers ``Operation.Blocking`` (a code the Terraform
provider retries on). Codes from the Terraform provider (``ParameterCenInstanceId``,
``ParameterInstanceId``, ``InvalidOperation.ChildInstanceStatus``); HTTP statuses are *unconfirmed*
and answered as 400. Inter-region limits need an associated bandwidth package that spans both regions'
geographic areas, and their sum per area pair may not exceed the package
(``InvalidOperation.BandwidthLimitExceed``, code *unconfirmed*).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from federation.sandbox.aliyun.protocol import ApiError, Params, invalid

AREAS = ("China", "North-America", "Asia-Pacific", "Europe", "Middle-East", "Australia")
CHILD_TYPES = ("VPC", "VBR", "CCN")


def area_of(region: str) -> str:
    if region in ("cn-hongkong",) or region.startswith("ap-"):
        return "Asia-Pacific" if not region.startswith("ap-southeast-2") else "Australia"
    if region.startswith("cn-"):
        return "China"
    if region.startswith("us-"):
        return "North-America"
    if region.startswith("eu-"):
        return "Europe"
    if region.startswith("me-"):
        return "Middle-East"
    return "Asia-Pacific"


@dataclass
class Child:
    cen_id: str
    child_id: str
    child_type: str
    region: str
    owner_id: str
    since: float
    detaching: bool = False


@dataclass
class Cen:
    cen_id: str
    name: str
    description: str
    protection_level: str
    created: str
    packages: list[str] = field(default_factory=list)
    limits: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class BandwidthPackage:
    package_id: str
    bandwidth: int
    area_a: str
    area_b: str
    name: str
    cen_id: str | None = None


class CenService:
    def __init__(
        self,
        transition_delay: float = 1.0,
        owner_id: str = "1234567890123456",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transition_delay = transition_delay
        self.owner_id = owner_id
        self._clock = clock
        self.cens: dict[str, Cen] = {}
        self.children: dict[tuple[str, str], Child] = {}  # (cen_id, child_id)
        self.packages: dict[str, BandwidthPackage] = {}
        self.tokens: dict[str, str] = {}
        self.actions: dict[str, Callable[[Params], dict[str, Any]]] = {
            name: getattr(self, name)
            for name in (
                "CreateCen",
                "DescribeCens",
                "AttachCenChildInstance",
                "DetachCenChildInstance",
                "DescribeCenAttachedChildInstances",
                "CreateCenBandwidthPackage",
                "AssociateCenBandwidthPackage",
                "UnassociateCenBandwidthPackage",
                "DescribeCenBandwidthPackages",
                "SetCenInterRegionBandwidthLimit",
                "DescribeCenInterRegionBandwidthLimits",
                "DescribeCenGeographicSpanRemainingBandwidth",
            )
        }

    # ---- helpers -------------------------------------------------------------------------------
    def _settle(self) -> None:
        """Apply transitions whose delay has passed (called before every read and write)."""
        now = self._clock()
        for key, child in list(self.children.items()):
            if child.detaching and now - child.since >= self.transition_delay:
                del self.children[key]

    def _status(self, child: Child) -> str:
        if child.detaching:
            return "Detaching"
        return "Attached" if self._clock() - child.since >= self.transition_delay else "Attaching"

    def _cen(self, p: Params) -> Cen:
        cen_id = p.req("CenId")
        cen = self.cens.get(cen_id)
        if cen is None:
            raise ApiError("ParameterCenInstanceId", f"The specified CenId {cen_id} does not exist.")
        return cen

    def _filters(self, p: Params) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        n = 1
        while p.get(f"Filter.{n}.Key") is not None:
            out[p.req(f"Filter.{n}.Key")] = p.repeat(f"Filter.{n}.Value")
            n += 1
        return out

    def _child_view(self, c: Child) -> dict[str, Any]:
        return {
            "CenId": c.cen_id,
            "ChildInstanceId": c.child_id,
            "ChildInstanceType": c.child_type,
            "ChildInstanceRegionId": c.region,
            "ChildInstanceOwnerId": int(c.owner_id),
            "Status": self._status(c),
            "ChildInstanceAttachTime": "",
        }

    def _blocking(self, cen: Cen) -> None:
        for c in self.children.values():
            if c.cen_id == cen.cen_id and self._status(c) in ("Attaching", "Detaching"):
                raise ApiError(
                    "Operation.Blocking",
                    f"Another operation on {cen.cen_id} is in progress ({c.child_id} is {self._status(c)}).",
                )

    # ---- CEN instances -------------------------------------------------------------------------
    def CreateCen(self, p: Params) -> dict[str, Any]:
        token = p.get("ClientToken")
        if token and token in self.tokens:
            return {"CenId": self.tokens[token]}
        name = p.get("Name") or ""
        if len(name) > 128:
            raise invalid("Name", name, "It must be at most 128 characters.")
        level = p.get("ProtectionLevel") or "REDUCED"
        if level != "REDUCED":
            raise invalid("ProtectionLevel", level, "Only REDUCED is supported.")
        cen_id = "cen-" + uuid.uuid4().hex[:18]
        self.cens[cen_id] = Cen(
            cen_id, name, p.get("Description") or "", level, time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
        )
        if token:
            self.tokens[token] = cen_id
        return {"CenId": cen_id}

    def DescribeCens(self, p: Params) -> dict[str, Any]:
        filters = self._filters(p)
        items = []
        for cen in sorted(self.cens.values(), key=lambda c: c.created + c.cen_id):
            if "CenId" in filters and cen.cen_id not in filters["CenId"]:
                continue
            if "Name" in filters and cen.name not in filters["Name"]:
                continue
            items.append(
                {
                    "CenId": cen.cen_id,
                    "Name": cen.name,
                    "Description": cen.description,
                    "Status": "Active",
                    "CreationTime": cen.created,
                    "ProtectionLevel": cen.protection_level,
                    "CenBandwidthPackageIds": {"CenBandwidthPackageId": list(cen.packages)},
                    "Tags": {"Tag": []},
                }
            )
        return p.page(items, key="Cens", item="Cen", default_size=10, max_size=50)

    # ---- children ------------------------------------------------------------------------------
    def AttachCenChildInstance(self, p: Params) -> dict[str, Any]:
        self._settle()
        cen = self._cen(p)
        child_id = p.req("ChildInstanceId")
        region = p.req("ChildInstanceRegionId")
        ctype = p.req("ChildInstanceType")
        if ctype not in CHILD_TYPES:
            raise invalid("ChildInstanceType", ctype, "It must be VPC, VBR or CCN.")
        for c in self.children.values():
            if c.child_id == child_id:
                raise ApiError(
                    "InvalidOperation.ChildInstanceStatus",
                    f"The instance {child_id} is already attached to {c.cen_id}.",
                )
        self._blocking(cen)
        self.children[(cen.cen_id, child_id)] = Child(
            cen.cen_id, child_id, ctype, region, p.get("ChildInstanceOwnerId") or self.owner_id, self._clock()
        )
        return {}

    def DetachCenChildInstance(self, p: Params) -> dict[str, Any]:
        self._settle()
        cen = self._cen(p)
        child_id = p.req("ChildInstanceId")
        p.req("ChildInstanceRegionId")
        p.req("ChildInstanceType")
        child = self.children.get((cen.cen_id, child_id))
        if child is None:
            raise ApiError("ParameterInstanceId", f"The instance {child_id} is not attached to {cen.cen_id}.")
        self._blocking(cen)
        # Bandwidth still in use: the last instance of a region cannot leave while an inter-region limit
        # names that region. The code is the one the Cbn API gives for a bandwidth plan that still carries
        # limits (UnassociateCenBandwidthPackage; the Terraform provider retries on it); that detach
        # answers it too is unconfirmed.
        others = [
            c
            for c in self.children.values()
            if c.cen_id == cen.cen_id and c.region == child.region and c is not child
        ]
        in_use = [k for k, v in cen.limits.items() if v > 0 and child.region in k]
        if in_use and not others:
            a, b = in_use[0]
            raise ApiError(
                "InvalidOperation.CenBandwidthLimitsNotZero",
                f"The inter-region bandwidth {a}<->{b} of {cen.cen_id} is not zero; set it to 0 before "
                f"detaching the last instance in {child.region}.",
            )
        child.detaching = True
        child.since = self._clock()
        return {}

    def DescribeCenAttachedChildInstances(self, p: Params) -> dict[str, Any]:
        self._settle()
        cen = self._cen(p)
        items = [
            self._child_view(c)
            for c in sorted(self.children.values(), key=lambda c: c.child_id)
            if c.cen_id == cen.cen_id
            and (not p.get("ChildInstanceRegionId") or c.region == p.get("ChildInstanceRegionId"))
            and (not p.get("ChildInstanceType") or c.child_type == p.get("ChildInstanceType"))
        ]
        return p.page(items, key="ChildInstances", item="ChildInstance", default_size=10, max_size=50)

    # ---- bandwidth -----------------------------------------------------------------------------
    def CreateCenBandwidthPackage(self, p: Params) -> dict[str, Any]:
        token = p.get("ClientToken")
        if token and token in self.tokens:
            return {"CenBandwidthPackageId": self.tokens[token]}
        bandwidth = p.req_int("Bandwidth", lo=2, hi=10000)
        a, b = p.req("GeographicRegionAId"), p.req("GeographicRegionBId")
        for name, v in (("GeographicRegionAId", a), ("GeographicRegionBId", b)):
            if v not in AREAS:
                raise invalid(name, v, f"It must be one of {', '.join(AREAS)}.")
        pid = "cenbwp-" + uuid.uuid4().hex[:18]
        self.packages[pid] = BandwidthPackage(pid, bandwidth, a, b, p.get("Name") or "")
        if token:
            self.tokens[token] = pid
        return {"CenBandwidthPackageId": pid}

    def _package(self, p: Params) -> BandwidthPackage:
        pid = p.req("CenBandwidthPackageId")
        pkg = self.packages.get(pid)
        if pkg is None:
            raise ApiError("ParameterBwpInstanceId", f"The bandwidth package {pid} does not exist.")
        return pkg

    def AssociateCenBandwidthPackage(self, p: Params) -> dict[str, Any]:
        cen, pkg = self._cen(p), self._package(p)
        if pkg.cen_id is not None:
            raise ApiError(
                "InvalidOperation.BwpAssociated",
                f"The bandwidth package {pkg.package_id} is already associated with {pkg.cen_id}.",
            )
        pkg.cen_id = cen.cen_id
        cen.packages.append(pkg.package_id)
        return {}

    def UnassociateCenBandwidthPackage(self, p: Params) -> dict[str, Any]:
        cen, pkg = self._cen(p), self._package(p)
        if pkg.cen_id != cen.cen_id:
            raise ApiError("ParameterBwpInstanceId", f"{pkg.package_id} is not associated with {cen.cen_id}.")
        if any(
            v > 0 and {area_of(k[0]), area_of(k[1])} == {pkg.area_a, pkg.area_b}
            for k, v in cen.limits.items()
        ):
            raise ApiError(
                "InvalidOperation.CenBandwidthLimitsNotZero",
                f"The bandwidth package {pkg.package_id} still carries inter-region bandwidth "
                f"on {cen.cen_id}.",
            )
        pkg.cen_id = None
        cen.packages.remove(pkg.package_id)
        return {}

    def DescribeCenBandwidthPackages(self, p: Params) -> dict[str, Any]:
        filters = self._filters(p)
        items = []
        for pkg in sorted(self.packages.values(), key=lambda x: x.package_id):
            if "CenId" in filters and pkg.cen_id not in filters["CenId"]:
                continue
            if "CenBandwidthPackageId" in filters and pkg.package_id not in filters["CenBandwidthPackageId"]:
                continue
            items.append(
                {
                    "CenBandwidthPackageId": pkg.package_id,
                    "Name": pkg.name,
                    "Bandwidth": pkg.bandwidth,
                    "GeographicRegionAId": pkg.area_a,
                    "GeographicRegionBId": pkg.area_b,
                    "Status": "InUse" if pkg.cen_id else "Idle",
                    "CenIds": {"CenId": [pkg.cen_id] if pkg.cen_id else []},
                    "BandwidthPackageChargeType": "POSTPAY",
                }
            )
        return p.page(
            items, key="CenBandwidthPackages", item="CenBandwidthPackage", default_size=10, max_size=50
        )

    def _span_package(self, cen: Cen, a: str, b: str) -> BandwidthPackage | None:
        for pid in cen.packages:
            pkg = self.packages[pid]
            if {pkg.area_a, pkg.area_b} == {a, b}:
                return pkg
        return None

    def _used(self, cen: Cen, a: str, b: str, skip: tuple[str, str] | None = None) -> int:
        return sum(v for k, v in cen.limits.items() if k != skip and {area_of(k[0]), area_of(k[1])} == {a, b})

    def SetCenInterRegionBandwidthLimit(self, p: Params) -> dict[str, Any]:
        cen = self._cen(p)
        local, opposite = p.req("LocalRegionId"), p.req("OppositeRegionId")
        if local == opposite:
            raise invalid("OppositeRegionId", opposite, "It must differ from LocalRegionId.")
        limit = p.req_int("BandwidthLimit", lo=0, hi=10000)
        key = tuple(sorted((local, opposite)))
        assert len(key) == 2
        a, b = area_of(local), area_of(opposite)
        if limit == 0:
            cen.limits.pop((key[0], key[1]), None)
            return {}
        pkg = self._span_package(cen, a, b)
        if pkg is None:
            raise ApiError(
                "InvalidOperation.BandwidthPackageNotExist",
                f"No bandwidth package of {cen.cen_id} spans {a} and {b}.",
            )
        if self._used(cen, a, b, skip=(key[0], key[1])) + limit > pkg.bandwidth:
            raise ApiError(
                "InvalidOperation.BandwidthLimitExceed",
                f"The limits between {a} and {b} would exceed the package's {pkg.bandwidth} Mbit/s.",
            )
        cen.limits[(key[0], key[1])] = limit
        return {}

    def DescribeCenInterRegionBandwidthLimits(self, p: Params) -> dict[str, Any]:
        cen = self._cen(p)
        items = [
            {
                "CenId": cen.cen_id,
                "LocalRegionId": k[0],
                "OppositeRegionId": k[1],
                "BandwidthLimit": v,
                "Status": "Active",
                "GeographicSpanId": f"{area_of(k[0])}_{area_of(k[1])}",
            }
            for k, v in sorted(cen.limits.items())
        ]
        return p.page(
            items,
            key="CenInterRegionBandwidthLimits",
            item="CenInterRegionBandwidthLimit",
            default_size=10,
            max_size=100,
        )

    def DescribeCenGeographicSpanRemainingBandwidth(self, p: Params) -> dict[str, Any]:
        cen = self._cen(p)
        a, b = p.req("GeographicRegionAId"), p.req("GeographicRegionBId")
        pkg = self._span_package(cen, a, b)
        total = pkg.bandwidth if pkg else 0
        return {"RemainingBandwidth": max(0, total - self._used(cen, a, b))}

    def state(self) -> dict[str, Any]:
        self._settle()
        return {
            "cens": [
                asdict(c) | {"limits": [{"regions": list(k), "limit": v} for k, v in c.limits.items()]}
                for c in self.cens.values()
            ],
            "children": [self._child_view(c) for c in self.children.values()],
            "bandwidth_packages": [asdict(x) for x in self.packages.values()],
        }
