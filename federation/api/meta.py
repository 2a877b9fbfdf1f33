"""The pieces every resource model shares: the pydantic base class and Kubernetes object metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of our own API types: snake_case in Python, camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel, extra="forbid")


class ObjectMeta(BaseModel):
    """metav1.ObjectMeta: the fields we read are typed; the rest (managedFields, ...) is kept as-is.

    Kubernetes owns this type and adds fields over time, so unknown ones are allowed, not rejected.
    """

    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel, extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None


class TemplateMeta(ApiModel):
    """The metadata a pod template may carry: labels and annotations only."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


def wire_dump(model: BaseModel) -> dict[str, Any]:
    """The model as the API server wants it: camelCase keys, no nulls, JSON-safe values (RFC 3339 times)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


__all__ = ["ApiModel", "Field", "ObjectMeta", "TemplateMeta", "wire_dump"]
