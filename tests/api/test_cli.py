"""`fedctl crds` and `fedctl validate`, through the real CLI entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from federation.api.crdschema import all_crds
from federation.cli import main
from tests.api.corpus import EXAMPLES, MANIFESTS


def test_crds_stdout_is_applyable_yaml() -> None:
    result = CliRunner().invoke(main, ["crds", "--stdout"])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.output) if d]
    assert docs == all_crds()


def test_crds_markdown() -> None:
    result = CliRunner().invoke(main, ["crds", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output.count("| Field | Type | Default | Rules | Description |") == 2
    assert "| `spec.dns.ttl` | `integer (int32)` | `60` | 1–86400 |" in result.output


def test_validate_accepts_the_examples() -> None:
    files = [str(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    result = CliRunner().invoke(main, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert "6 resource(s) valid" in result.output


def test_validate_reports_apiserver_messages_and_fails(tmp_path: Path) -> None:
    bad = MANIFESTS / "invalid" / "hostname-outside-zone.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "federation.cli", "validate", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert (
        'FederatedApp.federation.io "shop" is invalid: spec.dns.hostname: Invalid value: "object": '
        "hostname shop.example.org is not inside zone example.com"
    ) in proc.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    result = CliRunner().invoke(main, ["validate", str(broken)])
    assert result.exit_code == 1
    assert "not valid YAML" in result.output
