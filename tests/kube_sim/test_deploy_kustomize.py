"""deploy/ renders with the real `kubectl kustomize`, and an API server accepts every object of each
overlay (server-side apply, dry run, against the simulator) without storing any of them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube_sim.conftest import KUBECTL, REPO, Kubectl

pytestmark = pytest.mark.kubectl

DEPLOY = REPO / "deploy"
OVERLAYS = ["production", "sandbox"]


async def _render(path: Path) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "kustomize", str(path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return [d for d in yaml.safe_load_all(out) if d]


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def test_base_crds_are_the_generated_ones() -> None:
    # kustomize reads nothing outside its directory, so the base carries a copy of crds/
    names = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert sorted(p.name for p in (DEPLOY / "base" / "crds").glob("*.yaml")) == names
    for name in names:
        copy, generated = (DEPLOY / "base" / "crds" / name).read_text(), (REPO / "crds" / name).read_text()
        assert copy == generated, f"deploy/base/crds/{name} is stale: run fedctl crds (it writes both)"


async def test_production_overlay_runs_two_hardened_replicas_on_alidns() -> None:
    docs = await _render(DEPLOY / "overlays" / "production")
    dep = _one(docs, "Deployment", "fedctl-controller")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    (ctr,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in ctr["env"]}
    assert env["FEDCTL_DNS_PROVIDER"]["value"] == "alidns"
    assert env["FEDCTL_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "fedctl-database"
    assert {"secretRef": {"name": "fedctl-alibaba"}} in ctr["envFrom"]
    assert not [d for d in docs if d["kind"] == "Secret"], "production secrets are created by hand"
    assert _one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    job = _one(docs, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["db", "upgrade"]
    dns = _one(docs, "Service", "fedctl-dns")
    assert {(p["protocol"], p["port"]) for p in dns["spec"]["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"} == {
        "federatedapps.federation.io",
        "memberclusters.federation.io",
    }


async def test_sandbox_overlay_is_one_replica_on_sqlite() -> None:
    docs = await _render(DEPLOY / "overlays" / "sandbox")
    dep = _one(docs, "Deployment", "fedctl-controller")
    assert dep["spec"]["replicas"] == 1
    secret = _one(docs, "Secret")
    ref = dep["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]  # the generated name is wired through
    assert not [d for d in docs if d["kind"] in ("Job", "PodDisruptionBudget")]


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_overlay_is_accepted_by_an_api_server(overlay: str, kubectl: Kubectl, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    docs = await _render(DEPLOY / "overlays" / overlay)
    rendered.write_text(yaml.safe_dump_all(docs))
    await kubectl("create", "namespace", "federation-system")
    r = await kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=fedctl-install", "-f", str(rendered)
    )
    lines = [line for line in r.out.splitlines() if line.strip()]
    assert len(lines) == len(docs), r.out
    assert all("serverside-applied (server dry run)" in line for line in lines), r.out
    # a dry run stores nothing
    r = await kubectl("get", "deployments,services,jobs,pdb,roles", "-n", "federation-system", "-o", "name")
    assert r.out.strip() == ""
    # and the dry run really validates: a broken Deployment in the same render is refused by name
    dep = _one(docs, "Deployment", "fedctl-controller")
    dep["spec"]["replicas"] = "two"
    rendered.write_text(yaml.safe_dump_all(docs))
    r = await kubectl("apply", "--server-side", "--dry-run=server", "-f", str(rendered), check=False)
    assert r.rc != 0
    assert "spec.replicas" in r.err, r.err


async def test_member_rbac_is_accepted_by_an_api_server(kubectl: Kubectl) -> None:
    # as on a real API server, a dry run of a namespaced object needs its namespace to exist
    await kubectl("create", "namespace", "federation-system")
    r = await kubectl("apply", "--server-side", "--dry-run=server", "-k", str(DEPLOY / "member"))
    assert "clusterrole.rbac.authorization.k8s.io/fedctl-member serverside-applied" in r.out, r.out


async def test_upgrade_applies_the_migration_job_alone_first(kubectl: Kubectl) -> None:
    # the README's upgrade: `kubectl apply -k <overlay> -l app.kubernetes.io/name=fedctl-migrate`
    # selects this release's Job and nothing else, so the schema moves before the rollout starts
    overlay = DEPLOY / "overlays" / "production"
    job = _one(await _render(overlay), "Job")["metadata"]["name"]
    await kubectl("create", "namespace", "federation-system")
    r = await kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-k",
        str(overlay),
        "-l",
        "app.kubernetes.io/name=fedctl-migrate",
    )
    lines = [line for line in r.out.splitlines() if line.strip()]
    assert lines == [f"job.batch/{job} serverside-applied (server dry run)"], r.out
