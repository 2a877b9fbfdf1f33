"""Server-side apply (`application/apply-patch+yaml`), simplified.

The applied configuration is merged into the live object (strategic merge for built-in kinds, JSON
merge for custom resources). What each manager applied is recorded as a `managedFields` entry
(operation `Apply`, `fieldsType: FieldsV1`, as the apiserver writes them; Kubernetes docs "Server-Side
Apply"), and fields a manager applied before but no longer sends are removed. Setting a field
another applier owns to a different value is a 409 Conflict unless `force=true`, which moves the
field to the new manager. Lists are atomic, and only `Apply` managers own fields here (plain updates
do not record ownership).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from federation.api import safeyaml
from federation.sandbox.kube.errors import ApiError, bad_request
from federation.sandbox.kube.patch import merge_patch, strategic_merge_patch
from federation.sandbox.kube.resources import ResourceType

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi

IGNORED_META = (
    "name",
    "namespace",
    "resourceVersion",
    "uid",
    "managedFields",
    "creationTimestamp",
    "generation",
)


class AppliedObject(dict[str, Any]):
    """The response body, remembering whether the apply created the object (201) or not (200)."""

    created = False


def fields_v1(cfg: Any, top: bool = True) -> dict[str, Any]:
    """The FieldsV1 set of an applied configuration (maps recurse, lists and scalars are leaves)."""
    out: dict[str, Any] = {}
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if top and k in ("apiVersion", "kind"):
                continue
            if top and k == "metadata" and isinstance(v, dict):
                v = {mk: mv for mk, mv in v.items() if mk not in IGNORED_META}
                if not v:
                    continue
            out[f"f:{k}"] = fields_v1(v, False) if isinstance(v, dict) else {}
    return out


def _leaves(fields: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for k, v in fields.items():
        path = (*prefix, k[2:])
        if v:
            out.extend(_leaves(v, path))
        else:
            out.append(path)
    return out


def _value(obj: Any, path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(obj, dict) or p not in obj:
            return _MISSING
        obj = obj[p]
    return obj


def _drop(fields: dict[str, Any], path: tuple[str, ...]) -> None:
    node = fields
    for p in path[:-1]:
        node = node.get(f"f:{p}") or {}
    node.pop(f"f:{path[-1]}", None)


_MISSING = object()


def _removal(prev: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    """A merge patch nulling the fields in `prev` (FieldsV1) that `cur` (FieldsV1) no longer has."""
    out: dict[str, Any] = {}
    for k, v in prev.items():
        name = k[2:]
        if k not in cur:
            out[name] = None
        elif v and cur[k]:
            sub = _removal(v, cur[k])
            if sub:
                out[name] = sub
    return out


def server_side_apply(
    api: ClusterApi,
    rt: ResourceType,
    ns: str | None,
    name: str,
    raw: bytes,
    old: dict[str, Any] | None,
    *,
    dry_run: bool,
    force: bool,
    field_manager: str | None,
    subresource: str | None,
) -> dict[str, Any]:
    if not field_manager:
        raise bad_request(
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch"
        )
    try:
        cfg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            cfg = safeyaml.load(raw)
        except yaml.YAMLError as exc:
            raise bad_request(f"error decoding YAML: {exc}") from exc
    if not isinstance(cfg, dict):
        raise bad_request("the apply configuration must be an object")
    md = cfg.setdefault("metadata", {})
    if md.get("name") and md["name"] != name:
        raise bad_request(
            f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
        )
    md["name"] = name
    fields = fields_v1(cfg)
    from federation.sandbox.kube.api import now_iso

    entry: dict[str, Any] = {
        "manager": field_manager,
        "operation": "Apply",
        "apiVersion": rt.api_version,
        "time": now_iso(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    if old is None:
        body = copy.deepcopy(cfg)
        body["metadata"]["managedFields"] = [entry]
        out = AppliedObject(api.create(rt, ns, body, dry_run=dry_run))
        out.created = True
        return out
    managed = [copy.deepcopy(m) for m in (old["metadata"].get("managedFields") or []) if isinstance(m, dict)]
    prev = next(
        (m for m in managed if m.get("manager") == field_manager and m.get("operation") == "Apply"), None
    )
    base = merge_patch(old, _removal(prev.get("fieldsV1") or {}, fields)) if prev else old
    new = merge_patch(base, cfg) if rt.crd_name else strategic_merge_patch(base, cfg, rt.kind)
    if prev is not None and prev.get("fieldsV1") == fields and prev.get("apiVersion") == rt.api_version:
        entry = prev  # an unchanged apply must not touch the object (no new resourceVersion)
    others = [m for m in managed if m is not prev]
    conflicts = [
        (m, leaf)
        for m in others
        if m.get("operation") == "Apply"
        for leaf in set(_leaves(fields)) & set(_leaves(m.get("fieldsV1") or {}))
        if _value(old, leaf) != _value(cfg, leaf)
    ]
    if conflicts and not force:
        raise _conflict_error(rt, name, conflicts)
    for m, leaf in conflicts:
        m["fieldsV1"] = copy.deepcopy(m.get("fieldsV1") or {})
        _drop(m["fieldsV1"], leaf)
    new["metadata"]["managedFields"] = [*others, entry]
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    key = (ns or "", name) if rt.namespaced else ("", name)
    return AppliedObject(api._commit_update(rt, key, old, new, subresource, dry_run, False))


def _conflict_error(
    rt: ResourceType, name: str, conflicts: list[tuple[dict[str, Any], tuple[str, ...]]]
) -> ApiError:
    """409 Conflict worded like the apiserver's field manager (Kubernetes docs "Server-Side Apply":
    conflicts)."""
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{m.get("manager")}"',
            "field": "." + ".".join(leaf),
        }
        for m, leaf in conflicts
    ]
    n = len(conflicts)
    if n == 1:
        m, leaf = conflicts[0]
        what = f'conflict with "{m.get("manager")}": .{".".join(leaf)}'
    else:
        what = "conflicts with " + ", ".join(f'"{c["message"][15:-1]}": {c["field"]}' for c in causes)
    return ApiError(
        409,
        "Conflict",
        f"Apply failed with {n} conflict{'s' if n > 1 else ''}: {what}",
        {"name": name, "group": rt.group, "kind": rt.plural, "causes": causes},
    )
