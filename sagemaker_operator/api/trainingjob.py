"""The TrainingJob custom resource: spec from CreateTrainingJob, status as the Go operator reported it."""

from __future__ import annotations

from typing import Any

from sagemaker_operator.api.common import Kind, ResourceStatus
from sagemaker_operator.local.spec import crd_schema as fallback_schema


class TrainingJobStatus(ResourceStatus):
    """Observed state; field names are the Go operator's so existing dashboards and scripts keep working."""

    trainingJobStatus: str | None = None
    secondaryStatus: str | None = None
    sageMakerTrainingJobName: str | None = None
    trainingJobArn: str | None = None
    cloudWatchLogUrl: str | None = None
    modelPath: str | None = None
    failureReason: str | None = None
    # Filled from DescribeTrainingJob (see status_shapes below).
    debugRuleEvaluationStatuses: list[dict[str, Any]] = []
    secondaryStatusTransitions: list[dict[str, Any]] = []
    # Where the job runs: "sagemaker", or "local" (TensorFlow distributed training in the cluster), and why.
    backend: str | None = None
    backendReason: str | None = None


TRAINING_JOB = Kind(
    kind="TrainingJob",
    plural="trainingjobs",
    short_names=("tj",),
    create_operation="CreateTrainingJob",
    name_member="TrainingJobName",
    name_max_length=63,
    status_model=TrainingJobStatus,
    description="A SageMaker training job, submitted once and followed until it ends.",
    extra_spec={"fallback": fallback_schema()},
    status_shapes={
        "debugRuleEvaluationStatuses": ("DescribeTrainingJob", "DebugRuleEvaluationStatuses"),
        "secondaryStatusTransitions": ("DescribeTrainingJob", "SecondaryStatusTransitions"),
    },
    printer_columns=(
        {"name": "Status", "type": "string", "jsonPath": ".status.trainingJobStatus"},
        {"name": "Secondary-Status", "type": "string", "jsonPath": ".status.secondaryStatus"},
        {"name": "Creation-Time", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Sagemaker-Job-Name", "type": "string", "jsonPath": ".status.sageMakerTrainingJobName"},
        {"name": "Backend", "type": "string", "priority": 1, "jsonPath": ".status.backend"},
        {
            "name": "Reason",
            "type": "string",
            "priority": 1,
            "jsonPath": ".status.failureReason",
        },
    ),
)
