"""Fixtures for ``kubectl smlogs``: the SageMaker simulator over HTTP, the Kubernetes API emulator
over HTTP, a kubeconfig pointing at it, and helpers to run the plugin in-process or in a thread.

The plugin talks to both servers exactly as it would to AWS and a cluster; nothing inside it is
mocked. Jobs' log lines appear as the test moves the simulator's clock; the resources' status is
written by the test, as the operator would. A TrainingJob that runs in the cluster (the TF fallback)
logs through its Pods: the test creates them as the operator would and writes their containers'
lines into the emulator (``KubeEmulator.append_pod_log``), which plays the kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config

from kubectl_plugin import smlogs
from sagemaker_operator.kube.emulator import KubeEmulator, serve_emulator
from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-west-2"
GROUP = "sagemaker.aws.amazon.com"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"
POLL = "0.05"  # --poll-interval for every test: following takes a few hundred milliseconds

# The kinds the plugin reads. Their CRDs come from crds/; a small stand-in with the same names is
# registered for a kind whose CRD is not there (the plugin reads nothing but names and status).
OTHER_KINDS = {
    "HyperparameterTuningJob": ("hyperparametertuningjobs", "hpo"),
    "BatchTransformJob": ("batchtransformjobs", "btj"),
    "HostingDeployment": ("hostingdeployments", "hd"),
}


def small_crd(kind: str, plural: str, short: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "shortNames": [short]},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


def plugin_crds() -> list[dict[str, Any]]:
    crds = [yaml.safe_load((ROOT / "crds" / f"{GROUP}_trainingjobs.yaml").read_text())]
    for kind, (plural, short) in OTHER_KINDS.items():
        path = ROOT / "crds" / f"{GROUP}_{plural}.yaml"
        crds.append(yaml.safe_load(path.read_text()) if path.exists() else small_crd(kind, plural, short))
    return crds


# -- AWS: the simulator -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials; nothing from the machine's AWS configuration; empty CloudWatch Logs."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_LOGS",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "KUBECONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    from moto.backends import get_backend

    get_backend("logs").reset()  # moto's backends are process-wide


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "log_lines(n): metric lines per host the simulator writes (default 20)")


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Simulator:
    """Training: 2 s starting, 2 s downloading, 20 s training; the clock moves only when told."""
    marker = request.node.get_closest_marker("log_lines")
    return Simulator(
        clock=SimClock(speed=0),
        durations=StageDurations(starting=2, downloading=2, training=20, uploading=2, stopping=2),
        log_lines_per_host=marker.args[0] if marker else 20,
    )


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim) as running:
        yield running


def aws_client(service: str, url: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url, config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def sagemaker(server: SimulatorServer) -> Any:
    return aws_client("sagemaker", server.url)


@pytest.fixture
def logs(server: SimulatorServer) -> Any:
    return aws_client("logs", server.url)


def training_request(name: str, hosts: int = 1, **hyperparameters: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE_ARN,
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-west-2.amazonaws.com/xgboost:1.7-1",
            "TrainingInputMode": "File",
        },
        "HyperParameters": {"max_depth": "5", **hyperparameters},
        "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": hosts, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def put_events(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    """Write events the way an instance's agent would (PutLogEvents), creating group and stream."""
    for create, kwargs in (
        (logs.create_log_group, {"logGroupName": group}),
        (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
    ):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            create(**kwargs)
    for start in range(0, len(events), 10_000):
        batch = [{"timestamp": ms, "message": message} for ms, message in events[start : start + 10_000]]
        response = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
        assert not response.get("rejectedLogEventsInfo"), f"moto refused events: {response['rejectedLogEventsInfo']}"


def now_ms() -> int:
    return int(time.time() * 1000)


def settled(count: Callable[[], int], quiet: float, timeout: float = 30.0) -> int:
    """Wait until ``count`` stays the same for ``quiet`` seconds and return it.

    For "X is not read any more" checks: retiring a stream takes a discovery round or two, which a
    loaded CI machine may stretch, so wait for quiet instead of sleeping a fixed time. Something still
    polled never gives ``quiet`` seconds of rest, and the wait fails after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        before = count()
        time.sleep(quiet)
        if count() == before:
            return before
        assert time.monotonic() < deadline, f"still counting after {timeout:.0f} s: {before} -> {count()}"


# -- Kubernetes: the emulator in a thread of its own --------------------------------------------


class Kube:
    """What the operator (and a user with kubectl) does to resources, over the emulator's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()!r}") from None

    @staticmethod
    def path(plural: str, namespace: str, name: str = "") -> str:
        return f"/apis/{GROUP}/v1/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")

    def create(self, kind: str, plural: str, namespace: str, name: str, status: dict[str, Any] | None) -> None:
        body = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": name}, "spec": {}}
        self.request("POST", self.path(plural, namespace), body)
        if status:
            self.set_status(plural, namespace, name, status)

    def set_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        path = self.path(plural, namespace, name) + "/status"
        self.request("PATCH", path, {"status": status}, "application/merge-patch+json")

    def delete(self, plural: str, namespace: str, name: str) -> None:
        self.request("DELETE", self.path(plural, namespace, name))


@dataclass
class Served:
    """The emulator running in its own thread: its URL, and the object (for ``append_pod_log``)."""

    url: str
    kube: KubeEmulator


@contextlib.contextmanager
def serve(crds: list[dict[str, Any]]) -> Iterator[Served]:
    """The Kubernetes API emulator serving ``crds``, in a thread with its own event loop."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def run() -> None:
        async with serve_emulator(crds=crds) as kube:
            state["served"] = Served(str(kube.url), kube)
            state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), name="kube-emulator", daemon=True)
    thread.start()
    assert ready.wait(30), "the Kubernetes API emulator did not start"
    try:
        yield state["served"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


@contextlib.contextmanager
def emulator(crds: list[dict[str, Any]]) -> Iterator[str]:
    """The Kubernetes API emulator serving ``crds``, in a thread with its own event loop; yields its URL."""
    with serve(crds) as served:
        yield served.url


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    with serve(plugin_crds()) as running:
        yield running


@pytest.fixture(scope="session")
def kube_url(served: Served) -> str:
    return served.url


def write_kubeconfig(path: Path, server: str, namespace: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-checked"}}],
        "contexts": [
            {"name": "emulator", "context": {"cluster": "emulator", "user": "tester", "namespace": namespace}}
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kubeconfig(kube_url: str, namespace: str, tmp_path: Path) -> Path:
    """A kubeconfig whose current context is the emulator, in this test's own namespace."""
    return write_kubeconfig(tmp_path / "kubeconfig", kube_url, namespace)


@dataclass
class Cluster:
    kube: Kube
    namespace: str
    sim_url: str

    def training_job(self, name: str, job: str | None, status: str = "InProgress", **extra: Any) -> None:
        """A TrainingJob the operator has submitted as SageMaker job ``job`` (None: not yet)."""
        fields = {"trainingJobStatus": status, "region": REGION, "sageMakerEndpoint": self.sim_url, **extra}
        if job is not None:
            fields["sageMakerTrainingJobName"] = job
        self.kube.create("TrainingJob", "trainingjobs", self.namespace, name, fields)

    def create(self, plural: str, name: str, **status: Any) -> None:
        """A resource of another kind, its status in the simulator's region and at its URL (unless None)."""
        kind = next(kind for kind, (kinds, _) in OTHER_KINDS.items() if kinds == plural)
        fields = {"region": REGION, "sageMakerEndpoint": self.sim_url, **status}
        self.kube.create(kind, plural, self.namespace, name, {k: v for k, v in fields.items() if v is not None})

    def set(self, plural: str, name: str, **status: Any) -> None:
        self.kube.set_status(plural, self.namespace, name, status)


@pytest.fixture
def cluster(kube_url: str, namespace: str, server: SimulatorServer) -> Cluster:
    return Cluster(Kube(kube_url), namespace, server.url)


# -- running the plugin ---------------------------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class LockedText(io.StringIO):
    """A StringIO another thread can read while the plugin writes."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


class Following:
    """The plugin running in a thread (``-f``), its output readable while it runs."""

    def __init__(self, argv: list[str]) -> None:
        self.out, self.err = LockedText(), LockedText()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(argv,), name="smlogs", daemon=True)
        self.thread.start()

    def _run(self, argv: list[str]) -> None:
        self.code = smlogs.run(argv, self.out, self.err)

    @property
    def lines(self) -> list[str]:
        return self.out.text().splitlines()

    def wait_for(self, check: Callable[[list[str]], bool], what: str, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not check(self.lines):
            if self.code is not None:
                raise AssertionError(f"smlogs exited {self.code} before {what}; stderr: {self.err.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; stdout: {self.lines[-5:]}")
            time.sleep(0.02)
        return self.lines

    def result(self, timeout: float = 20.0) -> Result:
        self.thread.join(timeout)
        assert self.code is not None, f"smlogs did not exit; stdout: {self.lines[-5:]}; stderr: {self.err.text()}"
        return Result(self.code, self.out.text(), self.err.text())


@pytest.fixture
def plugin(kubeconfig: Path) -> Callable[..., Result]:
    """``plugin("tj", "name", "--tail", "3")``: run kubectl smlogs against the emulator, in-process."""

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = smlogs.run(["--kubeconfig", str(kubeconfig), "--poll-interval", POLL, *args], out, err)
        return Result(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def follow(kubeconfig: Path) -> Iterator[Callable[..., Following]]:
    """``follow("tj", "name")``: kubectl smlogs -f in a thread."""
    started: list[Following] = []

    def start(*args: str) -> Following:
        running = Following(["-f", "--kubeconfig", str(kubeconfig), "--poll-interval", POLL, *args])
        started.append(running)
        return running

    yield start
    for running in started:
        running.thread.join(5)
