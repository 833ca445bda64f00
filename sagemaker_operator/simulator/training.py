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

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import not_found, resource_in_use, validation_error
from .lifecycle import StageDurations, Timeline, plan_training_job
from .listing import filter_summaries, page, standard_sort_keys
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
    tuning_job_arn: str | None = None
    """Set on the jobs a hyperparameter tuning job launches; DescribeTrainingJob returns it."""
    objective: dict[str, Any] | None = None
    """``{"MetricName", "Value"}`` a tuning child reports in FinalMetricDataList once completed."""
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
        if self.tuning_job_arn is not None:
            response["TuningJobArn"] = self.tuning_job_arn
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
            metrics = final_metrics(self.name, self.log_lines_per_host, timeline.training_end)
            if self.objective is not None:
                metrics = [m for m in metrics if m["MetricName"] != self.objective["MetricName"]]
                metrics.append({**self.objective, "Timestamp": timeline.training_end})
            response["FinalMetricDataList"] = metrics
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


def training_job_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account_id}:training-job/{name.lower()}"


def failure_reason_of(hyperparameters: dict[str, str]) -> str | None:
    """The FailureReason a job with these hyperparameters ends with, or None if it succeeds."""
    failure = hyperparameters.get(FAILURE_HYPERPARAMETER)
    return f"AlgorithmError: {failure}" if failure else None


def job_durations(durations: StageDurations, hyperparameters: dict[str, str]) -> StageDurations:
    """``durations`` with the Training stage a job's hyperparameters ask for; ValidationException if bad."""
    override = hyperparameters.get(TRAINING_SECONDS_HYPERPARAMETER)
    if override is None:
        return durations
    try:
        seconds = float(override)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise validation_error(
            f"Hyperparameter {TRAINING_SECONDS_HYPERPARAMETER} must be a non-negative number of seconds."
        )
    return durations.model_copy(update={"training": seconds})


@sagemaker_operation("CreateTrainingJob")
def create_training_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["TrainingJobName"]
    arn = training_job_arn(context.region, context.account_id, name)
    existing = sim.store.get(TrainingJob.KIND, context.account_id, context.region, name)
    if existing is not None:
        raise resource_in_use(
            "Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({existing.arn})"
        )
    hyperparameters = params.get("HyperParameters") or {}
    job = TrainingJob(
        name=name,
        arn=arn,
        account_id=context.account_id,
        region=context.region,
        request={k: v for k, v in params.items() if k != "Tags"},
        tags=[dict(tag) for tag in params.get("Tags") or []],
        created=sim.clock.now(),
        durations=job_durations(sim.durations, hyperparameters),
        failure_reason=failure_reason_of(hyperparameters),
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


_SORT_KEYS = standard_sort_keys("TrainingJobName", "TrainingJobStatus")


@sagemaker_operation("ListTrainingJobs")
def list_training_jobs(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    jobs = sim.store.of_kind(TrainingJob.KIND, context.account_id, context.region)
    summaries = [job.summary(now) for job in jobs if isinstance(job, TrainingJob)]
    summaries = filter_summaries(summaries, params, name_key="TrainingJobName", status_key="TrainingJobStatus")
    if params.get("WarmPoolStatusEquals") or params.get("TrainingPlanArnEquals"):
        summaries = []  # simulated jobs use neither warm pools nor training plans
    # Newest first by default, as this simulator has always answered (the API reference says Ascending).
    return page(
        summaries,
        params,
        items_key="TrainingJobSummaries",
        sort_keys=_SORT_KEYS,
        default_sort="CreationTime",
        default_order="Descending",
    )
