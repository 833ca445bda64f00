"""A TrainingJob that runs in the cluster (the TF fallback): its replicas' Pod logs, merged and prefixed.

The TrainingJob and its Pods are the ones the operator makes (``sagemaker_operator.local.kube.build``);
the test plays the kubelet by writing the ``train`` containers' lines into the emulator, and the
operator by writing the TrainingJob's status. No AWS is involved: nothing here starts the simulator.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import kmock
import pytest
import yaml

from kubectl_plugin import kinds
from sagemaker_operator.kube.emulator import KubeEmulator
from sagemaker_operator.local import kube as local_kube
from sagemaker_operator.local.spec import BACKEND_ANNOTATION, Backend
from sagemaker_operator.simulator import SimulatorServer

from .conftest import ROOT, Kube, Served, settled

SAMPLE = ROOT / "samples" / "tensorflow" / "tensorflow-digits-trainingjob.yaml"
HELPER = "123456789012.dkr.ecr.us-west-2.amazonaws.com/sagemaker-operator:0.1.0"
# Whole seconds, half an hour ago: tests place lines within a second or across seconds on purpose.
T0 = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(minutes=30)


def stamp(seconds: float) -> str:
    """How --timestamps prints a line written ``seconds`` after T0 (UTC, milliseconds)."""
    moment = T0 + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Job:
    """One TrainingJob on the fallback: the resource, the objects the operator builds, what the Pods log."""

    kube: Kube
    emulator: KubeEmulator
    namespace: str
    name: str
    body: dict[str, Any]
    built: local_kube.ClusterJob
    written: list[tuple[float, str, str]] = field(default_factory=list)
    """(seconds after T0, host, text) of every line written, for the expected output."""

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    def pod(self, host: str) -> dict[str, Any]:
        return next(p for p in self.built.pods if p["metadata"]["labels"][local_kube.LABEL_HOST] == host)

    def start(self, *hosts: str) -> None:
        """Create the Pods of ``hosts`` (default: all), as the operator does."""
        for pod in self.built.pods:
            if not hosts or pod["metadata"]["labels"][local_kube.LABEL_HOST] in hosts:
                self.kube.request("POST", f"/api/v1/namespaces/{self.namespace}/pods", pod)

    def log(self, host: str, *lines: tuple[float, str], container: str = local_kube.TRAIN) -> None:
        """The replica prints ``lines`` (seconds after T0, text) into its container's log."""
        at = [(T0 + datetime.timedelta(seconds=seconds), text) for seconds, text in lines]
        self.emulator.append_pod_log(self.namespace, self.pod(host)["metadata"]["name"], container, at)
        if container == local_kube.TRAIN:
            self.written += [(seconds, host, text) for seconds, text in lines]

    def delete_pod(self, host: str) -> None:
        self.kube.request("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{self.pod(host)['metadata']['name']}")

    def set(self, **status: Any) -> None:
        self.kube.set_status("trainingjobs", self.namespace, self.name, status)

    def expected(self, *hosts: str) -> list[str]:
        """Every line written by the replicas (of ``hosts``), in time order, as the plugin prints them."""
        rows = sorted((seconds, i, host, text) for i, (seconds, host, text) in enumerate(self.written))
        return [f"[{host}] {text}" for _, _, host, text in rows if not hosts or host in hosts]


@dataclass
class Fallback:
    kube: Kube
    emulator: KubeEmulator
    namespace: str

    def job(
        self,
        name: str,
        *,
        workers: int = 2,
        status: str | None = "InProgress",
        cleanup: str = "keep",
        **fallback: Any,
    ) -> Job:
        """A TrainingJob created from the TensorFlow sample; with ``status``, the operator runs it in the cluster."""
        document = yaml.safe_load(SAMPLE.read_text())
        document["metadata"] = {"name": name}
        document["spec"]["fallback"].update(workers=workers, cleanupPolicy=cleanup, **fallback)
        body = self.kube.request("POST", Kube.path("trainingjobs", self.namespace), document)
        job = Job(self.kube, self.emulator, self.namespace, name, body, local_kube.build(body, helper_image=HELPER))
        if status is not None:
            job.set(
                backend="local",
                backendReason="spec.fallback.backend is local",
                trainingJobStatus=status,
                secondaryStatus="Training",
            )
        return job


@pytest.fixture
def fallback(served: Served, namespace: str) -> Fallback:
    return Fallback(Kube(served.url), served.kube, namespace)


@pytest.fixture
def refuse(served: Served, namespace: str) -> Iterator[Any]:
    """``refuse(code, reason, message, resource, subresource, name)``: the API server answers GETs so.

    The reaction matches this test's namespace only (the emulator serves the whole session).
    """

    def answer(
        code: int, reason: str, message: str, resource: str, subresource: str | None = None, name: str | None = None
    ) -> threading.Event:
        """Returns the switch: clear it and the API server answers normally again."""
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}
        active = threading.Event()
        active.set()
        criteria: list[Any] = [kmock.method.GET, kmock.namespace(namespace), kmock.resource("", "v1", resource)]
        if subresource:
            criteria.append(kmock.subresource(subresource))
        if name:
            criteria.append(kmock.name(name))
        criteria.append(lambda _: active.is_set())
        served.kube[tuple(criteria)] << kmock.Response(
            status=code,
            payload=json.dumps({**body, "message": message}).encode(),
            headers={"Content-Type": "application/json"},
        )
        return active

    yield answer


def forbidden(resource: str, subresource: str | None, namespace: str) -> tuple[int, str, str]:
    what = f"{resource}/{subresource}" if subresource else resource
    return (
        403,
        "Forbidden",
        f'{resource} is forbidden: User "dev" cannot get resource "{what}" in the namespace "{namespace}"',
    )


def assert_each_line_once(followed: list[str], complete: list[str]) -> None:
    """What -f printed is the complete log: every line once, each replica's lines in their order."""
    assert Counter(followed) == Counter(complete)
    assert len(set(followed)) == len(followed)
    for host in {line.split("]")[0] for line in complete}:
        assert [line for line in followed if line.startswith(host)] == [
            line for line in complete if line.startswith(host)
        ]


def test_labels_and_container_are_the_operators() -> None:
    assert kinds.LABEL_UID == local_kube.LABEL_UID
    assert kinds.LABEL_HOST == local_kube.LABEL_HOST
    assert kinds.TRAIN_CONTAINER == local_kube.TRAIN
    assert Backend.LOCAL.value == kinds.LOCAL_BACKEND
    assert kinds.BACKEND_ANNOTATION == BACKEND_ANNOTATION


def test_replicas_are_merged_in_time_order_with_their_host(fallback: Fallback, plugin: Any) -> None:
    job = fallback.job("digits", workers=3, status="Completed")
    job.start()
    job.log("algo-1", (0.0, "chief: loading data"), (1.5, "epoch 1 loss=0.9"), (3.0, "epoch 2 loss=0.5"))
    job.log("algo-2", (0.2, "worker 1: loading data"), (1.6, "epoch 1 loss=0.9"), (3.1, "epoch 2 loss=0.5"))
    job.log("algo-3", (0.1, "worker 2: loading data"), (3.2, "epoch 2 loss=0.5"))
    job.log("algo-1", (0.05, "downloading s3://bucket/train/"), container="fetch")  # not the training output
    # Another TrainingJob's pods in the same namespace do not show up.
    other = fallback.job("other", workers=1, status="Completed")
    other.start()
    other.log("algo-1", (0.3, "someone else's job"))

    result = plugin("trainingjob", "digits")

    assert result.code == 0, result.err
    assert result.lines == [
        "[algo-1] chief: loading data",
        "[algo-3] worker 2: loading data",
        "[algo-2] worker 1: loading data",
        "[algo-1] epoch 1 loss=0.9",
        "[algo-2] epoch 1 loss=0.9",
        "[algo-1] epoch 2 loss=0.5",
        "[algo-2] epoch 2 loss=0.5",
        "[algo-3] epoch 2 loss=0.5",
    ]
    assert result.err == ""

    stamped = plugin("tj", "digits", "--timestamps", "--no-prefix", "-p", "algo-2").lines
    assert stamped == [
        f"{stamp(0.2)} worker 1: loading data",
        f"{stamp(1.6)} epoch 1 loss=0.9",
        f"{stamp(3.1)} epoch 2 loss=0.5",
    ]


def test_parameter_servers_log_too_and_host_filters_take_whole_names(fallback: Fallback, plugin: Any) -> None:
    job = fallback.job("ps", workers=9, status="Completed", strategy="parameter-server", parameterServers=1)
    job.start()
    for n in range(1, 12):
        job.log(f"algo-{n}", (n / 10, f"replica {n} up"))

    assert [line.split("]")[0] + "]" for line in plugin("tj", "ps").lines] == [f"[algo-{n}]" for n in range(1, 12)]
    assert plugin("tj", "ps", "-p", "algo-1").lines == ["[algo-1] replica 1 up"], "algo-10 and algo-11 are others"
    assert plugin("tj", "ps", "-p", "algo-11").lines == ["[algo-11] replica 11 up"]  # the parameter server
    by_pod = job.pod("algo-2")["metadata"]["name"]
    assert plugin("tj", "ps", "-p", by_pod).lines == ["[algo-2] replica 2 up"]

    none = plugin("tj", "ps", "-p", "algo-99")
    assert none.code == 1
    hosts = ", ".join(f"algo-{n}" for n in range(1, 12))
    assert none.err == f"error: no pod of training job ps matches -p algo-99 (its hosts: {hosts})\n"


def test_tail_and_since(fallback: Fallback, plugin: Any) -> None:
    job = fallback.job("narrow", status="Completed")
    job.start()
    job.log("algo-1", (10.0, "a1"), (10.2, "a2"), (10.7, "a3"), (12.0, "a4"))
    job.log("algo-2", (10.1, "b1"), (10.6, "b2"), (11.0, "b3"))
    everything = job.expected()
    assert plugin("tj", "narrow").lines == everything

    assert plugin("tj", "narrow", "--tail", "3").lines == everything[-3:]
    assert plugin("tj", "narrow", "--tail", "1", "-p", "algo-2").lines == ["[algo-2] b3"]
    assert plugin("tj", "narrow", "--tail", "0").lines == []
    assert plugin("tj", "narrow", "--tail", "-1").lines == everything
    # The API server only knows whole seconds: the lines of that second before the time must not show.
    since = (T0 + datetime.timedelta(seconds=10.5)).isoformat()
    assert plugin("tj", "narrow", "--since", since).lines == [
        "[algo-2] b2",
        "[algo-1] a3",
        "[algo-2] b3",
        "[algo-1] a4",
    ]
    assert plugin("tj", "narrow", "--since", since, "--tail", "2").lines == ["[algo-2] b3", "[algo-1] a4"]
    assert plugin("tj", "narrow", "--since", "10m").lines == []  # everything was written half an hour ago
    age = datetime.datetime.now(datetime.UTC) - T0  # half an hour, and however long the run has taken so far
    assert plugin("tj", "narrow", "--since", f"{int(age.total_seconds()) - 5}s").lines == everything


def test_a_long_log_is_read_in_pages_each_line_once(fallback: Fallback, served: Served, plugin: Any) -> None:
    """More lines than a page, hundreds per second: each page resumes within a second without repeats."""
    job = fallback.job("chatty", workers=1, status="Completed")
    job.start()
    job.log("algo-1", *[(i / 500, f"step {i}") for i in range(12_345)])

    def log_requests() -> int:
        return sum(1 for r in list(served.kube) if r.subresource == "log" and r.namespace == fallback.namespace)

    result = plugin("tj", "chatty", "--no-prefix")

    assert result.code == 0, result.err
    assert result.lines == [f"step {i}" for i in range(12_345)]
    assert log_requests() == 2, "10,000 lines, then the rest: memory holds one page"
    assert plugin("tj", "chatty", "--no-prefix", "--tail", "10001").lines == result.lines[-10_001:]


def test_follow_merges_new_lines_and_a_late_replica_once_each_and_exits_0(fallback: Fallback, follow: Any) -> None:
    job = fallback.job("live", workers=3)
    job.start("algo-1", "algo-2")
    job.log("algo-1", (5.1, "a: epoch 1"), (5.2, "a: epoch 1 done"))
    job.log("algo-2", (5.15, "b: epoch 1"))

    run = follow("tj", "live")
    run.wait_for(lambda lines: len(lines) == 3, "the lines so far")
    # Within the second already read: the API server sends that second again; nothing may repeat.
    job.log("algo-1", (5.3, "a: epoch 2"), (5.9, "a: epoch 2 done"))
    job.log("algo-2", (5.35, "b: epoch 2"))
    run.wait_for(lambda lines: len(lines) == 6, "the lines of the same second")
    # A replica that starts late, and a parameter-server-like replica whose pod the operator deletes.
    job.start("algo-3")
    job.log("algo-3", (6.0, "c: joined"))
    run.wait_for(lambda lines: "[algo-3] c: joined" in lines, "the late replica's line")
    job.log("algo-1", (7.0, "a: saving model"))
    job.delete_pod("algo-3")
    assert run.code is None, "the job runs on: -f keeps following"

    job.set(trainingJobStatus="Completed", secondaryStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert_each_line_once(result.lines, job.expected())
    assert result.err == ""
    # Lines written between two reads of different replicas print as they are read (like kubectl logs of
    # several pods); what was there when following started, and each replica's lines, keep their order.
    assert result.lines[:3] == ["[algo-1] a: epoch 1", "[algo-2] b: epoch 1", "[algo-1] a: epoch 1 done"]


def test_follow_reads_the_last_lines_after_a_failure_and_exits_3(fallback: Fallback, follow: Any) -> None:
    job = fallback.job("doomed")
    job.start()
    job.log("algo-1", (1.0, "epoch 1"))
    job.log("algo-2", (1.1, "epoch 1"))
    run = follow("tj", "doomed", "--tail", "1")
    run.wait_for(lambda lines: lines == ["[algo-2] epoch 1"], "the last line so far")

    # The replica crashes; its last lines are in its log before the operator records the failure.
    job.log("algo-2", (2.0, "Traceback (most recent call last):"), (2.01, "ValueError: NaN loss"))
    reason = "AlgorithmError: algo-2 worker:1 exited with code 1: ValueError: NaN loss"
    job.set(trainingJobStatus="Failed", secondaryStatus="Failed", failureReason=reason)
    result = run.result()

    assert result.code == 3
    assert result.lines == [
        "[algo-2] epoch 1",
        "[algo-2] Traceback (most recent call last):",
        "[algo-2] ValueError: NaN loss",
    ]
    assert result.err == f"smlogs: training job doomed Failed: {reason}\n"


def test_follow_waits_for_the_job_to_start_in_the_cluster(fallback: Fallback, follow: Any) -> None:
    job = fallback.job("queued", workers=1, status=None, backend="local")
    run = follow("tj", "queued")
    run.wait_for(lambda _: "waiting" in run.err.text(), "the waiting notice")

    job.set(backend="local", backendReason="spec.fallback.backend is local", trainingJobStatus="InProgress")
    run.wait_for(lambda _: "has no pods yet" in run.err.text(), "the no-pods notice")
    job.start()
    run.wait_for(lambda _: "waiting to start" in run.err.text(), "the not-started notice")
    job.log("algo-1", (1.0, "training"))
    run.wait_for(lambda lines: lines == ["[algo-1] training"], "the first line")
    job.set(trainingJobStatus="Stopped")
    result = run.result()

    assert result.code == 4
    assert result.err.splitlines() == [
        "smlogs: waiting for trainingjob/queued to be started in the cluster",
        f"smlogs: waiting for logs: training job queued runs in the cluster (status InProgress) but has no pods yet "
        f'in namespace "{fallback.namespace}" (context "emulator")',
        f'smlogs: no lines yet from training job queued: algo-1: container "train" in pod '
        f'"{job.pod("algo-1")["metadata"]["name"]}" is waiting to start: ContainerCreating',
        "smlogs: training job queued Stopped",
    ]


def test_deleted_pods_are_said_once_when_nothing_can_be_shown(fallback: Fallback, plugin: Any) -> None:
    job = fallback.job("cleaned", status="Completed", cleanup="delete")
    expected = (
        "training job cleaned ran in the cluster and ended (Completed); its pods have been deleted "
        "(spec.fallback.cleanupPolicy: delete), and their logs with them"
    )

    result = plugin("tj", "cleaned")
    assert (result.code, result.out, result.err) == (1, "", f"error: {expected}\n")

    followed = plugin("tj", "cleaned", "-f")
    assert (followed.code, followed.out, followed.err) == (0, "", f"smlogs: {expected}\n")

    job.set(trainingJobStatus="Failed", failureReason="AlgorithmError: algo-1 worker:0: pod is gone")
    failed = plugin("tj", "cleaned", "-f")
    assert failed.code == 3
    assert failed.err.count("its pods have been deleted") == 1

    running = fallback.job("early", status="InProgress")
    assert plugin("tj", "early").err == (
        "error: training job early runs in the cluster (status InProgress) but has no pods yet in namespace "
        f'"{fallback.namespace}" (context "emulator"); use -f to wait for them\n'
    )
    assert running.uid != job.uid


def test_a_replica_not_started_yet_is_explained(fallback: Fallback, plugin: Any) -> None:
    job = fallback.job("starting", workers=2)
    job.start()
    job.log("algo-2", (1.0, "worker 1 ready"))

    result = plugin("tj", "starting")

    assert result.code == 0, result.err
    assert result.lines == ["[algo-2] worker 1 ready"], "a replica that has not started does not hold others back"
    assert result.err == ""  # some lines were shown: the quiet replica is not worth a notice


def test_rbac_denials_name_the_permission(fallback: Fallback, plugin: Any, refuse: Any) -> None:
    job = fallback.job("secret", status="Completed")
    job.start()
    job.log("algo-1", (1.0, "hidden"))
    refuse(*forbidden("pods", "log", fallback.namespace), "pods", "log")

    result = plugin("tj", "secret")

    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"error: not allowed to get pods/log ({job.pod('algo-1')['metadata']['name']}) in")
    assert 'User "dev" cannot get resource "pods/log"' in result.err
    assert "it needs the RBAC verbs list on pods and get on pods/log in that namespace" in result.err

    refuse(*forbidden("pods", None, fallback.namespace), "pods")
    listing = plugin("tj", "secret")
    assert listing.code == 1
    assert listing.err.startswith(f'error: not allowed to list pods in namespace "{fallback.namespace}"')
    assert "list on pods and get on pods/log" in listing.err


def test_a_job_that_moves_to_the_cluster_while_followed(
    fallback: Fallback, follow: Any, server: SimulatorServer
) -> None:
    """SageMaker had no capacity and the job opted in: it now runs in the cluster, and so do its logs."""
    job = fallback.job("moved", workers=1, status=None)
    job.set(
        sageMakerTrainingJobName="moved-0a1b2c",
        trainingJobStatus="InProgress",
        region="us-west-2",
        sageMakerEndpoint=server.url,
    )
    run = follow("tj", "moved")
    run.wait_for(lambda _: "waiting for logs: log group /aws/sagemaker/TrainingJobs" in run.err.text(), "CloudWatch")
    reason = "SageMaker has no capacity (ResourceLimitExceeded) and spec.fallback.onCapacityError is fallback"
    job.set(backend="local", backendReason=reason)
    job.start()
    job.log("algo-1", (1.0, "training in the cluster"))
    run.wait_for(lambda lines: lines == ["[algo-1] training in the cluster"], "the pod's line")
    job.set(trainingJobStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert f"smlogs: trainingjob/moved now runs in the cluster ({reason}); reading its pods' logs\n" in result.err


def test_following_a_long_run_prints_each_line_once(fallback: Fallback, follow: Any, plugin: Any) -> None:
    job = fallback.job("steady", workers=2)
    job.start()
    run = follow("tj", "steady")
    for step in range(40):
        job.log(f"algo-{step % 2 + 1}", (step * 0.3, f"step {step}"))
        if step % 10 == 9:
            run.wait_for(lambda lines, n=step + 1: len(lines) >= n, f"step {step}")
    job.set(trainingJobStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert_each_line_once(result.lines, job.expected())
    assert plugin("tj", "steady").lines == job.expected()  # read afterwards: strictly in time order


def test_the_annotation_also_says_where_a_job_waits_to_start(fallback: Fallback, plugin: Any) -> None:
    job = fallback.job("annotated", status=None)
    fallback.kube.request(
        "PATCH",
        Kube.path("trainingjobs", fallback.namespace, "annotated"),
        {"metadata": {"annotations": {BACKEND_ANNOTATION: "local"}}},
        "application/merge-patch+json",
    )
    result = plugin("tj", job.name)
    assert result.code == 1
    assert "has not been started in the cluster yet (no status.backend); use -f to wait for it" in result.err


def test_a_replica_whose_node_does_not_answer_is_skipped_with_a_notice(
    fallback: Fallback, plugin: Any, refuse: Any
) -> None:
    job = fallback.job("partial", status="Completed")
    job.start()
    job.log("algo-1", (1.0, "still here"))
    job.log("algo-2", (1.1, "on a dead node"))
    pod = job.pod("algo-2")["metadata"]["name"]
    kubelet = "Get https://10.0.3.7:10250/containerLogs: dial tcp 10.0.3.7:10250: connect: connection refused"
    refuse(500, "InternalError", kubelet, "pods", "log", pod)

    result = plugin("tj", "partial")

    assert result.code == 1, "not everything could be shown"
    assert result.lines == ["[algo-1] still here"]
    assert result.err.splitlines() == [
        f"smlogs: the Kubernetes API answers 500 ({kubelet}); backing off and retrying",
        f"smlogs: cannot read the log of pod {pod} (algo-2): the Kubernetes API answers 500 ({kubelet})",
    ]


def test_a_replica_unreadable_for_a_while_is_resumed_without_repeats(
    fallback: Fallback, follow: Any, refuse: Any
) -> None:
    job = fallback.job("flaky", workers=1)
    job.start()
    job.log("algo-1", (1.0, "one"), (1.1, "two"))
    run = follow("tj", "flaky")
    run.wait_for(lambda lines: len(lines) == 2, "the first lines")

    pod = job.pod("algo-1")["metadata"]["name"]
    outage = refuse(503, "ServiceUnavailable", "the kubelet is restarting", "pods", "log", pod)
    job.log("algo-1", (1.2, "three"), (2.0, "four"))
    run.wait_for(lambda _: f"cannot read the log of pod {pod} (algo-1)" in run.err.text(), "the outage notice")
    outage.clear()
    run.wait_for(lambda lines: len(lines) >= 4, "the lines written during the outage")
    job.set(trainingJobStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert result.lines == ["[algo-1] one", "[algo-1] two", "[algo-1] three", "[algo-1] four"]


def test_a_replica_that_finished_is_read_to_its_end_once_then_left_alone(
    fallback: Fallback, served: Served, follow: Any
) -> None:
    job = fallback.job("finishing", workers=2)
    job.start()
    job.log("algo-1", (1.0, "a: epoch 1"))
    job.log("algo-2", (1.1, "b: epoch 1"))
    run = follow("tj", "finishing")
    run.wait_for(lambda lines: len(lines) == 2, "the first lines")

    # algo-2's training exits: its last line is in its log when the kubelet reports the container terminated.
    pod = job.pod("algo-2")["metadata"]["name"]
    job.log("algo-2", (2.0, "b: done"))
    done = {"name": "train", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    fallback.kube.request(
        "PATCH",
        f"/api/v1/namespaces/{fallback.namespace}/pods/{pod}/status",
        {"status": {"phase": "Succeeded", "containerStatuses": [done]}},
        "application/merge-patch+json",
    )
    run.wait_for(lambda lines: "[algo-2] b: done" in lines, "algo-2's last line")

    def reads_of_algo_2() -> int:
        return sum(1 for r in list(served.kube) if r.subresource == "log" and r.name == pod)

    for step in range(2):  # a few discovery rounds (every 0.25 s here) while algo-1 goes on
        job.log("algo-1", (3.0 + step, f"a: epoch {step + 2}"))
        run.wait_for(lambda lines, n=step: f"[algo-1] a: epoch {n + 2}" in lines, f"epoch {step + 2}")
    # Polls of a quiet stream back off to 0.4 s here: a second without a read means algo-2 was retired.
    before = settled(reads_of_algo_2, quiet=1.0)
    job.log("algo-1", (9.0, "a: saving model"))
    run.wait_for(lambda lines: "[algo-1] a: saving model" in lines, "the last line")
    time.sleep(0.5)
    assert reads_of_algo_2() == before, "a finished replica is not polled any more"

    job.set(trainingJobStatus="Completed")
    result = run.result()
    assert result.code == 0, result.err
    assert_each_line_once(result.lines, job.expected())


def test_a_log_the_kubelet_rotated_is_read_on_from_the_new_file(fallback: Fallback, follow: Any) -> None:
    job = fallback.job("rotating", workers=1)
    job.start()
    job.log("algo-1", (1.0, "one"), (1.1, "two"), (1.2, "three"))
    run = follow("tj", "rotating")
    run.wait_for(lambda lines: len(lines) == 3, "the first lines")

    pod = job.pod("algo-1")["metadata"]["name"]
    fallback.emulator.rotate_pod_log(fallback.namespace, pod, "train")
    job.log("algo-1", (1.5, "four, in the new file"))
    run.wait_for(lambda lines: len(lines) == 4, "the line of the new file")
    job.set(trainingJobStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert result.lines == ["[algo-1] one", "[algo-1] two", "[algo-1] three", "[algo-1] four, in the new file"]
