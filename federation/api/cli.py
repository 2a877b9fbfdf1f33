"""`fedctl validate`: check FederatedApp / MemberCluster manifests offline, as the API server would.

Runs the same defaulting, strict unknown-field check, OpenAPI and CEL validation as the CRDs, the
checks the API server applies to every object (name, annotations size, request size; with ``--old``
the immutable fields), and the line codes against the DNS line catalogue, and prints the API
server's messages, so a manifest can be checked in CI without a cluster. YAML is read with the
API server's limits (:mod:`federation.api.safeyaml`), so an alias bomb is refused at once. Every
document must be one of ours or a built-in Kubernetes kind (those are counted as skipped); a wrong
``apiVersion``, a misspelled ``kind`` or a missing one is an error naming the document and the field.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from federation.api import constants as c
from federation.api.crdschema import federatedapp_schema, membercluster_schema
from federation.api.objectmeta import meta_errors
from federation.api.safeyaml import load_all
from federation.api.schema_validation import FieldError, apply_defaults, format_errors, validate

_SCHEMAS = {
    c.FEDERATEDAPP_KIND: (federatedapp_schema, f"{c.FEDERATEDAPP_KIND}.{c.GROUP}"),
    c.MEMBERCLUSTER_KIND: (membercluster_schema, f"{c.MEMBERCLUSTER_KIND}.{c.GROUP}"),
}


def _builtin(api_version: str) -> bool:
    """A Kubernetes built-in group (core ``v1``, ``apps/v1``, ``*.k8s.io``): not ours to check."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _envelope(doc: Any) -> str | None:
    """What is wrong with a document's apiVersion/kind, or None when it is one of ours."""
    if not isinstance(doc, dict):
        return f"Invalid value: a manifest must be an object, not {type(doc).__name__}"
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not api_version or not isinstance(api_version, str):
        return "apiVersion: Required value: every manifest names its apiVersion"
    if not kind or not isinstance(kind, str):
        return "kind: Required value: every manifest names its kind"
    group = api_version.rpartition("/")[0]
    if kind in _SCHEMAS and api_version != c.API_VERSION:
        return f'apiVersion: Unsupported value: "{api_version}": supported values: "{c.API_VERSION}"'
    if group == c.GROUP and api_version != c.API_VERSION:
        return f'apiVersion: Unsupported value: "{api_version}": supported values: "{c.API_VERSION}"'
    if api_version == c.API_VERSION and kind not in _SCHEMAS:
        close = difflib.get_close_matches(kind, list(_SCHEMAS), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        supported = ", ".join(f'"{k}"' for k in sorted(_SCHEMAS))
        return f'kind: Unsupported value: "{kind}"{hint}: supported values: {supported}'
    return None


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    found = doc.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    return (str(doc.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def line_errors(doc: dict[str, Any]) -> list[FieldError]:
    """``spec.dns.lines[i].line`` codes the DNS line catalogue does not know (the schema checks only
    their spelling; an unknown line would be ignored, answering its clients on ``default``)."""
    from federation.dns.lines import default_catalogue

    spec = doc.get("spec")
    dns = spec.get("dns") if isinstance(spec, dict) else None
    lines = dns.get("lines") if isinstance(dns, dict) else None
    if not isinstance(lines, list):
        return []
    catalogue = default_catalogue()
    errors = []
    for i, entry in enumerate(lines):
        code = entry.get("line") if isinstance(entry, dict) else None
        if isinstance(code, str) and code not in catalogue:
            field = f"spec.dns.lines[{i}].line"
            errors.append(
                FieldError(
                    field,
                    "FieldValueNotSupported",
                    f'{field}: Unsupported value: "{code}": not a line of the catalogue '
                    "(see fedctl dns lines)",
                )
            )
    return errors


def check_documents(
    docs: list[Any], source: str, old: dict[tuple[str, str, str], dict[str, Any]] | None = None
) -> tuple[int, int, list[str]]:
    """Validate ``docs``; returns (checked count, skipped built-in count, problem lines).

    ``old`` maps (kind, namespace, name) to the object as it is now: those documents are checked as
    updates of it (immutable fields, CEL transition rules)."""
    problems: list[str] = []
    checked = skipped = 0
    for i, doc in enumerate(docs):
        where = f"{source} (document {i + 1})"
        if doc is None:
            continue
        wrong = _envelope(doc)
        if wrong is not None:
            problems.append(f"{where}: {wrong}")
            continue
        if str(doc["kind"]) not in _SCHEMAS:
            if _builtin(str(doc["apiVersion"])):
                skipped += 1
            else:
                problems.append(
                    f'{where}: apiVersion: no matches for kind "{doc["kind"]}" '
                    f'in version "{doc["apiVersion"]}"'
                )
            continue
        checked += 1
        schema_fn, qualified = _SCHEMAS[str(doc["kind"])]
        schema = schema_fn()
        meta = doc.get("metadata")
        name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
        before = (old or {}).get(_key(doc))
        if before is None and old is not None and len(old) == 1:
            only = next(iter(old.values()))
            before = only if only.get("kind") == doc["kind"] else None
        errors = meta_errors(doc, before)
        if not isinstance(meta, dict) and meta is not None:
            problems.append(f"{where}: {format_errors(qualified, name, errors)}")
            continue
        old_obj = apply_defaults(schema, before) if before is not None else None
        errors += validate(schema, apply_defaults(schema, doc), old_obj, reject_unknown=True)
        if doc["kind"] == c.FEDERATEDAPP_KIND:
            errors += line_errors(doc)
        if errors:
            problems.append(f"{where}: {format_errors(qualified, name, errors)}")
    return checked, skipped, problems


def _read(path: Path) -> list[Any]:
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    return load_all(text)


@click.command("validate")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)
@click.option(
    "--old",
    "old_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The objects as they are now: FILES are checked as updates of them (immutable fields).",
)
def validate_cmd(files: tuple[Path, ...], old_file: Path | None) -> None:
    """Validate FederatedApp and MemberCluster manifests in FILES (use - for stdin)."""
    total = skipped = 0
    problems: list[str] = []
    old: dict[tuple[str, str, str], dict[str, Any]] | None = None
    if old_file is not None:
        try:
            old = {_key(d): d for d in _read(old_file) if isinstance(d, dict)}
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{old_file}: not valid YAML: {exc}") from exc
    for path in files:
        try:
            docs = _read(path)
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        checked, passed_over, found = check_documents(docs, str(path), old)
        total += checked
        skipped += passed_over
        problems.extend(found)
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise SystemExit(1)
    if not total:
        click.echo("no FederatedApp or MemberCluster found", err=True)
        raise SystemExit(1)
    note = f" ({skipped} built-in Kubernetes object(s) not checked)" if skipped else ""
    click.echo(f"{total} resource(s) valid{note}")
