"""Label and field selectors as the list/watch query parameters spell them.

Grammar per the Kubernetes docs "Labels and Selectors": equality (`=`, `==`, `!=`), set-based
(`in`, `notin`), existence (`key`, `!key`), comma-joined as AND. Field selectors support
`metadata.name` and `metadata.namespace` on every kind (Kubernetes docs "Field Selectors"), plus a few
per-kind fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from federation.sandbox.kube.errors import bad_request

Matcher = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


def _split_top(expr: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(expr: str | None) -> Matcher | None:
    if not expr:
        return None
    terms = _split_top(expr)
    pairs = [_equality(t) for t in terms]
    if all(p is not None for p in pairs):
        # the common case, only `k=v` terms: one tight loop instead of a closure per term
        items = tuple(p for p in pairs if p is not None)

        def match_eq(obj: dict[str, Any]) -> bool:
            labels = obj["metadata"].get("labels") or _EMPTY
            for k, v in items:  # noqa: SIM110 - a plain loop beats all() over a generator here
                if labels.get(k) != v:
                    return False
            return True

        return match_eq
    reqs: list[Matcher] = [_label_term(t) for t in terms]

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


_EMPTY: dict[str, Any] = {}


def _equality(term: str) -> tuple[str, str] | None:
    if "!=" in term or "(" in term or "=" not in term:
        return None
    key, _, value = term.replace("==", "=").partition("=")
    k = key.strip()
    return (k, value.strip()) if k else None


def _label_term(term: str) -> Matcher:
    for op in ("!=", "==", "="):
        if op in term and "(" not in term:
            key, _, value = term.partition(op)
            k, v = key.strip(), value.strip()
            if not k:
                raise bad_request(f"unable to parse requirement: {term!r}")
            if op == "!=":
                return lambda labels: labels.get(k) != v
            return lambda labels: labels.get(k) == v
    m = _SET_RE.match(term)
    if not m:
        raise bad_request(f"unable to parse requirement: found '{term}', expected: in, notin, =, ==, !=")
    neg, key, op, values = m.groups()
    if op:
        vals = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in vals
        return lambda labels: labels.get(key) not in vals
    if neg:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def selector_from_label_selector(sel: dict[str, Any] | None) -> Matcher | None:
    """A matcher for a structured LabelSelector (matchLabels + matchExpressions) against labels dicts."""
    if not sel:
        return None
    ml = dict(sel.get("matchLabels") or {})
    exprs = list(sel.get("matchExpressions") or [])

    def match(labels: dict[str, Any]) -> bool:
        if any(labels.get(k) != v for k, v in ml.items()):
            return False
        for e in exprs:
            k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
            if op == "In" and labels.get(k) not in vals:
                return False
            if op == "NotIn" and k in labels and labels.get(k) in vals:
                return False
            if op == "Exists" and k not in labels:
                return False
            if op == "DoesNotExist" and k in labels:
                return False
        return True

    return match


_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "metadata.name": lambda o: (o.get("metadata") or {}).get("name", ""),
    "metadata.namespace": lambda o: (o.get("metadata") or {}).get("namespace", ""),
}
_KIND_FIELDS: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "events": {
        f"involvedObject.{k}": (lambda o, k=k: (o.get("involvedObject") or {}).get(k, ""))
        for k in ("kind", "name", "namespace", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    | {
        "reason": lambda o: o.get("reason", ""),
        "type": lambda o: o.get("type", ""),
        "source": lambda o: (o.get("source") or {}).get("component", ""),
    },
    "secrets": {"type": lambda o: o.get("type", "")},
    "pods": {
        "spec.nodeName": lambda o: (o.get("spec") or {}).get("nodeName", ""),
        "status.phase": lambda o: (o.get("status") or {}).get("phase", ""),
    },
    "namespaces": {"status.phase": lambda o: (o.get("status") or {}).get("phase", "")},
    "nodes": {"spec.unschedulable": lambda o: str(bool((o.get("spec") or {}).get("unschedulable"))).lower()},
}


def _field_req(getter: Callable[[dict[str, Any]], Any], value: str, neg: bool) -> Matcher:
    if neg:
        return lambda o: str(getter(o)) != value
    return lambda o: str(getter(o)) == value


def parse_field_selector(expr: str | None, plural: str) -> Matcher | None:
    if not expr:
        return None
    reqs: list[Matcher] = []
    for term in _split_top(expr):
        neg = "!=" in term
        key, _, value = term.partition("!=" if neg else ("==" if "==" in term else "="))
        key, value = key.strip(), value.strip()
        getter = _FIELDS.get(key) or _KIND_FIELDS.get(plural, {}).get(key)
        if getter is None:
            raise bad_request(
                f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        reqs.append(_field_req(getter, value, neg))
    return lambda o: all(r(o) for r in reqs)


def field_selector_name(expr: str | None) -> str | None:
    """The single name a `metadata.name=X` selector pins, so a list can skip the scan."""
    if not expr or "," in expr or "!=" in expr:
        return None
    key, _, value = expr.replace("==", "=").partition("=")
    return value.strip() if key.strip() == "metadata.name" else None
