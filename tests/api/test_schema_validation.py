"""The general CRD validator on schemas other than ours: every keyword, the Kubernetes extensions, CEL
(incl. transition rules), the apiserver's message wording, and robustness against odd input/schemas."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.api import schema_validation as sv
from federation.api.crdschema import federatedapp_schema, membercluster_schema
from federation.api.schema_validation import (
    FieldError,
    apply_defaults,
    check_schema,
    format_errors,
    prune_unknown,
    unknown_fields,
    validate,
)


def obj_schema(props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, **extra}


def messages(schema: dict[str, Any], obj: Any, old: Any = None, **kw: Any) -> list[str]:
    return [e.message for e in validate(schema, obj, old, **kw)]


# --- OpenAPI keywords, in the apiserver's words -----------------------------------------------------


def test_numeric_bounds_messages() -> None:
    schema = obj_schema(
        {
            "spec": obj_schema(
                {
                    "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                    "ratio": {
                        "type": "number",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "maximum": 1,
                        "exclusiveMaximum": True,
                    },
                    "step": {"type": "integer", "multipleOf": 5},
                }
            )
        }
    )
    assert messages(schema, {"spec": {"replicas": -1}}) == [
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
    ]
    assert messages(schema, {"spec": {"replicas": 11}}) == [
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"
    ]
    assert messages(schema, {"spec": {"ratio": 0}}) == [
        "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"
    ]
    assert messages(schema, {"spec": {"ratio": 1.0}}) == [
        "spec.ratio: Invalid value: 1.0: spec.ratio in body should be less than 1"
    ]
    assert messages(schema, {"spec": {"step": 7}}) == [
        "spec.step: Invalid value: 7: spec.step in body should be a multiple of 5"
    ]
    assert validate(schema, {"spec": {"replicas": 10, "ratio": 0.5, "step": 15}}) == []


def test_enum_required_type_messages_and_reasons() -> None:
    schema = obj_schema(
        {
            "spec": obj_schema(
                {
                    "strategy": {"type": "string", "enum": ["Spread", "Weighted", "Failover"]},
                    "dns": obj_schema({}),
                    "count": {"type": "integer"},
                    "on": {"type": "boolean"},
                },
                required=["dns"],
            )
        }
    )
    errors = validate(schema, {"spec": {"strategy": "Random", "count": "3", "on": "yes"}})
    assert errors == [
        FieldError("spec.dns", "FieldValueRequired", "spec.dns: Required value"),
        FieldError(
            "spec.strategy",
            "FieldValueNotSupported",
            'spec.strategy: Unsupported value: "Random": supported values: "Spread", "Weighted", "Failover"',
        ),
        FieldError(
            "spec.count",
            "FieldValueTypeInvalid",
            'spec.count: Invalid value: "string": spec.count in body must be of type integer: "string"',
        ),
        FieldError(
            "spec.on",
            "FieldValueTypeInvalid",
            'spec.on: Invalid value: "string": spec.on in body must be of type boolean: "string"',
        ),
    ]
    # JSON numbers like 3.0 are integers for Kubernetes; booleans are not numbers.
    assert validate(schema, {"spec": {"dns": {}, "count": 3.0}}) == []
    as_bool = validate(schema, {"spec": {"dns": {}, "count": True}})
    assert [e.reason for e in as_bool] == ["FieldValueTypeInvalid"]


def test_string_length_pattern_and_formats() -> None:
    schema = obj_schema(
        {
            "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "blob": {"type": "string", "format": "byte"},
            "small": {"type": "integer", "format": "int32"},
            "id": {"type": "string", "format": "uuid"},
        }
    )
    errors = validate(
        schema,
        {
            "name": "Abcdefg",
            "when": "yesterday",
            "day": "2024-02-30",
            "blob": "not base64!",
            "small": 2**31,
            "id": "nope",
        },
    )
    by_field = {e.field: e for e in errors if e.field != "name"}
    assert [e.message for e in errors if e.field == "name"] == [
        "name: Too long: may not be more than 5 bytes",
        "name: Invalid value: \"Abcdefg\": name in body should match '^[a-z]+$'",
    ]
    assert by_field["when"].message == (
        'when: Invalid value: "yesterday": when in body must be of type date-time: "yesterday"'
    )
    assert set(by_field) == {"when", "day", "blob", "small", "id"}
    assert messages(schema, {"name": "a"}) == [
        'name: Invalid value: "a": name in body should be at least 2 chars long'
    ]
    ok = {
        "name": "abc",
        "when": "2024-05-01T10:00:00Z",
        "day": "2024-02-29",
        "blob": "aGVsbG8=",
        "small": 2**31 - 1,
        "id": "123e4567-e89b-12d3-a456-426614174000",
    }
    assert validate(schema, ok) == []


def test_items_and_properties_counts() -> None:
    schema = obj_schema(
        {
            "list": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            "map": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "minProperties": 1,
                "maxProperties": 2,
            },
        }
    )
    assert messages(schema, {"list": [], "map": {}}) == [
        "list: Invalid value: 0: list in body should have at least 1 items",
        "map: Invalid value: 0: map in body should have at least 1 properties",
    ]
    errors = validate(schema, {"list": ["a", "b", "c"], "map": {"a": "1", "b": "2", "c": 3}})
    assert [(e.field, e.reason) for e in errors] == [
        ("list", "FieldValueTooMany"),
        ("map", "FieldValueTooMany"),
        ("map[c]", "FieldValueTypeInvalid"),
    ]
    assert errors[0].message == "list: Too many: 3: must have at most 2 items"


def test_int_or_string_and_nullable() -> None:
    schema = obj_schema(
        {
            "port": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": "^[a-z]+$",
            },
            "note": {"type": "string", "nullable": True},
            "count": {"type": "integer", "default": 3},
        }
    )
    assert validate(schema, {"port": 8080, "note": None}) == []
    assert validate(schema, {"port": "http"}) == []
    assert [e.field for e in validate(schema, {"port": "HTTP"})] == ["port"]  # pattern applies to strings
    bad = validate(schema, {"port": 1.5})
    assert [e.reason for e in bad] == ["FieldValueTypeInvalid"]
    assert "must be of type integer or string" in bad[0].message
    assert [e.reason for e in validate(schema, {"count": None})] == ["FieldValueTypeInvalid"]
    # A null in a non-nullable field is dropped before defaulting (CRD defaulting docs).
    assert apply_defaults(schema, {"count": None, "note": None}) == {"count": 3, "note": None}


def test_additional_properties_false_and_unique_items() -> None:
    schema = obj_schema(
        {
            "labels": {"type": "object", "additionalProperties": False},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        }
    )
    errors = validate(schema, {"labels": {"x": 1}, "tags": ["a", "b", "a"]})
    assert [(e.field, e.reason) for e in errors] == [
        ("labels.x", "FieldValueForbidden"),
        ("tags[2]", "FieldValueDuplicate"),
    ]
    assert errors[1].message == 'tags[2]: Duplicate value: "a"'


def test_combinators() -> None:
    schema = obj_schema(
        {
            "v": {
                "type": "integer",
                "anyOf": [{"minimum": 10}, {"maximum": 0}],
                "not": {"enum": [42]},
                "allOf": [{"maximum": 100}],
            },
            "w": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 5}]},
        }
    )
    assert validate(schema, {"v": 20, "w": 9}) == []
    assert [e.field for e in validate(schema, {"v": 5})] == ["v"]
    assert [e.field for e in validate(schema, {"v": 42})] == ["v"]
    assert [e.field for e in validate(schema, {"v": 200})] == ["v"]
    assert [e.field for e in validate(schema, {"w": 3})] == ["w"]  # matches both branches


# --- list types -------------------------------------------------------------------------------------


def test_list_type_set_and_map_duplicates() -> None:
    item = obj_schema(
        {
            "name": {"type": "string"},
            "proto": {"type": "string", "default": "TCP"},
            "port": {"type": "integer"},
        },
        required=["name"],
    )
    schema = obj_schema(
        {
            "ports": {
                "type": "array",
                "items": item,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "proto"],
            },
            "zones": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        }
    )
    ok = {"ports": [{"name": "dns", "proto": "TCP"}, {"name": "dns", "proto": "UDP"}], "zones": ["a", "b"]}
    assert validate(schema, ok) == []
    bad = {"ports": [{"name": "dns", "proto": "TCP"}, {"name": "dns"}], "zones": ["a", "b", "a"]}
    errors = validate(schema, bad)
    assert [(e.field, e.reason) for e in errors] == [
        ("ports[1]", "FieldValueDuplicate"),
        ("zones[2]", "FieldValueDuplicate"),
    ]
    assert errors[0].message == (
        'ports[1]: Duplicate value: map[string]interface {}{"name":"dns", "proto":"TCP"}'
    )


# --- defaulting and pruning -------------------------------------------------------------------------


def test_defaults_nest_and_do_not_touch_the_input() -> None:
    schema = obj_schema(
        {
            "spec": obj_schema(
                {
                    "lb": obj_schema(
                        {
                            "type": {"type": "string", "default": "internet"},
                            "check": obj_schema({"interval": {"type": "integer", "default": 2}}, default={}),
                        },
                        default={},
                    ),
                    "regions": {
                        "type": "array",
                        "items": obj_schema(
                            {"name": {"type": "string"}, "weight": {"type": "integer", "default": 1}}
                        ),
                    },
                    "env": {
                        "type": "object",
                        "additionalProperties": obj_schema({"v": {"type": "string", "default": "x"}}),
                    },
                    "given": {"type": "integer", "default": 5},
                }
            )
        }
    )
    original = {
        "spec": {"regions": [{"name": "a"}, {"name": "b", "weight": 0}], "env": {"K": {}}, "given": 0}
    }
    before = copy.deepcopy(original)
    out = apply_defaults(schema, original)
    assert original == before
    assert out == {
        "spec": {
            "lb": {"type": "internet", "check": {"interval": 2}},
            "regions": [{"name": "a", "weight": 1}, {"name": "b", "weight": 0}],
            "env": {"K": {"v": "x"}},
            "given": 0,
        }
    }


def test_pruning_and_unknown_fields() -> None:
    schema = obj_schema(
        {
            "spec": obj_schema(
                {
                    "known": {"type": "string"},
                    "free": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {"inner": obj_schema({"a": {"type": "integer"}})},
                    },
                    "embedded": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": True,
                        "properties": {"spec": obj_schema({})},
                    },
                }
            ),
            "metadata": {"type": "object"},
        }
    )
    obj = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {
            "known": "k",
            "typo": 1,
            "free": {"anything": [1, 2], "inner": {"a": 1, "b": 2}},
            "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "junk": 1},
        },
    }
    assert unknown_fields(schema, obj) == ["spec.typo", "spec.free.inner.b", "spec.embedded.junk"]
    pruned = prune_unknown(schema, obj)
    assert pruned == {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {
            "known": "k",
            "free": {"anything": [1, 2], "inner": {"a": 1}},
            "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
        },
    }
    assert validate(schema, obj) == []  # unknown fields are pruned, not errors, by default
    strict = validate(schema, obj, reject_unknown=True)
    assert [(e.field, e.reason) for e in strict] == [
        ("spec.typo", "FieldValueForbidden"),
        ("spec.free.inner.b", "FieldValueForbidden"),
        ("spec.embedded.junk", "FieldValueForbidden"),
    ]
    assert strict[0].message == "spec.typo: Forbidden: field not declared in schema"


# --- CEL ---------------------------------------------------------------------------------------------


def cel(rules: list[dict[str, Any]], props: dict[str, Any] | None = None) -> dict[str, Any]:
    return obj_schema(
        {
            "spec": obj_schema(
                props
                or {
                    "min": {"type": "integer"},
                    "max": {"type": "integer"},
                    "name": {"type": "string"},
                    "items": {"type": "array", "items": {"type": "string"}},
                },
                **{"x-kubernetes-validations": rules},
            )
        }
    )


def test_cel_message_field_path_and_reasons() -> None:
    schema = cel(
        [
            {"rule": "self.min <= self.max", "message": "min must not exceed max", "fieldPath": ".min"},
            {
                "rule": "has(self.name)",
                "message": "name is required here",
                "fieldPath": ".name",
                "reason": "FieldValueRequired",
            },
            {
                "rule": "!has(self.items) || size(self.items) < 3",
                "message": "too many",
                "reason": "FieldValueForbidden",
            },
            {"rule": "self.max < 100"},
        ]
    )
    errors = validate(schema, {"spec": {"min": 300, "max": 200, "items": ["a", "b", "c"]}})
    assert [e.message for e in errors] == [
        'spec.min: Invalid value: "object": min must not exceed max',
        "spec.name: Required value: name is required here",
        "spec: Forbidden: too many",
        'spec: Invalid value: "object": failed rule: self.max < 100',
    ]
    assert [e.reason for e in errors] == [
        "FieldValueInvalid",
        "FieldValueRequired",
        "FieldValueForbidden",
        "FieldValueInvalid",
    ]
    assert validate(schema, {"spec": {"min": 1, "max": 2, "name": "x"}}) == []


def test_cel_message_expression_and_functions() -> None:
    schema = cel(
        [
            {
                "rule": "self.name.lowerAscii() == self.name",
                "messageExpression": "'name ' + self.name + ' is not lower'",
                "message": "fallback",
            },
            {
                "rule": "self.items.exists_one(i, i.startsWith('a')) && self.items.all(i, i.matches('^[a-z]+$'))",  # noqa: E501
                "message": "exactly one item must start with a",
            },
            {
                "rule": "self.name.split('-').join('') != 'ab' && self.items.indexOf('zz') == -1",
                "message": "split/join",
            },
        ]
    )
    assert messages(schema, {"spec": {"name": "Ab", "items": ["ab", "ac"]}}) == [
        'spec: Invalid value: "object": name Ab is not lower',
        'spec: Invalid value: "object": exactly one item must start with a',
    ]
    assert messages(schema, {"spec": {"name": "a-b", "items": ["ab", "zz"]}}) == [
        'spec: Invalid value: "object": split/join'
    ]
    assert validate(schema, {"spec": {"name": "abc", "items": ["ab", "c"]}}) == []


def test_cel_on_list_items_and_scalars_reports_indices() -> None:
    schema = obj_schema(
        {
            "regions": {
                "type": "array",
                "items": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "self.startsWith('cn-')", "message": "China only"}],
                },
            }
        }
    )
    assert messages(schema, {"regions": ["cn-a", "eu-b", "cn-c", "us-d"]}) == [
        'regions[1]: Invalid value: "string": China only',
        'regions[3]: Invalid value: "string": China only',
    ]


def test_transition_rules_compare_with_the_old_object() -> None:
    item = obj_schema(
        {
            "name": {"type": "string"},
            "size": {
                "type": "integer",
                "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "size may not shrink"}],
            },
        },
        required=["name"],
    )
    schema = obj_schema(
        {
            "spec": obj_schema(
                {
                    "region": {
                        "type": "string",
                        "x-kubernetes-validations": [
                            {"rule": "self == oldSelf", "message": "region is immutable"}
                        ],
                    },
                    "disks": {
                        "type": "array",
                        "items": item,
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                    },
                }
            )
        }
    )
    new = {
        "spec": {
            "region": "cn-beijing",
            "disks": [{"name": "b", "size": 5}, {"name": "a", "size": 1}, {"name": "c", "size": 1}],
        }
    }
    old = {"spec": {"region": "cn-hangzhou", "disks": [{"name": "a", "size": 10}, {"name": "b", "size": 5}]}}
    assert validate(schema, new) == []  # on create, transition rules do not run
    assert messages(schema, new, old) == [
        'spec.region: Invalid value: "string": region is immutable',
        # items correlate by map key, not position: "a" shrank from 10 to 1; "c" is new.
        'spec.disks[1].size: Invalid value: "integer": size may not shrink',
    ]


def test_rules_of_values_an_update_leaves_unchanged_are_ratcheted() -> None:
    schema = obj_schema(
        {
            "spec": obj_schema(
                {
                    "min": {"type": "integer"},
                    "max": {"type": "integer"},
                },
                **{"x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min > max"}]},
            ),
            "status": obj_schema({"phase": {"type": "string"}}),
        }
    )
    stored = {"spec": {"min": 5, "max": 1}, "status": {"phase": "A"}}  # valid before the rule existed
    assert messages(schema, stored) == ['spec: Invalid value: "object": min > max']
    # a status write leaves the spec as it was: its rule is not held against it (kube-apiserver 1.30)
    assert validate(schema, {**stored, "status": {"phase": "B"}}, stored) == []
    # a spec change is checked in full, the same answer however often the same value is seen
    for _ in range(3):
        assert messages(schema, {"spec": {"min": 6, "max": 1}}, stored) == [
            'spec: Invalid value: "object": min > max'
        ]
        assert validate(schema, {"spec": {"min": 1, "max": 6}}, stored) == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "zone": st.sampled_from(["a.com", "b.com"]),
                "hostname": st.sampled_from(["x.a.com", "a.com", "x.b.com"]),
            },
            optional={
                "note": st.text(max_size=3),
                "names": st.lists(st.sampled_from(["p", "q"]), max_size=3),
            },
        ),
        min_size=1,
        max_size=6,
    )
)
def test_rule_outcomes_follow_what_each_rule_reads(values: list[dict[str, Any]]) -> None:
    """Rule outcomes are remembered by what a rule reads of its value (fields it names, the whole
    value when it uses ``self`` bare): any sequence of values gets the answers each value deserves."""
    schema = obj_schema(
        {
            "dns": obj_schema(
                {
                    "zone": {"type": "string"},
                    "hostname": {"type": "string"},
                    "note": {"type": "string"},
                    "names": {"type": "array", "items": {"type": "string"}},
                },
                **{
                    "x-kubernetes-validations": [
                        {
                            "rule": "self.hostname == self.zone || self.hostname.endsWith('.' + self.zone)",
                            "message": "out of zone",
                        },
                        {"rule": "!has(self.names) || self.names.size() < 2", "message": "too many names"},
                        {"rule": "size(self) < 4", "message": "too many fields"},
                    ]
                },
            )
        }
    )
    for dns in values:
        expected = []
        if not (dns["hostname"] == dns["zone"] or dns["hostname"].endswith("." + dns["zone"])):
            expected.append('dns: Invalid value: "object": out of zone')
        if len(dns.get("names", [])) >= 2:
            expected.append('dns: Invalid value: "object": too many names')
        if len(dns) >= 4:
            expected.append('dns: Invalid value: "object": too many fields')
        assert messages(schema, {"dns": dns}) == expected


def test_membercluster_region_is_immutable_on_update() -> None:
    schema = membercluster_schema()
    mc: dict[str, Any] = {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "MemberCluster",
        "metadata": {"name": "m"},
        "spec": {"region": "cn-hangzhou", "kubeconfigSecretRef": {"name": "s", "namespace": "ns"}},
    }
    moved = copy.deepcopy(mc)
    moved["spec"]["region"] = "cn-beijing"
    assert validate(schema, apply_defaults(schema, moved), apply_defaults(schema, mc)) == [
        FieldError(
            "spec.region", "FieldValueInvalid", 'spec.region: Invalid value: "string": region is immutable'
        )
    ]
    assert validate(schema, apply_defaults(schema, moved)) == []


def test_type_errors_block_cel_with_a_note() -> None:
    schema = cel([{"rule": "self.min <= self.max", "message": "min must not exceed max"}])
    errors = validate(schema, {"spec": {"min": "five", "max": 1}})
    assert [e.reason for e in errors] == ["FieldValueTypeInvalid", "FieldValueInvalid"]
    assert errors[1].field == "<nil>"
    assert "some validation rules were not checked" in errors[1].message
    # an enum violation blocks too; a range violation does not
    enum_schema = cel(
        [{"rule": "self.min <= self.max", "message": "min must not exceed max"}],
        {
            "mode": {"type": "string", "enum": ["a"]},
            "min": {"type": "integer", "minimum": 0},
            "max": {"type": "integer"},
        },
    )
    assert [e.reason for e in validate(enum_schema, {"spec": {"mode": "b", "min": 2, "max": 1}})] == [
        "FieldValueNotSupported",
        "FieldValueInvalid",
    ]
    assert [e.message for e in validate(enum_schema, {"spec": {"mode": "a", "min": -1, "max": -2}})] == [
        "spec.min: Invalid value: -1: spec.min in body should be greater than or equal to 0",
        'spec: Invalid value: "object": min must not exceed max',
    ]


def test_cel_runtime_error_is_a_field_error() -> None:
    schema = cel([{"rule": "self.min < self.max", "message": "m"}])
    errors = validate(schema, {"spec": {"min": 1}})
    assert len(errors) == 1
    assert errors[0].field == "spec"
    assert "rule evaluation error" in errors[0].message
    assert "max" in errors[0].message


# --- broken schemas and odd input never raise ------------------------------------------------------


def test_broken_schema_is_reported_not_raised() -> None:
    schema = obj_schema(
        {
            "spec": obj_schema(
                {
                    "name": {"type": "string", "pattern": "([unclosed"},
                    "list": {
                        "type": "array",
                        "items": obj_schema({"a": {"type": "string"}}),
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["missing"],
                    },
                },
                **{
                    "x-kubernetes-validations": [
                        {"rule": "self.name ==", "message": "x"},
                        {"rule": "self.name"},
                        {"nope": True},
                    ]
                },
            )
        }
    )
    problems = check_schema(schema)
    assert len(problems) == 4
    assert any("has no rule" in p for p in problems)
    assert any("not a valid regular expression" in p for p in problems)
    assert any("compilation failed" in p for p in problems)
    assert any("list-map key 'missing'" in p for p in problems)
    errors = validate(schema, {"spec": {"name": "abc"}})
    assert {e.reason for e in errors} == {"InternalError"}
    assert len(errors) == 4  # the bad pattern, the bad rule, the non-bool rule, the entry without a rule
    assert validate({"type": "object"}, {"anything": [1, {"x": None}]}) == []


def test_non_dict_inputs() -> None:
    assert [e.reason for e in validate({"type": "object"}, [])] == ["FieldValueTypeInvalid"]  # type: ignore[arg-type]
    assert [e.reason for e in validate([], {})] == ["InternalError"]  # type: ignore[arg-type]
    assert apply_defaults({"type": "object"}, {}) == {}
    assert prune_unknown({"type": "object", "properties": {}}, {"x": 1}) == {}


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "spec",
                    "placement",
                    "regions",
                    "name",
                    "dns",
                    "ports",
                    "port",
                    "zone",
                    "hostname",
                    "replicas",
                    "weight",
                    "x",
                    "region",
                    "zones",
                    "template",
                    "containers",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(JSON, JSON)
def test_validate_never_raises_on_arbitrary_json(value: Any, old: Any) -> None:
    for schema in (federatedapp_schema(), membercluster_schema()):
        obj = {"spec": value} if not isinstance(value, dict) else value
        errors = validate(
            schema, apply_defaults(schema, obj), old if isinstance(old, dict) else None, reject_unknown=True
        )
        assert all(isinstance(e, FieldError) and e.message.startswith(e.field) for e in errors)
        prune_unknown(schema, obj)
        unknown_fields(schema, obj)


def test_compiled_rules_are_cached() -> None:
    schema = federatedapp_schema()
    app = {
        "metadata": {"name": "a"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
            "placement": {"regions": [{"name": "cn-hangzhou"}]},
            "ports": [{"name": "p", "port": 1}],
            "dns": {"zone": "example.com", "hostname": "example.com"},
        },
    }
    defaulted = apply_defaults(schema, app)
    assert validate(schema, defaulted) == []
    misses = sv._compile.cache_info().misses
    for _ in range(3):
        assert validate(schema, defaulted) == []
    assert sv._compile.cache_info().misses == misses


def test_format_errors_like_the_apiserver() -> None:
    one = [FieldError("spec.x", "FieldValueRequired", "spec.x: Required value")]
    assert format_errors("FederatedApp.federation.io", "web", one) == (
        'FederatedApp.federation.io "web" is invalid: spec.x: Required value'
    )
    two = [*one, FieldError("spec.y", "FieldValueRequired", "spec.y: Required value")]
    assert format_errors("FederatedApp.federation.io", "web", two) == (
        'FederatedApp.federation.io "web" is invalid: [spec.x: Required value, spec.y: Required value]'
    )
