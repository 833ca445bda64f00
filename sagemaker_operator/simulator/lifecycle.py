"""Job lifecycles (training and batch transform), in one place.

A job's whole future is planned when it is created (and re-planned when it is stopped) as a
:class:`Timeline`: a list of phases, each with the time it starts. Its state at any moment is the
last phase that has started by then, so nothing runs in the background::

    InProgress/Starting -> InProgress/Downloading -> InProgress/Training -> InProgress/Uploading
        -> Completed/Completed

    ... -> InProgress/Training -> Failed/Failed            (failure requested by hyperparameter)
    ... -> Stopping/Stopping -> Stopped/Stopped             (StopTrainingJob)
    ... -> Stopping/Stopping -> Stopped/MaxRuntimeExceeded  (StoppingCondition.MaxRuntimeInSeconds)

A transform job is planned the same way (its statuses are only TransformJobStatus; the second
name is internal and never answered)::

    InProgress/Starting -> InProgress/Transforming -> Completed      (or Failed, by Environment)
    ... -> Stopping -> Stopped                                        (StopTransformJob)

Stage lengths come from :class:`StageDurations`, in simulated seconds. Tuning jobs have no plan of
their own: their state follows from the training jobs they launch (see :mod:`.tuning`). Endpoints are
planned operation by operation, each appending its phases (see :mod:`.endpoints`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, NonNegativeFloat

# SageMaker's StatusMessage for each SecondaryStatus.
STATUS_MESSAGES: dict[str, str] = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
}

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})


class StageDurations(BaseModel):
    """How long each stage lasts, in simulated seconds.

    ``starting`` and ``stopping`` apply to transform jobs too (instances are provisioned, then
    released); ``transform`` is how long a transform job works on its input. The ``endpoint_*``
    stages are an endpoint's ``Creating``, ``Updating`` (UpdateEndpoint and
    UpdateEndpointWeightsAndCapacities alike) and ``Deleting`` statuses (see :mod:`.endpoints`).
    """

    model_config = ConfigDict(frozen=True)

    starting: NonNegativeFloat = 5.0
    downloading: NonNegativeFloat = 5.0
    training: NonNegativeFloat = 20.0
    uploading: NonNegativeFloat = 5.0
    stopping: NonNegativeFloat = 5.0
    transform: NonNegativeFloat = 20.0
    endpoint_creating: NonNegativeFloat = 30.0
    endpoint_updating: NonNegativeFloat = 30.0
    endpoint_deleting: NonNegativeFloat = 10.0


@dataclass(frozen=True)
class Phase:
    """One step of a job: its TrainingJobStatus, SecondaryStatus, StatusMessage and start time."""

    status: str
    secondary: str
    message: str
    start: datetime

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Timeline:
    """A job's planned phases (the last one terminal) and the training window logs are written in."""

    phases: tuple[Phase, ...]
    training_start: datetime
    """When the container starts its work (the Training or Transforming stage), as planned."""
    training_end: datetime
    """When the container finishes on its own (end of that stage), as planned."""
    cut: datetime | None
    """When the job was stopped (by request or by MaxRuntimeInSeconds); None if it was not."""

    def reached(self, now: datetime) -> list[Phase]:
        """The phases that have started by ``now`` (always at least the first)."""
        return [self.phases[0]] + [p for p in self.phases[1:] if p.start <= now]

    def current(self, now: datetime) -> Phase:
        return self.reached(now)[-1]

    def started(self, secondary: str, now: datetime) -> datetime | None:
        """When the phase with this SecondaryStatus started, if it has by ``now``."""
        return next((p.start for p in self.reached(now) if p.secondary == secondary), None)

    @property
    def end(self) -> datetime:
        """When the job reaches its terminal phase."""
        return self.phases[-1].start


def plan_training_job(
    created: datetime,
    durations: StageDurations,
    *,
    failure_reason: str | None = None,
    max_runtime: float | None = None,
    stop_at: datetime | None = None,
) -> Timeline:
    """Plan a training job created at ``created``.

    ``failure_reason`` makes it fail at the end of the Training stage. ``max_runtime`` (seconds from
    TrainingStartTime, i.e. the end of Starting) and ``stop_at`` (when StopTrainingJob was called)
    cut the plan short: the current stage ends there and the job goes Stopping, then Stopped.
    """
    stages = [
        ("Starting", durations.starting),
        ("Downloading", durations.downloading),
        ("Training", durations.training),
    ]
    if failure_reason is None:
        stages.append(("Uploading", durations.uploading))
    phases: list[Phase] = []
    t = created
    training_start = training_end = created
    for secondary, seconds in stages:
        phases.append(Phase("InProgress", secondary, STATUS_MESSAGES[secondary], t))
        if secondary == "Training":
            training_start = t
        t += timedelta(seconds=seconds)
        if secondary == "Training":
            training_end = t
    if failure_reason is None:
        phases.append(Phase("Completed", "Completed", STATUS_MESSAGES["Completed"], t))
    else:
        message = f"{STATUS_MESSAGES['Failed']}. Reason: {failure_reason}"
        phases.append(Phase("Failed", "Failed", message, t))

    cut, final = None, "Stopped"
    if max_runtime is not None:
        deadline = created + timedelta(seconds=durations.starting + max_runtime)
        if deadline < training_end:
            cut, final = deadline, "MaxRuntimeExceeded"
    if stop_at is not None and stop_at < phases[-1].start and (cut is None or stop_at < cut):
        cut, final = stop_at, "Stopped"
    if cut is not None:
        phases = [phases[0]] + [p for p in phases[1:] if p.start < cut and not p.terminal]
        phases.append(Phase("Stopping", "Stopping", STATUS_MESSAGES["Stopping"], cut))
        stopped = cut + timedelta(seconds=durations.stopping)
        phases.append(Phase("Stopped", final, STATUS_MESSAGES[final], stopped))
    return Timeline(tuple(phases), training_start, training_end, cut)


TRANSFORM_MESSAGES: dict[str, str] = {
    "Starting": "Launching instances for the transform job",
    "Transforming": "Transforming input data",
    "Completed": "Transform job completed",
    "Failed": "Transform job failed",
    "Stopping": "Stopping the transform job",
    "Stopped": "Transform job stopped",
}


def plan_transform_job(
    created: datetime,
    durations: StageDurations,
    *,
    failure_reason: str | None = None,
    stop_at: datetime | None = None,
) -> Timeline:
    """Plan a transform job: ``starting`` to provision, ``transform`` to work, then its end.

    ``failure_reason`` makes it fail when the work would have finished; ``stop_at`` (when
    StopTransformJob was called) cuts the plan there: Stopping, then Stopped after ``stopping``.
    """
    start = created + timedelta(seconds=durations.starting)
    end = start + timedelta(seconds=durations.transform)
    final = "Completed" if failure_reason is None else "Failed"
    phases = [
        Phase("InProgress", "Starting", TRANSFORM_MESSAGES["Starting"], created),
        Phase("InProgress", "Transforming", TRANSFORM_MESSAGES["Transforming"], start),
        Phase(final, final, TRANSFORM_MESSAGES[final], end),
    ]
    cut = stop_at if stop_at is not None and stop_at < end else None
    if cut is not None:
        phases = [phases[0]] + [p for p in phases[1:] if p.start < cut and not p.terminal]
        phases.append(Phase("Stopping", "Stopping", TRANSFORM_MESSAGES["Stopping"], cut))
        stopped = cut + timedelta(seconds=durations.stopping)
        phases.append(Phase("Stopped", "Stopped", TRANSFORM_MESSAGES["Stopped"], stopped))
    return Timeline(tuple(phases), start, end, cut)
