"""Hyperparameter tuning jobs: Create/Describe/Stop/ListHyperParameterTuningJob(s) and
ListTrainingJobsForHyperParameterTuningJob.

A tuning job launches real simulated training jobs (:class:`~.training.TrainingJob`), so their
DescribeTrainingJob, ListTrainingJobs and CloudWatch streams work as for any other job. Nothing runs
in the background: whenever the simulator refreshes (before every request), :meth:`TuningJob.catch_up`
creates the children whose launch time has come, each with the creation time it was due at. Launch
times follow from the children already running: the first ``MaxParallelTrainingJobs`` start with the
tuning job, and each later one starts when a running child ends, until ``MaxNumberOfTrainingJobs``
have been launched. The tuning job's own status follows from its children:

    InProgress -> Completed     (every child ended and at least one completed)
    InProgress -> Failed        (no child succeeded: after 5 failures, or all failed, as SageMaker)
    InProgress -> Stopping -> Stopped   (StopHyperParameterTuningJob; running children are stopped)

Children are named as SageMaker names them, ``<tuning job>-<3-digit index>-<8 hex digits>``, with
hyperparameters sampled from the ranges (deterministically: the same job name or ``RandomSeed`` gives
the same samples) and an objective value that is a fixed function of those hyperparameters, so there
is a genuine best. Steering, through ``StaticHyperParameters``:

``sagemaker_simulator_failure_reason``
    Children fail with ``AlgorithmError: <string>`` (all of them, unless a rate is given).
``sagemaker_simulator_failure_rate``
    A number from 0 to 1: the share of children that fail, spread evenly (the k-th child fails when
    ``floor(k * rate)`` grows), so exactly ``floor(n * rate)`` of the first n children fail.
``sagemaker_simulator_training_seconds``
    Every child's Training stage, as for a training job. Without it, each child's Training stage is
    the simulator's, scaled by a factor from 0.5 to 1.5 derived from the child's name, so children
    end at different times as real ones do.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .errors import resource_in_use, tuning_job_not_found, validation_error
from .lifecycle import TERMINAL_STATUSES, StageDurations
from .listing import SortKey, filter_summaries, page, standard_sort_keys
from .logs import TRAINING_LOG_GROUP, ensure_log_group
from .protocol import RequestContext, sagemaker_operation
from .training import (
    FAILURE_HYPERPARAMETER,
    TRAINING_SECONDS_HYPERPARAMETER,
    TrainingJob,
    failure_reason_of,
    job_durations,
    training_job_arn,
)

if TYPE_CHECKING:
    from .core import Simulator

FAILURE_RATE_HYPERPARAMETER = "sagemaker_simulator_failure_rate"
OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"
"""SageMaker adds this to the hyperparameters of every training job a tuning job launches."""

FAILURE_LIMIT = 5
"""SageMaker gives a tuning job up as Failed once this many children failed and none succeeded."""

_DEFAULT_FAILURE = "simulated failure (sagemaker_simulator_failure_rate)"
_ENUMERATION_LIMIT = 10_000  # finite search spaces up to this size are sampled without repeats
# What a training job launched from a definition takes from it as is.
_COPIED = (
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)


# -- the search space -----------------------------------------------------------------------------


def _unit(text: str) -> float:
    """A number in [0, 1) fixed by ``text``: where a hyperparameter's optimum lies."""
    return zlib.crc32(text.encode()) / 2**32


@dataclass(frozen=True)
class ParameterRange:
    """One tuned hyperparameter: an Integer or Continuous interval, or Categorical values."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"
    values: tuple[str, ...] = ()

    def _scale(self, x: float) -> float:
        if self.scaling == "Logarithmic":
            return math.log(x)
        if self.scaling == "ReverseLogarithmic":
            return -math.log(1.0 - x)
        return x

    def _unscale(self, y: float) -> float:
        if self.scaling == "Logarithmic":
            return math.exp(y)
        if self.scaling == "ReverseLogarithmic":
            return 1.0 - math.exp(-y)
        return y

    @property
    def size(self) -> int | None:
        """How many distinct values the range has (None for a continuous one)."""
        if self.kind == "Categorical":
            return len(self.values)
        if self.kind == "Integer":
            return int(self.high) - int(self.low) + 1
        return None

    def all_values(self) -> list[str]:
        if self.kind == "Categorical":
            return list(self.values)
        return [str(v) for v in range(int(self.low), int(self.high) + 1)]

    def sample(self, rng: random.Random) -> str:
        if self.kind == "Categorical":
            return rng.choice(self.values)
        x = self._unscale(rng.uniform(self._scale(self.low), self._scale(self.high)))
        x = min(max(x, self.low), self.high)
        return str(round(x)) if self.kind == "Integer" else repr(x)

    def loss(self, value: str) -> float:
        """Squared distance of ``value`` from this hyperparameter's optimum, in [0, 1]."""
        if self.kind == "Categorical":
            preferred = self.values[zlib.crc32(self.name.encode()) % len(self.values)]
            return 0.0 if value == preferred else 0.25
        low, high = self._scale(self.low), self._scale(self.high)
        position = 0.5 if high == low else (self._scale(float(value)) - low) / (high - low)
        return (position - (0.2 + 0.6 * _unit(self.name))) ** 2


def _parse_ranges(ranges: dict[str, Any]) -> list[ParameterRange]:
    """The ranges of a ParameterRanges structure; ValidationException for values SageMaker refuses."""
    parsed: list[ParameterRange] = []
    for kind, member in (("Integer", "IntegerParameterRanges"), ("Continuous", "ContinuousParameterRanges")):
        for item in ranges.get(member) or []:
            name = item["Name"]
            number = int if kind == "Integer" else float
            try:
                low, high = float(number(item["MinValue"])), float(number(item["MaxValue"]))
            except ValueError:
                raise validation_error(
                    f"The MinValue and MaxValue of hyperparameter '{name}' must be {kind.lower()} numbers."
                ) from None
            if low > high:
                raise validation_error(
                    f"The MinValue of hyperparameter '{name}' must not be greater than its MaxValue."
                )
            scaling = item.get("ScalingType", "Auto")
            if scaling == "Logarithmic" and low <= 0:
                raise validation_error(
                    f"Logarithmic scaling works only for ranges that have only values greater than 0 "
                    f"(hyperparameter '{name}')."
                )
            if scaling == "ReverseLogarithmic" and (kind == "Integer" or low < 0 or high >= 1):
                raise validation_error(
                    "Reverse logarithmic scaling works only for continuous ranges that are entirely within "
                    f"the range 0<=x<1.0 (hyperparameter '{name}')."
                )
            parsed.append(ParameterRange(name, kind, low, high, "Linear" if scaling == "Auto" else scaling))
    for item in ranges.get("CategoricalParameterRanges") or []:
        parsed.append(ParameterRange(item["Name"], "Categorical", values=tuple(item["Values"])))
    for item in ranges.get("AutoParameters") or []:  # Autotune's hint, used as the value
        parsed.append(ParameterRange(item["Name"], "Categorical", values=(item["ValueHint"],)))
    names = [r.name for r in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise validation_error(f"Hyperparameters {duplicates} appear in more than one parameter range.")
    return parsed


@dataclass(frozen=True)
class Definition:
    """One training job definition of a tuning job, with what the simulator derived from it."""

    index: int
    request: dict[str, Any]
    objective_name: str
    objective_type: str
    ranges: tuple[ParameterRange, ...]
    seed: str
    combinations: tuple[dict[str, str], ...] | None
    """Every point of a small finite space, in launch order; None to sample at random."""
    failure_reason: str | None
    failure_rate: float

    @property
    def name(self) -> str | None:
        return self.request.get("DefinitionName")

    @property
    def static(self) -> dict[str, str]:
        return dict(self.request.get("StaticHyperParameters") or {})

    def tuned(self, ordinal: int) -> dict[str, str]:
        """The hyperparameters of this definition's ``ordinal``-th training job (from 0)."""
        if self.combinations is not None:
            return dict(self.combinations[ordinal % len(self.combinations)])
        rng = random.Random(f"{self.seed}/{self.index}/{ordinal}")
        return {r.name: r.sample(rng) for r in self.ranges}

    def objective(self, tuned: dict[str, str]) -> float:
        """The objective a job with these hyperparameters reports: best at the hidden optimum."""
        losses = [r.loss(tuned[r.name]) for r in self.ranges]
        distance = sum(losses) / len(losses) if losses else 0.0
        value = 0.05 + 0.4 * distance if self.objective_type == "Minimize" else 0.95 - 0.4 * distance
        return round(value, 6)

    def fails(self, ordinal: int) -> bool:
        """Whether the ``ordinal``-th job fails: the failures are spread evenly at the requested rate."""
        k = ordinal + 1
        return math.floor(k * self.failure_rate + 1e-9) > math.floor((k - 1) * self.failure_rate + 1e-9)

    def training_request(self, name: str, hyperparameters: dict[str, str]) -> dict[str, Any]:
        """The CreateTrainingJob request SageMaker would make for one of this definition's jobs."""
        request: dict[str, Any] = {k: copy.deepcopy(self.request[k]) for k in _COPIED if k in self.request}
        algorithm = self.request["AlgorithmSpecification"]
        request["AlgorithmSpecification"] = {
            k: copy.deepcopy(v)
            for k, v in algorithm.items()
            if k in ("TrainingImage", "TrainingInputMode", "AlgorithmName", "MetricDefinitions")
        }
        if "ResourceConfig" not in request:
            tuning = self.request.get("HyperParameterTuningResourceConfig") or {}
            first = (tuning.get("InstanceConfigs") or [{}])[0]
            resources = {k: tuning.get(k, first.get(k)) for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB")}
            request["ResourceConfig"] = {k: v for k, v in resources.items() if v is not None}
        request["TrainingJobName"] = name
        request["HyperParameters"] = hyperparameters
        return request


def _definitions(name: str, config: dict[str, Any], params: dict[str, Any]) -> list[Definition]:
    """The request's training job definitions, checked as SageMaker checks them."""
    single, several = params.get("TrainingJobDefinition"), params.get("TrainingJobDefinitions")
    if (single is None) == (several is None):
        raise validation_error("Exactly one of TrainingJobDefinition and TrainingJobDefinitions must be specified.")
    requests = [single] if single is not None else list(several or [])
    if several is not None and any(not d.get("DefinitionName") for d in requests):
        raise validation_error("Every training job definition in TrainingJobDefinitions must have a DefinitionName.")
    strategy = config["Strategy"]
    seed = str(config["RandomSeed"]) if config.get("RandomSeed") is not None else name
    definitions = []
    for index, request in enumerate(requests):
        objective = request.get("TuningObjective") or config.get("HyperParameterTuningJobObjective")
        if not objective:
            raise validation_error(
                "The tuning job needs an objective: set HyperParameterTuningJobObjective in "
                "HyperParameterTuningJobConfig or TuningObjective in the training job definition."
            )
        ranges = _parse_ranges(request.get("HyperParameterRanges") or config.get("ParameterRanges") or {})
        static = request.get("StaticHyperParameters") or {}
        both = sorted(r.name for r in ranges if r.name in static)
        if both:
            raise validation_error(
                f"Hyperparameters {both} are both static and tunable: remove them from StaticHyperParameters "
                "or from the parameter ranges."
            )
        if strategy == "Grid" and any(r.kind != "Categorical" for r in ranges):
            raise validation_error("The Grid strategy supports only categorical parameter ranges.")
        if "ResourceConfig" not in request and "HyperParameterTuningResourceConfig" not in request:
            raise validation_error(
                "A training job definition must specify ResourceConfig or HyperParameterTuningResourceConfig."
            )
        job_durations(StageDurations(), static)  # rejects a malformed training seconds hyperparameter now
        reason, rate = static.get(FAILURE_HYPERPARAMETER), static.get(FAILURE_RATE_HYPERPARAMETER)
        failure_rate = 1.0 if reason else 0.0
        if rate is not None:
            try:
                failure_rate = float(rate)
            except ValueError:
                failure_rate = -1.0
            if not 0.0 <= failure_rate <= 1.0:
                raise validation_error(f"Hyperparameter {FAILURE_RATE_HYPERPARAMETER} must be a number from 0 to 1.")
        definitions.append(
            Definition(
                index=index,
                request=request,
                objective_name=objective["MetricName"],
                objective_type=objective["Type"],
                ranges=tuple(ranges),
                seed=seed,
                combinations=_combinations(ranges, strategy, f"{seed}/{index}"),
                failure_reason=reason or (_DEFAULT_FAILURE if failure_rate > 0 else None),
                failure_rate=failure_rate,
            )
        )
    return definitions


def _space_size(ranges: list[ParameterRange] | tuple[ParameterRange, ...]) -> int | None:
    sizes = [r.size for r in ranges]
    return None if None in sizes else math.prod(s for s in sizes if s is not None)


def _combinations(ranges: list[ParameterRange], strategy: str, seed: str) -> tuple[dict[str, str], ...] | None:
    """All points of a small finite space, in Grid order or shuffled; None for a space to sample."""
    size = _space_size(ranges)
    if size is None or size > _ENUMERATION_LIMIT:
        return None
    points = [
        dict(zip([r.name for r in ranges], values, strict=True))
        for values in itertools.product(*(r.all_values() for r in ranges))
    ]
    if strategy != "Grid":
        random.Random(seed).shuffle(points)
    return tuple(points)


def _max_jobs(config: dict[str, Any], definitions: list[Definition]) -> int:
    """MaxNumberOfTrainingJobs, or for Grid without it the number of grid points; checked for room."""
    limits = config["ResourceLimits"]
    sizes = [_space_size(d.ranges) for d in definitions]
    max_jobs = limits.get("MaxNumberOfTrainingJobs")
    if max_jobs is None:
        if config["Strategy"] != "Grid":
            raise validation_error(
                f"ResourceLimits.MaxNumberOfTrainingJobs is required for the {config['Strategy']} strategy."
            )
        max_jobs = sum(s or 0 for s in sizes)
    total = None if None in sizes else sum(s for s in sizes if s is not None)
    if total is not None and total < max_jobs:
        raise validation_error(
            "You don't have enough combinations of hyperparameter ranges. The total number of hyperparameter "
            f"combinations for the provided ranges [{float(total)}] must be equal or greater than the value of "
            f"MaxNumberOfJobs, [{max_jobs}]. Provide additional ranges."
        )
    return int(max_jobs)


# -- the tuning job -------------------------------------------------------------------------------


class Host(Protocol):
    """Where a tuning job puts the training jobs it launches."""

    def launch(self, job: TrainingJob) -> None: ...

    def taken(self, name: str) -> bool: ...


@dataclass(eq=False)
class Trial:
    """One training job a tuning job launched, with what the tuning job knows about it."""

    job: TrainingJob
    definition: Definition
    tuned: dict[str, str]
    value: float
    """The objective value the job reports once it has completed."""

    def objective_status(self, now: datetime) -> str:
        status = self.job.status(now)
        if status == "Completed":
            return "Succeeded"
        return "Failed" if status in TERMINAL_STATUSES else "Pending"


@dataclass(eq=False)
class TuningJob:
    """A simulated hyperparameter tuning job: its request, the training jobs it launched, a stop."""

    KIND = "hyper-parameter-tuning-job"

    name: str
    arn: str
    account_id: str
    region: str
    request: dict[str, Any]
    tags: list[dict[str, str]]
    created: datetime
    durations: StageDurations
    log_lines_per_host: int
    definitions: list[Definition]
    max_jobs: int
    max_parallel: int
    host: Host = field(repr=False)
    trials: list[Trial] = field(default_factory=list)
    stop_requested: datetime | None = None

    @property
    def children(self) -> list[TrainingJob]:
        """The training jobs launched so far, in launch order."""
        return [trial.job for trial in self.trials]

    # -- launching ----------------------------------------------------------------------------------

    def catch_up(self, now: datetime) -> None:
        """Launch every training job due by ``now`` (each created at the moment it was due)."""
        while (at := self._next_launch()) is not None and at <= now:
            self._launch(len(self.trials), at)

    def _next_launch(self) -> datetime | None:
        """When the next child starts: once fewer than MaxParallelTrainingJobs are running."""
        launched = len(self.trials)
        if launched >= self.max_jobs:
            return None
        if launched < self.max_parallel:
            at = self.created
        else:
            ends = sorted(job.timeline.end for job in self.children)
            at = max(self.children[-1].created, ends[launched - self.max_parallel])
        halt = self._halt()
        if halt is not None and halt[0] <= at:
            return None
        if self.stop_requested is not None and self.stop_requested <= at:
            return None
        return at

    def _halt(self) -> tuple[datetime, int] | None:
        """When (and after how many failures) SageMaker gives up because no child succeeded."""
        limit = min(FAILURE_LIMIT, self.max_jobs)
        failed = 0
        for job in sorted(self.children, key=lambda j: j.timeline.end):
            final = job.timeline.phases[-1].status
            if final == "Completed":
                return None
            if final == "Failed":
                failed += 1
                if failed >= limit:
                    return job.timeline.end, failed
        return None

    def _launch(self, index: int, at: datetime) -> None:
        definition = self.definitions[index % len(self.definitions)]
        ordinal = index // len(self.definitions)
        tuned = definition.tuned(ordinal)
        hyperparameters = definition.static
        hyperparameters.pop(FAILURE_RATE_HYPERPARAMETER, None)
        hyperparameters.pop(FAILURE_HYPERPARAMETER, None)
        if definition.failure_reason is not None and definition.fails(ordinal):
            hyperparameters[FAILURE_HYPERPARAMETER] = definition.failure_reason
        hyperparameters.update(tuned)
        hyperparameters[OBJECTIVE_HYPERPARAMETER] = definition.objective_name
        name = self._child_name(index + 1)
        durations = job_durations(self.durations, hyperparameters)
        if TRAINING_SECONDS_HYPERPARAMETER not in hyperparameters:
            factor = 0.5 + (zlib.crc32(name.encode()) % 1001) / 1000
            durations = durations.model_copy(update={"training": durations.training * factor})
        value = definition.objective(tuned)
        job = TrainingJob(
            name=name,
            arn=training_job_arn(self.region, self.account_id, name),
            account_id=self.account_id,
            region=self.region,
            request=definition.training_request(name, hyperparameters),
            tags=[dict(tag) for tag in self.tags],  # SageMaker tags the training jobs like the tuning job
            created=at,
            durations=durations,
            failure_reason=failure_reason_of(hyperparameters),
            log_lines_per_host=self.log_lines_per_host,
            tuning_job_arn=self.arn,
            objective={"MetricName": definition.objective_name, "Value": value},
        )
        self.trials.append(Trial(job, definition, tuned, value))
        self.host.launch(job)

    def _child_name(self, number: int) -> str:
        salt = 0
        while True:
            digest = zlib.crc32(f"{self.arn}/{number}/{salt}".encode())
            name = f"{self.name}-{number:03d}-{digest:08x}"
            if not self.host.taken(name):
                return name
            salt += 1

    # -- state --------------------------------------------------------------------------------------

    def state(self, now: datetime) -> tuple[str, datetime, str | None]:
        """(HyperParameterTuningJobStatus, when it began, FailureReason) at ``now``."""
        if self.stop_requested is not None:
            stopped = self.stop_requested + timedelta(seconds=self.durations.stopping)
            return ("Stopped", stopped, None) if now >= stopped else ("Stopping", self.stop_requested, None)
        children = self.children
        halt = self._halt()
        done_launching = len(children) >= self.max_jobs or (halt is not None and halt[0] <= now)
        if not (done_launching and children and all(job.timeline.end <= now for job in children)):
            return "InProgress", self.created, None
        end = max(job.timeline.end for job in children)
        if any(job.timeline.phases[-1].status == "Completed" for job in children):
            return "Completed", end, None
        attempts = halt[1] if halt is not None else len(children)
        reason = (
            f"No training job succeeded after {attempts} attempts. For additional details, please take a look "
            "at the training job failures by listing training jobs for the hyperparameter tuning job."
        )
        return "Failed", end, reason

    def status(self, now: datetime) -> str:
        return self.state(now)[0]

    def last_modified(self, now: datetime) -> datetime:
        """The last change of status or of a counter: a launch, a child's end, the job's own status."""
        moments = [self.created, self.state(now)[1]]
        for job in self.children:
            moments += [job.created, job.timeline.end]
        return max(moment for moment in moments if moment <= now)

    def refresh(self, now: datetime) -> bool:
        """Launch the children due by ``now``; False once the tuning job is terminal."""
        self.catch_up(now)
        return self.status(now) not in TERMINAL_STATUSES

    def stop(self, now: datetime) -> list[TrainingJob]:
        """Stop launching and stop the running children; returns the children stopped."""
        self.stop_requested = now
        stopped = [job for job in self.children if job.status(now) == "InProgress"]
        for job in stopped:
            job.stop(now)
        return stopped

    # -- responses ------------------------------------------------------------------------------------

    def counters(self, now: datetime) -> tuple[dict[str, int], dict[str, int]]:
        """TrainingJobStatusCounters and ObjectiveStatusCounters (a stopping child is still in progress)."""
        jobs = dict.fromkeys(("Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped"), 0)
        objectives = dict.fromkeys(("Succeeded", "Pending", "Failed"), 0)
        for trial in self.trials:
            status = trial.job.status(now)
            key = {"Failed": "NonRetryableError", "Stopping": "InProgress"}.get(status, status)
            jobs[key] += 1
            objectives[trial.objective_status(now)] += 1
        return jobs, objectives

    def trial_summary(self, trial: Trial, now: datetime) -> dict[str, Any]:
        """A HyperParameterTrainingJobSummary."""
        described = trial.job.describe(now)
        summary: dict[str, Any] = {}
        if trial.definition.name:
            summary["TrainingJobDefinitionName"] = trial.definition.name
        summary.update(
            TrainingJobName=trial.job.name,
            TrainingJobArn=trial.job.arn,
            TuningJobName=self.name,
            CreationTime=trial.job.created,
        )
        for key in ("TrainingStartTime", "TrainingEndTime"):
            if key in described:
                summary[key] = described[key]
        summary["TrainingJobStatus"] = described["TrainingJobStatus"]
        summary["TunedHyperParameters"] = dict(trial.tuned)
        if "FailureReason" in described:
            summary["FailureReason"] = described["FailureReason"]
        objective_status = trial.objective_status(now)
        if objective_status == "Succeeded":
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "MetricName": trial.definition.objective_name,
                "Value": trial.value,
            }
        summary["ObjectiveStatus"] = objective_status
        return summary

    def best(self, now: datetime) -> Trial | None:
        """The completed child with the best objective (the earliest launched among equals)."""
        completed = [t for t in self.trials if t.job.status(now) == "Completed"]
        if not completed:
            return None
        return min(completed, key=lambda t: t.value if t.definition.objective_type == "Minimize" else -t.value)

    def config(self) -> dict[str, Any]:
        """HyperParameterTuningJobConfig as DescribeHyperParameterTuningJob answers it (defaults filled)."""
        config = copy.deepcopy(self.request["HyperParameterTuningJobConfig"])
        config.setdefault("TrainingJobEarlyStoppingType", "Off")
        config["ResourceLimits"].setdefault("MaxNumberOfTrainingJobs", self.max_jobs)
        return config

    def describe(self, now: datetime) -> dict[str, Any]:
        """The DescribeHyperParameterTuningJob response at ``now``."""
        self.catch_up(now)
        status, since, failure_reason = self.state(now)
        jobs, objectives = self.counters(now)
        response: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobConfig": self.config(),
        }
        for key in ("TrainingJobDefinition", "TrainingJobDefinitions", "WarmStartConfig", "Autotune"):
            if key in self.request:
                response[key] = copy.deepcopy(self.request[key])
        response.update(
            HyperParameterTuningJobStatus=status,
            CreationTime=self.created,
            LastModifiedTime=self.last_modified(now),
            TrainingJobStatusCounters=jobs,
            ObjectiveStatusCounters=objectives,
        )
        if status in TERMINAL_STATUSES:
            response["HyperParameterTuningEndTime"] = since
        best = self.best(now)
        if best is not None:
            response["BestTrainingJob"] = self.trial_summary(best, now)
        if failure_reason is not None:
            response["FailureReason"] = failure_reason
        return response

    def summary(self, now: datetime) -> dict[str, Any]:
        """The job's entry in ListHyperParameterTuningJobs."""
        described = self.describe(now)
        keys = (
            "HyperParameterTuningJobName",
            "HyperParameterTuningJobArn",
            "HyperParameterTuningJobStatus",
            "CreationTime",
            "HyperParameterTuningEndTime",
            "LastModifiedTime",
            "TrainingJobStatusCounters",
            "ObjectiveStatusCounters",
        )
        summary = {k: described[k] for k in keys if k in described}
        summary["Strategy"] = described["HyperParameterTuningJobConfig"]["Strategy"]
        summary["ResourceLimits"] = described["HyperParameterTuningJobConfig"]["ResourceLimits"]
        return summary


# -- operations -----------------------------------------------------------------------------------


class _StoreHost:
    """Launches a tuning job's children into the simulator, like CreateTrainingJob would."""

    def __init__(self, sim: Simulator, account_id: str, region: str) -> None:
        self.sim, self.account_id, self.region = sim, account_id, region

    def launch(self, job: TrainingJob) -> None:
        self.sim.store.add(TrainingJob.KIND, job)
        self.sim.track(job)

    def taken(self, name: str) -> bool:
        return self.sim.store.get(TrainingJob.KIND, self.account_id, self.region, name) is not None


def _find(sim: Simulator, context: RequestContext, name: str) -> TuningJob:
    job = sim.store.get(TuningJob.KIND, context.account_id, context.region, name)
    if job is None:
        raise tuning_job_not_found(name)
    assert isinstance(job, TuningJob)
    return job


@sagemaker_operation("CreateHyperParameterTuningJob")
def create_tuning_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["HyperParameterTuningJobName"]
    if sim.store.get(TuningJob.KIND, context.account_id, context.region, name) is not None:
        raise resource_in_use(
            f"A hyperparameter tuning job with the name, {name}, already exists. Choose a different name."
        )
    config = params["HyperParameterTuningJobConfig"]
    definitions = _definitions(name, config, params)
    job = TuningJob(
        name=name,
        arn=f"arn:aws:sagemaker:{context.region}:{context.account_id}:hyper-parameter-tuning-job/{name.lower()}",
        account_id=context.account_id,
        region=context.region,
        request={k: copy.deepcopy(v) for k, v in params.items() if k != "Tags"},
        tags=[dict(tag) for tag in params.get("Tags") or []],
        created=sim.clock.now(),
        durations=sim.durations,
        log_lines_per_host=sim.log_lines_per_host,
        definitions=definitions,
        max_jobs=_max_jobs(config, definitions),
        max_parallel=config["ResourceLimits"]["MaxParallelTrainingJobs"],
        host=_StoreHost(sim, context.account_id, context.region),
    )
    sim.store.add(TuningJob.KIND, job)
    ensure_log_group(context.account_id, context.region, TRAINING_LOG_GROUP)
    sim.track(job)
    job.catch_up(job.created)
    return {"HyperParameterTuningJobArn": job.arn}


@sagemaker_operation("DescribeHyperParameterTuningJob")
def describe_tuning_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _find(sim, context, params["HyperParameterTuningJobName"]).describe(sim.clock.now())


@sagemaker_operation("StopHyperParameterTuningJob")
def stop_tuning_job(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    job = _find(sim, context, params["HyperParameterTuningJobName"])
    now = sim.clock.now()
    job.catch_up(now)
    status = job.status(now)
    if status in TERMINAL_STATUSES:
        raise validation_error(f"The request was rejected because the hyperparameter tuning job is in status {status}.")
    if status == "InProgress":
        for child in job.stop(now):
            sim.track(child)
        sim.track(job)
    return {}


_TUNING_SORT_KEYS = standard_sort_keys("HyperParameterTuningJobName", "HyperParameterTuningJobStatus")


@sagemaker_operation("ListHyperParameterTuningJobs")
def list_tuning_jobs(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    jobs = sim.store.of_kind(TuningJob.KIND, context.account_id, context.region)
    summaries = [job.summary(now) for job in jobs if isinstance(job, TuningJob)]
    summaries = filter_summaries(
        summaries, params, name_key="HyperParameterTuningJobName", status_key="HyperParameterTuningJobStatus"
    )
    return page(
        summaries,
        params,
        items_key="HyperParameterTuningJobSummaries",
        sort_keys=_TUNING_SORT_KEYS,
        default_sort="Name",
        default_order="Ascending",
    )


_OBJECTIVE = "FinalHyperParameterTuningJobObjectiveMetric"
_CHILD_SORT_KEYS: dict[str, SortKey] = {
    **standard_sort_keys("TrainingJobName", "TrainingJobStatus"),
    "FinalObjectiveMetricValue": lambda s: (s[_OBJECTIVE]["Value"], s["TrainingJobName"]),
}


@sagemaker_operation("ListTrainingJobsForHyperParameterTuningJob")
def list_training_jobs_for_tuning_job(
    sim: Simulator, context: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    job = _find(sim, context, params["HyperParameterTuningJobName"])
    now = sim.clock.now()
    job.catch_up(now)
    summaries = [job.trial_summary(trial, now) for trial in job.trials]
    summaries = filter_summaries(summaries, params, name_key="TrainingJobName", status_key="TrainingJobStatus")
    if params.get("SortBy") == "FinalObjectiveMetricValue":
        # SageMaker leaves out the jobs without an objective value when sorting by it.
        summaries = [s for s in summaries if _OBJECTIVE in s]
    return page(
        summaries,
        params,
        items_key="TrainingJobSummaries",
        sort_keys=_CHILD_SORT_KEYS,
        default_sort="Name",
        default_order="Ascending",
    )
