"""OpenAPI documents kubectl reads: `/openapi/v3` (index + one document per group-version) and a JSON
`/openapi/v2`.

Each v3 document describes its resources' operations as kube-apiserver does (see :func:`_paths`) with
the full schemas of the built-in kinds (schemas.py), so kubectl takes a real cluster's code paths:
`kubectl apply` finds the PATCH operation of the kind accepting
`application/strategic-merge-patch+json` and computes its three-way strategic merge patch from the
document's `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key` (k8s.io/kubectl apply
`Patcher.gvkSupportsPatchOpenAPIV3`), and its field-validation check (k8s.io/cli-runtime
`QueryParamVerifierV3`) finds the `fieldValidation` parameter, so validation happens server-side
(`fieldValidation=Strict`). CRD schemas are published as component schemas so `kubectl explain` works.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from federation.sandbox.kube import schemas
from federation.sandbox.kube.resources import ResourceType

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi

_cache: dict[tuple[int, int, str], dict[str, Any]] = {}


def _schema_name(rt: ResourceType) -> str:
    g = ".".join(reversed(rt.group.split("."))) if rt.group else "core"
    if rt.crd_name:
        return f"{g}.{rt.version}.{rt.kind}"
    return f"io.k8s.api.{rt.group.split('.')[0] or 'core'}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _object_schema(rt: ResourceType) -> dict[str, Any]:
    if rt.schema:
        schema = dict(rt.schema)
    else:
        schema = {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object"},
                "status": {"type": "object"},
            },
        }
    schema["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return schema


def _content(ref: str, types: list[str]) -> dict[str, Any]:
    return {t: {"schema": {"$ref": ref}} for t in types}


_REF = "#/components/schemas/"
_RESPONSE_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
_PATCH = f"{schemas.META}.Patch"
_STATUS = f"{schemas.META}.Status"
_DELETE_OPTIONS = f"{schemas.META}.DeleteOptions"
_WATCH_EVENT = f"{schemas.META}.WatchEvent"
_META_COMPONENTS = {
    _PATCH: {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
        "request body.",
        "type": "object",
    },
}


def _param(name: str, where: str = "query", required: bool = False, **schema: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": where, "schema": {"type": "string", **schema}}
    if required:
        out["required"] = True
    return out


_DRY_RUN = _param("dryRun", uniqueItems=True)
_FIELD_MANAGER = _param("fieldManager", uniqueItems=True)
_FIELD_VALIDATION = _param("fieldValidation", uniqueItems=True)
_FORCE = _param("force", type="boolean", uniqueItems=True)
_LIST_PARAMS = [
    _param("allowWatchBookmarks", type="boolean", uniqueItems=True),
    _param("continue", uniqueItems=True),
    _param("fieldSelector", uniqueItems=True),
    _param("labelSelector", uniqueItems=True),
    _param("limit", type="integer", uniqueItems=True),
    _param("resourceVersion", uniqueItems=True),
    _param("resourceVersionMatch", uniqueItems=True),
    _param("sendInitialEvents", type="boolean", uniqueItems=True),
    _param("timeoutSeconds", type="integer", uniqueItems=True),
    _param("watch", type="boolean", uniqueItems=True),
]


def _op_prefix(rt: ResourceType) -> str:
    """kube-apiserver's operation id prefix: CoreV1, AppsV1, RbacAuthorizationV1, DiscoveryV1, ..."""
    labels = [p for p in rt.group.split(".") if p not in ("k8s", "io")] if rt.group else ["core"]
    return "".join(p[:1].upper() + p[1:] for p in labels) + rt.version[:1].upper() + rt.version[1:]


def _ok(ref: str, codes: tuple[str, ...] = ("200",)) -> dict[str, Any]:
    text = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: dict[str, Any] = {
        c: {"description": text[c], "content": _content(ref, _RESPONSE_TYPES)} for c in codes
    }
    out["401"] = {"description": "Unauthorized"}
    return out


def _paths(rt: ResourceType, ref: str, list_ref: str, builtin: bool) -> dict[str, Any]:
    """The operations of one resource as kube-apiserver publishes them: the collection (list, create,
    deletecollection), the object (read, replace, patch, delete), its status and scale subresources,
    the all-namespaces list and the watch paths. Built-in kinds accept a strategic merge patch;
    custom resources do not (the apiserver answers 415)."""
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else "/api/v1"
    ns_part = "namespaces/{namespace}/" if rt.namespaced else ""
    coll = f"{base}/{ns_part}{rt.plural}"
    item = f"{coll}/{{name}}"
    pre = _op_prefix(rt)
    scope = "Namespaced" if rt.namespaced else ""
    gvk = {"x-kubernetes-group-version-kind": _gvk(rt)}
    tag = [f"{rt.group.split('.')[0] or 'core'}_{rt.version}"]
    path_params = [_param("pretty", uniqueItems=True)]
    if rt.namespaced:
        path_params.insert(0, _param("namespace", "path", required=True, uniqueItems=True))
    patch_types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        *(["application/strategic-merge-patch+json"] if builtin else []),
        "application/apply-patch+yaml",
    ]

    def op(action: str, op_id: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "tags": tag,
            "operationId": op_id,
            **extra,
            "responses": responses,
            "x-kubernetes-action": action,
            **gvk,
        }

    def body(ref_: str) -> dict[str, Any]:
        return {"content": _content(ref_, ["*/*"]), "required": True}

    def object_ops(suffix: str, target: str) -> dict[str, Any]:
        return {
            "get": op("get", f"read{pre}{scope}{rt.kind}{suffix}", _ok(target)),
            "put": op(
                "put",
                f"replace{pre}{scope}{rt.kind}{suffix}",
                _ok(target, ("200", "201")),
                parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                requestBody=body(target),
            ),
            "patch": op(
                "patch",
                f"patch{pre}{scope}{rt.kind}{suffix}",
                _ok(target, ("200", "201")),
                parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE],
                requestBody={"content": _content(_REF + _PATCH, patch_types), "required": True},
            ),
        }

    name_param = [_param("name", "path", required=True, uniqueItems=True)]
    status_ref = _REF + _STATUS
    if rt.kind == "SelfSubjectAccessReview":  # create-only, never stored
        return {
            coll: {
                "post": op(
                    "post",
                    f"create{pre}{rt.kind}",
                    _ok(ref, ("200", "201", "202")),
                    parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                    requestBody=body(ref),
                ),
                "parameters": path_params,
            }
        }
    paths: dict[str, Any] = {
        coll: {
            "get": op("list", f"list{pre}{scope}{rt.kind}", _ok(list_ref), parameters=_LIST_PARAMS),
            "post": op(
                "post",
                f"create{pre}{scope}{rt.kind}",
                _ok(ref, ("200", "201", "202")),
                parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                requestBody=body(ref),
            ),
            "delete": op(
                "deletecollection",
                f"delete{pre}Collection{scope}{rt.kind}",
                _ok(status_ref),
                parameters=[_DRY_RUN, *_LIST_PARAMS],
                requestBody={"content": _content(_REF + _DELETE_OPTIONS, ["*/*"])},
            ),
            "parameters": path_params,
        },
        item: {
            **object_ops("", ref),
            "delete": op(
                "delete",
                f"delete{pre}{scope}{rt.kind}",
                _ok(ref if rt.crd_name is None else status_ref, ("200", "202")),
                parameters=[_DRY_RUN],
                requestBody={"content": _content(_REF + _DELETE_OPTIONS, ["*/*"])},
            ),
            "parameters": name_param + path_params,
        },
    }
    if rt.status_subresource:
        paths[f"{item}/status"] = {**object_ops("Status", ref), "parameters": name_param + path_params}
    if rt.scale is not None:
        scale_ref = _REF + f"{schemas.PACKAGES['autoscaling']}.Scale"
        ops = object_ops("Scale", scale_ref)
        for o in ops.values():
            o["x-kubernetes-group-version-kind"] = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        paths[f"{item}/scale"] = {**ops, "parameters": name_param + path_params}
    watch_ref = _REF + _WATCH_EVENT
    watch_base = f"{base}/watch/{ns_part}{rt.plural}"
    paths[watch_base] = {
        "get": op("watchlist", f"watch{pre}{scope}{rt.kind}List", _ok(watch_ref), parameters=_LIST_PARAMS),
        "parameters": path_params,
    }
    paths[f"{watch_base}/{{name}}"] = {
        "get": op("watch", f"watch{pre}{scope}{rt.kind}", _ok(watch_ref), parameters=_LIST_PARAMS),
        "parameters": name_param + path_params,
    }
    if rt.namespaced:
        every = [_param("pretty", uniqueItems=True)]
        paths[f"{base}/{rt.plural}"] = {
            "get": op("list", f"list{pre}{rt.kind}ForAllNamespaces", _ok(list_ref), parameters=_LIST_PARAMS),
            "parameters": every,
        }
        paths[f"{base}/watch/{rt.plural}"] = {
            "get": op(
                "watchlist",
                f"watch{pre}{rt.kind}ListForAllNamespaces",
                _ok(watch_ref),
                parameters=_LIST_PARAMS,
            ),
            "parameters": every,
        }
    return paths


def _components(rt: ResourceType) -> tuple[str, str, dict[str, Any]]:
    """(schema ref, list schema ref, components) of one resource type."""
    name = schemas.component(rt.group, rt.version, rt.kind) if rt.crd_name is None else None
    if name is None:
        # a custom resource: its CRD's schema, under the name upstream gives it
        name = _schema_name(rt)
        list_name = name + "List"
        out = {name: _object_schema(rt), list_name: _list_schema(rt, name)}
    else:
        list_name = schemas.component(rt.group, rt.version, rt.list_kind) or name + "List"
        roots = [name, list_name]
        if rt.scale is not None:
            roots.append(schemas.component("autoscaling", "v1", "Scale") or "")
        out = {**schemas.closure(roots)}
        out[name] = {**out[name], "x-kubernetes-group-version-kind": [_gvk(rt)]}
        if list_name in out:
            out[list_name] = {
                **out[list_name],
                "x-kubernetes-group-version-kind": [{**_gvk(rt), "kind": rt.list_kind}],
            }
        else:
            out[list_name] = _list_schema(rt, name)
    return _REF + name, _REF + list_name, out


def _list_schema(rt: ResourceType, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {"type": "array", "items": {"allOf": [{"$ref": _REF + item}], "default": {}}},
            "kind": {"type": "string"},
            "metadata": {"allOf": [{"$ref": f"{_REF}{schemas.META}.ListMeta"}], "default": {}},
        },
        "x-kubernetes-group-version-kind": [{**_gvk(rt), "kind": rt.list_kind}],
    }


def v3_group_version(api: ClusterApi, gv_path: str) -> dict[str, Any] | None:
    """`gv_path` is `api/v1` or `apis/<group>/<version>`."""
    key = (id(api), api.types_version, gv_path)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    parts = gv_path.split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    rts = [rt for rt in api.types.values() if rt.group == group and rt.version == version]
    if not rts:
        return None
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {
        **schemas.closure(
            [schemas.meta_component(k) for k in ("Status", "DeleteOptions", "WatchEvent", "ListMeta")]
        ),
        **_META_COMPONENTS,
    }
    for rt in sorted(rts, key=lambda r: r.plural):
        ref, list_ref, comps = _components(rt)
        components.update(comps)
        paths.update(_paths(rt, ref, list_ref, builtin=rt.crd_name is None))
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.30.4"},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items()))},
    }
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = doc
    return doc


_digests: dict[tuple[int, int, str], str] = {}


def _digest(api: ClusterApi, gv_path: str, doc: Any) -> str:
    key = (id(api), api.types_version, gv_path)
    hit = _digests.get(key)
    if hit is None:
        hit = hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:128].upper()
        if len(_digests) > 512:
            _digests.clear()
        _digests[key] = hit
    return hit


def v3_index(api: ClusterApi) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, versions in api.groups().items():
        for v in versions:
            p = f"apis/{group}/{v}" if group else f"api/{v}"
            doc = v3_group_version(api, p)
            digest = _digest(api, p, doc)
            out[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={digest}"}
    return {"paths": out}


def v2_document(api: ClusterApi) -> dict[str, Any]:
    definitions = {}
    for rt in api.types.values():
        definitions[_schema_name(rt)] = _object_schema(rt)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.30.4"},
        "paths": {},
        "definitions": definitions,
    }
