"""Validation, defaulting and pruning of objects against any CRD's structural OpenAPI v3 schema.

This is what kube-apiserver does to a custom resource on create and update, written once for every CRD:
the Kubernetes simulator runs it on whatever CRDs are registered, and the tests run it on ours. It
covers the OpenAPI v3 subset structural schemas allow (types incl. ``nullable`` and
``x-kubernetes-int-or-string``, required, enum, pattern, format, numeric bounds, length/item/property
counts, additionalProperties, allOf/anyOf/oneOf/not), the Kubernetes extensions
(``x-kubernetes-list-type`` set/map with ``x-kubernetes-list-map-keys``,
``x-kubernetes-preserve-unknown-fields``, ``x-kubernetes-embedded-resource``) and
``x-kubernetes-validations`` CEL rules with ``self``/``oldSelf`` (transition rules), ``message``,
``messageExpression``, ``reason`` and ``fieldPath`` (Kubernetes docs: "Validation rules" in
"Extend the Kubernetes API with CustomResourceDefinitions").

Error messages copy kube-apiserver's ``field.Error`` text, e.g.
``spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0``.
Nothing here raises on odd input: a value of the wrong shape is a FieldError, and a broken schema (a
rule that does not compile, a bad regular expression) is a FieldError of reason ``InternalError``;
``check_schema`` reports those up front, as the API server does when a CRD is created.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import itertools
import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

# Kubernetes' cause types (apimachinery/pkg/util/validation/field ErrorType) used as reasons.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
TYPE_INVALID = "FieldValueTypeInvalid"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
INTERNAL = "InternalError"

_ROOT = "<nil>"  # how apimachinery prints an empty field path
_BLOCKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)
_ROOT_META = ("apiVersion", "kind", "metadata")
# Errors after which the apiserver does not run CEL rules: the object lacks the shape they were
# written for (apiextensions-apiserver customresource strategy, hasBlockingErr).
_BLOCKING = frozenset(
    {
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    }
)


@dataclass(frozen=True)
class FieldError:
    """One validation failure: the field path, the Kubernetes cause type, and the apiserver's message."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


# --- paths and value formatting --------------------------------------------------------------------

Path = tuple[str, ...]


def _child(path: Path, name: str) -> Path:
    return (*path, f".{name}" if path else name)


def _index(path: Path, i: int) -> Path:
    return (*path, f"[{i}]")


def _key(path: Path, key: str) -> Path:
    return (*path, f"[{key}]")


def _render(path: Path) -> str:
    return "".join(path) if path else _ROOT


def _go_value(value: Any) -> str:
    """A value as field.Error prints it: strings quoted, numbers bare, null as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Errors:
    """Collects FieldErrors with the apiserver's wording."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: Path, reason: str, body: str) -> None:
        field = _render(path)
        self.items.append(FieldError(field, reason, f"{field}: {body}"))

    def required(self, path: Path, detail: str = "") -> None:
        self.add(path, REQUIRED, "Required value" + (f": {detail}" if detail else ""))

    def forbidden(self, path: Path, detail: str) -> None:
        self.add(path, FORBIDDEN, f"Forbidden: {detail}")

    def invalid(self, path: Path, value: Any, detail: str, reason: str = INVALID) -> None:
        self.add(path, reason, f"Invalid value: {_go_value(value)}: {detail}")

    def internal(self, path: Path, detail: str) -> None:
        self.add(path, INTERNAL, f"Internal error: {detail}")


# --- schema helpers --------------------------------------------------------------------------------


def _is_schema(node: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(node, dict)


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _items(schema: dict[str, Any]) -> dict[str, Any] | None:
    items = schema.get("items")
    return items if isinstance(items, dict) else None


def _additional(schema: dict[str, Any]) -> dict[str, Any] | bool | None:
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict | bool):
        return extra
    return None


def _preserves(schema: dict[str, Any]) -> bool:
    return schema.get("x-kubernetes-preserve-unknown-fields") is True


def _int_or_string(schema: dict[str, Any]) -> bool:
    return schema.get("x-kubernetes-int-or-string") is True


def _embedded(schema: dict[str, Any]) -> bool:
    return schema.get("x-kubernetes-embedded-resource") is True


@functools.lru_cache(maxsize=2048)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# --- defaulting -------------------------------------------------------------------------------------


def apply_defaults(schema: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` with the schema's ``default``s filled in, top-down as the apiserver does.

    A defaulted object is itself defaulted (so ``default: {}`` brings its properties' defaults), and a
    null in a non-nullable field is dropped before defaulting (CRD docs: "Defaulting and Nullable").
    """
    result = copy.deepcopy(obj)
    if isinstance(schema, dict) and isinstance(result, dict):
        _default(schema, result)
    return result


def _default(schema: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        props = _props(schema)
        for name, sub in props.items():
            if not _is_schema(sub):
                continue
            if name in value and value[name] is None and not sub.get("nullable"):
                del value[name]
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
        for name, sub in props.items():
            if _is_schema(sub) and name in value:
                _default(sub, value[name])
        extra = _additional(schema)
        if isinstance(extra, dict):
            for key in list(value):
                if key not in props:
                    _default(extra, value[key])
    elif isinstance(value, list):
        items = _items(schema)
        if items is not None:
            for item in value:
                _default(items, item)


# --- pruning ----------------------------------------------------------------------------------------


def prune_unknown(schema: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` without fields the schema does not declare (structural pruning).

    Fields under ``x-kubernetes-preserve-unknown-fields: true`` are kept; at the root (and in embedded
    resources) apiVersion, kind and metadata are always kept: the apiserver handles metadata itself.
    """
    result = copy.deepcopy(obj)
    if isinstance(schema, dict) and isinstance(result, dict):
        _prune(schema, result, root=True)
    return result


def _prune(schema: dict[str, Any], value: Any, root: bool = False) -> None:
    if isinstance(value, dict):
        props = _props(schema)
        extra = _additional(schema)
        keep_meta = root or _embedded(schema)
        for key in list(value):
            if keep_meta and key in _ROOT_META:
                continue
            sub = props.get(key)
            if _is_schema(sub):
                _prune(sub, value[key])
            elif isinstance(extra, dict):
                _prune(extra, value[key])
            elif not (_preserves(schema) or extra is True):
                del value[key]
    elif isinstance(value, list):
        items = _items(schema)
        if items is not None:
            for item in value:
                _prune(items, item)


def unknown_fields(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Paths of the fields pruning would drop: what ``fieldValidation=Strict`` reports."""
    found: list[str] = []
    if isinstance(schema, dict) and isinstance(obj, dict):
        _unknown(schema, obj, (), found, root=True)
    return found


def _unknown(schema: dict[str, Any], value: Any, path: Path, found: list[str], root: bool = False) -> None:
    if isinstance(value, dict):
        props = _props(schema)
        extra = _additional(schema)
        keep_meta = root or _embedded(schema)
        for key, sub_value in value.items():
            if keep_meta and key in _ROOT_META:
                continue
            sub = props.get(key)
            if _is_schema(sub):
                _unknown(sub, sub_value, _child(path, key), found)
            elif isinstance(extra, dict):
                _unknown(extra, sub_value, _key(path, str(key)), found)
            elif not (_preserves(schema) or extra is True):
                found.append(_render(_child(path, str(key))))
    elif isinstance(value, list):
        items = _items(schema)
        if items is not None:
            for i, item in enumerate(value):
                _unknown(items, item, _index(path, i), found)


# --- OpenAPI validation ---------------------------------------------------------------------------

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_HOSTNAME = re.compile(
    r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$"
)


def _format_ok(fmt: str, value: Any) -> bool:
    """Loose checks for the formats Kubernetes knows; unknown formats pass, as they do there."""
    if fmt in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True
        lo, hi = _INT_RANGES[fmt]
        return lo <= value <= hi
    if not isinstance(value, str):
        return True
    if fmt == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return False
        return "T" in value.upper()
    if fmt == "date":
        if not _DATE.match(value):
            return False
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            return False
        return True
    if fmt == "byte":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    if fmt == "uuid":
        return bool(_UUID.match(value))
    if fmt == "hostname":
        return len(value) <= 253 and bool(_HOSTNAME.match(value))
    return True


def _type_ok(schema: dict[str, Any], value: Any) -> bool:
    if _int_or_string(schema):
        return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
    expected = schema.get("type")
    if not isinstance(expected, str) or not expected:
        return True
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _type_name(schema: dict[str, Any]) -> str:
    if _int_or_string(schema):
        return "integer or string"
    expected = schema.get("type")
    return expected if isinstance(expected, str) and expected else "object"


class _Validator:
    def __init__(self, reject_unknown: bool) -> None:
        self.errors = _Errors()
        self.reject_unknown = reject_unknown
        self.rules: list[tuple[dict[str, Any], Any, Any, bool, Path]] = []

    # Structural pass: collects OpenAPI errors and records where CEL rules apply, so the rules run
    # only after it (the apiserver skips them when the object has blocking errors).
    def walk(
        self, schema: dict[str, Any], value: Any, old: Any, has_old: bool, path: Path, root: bool = False
    ) -> None:
        if value is None:
            if schema.get("nullable") is True:
                return
            if schema.get("type") or _int_or_string(schema):
                self._type_error(schema, value, path)
                return
        if not _type_ok(schema, value):
            self._type_error(schema, value, path)
            return
        self._value_checks(schema, value, path)
        if isinstance(value, dict):
            self._object(schema, value, old, has_old, path, root)
        elif isinstance(value, list):
            self._array(schema, value, old, has_old, path)
        if isinstance(schema.get("x-kubernetes-validations"), list):
            self.rules.append((schema, value, old, has_old, path))

    def _type_error(self, schema: dict[str, Any], value: Any, path: Path) -> None:
        actual = _json_type(value)
        self.errors.add(
            path,
            TYPE_INVALID,
            f"Invalid value: {_go_value(actual)}: {_render(path)} in body must be of type "
            f"{_type_name(schema)}: {_go_value(actual)}",
        )

    def _value_checks(self, schema: dict[str, Any], value: Any, path: Path) -> None:
        name = _render(path)
        enum = schema.get("enum")
        if isinstance(enum, list) and value not in enum:
            supported = ", ".join(_go_value(v) for v in enum)
            self.errors.add(
                path, NOT_SUPPORTED, f"Unsupported value: {_go_value(value)}: supported values: {supported}"
            )
        if isinstance(value, str):
            self._string_checks(schema, value, path, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            self._number_checks(schema, value, path, name)
        fmt = schema.get("format")
        if isinstance(fmt, str) and not _format_ok(fmt, value):
            self.errors.add(
                path,
                INVALID,
                f"Invalid value: {_go_value(value)}: {name} in body must be of type {fmt}: "
                f"{_go_value(value)}",
            )
        self._combinators(schema, value, path)

    def _string_checks(self, schema: dict[str, Any], value: str, path: Path, name: str) -> None:
        max_len = schema.get("maxLength")
        if isinstance(max_len, int) and len(value) > max_len:
            self.errors.add(path, TOO_LONG, f"Too long: may not be more than {max_len} bytes")
        min_len = schema.get("minLength")
        if isinstance(min_len, int) and len(value) < min_len:
            self.errors.invalid(path, value, f"{name} in body should be at least {min_len} chars long")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                rx = _regex(pattern)
            except re.error as exc:
                self.errors.internal(path, f"invalid pattern {pattern!r} in schema: {exc}")
            else:
                if not rx.search(value):
                    self.errors.invalid(path, value, f"{name} in body should match '{pattern}'")

    def _number_checks(self, schema: dict[str, Any], value: float, path: Path, name: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            self.errors.invalid(path, value, f"{name} in body must be a finite number")
            return
        minimum = schema.get("minimum")
        if isinstance(minimum, int | float) and not isinstance(minimum, bool):
            if schema.get("exclusiveMinimum") is True:
                if value <= minimum:
                    self.errors.invalid(path, value, f"{name} in body should be greater than {minimum}")
            elif value < minimum:
                self.errors.invalid(
                    path, value, f"{name} in body should be greater than or equal to {minimum}"
                )
        maximum = schema.get("maximum")
        if isinstance(maximum, int | float) and not isinstance(maximum, bool):
            if schema.get("exclusiveMaximum") is True:
                if value >= maximum:
                    self.errors.invalid(path, value, f"{name} in body should be less than {maximum}")
            elif value > maximum:
                self.errors.invalid(path, value, f"{name} in body should be less than or equal to {maximum}")
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int | float) and not isinstance(multiple, bool) and multiple > 0:
            quotient = value / multiple
            if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
                self.errors.invalid(path, value, f"{name} in body should be a multiple of {multiple}")

    def _combinators(self, schema: dict[str, Any], value: Any, path: Path) -> None:
        # Value validations only (structural schemas forbid types/properties under these).
        name = _render(path)

        def passes(sub: Any) -> bool:
            if not isinstance(sub, dict):
                return True
            probe = _Validator(self.reject_unknown)
            probe.walk(sub, value, None, False, path)
            return not probe.errors.items

        all_of = schema.get("allOf")
        if isinstance(all_of, list):
            for sub in all_of:
                if isinstance(sub, dict):
                    probe = _Validator(self.reject_unknown)
                    probe.walk(sub, value, None, False, path)
                    self.errors.items.extend(probe.errors.items)
        any_of = schema.get("anyOf")
        if isinstance(any_of, list) and any_of and not any(passes(s) for s in any_of):
            self.errors.invalid(path, value, f"{name} in body must validate at least one schema (anyOf)")
        one_of = schema.get("oneOf")
        if isinstance(one_of, list) and one_of and sum(1 for s in one_of if passes(s)) != 1:
            self.errors.invalid(path, value, f"{name} in body must validate one and only one schema (oneOf)")
        not_schema = schema.get("not")
        if isinstance(not_schema, dict) and passes(not_schema):
            self.errors.invalid(path, value, f"{name} in body must not validate the schema (not)")

    def _object(
        self, schema: dict[str, Any], value: dict[str, Any], old: Any, has_old: bool, path: Path, root: bool
    ) -> None:
        props = _props(schema)
        required = schema.get("required")
        if isinstance(required, list):
            for req in required:
                if isinstance(req, str) and req not in value:
                    self.errors.required(_child(path, req))
        count = len(value)
        min_props = schema.get("minProperties")
        if isinstance(min_props, int) and count < min_props:
            self.errors.invalid(
                path, count, f"{_render(path)} in body should have at least {min_props} properties"
            )
        max_props = schema.get("maxProperties")
        if isinstance(max_props, int) and count > max_props:
            self.errors.add(path, TOO_MANY, f"Too many: {count}: must have at most {max_props} items")
        extra = _additional(schema)
        old_map = old if has_old and isinstance(old, dict) else None
        keep_meta = root or _embedded(schema)
        for key, sub_value in value.items():
            key = str(key)
            sub = props.get(key)
            sub_old = old_map.get(key) if old_map is not None else None
            sub_has_old = old_map is not None and key in old_map
            if keep_meta and key in _ROOT_META and not _is_schema(sub):
                continue
            if _is_schema(sub):
                if keep_meta and key == "metadata":
                    # ObjectMeta is validated by the apiserver itself; only its type matters here.
                    if not isinstance(sub_value, dict):
                        self._type_error({"type": "object"}, sub_value, _child(path, key))
                    continue
                self.walk(sub, sub_value, sub_old, sub_has_old, _child(path, key))
            elif isinstance(extra, dict):
                self.walk(extra, sub_value, sub_old, sub_has_old, _key(path, key))
            elif extra is False or (self.reject_unknown and not (_preserves(schema) or extra is True)):
                # kube-apiserver's strict field validation says "field not declared in schema".
                self.errors.forbidden(_child(path, key), "field not declared in schema")

    def _array(self, schema: dict[str, Any], value: list[Any], old: Any, has_old: bool, path: Path) -> None:
        name = _render(path)
        min_items = schema.get("minItems")
        if isinstance(min_items, int) and len(value) < min_items:
            self.errors.invalid(path, len(value), f"{name} in body should have at least {min_items} items")
        max_items = schema.get("maxItems")
        if isinstance(max_items, int) and len(value) > max_items:
            self.errors.add(path, TOO_MANY, f"Too many: {len(value)}: must have at most {max_items} items")
        list_type = schema.get("x-kubernetes-list-type")
        map_keys = schema.get("x-kubernetes-list-map-keys")
        keys = [k for k in map_keys if isinstance(k, str)] if isinstance(map_keys, list) else []
        if schema.get("uniqueItems") is True or list_type == "set":
            self._duplicates(value, path, lambda item: item)
        if list_type == "map" and keys:
            items_schema = _items(schema) or {}

            def identity(item: Any) -> Any:
                if not isinstance(item, dict):
                    return item
                # A missing key counts as its default, as the apiserver defaults before this check.
                return {k: item.get(k, _props(items_schema).get(k, {}).get("default")) for k in keys}

            self._duplicates(value, path, identity, as_map=True)
        items = _items(schema)
        if items is None:
            return
        old_by_key: dict[str, Any] = {}
        if has_old and isinstance(old, list) and list_type == "map" and keys:
            for old_item in old:
                if isinstance(old_item, dict):
                    old_by_key[_canon({k: old_item.get(k) for k in keys})] = old_item
        for i, item in enumerate(value):
            sub_old: Any = None
            sub_has_old = False
            if old_by_key and isinstance(item, dict):
                ident = _canon({k: item.get(k) for k in keys})
                if ident in old_by_key:
                    sub_old, sub_has_old = old_by_key[ident], True
            self.walk(items, item, sub_old, sub_has_old, _index(path, i))

    def _duplicates(
        self, value: list[Any], path: Path, identity: Callable[[Any], Any], as_map: bool = False
    ) -> None:
        seen: set[str] = set()
        for i, item in enumerate(value):
            ident = identity(item)
            canon = _canon(ident)
            if canon in seen:
                shown = (
                    "map[string]interface {}{"
                    + ", ".join(f"{json.dumps(k)}:{_go_value(v)}" for k, v in ident.items())
                    + "}"
                    if as_map and isinstance(ident, dict)
                    else _go_value(ident)
                )
                self.errors.add(_index(path, i), DUPLICATE, f"Duplicate value: {shown}")
            seen.add(canon)


def _canon(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(value)


# --- CEL ------------------------------------------------------------------------------------------

_OLD_SELF = re.compile(r"\boldSelf\b")
_cel_lock = threading.Lock()


class _CompiledRule:
    def __init__(self, program: Any | None, error: str | None) -> None:
        self.program = program
        self.error = error


def _str_arg(value: Any) -> str:
    return str(value)


# Kubernetes' CEL string and list extension functions, the cheap ones (k8s.io/apiserver cel/library).
def _lower_ascii(s: Any) -> celtypes.StringType:
    return celtypes.StringType(_str_arg(s).lower())


def _upper_ascii(s: Any) -> celtypes.StringType:
    return celtypes.StringType(_str_arg(s).upper())


def _trim(s: Any) -> celtypes.StringType:
    return celtypes.StringType(_str_arg(s).strip())


def _split(s: Any, sep: Any, limit: Any = None) -> celtypes.ListType:
    parts = (
        _str_arg(s).split(_str_arg(sep))
        if limit is None or int(limit) < 0
        else (_str_arg(s).split(_str_arg(sep), max(int(limit) - 1, 0)) if int(limit) > 0 else [])
    )
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _join(items: Any, sep: Any = "") -> celtypes.StringType:
    return celtypes.StringType(_str_arg(sep).join(_str_arg(i) for i in items))


def _replace(s: Any, old: Any, new: Any, count: Any = -1) -> celtypes.StringType:
    return celtypes.StringType(_str_arg(s).replace(_str_arg(old), _str_arg(new), int(count)))


def _index_of(target: Any, item: Any, *rest: Any) -> celtypes.IntType:
    if isinstance(target, list):
        return celtypes.IntType(next((i for i, v in enumerate(target) if v == item), -1))
    start = int(rest[0]) if rest else 0
    return celtypes.IntType(_str_arg(target).find(_str_arg(item), start))


def _last_index_of(target: Any, item: Any) -> celtypes.IntType:
    if isinstance(target, list):
        positions = [i for i, v in enumerate(target) if v == item]
        return celtypes.IntType(positions[-1] if positions else -1)
    return celtypes.IntType(_str_arg(target).rfind(_str_arg(item)))


def _substring(s: Any, start: Any, end: Any = None) -> celtypes.StringType:
    text = _str_arg(s)
    return celtypes.StringType(text[int(start) :] if end is None else text[int(start) : int(end)])


def _is_sorted(items: Any) -> celtypes.BoolType:
    values = list(items)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(values)))


def _sum(items: Any) -> Any:
    values = list(items)
    if not values:
        return celtypes.IntType(0)
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _min(items: Any) -> Any:
    return min(list(items))


def _max(items: Any) -> Any:
    return max(list(items))


_EXTENSIONS: dict[str, Any] = {
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "trim": _trim,
    "split": _split,
    "join": _join,
    "replace": _replace,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "substring": _substring,
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
}


@functools.lru_cache(maxsize=4096)
def _compile(rule: str) -> _CompiledRule:
    """Compile a rule once per distinct text (the apiserver also compiles at CRD registration)."""
    with _cel_lock:
        try:
            env = celpy.Environment()
            ast = env.compile(rule)
            program = env.program(ast, functions=_EXTENSIONS)
        except Exception as exc:  # celpy raises parse/lark errors of several types
            return _CompiledRule(None, f"compilation failed: {' '.join(str(exc).split())}")
    return _CompiledRule(program, None)


def _to_cel(value: Any) -> Any:
    try:
        return json_to_cel(value)
    except Exception:  # values a JSON decoder would not produce (datetimes from YAML, sets...)
        return json_to_cel(json.loads(json.dumps(value, default=str)))


def _evaluate(rule: str, activation: dict[str, Any]) -> tuple[Any, str | None]:
    compiled = _compile(rule)
    if compiled.program is None:
        return None, compiled.error
    try:
        result = compiled.program.evaluate(activation)
    except Exception as exc:
        return None, " ".join(str(exc.args[0] if getattr(exc, "args", None) else exc).split())
    if isinstance(result, Exception):
        return None, " ".join(str(result.args[0] if result.args else result).split())
    return result, None


# Outcomes of rules on ``self`` alone, by (rule, what the rule can see of its value): a rule is a pure
# function of what it reads, and many objects share those parts (ports, placement, probes; a status
# write leaves the name the root rule reads), so each distinct one is evaluated once (the CEL
# interpreter costs milliseconds a rule).
_OUTCOMES: dict[tuple[str, str], tuple[Any, str | None]] = {}
_OUTCOMES_MAX = 65536
_SELF_CHAIN = re.compile(r"\bself\b((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\s*\()?")


@functools.lru_cache(maxsize=4096)
def _self_chains(rule: str) -> tuple[tuple[str, ...], ...] | None:
    """The field paths a rule reads ``self`` through (``self.a.b`` -> ("a", "b"); a trailing method
    call is not a field), or None when it uses ``self`` some other way (bare, indexed): then the
    whole value is what it sees. A ``self`` inside a string literal only adds paths, never hides one."""
    chains: set[tuple[str, ...]] = set()
    for m in _SELF_CHAIN.finditer(rule):
        segments = tuple(m.group(1).split(".")[1:])
        if m.group(2):
            segments = segments[:-1]
        if not segments:
            return None
        chains.add(segments)
    return tuple(sorted(chains))


def _seen_by(rule: str, value: Any) -> str:
    """JSON of what ``rule`` can observe of ``value`` ("" when that is not plain JSON: no memo)."""
    chains = _self_chains(rule)
    seen: Any = value
    if chains is not None:
        seen = []
        for chain in chains:
            cur = value
            for depth, name in enumerate(chain):
                if not isinstance(cur, dict):
                    seen.append([depth, cur])  # not an object: what a field access there sees
                    break
                if name not in cur:
                    seen.append([depth])  # absent from here down
                    break
                cur = cur[name]
            else:
                seen.append(["=", cur])
    try:
        return json.dumps(seen, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return ""


def _passed(outcome: tuple[Any, str | None]) -> bool:
    result, error = outcome
    return error is None and isinstance(result, bool | celtypes.BoolType) and bool(result)


def _field_path(base: Path, field_path: str) -> Path | None:
    """Resolve a rule's fieldPath (".a.b", ".a['x']", ".a[0]") below the rule's own path."""
    segments: list[str] = []
    pos = 0
    token = re.compile(r"\.([A-Za-z_$][-A-Za-z0-9_$]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
    while pos < len(field_path):
        m = token.match(field_path, pos)
        if m is None:
            return None
        if m.group(1) is not None:
            segments.append(m.group(1))
        elif m.group(2) is not None:
            segments.append(f"[{m.group(2)}]")
        else:
            segments.append(m.group(3) if m.group(3) is not None else m.group(4))
        pos = m.end()
    path = base
    for seg in segments:
        path = (*path, seg) if seg.startswith("[") else _child(path, seg)
    return path


def _run_rules(
    errors: _Errors, schema: dict[str, Any], value: Any, old: Any, has_old: bool, path: Path
) -> None:
    rules = schema.get("x-kubernetes-validations")
    if not isinstance(rules, list):
        return
    type_name = _type_name(schema)
    cel_self: Any = None
    cel_old: Any = None
    for spec in rules:
        if not isinstance(spec, dict) or not isinstance(spec.get("rule"), str):
            errors.internal(path, "x-kubernetes-validations entry without a rule string")
            continue
        rule: str = spec["rule"]
        transition = bool(_OLD_SELF.search(rule))
        if transition and not has_old:
            continue  # transition rules run only on updates where the old value exists
        key: tuple[str, str] | None = None
        outcome: tuple[Any, str | None] | None = None
        if not transition:
            seen = _seen_by(rule, value)
            if seen:
                key = (rule, seen)
                outcome = _OUTCOMES.get(key)
        if cel_self is None and (outcome is None or not _passed(outcome)):
            cel_self = _to_cel(value)
        activation: dict[str, Any] = {"self": cel_self}
        if transition:
            if cel_old is None:
                cel_old = _to_cel(old)
            activation["oldSelf"] = cel_old
        if outcome is None:
            outcome = _evaluate(rule, activation)
            if key is not None:
                if len(_OUTCOMES) >= _OUTCOMES_MAX:
                    _OUTCOMES.clear()
                _OUTCOMES[key] = outcome
        result, error = outcome
        if error is not None:
            if error.startswith("compilation failed"):
                errors.internal(path, f"rule {rule!r}: {error}")
            else:
                errors.invalid(path, type_name, f"rule evaluation error: {error} (rule: {rule})")
            continue
        if not isinstance(result, bool):  # BoolType subclasses int; accept only CEL booleans
            if isinstance(result, celtypes.BoolType):
                result = bool(result)
            else:
                errors.internal(path, f"rule {rule!r} did not evaluate to a bool")
                continue
        if result:
            continue
        message = _rule_message(spec, rule, activation)
        target = path
        fp = spec.get("fieldPath")
        if isinstance(fp, str) and fp:
            resolved = _field_path(path, fp)
            if resolved is not None:
                target = resolved
        reason = spec.get("reason")
        if reason == REQUIRED:
            errors.required(target, message)
        elif reason == FORBIDDEN:
            errors.forbidden(target, message)
        elif reason == DUPLICATE:
            errors.add(target, DUPLICATE, f"Duplicate value: {message}")
        else:
            errors.invalid(target, type_name, message)


def _rule_message(spec: dict[str, Any], rule: str, activation: dict[str, Any]) -> str:
    expr = spec.get("messageExpression")
    if isinstance(expr, str) and expr:
        result, error = _evaluate(expr, activation)
        if error is None and isinstance(result, str) and result.strip():
            return str(result)
    message = spec.get("message")
    if isinstance(message, str) and message:
        return message
    return f"failed rule: {rule}"


# --- entry points ---------------------------------------------------------------------------------


def validate(
    schema: dict[str, Any],
    obj: dict[str, Any],
    old: dict[str, Any] | None = None,
    *,
    reject_unknown: bool = False,
) -> list[FieldError]:
    """All the ways ``obj`` violates ``schema``: OpenAPI v3 structural checks, list-type invariants and
    the CEL rules (transition rules against ``old`` on update).

    Call it on a defaulted object (``apply_defaults``) as the apiserver does. Unknown fields are
    ignored unless ``reject_unknown`` (the behaviour of ``fieldValidation=Strict``, kubectl's default).
    CEL rules are skipped, with the apiserver's note, when the structural pass found a type error, a
    missing required field, an unsupported enum value or a too long/too many violation: the apiserver
    does the same rather than evaluate rules on an object of the wrong shape.
    """
    validator = _Validator(reject_unknown)
    if not isinstance(schema, dict):
        return [FieldError(_ROOT, INTERNAL, f"{_ROOT}: Internal error: schema is not an object")]
    try:
        validator.walk(schema, obj, old, old is not None, (), root=True)
        blocking = any(e.reason in _BLOCKING for e in validator.errors.items)
        if validator.rules and blocking:
            validator.errors.items.append(
                FieldError(_ROOT, INVALID, f"{_ROOT}: Invalid value: null: {_BLOCKED}")
            )
        elif validator.rules:
            for rule_schema, value, old_value, has_old, path in validator.rules:
                if has_old and value == old_value:
                    # Validation ratcheting (kube-apiserver 1.30, CRDValidationRatcheting, on by
                    # default): the rules of a value an update leaves unchanged are not held against
                    # it, so a status write does not re-run the spec's rules.
                    continue
                _run_rules(validator.errors, rule_schema, value, old_value, has_old, path)
    except RecursionError:
        validator.errors.internal((), "object nesting too deep to validate")
    return validator.errors.items


def check_schema(schema: dict[str, Any]) -> list[str]:
    """Problems in the schema itself: rules that do not compile, patterns that are not regular
    expressions, list-map keys missing from items. Empty when the schema is usable."""
    problems: list[str] = []

    def visit(node: Any, where: str) -> None:
        if not isinstance(node, dict):
            return
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            try:
                _regex(pattern)
            except re.error as exc:
                problems.append(f"{where}: pattern {pattern!r} is not a valid regular expression: {exc}")
        rules = node.get("x-kubernetes-validations")
        if rules is not None:
            if not isinstance(rules, list):
                problems.append(f"{where}: x-kubernetes-validations must be a list")
            else:
                for i, spec in enumerate(rules):
                    rule = spec.get("rule") if isinstance(spec, dict) else None
                    if not isinstance(rule, str):
                        problems.append(f"{where}: x-kubernetes-validations[{i}] has no rule")
                        continue
                    compiled = _compile(rule)
                    if compiled.error is not None:
                        problems.append(f"{where}: x-kubernetes-validations[{i}] {rule!r}: {compiled.error}")
        if node.get("x-kubernetes-list-type") == "map":
            keys = node.get("x-kubernetes-list-map-keys")
            item_schema = _items(node) or {}
            if not isinstance(keys, list) or not keys:
                problems.append(f"{where}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys")
            else:
                for key in keys:
                    if key not in _props(item_schema):
                        problems.append(f"{where}: list-map key {key!r} is not a property of the items")
        for name, sub in _props(node).items():
            visit(sub, f"{where}.properties.{name}")
        items = _items(node)
        if items is not None:
            visit(items, f"{where}.items")
        extra = _additional(node)
        if isinstance(extra, dict):
            visit(extra, f"{where}.additionalProperties")
        for comb in ("allOf", "anyOf", "oneOf"):
            subs = node.get(comb)
            if isinstance(subs, list):
                for i, sub in enumerate(subs):
                    visit(sub, f"{where}.{comb}[{i}]")

    visit(schema, "openAPIV3Schema")
    return problems


def iter_rules(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every x-kubernetes-validations entry with the schema path it sits on (for docs and tests)."""

    def visit(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if not isinstance(node, dict):
            return
        rules = node.get("x-kubernetes-validations")
        if isinstance(rules, list):
            for spec in rules:
                if isinstance(spec, dict):
                    yield where, spec
        for name, sub in _props(node).items():
            yield from visit(sub, f"{where}.{name}" if where else name)
        items = _items(node)
        if items is not None:
            yield from visit(items, f"{where}[*]")
        extra = _additional(node)
        if isinstance(extra, dict):
            yield from visit(extra, f"{where}[*]")

    yield from visit(schema, "")


def format_errors(kind: str, name: str, errors: list[FieldError]) -> str:
    """The apiserver's 422 message: 'FederatedApp.federation.io "web" is invalid: [a, b]'."""
    bodies = [e.message for e in errors]
    joined = bodies[0] if len(bodies) == 1 else "[" + ", ".join(bodies) + "]"
    return f'{kind} "{name}" is invalid: {joined}'


__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INTERNAL",
    "INVALID",
    "NOT_SUPPORTED",
    "REQUIRED",
    "TOO_LONG",
    "TOO_MANY",
    "TYPE_INVALID",
    "FieldError",
    "apply_defaults",
    "check_schema",
    "format_errors",
    "iter_rules",
    "prune_unknown",
    "unknown_fields",
    "validate",
]
