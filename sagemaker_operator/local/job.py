"""A TrainingJob manifest read the way SageMaker would read it, for the fallback runners.

The spec goes through the same botocore shape walk as the operator's CreateTrainingJob request
(``shapes.to_request``), so the fallback sees exactly the request SageMaker would have received:
hyperparameters as strings, channels, output path, instance count, stopping condition, environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker_operator import API_VERSION
from sagemaker_operator.api import shapes
from sagemaker_operator.api.common import OPERATOR_SPEC_FIELDS
from sagemaker_operator.aws import naming
from sagemaker_operator.local.spec import FallbackError, FallbackSpec, fallback_of

KIND = "TrainingJob"
NAME_MAX_LENGTH = 63  # SageMaker's limit for training job names
_SKIP = frozenset(OPERATOR_SPEC_FIELDS) | {"fallback"}


@dataclass(frozen=True)
class Channel:
    """One input channel, with SageMaker's defaults filled in."""

    name: str
    uri: str  # s3://... or file://...
    distribution: str = "FullyReplicated"  # or ShardedByS3Key
    s3_data_type: str = "S3Prefix"
    input_mode: str = "File"
    content_type: str | None = None
    compression: str = "None"
    record_wrapper: str = "None"

    @property
    def sharded(self) -> bool:
        return self.distribution == "ShardedByS3Key"


@dataclass(frozen=True)
class JobDefinition:
    """What the fallback needs from a TrainingJob: its names, the SageMaker request and ``spec.fallback``."""

    resource_name: str
    namespace: str
    uid: str | None
    job_name: str
    request: dict[str, Any]
    fallback: FallbackSpec
    region: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, document: Any, *, job_name: str | None = None) -> JobDefinition:
        """From a TrainingJob manifest or a custom resource body; FallbackError says what is wrong."""
        if not isinstance(document, Mapping):
            raise FallbackError("not a Kubernetes object: expected a YAML mapping with apiVersion, kind and spec")
        kind, api_version = document.get("kind"), document.get("apiVersion")
        if kind != KIND or api_version != API_VERSION:
            raise FallbackError(f"expected apiVersion {API_VERSION} and kind {KIND}, got {api_version} {kind}")
        meta = document.get("metadata") or {}
        spec = document.get("spec")
        if not isinstance(spec, Mapping):
            raise FallbackError("the TrainingJob has no spec")
        name = meta.get("name")
        if not name:
            raise FallbackError("the TrainingJob has no metadata.name")
        fallback = fallback_of(spec)
        try:
            request = shapes.to_request(shapes.operation("CreateTrainingJob").input_shape, spec, skip=_SKIP)
        except shapes.SpecError as exc:
            raise FallbackError(str(exc)) from exc
        uid = meta.get("uid")
        chosen = job_name or request.get("TrainingJobName")
        if not chosen:
            # The operator's derived SageMaker name when the resource exists; the plain name for a file.
            chosen = naming.derive_name(name, uid, NAME_MAX_LENGTH) if uid else name
        return cls(
            resource_name=name,
            namespace=meta.get("namespace") or "default",
            uid=uid,
            job_name=chosen,
            request=request,
            fallback=fallback,
            region=spec.get("region"),
            labels=dict(meta.get("labels") or {}),
        )

    # ------------------------------------------------------------------ the request, SageMaker's way

    @property
    def hyperparameters(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.request.get("HyperParameters") or {}).items()}

    @property
    def environment(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.request.get("Environment") or {}).items()}

    @property
    def instance_count(self) -> int:
        return int((self.request.get("ResourceConfig") or {}).get("InstanceCount") or 1)

    @property
    def instance_type(self) -> str:
        return str((self.request.get("ResourceConfig") or {}).get("InstanceType") or "local")

    @property
    def image(self) -> str | None:
        return self.fallback.image or (self.request.get("AlgorithmSpecification") or {}).get("TrainingImage")

    @property
    def max_runtime(self) -> int | None:
        value = (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        return int(value) if value else None

    @property
    def output_path(self) -> str:
        path = (self.request.get("OutputDataConfig") or {}).get("S3OutputPath")
        if not path:
            raise FallbackError("spec.outputDataConfig.s3OutputPath is required (s3:// or file://)")
        return str(path)

    @property
    def model_uri(self) -> str:
        """Where SageMaker puts the model: ``<s3OutputPath>/<job name>/output/model.tar.gz``."""
        return f"{self.output_uri}/model.tar.gz"

    @property
    def output_uri(self) -> str:
        return f"{self.output_path.rstrip('/')}/{self.job_name}/output"

    @property
    def checkpoint_uri(self) -> str | None:
        return (self.request.get("CheckpointConfig") or {}).get("S3Uri")

    @property
    def channels(self) -> list[Channel]:
        mode = (self.request.get("AlgorithmSpecification") or {}).get("TrainingInputMode") or "File"
        channels = []
        for raw in self.request.get("InputDataConfig") or []:
            source = (raw.get("DataSource") or {}).get("S3DataSource")
            if not source:
                what = ", ".join(sorted((raw.get("DataSource") or {}).keys())) or "no data source"
                raise FallbackError(
                    f"channel {raw.get('ChannelName')!r}: only S3 (s3:// or file://) data sources run on the "
                    f"fallback, not {what}"
                )
            channels.append(
                Channel(
                    name=str(raw["ChannelName"]),
                    uri=str(source["S3Uri"]),
                    distribution=str(source.get("S3DataDistributionType") or "FullyReplicated"),
                    s3_data_type=str(source.get("S3DataType") or "S3Prefix"),
                    input_mode=str(raw.get("InputMode") or mode),
                    content_type=raw.get("ContentType"),
                    compression=str(raw.get("CompressionType") or "None"),
                    record_wrapper=str(raw.get("RecordWrapperType") or "None"),
                )
            )
        return channels

    def workers(self, override: int | None = None) -> int:
        return override or self.fallback.workers or self.instance_count
