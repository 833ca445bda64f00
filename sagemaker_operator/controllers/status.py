"""Writing conditions into a resource's status: one place, so every kind reports them alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import kopf

from sagemaker_operator.api.common import Condition, ConditionType, merge_conditions


def set_conditions(patch: kopf.Patch, status: Mapping[str, Any], meta: Mapping[str, Any], *updates: Condition) -> None:
    current = patch.status.get("conditions") or status.get("conditions") or []
    patch.status["conditions"] = merge_conditions(current, updates, meta.get("generation"))
    patch.status["observedGeneration"] = meta.get("generation")


def synced(ok: bool, reason: str = "", message: str = "") -> Condition:
    return Condition(
        type=ConditionType.SYNCED,
        status="True" if ok else "False",
        reason=reason or "Synced",
        message=message,
    )


def terminal(on: bool, reason: str = "", message: str = "") -> Condition:
    return Condition(type=ConditionType.TERMINAL, status="True" if on else "False", reason=reason, message=message)


def outcome(kind: str, state: Literal["True", "False", "Unknown"], reason: str, message: str = "") -> Condition:
    return Condition(type=kind, status=state, reason=reason, message=message)
