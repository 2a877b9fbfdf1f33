"""`fedctl validate` is as strict and as safe as the API server: YAML limits (alias bombs, size),
the object envelope (apiVersion, kind, metadata.name), annotation and request size limits, immutable
fields against ``--old``, and DNS line codes against the catalogue."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from federation.api.safeyaml import YamlLimitError, load_all
from federation.cli import main
from tests.api.corpus import EXAMPLES, MANIFESTS

MINIMAL = yaml.safe_load((MANIFESTS / "valid" / "minimal.yaml").read_text())
MEMBER = next(
    d
    for d in yaml.safe_load_all((EXAMPLES / "membercluster-hangzhou.yaml").read_text())
    if d["kind"] == "MemberCluster"
)


def _bomb(levels: int) -> str:
    """The classic billion-laughs document, ``9**levels`` strings from a few hundred bytes."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return (
        "apiVersion: federation.io/v1alpha1\nkind: FederatedApp\nmetadata: {name: bomb}\n"
        + "\n".join(lines)
        + "\n"
    )


def _validate(tmp_path: Path, *docs: Any, old: Any = None) -> tuple[int, str]:
    path = tmp_path / "in.yaml"
    path.write_text(yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=False))
    args = ["validate", str(path)]
    if old is not None:
        (tmp_path / "old.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
        args += ["--old", str(tmp_path / "old.yaml")]
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


def test_alias_bomb_is_refused_at_once() -> None:
    text = _bomb(9)  # 9**9 = 387 million strings once expanded
    assert len(text) < 1000
    proc = subprocess.run(
        [sys.executable, "-m", "federation.cli", "validate", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1
    assert "document contains excessive aliasing" in proc.stderr


def test_a_few_aliases_are_fine_and_an_anchor_inside_itself_is_not() -> None:
    text = """
base: &image {name: web, image: nginx:1.27}
containers: [*image, *image]
"""
    (doc,) = load_all(text)
    assert doc["containers"] == [{"name": "web", "image": "nginx:1.27"}] * 2
    with pytest.raises(YamlLimitError, match="contains itself"):
        load_all("a: &a [1, *a]\n")


def test_envelope_errors_name_document_and_field(tmp_path: Path) -> None:
    wrong_version = {**MINIMAL, "apiVersion": "federation.io/v1"}
    misspelled = {**MINIMAL, "kind": "FederatedAp"}
    nameless = {**MINIMAL, "metadata": {}}
    no_kind = {k: v for k, v in MINIMAL.items() if k != "kind"}
    other_group = {**MINIMAL, "apiVersion": "widgets.example.com/v1", "kind": "Widget"}
    rc, out = _validate(tmp_path, MINIMAL, wrong_version, misspelled, nameless, no_kind, other_group)
    assert rc == 1
    assert '(document 2): apiVersion: Unsupported value: "federation.io/v1"' in out
    assert '(document 3): kind: Unsupported value: "FederatedAp" (did you mean "FederatedApp"?)' in out
    assert "(document 4): " in out
    assert "metadata.name: Required value" in out
    assert "(document 5): kind: Required value" in out
    assert '(document 6): apiVersion: no matches for kind "Widget"' in out
    assert "(document 1)" not in out
    rc, out = _validate(tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    assert rc == 1
    assert "no FederatedApp or MemberCluster found" in out


def test_annotations_and_request_size_limits(tmp_path: Path) -> None:
    at_limit = copy.deepcopy(MINIMAL)
    at_limit["metadata"]["annotations"] = {"a": "x" * (256 * 1024 - 1)}  # key + value = 256 KiB exactly
    rc, out = _validate(tmp_path, at_limit)
    assert rc == 0, out
    over = copy.deepcopy(MINIMAL)
    over["metadata"]["annotations"] = {"a": "x" * (256 * 1024), "b": "y"}
    rc, out = _validate(tmp_path, over)
    assert rc == 1
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in out
    huge = copy.deepcopy(MINIMAL)
    huge["spec"]["template"]["spec"]["containers"][0]["args"] = ["x" * 1024] * (3 * 1024)
    rc, out = _validate(tmp_path, huge)
    assert rc == 1
    assert "Request entity too large: limit is 3145728" in out


def test_immutable_fields_against_old(tmp_path: Path) -> None:
    moved = copy.deepcopy(MEMBER)
    moved["spec"]["region"] = "cn-beijing"
    moved["spec"]["zones"] = ["cn-beijing-a"]
    rc, out = _validate(tmp_path, moved, old=MEMBER)
    assert rc == 1
    assert "spec.region: Invalid value" in out
    assert "region is immutable" in out
    renamed = copy.deepcopy(MINIMAL)
    renamed["metadata"]["name"] = "hello-two"
    rc, out = _validate(tmp_path, renamed, old=MINIMAL)
    assert rc == 1
    assert 'metadata.name: Invalid value: "hello-two": field is immutable' in out
    rc, out = _validate(tmp_path, MEMBER, old=MEMBER)
    assert rc == 0, out


def test_unknown_dns_line_is_rejected(tmp_path: Path) -> None:
    geo = yaml.safe_load((MANIFESTS / "valid" / "geo.yaml").read_text())
    geo["spec"]["dns"]["lines"][1]["line"] = "mars_colony"
    rc, out = _validate(tmp_path, geo)
    assert rc == 1
    assert 'spec.dns.lines[1].line: Unsupported value: "mars_colony"' in out
