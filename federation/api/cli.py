"""`fedctl validate`: check FederatedApp / MemberCluster manifests offline, as the API server would.

Runs the same defaulting, strict unknown-field check, OpenAPI and CEL validation as the CRDs, and
prints the API server's messages, so a manifest can be checked in CI without a cluster.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml

from federation.api import constants as c
from federation.api.crdschema import federatedapp_schema, membercluster_schema
from federation.api.schema_validation import apply_defaults, format_errors, validate

_SCHEMAS = {
    c.FEDERATEDAPP_KIND: (federatedapp_schema, f"{c.FEDERATEDAPP_KIND}.{c.GROUP}"),
    c.MEMBERCLUSTER_KIND: (membercluster_schema, f"{c.MEMBERCLUSTER_KIND}.{c.GROUP}"),
}


def check_documents(docs: list[Any], source: str) -> tuple[int, list[str]]:
    """Validate the federation.io documents among ``docs``; returns (checked count, problem lines)."""
    problems: list[str] = []
    checked = 0
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        if doc.get("apiVersion") != c.API_VERSION or kind not in _SCHEMAS:
            continue
        checked += 1
        schema_fn, qualified = _SCHEMAS[str(kind)]
        schema = schema_fn()
        meta = doc.get("metadata")
        name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
        errors = validate(schema, apply_defaults(schema, doc), reject_unknown=True)
        if errors:
            problems.append(f"{source} (document {i + 1}): {format_errors(qualified, name, errors)}")
    return checked, problems


@click.command("validate")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)
def validate_cmd(files: tuple[Path, ...]) -> None:
    """Validate FederatedApp and MemberCluster manifests in FILES (use - for stdin)."""
    total = 0
    problems: list[str] = []
    for path in files:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        checked, found = check_documents(docs, str(path))
        total += checked
        problems.extend(found)
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{total} resource(s) valid")
