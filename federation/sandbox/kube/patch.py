"""The patch formats the apiserver accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
strategic merge patch for built-in kinds.

Strategic merge follows the Kubernetes docs "Update API Objects in Place Using kubectl patch" and the
sig-api-machinery strategic-merge-patch design: lists with a patch merge key are merged item by item,
`$patch: replace|delete|merge`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
`$setElementOrder/<field>` directives are honoured.
"""

from __future__ import annotations

import copy
from typing import Any

from federation.sandbox.kube import schemas
from federation.sandbox.kube.errors import ApiError


def _merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """The list's merge key from the kind's published schema (schemas.py); "" merges primitives."""
    return schemas.merge_key(kind, path)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _invalid(msg: str) -> ApiError:
    return ApiError(422, "Invalid", msg)


def _walk(doc: Any, parts: list[str], op: str) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise _invalid(
                    f"jsonpatch {op} operation does not apply: doc is missing path: /{'/'.join(parts)}"
                )
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError) as exc:
                raise _invalid(
                    f"jsonpatch {op} operation does not apply: doc is missing path: /{'/'.join(parts)}"
                ) from exc
        else:
            raise _invalid(
                f"jsonpatch {op} operation does not apply: doc is missing path: /{'/'.join(parts)}"
            )
    return cur


def _add(doc: Any, parts: list[str], value: Any, op: str = "add") -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], op)
    last = parts[-1]
    if isinstance(parent, dict):
        if op == "replace" and last not in parent:
            raise _invalid(
                f"jsonpatch replace operation does not apply: doc is missing key: /{'/'.join(parts)}"
            )
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
            return doc
        try:
            idx = int(last)
        except ValueError as exc:
            raise _invalid(f"invalid list index {last!r}") from exc
        if op == "replace":
            if not 0 <= idx < len(parent):
                raise _invalid(f"jsonpatch replace operation does not apply: index out of range: {idx}")
            parent[idx] = value
        else:
            if not 0 <= idx <= len(parent):
                raise _invalid(f"jsonpatch add operation does not apply: index out of range: {idx}")
            parent.insert(idx, value)
    else:
        raise _invalid(f"jsonpatch {op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise _invalid("jsonpatch remove operation does not apply to the whole document")
    parent = _walk(doc, parts[:-1], "remove")
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _invalid(
                f"jsonpatch remove operation does not apply: doc is missing path: /{'/'.join(parts)}"
            )
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError) as exc:
            raise _invalid(
                f"jsonpatch remove operation does not apply: doc is missing path: /{'/'.join(parts)}"
            ) from exc
    raise _invalid(f"jsonpatch remove operation does not apply: doc is missing path: /{'/'.join(parts)}")


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 on a deep copy of `doc`."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for o in ops:
        if not isinstance(o, dict) or "op" not in o or "path" not in o:
            raise ApiError(400, "BadRequest", f"invalid json patch operation: {o!r}")
        op, parts = o["op"], _pointer(o["path"])
        if op in ("add", "replace"):
            if "value" not in o:
                raise ApiError(400, "BadRequest", f"json patch {op} needs a value")
            doc = _add(doc, parts, copy.deepcopy(o["value"]), op)
        elif op == "remove":
            _remove(doc, parts)
        elif op == "move":
            value = _remove(doc, _pointer(o.get("from", "")))
            doc = _add(doc, parts, value)
        elif op == "copy":
            doc = _add(doc, parts, copy.deepcopy(_walk(doc, _pointer(o.get("from", "")), "copy")))
        elif op == "test":
            if _walk(doc, parts, "test") != o.get("value"):
                raise _invalid(f"testing value {o['path']} failed: test failed")
        else:
            raise ApiError(400, "BadRequest", f"unexpected json patch operation {op!r}")
    return doc


def _strip(v: Any) -> Any:
    """Drop patch directives from a value that is being added wholesale."""
    if isinstance(v, dict):
        return {
            k: _strip(x)
            for k, x in v.items()
            if not (k.startswith("$") and (k in ("$patch", "$retainKeys") or "/" in k))
        }
    if isinstance(v, list):
        return [_strip(x) for x in v if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    return v


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise ApiError(400, "BadRequest", "strategic merge patch must be a JSON object")
    out = _smp_map(copy.deepcopy(original), patch, kind, ())
    return out if out is not None else {}


def _smp_map(
    orig: dict[str, Any], patch: dict[str, Any], kind: str, path: tuple[str, ...]
) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return None
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v or []
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(orig.get(field), list):
                orig[field] = [x for x in orig[field] if x not in (v or [])]
            continue
        if v is None:
            orig.pop(k, None)
            continue
        cur = orig.get(k)
        if isinstance(v, dict):
            if isinstance(cur, dict):
                merged = _smp_map(cur, v, kind, (*path, k))
                if merged is None:
                    orig.pop(k, None)
                else:
                    orig[k] = merged
            else:
                fresh = _smp_map({}, v, kind, (*path, k))
                if fresh is not None:
                    orig[k] = fresh
        elif isinstance(v, list):
            orig[k] = _smp_list(cur if isinstance(cur, list) else [], v, kind, (*path, k))
        else:
            orig[k] = v
    for field, order in orders.items():
        if isinstance(orig.get(field), list):
            orig[field] = _apply_order(orig[field], order, _merge_key(kind, (*path, field)))
    if isinstance(retain, list):
        orig = {k: v for k, v in orig.items() if k in retain}
    return orig


def _smp_list(cur: list[Any], patch: list[Any], kind: str, path: tuple[str, ...]) -> list[Any]:
    key = _merge_key(kind, path)
    if key is None:
        return [x for x in _strip(patch) if not (isinstance(x, dict) and "$patch" in x)]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_strip(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if key == "":
        out = list(cur)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    out = [copy.deepcopy(x) for x in cur]
    for item in patch:
        if not isinstance(item, dict):
            continue
        kv = item.get(key)
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == kv), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_strip(item))
        else:
            merged = _smp_map(out[idx], item, kind, path)
            if merged is None:
                out.pop(idx)
            else:
                out[idx] = merged
    return out


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    wanted = [ident(o) if isinstance(o, dict) else o for o in order]
    pos = {repr(w): i for i, w in enumerate(wanted)}
    return sorted(items, key=lambda x: pos.get(repr(ident(x)), len(pos)))
