"""Server-side apply (`application/apply-patch+yaml`).

A simplified field manager: the applied configuration is merged into the live object (strategic merge
for built-in kinds, JSON merge for custom resources); fields the same manager applied before and no
longer sends are removed. Ownership conflicts between managers are not tracked.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from federation.sandbox.kube.errors import bad_request
from federation.sandbox.kube.patch import merge_patch, strategic_merge_patch
from federation.sandbox.kube.resources import ResourceType

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi

APPLIED = "fedctl-sim.federation.io/applied-"


class AppliedObject(dict[str, Any]):
    created = False


def _removed(prev: Any, cur: Any) -> Any:
    """A merge patch nulling the keys in `prev` that `cur` no longer has."""
    if not isinstance(prev, dict) or not isinstance(cur, dict):
        return None
    out: dict[str, Any] = {}
    for k, v in prev.items():
        if k not in cur:
            out[k] = None
        else:
            sub = _removed(v, cur[k])
            if sub:
                out[k] = sub
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
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
            "for apply patch"
        )
    try:
        cfg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            cfg = yaml.safe_load(raw)
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
    record_key = APPLIED + field_manager
    if old is None:
        body = copy.deepcopy(cfg)
        body["metadata"].setdefault("annotations", {})[record_key] = orjson.dumps(cfg).decode()
        out = AppliedObject(api.create(rt, ns, body, dry_run=dry_run))
        out.created = True
        return _hide(out, record_key)
    prev_raw = ((old.get("metadata") or {}).get("annotations") or {}).get(record_key)
    prev = orjson.loads(prev_raw) if prev_raw else {}
    base = merge_patch(old, _removed(prev, cfg) or {})
    if rt.crd_name:
        new = merge_patch(base, cfg)
    else:
        new = strategic_merge_patch(base, cfg, rt.kind)
    new.setdefault("metadata", {}).setdefault("annotations", {})[record_key] = orjson.dumps(cfg).decode()
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    out = AppliedObject(
        api._commit_update(
            rt, (ns or "", name) if rt.namespaced else ("", name), old, new, subresource, dry_run, False
        )
    )
    return _hide(out, record_key)


def _hide(obj: AppliedObject, record_key: str) -> AppliedObject:
    return obj
