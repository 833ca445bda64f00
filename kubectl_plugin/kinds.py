"""The four resource kinds whose logs ``kubectl smlogs`` shows, and what it reads from each.

A kind says where its SageMaker name and status live in the custom resource, where SageMaker writes
its logs, and which statuses end it (with the exit code each maps to). The field names are the
project's (and the Go operator's), so resources written by either operator resolve the same way.

A TrainingJob may also run without SageMaker, as TensorFlow Pods in the cluster (the fallback):
``status.backend: local``. Its logs are then its Pods' (see :mod:`.pods`); the labels and container
name below are the operator's (``sagemaker_operator.local.kube``; a test checks they agree), copied
rather than imported so that the plugin loads none of the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ExitCode, SmlogsError

GROUP = "sagemaker.aws.amazon.com"
VERSION = "v1"

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"

LOCAL_BACKEND = "local"
"""``status.backend`` of a TrainingJob that runs as Pods in the cluster."""
BACKEND_ANNOTATION = f"{GROUP}/backend"
LABEL_UID = f"{GROUP}/training-job-uid"
"""On each Pod of a TrainingJob run in the cluster: the TrainingJob's ``metadata.uid``."""
LABEL_HOST = f"{GROUP}/host"
"""On each such Pod: its SageMaker host name, ``algo-1`` ... ``algo-N``."""
TRAIN_CONTAINER = "train"
"""The container whose log is the replica's training output (an init container in the deciding pod)."""

_JOB_OUTCOMES: Mapping[str, ExitCode] = {
    "Completed": ExitCode.OK,
    "Failed": ExitCode.FAILED,
    "Stopped": ExitCode.STOPPED,
}


@dataclass(frozen=True)
class Child:
    """A training job a tuning job started, as its ``status.trainingJobs`` lists it."""

    name: str
    status: str | None = None


@dataclass(frozen=True)
class View:
    """What the plugin needs from one reading of a custom resource."""

    sagemaker_name: str | None
    """The SageMaker job (or endpoint) name; None until the operator has submitted it."""
    status: str | None
    region: str | None
    endpoint: str | None
    """The SageMaker endpoint URL the operator used (or the spec asks for); None for AWS's default."""
    children: tuple[Child, ...] | None = None
    """Tuning jobs only: the training jobs it started, or None when the status does not list them."""
    failure_reason: str | None = None
    refused: str | None = None
    """The message of a ``Terminal=True`` condition: SageMaker refused the spec, nothing will run."""
    name: str | None = None
    """The resource's ``metadata.name``."""
    uid: str | None = None
    backend: str | None = None
    """``status.backend``: ``local`` for a TrainingJob that runs as Pods in the cluster."""
    backend_reason: str | None = None
    wants_local: bool = False
    """Not started yet, but its spec or annotation asks for the cluster rather than SageMaker."""
    cleanup_policy: str | None = None
    """``spec.fallback.cleanupPolicy`` (``delete``: the Pods, and their logs, go when the job ends)."""

    @property
    def local(self) -> bool:
        """It runs (or ran) in the cluster: its logs are its Pods', not CloudWatch's."""
        return self.backend == LOCAL_BACKEND

    @property
    def started(self) -> bool:
        """There is something to read logs from: a SageMaker job, or Pods in the cluster."""
        return bool(self.sagemaker_name) or self.local

    @property
    def job_name(self) -> str:
        return self.sagemaker_name or self.name or ""


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short: str
    noun: str
    """How messages call the SageMaker side: "training job", "endpoint"."""
    name_field: str
    """The status field holding the SageMaker name."""
    status_field: str
    outcomes: Mapping[str, ExitCode]
    """Statuses after which nothing more is logged, and the exit code of ``-f`` for each."""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def aliases(self) -> frozenset[str]:
        names = {self.singular, self.plural, self.short}
        return frozenset(names | {f"{name}.{GROUP}" for name in names})

    def outcome(self, status: str | None) -> ExitCode | None:
        """The exit code if ``status`` is final, None while the job can still log."""
        return self.outcomes.get(status or "")

    def view(self, obj: Mapping[str, Any]) -> View:
        meta = _mapping(obj.get("metadata"))
        spec = _mapping(obj.get("spec"))
        status = _mapping(obj.get("status"))
        fallback = _mapping(spec.get("fallback")) if self is TRAINING_JOB else {}
        annotations = _mapping(meta.get("annotations")) if self is TRAINING_JOB else {}
        children = None
        if self is TUNING_JOB and isinstance(status.get("trainingJobs"), list):
            children = tuple(
                Child(str(item["trainingJobName"]), _str(item.get("trainingJobStatus")))
                for item in status["trainingJobs"]
                if isinstance(item, Mapping) and item.get("trainingJobName")
            )
        return View(
            sagemaker_name=_str(status.get(self.name_field)),
            status=_str(status.get(self.status_field)),
            region=_str(status.get("region")) or _str(spec.get("region")),
            endpoint=_str(status.get("sageMakerEndpoint")) or _str(spec.get("sageMakerEndpoint")),
            children=children,
            failure_reason=_str(status.get("failureReason")),
            refused=_refusal(status.get("conditions")),
            name=_str(meta.get("name")),
            uid=_str(meta.get("uid")),
            backend=_str(status.get("backend")) if self is TRAINING_JOB else None,
            backend_reason=_str(status.get("backendReason")),
            # The operator's order: spec.fallback.backend, then the annotation (then its own default, unknown here).
            wants_local=(fallback.get("backend") or annotations.get(BACKEND_ANNOTATION)) == LOCAL_BACKEND,
            cleanup_policy=_str(fallback.get("cleanupPolicy")),
        )


TRAINING_JOB = Kind(
    "TrainingJob",
    "trainingjobs",
    "tj",
    "training job",
    "sageMakerTrainingJobName",
    "trainingJobStatus",
    _JOB_OUTCOMES,
)
TUNING_JOB = Kind(
    "HyperparameterTuningJob",
    "hyperparametertuningjobs",
    "hpo",
    "hyperparameter tuning job",
    "sageMakerHyperParameterTuningJobName",
    "hyperParameterTuningJobStatus",
    _JOB_OUTCOMES,
)
TRANSFORM_JOB = Kind(
    "BatchTransformJob",
    "batchtransformjobs",
    "btj",
    "transform job",
    "sageMakerTransformJobName",
    "transformJobStatus",
    _JOB_OUTCOMES,
)
HOSTING_DEPLOYMENT = Kind(
    "HostingDeployment",
    "hostingdeployments",
    "hd",
    "endpoint",
    "endpointName",
    "endpointStatus",
    # An endpoint never completes: -f follows it until Ctrl-C, or until it fails or is deleted.
    {"Failed": ExitCode.FAILED},
)

KINDS = (TRAINING_JOB, TUNING_JOB, TRANSFORM_JOB, HOSTING_DEPLOYMENT)


def kind_named(name: str) -> Kind:
    """The kind for a singular, plural or short name, any case; a usage error otherwise."""
    wanted = name.strip().lower()
    for kind in KINDS:
        if wanted in kind.aliases:
            return kind
    known = ", ".join(f"{k.singular} ({k.short})" for k in KINDS)
    raise SmlogsError(f"unknown kind {name!r}: use one of {known}", ExitCode.USAGE)


def _refusal(conditions: Any) -> str | None:
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, Mapping) and condition.get("type") == "Terminal" and condition.get("status") == "True":
            return str(condition.get("message") or condition.get("reason") or "refused")
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
