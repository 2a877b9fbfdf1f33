"""The README is the front door: its generated CRD reference and its quick start must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from federation.api.crdgen import markdown_reference
from federation.cli import main
from federation.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_crd_reference_matches_the_generator() -> None:
    text = README.read_text()
    m = re.search(r"<!-- CRD-REFERENCE:BEGIN[^>]*-->\n(.*?)<!-- CRD-REFERENCE:END -->", text, re.S)
    assert m, "README lost its CRD reference markers"
    assert m.group(1).strip() == markdown_reference().strip(), (
        "README's CRD reference is stale: paste `python -m federation.api.crdgen --markdown` "
        "between the markers"
    )


def test_quick_start_is_two_commands_that_exist() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [ln.split("#", 1)[0].strip() for ln in quick.strip().splitlines()]
    assert len(lines) == 2
    assert "fedctl sandbox" in lines[0]
    assert lines[1] == "bash .ci/run"
    assert (README.parent / ".ci" / "run").exists()
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0, result.output


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    for name in Settings.model_fields:
        assert f"`{name}`" in text, f"setting {name} is missing from the README's configuration table"
