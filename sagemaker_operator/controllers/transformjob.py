"""BatchTransformJob: CreateTransformJob once, DescribeTransformJob until it ends, StopTransformJob on delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_operator.api.transformjob import BATCH_TRANSFORM_JOB
from sagemaker_operator.aws.urls import cloudwatch_log_url
from sagemaker_operator.controllers.jobs import JobKind

LOG_GROUP = "/aws/sagemaker/TransformJobs"


def _status_fields(described: Mapping[str, Any], region: str) -> dict[str, Any]:
    return {
        "failureReason": described.get("FailureReason"),
        "cloudWatchLogUrl": cloudwatch_log_url(region, LOG_GROUP, f"{described['TransformJobName']}/"),
        "outputPath": (described.get("TransformOutput") or {}).get("S3OutputPath"),
    }


def _progress_message(described: Mapping[str, Any]) -> str:
    if described.get("TransformJobStatus") == "Completed":
        return f"Results in {(described.get('TransformOutput') or {}).get('S3OutputPath')}"
    return f"Transform job {str(described.get('TransformJobStatus', '')).lower()}"


TRANSFORM = JobKind(
    api=BATCH_TRANSFORM_JOB,
    noun="transform job",
    describe_operation="DescribeTransformJob",
    stop_operation="StopTransformJob",
    arn_key="TransformJobArn",
    status_key="TransformJobStatus",
    status_field="transformJobStatus",
    name_status_field="sageMakerTransformJobName",
    arn_status_field="transformJobArn",
    status_fields=_status_fields,
    progress_message=_progress_message,
)
