"""The CRDs, examples and corpus through the real kubectl and an API server (the simulator, which runs
this package's schema validation for every CRD it serves)."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Kubectl
from tests.api.corpus import EXAMPLES, MANIFESTS, REPO, corpus

pytestmark = pytest.mark.kubectl


async def _install(kubectl: Kubectl, *namespaces: str) -> None:
    r = await kubectl("apply", "-f", str(REPO / "crds"))
    assert r.out.count("created") == 2
    for ns in namespaces:
        await kubectl("create", "namespace", ns)


async def test_examples_apply_and_print_useful_columns(kubectl: Kubectl) -> None:
    await _install(kubectl, "federation-system", "shop")
    r = await kubectl("apply", "-f", str(EXAMPLES))
    assert r.out.count("federatedapp.federation.io/") == 3
    assert r.out.count("membercluster.federation.io/") == 3
    r = await kubectl("get", "mc")
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "REGION", "READY", "REACHABLE", "NODES", "VERSION", "AGE"]
    assert sorted(line.split()[:2] for line in lines[1:]) == [
        ["beijing", "cn-beijing"],
        ["frankfurt", "eu-central-1"],
        ["hangzhou", "cn-hangzhou"],
    ]
    r = await kubectl("get", "fapp", "-A")
    assert r.out.splitlines()[0].split() == [
        "NAMESPACE",
        "NAME",
        "STRATEGY",
        "REPLICAS",
        "READY",
        "REGIONS",
        "DNS",
        "AGE",
    ]
    r = await kubectl("get", "federation", "-A", "-o", "name")  # the category finds both kinds
    assert len(r.out.split()) == 6
    r = await kubectl("get", "fapp", "web", "-o", "jsonpath={.spec.dns.ttl} {.spec.loadBalancer.spec}")
    assert r.out == "60 slb.s1.small"


async def test_valid_corpus_is_accepted(kubectl: Kubectl) -> None:
    await _install(kubectl, "payments", "media", "finance")
    r = await kubectl("apply", "-f", str(MANIFESTS / "valid"))
    assert r.out.count(" created") == len(corpus("valid")), r.out


async def test_invalid_corpus_is_rejected_field_by_field(kubectl: Kubectl) -> None:
    await _install(kubectl)
    r = await kubectl("apply", "-f", str(MANIFESTS / "invalid"), check=False)
    assert r.rc != 0
    assert "created" not in r.out, r.out
    errors: dict[str, str] = {}
    for line in r.err.splitlines():
        m = re.search(r'error when creating "[^"]*/([^/"]+)\.yaml": (.*)', line)
        if m:
            errors[m.group(1)] = m.group(2)
    invalid = corpus("invalid")
    assert sorted(errors) == sorted(m.id for m in invalid)
    for manifest in invalid:
        assert manifest.expect is not None
        assert re.search(rf"(^|[\s\[\"]){re.escape(manifest.expect)}[:\"]", errors[manifest.id]), (
            f"{manifest.id}: {errors[manifest.id]}"
        )


async def test_member_region_cannot_change(kubectl: Kubectl) -> None:
    await _install(kubectl)
    mc = (MANIFESTS / "valid" / "membercluster-minimal.yaml").read_text()
    await kubectl("apply", "-f", "-", stdin=mc)
    r = await kubectl("apply", "-f", "-", stdin=mc.replace("eu-central-1", "eu-west-1"), check=False)
    assert r.rc != 0
    assert 'spec.region: Invalid value: "string": region is immutable' in r.err


async def test_kubectl_scale_changes_a_federated_apps_replicas(kubectl: Kubectl) -> None:
    await _install(kubectl, "federation-system")
    await kubectl("apply", "-f", str(EXAMPLES / "federatedapp-web.yaml"))
    r = await kubectl("scale", "fapp", "web", "--replicas=20")
    assert "scaled" in r.out
    r = await kubectl("get", "fapp", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}")
    assert r.out == "20 2"  # a spec change, as an edit would be
    r = await kubectl(
        "get", "--raw", "/apis/federation.io/v1alpha1/namespaces/default/federatedapps/web/scale"
    )
    assert '"replicas":20' in r.out.replace(" ", "")
