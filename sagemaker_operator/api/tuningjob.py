"""The HyperparameterTuningJob custom resource: spec from CreateHyperParameterTuningJob."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from sagemaker_operator.api.common import Kind, ResourceStatus

DESCRIBE = "DescribeHyperParameterTuningJob"


class TrainingJobStatusCounters(BaseModel):
    """SageMaker's counters plus the Go operator's ``totalError`` (retryable + non-retryable)."""

    model_config = ConfigDict(extra="ignore")

    completed: int = 0
    inProgress: int = 0
    retryableError: int = 0
    nonRetryableError: int = 0
    stopped: int = 0
    totalError: int = 0


class ChildTrainingJob(BaseModel):
    """A training job the tuning job launched; `kubectl smlogs hpo NAME` follows these."""

    model_config = ConfigDict(extra="ignore")

    trainingJobName: str
    trainingJobStatus: str | None = None
    objectiveValue: float | None = None


class HyperparameterTuningJobStatus(ResourceStatus):
    hyperParameterTuningJobStatus: str | None = None
    sageMakerHyperParameterTuningJobName: str | None = None
    hyperParameterTuningJobArn: str | None = None
    failureReason: str | None = None
    trainingJobStatusCounters: TrainingJobStatusCounters | None = None
    # Filled from DescribeHyperParameterTuningJob (see status_shapes below).
    objectiveStatusCounters: dict[str, Any] | None = None
    bestTrainingJob: dict[str, Any] | None = None
    trainingJobs: list[ChildTrainingJob] = []


HYPERPARAMETER_TUNING_JOB = Kind(
    kind="HyperparameterTuningJob",  # the Go operator's spelling, so its YAML applies unchanged
    plural="hyperparametertuningjobs",
    short_names=("hpo",),
    create_operation="CreateHyperParameterTuningJob",
    name_member="HyperParameterTuningJobName",
    name_max_length=32,
    status_model=HyperparameterTuningJobStatus,
    description="A SageMaker hyperparameter tuning job: its counters, its best training job and its children.",
    status_shapes={
        "objectiveStatusCounters": (DESCRIBE, "ObjectiveStatusCounters"),
        "bestTrainingJob": (DESCRIBE, "BestTrainingJob"),
    },
    printer_columns=(
        {"name": "Status", "type": "string", "jsonPath": ".status.hyperParameterTuningJobStatus"},
        {"name": "Creation-Time", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Completed", "type": "integer", "jsonPath": ".status.trainingJobStatusCounters.completed"},
        {"name": "InProgress", "type": "integer", "jsonPath": ".status.trainingJobStatusCounters.inProgress"},
        {"name": "Errors", "type": "integer", "jsonPath": ".status.trainingJobStatusCounters.totalError"},
        {"name": "Stopped", "type": "integer", "jsonPath": ".status.trainingJobStatusCounters.stopped"},
        {"name": "Best-Training-Job", "type": "string", "jsonPath": ".status.bestTrainingJob.trainingJobName"},
        {
            "name": "Best-Objective",
            "type": "number",
            "jsonPath": ".status.bestTrainingJob.finalHyperParameterTuningJobObjectiveMetric.value",
        },
        {"name": "Sagemaker-Job-Name", "type": "string", "jsonPath": ".status.sageMakerHyperParameterTuningJobName"},
        {"name": "Reason", "type": "string", "priority": 1, "jsonPath": ".status.failureReason"},
    ),
)
