"""The simulator refuses what kube-apiserver refuses: bodies over 3 MiB (413), annotations over
256 KiB in total (422), YAML bodies with excessive aliasing (400, at once), and a changed immutable
field of a custom resource (422). Messages are the API server's."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from federation.api.crdschema import all_crds
from tests.api.corpus import EXAMPLES
from tests.kube_sim.conftest import Http

MEMBER: dict[str, Any] = next(
    d
    for d in yaml.safe_load_all((EXAMPLES / "membercluster-hangzhou.yaml").read_text())
    if d["kind"] == "MemberCluster"
)
MC_PATH = "/apis/federation.io/v1alpha1/memberclusters"


def _namespace(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "annotations": annotations}}


async def test_annotations_over_256k_are_invalid(http: Http) -> None:
    ok = _namespace("at-limit", {"a": "x" * (256 * 1024 - 1)})
    status, _body, _ = await http.req("POST", "/api/v1/namespaces", ok)
    assert status == 201
    over = _namespace("over-limit", {"a": "x" * (256 * 1024), "b": "y"})
    status, body, _ = await http.req("POST", "/api/v1/namespaces", over)
    assert status == 422, body
    assert body["message"] == (
        'Namespace "over-limit" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
    )
    assert body["details"]["causes"][0]["field"] == "metadata.annotations"
    grown = copy.deepcopy(ok)
    grown["metadata"]["annotations"]["b"] = "y"
    status, body, _ = await http.req("PUT", "/api/v1/namespaces/at-limit", grown)
    assert status == 422, body


async def test_request_body_over_3mib_is_413(http: Http) -> None:
    big = _namespace("big", {})
    big["metadata"]["labels"] = {"filler": "x"}
    big["spec"] = {"finalizers": ["x" * 1024] * (3 * 1024)}
    status, body, _ = await http.req("POST", "/api/v1/namespaces", big)
    assert status == 413, body
    assert body["reason"] == "RequestEntityTooLarge"
    assert body["message"] == "Request entity too large: limit is 3145728"


async def test_yaml_alias_bomb_body_is_refused(http: Http) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: bomb}\n" + "\n".join(lines) + "\n"
    status, body, _ = await http.req(
        "POST", "/api/v1/namespaces", text.encode(), content_type="application/yaml", wait_s=20
    )
    assert status == 400, body
    assert "excessive aliasing" in body["message"]


async def test_changed_immutable_field_of_a_custom_resource_is_invalid(http: Http) -> None:
    for crd in all_crds():
        status, body, _ = await http.req(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
        )
        assert status == 201, body
    status, created, _ = await http.req("POST", MC_PATH, MEMBER)
    assert status == 201, created
    moved = copy.deepcopy(created)
    moved["spec"]["region"] = "cn-beijing"
    moved["spec"]["zones"] = ["cn-beijing-a"]
    status, body, _ = await http.req("PUT", f"{MC_PATH}/hangzhou", moved)
    assert status == 422, body
    assert "spec.region: Invalid value" in body["message"]
    assert "region is immutable" in body["message"]
