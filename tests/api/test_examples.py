"""deploy/examples are valid, documented, and carry no real secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.api.schema_validation import apply_defaults, validate
from tests.api.corpus import EXAMPLES, MODELS, SCHEMAS

FILES = sorted(EXAMPLES.glob("*.yaml"))


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_expected_examples_exist() -> None:
    names = {p.name for p in FILES}
    assert {"federatedapp-web.yaml", "federatedapp-failover.yaml", "federatedapp-weighted.yaml"} <= names
    assert len([n for n in names if n.startswith("membercluster-")]) >= 3


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_example_is_valid_and_documented(path: Path) -> None:
    assert path.read_text().startswith("#"), "every example opens with a comment saying what it shows"
    resources = [d for d in docs(path) if d["kind"] in SCHEMAS]
    assert resources
    for doc in resources:
        schema = SCHEMAS[doc["kind"]]
        assert validate(schema, apply_defaults(schema, doc), reject_unknown=True) == []
        MODELS[doc["kind"]].model_validate(doc)


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.name.startswith("membercluster-")], ids=lambda p: p.name
)
def test_membercluster_examples_reference_their_secret_template(path: Path) -> None:
    by_kind = {d["kind"]: d for d in docs(path)}
    secret, member = by_kind["Secret"], by_kind["MemberCluster"]
    ref = member["spec"]["kubeconfigSecretRef"]
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == (ref["name"], ref["namespace"])
    kubeconfig = yaml.safe_load(secret["stringData"][ref.get("key", "kubeconfig")])
    assert kubeconfig["kind"] == "Config"
    # Placeholders only: nothing that could be a live credential.
    assert kubeconfig["users"][0]["user"]["token"].startswith("REPLACE-")
    assert "REPLACE-" in kubeconfig["clusters"][0]["cluster"]["server"]


def test_web_example_is_the_documented_three_region_latency_app() -> None:
    app = MODELS["FederatedApp"].model_validate(docs(EXAMPLES / "federatedapp-web.yaml")[0])
    spec = app.spec  # type: ignore[attr-defined]
    assert spec.placement.region_names() == ["cn-hangzhou", "cn-beijing", "eu-central-1"]
    assert (spec.dns.policy, spec.dns.zone) == ("Latency", "example.com")
