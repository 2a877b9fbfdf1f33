"""The JSONPath subset CRD `additionalPrinterColumns` and scale paths use: `.a.b`, `[n]`, `[*]` and
`[?(@.key=='value')]` filters (Kubernetes docs "JSONPath Support")."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r"\.([A-Za-z0-9_$-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]|"
    r"\['([^']+)'\]"
)


def parse(path: str) -> list[tuple[str, Any]]:
    p = path.strip()
    if p.startswith("{") and p.endswith("}"):
        p = p[1:-1]
    if p.startswith("$"):
        p = p[1:]
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(p):
        m = _TOKEN.match(p, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r} at {pos}")
        field, idx, fkey, fval, quoted = m.groups()
        if field is not None:
            out.append(("field", field))
        elif quoted is not None:
            out.append(("field", quoted))
        elif idx is not None:
            out.append(("all", None) if idx == "*" else ("index", int(idx)))
        else:
            out.append(("filter", (fkey.split("."), fval)))
        pos = m.end()
    return out


def evaluate(path: str | list[tuple[str, Any]], obj: Any) -> list[Any]:
    steps = parse(path) if isinstance(path, str) else path
    cur = [obj]
    for kind, arg in steps:
        nxt: list[Any] = []
        for c in cur:
            if (kind == "field" and isinstance(c, dict) and arg in c) or (
                kind == "index" and isinstance(c, list) and -len(c) <= arg < len(c)
            ):
                nxt.append(c[arg])
            elif kind == "all" and isinstance(c, list):
                nxt.extend(c)
            elif kind == "filter" and isinstance(c, list):
                keys, val = arg
                for item in c:
                    v: Any = item
                    for k in keys:
                        v = v.get(k) if isinstance(v, dict) else None
                    if v is not None and str(v) == val:
                        nxt.append(item)
        cur = nxt
    return cur


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set a simple dotted path (the form scale `specReplicasPath` takes)."""
    steps = parse(path)
    cur: Any = obj
    for kind, arg in steps[:-1]:
        if kind != "field":
            raise ValueError(f"unsupported path for writing: {path}")
        cur = cur.setdefault(arg, {})
    cur[steps[-1][1]] = value
