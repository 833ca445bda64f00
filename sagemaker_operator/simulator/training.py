"""Training jobs: CreateTrainingJob, DescribeTrainingJob, StopTrainingJob, ListTrainingJobs.

The lifecycle itself is planned in :mod:`.lifecycle`; this module stores jobs and shapes responses.

Two hyperparameters steer a simulated job (they reach no real algorithm, so they are safe to set):

``sagemaker_simulator_failure_reason``
    Any non-empty string: the job fails at the end of its Training stage with TrainingJobStatus and
    SecondaryStatus ``Failed``, FailureReason ``AlgorithmError: <string>``, and the reason in its logs.
``sagemaker_simulator_training_seconds``
    A number: the length of this job's Training stage in simulated seconds, instead of the
    simulator's ``StageDurations.training``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import not_found, resource_in_use, validation_error
from .lifecycle import StageDurations, Timeline, plan_training_job
from .logs import (
    TRAINING_LOG_GROUP,
    JobLog,
    LogLine,
    ensure_log_group,
    final_metrics,
    host_count,
    plan_training_log,
)
from .protocol import RequestContext, sagemaker_operation
from .validation import operation_model

if TYPE_CHECKING:
    from .core import Simulator

FAILURE_HYPERPARAMETER = "sagemaker_simulator_failure_reason"
TRAINING_SECONDS_HYPERPARAMETER = "sagemaker_simulator_training_seconds"

# Request members DescribeTrainingJob echoes back: all those its response has, except Tags.
_ECHOED = frozenset(operation_model("DescribeTrainingJob").output_shape.members) - {"Tags"}
# What SageMaker fills in when the request left them out.
_DEFAULTS: dict[str, Any] = {
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    "EnableNetworkIsolation": False,
    "EnableInterContainerTrafficEncryption": False,
    "EnableManagedSpotTraining": False,
}


@dataclass(eq=False)
class TrainingJob:
    """A simulated training job: the request it was created with and its planned timeline."""

    KIND = "training-job"

    name: str
    arn: str
    account_id: str
    region: str
    request: dict[str, Any]
    tags: list[dict[str, str]]
    created: datetime
    durations: StageDurations
    failure_reason: str | None
    log_lines_per_host: int
    stop_requested: datetime | None = None
    timeline: Timeline = field(init=False)
    log: JobLog = field(init=False)
    _log_plan: tuple[Timeline, list[list[LogLine]]] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.timeline = self._plan()
        self.log = JobLog(self.account_id, self.region, f"{self.name}/")

    def _plan(self) -> Timeline:
        stopping_condition = self.request.get("StoppingCondition") or _DEFAULTS["StoppingCondition"]
        max_runtime = stopping_condition.get("MaxRuntimeInSeconds")
        return plan_training_job(
            self.created,
            self.durations,
            failure_reason=self.failure_reason,
            max_runtime=max_runtime,
            stop_at=self.stop_requested,
        )

    def status(self, now: datetime) -> str:
        return self.timeline.current(now).status

    def stop(self, now: datetime) -> None:
        """Re-plan the job to stop at ``now``."""
        self.stop_requested = now
        self.timeline = self._plan()

    def log_stream_names(self) -> list[str]:
        """The job's CloudWatch log streams (they exist once the Training stage has begun)."""
        return self.log.stream_names(host_count(self.request), self._started())

    def _started(self) -> datetime:
        """TrainingStartTime as planned (the end of the Starting stage); log stream names carry it."""
        return self.created + timedelta(seconds=self.durations.starting)

    def refresh(self, now: datetime) -> bool:
        """Append the log lines due by ``now``; False once the job is terminal and its log complete."""
        if self._log_plan is None or self._log_plan[0] is not self.timeline:
            lines = plan_training_log(
                self.name, self.request, self.timeline, self.failure_reason, self.log_lines_per_host
            )
            self._log_plan = (self.timeline, lines)
        complete = self.log.flush(self._log_plan[1], self._started(), now)
        return not (complete and self.timeline.current(now).terminal)

    def describe(self, now: datetime) -> dict[str, Any]:
        """The DescribeTrainingJob response at ``now``."""
        timeline = self.timeline
        reached = timeline.reached(now)
        current = reached[-1]
        response: dict[str, Any] = {**_DEFAULTS, **{k: v for k, v in self.request.items() if k in _ECHOED}}
        response.update(
            TrainingJobName=self.name,
            TrainingJobArn=self.arn,
            TrainingJobStatus=current.status,
            SecondaryStatus=current.secondary,
            CreationTime=self.created,
            LastModifiedTime=current.start,
            SecondaryStatusTransitions=[
                {
                    "Status": phase.secondary,
                    "StartTime": phase.start,
                    **({"EndTime": reached[i + 1].start} if i + 1 < len(reached) else {}),
                    **({"EndTime": phase.start} if phase.terminal else {}),
                    "StatusMessage": phase.message,
                }
                for i, phase in enumerate(reached)
            ],
        )
        started = timeline.started("Downloading", now)
        if started is not None:
            response["TrainingStartTime"] = started
        if current.terminal:
            response["TrainingEndTime"] = current.start
            seconds = int((current.start - started).total_seconds()) if started else 0
            response["TrainingTimeInSeconds"] = seconds
            response["BillableTimeInSeconds"] = seconds
        if current.status == "Completed":
            output = self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
            response["ModelArtifacts"] = {"S3ModelArtifacts": f"{output}/{self.name}/output/model.tar.gz"}
            response["FinalMetricDataList"] = final_metrics(self.name, self.log_lines_per_host, timeline.training_end)
        if current.status == "Failed":
            response["FailureReason"] = self.failure_reason
        return response

    def summary(self, now: datetime) -> dict[str, Any]:
        """The job's entry in ListTrainingJobs."""
        described = self.describe(now)
        keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime", "LastModifiedTime")
        summary = {k: described[k] for k in keys if k in described}
        summary["TrainingJobStatus"] = described["TrainingJobStatus"]
        summary["SecondaryStatus"] = described["SecondaryStatus"]
        return summary


def _find(sim: Simulator, context: RequestContext, name: str) -> TrainingJob:
    job = sim.store.get(TrainingJob.KIND, context.account_id, context.region, name)
    if job is None:
        raise not_found()
    assert isinstance(job, TrainingJob)
    return job


def _job_durations(sim: Simulator, hyperparameters: dict[str, str]) -> StageDurations:
    override = hyperparameters.get(TRAINING_SECONDS_HYPERPARAMETER)
    if override is None:
        return sim.durations
    try:
        seconds = float(override)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise validation_error(
            f"Hyperparameter {TRAINING_SECONDS_HYPERPARAMETER} must be a non-negative number of seconds."
        )
    return sim.durations.model_copy(update={"training": seconds})


@sagemaker_operation("CreateTrainingJob")
def create_training_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["TrainingJobName"]
    arn = f"arn:aws:sagemaker:{context.region}:{context.account_id}:training-job/{name.lower()}"
    existing = sim.store.get(TrainingJob.KIND, context.account_id, context.region, name)
    if existing is not None:
        raise resource_in_use(
            "Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({existing.arn})"
        )
    hyperparameters = params.get("HyperParameters") or {}
    failure = hyperparameters.get(FAILURE_HYPERPARAMETER)
    job = TrainingJob(
        name=name,
        arn=arn,
        account_id=context.account_id,
        region=context.region,
        request={k: v for k, v in params.items() if k != "Tags"},
        tags=[dict(tag) for tag in params.get("Tags") or []],
        created=sim.clock.now(),
        durations=_job_durations(sim, hyperparameters),
        failure_reason=f"AlgorithmError: {failure}" if failure else None,
        log_lines_per_host=sim.log_lines_per_host,
    )
    sim.store.add(TrainingJob.KIND, job)
    ensure_log_group(context.account_id, context.region, TRAINING_LOG_GROUP)
    sim.track(job)
    return {"TrainingJobArn": arn}


@sagemaker_operation("DescribeTrainingJob")
def describe_training_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _find(sim, context, params["TrainingJobName"]).describe(sim.clock.now())


@sagemaker_operation("StopTrainingJob")
def stop_training_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    job = _find(sim, context, params["TrainingJobName"])
    now = sim.clock.now()
    status = job.status(now)
    if status in ("Completed", "Failed", "Stopped"):
        raise validation_error(f"The request was rejected because the training job is in status {status}.")
    if status == "InProgress":
        job.stop(now)
        sim.track(job)
    return {}


_SORT_KEYS = {
    "Name": lambda s: (s["TrainingJobName"],),
    "CreationTime": lambda s: (s["CreationTime"].timestamp(), s["TrainingJobName"]),
    "Status": lambda s: (s["TrainingJobStatus"], s["CreationTime"].timestamp(), s["TrainingJobName"]),
}


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def encode_token(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        raise validation_error("Invalid pagination token.")
    return document


@sagemaker_operation("ListTrainingJobs")
def list_training_jobs(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    jobs = sim.store.of_kind(TrainingJob.KIND, context.account_id, context.region)
    summaries = [job.summary(now) for job in jobs if isinstance(job, TrainingJob)]
    bounds = {
        ("CreationTime", "After"): params.get("CreationTimeAfter"),
        ("CreationTime", "Before"): params.get("CreationTimeBefore"),
        ("LastModifiedTime", "After"): params.get("LastModifiedTimeAfter"),
        ("LastModifiedTime", "Before"): params.get("LastModifiedTimeBefore"),
    }
    for (member, side), bound in bounds.items():
        if bound is not None:
            limit = _as_datetime(bound)
            summaries = [s for s in summaries if (s[member] > limit if side == "After" else s[member] < limit)]
    if params.get("NameContains"):
        needle = params["NameContains"].lower()
        summaries = [s for s in summaries if needle in s["TrainingJobName"].lower()]
    if params.get("StatusEquals"):
        summaries = [s for s in summaries if s["TrainingJobStatus"] == params["StatusEquals"]]
    if params.get("WarmPoolStatusEquals") or params.get("TrainingPlanArnEquals"):
        summaries = []  # simulated jobs use neither warm pools nor training plans

    sort_by = params.get("SortBy", "CreationTime")
    descending = params.get("SortOrder", "Descending") == "Descending"
    key = _SORT_KEYS[sort_by]
    summaries.sort(key=key, reverse=descending)
    if params.get("NextToken"):
        # The token holds the sort key of the last job returned, so pages stay stable as jobs are added.
        token = decode_token(params["NextToken"])
        if token.get("sort") != [sort_by, descending] or not isinstance(token.get("after"), list):
            raise validation_error("Invalid pagination token: the request changed between pages.")
        after = tuple(token["after"])
        summaries = [s for s in summaries if (key(s) < after if descending else key(s) > after)]
    page_size = params.get("MaxResults", 10)
    response: dict[str, Any] = {"TrainingJobSummaries": summaries[:page_size]}
    if len(summaries) > page_size:
        last = summaries[page_size - 1]
        response["NextToken"] = encode_token({"sort": [sort_by, descending], "after": list(key(last))})
    return response
