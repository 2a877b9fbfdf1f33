"""Status conditions in the Kubernetes convention (metav1.Condition) and pure helpers to update them.

``set_condition`` keeps ``lastTransitionTime`` when the status did not change, so a reconcile that
re-asserts the same state does not make the object look freshly changed (Kubernetes API conventions:
"Typical status properties").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from federation.api import constants as c

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(BaseModel):
    """One observation of an aspect of the object's state."""

    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel, extra="forbid")

    type: str = Field(pattern=c.CONDITION_TYPE, max_length=316)
    status: ConditionStatus
    reason: str = Field(pattern=c.CONDITION_REASON, min_length=1, max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)

    @field_validator("last_transition_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # A naive timestamp from a sloppy writer is taken as UTC rather than the host's local zone.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now_seconds(now: datetime) -> datetime:
    # metav1.Time has second precision on the wire; truncate so round trips compare equal.
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.replace(microsecond=0)


def get_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """The condition of that type, or None."""
    for cond in conditions:
        if cond.type == type_:
            return cond
    return None


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    """Whether the condition of that type exists and is "True"."""
    cond = get_condition(conditions, type_)
    return cond is not None and cond.status == "True"


def set_condition(
    conditions: Sequence[Condition],
    type: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: datetime,
) -> list[Condition]:
    """Return a new list with the condition of ``type`` set; the input is not modified.

    ``lastTransitionTime`` moves to ``now`` only when the status changes (or the condition is new).
    ``status`` may be a bool for convenience. Order of existing conditions is kept; new ones append.
    """
    if isinstance(status, bool):
        status = "True" if status else "False"
    result: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.type != type:
            result.append(cond)
            continue
        found = True
        transition = cond.last_transition_time if cond.status == status else _now_seconds(now)
        result.append(
            Condition(
                type=type,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=transition,
                observed_generation=observed_generation,
            )
        )
    if not found:
        result.append(
            Condition(
                type=type,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=_now_seconds(now),
                observed_generation=observed_generation,
            )
        )
    return result


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    """Return a new list without the condition of that type."""
    return [cond for cond in conditions if cond.type != type_]


__all__ = [
    "Condition",
    "ConditionStatus",
    "get_condition",
    "is_true",
    "remove_condition",
    "set_condition",
]
