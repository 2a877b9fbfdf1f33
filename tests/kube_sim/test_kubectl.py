"""The real kubectl against a simulated cluster, with its default flags (client-side apply, strict
server-side field validation, Table printing)."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from federation.sandbox.kube import SimCluster
from tests.kube_sim.conftest import REPO, Kubectl

pytestmark = pytest.mark.kubectl

CRDS = REPO / "crds"
APP = """
apiVersion: federation.io/v1alpha1
kind: FederatedApp
metadata:
  name: web
  namespace: default
spec:
  replicas: 4
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
  placement:
    strategy: Spread
    regions:
    - {name: cn-hangzhou, weight: 1, minReplicas: 0}
    - {name: cn-beijing, weight: 1, minReplicas: 0}
  ports: [{name: http, port: 80, protocol: TCP}]
  dns: {zone: example.com, hostname: www.example.com, policy: Latency}
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
"""


async def test_apply_crds_and_custom_resource_twice_is_unchanged(kubectl: Kubectl) -> None:
    r = await kubectl("apply", "-f", str(CRDS))
    assert "customresourcedefinition.apiextensions.k8s.io/federatedapps.federation.io created" in r.out
    r = await kubectl("apply", "-f", "-", stdin=APP)
    assert "federatedapp.federation.io/web created" in r.out
    r = await kubectl("apply", "-f", "-", stdin=APP)
    assert "federatedapp.federation.io/web unchanged" in r.out
    r = await kubectl("apply", "-f", str(CRDS))
    assert r.out.count("unchanged") == 2

    # printer columns from the CRD, through the short name
    r = await kubectl("get", "fapp")
    header = r.out.splitlines()[0].split()
    assert header[:4] == ["NAME", "STRATEGY", "REPLICAS", "READY"]
    assert r.out.splitlines()[1].split()[:3] == ["web", "Spread", "4"]
    r = await kubectl("get", "fapp", "web", "-o", "wide")
    assert "HOSTNAME" in r.out.splitlines()[0]
    assert "www.example.com" in r.out

    r = await kubectl("get", "federatedapp", "web", "-o", "yaml")
    obj = yaml.safe_load(r.out)
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["generation"] == 1
    assert obj["spec"]["dns"]["ttl"] == 60  # defaulted from the CRD schema


async def test_invalid_custom_resource_is_rejected_naming_the_field(kubectl: Kubectl) -> None:
    await kubectl("apply", "-f", str(CRDS))
    bad = APP.replace("replicas: 4", "replicas: -1")
    r = await kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert r.rc != 0
    assert 'The FederatedApp "web" is invalid' in r.err
    assert "spec.replicas" in r.err
    unknown = APP.replace("  replicas: 4", "  replicas: 4\n  bogus: 1")
    r = await kubectl("apply", "-f", "-", stdin=unknown, check=False)
    assert r.rc != 0
    assert 'unknown field "spec.bogus"' in r.err


async def test_patch_merge_strategic_and_json(kubectl: Kubectl, cluster: SimCluster) -> None:
    await kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    # strategic merge (kubectl's default for built-in kinds): containers merge by name, env by name
    await kubectl(
        "patch",
        "deployment",
        "web",
        "-p",
        json.dumps(
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": "3"}]}]}
                    }
                }
            }
        ),
    )
    r = await kubectl("get", "deployment", "web", "-o", "json")
    c = json.loads(r.out)["spec"]["template"]["spec"]["containers"]
    assert len(c) == 1
    assert c[0]["image"] == "nginx:1.27"
    assert {e["name"]: e["value"] for e in c[0]["env"]} == {"A": "1", "B": "3"}
    # merge patch replaces the list wholesale
    await kubectl(
        "patch",
        "deployment",
        "web",
        "--type",
        "merge",
        "-p",
        json.dumps({"metadata": {"labels": {"tier": "front"}}}),
    )
    # JSON patch
    await kubectl(
        "patch",
        "deployment",
        "web",
        "--type",
        "json",
        "-p",
        json.dumps(
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.28"}]
        ),
    )
    r = await kubectl("get", "deployment", "web", "-o", "json")
    obj = json.loads(r.out)
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert obj["metadata"]["generation"] == 3  # label change did not bump it; two spec changes did
    # a strategic $patch: delete directive removes one env entry
    await kubectl(
        "patch",
        "deployment",
        "web",
        "-p",
        json.dumps(
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]}
                    }
                }
            }
        ),
    )
    r = await kubectl(
        "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].env[*].name}"
    )
    assert r.out.split() == ["B"]


async def test_scale_and_wait_for_available(kubectl: Kubectl) -> None:
    await kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    await kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=10s")
    r = await kubectl("scale", "deployment", "web", "--replicas=5")
    assert "scaled" in r.out
    await kubectl("rollout", "status", "deployment/web", "--timeout=10s")
    r = await kubectl("get", "deployment", "web")
    assert r.out.splitlines()[1].split()[1:4] == ["5/5", "5", "5"]


async def test_delete_waits_for_finalizer(kubectl: Kubectl) -> None:
    await kubectl("create", "configmap", "held", "--from-literal=a=b")
    await kubectl(
        "patch",
        "configmap",
        "held",
        "--type",
        "merge",
        "-p",
        json.dumps({"metadata": {"finalizers": ["example.com/hold"]}}),
    )
    await kubectl("delete", "configmap", "held", "--wait=false")
    r = await kubectl("get", "configmap", "held", "-o", "json")
    assert json.loads(r.out)["metadata"]["deletionTimestamp"]
    waiter = asyncio.create_task(kubectl("wait", "--for=delete", "configmap/held", "--timeout=10s"))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await kubectl(
        "patch",
        "configmap",
        "held",
        "--type",
        "json",
        "-p",
        json.dumps([{"op": "remove", "path": "/metadata/finalizers"}]),
    )
    await waiter
    r = await kubectl("get", "configmap", "held", check=False)
    assert r.rc != 0
    assert 'configmaps "held" not found' in r.err


async def test_server_side_apply(kubectl: Kubectl) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: '1', b: '2'}\n"
    r = await kubectl("apply", "--server-side", "-f", "-", stdin=cm)
    assert "serverside-applied" in r.out
    rv = (await kubectl("get", "configmap", "ssa", "-o", "jsonpath={.metadata.resourceVersion}")).out
    await kubectl("apply", "--server-side", "-f", "-", stdin=cm)
    r = await kubectl("get", "configmap", "ssa", "-o", "json", "--show-managed-fields")
    obj = json.loads(r.out)
    assert obj["metadata"]["resourceVersion"] == rv  # re-applying the same configuration is a no-op
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubectl"]
    assert obj["metadata"]["managedFields"][0]["fieldsV1"]["f:data"] == {"f:a": {}, "f:b": {}}
    # another manager setting a field kubectl owns to a different value conflicts, unless forced
    other = cm.replace("a: '1', b: '2'", "a: '9'")
    r = await kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", stdin=other, check=False)
    assert r.rc != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in r.err
    await kubectl(
        "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-", stdin=other
    )
    await kubectl("apply", "--server-side", "-f", "-", stdin=cm.replace("a: '1', b: '2'", "c: '3'"))
    r = await kubectl("get", "configmap", "ssa", "-o", "jsonpath={.data}")
    # .data.a now belongs to "other" (taken by force); kubectl stopped applying .data.b, so b is removed
    assert json.loads(r.out) == {"a": "9", "c": "3"}


async def test_get_watch_prints_table_rows(kubectl: Kubectl) -> None:
    await kubectl("create", "configmap", "one")
    watcher = asyncio.create_task(kubectl("get", "configmap", "-w", "--request-timeout=2s", check=False))
    await asyncio.sleep(0.8)
    await kubectl("create", "configmap", "two", "--from-literal=k=v")
    r = await watcher
    lines = [ln.split() for ln in r.out.splitlines()]
    assert lines[0] == ["NAME", "DATA", "AGE"]
    assert [ln[:2] for ln in lines[1:]] == [["one", "0"], ["two", "1"]]
