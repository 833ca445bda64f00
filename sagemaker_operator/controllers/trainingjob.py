"""TrainingJob: CreateTrainingJob once, DescribeTrainingJob until it ends, StopTrainingJob on delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_operator.api.shapes import response_member
from sagemaker_operator.api.trainingjob import TRAINING_JOB
from sagemaker_operator.aws.urls import cloudwatch_log_url
from sagemaker_operator.controllers.fallback import IN_CLUSTER
from sagemaker_operator.controllers.jobs import TRANSITIONS_FIELD, JobKind

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
DESCRIBE = "DescribeTrainingJob"


def _status_fields(described: Mapping[str, Any], region: str) -> dict[str, Any]:
    name = described["TrainingJobName"]
    return {
        "secondaryStatus": described.get("SecondaryStatus"),
        "failureReason": described.get("FailureReason"),
        "modelPath": (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        "cloudWatchLogUrl": cloudwatch_log_url(region, LOG_GROUP, f"{name}/"),
        "debugRuleEvaluationStatuses": response_member(DESCRIBE, "DebugRuleEvaluationStatuses", described) or None,
        TRANSITIONS_FIELD: response_member(DESCRIBE, "SecondaryStatusTransitions", described) or None,
    }


def _progress_message(described: Mapping[str, Any]) -> str:
    transitions = described.get("SecondaryStatusTransitions") or []
    return str(transitions[-1].get("StatusMessage", "")) if transitions else ""


TRAINING = JobKind(
    api=TRAINING_JOB,
    noun="training job",
    describe_operation=DESCRIBE,
    stop_operation="StopTrainingJob",
    arn_key="TrainingJobArn",
    status_key="TrainingJobStatus",
    status_field="trainingJobStatus",
    name_status_field="sageMakerTrainingJobName",
    arn_status_field="trainingJobArn",
    status_fields=_status_fields,
    progress_message=_progress_message,
    secondary_key="SecondaryStatus",
    alternate=IN_CLUSTER,
)
