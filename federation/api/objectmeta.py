"""The checks kube-apiserver applies to every object's envelope, whatever its kind.

apimachinery's ``ValidateObjectMeta`` / ``ValidateObjectMetaUpdate`` and the request handler's body
limit: ``metadata.name`` required (or ``generateName``) and a DNS-1123 subdomain, annotations at most
256 KiB in total (keys plus values), a request body at most 3 MiB, and on update ``metadata.name`` and
``metadata.namespace`` immutable. ``fedctl validate`` and the Kubernetes simulator both call these,
with the API server's messages.
"""

from __future__ import annotations

import re
from typing import Any

from federation.api import constants as c
from federation.api.safeyaml import REQUEST_BODY_LIMIT
from federation.api.schema_validation import INVALID, REQUIRED, TOO_LONG, FieldError

ANNOTATIONS_LIMIT = 256 * 1024  # apimachinery TotalAnnotationSizeLimitB
_SUBDOMAIN = re.compile(c.DNS1123_SUBDOMAIN)
_SUBDOMAIN_RX = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def too_large_message(limit: int = REQUEST_BODY_LIMIT) -> str:
    """kube-apiserver's 413 message (``errors.NewRequestEntityTooLargeError``)."""
    return f"Request entity too large: limit is {limit}"


def annotation_errors(meta: dict[str, Any]) -> list[FieldError]:
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        return []
    total = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if total <= ANNOTATIONS_LIMIT:
        return []
    return [
        FieldError(
            "metadata.annotations",
            TOO_LONG,
            f"metadata.annotations: Too long: must have at most {ANNOTATIONS_LIMIT} bytes",
        )
    ]


def name_errors(meta: dict[str, Any]) -> list[FieldError]:
    name = meta.get("name")
    if not name:
        if meta.get("generateName"):
            return []
        return [
            FieldError(
                "metadata.name",
                REQUIRED,
                "metadata.name: Required value: name or generateName is required",
            )
        ]
    if isinstance(name, str) and _SUBDOMAIN.match(name) and len(name) <= c.DNS1123_SUBDOMAIN_MAX:
        return []
    return [
        FieldError(
            "metadata.name",
            INVALID,
            f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
            "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
            f"(e.g. 'example.com', regex used for validation is '{_SUBDOMAIN_RX}')",
        )
    ]


def meta_errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[FieldError]:
    """Everything wrong with ``obj``'s metadata (and, given ``old``, with how it changed)."""
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return [
            FieldError("metadata", INVALID, "metadata: Invalid value: metadata must be an object"),
        ]
    errors = [*name_errors(meta), *annotation_errors(meta)]
    if old is not None:
        found = old.get("metadata")
        old_meta: dict[str, Any] = found if isinstance(found, dict) else {}
        for key in ("name", "namespace"):
            before, after = old_meta.get(key), meta.get(key)
            if before and after and before != after:
                errors.append(
                    FieldError(
                        f"metadata.{key}",
                        INVALID,
                        f'metadata.{key}: Invalid value: "{after}": field is immutable',
                    )
                )
    return errors


__all__ = ["ANNOTATIONS_LIMIT", "annotation_errors", "meta_errors", "name_errors", "too_large_message"]
