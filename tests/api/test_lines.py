"""The CRD's line-code rule and the DNS line catalogue agree: every line the DNS engine knows is
accepted by the schema, and every line our examples use is one it knows."""

from __future__ import annotations

import re

import yaml

from federation.api import constants as c
from federation.api.crdschema import federatedapp_schema
from federation.api.schema_validation import apply_defaults, validate
from federation.dns.lines import default_catalogue
from tests.api.corpus import EXAMPLES, MANIFESTS


def test_every_catalogue_line_is_accepted_by_the_schema() -> None:
    catalogue = default_catalogue()
    assert len(catalogue) > 50
    schema = federatedapp_schema()
    base = yaml.safe_load((MANIFESTS / "valid" / "minimal.yaml").read_text())
    codes = list(catalogue.codes)
    for code in codes:
        assert re.match(c.LINE_CODE, code), code
        assert len(code) <= c.LINE_CODE_MAX, code
    for start in range(0, len(codes), 64):  # dns.lines holds at most 64 entries
        chunk = codes[start : start + 64]
        base["spec"]["dns"]["lines"] = [{"line": code, "regions": ["cn-hangzhou"]} for code in chunk]
        assert validate(schema, apply_defaults(schema, base)) == [], chunk


def test_lines_used_in_examples_and_corpus_exist() -> None:
    catalogue = default_catalogue()
    files = [*EXAMPLES.glob("*.yaml"), *(MANIFESTS / "valid").glob("*.yaml")]
    used = set()
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "FederatedApp":
                used |= {line["line"] for line in doc["spec"]["dns"].get("lines", [])}
    assert used
    assert sorted(u for u in used if u not in catalogue) == []
