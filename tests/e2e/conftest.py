"""End-to-end fixtures: the SageMaker simulator over HTTP, the Kubernetes API emulator, the real kopf operator.

Nothing is mocked inside the operator: it talks HTTP to both servers, as it would to AWS and a cluster.
Job progress is driven by the simulator's clock (``sim.clock.advance``), so tests wait for status
changes, never for wall-clock durations.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from sagemaker_operator.kube.emulator import KubeEmulator, serve_emulator
from sagemaker_operator.operator import running_beside
from sagemaker_operator.settings import OperatorContext, OperatorSettings
from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations

ROOT = Path(__file__).resolve().parents[2]
CRDS = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
NAMESPACE = "default"
TRAININGJOBS = f"/apis/sagemaker.aws.amazon.com/v1/namespaces/{NAMESPACE}/trainingjobs"


def training_job(name: str, **spec_changes: Any) -> dict[str, Any]:
    """The demo's sample under another name, with spec fields replaced."""
    document = yaml.safe_load((ROOT / "samples" / "xgboost-mnist-trainingjob.yaml").read_text())
    document = copy.deepcopy(document)
    document["metadata"] = {"name": name, "namespace": NAMESPACE}
    document["spec"].update(spec_changes)
    return document


@dataclass
class Sim:
    simulator: Simulator
    url: str

    def calls(self, operation: str) -> int:
        return self.simulator.calls[f"sagemaker.{operation}"]

    def succeeded(self, operation: str) -> int:
        return sum(1 for r in self.simulator.requests if r.operation == operation and r.status_code == 200)


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
        clock=SimClock(),
        durations=StageDurations(starting=60, downloading=60, training=600, uploading=60, stopping=30),
    )
    with SimulatorServer(simulator) as server:
        yield Sim(simulator, server.url)


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


class Cluster:
    """What a user does with kubectl, over the emulator's HTTP API."""

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
        status, body = await self.request("POST", TRAININGJOBS, document)
        assert status == 201, body
        return body

    async def get(self, name: str) -> dict[str, Any] | None:
        status, body = await self.request("GET", f"{TRAININGJOBS}/{name}")
        return body if status == 200 else None

    async def patch(self, name: str, patch: dict[str, Any]) -> tuple[int, Any]:
        return await self.request("PATCH", f"{TRAININGJOBS}/{name}", patch, "application/merge-patch+json")

    async def delete(self, name: str) -> None:
        status, body = await self.request("DELETE", f"{TRAININGJOBS}/{name}")
        assert status in (200, 202), body

    def events(self, name: str) -> list[dict[str, Any]]:
        return self.kube.events_for(name, NAMESPACE)

    def reasons(self, name: str) -> list[str]:
        return [e.get("reason", "") for e in self.events(name)]

    async def status(self, name: str) -> dict[str, Any]:
        body = await self.get(name)
        return (body or {}).get("status") or {}


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
