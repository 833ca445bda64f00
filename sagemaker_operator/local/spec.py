"""``spec.fallback``: how a TrainingJob runs when it does not run on SageMaker, and when it does not.

The rest of the spec stays SageMaker's CreateTrainingJob request, so the same manifest runs in both
places; this model holds only what SageMaker has no field for. Its shape is kept simple for the CRD
generator (no unions other than Optional, no free-form maps), and every field has a default, so a
manifest without ``fallback`` is valid and runs on SageMaker as before.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sagemaker_operator import GROUP

# Mutable, unlike the spec: lets a user (or a policy engine) pick the backend without editing the job.
BACKEND_ANNOTATION = f"{GROUP}/backend"

# SageMaker's answers that mean "no capacity or quota for this job right now", on CreateTrainingJob
# (error codes) or later in a Failed job's FailureReason (which starts with the code).
CAPACITY_ERROR_CODES = frozenset({"ResourceLimitExceeded", "CapacityError", "InsufficientCapacityError"})


class FallbackError(Exception):
    """A TrainingJob cannot run on the fallback as written; the message says which field to fix."""


class Backend(enum.StrEnum):
    SAGEMAKER = "sagemaker"
    LOCAL = "local"


class Strategy(enum.StrEnum):
    # tf.distribute.MultiWorkerMirroredStrategy: every replica is a worker and runs the script.
    MULTI_WORKER_MIRRORED = "multi-worker-mirrored"
    # tf.distribute.ParameterServerStrategy (TF2): the chief runs the script, workers and ps serve.
    PARAMETER_SERVER = "parameter-server"


class CleanupPolicy(enum.StrEnum):
    # Pods still running when the job ends (parameter servers, idle workers) are always deleted.
    KEEP = "keep"  # keep finished pods, so `kubectl logs` and `kubectl smlogs` still work
    DELETE = "delete"  # delete every pod, the Service and the ConfigMap when the job ends


class CapacityPolicy(enum.StrEnum):
    FAIL = "fail"  # report SageMaker's capacity or quota error (the operator's usual retry rules apply)
    FALLBACK = "fallback"  # run the job on the fallback instead, and say so in status and an Event


class ReplicaResources(BaseModel):
    """Requests for each training container, Kubernetes quantities (``"2"``, ``"500m"``, ``"8Gi"``)."""

    model_config = ConfigDict(extra="forbid")

    cpu: str | None = Field(None, description="CPU request of each replica, e.g. '2' or '1500m'.")
    memory: str | None = Field(None, description="Memory request and limit of each replica, e.g. '8Gi'.")
    gpu: int | None = Field(None, ge=0, description="GPUs (nvidia.com/gpu) of each replica.")


class FallbackSpec(BaseModel):
    """Where and how the job runs when it does not run on SageMaker (``spec.fallback``)."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    backend: Backend | None = Field(
        None,
        description=(
            "Where the job runs: 'sagemaker' or 'local' (TensorFlow distributed training in the cluster). "
            f"Default: the {BACKEND_ANNOTATION} annotation, then the operator's default."
        ),
    )
    strategy: Strategy = Field(
        Strategy.MULTI_WORKER_MIRRORED,
        description="TensorFlow distribution: 'multi-worker-mirrored' or 'parameter-server' (chief, workers, ps).",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Worker replicas (parameter-server: besides the chief). Default: resourceConfig.instanceCount.",
    )
    parameterServers: int | None = Field(
        None, ge=0, le=16, description="Parameter servers (parameter-server strategy only). Default: 1."
    )
    entryPoint: str | None = Field(
        None,
        description="The training script, relative to sourceDir. Default: the sagemaker_program hyperparameter.",
    )
    sourceDir: str | None = Field(
        None,
        description=(
            "Where the script is: an s3:// or file:// .tar.gz, a directory, or a path inside the image. "
            "Default: the sagemaker_submit_directory hyperparameter."
        ),
    )
    image: str | None = Field(
        None, description="Container image of the in-cluster replicas. Default: algorithmSpecification.trainingImage."
    )
    serviceAccountName: str | None = Field(
        None, description="Service account of the in-cluster pods (IRSA role for S3). Default: the namespace's."
    )
    s3Endpoint: str | None = Field(
        None,
        pattern=r"^(https|http)://.*$",
        description="A custom S3 endpoint URL for input data, code and the model (MinIO, the simulator).",
    )
    port: int = Field(2222, ge=1024, le=65535, description="TF_CONFIG port of the in-cluster replicas.")
    resources: ReplicaResources | None = Field(
        None, description="Requests of each in-cluster replica. Default: see sizeFromInstanceType."
    )
    sizeFromInstanceType: bool = Field(
        False,
        description=(
            "Without resources: request the vCPUs, memory and GPUs of resourceConfig.instanceType (when known) "
            "for each replica; otherwise leave requests to the cluster's defaults."
        ),
    )
    cleanupPolicy: CleanupPolicy = Field(
        CleanupPolicy.KEEP,
        description="When the job ends: 'keep' finished pods (for logs) or 'delete' them. Running pods always go.",
    )
    onCapacityError: CapacityPolicy = Field(
        CapacityPolicy.FAIL,
        description="On SageMaker capacity or quota errors: 'fail' as usual, or run on the 'fallback' instead.",
    )

    @model_validator(mode="after")
    def _ps_only_with_parameter_server(self) -> FallbackSpec:
        if self.strategy is Strategy.MULTI_WORKER_MIRRORED and self.parameterServers:
            raise ValueError("parameterServers needs strategy 'parameter-server'")
        if self.strategy is Strategy.PARAMETER_SERVER and self.parameterServers == 0:
            raise ValueError("strategy 'parameter-server' needs at least one parameter server")
        return self

    def ps_count(self) -> int:
        if self.strategy is Strategy.PARAMETER_SERVER:
            return 1 if self.parameterServers is None else self.parameterServers
        return 0


def crd_schema() -> dict[str, Any]:
    """``spec.fallback``'s structural OpenAPI schema for the TrainingJob CRD (refs inlined, Optional flattened,
    bounds, enums and patterns kept so the API server checks them; no defaults, so stored objects stay as
    written)."""
    raw = FallbackSpec.model_json_schema()
    return _structural(raw, raw.get("$defs", {}))


_KEPT = ("enum", "minimum", "maximum", "pattern", "description")


def _structural(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = _structural(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
        return {**target, **({"description": node["description"]} if "description" in node else {})}
    if "anyOf" in node:  # Optional[X]: absent and null mean the same to us
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise TypeError(f"only Optional unions fit a structural schema, got {node}")
        merged = {**{k: v for k, v in node.items() if k != "anyOf"}, **options[0]}
        return _structural(merged, definitions)
    out: dict[str, Any] = {"type": node.get("type", "string")}
    out.update({key: node[key] for key in _KEPT if key in node})
    if out["type"] == "object":
        out["properties"] = {k: _structural(v, definitions) for k, v in node.get("properties", {}).items()}
    return out


def fallback_of(spec: Mapping[str, Any]) -> FallbackSpec:
    """The ``fallback`` of a TrainingJob spec (all defaults when absent), or FallbackError naming the field."""
    raw = spec.get("fallback") or {}
    try:
        return FallbackSpec.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in ("spec.fallback", *error["loc"]))
        raise FallbackError(f"{where}: {error['msg']}") from exc


@dataclass(frozen=True)
class BackendChoice:
    backend: Backend
    reason: str  # for the status and the Event: where the job runs and why

    @property
    def is_local(self) -> bool:
        return self.backend is Backend.LOCAL


def choose_backend(
    spec: Mapping[str, Any], annotations: Mapping[str, str] | None, default: Backend | str = Backend.SAGEMAKER
) -> BackendChoice:
    """Where a new job runs: ``spec.fallback.backend``, else the annotation, else the operator's default.

    The spec wins because it is immutable and reviewed with the job; the annotation is for choosing
    without editing the manifest. Decide once, at creation, and record it: a later annotation change
    must not move a running job.
    """
    fallback = fallback_of(spec)
    if fallback.backend is not None:
        return BackendChoice(fallback.backend, f"spec.fallback.backend is {fallback.backend.value!r}")
    annotated = (annotations or {}).get(BACKEND_ANNOTATION)
    if annotated:
        try:
            backend = Backend(annotated.strip().lower())
        except ValueError:
            raise FallbackError(
                f"annotation {BACKEND_ANNOTATION}: {annotated!r} is not one of {[b.value for b in Backend]}"
            ) from None
        return BackendChoice(backend, f"annotation {BACKEND_ANNOTATION} is {backend.value!r}")
    backend = Backend(default)
    return BackendChoice(backend, f"the operator's default backend is {backend.value!r}")


def is_capacity_error(code: str | None, message: str | None = None) -> bool:
    """True for SageMaker's "no capacity/quota now" answers: an error code, or a FailureReason like
    ``"CapacityError: Unable to provision requested ML compute capacity..."``."""
    if code and code in CAPACITY_ERROR_CODES:
        return True
    head = (message or "").split(":", 1)[0].strip()
    return head in CAPACITY_ERROR_CODES


def should_fall_back(spec: Mapping[str, Any], code: str | None, message: str | None = None) -> BackendChoice | None:
    """The fallback choice when SageMaker refused the job for capacity and the spec opted in, else None."""
    fallback = fallback_of(spec)
    if fallback.onCapacityError is not CapacityPolicy.FALLBACK or not is_capacity_error(code, message):
        return None
    what = code or (message or "").split(":", 1)[0]
    return BackendChoice(Backend.LOCAL, f"SageMaker answered {what} and spec.fallback.onCapacityError is 'fallback'")
