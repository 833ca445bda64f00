"""The IAM documents the operator needs on EKS, and a small reader of IAM policies to check a role.

One source for every copy: ``sagemaker-operator iam setup`` writes these documents to AWS, and
``installer/render.py`` writes the same ones as JSON under ``installer/iam/`` for people who use the
AWS CLI or their own tooling (a test fails when those copies are stale).

The operator's policy is least privilege: only the SageMaker actions the controllers call, on the
resource types they manage; ``List*`` actions (which IAM cannot scope to a resource) separately; and
``iam:PassRole`` only towards SageMaker, so the operator can hand a job its execution role but cannot
give any role to another service. CloudWatch Logs reading is not the operator's business: it is a
separate policy for the people (or the role) running ``kubectl smlogs``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

POLICY_VERSION = "2012-10-17"
STS_AUDIENCE = "sts.amazonaws.com"
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"

# SageMaker resource types (as in their ARNs) and what the operator does with each.
TRAINING = "training-job"
TUNING = "hyper-parameter-tuning-job"
TRANSFORM = "transform-job"
MODEL = "model"
ENDPOINT_CONFIG = "endpoint-config"
ENDPOINT = "endpoint"
RESOURCE_TYPES = (TRAINING, TUNING, TRANSFORM, MODEL, ENDPOINT_CONFIG, ENDPOINT)

# (statement id, actions, resource types). CreateEndpoint and UpdateEndpoint are authorised on the
# endpoint and on the endpoint configuration it uses, so both types are listed for them.
_SAGEMAKER_STATEMENTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("TrainingJobs", ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"), (TRAINING,)),
    (
        "TuningJobs",
        (
            "CreateHyperParameterTuningJob",
            "DescribeHyperParameterTuningJob",
            "StopHyperParameterTuningJob",
            "ListTrainingJobsForHyperParameterTuningJob",
        ),
        (TUNING,),
    ),
    ("TransformJobs", ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob"), (TRANSFORM,)),
    ("Models", ("CreateModel", "DescribeModel", "DeleteModel"), (MODEL,)),
    (
        "EndpointConfigs",
        ("CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig"),
        (ENDPOINT_CONFIG,),
    ),
    (
        "Endpoints",
        (
            "CreateEndpoint",
            "DescribeEndpoint",
            "DeleteEndpoint",
            "UpdateEndpoint",
            "UpdateEndpointWeightsAndCapacities",
        ),
        (ENDPOINT, ENDPOINT_CONFIG),
    ),
    # Creating with tags needs AddTags too; the operator tags everything it creates with its owner.
    ("Tagging", ("AddTags", "ListTags", "DeleteTags"), RESOURCE_TYPES),
)
# IAM cannot scope these to a resource: they need "*". The List*Jobs and ListEndpoints feed the batched status
# sync; ListEndpointConfigs and ListModels find what a HostingDeployment left behind (cleanup).
_LIST_ACTIONS = (
    "ListTrainingJobs",
    "ListHyperParameterTuningJobs",
    "ListTransformJobs",
    "ListEndpoints",
    "ListEndpointConfigs",
    "ListModels",
)
_LOG_ACTIONS = ("logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents")


def sagemaker_arn(partition: str, resource_type: str, name: str = "*", region: str = "*", account: str = "*") -> str:
    return f"arn:{partition}:sagemaker:{region}:{account}:{resource_type}/{name}"


def operator_policy(partition: str = "aws", account: str = "*", execution_roles: Sequence[str] = ()) -> dict[str, Any]:
    """The operator's permissions. ``execution_roles`` narrows PassRole (ARNs, IAM wildcards allowed)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": sid,
            "Effect": "Allow",
            "Action": [f"sagemaker:{a}" for a in actions],
            "Resource": [sagemaker_arn(partition, t, account=account) for t in types],
        }
        for sid, actions, types in _SAGEMAKER_STATEMENTS
    ]
    statements.append(
        {
            "Sid": "ListJobs",
            "Effect": "Allow",
            "Action": [f"sagemaker:{a}" for a in _LIST_ACTIONS],
            "Resource": "*",
        }
    )
    statements.append(
        {
            "Sid": "PassExecutionRoleToSageMaker",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": list(execution_roles) or [f"arn:{partition}:iam::{account}:role/*"],
            "Condition": {"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}},
        }
    )
    return {"Version": POLICY_VERSION, "Statement": statements}


def logs_reader_policy(partition: str = "aws", account: str = "*") -> dict[str, Any]:
    """What ``kubectl smlogs`` needs: read SageMaker's CloudWatch log groups, nothing else."""
    group = f"arn:{partition}:logs:*:{account}:log-group:/aws/sagemaker/*"
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ReadSageMakerLogs",
                "Effect": "Allow",
                "Action": list(_LOG_ACTIONS),
                "Resource": [group, f"{group}:log-stream:*"],
            }
        ],
    }


def issuer_host_path(issuer_url: str) -> str:
    """``https://oidc.eks.us-west-2.amazonaws.com/id/ABC`` -> ``oidc.eks.us-west-2.amazonaws.com/id/ABC``."""
    return issuer_url.removeprefix("https://").removeprefix("http://").rstrip("/")


def oidc_provider_arn(partition: str, account: str, issuer_url: str) -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{issuer_host_path(issuer_url)}"


def service_account_subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def trust_policy(provider_arn: str, issuer: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Only the operator's service account in this cluster may assume the role, with STS as audience."""
    host_path = issuer_host_path(issuer)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "SageMakerOperatorServiceAccount",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host_path}:aud": STS_AUDIENCE,
                        f"{host_path}:sub": service_account_subject(namespace, service_account),
                    }
                },
            }
        ],
    }


def required_actions() -> list[str]:
    """Every action of the operator's policy, as ``service:Action``."""
    return [action for statement in operator_policy()["Statement"] for action in _as_list(statement["Action"])]


def dumps(document: Mapping[str, Any]) -> str:
    """The form the documents are written in, in files and to AWS."""
    return json.dumps(document, indent=2) + "\n"


def canonical(document: Any) -> Any:
    """A policy with IAM's equivalent spellings made equal (a one-item list and its item; key order)."""
    if isinstance(document, str):
        document = json.loads(document)
    return json.loads(json.dumps(_canonical(document), sort_keys=True))


def _canonical(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _canonical(v) for k, v in node.items()}
    if isinstance(node, list):
        items = [_canonical(v) for v in node]
        return items[0] if len(items) == 1 else items
    return node


# ----------------------------------------------------------------------------- reading policies


@dataclass(frozen=True)
class Statement:
    """One statement of an IAM policy, with where it came from (for messages)."""

    source: str
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Any]

    def covers_action(self, action: str) -> bool:
        if self.not_actions:
            return not any(_matches(pattern, action) for pattern in self.not_actions)
        return any(_matches(pattern, action) for pattern in self.actions)

    def covers_resource(self, arn: str) -> bool:
        return any(_matches(pattern, arn, case_sensitive=True) for pattern in self.resources)


def statements(document: Any, source: str) -> Iterator[Statement]:
    if isinstance(document, str):
        document = json.loads(document)
    raw = document.get("Statement", [])
    for item in [raw] if isinstance(raw, Mapping) else raw:
        yield Statement(
            source=source,
            effect=str(item.get("Effect", "")),
            actions=tuple(_as_list(item.get("Action"))),
            not_actions=tuple(_as_list(item.get("NotAction"))),
            resources=tuple(_as_list(item.get("Resource"))) or ("*",),
            condition=item.get("Condition") or {},
        )


def condition_values(condition: Mapping[str, Any], key: str) -> dict[str, list[str]]:
    """Values of a condition key by operator (``StringEquals``...); keys compare case-insensitively, as IAM's do."""
    found: dict[str, list[str]] = {}
    for operator, pairs in condition.items():
        for name, values in (pairs or {}).items():
            if name.lower() == key.lower():
                found.setdefault(operator, []).extend(_as_list(values))
    return found


def example_resource(action: str, partition: str, account: str, region: str) -> str:
    """An ARN the action would be authorised on, to test a statement's Resource against."""
    service, _, name = action.partition(":")
    if service == "iam":
        return f"arn:{partition}:iam::{account}:role/example"
    for _sid, actions, types in _SAGEMAKER_STATEMENTS:
        if name in actions:
            return sagemaker_arn(partition, types[0], "example", region, account)
    return "*"


def _matches(pattern: str, value: str, case_sensitive: bool = False) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character (no character classes)."""
    escaped = pattern.replace("[", "[[]")
    if case_sensitive:
        return fnmatch.fnmatchcase(value, escaped)
    return fnmatch.fnmatchcase(value.lower(), escaped.lower())


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]
