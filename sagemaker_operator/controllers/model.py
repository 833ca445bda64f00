"""Model: CreateModel once, DeleteModel when the resource is deleted (SageMaker models cannot change)."""

from __future__ import annotations

from sagemaker_operator.api.hosting import MODEL
from sagemaker_operator.controllers.jobs import JobKind

MODEL_KIND = JobKind(
    api=MODEL,
    noun="model",
    describe_operation="DescribeModel",
    stop_operation="DeleteModel",
    arn_key="ModelArn",
    status_key="",
    status_field="status",
    name_status_field="sageMakerModelName",
    arn_status_field="modelArn",
    status_fields=lambda described, region: {},
    lifecycle=False,
)
