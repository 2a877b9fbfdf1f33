"""Properties of the pure patch and selector logic (RFC 7386, RFC 6902, strategic merge, label
selectors)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from federation.sandbox.kube.patch import json_patch, merge_patch, strategic_merge_patch
from federation.sandbox.kube.selectors import parse_label_selector

keys = st.sampled_from(["a", "b", "c", "d"])
scalars = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans())
docs: st.SearchStrategy[Any] = st.recursive(
    scalars, lambda children: st.dictionaries(keys, children, max_size=4), max_leaves=12
)
objects = st.dictionaries(keys, docs, max_size=4)
patches = st.recursive(
    st.one_of(scalars, st.none()), lambda children: st.dictionaries(keys, children, max_size=4), max_leaves=12
)


@given(objects, st.dictionaries(keys, patches, max_size=4))
def test_merge_patch_is_idempotent(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(doc, patch)
    assert merge_patch(once, patch) == once


@given(objects, st.dictionaries(keys, patches, max_size=4))
def test_strategic_merge_equals_merge_patch_without_lists(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    # With no lists and no directives, strategic merge patch degenerates to RFC 7386.
    assert strategic_merge_patch(doc, patch, "ConfigMap") == merge_patch(doc, patch)


@given(objects, objects)
def test_json_patch_replace_root_fields(doc: dict[str, Any], target: dict[str, Any]) -> None:
    ops = [{"op": "remove", "path": f"/{k}"} for k in doc] + [
        {"op": "add", "path": f"/{k}", "value": v} for k, v in target.items()
    ]
    assert json_patch(doc, ops) == target


@given(
    st.dictionaries(keys, st.sampled_from(["x", "y", "z"]), max_size=4),
    st.dictionaries(keys, st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3),
)
def test_equality_selector_matches_exactly_superset_labels(
    labels: dict[str, str], sel: dict[str, str]
) -> None:
    m = parse_label_selector(",".join(f"{k}={v}" for k, v in sel.items()))
    assert m is not None
    assert m({"metadata": {"labels": labels}}) == all(labels.get(k) == v for k, v in sel.items())


def test_strategic_merge_by_key_with_directives() -> None:
    live = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "image": "a:1",
                            "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                        },
                        {"name": "b", "image": "b:1"},
                    ]
                }
            }
        }
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                    "containers": [
                        {
                            "name": "a",
                            "env": [{"name": "X", "$patch": "delete"}, {"name": "Z", "value": "3"}],
                        },
                        {"name": "c", "image": "c:1"},
                    ],
                }
            }
        }
    }
    out = strategic_merge_patch(live, patch, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in out] == ["b", "a", "c"]
    a = next(c for c in out if c["name"] == "a")
    assert a["image"] == "a:1"
    assert [e["name"] for e in a["env"]] == ["Y", "Z"]
    replaced = strategic_merge_patch(
        live, {"spec": {"template": {"spec": {"$patch": "replace", "x": 1}}}}, "Deployment"
    )
    assert replaced["spec"]["template"]["spec"] == {"x": 1}
    svc = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}
    out2 = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}, "Service")
    assert out2["spec"]["ports"][1] == {"port": 443, "name": "https", "targetPort": 8443}
    fin = strategic_merge_patch(
        {"metadata": {"finalizers": ["a"]}},
        {"metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}},
        "ConfigMap",
    )
    assert fin["metadata"]["finalizers"] == ["b"]
