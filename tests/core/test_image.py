"""The container image (deploy/Dockerfile) and the manifests that run it agree: the user the image runs
as is the one the Deployment and the migration Job require, both run it hardened on a read-only root
with /tmp from an emptyDir, and the arguments they pass are commands fedctl accepts. The build itself
is checked by deploy/build-image.sh --verify (in .ci/run)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fedctl_cli import fedctl

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
WORKLOADS = [REPO / "deploy" / "base" / "deployment.yaml", REPO / "deploy" / "base" / "migrate-job.yaml"]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    out = []
    for line in lines:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    ins = _instructions()
    last_from = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last_from:]


def _pod_spec(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def test_image_runs_as_the_non_root_user_the_manifests_require() -> None:
    users = [rest for word, rest in _final_stage() if word == "USER"]
    assert users, "the runtime stage sets no USER: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "USER must be numeric: runAsNonRoot cannot check a user name"
    assert int(uid) != 0, "USER is root"
    for path in WORKLOADS:
        ctx = _pod_spec(path)["securityContext"]
        assert ctx["runAsNonRoot"] is True, path.name
        assert ctx["runAsUser"] == int(uid), f"{path.name} runs as {ctx['runAsUser']}, the image as {uid}"
        if gid:
            assert ctx["runAsGroup"] == int(gid), path.name


def test_image_takes_its_base_as_a_build_arg_and_starts_fedctl() -> None:
    ins = _instructions()
    first_from = next(i for i, (word, _) in enumerate(ins) if word == "FROM")
    args = [rest for word, rest in ins[:first_from] if word == "ARG"]
    assert any(re.fullmatch(r"BASE_IMAGE=(docker.io/library/)?python:3.11-slim-bookworm", a) for a in args), (
        args
    )
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    assert all(f.split()[0] == "${BASE_IMAGE}" for f in froms), froms
    assert ("ENTRYPOINT", '["fedctl"]') in _final_stage()
    # the runtime stage holds no build tools: it copies the built virtualenv from the build stage
    assert any(word == "COPY" and rest.startswith("--from=build") for word, rest in _final_stage())
    assert not any(word == "RUN" and "pip install" in rest for word, rest in _final_stage())


def test_migrations_are_where_the_image_points_the_store() -> None:
    ins = _instructions()
    env = " ".join(rest for word, rest in ins if word == "ENV")
    found = re.search(r"FEDCTL_MIGRATIONS_DIR=(\S+)", env)
    assert found, "FEDCTL_MIGRATIONS_DIR is not set: a non-editable install ships no migrations"
    assert ("COPY", f"migrations {found.group(1)}") in ins


@pytest.mark.parametrize("path", WORKLOADS, ids=lambda p: p.name)
def test_workloads_run_the_image_hardened_on_a_read_only_root(path: Path) -> None:
    pod = _pod_spec(path)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for ctr in pod["containers"]:
        sc = ctr["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert not sc["capabilities"].get("add")
        tmp = [m for m in ctr["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert tmp, f"{ctr['name']}: /tmp is not mounted (the image's HOME and scratch space)"
        assert "emptyDir" in volumes[tmp[0]["name"]]


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    # .dockerignore excludes everything but what is listed with '!': each COPY source must be listed
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()]
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for word, rest in _instructions():
        if word != "COPY" or rest.startswith("--from"):
            continue
        *sources, _dest = rest.split()
        for src in sources:
            assert (REPO / src).exists(), src
            assert any(fnmatch.fnmatch(src, a) for a in allowed), f"{src} is excluded by .dockerignore"


@pytest.mark.parametrize("path", WORKLOADS, ids=lambda p: p.name)
async def test_workload_arguments_are_commands_fedctl_accepts(path: Path) -> None:
    for ctr in _pod_spec(path)["containers"]:
        code, out, err = await fedctl(*ctr["args"], "--help")
        assert code == 0, f"{path.name}: fedctl {' '.join(ctr['args'])}: {err}"
        assert "Usage: " in out


def test_a_rollout_keeps_a_ready_replica() -> None:
    # upgrades roll one replica at a time, the new one ready first; the PDB covers node drains
    dep = yaml.safe_load(WORKLOADS[0].read_text())
    assert dep["spec"]["replicas"] >= 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = yaml.safe_load((REPO / "deploy" / "base" / "pdb.yaml").read_text())
    assert pdb["spec"]["minAvailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"].items()
        <= dep["spec"]["template"]["metadata"]["labels"].items()
    )


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def test_the_cpu_limit_sizes_the_dns_workers(tmp_path: Path) -> None:
    """dns_workers is auto in the Deployment: it counts the CPUs of the pod's limit (the cgroup quota
    the kubelet writes from it), not the node's, so the limit must be there and give a worker."""
    from federation.cpus import read_cpu_quota, usable_cpus
    from federation.dns.runtime import auto_workers

    (ctr,) = _pod_spec(WORKLOADS[0])["containers"]
    assert "FEDCTL_DNS_WORKERS" not in {e["name"] for e in ctr["env"]}  # auto, the default
    limit = ctr["resources"]["limits"]["cpu"]
    period = 100_000  # the kubelet's CFS period; the quota is the limit's share of it
    (tmp_path / "cpu.max").write_text(f"{_millicores(str(limit)) * period // 1000} {period}\n")
    workers, why = auto_workers(*usable_cpus(64, read_cpu_quota(tmp_path)))  # a big node
    assert workers == 1, why
    assert why == "2 CPUs: cgroup quota 200000/100000"
