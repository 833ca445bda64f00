"""Fixtures for the fallback: manifests on disk, an S3 served by the project's simulator, the CLI as a process."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemaker_operator.local import storage

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "samples" / "tensorflow"
SAMPLE = SAMPLE_DIR / "tensorflow-digits-trainingjob.yaml"
LOCAL_TRAIN = [sys.executable, "-m", "sagemaker_operator.local.cli"]
REGION = "us-west-2"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tensorflow: trains real TensorFlow models on CPU (about a minute)")


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and nothing from the developer's own AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)


class S3:
    """A bucket of its own on the simulator's S3 (moto's backends are process-wide)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = storage.s3_client(REGION, url)
        self.bucket = f"test-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})

    def put(self, key: str, body: bytes | Path) -> str:
        data = body.read_bytes() if isinstance(body, Path) else body
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def keys(self) -> list[str]:
        return sorted(o["Key"] for o in self.client.list_objects_v2(Bucket=self.bucket).get("Contents", []))


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """Per module, so no server thread outlives these tests (other tests check that none is left)."""
    from sagemaker_operator.simulator import SimulatorServer

    with SimulatorServer() as server:
        yield server.url


@pytest.fixture
def s3(s3_server: str) -> S3:
    return S3(s3_server)


def manifest(
    *,
    name: str = "local-job",
    hyperparameters: dict[str, str] | None = None,
    channels: dict[str, str] | None = None,
    output: str = "file://out",
    instance_count: int = 1,
    max_runtime: int | None = 600,
    fallback: dict[str, Any] | None = None,
    environment: dict[str, str] | None = None,
    sharded: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A TrainingJob as a user writes it (lowerCamelCase, maps as lists)."""
    spec: dict[str, Any] = {
        "algorithmSpecification": {"trainingImage": "example.com/tf:2.21", "trainingInputMode": "File"},
        "roleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "region": REGION,
        "outputDataConfig": {"s3OutputPath": output},
        "resourceConfig": {"instanceCount": instance_count, "instanceType": "ml.m5.large", "volumeSizeInGB": 5},
        "stoppingCondition": {"maxRuntimeInSeconds": max_runtime} if max_runtime else {},
        "hyperParameters": [{"name": k, "value": v} for k, v in (hyperparameters or {}).items()],
        "inputDataConfig": [
            {
                "channelName": channel,
                "dataSource": {
                    "s3DataSource": {
                        "s3DataType": "S3Prefix",
                        "s3Uri": uri,
                        "s3DataDistributionType": "ShardedByS3Key" if channel in sharded else "FullyReplicated",
                    }
                },
            }
            for channel, uri in (channels or {}).items()
        ],
    }
    if fallback is not None:
        spec["fallback"] = fallback
    if environment:
        spec["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
    if not spec["stoppingCondition"]:
        del spec["stoppingCondition"]
    return {
        "apiVersion": "sagemaker.aws.amazon.com/v1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": spec,
    }


def write_manifest(directory: Path, document: dict[str, Any], name: str = "job.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(copy.deepcopy(document), sort_keys=False))
    return path


def run_local_train(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``local-train`` the way a user runs it: a separate process, its own output, its exit status."""
    return subprocess.run(
        [*LOCAL_TRAIN, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def group_gone(pgid: int) -> bool:
    """True when no live process is left in process group ``pgid``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return False
    return True
