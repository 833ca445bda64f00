"""End-to-end fixtures: the SageMaker simulator over HTTP, the Kubernetes API emulator, the real kopf operator.

Nothing is mocked inside the operator: it talks HTTP to both servers, as it would to AWS and a cluster.
Job progress is driven by the simulator's clock (``sim.clock.advance``), so tests wait for status
changes, never for wall-clock durations.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
import yaml

from sagemaker_operator.api import crds
from sagemaker_operator.kube.emulator import KubeEmulator, serve_emulator
from sagemaker_operator.operator import running_beside
from sagemaker_operator.settings import OperatorContext, OperatorSettings
from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations

ROOT = Path(__file__).resolve().parents[2]
CRDS = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
NAMESPACE = "default"
TRAININGJOBS = f"/apis/sagemaker.aws.amazon.com/v1/namespaces/{NAMESPACE}/trainingjobs"


def sample(file: str, name: str, **spec_changes: Any) -> dict[str, Any]:
    """A manifest from samples/ under another name, with spec fields replaced."""
    document = yaml.safe_load((ROOT / "samples" / file).read_text())
    document["metadata"] = {"name": name, "namespace": NAMESPACE}
    document["spec"].update(spec_changes)
    return document


def training_job(name: str, **spec_changes: Any) -> dict[str, Any]:
    return sample("xgboost-mnist-trainingjob.yaml", name, **spec_changes)


@dataclass
class Sim:
    simulator: Simulator
    url: str

    def calls(self, operation: str) -> int:
        return self.simulator.calls[f"sagemaker.{operation}"]

    def succeeded(self, operation: str) -> int:
        return sum(1 for r in self.simulator.requests if r.operation == operation and r.status_code == 200)

    def client(self, service: str = "sagemaker") -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-west-2")

    def tags(self, arn: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.client().list_tags(ResourceArn=arn)["Tags"]}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials; no profile, config or instance metadata from the machine."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def sim(aws_env: None) -> Iterator[Sim]:
    simulator = Simulator(
        clock=SimClock(speed=0),  # time moves only when a test advances it
        durations=StageDurations(starting=60, downloading=60, training=600, uploading=60, stopping=30),
    )
    with SimulatorServer(simulator) as server:
        yield Sim(simulator, server.url)


@pytest.fixture
def model(sim: Sim) -> Iterator[str]:
    """The SageMaker model the batch transform sample uses (served by moto behind the simulator)."""
    name = "xgboost-mnist-model"
    sim.client().create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"},
    )
    yield name
    sim.client().delete_model(ModelName=name)


@pytest.fixture
def settings(sim: Sim) -> OperatorSettings:
    return OperatorSettings(
        region="us-west-2",
        sagemaker_endpoint=sim.url,
        poll_interval=0.2,
        retry_base_delay=0.2,
        retry_max_delay=1.0,
        delete_max_retries=3,
    )


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulator]:
    async with serve_emulator(crds=CRDS) as emulator:
        yield emulator


@pytest.fixture
async def operator(kube: KubeEmulator, settings: OperatorSettings) -> AsyncIterator[OperatorContext]:
    async with running_beside(str(kube.url), settings) as context:
        yield context


def collection(plural: str) -> str:
    return f"/apis/sagemaker.aws.amazon.com/v1/namespaces/{NAMESPACE}/{plural}"


PLURALS = {kind.kind: kind.plural for kind in crds.KINDS}


class Cluster:
    """What a user does with kubectl, over the emulator's HTTP API (TrainingJobs unless a plural is given)."""

    def __init__(self, kube: KubeEmulator) -> None:
        self.kube = kube

    async def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        headers = {"Content-Type": content_type}
        data = None if body is None else json.dumps(body)
        async with (
            aiohttp.ClientSession(base_url=str(self.kube.url)) as session,
            session.request(method, path, data=data, headers=headers) as response,
        ):
            payload = await response.json(content_type=None)
            return response.status, payload

    async def apply(self, document: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.request("POST", collection(PLURALS[document["kind"]]), document)
        assert status == 201, body
        return body

    async def get(self, name: str, plural: str = "trainingjobs") -> dict[str, Any] | None:
        status, body = await self.request("GET", f"{collection(plural)}/{name}")
        return body if status == 200 else None

    async def patch(self, name: str, patch: dict[str, Any], plural: str = "trainingjobs") -> tuple[int, Any]:
        return await self.request("PATCH", f"{collection(plural)}/{name}", patch, "application/merge-patch+json")

    async def delete(self, name: str, plural: str = "trainingjobs") -> None:
        status, body = await self.request("DELETE", f"{collection(plural)}/{name}")
        assert status in (200, 202), body

    def events(self, name: str) -> list[dict[str, Any]]:
        return self.kube.events_for(name, NAMESPACE)

    def reasons(self, name: str) -> list[str]:
        return [e.get("reason", "") for e in self.events(name)]

    async def status(self, name: str, plural: str = "trainingjobs") -> dict[str, Any]:
        body = await self.get(name, plural)
        return (body or {}).get("status") or {}

    async def gone(self, name: str, plural: str = "trainingjobs") -> bool:
        return await self.get(name, plural) is None

    async def status_when(
        self, name: str, predicate: Callable[[dict[str, Any]], Any], what: str, plural: str = "trainingjobs"
    ) -> dict[str, Any]:
        """Wait until the resource's status satisfies ``predicate``; return that status."""

        async def check() -> dict[str, Any] | None:
            status = await self.status(name, plural)
            return status if predicate(status) else None

        return await eventually(check, what=f"{name}: {what}")


@pytest.fixture
def cluster(kube: KubeEmulator) -> Cluster:
    return Cluster(kube)


async def eventually(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any], timeout: float = 30.0, what: str = ""
) -> Any:
    """Poll until ``check`` returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})
