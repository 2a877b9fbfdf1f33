"""The resource types a simulated cluster serves: built-in kinds plus those of registered CRDs.

A :class:`ResourceType` carries what discovery publishes (verbs, short names, categories,
subresources) and what the CRD declared (schema, printer columns, scale paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]


@dataclass
class ScaleSpec:
    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None


@dataclass
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    status_subresource: bool = False
    scale: ScaleSpec | None = None
    # CRD-only facts
    crd_name: str | None = None
    schema: dict[str, Any] | None = None
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    storage_version: str | None = None

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def key(self) -> str:
        """Storage key shared by every version of a resource (objects are stored once)."""
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def discovery(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {
                "name": self.plural,
                "singularName": self.singular,
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(ALL_VERBS),
            }
        ]
        if self.short_names:
            out[0]["shortNames"] = list(self.short_names)
        if self.categories:
            out[0]["categories"] = list(self.categories)
        if self.status_subresource:
            out.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": list(SUB_VERBS),
                }
            )
        if self.scale is not None:
            out.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": list(SUB_VERBS),
                }
            )
        return out


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool,
    short: list[str] | None = None,
    cats: list[str] | None = None,
    status: bool = False,
    scale: bool = False,
) -> ResourceType:
    return ResourceType(
        group,
        version,
        kind,
        plural,
        namespaced,
        short or [],
        cats or [],
        status,
        ScaleSpec(label_selector_path=".status.selector") if scale else None,
    )


def builtin_types() -> list[ResourceType]:
    return [
        _rt("", "v1", "Namespace", "namespaces", False, ["ns"], status=True),
        _rt("", "v1", "Node", "nodes", False, ["no"], status=True),
        _rt("", "v1", "Service", "services", True, ["svc"], ["all"], status=True),
        _rt("", "v1", "Endpoints", "endpoints", True, ["ep"]),
        _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
        _rt("", "v1", "Secret", "secrets", True),
        _rt("", "v1", "ConfigMap", "configmaps", True, ["cm"]),
        _rt("", "v1", "Event", "events", True, ["ev"]),
        _rt("", "v1", "Pod", "pods", True, ["po"], ["all"], status=True),
        _rt("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"]),
        _rt("apps", "v1", "Deployment", "deployments", True, ["deploy"], ["all"], status=True, scale=True),
        _rt("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], ["all"], status=True, scale=True),
        _rt("coordination.k8s.io", "v1", "Lease", "leases", True),
        # what an installation of the controller itself applies (deploy/ rendered by kustomize)
        _rt("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
        _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
        _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
        _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
        _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"], status=True),
        _rt("batch", "v1", "Job", "jobs", True, [], ["all"], status=True),
        _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
        _rt(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            False,
            ["crd", "crds"],
            ["api-extensions"],
            status=True,
        ),
    ]


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version of a CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    versions = spec.get("versions") or []
    storage = next((v.get("name") for v in versions if v.get("storage")), None)
    out = []
    for v in versions:
        if not v.get("served", True):
            continue
        subs = v.get("subresources") or {}
        scale = None
        if "scale" in subs:
            s = subs["scale"] or {}
            scale = ScaleSpec(
                s.get("specReplicasPath", ".spec.replicas"),
                s.get("statusReplicasPath", ".status.replicas"),
                s.get("labelSelectorPath"),
            )
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=group,
                version=v.get("name", "v1"),
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                namespaced=namespaced,
                short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                status_subresource="status" in subs,
                scale=scale,
                crd_name=(crd.get("metadata") or {}).get("name"),
                schema=schema,
                printer_columns=list(v.get("additionalPrinterColumns") or []),
                storage_version=storage,
            )
        )
    return out
