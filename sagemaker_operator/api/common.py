"""What every custom resource of ours shares: the kind descriptor, conditions and status helpers."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sagemaker_operator import GROUP

# ACK's annotation: users of AWS controllers already know it.
DELETION_POLICY_ANNOTATION = "services.k8s.aws/deletion-policy"
FINALIZER = f"{GROUP}/finalizer"
CATEGORY = "sagemaker"

# Fields the operator adds to every spec on top of the SageMaker request members.
OPERATOR_SPEC_FIELDS: dict[str, dict[str, Any]] = {
    "region": {
        "type": "string",
        "minLength": 1,
        "pattern": "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$",
        "description": "AWS region of the SageMaker job; defaults to the operator's --region.",
    },
    "sageMakerEndpoint": {
        "type": "string",
        "pattern": "^(https|http)://.*$",
        "description": "A custom SageMaker endpoint URL; defaults to the operator's --sagemaker-endpoint.",
    },
}


class ConditionType:
    SYNCED = "Synced"  # the last exchange with AWS worked
    TERMINAL = "Terminal"  # AWS refused the spec; only a spec change helps
    SUCCEEDED = "Succeeded"  # the job itself: Unknown while running, True/False at the end
    READY = "Ready"  # a long-lived resource (model, endpoint): usable as the spec describes


class Condition(BaseModel):
    """A Kubernetes-style status condition (kubectl wait --for=condition=Succeeded works on it)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    lastTransitionTime: str = ""
    observedGeneration: int | None = None


class ResourceStatus(BaseModel):
    """Status fields every kind has."""

    model_config = ConfigDict(extra="ignore")

    conditions: list[Condition] = []
    observedGeneration: int | None = None
    lastCheckTime: str | None = None
    region: str | None = None
    sageMakerEndpoint: str | None = None
    additional: str | None = None


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def merge_conditions(
    current: Iterable[Mapping[str, Any]],
    updates: Iterable[Condition],
    generation: int | None,
) -> list[dict[str, Any]]:
    """Apply condition updates, keeping lastTransitionTime unless the status actually flips."""
    by_type = {c["type"]: dict(c) for c in current if "type" in c}
    for update in updates:
        old = by_type.get(update.type)
        new = update.model_dump(exclude_none=True)
        new["observedGeneration"] = generation
        if old and old.get("status") == update.status:
            new["lastTransitionTime"] = old.get("lastTransitionTime") or now_rfc3339()
        else:
            new["lastTransitionTime"] = now_rfc3339()
        if generation is None:
            new.pop("observedGeneration")
        by_type[update.type] = new
    order = [ConditionType.SYNCED, ConditionType.TERMINAL, ConditionType.SUCCEEDED, ConditionType.READY]
    return sorted(by_type.values(), key=lambda c: order.index(c["type"]) if c["type"] in order else 99)


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def is_true(status: Mapping[str, Any], kind: str) -> bool:
    found = condition(status, kind)
    return bool(found and found.get("status") == "True")


@dataclass(frozen=True)
class Kind:
    """A custom resource kind backed by one SageMaker Create* operation."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    create_operation: str  # botocore operation whose input shape is the spec
    name_member: str  # the request member that names the SageMaker resource
    name_max_length: int
    status_model: type[BaseModel]
    printer_columns: tuple[dict[str, Any], ...]
    spec_required: tuple[str, ...] = ()  # extra required spec fields beyond botocore's
    description: str = ""
    extra_spec: dict[str, Any] = field(default_factory=dict)
    # Status fields copied from a SageMaker response member: field -> (operation, member). Their schema
    # comes from botocore's output shape, like the spec's, and ``shapes.response_member`` fills them.
    status_shapes: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Jobs and other create-once resources reject spec edits; a HostingDeployment applies them.
    immutable: bool = True
    spec_rules: tuple[dict[str, Any], ...] = ()  # CEL rules on .spec (e.g. fields that may not change)
    # A spec schema of its own instead of the create operation's input shape (HostingDeployment).
    spec_schema: Callable[[], dict[str, Any]] | None = None

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def name_field(self) -> str:
        """The optional spec field that fixes the SageMaker name (e.g. ``trainingJobName``)."""
        return self.name_member[:1].lower() + self.name_member[1:]


# Tags the operator puts on everything it creates in SageMaker, so a restarted operator recognises its own.
OWNERSHIP_TAG_KEYS = {
    "uid": f"{GROUP}/kubernetes-uid",
    "namespace": f"{GROUP}/kubernetes-namespace",
    "name": f"{GROUP}/kubernetes-name",
}
