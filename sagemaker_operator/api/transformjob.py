"""The BatchTransformJob custom resource: spec from CreateTransformJob."""

from __future__ import annotations

from sagemaker_operator.api.common import Kind, ResourceStatus


class BatchTransformJobStatus(ResourceStatus):
    transformJobStatus: str | None = None
    sageMakerTransformJobName: str | None = None
    transformJobArn: str | None = None
    failureReason: str | None = None
    cloudWatchLogUrl: str | None = None
    outputPath: str | None = None


BATCH_TRANSFORM_JOB = Kind(
    kind="BatchTransformJob",
    plural="batchtransformjobs",
    short_names=("btj",),
    create_operation="CreateTransformJob",
    name_member="TransformJobName",
    name_max_length=63,
    status_model=BatchTransformJobStatus,
    description="A SageMaker batch transform job: inference over a data set with an existing model.",
    printer_columns=(
        {"name": "Status", "type": "string", "jsonPath": ".status.transformJobStatus"},
        {"name": "Creation-Time", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Sagemaker-Job-Name", "type": "string", "jsonPath": ".status.sageMakerTransformJobName"},
        {"name": "Reason", "type": "string", "priority": 1, "jsonPath": ".status.failureReason"},
    ),
)
