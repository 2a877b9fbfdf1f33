"""Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for (Kubernetes API concepts:
"Receiving resources as Tables"), with built-in columns for the kinds we serve and the CRD's
`additionalPrinterColumns` for custom resources.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from federation.sandbox.kube import jsonpath
from federation.sandbox.kube.resources import ResourceType

Column = tuple[str, str, str, Callable[[dict[str, Any]], Any]]  # name, type, description, getter


def human_duration(ts: str | None) -> str:
    """The apiserver's age format (k8s.io/apimachinery duration.HumanDuration, coarse form)."""
    if not ts:
        return "<unknown>"
    try:
        t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<invalid>"
    s = int((datetime.now(UTC) - t).total_seconds())
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 48:
        return f"{h}h"
    d = h // 24
    return f"{d}d" if d < 365 * 2 else f"{d // 365}y"


def _g(obj: dict[str, Any], *path: str, default: Any = None) -> Any:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(p)
    return default if cur is None else cur


def _age(o: dict[str, Any]) -> str:
    return human_duration(_g(o, "metadata", "creationTimestamp"))


def _name(o: dict[str, Any]) -> str:
    return str(_g(o, "metadata", "name", default=""))


def _cond(o: dict[str, Any], type_: str) -> str:
    for c in _g(o, "status", "conditions", default=[]):
        if c.get("type") == type_:
            return str(c.get("status"))
    return "Unknown"


def _ports(o: dict[str, Any]) -> str:
    out = []
    for p in _g(o, "spec", "ports", default=[]):
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _external_ip(o: dict[str, Any]) -> str:
    ing = _g(o, "status", "loadBalancer", "ingress", default=[])
    if ing:
        return ",".join(i.get("ip") or i.get("hostname", "") for i in ing)
    return "<pending>" if _g(o, "spec", "type") == "LoadBalancer" else "<none>"


def _pod_status(o: dict[str, Any]) -> str:
    if _g(o, "metadata", "deletionTimestamp"):
        return "Terminating"
    for c in _g(o, "status", "containerStatuses", default=[]):
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
        terminated = (c.get("state") or {}).get("terminated")
        if terminated and terminated.get("reason"):
            return str(terminated["reason"])
    return str(_g(o, "status", "phase", default="Pending"))


NAME: Column = ("Name", "string", "Name must be unique within a namespace.", _name)
AGE: Column = (
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
    _age,
)

BUILTIN: dict[str, list[Column]] = {
    "Deployment": [
        NAME,
        (
            "Ready",
            "string",
            "Number of the pod with ready state",
            lambda o: f"{_g(o, 'status', 'readyReplicas', default=0)}/{_g(o, 'spec', 'replicas', default=0)}",
        ),
        (
            "Up-to-date",
            "integer",
            "Total number of non-terminated pods targeted by this deployment that have "
            "the desired template spec.",
            lambda o: _g(o, "status", "updatedReplicas", default=0),
        ),
        (
            "Available",
            "integer",
            "Total number of available pods (ready for at least minReadySeconds) "
            "targeted by this deployment.",
            lambda o: _g(o, "status", "availableReplicas", default=0),
        ),
        AGE,
    ],
    "Pod": [
        NAME,
        (
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
            lambda o: (
                f"{sum(1 for c in _g(o, 'status', 'containerStatuses', default=[]) if c.get('ready'))}"
                f"/{len(_g(o, 'spec', 'containers', default=[]))}"
            ),
        ),
        ("Status", "string", "The aggregate status of the containers in this pod.", _pod_status),
        (
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted.",
            lambda o: str(
                sum(c.get("restartCount", 0) for c in _g(o, "status", "containerStatuses", default=[]))
            ),
        ),
        AGE,
        (
            "IP",
            "string",
            "The IP address assigned to the pod",
            lambda o: _g(o, "status", "podIP", default="<none>"),
        ),
        ("Node", "string", "The node the pod is on", lambda o: _g(o, "spec", "nodeName", default="<none>")),
    ],
    "ReplicaSet": [
        NAME,
        ("Desired", "integer", "Number of desired pods", lambda o: _g(o, "spec", "replicas", default=0)),
        ("Current", "integer", "Number of actual pods", lambda o: _g(o, "status", "replicas", default=0)),
        ("Ready", "integer", "Number of ready pods", lambda o: _g(o, "status", "readyReplicas", default=0)),
        AGE,
    ],
    "Service": [
        NAME,
        ("Type", "string", "The type of the service", lambda o: _g(o, "spec", "type", default="ClusterIP")),
        (
            "Cluster-IP",
            "string",
            "The cluster IP of the service",
            lambda o: _g(o, "spec", "clusterIP", default="<none>"),
        ),
        ("External-IP", "string", "The external IP of the service", _external_ip),
        ("Port(s)", "string", "The ports of the service", _ports),
        AGE,
    ],
    "Node": [
        NAME,
        (
            "Status",
            "string",
            "The status of the node",
            lambda o: (
                ("Ready" if _cond(o, "Ready") == "True" else "NotReady")
                + (",SchedulingDisabled" if _g(o, "spec", "unschedulable") else "")
            ),
        ),
        ("Roles", "string", "The roles of the node", lambda o: "<none>"),
        AGE,
        (
            "Version",
            "string",
            "Kubelet version",
            lambda o: _g(o, "status", "nodeInfo", "kubeletVersion", default=""),
        ),
    ],
    "Namespace": [
        NAME,
        (
            "Status",
            "string",
            "The status of the namespace",
            lambda o: _g(o, "status", "phase", default="Active"),
        ),
        AGE,
    ],
    "ConfigMap": [
        NAME,
        (
            "Data",
            "integer",
            "Number of data items",
            lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        ),
        AGE,
    ],
    "Secret": [
        NAME,
        ("Type", "string", "The type of the secret", lambda o: o.get("type", "Opaque")),
        ("Data", "integer", "Number of data items", lambda o: len(o.get("data") or {})),
        AGE,
    ],
    "Endpoints": [
        NAME,
        (
            "Endpoints",
            "string",
            "Endpoints",
            lambda o: (
                ",".join(
                    f"{a.get('ip')}:{p.get('port')}"
                    for s in o.get("subsets") or []
                    for a in s.get("addresses") or []
                    for p in s.get("ports") or []
                )
                or "<none>"
            ),
        ),
        AGE,
    ],
    "CustomResourceDefinition": [
        NAME,
        ("Created At", "date", "", lambda o: _g(o, "metadata", "creationTimestamp")),
    ],
    "Event": [
        (
            "Last Seen",
            "string",
            "",
            lambda o: human_duration(o.get("lastTimestamp") or _g(o, "metadata", "creationTimestamp")),
        ),
        ("Type", "string", "", lambda o: o.get("type", "")),
        ("Reason", "string", "", lambda o: o.get("reason", "")),
        (
            "Object",
            "string",
            "",
            lambda o: (
                f"{_g(o, 'involvedObject', 'kind', default='').lower()}/"
                f"{_g(o, 'involvedObject', 'name', default='')}"
            ),
        ),
        ("Message", "string", "", lambda o: o.get("message", "")),
    ],
}


def _crd_columns(rt: ResourceType) -> list[Column]:
    cols: list[Column] = [NAME]
    for pc in rt.printer_columns:
        steps = jsonpath.parse(pc.get("jsonPath", ""))
        typ = pc.get("type", "string")

        def get(o: dict[str, Any], steps: Any = steps, typ: str = typ) -> Any:
            vals = jsonpath.evaluate(steps, o)
            if not vals:
                return None
            v = vals[0] if len(vals) == 1 else ",".join(str(x) for x in vals)
            if typ == "date":
                return human_duration(str(v))
            return v

        cols.append((pc.get("name", ""), typ, pc.get("description", ""), get))
    if not any(pc.get("jsonPath") == ".metadata.creationTimestamp" for pc in rt.printer_columns):
        cols.append(AGE)
    return cols


def columns_for(rt: ResourceType) -> list[Column]:
    if rt.crd_name:
        return _crd_columns(rt)
    return BUILTIN.get(rt.kind, [NAME, AGE])


def to_table(
    rt: ResourceType, objs: list[dict[str, Any]], list_meta: dict[str, Any], include_object: str = "Metadata"
) -> dict[str, Any]:
    cols = columns_for(rt)
    priorities = {pc.get("name"): int(pc.get("priority", 0) or 0) for pc in rt.printer_columns}
    rows = []
    for o in objs:
        row: dict[str, Any] = {"cells": [c[3](o) for c in cols]}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {
                "name": c[0],
                "type": "string" if c[1] == "date" else c[1],
                "format": "name" if c is NAME else "",
                "description": c[2],
                "priority": priorities.get(c[0], 0) if c is not NAME else 0,
            }
            for c in cols
        ],
        "rows": rows,
    }
