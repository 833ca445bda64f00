"""Fixtures: a fresh simulator per test, served over real HTTP, and boto3 clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff

from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations

REGION = "us-west-2"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"

ClientFactory = Callable[..., Any]


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Dummy credentials, and nothing from the developer's own AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def fresh_moto() -> None:
    """moto's backends are process-wide: start each test with empty logs, S3 and SageMaker."""
    from moto.backends import get_backend

    for service in ("logs", "s3", "sagemaker"):
        get_backend(service).reset()


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore still retries exactly as configured, but without sleeping between attempts."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@pytest.fixture
def sim() -> Simulator:
    """A simulator whose clock only moves when the test advances it."""
    return Simulator(
        clock=SimClock(speed=0),
        durations=StageDurations(
            starting=2,
            downloading=2,
            training=6,
            uploading=2,
            stopping=2,
            transform=6,
            endpoint_creating=4,
            endpoint_updating=4,
            endpoint_deleting=2,
        ),
    )


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim, host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer) -> ClientFactory:
    """``client("sagemaker", max_attempts=3, ...)``: a boto3 client for the test's server.

    ``max_attempts`` counts the first attempt (standard retry mode); other keywords go to Config.
    """

    def make(
        service: str,
        *,
        max_attempts: int = 1,
        url: str | None = None,
        region: str = REGION,
        access_key_id: str | None = None,
        **config: Any,
    ) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=url or server.url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key="testing" if access_key_id else None,
            config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}, **config),
        )

    return make


@pytest.fixture
def sagemaker(client: ClientFactory) -> Any:
    return client("sagemaker")


@pytest.fixture
def logs(client: ClientFactory) -> Any:
    return client("logs")


def training_request(name: str, **overrides: Any) -> dict[str, Any]:
    """A CreateTrainingJob request like the operator sends for the XGBoost sample."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE_ARN,
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-west-2.amazonaws.com/xgboost:1.7-1",
            "TrainingInputMode": "File",
        },
        "HyperParameters": {"max_depth": "5", "num_round": "20", "objective": "multi:softmax"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://my-bucket/xgboost/train/"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/xgboost/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "team", "Value": "ml-platform"}],
    }
    request.update(overrides)
    return request


def tuning_request(
    name: str,
    *,
    max_jobs: int | None = 6,
    parallel: int = 2,
    objective: str = "Minimize",
    static: dict[str, str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A CreateHyperParameterTuningJob request over the XGBoost training job above."""
    training = training_request(f"{name}-definition")
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": objective, "MetricName": "validation:merror"},
            "ResourceLimits": limits,
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "3", "MaxValue": "10"}],
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
                ],
                "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
            },
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"num_round": "20", "objective": "multi:softmax", **(static or {})},
            "AlgorithmSpecification": training["AlgorithmSpecification"],
            "RoleArn": ROLE_ARN,
            "InputDataConfig": training["InputDataConfig"],
            "OutputDataConfig": training["OutputDataConfig"],
            "ResourceConfig": training["ResourceConfig"],
            "StoppingCondition": training["StoppingCondition"],
        },
        "Tags": [{"Key": "team", "Value": "ml-platform"}],
    }
    request.update(overrides)
    return request


MODEL_NAME = "xgboost-model"


@pytest.fixture
def model(sagemaker: Any) -> str:
    """A SageMaker model for transform jobs, created through the simulator (which owns models)."""
    sagemaker.create_model(
        ModelName=MODEL_NAME,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/xgboost:1.7-1",
            "ModelDataUrl": "s3://my-bucket/xgboost/output/xgb-1/output/model.tar.gz",
        },
    )
    return MODEL_NAME


def transform_request(name: str, *, instances: int = 1, **overrides: Any) -> dict[str, Any]:
    """A CreateTransformJob request over the model of the ``model`` fixture."""
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": MODEL_NAME,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://my-bucket/batch/input"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://my-bucket/batch/output", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": instances},
        "Tags": [{"Key": "team", "Value": "ml-platform"}],
    }
    request.update(overrides)
    return request


IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/xgboost:1.7-1"


def model_request(name: str, *, image: str = IMAGE, failure: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A CreateModel request for hosting; ``failure`` sets the simulator's failure switch in its Environment."""
    container: dict[str, Any] = {"Image": image, "ModelDataUrl": f"s3://my-bucket/models/{name}/model.tar.gz"}
    if failure is not None:
        container["Environment"] = {"SAGEMAKER_SIMULATOR_FAILURE_REASON": failure}
    request: dict[str, Any] = {
        "ModelName": name,
        "ExecutionRoleArn": ROLE_ARN,
        "PrimaryContainer": container,
        "Tags": [{"Key": "team", "Value": "ml-platform"}],
    }
    request.update(overrides)
    return request


def config_request(name: str, *variants: tuple[str, str, int], **overrides: Any) -> dict[str, Any]:
    """A CreateEndpointConfig request with (variant name, model name, instance count) variants."""
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": variant, "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": count}
            for variant, model, count in variants
        ],
        "Tags": [{"Key": "team", "Value": "ml-platform"}],
    }
    request.update(overrides)
    return request
