"""``sagemaker-operator demo``: the whole loop on a laptop, with no AWS account and no cluster.

It starts the SageMaker simulator and (unless a kubeconfig is given) the in-process Kubernetes API
emulator, runs the operator beside them, applies a TrainingJob and shows what a user would see
with kubectl: the job moving through its states, its Events, its log lines. Then it deletes the
resource and stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import kopf
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Event

from sagemaker_operator import GROUP, VERSION
from sagemaker_operator.api import crds
from sagemaker_operator.aws.sync import JOB_FINAL
from sagemaker_operator.kube import login
from sagemaker_operator.operator import running_beside
from sagemaker_operator.settings import OperatorSettings
from sagemaker_operator.simulator import FAILURE_HYPERPARAMETER, Simulator, SimulatorServer, StageDurations

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DEFAULT_SAMPLE = SAMPLES / "xgboost-mnist-trainingjob.yaml"
TUNING_SAMPLE = SAMPLES / "xgboost-mnist-hpo.yaml"
# Short stages so the demo takes about 20 seconds; real jobs take minutes to hours.
DEMO_DURATIONS = StageDurations(starting=3, downloading=3, training=8, uploading=2, stopping=2)
TrainingJobResource = create_namespaced_resource(GROUP, VERSION, "TrainingJob", "trainingjobs")
TuningJobResource = create_namespaced_resource(GROUP, VERSION, "HyperparameterTuningJob", "hyperparametertuningjobs")
Echo = Callable[[str], None]


class DemoError(Exception):
    """Something the user must fix before the demo can run; the message says what."""


@dataclass
class KubeTarget:
    description: str
    connection: str | kopf.ConnectionInfo
    client: AsyncClient
    kubeconfig_args: list[str]  # how kubectl (and kubectl smlogs) would reach the same cluster


def load_sample(path: Path, fail_reason: str | None) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DemoError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("kind") not in VIEWS:
        raise DemoError(f"{path} is not a TrainingJob or HyperparameterTuningJob manifest (what the demo runs)")
    if fail_reason:
        spec = document["spec"]
        container = spec.get("trainingJobDefinition", spec)
        key = "staticHyperParameters" if container is not spec else "hyperParameters"
        container.setdefault(key, []).append({"name": FAILURE_HYPERPARAMETER, "value": fail_reason})
    return document


@contextlib.asynccontextmanager
async def kube_target(kubeconfig: str | None, context: str | None, namespace: str) -> AsyncIterator[KubeTarget]:
    """The in-process emulator, or the cluster of a kubeconfig/context if one was asked for."""
    if kubeconfig is None and context is None:
        from sagemaker_operator.kube.emulator import serve_emulator

        async with serve_emulator(crds=[crds.crd(kind) for kind in crds.KINDS], request_log_limit=500) as kube:
            document = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": str(kube.url)}}],
                "users": [{"name": "demo", "user": {"token": "demo"}}],
                "contexts": [{"name": "demo", "context": {"cluster": "emulator", "user": "demo"}}],
                "current-context": "demo",
            }
            client = AsyncClient(config=KubeConfig.from_dict(document), namespace=namespace)
            with tempfile.TemporaryDirectory(prefix="sagemaker-demo-") as directory:
                path = Path(directory) / "kubeconfig"
                path.write_text(yaml.safe_dump(document))
                try:
                    description = f"in-process emulator at {kube.url} (no cluster used)"
                    yield KubeTarget(description, str(kube.url), client, ["--kubeconfig", str(path)])
                finally:
                    await client.close()
        return
    try:
        connection = login.connection_info(kubeconfig, context)
        paths = login.kubeconfig_paths(kubeconfig)
        single = KubeConfig.from_file(paths[0]).get(context_name=context)
    except (login.KubeconfigError, OSError, KeyError) as exc:
        raise DemoError(f"cannot use the kubeconfig: {exc}") from exc
    client = AsyncClient(config=single, namespace=namespace)
    args = [*(["--kubeconfig", kubeconfig] if kubeconfig else []), *(["--context", context] if context else [])]
    try:
        yield KubeTarget(f"cluster {connection.server} (kubeconfig)", connection, client, args)
    finally:
        await client.close()


async def ensure_crds(client: AsyncClient, echo: Echo) -> None:
    """On a real cluster, install our CRDs if they are missing (the emulator has them already)."""
    for kind in crds.KINDS:
        document = crds.crd(kind)
        try:
            await client.get(CustomResourceDefinition, document["metadata"]["name"])
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            await client.create(cast(CustomResourceDefinition, CustomResourceDefinition.from_dict(document)))
            echo(f"customresourcedefinition.apiextensions.k8s.io/{document['metadata']['name']} created")
            await asyncio.sleep(2)  # let the API server start serving the new kind


def _age(created: str | None) -> str:
    if not created:
        return "0s"
    started = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    seconds = int((datetime.datetime.now(datetime.UTC) - started).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


Column = tuple[str, int, Callable[[dict[str, Any]], Any]]  # header, width, status -> cell


@dataclass(frozen=True)
class DemoKind:
    """How the demo shows one kind: the columns of `kubectl get` and which training job's logs to print."""

    resource: Any  # a lightkube generic resource class
    status_field: str
    columns: tuple[Column, ...]
    logged_job: Callable[[dict[str, Any]], str | None]
    summary: Callable[[dict[str, Any]], list[str]]


TRAINING_VIEW = DemoKind(
    resource=TrainingJobResource,
    status_field="trainingJobStatus",
    columns=(
        ("STATUS", 12, lambda s: s.get("trainingJobStatus")),
        ("SECONDARY-STATUS", 18, lambda s: s.get("secondaryStatus")),
        ("SAGEMAKER-JOB-NAME", 36, lambda s: s.get("sageMakerTrainingJobName")),
    ),
    logged_job=lambda s: s.get("sageMakerTrainingJobName"),
    summary=lambda s: [f"Model artifacts: {s['modelPath']}"] if s.get("modelPath") else [],
)


def _best(status: dict[str, Any]) -> dict[str, Any]:
    return status.get("bestTrainingJob") or {}


def _tuning_summary(status: dict[str, Any]) -> list[str]:
    best = _best(status)
    if not best:
        return []
    metric = best.get("finalHyperParameterTuningJobObjectiveMetric") or {}
    tuned = ", ".join(f"{p['name']}={p['value']}" for p in best.get("tunedHyperParameters") or [])
    return [f"Best training job: {best['trainingJobName']} ({metric.get('metricName')}={metric.get('value')}; {tuned})"]


TUNING_VIEW = DemoKind(
    resource=TuningJobResource,
    status_field="hyperParameterTuningJobStatus",
    columns=(
        ("STATUS", 12, lambda s: s.get("hyperParameterTuningJobStatus")),
        ("COMPLETED", 10, lambda s: (s.get("trainingJobStatusCounters") or {}).get("completed")),
        ("INPROGRESS", 11, lambda s: (s.get("trainingJobStatusCounters") or {}).get("inProgress")),
        ("ERRORS", 7, lambda s: (s.get("trainingJobStatusCounters") or {}).get("totalError")),
        ("BEST-TRAINING-JOB", 45, lambda s: _best(s).get("trainingJobName")),
    ),
    logged_job=lambda s: _best(s).get("trainingJobName"),
    summary=_tuning_summary,
)
VIEWS = {"TrainingJob": TRAINING_VIEW, "HyperparameterTuningJob": TUNING_VIEW}


def _cells(view: DemoKind, resource: dict[str, Any]) -> tuple[str, ...]:
    status = resource.get("status") or {}
    values = (getter(status) for _, _, getter in view.columns)
    return (resource["metadata"]["name"], *("" if v is None else str(v) for v in values))


def _format(view: DemoKind, cells: tuple[str, ...], age: str) -> str:
    widths = (22, *(width for _, width, _ in view.columns))
    return " ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + f" {age:>5}"


async def watch_until_done(
    client: AsyncClient, view: DemoKind, name: str, timeout: float, echo: Echo
) -> dict[str, Any]:
    """Print a row like ``kubectl get -w`` whenever the job changes; return the final resource."""
    echo(_format(view, ("NAME", *(header for header, _, _ in view.columns)), "AGE"))
    last: tuple[str, ...] | None = None
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        resource = (await client.get(view.resource, name)).to_dict()
        cells = _cells(view, resource)
        if cells != last:
            echo(_format(view, cells, _age(resource["metadata"].get("creationTimestamp"))))
            last = cells
        if (resource.get("status") or {}).get(view.status_field) in JOB_FINAL:
            return dict(resource)
        if asyncio.get_running_loop().time() > deadline:
            raise DemoError(f"the job did not finish within {timeout:.0f}s (last state: {cells[1] or 'not submitted'})")
        await asyncio.sleep(0.5)


async def print_events(client: AsyncClient, resource: dict[str, Any], echo: Echo) -> None:
    uid = resource["metadata"]["uid"]
    events = [e async for e in client.list(Event, fields={"involvedObject.uid": uid})]
    events.sort(key=lambda e: (e.lastTimestamp or e.eventTime or e.firstTimestamp or datetime.datetime.min).isoformat())
    echo("{:<8} {:<18} {}".format("TYPE", "REASON", "MESSAGE"))
    for event in events:
        echo("{:<8} {:<18} {}".format(event.type or "", event.reason or "", event.message or ""))


async def print_logs(kube: KubeTarget, kind: str, name: str, namespace: str, host: str | None, echo: Echo) -> None:
    """Run `kubectl smlogs` itself (the plugin's code) against the same cluster and simulator."""
    from kubectl_plugin import smlogs

    shown = [kind, name, *(["-n", namespace] if namespace != "default" else []), *(["-p", host] if host else [])]
    echo(f"$ kubectl smlogs {' '.join(shown)}")
    argv = [*shown, "-n", namespace, *kube.kubeconfig_args]
    out, err = io.StringIO(), io.StringIO()
    # The plugin is synchronous; in a thread, it can call the emulator this event loop serves.
    code = await asyncio.to_thread(smlogs.run, argv, out, err)
    for line in out.getvalue().splitlines():
        echo(line)
    if code != 0 and err.getvalue():
        echo(err.getvalue().rstrip())


async def wait_deleted(client: AsyncClient, resource: Any, name: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            await client.get(resource, name)
        except ApiError as exc:
            if exc.status.code == 404:
                return
            raise
        await asyncio.sleep(0.3)
    raise DemoError(f"{name} was not deleted within {timeout:.0f}s (is its finalizer stuck?)")


async def run_demo(
    *,
    sample: Path = DEFAULT_SAMPLE,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str = "default",
    fail_reason: str | None = None,
    timeout: float = 120.0,
    durations: StageDurations = DEMO_DURATIONS,
    echo: Echo = print,
) -> int:
    """Run the demo; return the process exit code (0 when the job Completed)."""
    document = load_sample(sample, fail_reason)
    view = VIEWS[document["kind"]]
    name, kind = document["metadata"]["name"], document["kind"].lower()
    document["metadata"]["namespace"] = namespace
    # The demo never talks to AWS: every SageMaker and CloudWatch call goes to the simulator.
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    region = document["spec"].get("region") or "us-west-2"

    with SimulatorServer(Simulator(durations=durations, log_lines_per_host=6)) as simulator:
        echo(f"SageMaker   simulator at {simulator.url} (no AWS account used)")
        async with kube_target(kubeconfig, context, namespace) as kube:
            echo(f"Kubernetes  {kube.description}")
            if kubeconfig or context:
                await ensure_crds(kube.client, echo)
            settings = OperatorSettings(
                region=region, sagemaker_endpoint=simulator.url, poll_interval=1.0, namespaces=(namespace,)
            )
            async with running_beside(kube.connection, settings):
                echo(f"Operator    running, watching namespace {namespace!r}\n")
                echo(f"$ kubectl apply -f {sample}")
                try:
                    await kube.client.create(view.resource.from_dict(document))
                except ApiError as exc:
                    raise DemoError(f"cannot create {name}: {exc.status.message}") from exc
                echo(f"{kind}.{GROUP}/{name} created\n")
                try:
                    echo(f"$ kubectl get {kind}s --watch")
                    final = await watch_until_done(kube.client, view, name, timeout, echo)
                    status = final["status"]
                    await asyncio.sleep(0.5)  # the last Event is posted right after the last status write
                    echo(f"\n$ kubectl describe {kind} {name}   # Events")
                    await print_events(kube.client, final, echo)
                    logged = view.logged_job(status)
                    if logged:
                        echo("")
                        host = logged if view is TUNING_VIEW else None  # a tuning job: the best trial only
                        await print_logs(kube, kind, name, namespace, host, echo)
                    for line in view.summary(status):
                        echo(f"\n{line}")
                    if status.get("failureReason"):
                        echo(f"\nFailure reason: {status['failureReason']}")
                finally:
                    echo(f"\n$ kubectl delete {kind} {name}")
                    await kube.client.delete(view.resource, name)
                    await wait_deleted(kube.client, view.resource, name)
                    echo(f'{kind}.{GROUP} "{name}" deleted')
    outcome = status[view.status_field]
    echo(f"\nThe job ended {outcome}. Operator, Kubernetes emulator and simulator are stopped.")
    return 0 if outcome == "Completed" else 1


def quiet_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for name in ("kopf", "aiohttp", "botocore", "werkzeug", "httpx", "sagemaker_operator"):
        logging.getLogger(name).setLevel(level if verbose else logging.ERROR)
