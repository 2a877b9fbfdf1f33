"""Small helpers shared by the query modules: input checks that name the field, and the clock default."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


def utcnow() -> datetime:
    return datetime.now(UTC)


def app_key(namespace: str, name: str) -> str:
    """How the store names an app: ``namespace/name``."""
    return f"{namespace}/{name}"


def one_of(field: str, value: str, enum: type[E]) -> E:
    """``value`` as a member of ``enum``, or a ValueError that names the field and the allowed values."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"{field}: {value!r} is not one of {allowed}") from None


def aware(field: str, value: datetime) -> datetime:
    """``value`` in UTC, or a ValueError naming the field when it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: naive datetime {value.isoformat()}: pass an aware datetime (UTC)")
    return value.astimezone(UTC)


def clip(value: str | None, limit: int) -> str | None:
    """Free text cut to the column's length (a long error message must not fail the insert)."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"
