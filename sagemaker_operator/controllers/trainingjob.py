"""TrainingJob: CreateTrainingJob once, DescribeTrainingJob until it ends, StopTrainingJob on delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sagemaker_operator.api.shapes import to_k8s
from sagemaker_operator.api.trainingjob import TRAINING_JOB
from sagemaker_operator.controllers.jobs import TRANSITIONS_FIELD, JobKind

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def console_domain(region: str) -> str:
    if region.startswith("cn-"):
        return "console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "console.amazonaws-us-gov.com"
    return "console.aws.amazon.com"


def cloudwatch_log_url(region: str, log_group: str, stream_prefix: str) -> str:
    """The CloudWatch console page with the job's log streams, as the Go operator linked it."""
    return (
        f"https://{region}.{console_domain(region)}/cloudwatch/home?region={region}"
        f"#logStream:group={quote(log_group, safe='/')};prefix={quote(stream_prefix)};"
        "streamFilter=typeLogStreamPrefix"
    )


def _status_fields(described: Mapping[str, Any], region: str) -> dict[str, Any]:
    name = described["TrainingJobName"]
    return {
        "secondaryStatus": described.get("SecondaryStatus"),
        "failureReason": described.get("FailureReason"),
        "modelPath": (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        "cloudWatchLogUrl": cloudwatch_log_url(region, LOG_GROUP, f"{name}/"),
        "debugRuleEvaluationStatuses": to_k8s(described.get("DebugRuleEvaluationStatuses") or []) or None,
        TRANSITIONS_FIELD: to_k8s(described.get("SecondaryStatusTransitions") or []) or None,
    }


def _progress_message(described: Mapping[str, Any]) -> str:
    transitions = described.get("SecondaryStatusTransitions") or []
    return str(transitions[-1].get("StatusMessage", "")) if transitions else ""


TRAINING = JobKind(
    api=TRAINING_JOB,
    noun="training job",
    describe_operation="DescribeTrainingJob",
    stop_operation="StopTrainingJob",
    arn_key="TrainingJobArn",
    status_key="TrainingJobStatus",
    status_field="trainingJobStatus",
    name_status_field="sageMakerTrainingJobName",
    arn_status_field="trainingJobArn",
    status_fields=_status_fields,
    progress_message=_progress_message,
    secondary_key="SecondaryStatus",
)
