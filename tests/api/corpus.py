"""Corpus loading for the API tests: manifests with their expected failure in a header."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from federation.api.crdschema import federatedapp_schema, membercluster_schema
from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).resolve().parent / "manifests"
EXAMPLES = REPO / "deploy" / "examples"

SCHEMAS: dict[str, dict[str, Any]] = {
    "FederatedApp": federatedapp_schema(),
    "MemberCluster": membercluster_schema(),
}
MODELS: dict[str, type[BaseModel]] = {"FederatedApp": FederatedApp, "MemberCluster": MemberCluster}

_HEADER = re.compile(r"^#\s*(\w+):\s*(.*?)\s*$")


@dataclass(frozen=True)
class Manifest:
    path: Path
    obj: dict[str, Any]
    expect: str | None  # the field the error must name (invalid manifests)
    # "schema": OpenAPI alone rejects it; "cel": only a CEL/list-type rule; "strict": an unknown field
    layer: str | None
    reason: str | None
    mistake: str | None

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def id(self) -> str:
        return self.path.stem


def load_manifest(path: Path) -> Manifest:
    text = path.read_text()
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        m = _HEADER.match(line)
        if m:
            headers[m.group(1)] = m.group(2)
    obj = yaml.safe_load(text)
    assert isinstance(obj, dict), f"{path}: not a single YAML mapping"
    return Manifest(
        path, obj, headers.get("expect"), headers.get("layer"), headers.get("reason"), headers.get("mistake")
    )


def corpus(kind: str) -> list[Manifest]:
    return [load_manifest(p) for p in sorted((MANIFESTS / kind).glob("*.yaml"))]


def path_tokens(path: str) -> list[str]:
    """'spec.ports[0].name' and ('spec', 'ports', 0, 'name') both become ['spec', 'ports', '0', 'name']."""
    return [t for t in re.split(r"[.\[\]]+", path) if t]
