"""HyperparameterTuningJob: counters, the best training job and the children, followed until the tuning ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_operator.api.shapes import response_member
from sagemaker_operator.api.tuningjob import DESCRIBE, HYPERPARAMETER_TUNING_JOB
from sagemaker_operator.aws import errors
from sagemaker_operator.aws.sync import JobRef
from sagemaker_operator.controllers.jobs import JobKind
from sagemaker_operator.settings import OperatorContext

LIST_CHILDREN = "ListTrainingJobsForHyperParameterTuningJob"


def counters(described: Mapping[str, Any]) -> dict[str, int]:
    raw = described.get("TrainingJobStatusCounters") or {}
    counted = {
        "completed": raw.get("Completed", 0),
        "inProgress": raw.get("InProgress", 0),
        "retryableError": raw.get("RetryableError", 0),
        "nonRetryableError": raw.get("NonRetryableError", 0),
        "stopped": raw.get("Stopped", 0),
    }
    counted["totalError"] = counted["retryableError"] + counted["nonRetryableError"]
    return counted


def _status_fields(described: Mapping[str, Any], region: str) -> dict[str, Any]:
    return {
        "failureReason": described.get("FailureReason"),
        "trainingJobStatusCounters": counters(described),
        "objectiveStatusCounters": response_member(DESCRIBE, "ObjectiveStatusCounters", described),
        "bestTrainingJob": response_member(DESCRIBE, "BestTrainingJob", described),
    }


async def list_children(
    ctx: OperatorContext, ref: JobRef, described: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any]:
    """The tuning job's training jobs, re-listed only when the counters moved (one page per 100 jobs)."""
    if status.get("trainingJobs") and status.get("trainingJobStatusCounters") == counters(described):
        return {}
    client = ctx.clients.sagemaker(ref.region, ref.endpoint)
    children: list[dict[str, Any]] = []
    request: dict[str, Any] = {"HyperParameterTuningJobName": ref.name, "MaxResults": 100, "SortBy": "CreationTime"}
    while True:
        page = await errors.call(client, LIST_CHILDREN, **request)
        for summary in page.get("TrainingJobSummaries", []):
            objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
            children.append(
                {
                    "trainingJobName": summary["TrainingJobName"],
                    "trainingJobStatus": summary.get("TrainingJobStatus"),
                    "objectiveValue": objective.get("Value"),
                }
            )
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    # SageMaker lists newest first whatever the order asked; show them in launch order.
    children.sort(key=lambda child: child["trainingJobName"])
    return {"trainingJobs": children}


def _progress_message(described: Mapping[str, Any]) -> str:
    count = counters(described)
    limits = (described.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits") or {}
    total = limits.get("MaxNumberOfTrainingJobs")
    done = f"{count['completed']}/{total}" if total else str(count["completed"])
    message = (
        f"{done} training jobs completed, {count['inProgress']} in progress, "
        f"{count['totalError']} failed, {count['stopped']} stopped"
    )
    best = described.get("BestTrainingJob")
    if best:
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        message += f"; best: {best['TrainingJobName']} ({metric.get('MetricName')}={metric.get('Value')})"
    return message


def _new_best(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """An Event when a better training job appears: which trial is winning, visible in `kubectl describe`."""
    best = new.get("bestTrainingJob") or {}
    if not best or best.get("trainingJobName") == (old.get("bestTrainingJob") or {}).get("trainingJobName"):
        return []
    metric = best.get("finalHyperParameterTuningJobObjectiveMetric") or {}
    tuned = ", ".join(f"{p['name']}={p['value']}" for p in best.get("tunedHyperParameters") or [])
    return [
        (
            "Normal",
            "NewBestTrainingJob",
            f"{best['trainingJobName']}: {metric.get('metricName')}={metric.get('value')} ({tuned})",
        )
    ]


TUNING = JobKind(
    api=HYPERPARAMETER_TUNING_JOB,
    noun="hyperparameter tuning job",
    describe_operation=DESCRIBE,
    stop_operation="StopHyperParameterTuningJob",
    arn_key="HyperParameterTuningJobArn",
    status_key="HyperParameterTuningJobStatus",
    status_field="hyperParameterTuningJobStatus",
    name_status_field="sageMakerHyperParameterTuningJobName",
    arn_status_field="hyperParameterTuningJobArn",
    status_fields=_status_fields,
    progress_message=_progress_message,
    extra_status=list_children,
    notable_changes=_new_best,
)
