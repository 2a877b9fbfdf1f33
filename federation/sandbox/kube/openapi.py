"""OpenAPI documents kubectl reads: `/openapi/v3` (index + one document per group-version) and a JSON
`/openapi/v2`.

kubectl's field-validation check (k8s.io/cli-runtime `QueryParamVerifierV3`) looks for a PATCH operation
tagged with `x-kubernetes-group-version-kind` that accepts the `fieldValidation` query parameter; when it
finds one, validation happens server-side (`fieldValidation=Strict`). CRD schemas are published as
component schemas so `kubectl explain` works.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from federation.sandbox.kube.resources import ResourceType

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi

_cache: dict[tuple[int, int, str], dict[str, Any]] = {}

_QUERY_PARAMS = [
    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
]


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


def _paths(rt: ResourceType) -> dict[str, Any]:
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else "/api/v1"
    coll = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    ref = f"#/components/schemas/{_schema_name(rt)}"
    ext = {"x-kubernetes-group-version-kind": _gvk(rt)}
    ok = {"200": {"description": "OK", "content": _content(ref, ["application/json"])}}
    patch_types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ]
    # Built-in kinds: strategic merge patch is accepted on the wire, but kubectl computes it from its
    # compiled-in types, which carry the patch merge keys our minimal schemas do not.
    write = {"parameters": _QUERY_PARAMS, **ext}
    paths = {
        coll: {
            "get": {"operationId": f"list{rt.kind}", "responses": ok, "x-kubernetes-action": "list", **ext},
            "post": {
                "operationId": f"create{rt.kind}",
                "requestBody": {"content": _content(ref, ["*/*"])},
                "responses": ok,
                "x-kubernetes-action": "post",
                **write,
            },
        },
        f"{coll}/{{name}}": {
            "get": {"operationId": f"read{rt.kind}", "responses": ok, "x-kubernetes-action": "get", **ext},
            "put": {
                "operationId": f"replace{rt.kind}",
                "requestBody": {"content": _content(ref, ["*/*"])},
                "responses": ok,
                "x-kubernetes-action": "put",
                **write,
            },
            "patch": {
                "operationId": f"patch{rt.kind}",
                "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in patch_types}},
                "responses": ok,
                "x-kubernetes-action": "patch",
                **write,
            },
            "delete": {
                "operationId": f"delete{rt.kind}",
                "responses": ok,
                "x-kubernetes-action": "delete",
                **ext,
            },
        },
    }
    return paths


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
    schemas: dict[str, Any] = {}
    for rt in rts:
        paths.update(_paths(rt))
        schemas[_schema_name(rt)] = _object_schema(rt)
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.30.4"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = doc
    return doc


def v3_index(api: ClusterApi) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, versions in api.groups().items():
        for v in versions:
            p = f"apis/{group}/{v}" if group else f"api/{v}"
            doc = v3_group_version(api, p)
            digest = hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:128].upper()
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
