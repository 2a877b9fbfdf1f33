"""OpenAPI v3 schemas of the built-in kinds the simulator serves, and the patch strategy of each field.

The structure (fields, types, descriptions, required fields) is generated from the models of the
`kubernetes` Python client (each has ``openapi_types`` and ``attribute_map``; generated from the
upstream OpenAPI spec). What the client's models do not carry is the strategic-merge metadata of the
Go types (``patchStrategy``/``patchMergeKey`` struct tags, ``+listType``/``+listMapKey`` markers):
:data:`PATCH_META` states it for the fields of the served kinds, as kube-apiserver publishes it
(``x-kubernetes-patch-strategy``, ``x-kubernetes-patch-merge-key``, ``x-kubernetes-list-type``,
``x-kubernetes-list-map-keys``). The same table drives the simulator's own strategic merge patch
(:func:`merge_key`), so what kubectl computes from the documents and what the server applies agree.

Schemas are laid out like the upstream v3 documents: component names such as
``io.k8s.api.apps.v1.Deployment``, a reference to another component as ``allOf: [{$ref}]`` beside the
field's description and extensions, ``x-kubernetes-group-version-kind`` on every top-level kind.
"""

from __future__ import annotations

import functools
import importlib
import re
import typing
from typing import Any

# group -> the Go package its types live in, as upstream names its schemas
PACKAGES = {
    "": "io.k8s.api.core.v1",
    "apps": "io.k8s.api.apps.v1",
    "batch": "io.k8s.api.batch.v1",
    "policy": "io.k8s.api.policy.v1",
    "autoscaling": "io.k8s.api.autoscaling.v1",
    "discovery.k8s.io": "io.k8s.api.discovery.v1",
    "coordination.k8s.io": "io.k8s.api.coordination.v1",
    "rbac.authorization.k8s.io": "io.k8s.api.rbac.v1",
    "authorization.k8s.io": "io.k8s.api.authorization.v1",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
}
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
# the client's class-name prefixes that say the package (CoreV1Event, DiscoveryV1EndpointPort, ...)
_PREFIX_GROUP = {
    "Core": "",
    "Discovery": "discovery.k8s.io",
    "Rbac": "rbac.authorization.k8s.io",
    "Apiextensions": "apiextensions.k8s.io",
    "Authorization": "authorization.k8s.io",
}
_META_TYPES = {
    "ObjectMeta",
    "ListMeta",
    "LabelSelector",
    "LabelSelectorRequirement",
    "OwnerReference",
    "ManagedFieldsEntry",
    "Status",
    "StatusDetails",
    "StatusCause",
    "DeleteOptions",
    "Preconditions",
    "WatchEvent",
    "Condition",
}


def _map(key: str, *keys: str, strategy: str | None = "merge") -> dict[str, Any]:
    out: dict[str, Any] = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key, *keys]}
    if strategy:
        out["x-kubernetes-patch-strategy"] = strategy
        out["x-kubernetes-patch-merge-key"] = key
    return out


_SET_MERGE = {"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}
_ATOMIC = {"x-kubernetes-list-type": "atomic"}
_CONTAINER = {
    "ports": _map("containerPort", "protocol"),
    "env": _map("name"),
    "volumeMounts": _map("mountPath"),
    "volumeDevices": _map("devicePath"),
    "envFrom": _ATOMIC,
    "resizePolicy": _ATOMIC,
}
_CONDITIONS = {"conditions": _map("type")}

# (type, field) -> extensions, from the struct tags and markers of k8s.io/api and apimachinery
PATCH_META: dict[str, dict[str, dict[str, Any]]] = {
    "ObjectMeta": {"finalizers": _SET_MERGE, "ownerReferences": _map("uid")},
    "PodSpec": {
        "volumes": _map("name", strategy="merge,retainKeys"),
        "initContainers": _map("name"),
        "containers": _map("name"),
        "ephemeralContainers": _map("name"),
        "imagePullSecrets": _map("name"),
        "hostAliases": _map("ip"),
        "topologySpreadConstraints": _map("topologyKey", "whenUnsatisfiable"),
        "resourceClaims": _map("name", strategy="merge,retainKeys"),
        "schedulingGates": _map("name"),
        "tolerations": _ATOMIC,
        "readinessGates": _ATOMIC,
    },
    "Container": _CONTAINER,
    "EphemeralContainer": _CONTAINER,
    "ResourceRequirements": {"claims": _map("name", strategy=None)},
    "PodStatus": {**_CONDITIONS, "podIPs": _map("ip"), "hostIPs": _map("ip")},
    "NodeSpec": {"podCIDRs": _SET_MERGE, "taints": _ATOMIC},
    "NodeStatus": {**_CONDITIONS, "addresses": _map("type")},
    "NamespaceStatus": _CONDITIONS,
    "ServiceSpec": {"ports": _map("port", "protocol"), "externalIPs": _ATOMIC, "clusterIPs": _ATOMIC},
    "ServiceStatus": _CONDITIONS,
    "ServiceAccount": {"secrets": _map("name")},
    "DeploymentSpec": {"strategy": {"x-kubernetes-patch-strategy": "retainKeys"}},
    "DeploymentStatus": _CONDITIONS,
    "ReplicaSetStatus": _CONDITIONS,
    "JobStatus": {
        "conditions": {
            **_ATOMIC,
            "x-kubernetes-patch-strategy": "merge",
            "x-kubernetes-patch-merge-key": "type",
        }
    },
    "PodDisruptionBudgetStatus": _CONDITIONS,
    "CustomResourceDefinitionStatus": {"conditions": _map("type", strategy=None)},
    "EndpointSubset": {"addresses": _ATOMIC, "notReadyAddresses": _ATOMIC, "ports": _ATOMIC},
    "EndpointSlice": {"endpoints": _ATOMIC, "ports": _ATOMIC},
    "Role": {"rules": _ATOMIC},
    "ClusterRole": {"rules": _ATOMIC},
    "RoleBinding": {"subjects": _ATOMIC},
    "ClusterRoleBinding": {"subjects": _ATOMIC},
    "LabelSelector": {"matchExpressions": _ATOMIC},
}
_TYPE_EXTENSIONS = {"LabelSelector": {"x-kubernetes-map-type": "atomic"}}

_NAME = re.compile(r"^(?P<prefix>(?:[A-Z][a-z]+)*?)V\d+(?:(?:alpha|beta)\d+)?(?=[A-Z])")


@functools.cache
def _models() -> Any:
    # imported on first use: the client's ~850 model modules cost half a second at start-up
    return importlib.import_module("kubernetes.client.models")


def short_name(cls_name: str) -> str:
    m = _NAME.match(cls_name)
    return cls_name[m.end() :] if m else cls_name


def model_class(group: str, version: str, kind: str) -> type | None:
    """The client's model of a built-in kind (``V1Deployment``; ``CoreV1Event`` for core Events)."""
    v = version[:1].upper() + version[1:]
    prefix = next((p for p, g in _PREFIX_GROUP.items() if g == group), "")
    for name in (f"{v}{kind}", f"{prefix}{v}{kind}"):
        cls = getattr(_models(), name, None)
        if isinstance(cls, type) and hasattr(cls, "openapi_types"):
            return cls
    return None


def _model(name: str) -> type | None:
    cls = getattr(_models(), name, None)
    return cls if isinstance(cls, type) and hasattr(cls, "openapi_types") else None


_LIST = re.compile(r"^(?:List\[|list\[)(.*)\]$")
_DICT = re.compile(r"^(?:Dict\[str, |dict\(str, )(.*)[\])]$")


def _parse(t: str) -> tuple[str, str]:
    """("list"|"map"|"scalar"|"model", inner type)."""
    if m := _LIST.match(t):
        return "list", m.group(1)
    if m := _DICT.match(t):
        return "map", m.group(1)
    if _model(t) is not None:
        return "model", t
    return "scalar", t


def _is_int_or_string(cls: type, attr: str) -> bool:
    fields = getattr(cls, "model_fields", None)
    if not fields or attr not in fields:
        return False
    args = typing.get_args(fields[attr].annotation)
    flat: list[Any] = []
    for a in args:
        flat.extend(typing.get_args(a) or [a])
    return int in flat and str in flat


def _description(cls: type, attr: str) -> str | None:
    fields = getattr(cls, "model_fields", None)
    if fields and attr in fields:
        d = fields[attr].description
        return str(d) if d else None
    return None


def _required(cls: type) -> list[str]:
    fields = getattr(cls, "model_fields", None) or {}
    amap: dict[str, str] = cls.attribute_map  # type: ignore[attr-defined]
    return sorted(amap[a] for a, f in fields.items() if a in amap and f.is_required())


class _Builder:
    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}
        self.names: dict[type, str] = {}  # model class -> component name
        self.deps: dict[str, set[str]] = {}  # component -> components it refers to

    def name_of(self, cls: type, package: str) -> str:
        hit = self.names.get(cls)
        if hit is not None:
            return hit
        short = short_name(cls.__name__)
        m = _NAME.match(cls.__name__)
        prefix = m.group("prefix") if m else ""
        if short in _META_TYPES:
            package = META
        elif prefix in _PREFIX_GROUP:
            package = PACKAGES[_PREFIX_GROUP[prefix]]
        name = f"{package}.{short}"
        self.names[cls] = name
        self.deps[name] = set()
        self.schemas[name] = {}  # placeholder: recursive types (JSONSchemaProps) refer to themselves
        self.schemas[name] = self._build(cls, name, package, short)
        return name

    def _scalar(self, t: str) -> dict[str, Any]:
        if t in ("str", "string"):
            return {"type": "string"}
        if t == "int":
            return {"type": "integer", "format": "int64"}
        if t == "float":
            return {"type": "number", "format": "double"}
        if t == "bool":
            return {"type": "boolean"}
        if t == "datetime":
            return {"type": "string", "format": "date-time"}
        if t == "date":
            return {"type": "string", "format": "date"}
        return {}  # "object": any JSON value

    def _ref(self, owner: str, target: str) -> dict[str, Any]:
        self.deps[owner].add(target)
        return {"$ref": f"#/components/schemas/{target}"}

    def _type(self, owner: str, t: str, package: str) -> dict[str, Any]:
        kind, inner = _parse(t)
        if kind == "list":
            return {"type": "array", "items": self._item(owner, inner, package)}
        if kind == "map":
            return {"type": "object", "additionalProperties": self._item(owner, inner, package)}
        if kind == "model":
            cls = _model(inner)
            assert cls is not None
            return {"allOf": [self._ref(owner, self.name_of(cls, package))], "default": {}}
        return self._scalar(inner)

    def _item(self, owner: str, t: str, package: str) -> dict[str, Any]:
        return self._type(owner, t, package)

    def _build(self, cls: type, name: str, package: str, short: str) -> dict[str, Any]:
        props: dict[str, Any] = {}
        amap: dict[str, str] = cls.attribute_map  # type: ignore[attr-defined]
        meta = PATCH_META.get(short, {})
        for attr, t in cls.openapi_types.items():  # type: ignore[attr-defined]
            field = amap.get(attr, attr)
            if t == "object" and _is_int_or_string(cls, attr):
                self.schemas.setdefault(INT_OR_STRING, {"type": "string", "format": "int-or-string"})
                self.deps.setdefault(INT_OR_STRING, set())
                s: dict[str, Any] = {"allOf": [self._ref(name, INT_OR_STRING)]}
            else:
                s = self._type(name, t, package)
            desc = _description(cls, attr)
            if desc:
                s["description"] = desc
            s.update(meta.get(field, {}))
            props[field] = s
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].strip()
        out: dict[str, Any] = {"type": "object", "properties": props}
        if doc and not doc.startswith("Attributes:") and "NOTE: This class is auto generated" not in doc:
            out["description"] = " ".join(doc.split())
        req = _required(cls)
        if req:
            out["required"] = req
        out.update(_TYPE_EXTENSIONS.get(short, {}))
        return out


# core/v1 types first: a type both a core kind and another group's kind use (PodSpec, Container,
# PodTemplateSpec) is core's, as upstream names it
_CORE_FIRST = (
    "Pod",
    "PodTemplate",
    "Service",
    "Node",
    "Namespace",
    "Endpoints",
    "Secret",
    "ConfigMap",
    "Event",
    "ServiceAccount",
    "PersistentVolumeClaim",
    "ObjectReference",
)


@functools.cache
def _builder() -> _Builder:
    b = _Builder()
    for kind in _CORE_FIRST:
        cls = model_class("", "v1", kind)
        if cls is not None:
            b.name_of(cls, PACKAGES[""])
    return b


def component(group: str, version: str, kind: str) -> str | None:
    """The component name of a built-in kind (building its schema and everything it refers to)."""
    cls = model_class(group, version, kind)
    package = PACKAGES.get(group)
    if cls is None or package is None:
        return None
    return _builder().name_of(cls, package)


def meta_component(kind: str) -> str:
    """A meta/v1 type (Status, DeleteOptions, WatchEvent, ListMeta) by its kind."""
    cls = _model(f"V1{kind}")
    assert cls is not None, kind
    return _builder().name_of(cls, META)


def closure(names: list[str]) -> dict[str, dict[str, Any]]:
    """The named components and every component they refer to, transitively."""
    b = _builder()
    out: dict[str, dict[str, Any]] = {}
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in out or n not in b.schemas:
            continue
        out[n] = b.schemas[n]
        todo.extend(b.deps.get(n, ()))
    return out


def schema(name: str) -> dict[str, Any] | None:
    return _builder().schemas.get(name)


@functools.cache
def _kind_class(kind: str) -> type | None:
    for group in PACKAGES:
        cls = model_class(group, "v1", kind)
        if cls is not None:
            return cls
    return None


@functools.lru_cache(maxsize=8192)
def merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """How a strategic merge patch treats the list at ``path`` (field names from the object's root; a
    map's keys count as path elements) of a built-in ``kind``: its merge key, ``""`` for a merged list
    of primitives, None to replace it (no patch strategy, or a kind without a model)."""
    cls = _kind_class(kind)
    if cls is None:
        return None
    i = 0
    owner = short_name(cls.__name__)
    while i < len(path):
        field = path[i]
        rev = {v: k for k, v in cls.attribute_map.items()}  # type: ignore[attr-defined]
        attr = rev.get(field)
        if attr is None:
            return None
        t: str = cls.openapi_types[attr]  # type: ignore[attr-defined]
        if i == len(path) - 1:
            meta = PATCH_META.get(owner, {}).get(field, {})
            if "merge" not in str(meta.get("x-kubernetes-patch-strategy", "")).split(","):
                return None
            return str(meta.get("x-kubernetes-patch-merge-key", ""))
        kind_, inner = _parse(t)
        if kind_ == "map":
            i += 1  # the map's key
            kind_, inner = _parse(inner)
        if kind_ == "list":
            kind_, inner = _parse(inner)
        if kind_ != "model":
            return None
        cls = _model(inner)
        if cls is None:
            return None
        owner = short_name(cls.__name__)
        i += 1
    return None


__all__ = ["PACKAGES", "PATCH_META", "closure", "component", "merge_key", "model_class", "schema"]
