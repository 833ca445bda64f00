"""SageMaker names and ownership tags derived from the custom resource.

Names are unique per account and region, so a name derived from the resource's name and UID is
stable across operator restarts (the same resource always maps to the same job) and never collides
with another resource's job, even one of the same name in another namespace or cluster.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sagemaker_operator.api.common import OWNERSHIP_TAG_KEYS

_SUFFIX_LENGTH = 12
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9-]+")


def derive_name(resource_name: str, uid: str, max_length: int) -> str:
    """``<resource name, truncated>-<12 hex chars of sha256(uid)>``, valid for SageMaker's name pattern."""
    suffix = hashlib.sha256(uid.encode()).hexdigest()[:_SUFFIX_LENGTH]
    prefix = _NOT_ALLOWED.sub("-", resource_name)  # Kubernetes names may contain dots
    prefix = prefix[: max_length - _SUFFIX_LENGTH - 1].strip("-")
    return f"{prefix}-{suffix}" if prefix else suffix


def ownership_tags(namespace: str, name: str, uid: str) -> list[dict[str, str]]:
    return [
        {"Key": OWNERSHIP_TAG_KEYS["uid"], "Value": uid},
        {"Key": OWNERSHIP_TAG_KEYS["namespace"], "Value": namespace},
        {"Key": OWNERSHIP_TAG_KEYS["name"], "Value": name},
    ]


def request_tags(user_tags: Iterable[Mapping[str, Any]] | None, namespace: str, name: str, uid: str) -> list:
    """The user's tags (spec.tags, already in SageMaker's Key/Value form) plus ours; ours win on a clash."""
    ours = ownership_tags(namespace, name, uid)
    reserved = {t["Key"] for t in ours}
    return [dict(t) for t in user_tags or () if t.get("Key") not in reserved] + ours


def owned_by(tags: Iterable[Mapping[str, Any]], uid: str) -> bool:
    return any(t.get("Key") == OWNERSHIP_TAG_KEYS["uid"] and t.get("Value") == uid for t in tags)
