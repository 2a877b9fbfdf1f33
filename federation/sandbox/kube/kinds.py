"""Per-kind admission for built-in kinds: the defaults and checks the real apiserver applies on create
and update that clients notice (Deployment defaults, Service IP/port allocation, Secret stringData,
Namespace phase).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any

from federation.sandbox.kube.errors import ApiError, invalid
from federation.sandbox.kube.selectors import selector_from_label_selector

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAMES_KINDS = {"Namespace", "Service"}

NODE_PORT_RANGE = (30000, 32767)


def check_name(kind: str, group: str, name: str) -> None:
    label = kind in LABEL_NAMES_KINDS
    ok = (
        (DNS1123_LABEL.match(name) and len(name) <= 63)
        if label
        else (DNS1123_SUBDOMAIN.match(name) and len(name) <= 253)
    )
    if ok:
        return
    what = "RFC 1123 label" if label else "RFC 1123 subdomain"
    rx = (
        "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
        if label
        else "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    )
    msg = (
        f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric characters, '
        f"'-' or '.', and must start and end with an alphanumeric character "
        f"(e.g. 'example.com', regex used for validation is '{rx}')"
    )
    raise invalid(
        kind, group, name, [{"reason": "FieldValueInvalid", "message": msg, "field": "metadata.name"}]
    )


class IpAllocator:
    """ClusterIPs from 10.96.0.0/16 and node ports from 30000-32767, unique per cluster."""

    def __init__(self) -> None:
        self.net = ipaddress.ip_network("10.96.0.0/16")
        self.next_ip = 10
        self.used_ips: set[str] = {"10.96.0.1", "10.96.0.10"}
        self.used_ports: set[int] = set()
        self.next_port = NODE_PORT_RANGE[0]

    def alloc_ip(self) -> str:
        while True:
            ip = str(self.net[self.next_ip])
            self.next_ip = self.next_ip + 1 if self.next_ip < self.net.num_addresses - 2 else 10
            if ip not in self.used_ips:
                self.used_ips.add(ip)
                return ip

    def alloc_port(self) -> int:
        lo, hi = NODE_PORT_RANGE
        if len(self.used_ports) >= hi - lo + 1:
            raise ApiError(500, "InternalError", "range is full: no node ports left")
        while self.next_port in self.used_ports:
            self.next_port = lo if self.next_port >= hi else self.next_port + 1
        p = self.next_port
        self.used_ports.add(p)
        return p

    def release(self, svc: dict[str, Any]) -> None:
        spec = svc.get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            self.used_ips.discard(ip)
        for p in spec.get("ports") or []:
            if p.get("nodePort"):
                self.used_ports.discard(p["nodePort"])

    def snapshot(self) -> dict[str, Any]:
        return {
            "next_ip": self.next_ip,
            "ips": sorted(self.used_ips),
            "ports": sorted(self.used_ports),
            "next_port": self.next_port,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.next_ip = data["next_ip"]
        self.used_ips = set(data["ips"])
        self.used_ports = set(data["ports"])
        self.next_port = data["next_port"]


def default_pod_template(tpl: dict[str, Any]) -> None:
    spec = tpl.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        image = str(c.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")


def admit_deployment(obj: dict[str, Any]) -> None:
    name = obj["metadata"].get("name", "")
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    tpl = spec.setdefault("template", {})
    default_pod_template(tpl)
    causes = []
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "spec.replicas",
                "message": f"Invalid value: {spec.get('replicas')}: must be greater than or equal to 0",
            }
        )
    sel = spec.get("selector")
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    if not sel:
        causes.append({"reason": "FieldValueRequired", "field": "spec.selector", "message": "Required value"})
    else:
        m = selector_from_label_selector(sel)
        if m is not None and not m(labels):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "spec.template.metadata.labels",
                    "message": f"Invalid value: {_labels_repr(labels)}: `selector` does not match "
                    "template `labels`",
                }
            )
    if not (tpl.get("spec") or {}).get("containers"):
        causes.append(
            {
                "reason": "FieldValueRequired",
                "field": "spec.template.spec.containers",
                "message": "Required value",
            }
        )
    if causes:
        raise invalid("Deployment", "apps", name, causes)


def _labels_repr(labels: dict[str, Any]) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"


def _bad_node_port(name: str, index: int, message: str) -> ApiError:
    return invalid(
        "Service",
        "",
        name,
        [{"reason": "FieldValueInvalid", "field": f"spec.ports[{index}].nodePort", "message": message}],
    )


def admit_service(obj: dict[str, Any], old: dict[str, Any] | None, ips: IpAllocator) -> None:
    name = obj["metadata"].get("name", "")
    spec = obj.setdefault("spec", {})
    stype = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    causes = []
    ports = spec.get("ports") or []
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "field": "spec.type",
                "message": f'Unsupported value: "{stype}": supported values: "ClusterIP", '
                '"ExternalName", "LoadBalancer", "NodePort"',
            }
        )
    if stype != "ExternalName" and not ports:
        causes.append({"reason": "FieldValueRequired", "field": "spec.ports", "message": "Required value"})
    old_spec = (old or {}).get("spec") or {}
    old_ports = {
        (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []
    }
    for i, p in enumerate(ports):
        p.setdefault("protocol", "TCP")
        p.setdefault("targetPort", p.get("port"))
        port = p.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": f"spec.ports[{i}].port",
                    "message": f"Invalid value: {port}: must be between 1 and 65535, inclusive",
                }
            )
        if len(ports) > 1 and not p.get("name"):
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "field": f"spec.ports[{i}].name",
                    "message": "Required value",
                }
            )
    if causes:
        raise invalid("Service", "", name, causes)
    if stype == "ExternalName":
        return
    if old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
    elif spec.get("clusterIP") in (None, ""):
        spec["clusterIP"] = ips.alloc_ip()
    elif spec["clusterIP"] != "None":
        ips.used_ips.add(spec["clusterIP"])
    spec["clusterIPs"] = [spec["clusterIP"]]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        for i, p in enumerate(ports):
            np = p.get("nodePort")
            kept = old_ports.get((p.get("port"), p.get("protocol")))
            if np is None:
                p["nodePort"] = kept if kept else ips.alloc_port()
            elif np != kept:
                if not NODE_PORT_RANGE[0] <= np <= NODE_PORT_RANGE[1]:
                    raise _bad_node_port(
                        name,
                        i,
                        f"Invalid value: {np}: provided port is not in the valid "
                        "range. The range of valid ports is 30000-32767",
                    )
                if np in ips.used_ports:
                    raise _bad_node_port(name, i, f"Invalid value: {np}: provided port is already allocated")
                ips.used_ports.add(np)
    else:
        for p in ports:
            p.pop("nodePort", None)
    if old is not None:
        # node ports dropped by this update go back to the pool
        new_nps = {p.get("nodePort") for p in ports}
        for np in old_ports.values():
            if np and np not in new_nps:
                ips.used_ports.discard(np)


def admit_secret(obj: dict[str, Any]) -> None:
    obj.setdefault("type", "Opaque")
    sd = obj.pop("stringData", None)
    if sd:
        data = obj.setdefault("data", {})
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
