"""Batch transform jobs: CreateTransformJob, DescribeTransformJob, StopTransformJob, ListTransformJobs.

The lifecycle is planned in :mod:`.lifecycle` (``starting`` to provision the instances, ``transform``
to work through the input, then Completed or Failed); logs go to ``/aws/sagemaker/TransformJobs``.
The model a job names must exist among the simulator's models (:mod:`.models`), as SageMaker refuses a
transform job for an unknown model.

One environment variable steers a simulated job (it reaches no real container, so it is safe to set):

``SAGEMAKER_SIMULATOR_FAILURE_REASON``
    Any non-empty string: the job fails when its work would have finished, with FailureReason
    ``AlgorithmError: <string>``, and the reason in its logs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import job_not_found, resource_in_use, validation_error
from .lifecycle import TERMINAL_STATUSES, StageDurations, Timeline, plan_transform_job
from .listing import filter_summaries, page, standard_sort_keys
from .logs import (
    TRANSFORM_LOG_GROUP,
    JobLog,
    LogLine,
    ensure_log_group,
    plan_transform_log,
    transform_stream_names,
)
from .models import FAILURE_ENVIRONMENT_VARIABLE, find_model
from .protocol import RequestContext, sagemaker_operation
from .validation import operation_model

if TYPE_CHECKING:
    from .core import Simulator

# Request members DescribeTransformJob echoes back: all those its response has, except Tags.
_ECHOED = frozenset(operation_model("DescribeTransformJob").output_shape.members) - {"Tags"}


@dataclass(eq=False)
class TransformJob:
    """A simulated batch transform job: the request it was created with and its planned timeline."""

    KIND = "transform-job"

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
        self.log = JobLog(self.account_id, self.region, f"{self.name}/", group=TRANSFORM_LOG_GROUP)

    def _plan(self) -> Timeline:
        return plan_transform_job(
            self.created, self.durations, failure_reason=self.failure_reason, stop_at=self.stop_requested
        )

    @property
    def instance_count(self) -> int:
        return max(1, int(self.request["TransformResources"].get("InstanceCount") or 1))

    def status(self, now: datetime) -> str:
        return self.timeline.current(now).status

    def stop(self, now: datetime) -> None:
        """Re-plan the job to stop at ``now``."""
        self.stop_requested = now
        self.timeline = self._plan()

    def log_stream_names(self) -> list[str]:
        """Per instance, its container stream and its data-log stream (they exist once work began)."""
        pairs = transform_stream_names(self.name, self.instance_count, self.timeline.training_start)
        return [name for pair in pairs for name in pair]

    def refresh(self, now: datetime) -> bool:
        """Append the log lines due by ``now``; False once the job is terminal and its log complete."""
        if self._log_plan is None or self._log_plan[0] is not self.timeline:
            lines = plan_transform_log(
                self.name, self.request, self.timeline, self.failure_reason, self.log_lines_per_host
            )
            self._log_plan = (self.timeline, lines)
        plans = self._log_plan[1]
        streams = list(zip(self.log_stream_names()[: len(plans)], plans, strict=True))
        complete = self.log.flush_streams(streams, now)
        return not (complete and self.timeline.current(now).terminal)

    def describe(self, now: datetime) -> dict[str, Any]:
        """The DescribeTransformJob response at ``now``: only members its shape has."""
        current = self.timeline.current(now)
        response: dict[str, Any] = {k: copy.deepcopy(v) for k, v in self.request.items() if k in _ECHOED}
        # SageMaker fills these in when the request left them out.
        response["TransformInput"].setdefault("CompressionType", "None")
        response["TransformInput"].setdefault("SplitType", "None")
        response.update(
            TransformJobName=self.name,
            TransformJobArn=self.arn,
            TransformJobStatus=current.status,
            CreationTime=self.created,
        )
        started = self.timeline.started("Transforming", now)
        if started is not None:
            response["TransformStartTime"] = started
        if current.terminal:
            response["TransformEndTime"] = current.start
        if current.status == "Failed":
            response["FailureReason"] = self.failure_reason
        return response

    def summary(self, now: datetime) -> dict[str, Any]:
        """The job's entry in ListTransformJobs, which (unlike Describe) has LastModifiedTime."""
        current = self.timeline.current(now)
        summary: dict[str, Any] = {
            "TransformJobName": self.name,
            "TransformJobArn": self.arn,
            "CreationTime": self.created,
        }
        if current.terminal:
            summary["TransformEndTime"] = current.start
        summary["LastModifiedTime"] = current.start
        summary["TransformJobStatus"] = current.status
        if current.status == "Failed":
            summary["FailureReason"] = self.failure_reason
        return summary


def _find(sim: Simulator, context: RequestContext, name: str) -> TransformJob:
    job = sim.store.get(TransformJob.KIND, context.account_id, context.region, name)
    if job is None:
        raise job_not_found(name)
    assert isinstance(job, TransformJob)
    return job


@sagemaker_operation("CreateTransformJob")
def create_transform_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["TransformJobName"]
    arn = f"arn:aws:sagemaker:{context.region}:{context.account_id}:transform-job/{name.lower()}"
    existing = sim.store.get(TransformJob.KIND, context.account_id, context.region, name)
    if existing is not None:
        raise resource_in_use(
            "Job name must be unique within an AWS account and region, and a job with this name already "
            f"exists ({existing.arn})"
        )
    find_model(sim, context, params["ModelName"])  # SageMaker refuses a job for an unknown model
    failure = (params.get("Environment") or {}).get(FAILURE_ENVIRONMENT_VARIABLE)
    job = TransformJob(
        name=name,
        arn=arn,
        account_id=context.account_id,
        region=context.region,
        request={k: copy.deepcopy(v) for k, v in params.items() if k != "Tags"},
        tags=[dict(tag) for tag in params.get("Tags") or []],
        created=sim.clock.now(),
        durations=sim.durations,
        failure_reason=f"AlgorithmError: {failure}" if failure else None,
        log_lines_per_host=sim.log_lines_per_host,
    )
    sim.store.add(TransformJob.KIND, job)
    ensure_log_group(context.account_id, context.region, TRANSFORM_LOG_GROUP)
    sim.track(job)
    return {"TransformJobArn": arn}


@sagemaker_operation("DescribeTransformJob")
def describe_transform_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _find(sim, context, params["TransformJobName"]).describe(sim.clock.now())


@sagemaker_operation("StopTransformJob")
def stop_transform_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    job = _find(sim, context, params["TransformJobName"])
    now = sim.clock.now()
    status = job.status(now)
    if status in TERMINAL_STATUSES:
        raise validation_error(f"The request was rejected because the transform job is in status {status}.")
    if status == "InProgress":
        job.stop(now)
        sim.track(job)
    return {}


_SORT_KEYS = standard_sort_keys("TransformJobName", "TransformJobStatus")


@sagemaker_operation("ListTransformJobs")
def list_transform_jobs(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    jobs = sim.store.of_kind(TransformJob.KIND, context.account_id, context.region)
    summaries = [job.summary(now) for job in jobs if isinstance(job, TransformJob)]
    summaries = filter_summaries(summaries, params, name_key="TransformJobName", status_key="TransformJobStatus")
    return page(
        summaries,
        params,
        items_key="TransformJobSummaries",
        sort_keys=_SORT_KEYS,
        default_sort="CreationTime",
        default_order="Descending",
    )
