"""The TensorFlow fallback in the cluster: which objects the operator creates, and how Pod states become status.

No kubelet runs here: a test plays the kubelet by writing the Pods' status the way a node would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagemaker_operator.kube.emulator import KubeEmulator
from sagemaker_operator.operator import running_beside
from sagemaker_operator.settings import OperatorSettings
from tests.e2e.conftest import NAMESPACE, Cluster, Sim, condition, eventually, sample

FALLBACK = "tensorflow/tensorflow-digits-trainingjob.yaml"


def tensorflow_job(name: str, **fallback: Any) -> dict[str, Any]:
    document = sample(FALLBACK, name)
    document["spec"]["fallback"] = {**document["spec"]["fallback"], **fallback}
    return document


def objects(kube: KubeEmulator, resource: str) -> list[dict[str, Any]]:
    return kube.list_objects(resource, NAMESPACE)


def pods(kube: KubeEmulator) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in objects(kube, "v1/pods")}


def env(pod: dict[str, Any]) -> dict[str, str]:
    containers = pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
    train = next(c for c in containers if c["name"] == "train")
    return {e["name"]: e.get("value", "") for e in train["env"]}


def is_decider(pod: dict[str, Any]) -> bool:
    """The pod whose training decides the outcome runs training as an init container, then uploads."""
    return any(c["name"] == "upload" for c in pod["spec"]["containers"])


def pod_status(pod: dict[str, Any], state: str) -> dict[str, Any]:
    """What a kubelet would report for ``state``: running, succeeded, or failed (training exits 1)."""
    done = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    crashed = {"terminated": {"exitCode": 1, "reason": "Error", "message": "ValueError: NaN loss"}}
    train = {"running": {"startedAt": "2026-01-01T00:00:00Z"}} if state == "running" else done
    if state == "failed":
        train = crashed

    def container(name: str, container_state: dict[str, Any]) -> dict[str, Any]:
        image = f"{name}-image"
        ready = "running" in container_state
        return {
            "name": name,
            "state": container_state,
            "image": image,
            "imageID": image,
            "ready": ready,
            "restartCount": 0,
        }

    init = [container("fetch", done)]
    main: list[dict[str, Any]] = []
    if is_decider(pod):
        init.append(container("train", train))
        if state == "succeeded":
            main.append(container("upload", done))
    else:
        main.append(container("train", train))
    phase = {"running": "Running", "succeeded": "Succeeded", "failed": "Failed"}[state]
    return {"phase": phase, "initContainerStatuses": init, "containerStatuses": main}


async def kubelet(cluster: Cluster, pod: dict[str, Any], state: str) -> None:
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}/status"
    code, body = await cluster.request(
        "PATCH", path, {"status": pod_status(pod, state)}, "application/merge-patch+json"
    )
    assert code == 200, body


@pytest.mark.usefixtures("operator")
async def test_backend_local_runs_the_job_as_pods_behind_a_headless_service(
    cluster: Cluster, kube: KubeEmulator, sim: Sim
) -> None:
    resource = await cluster.apply(tensorflow_job("digits", backend="local"))
    status = await cluster.status_when("digits", lambda s: s.get("backend") == "local", "running in the cluster")
    assert "spec.fallback.backend" in status["backendReason"]
    assert condition(status, "Succeeded")["reason"] == "RunningInCluster"
    assert sim.calls("CreateTrainingJob") == 0, "SageMaker is not asked at all"

    (service,) = objects(kube, "v1/services")
    assert service["spec"]["clusterIP"] == "None"
    assert objects(kube, "v1/configmaps")
    running = await eventually(lambda: len(pods(kube)) == 2 and pods(kube), what="two worker pods")
    uid = resource["metadata"]["uid"]
    hosts = set()
    for pod in running.values():
        owner = pod["metadata"]["ownerReferences"][0]
        assert owner["uid"] == uid and owner["kind"] == "TrainingJob" and owner["controller"] is True
        assert pod["spec"]["subdomain"] == service["metadata"]["name"]
        variables = env(pod)
        tf_config = json.loads(variables["TF_CONFIG"])
        assert len(tf_config["cluster"]["worker"]) == 2
        hosts.add(variables["SM_CURRENT_HOST"])
        assert json.loads(variables["SM_HOSTS"]) == ["algo-1", "algo-2"]
        assert tf_config["cluster"]["worker"][tf_config["task"]["index"]].startswith(pod["spec"]["hostname"] + ".")
    assert hosts == {"algo-1", "algo-2"}
    await eventually(lambda: "RunningInCluster" in cluster.reasons("digits"), what="an Event saying where it runs")

    for pod in running.values():
        await kubelet(cluster, pod, "running")
    await cluster.status_when("digits", lambda s: s.get("secondaryStatus") == "Training", "Training")
    for pod in running.values():
        await kubelet(cluster, pod, "succeeded")
    status = await cluster.status_when("digits", lambda s: s.get("trainingJobStatus") == "Completed", "Completed")
    assert status["modelPath"].endswith("/output/model.tar.gz")
    assert condition(status, "Succeeded")["status"] == "True"


@pytest.mark.usefixtures("operator")
async def test_capacity_error_falls_back_only_when_the_spec_opts_in(
    cluster: Cluster, kube: KubeEmulator, sim: Sim
) -> None:
    sim.simulator.faults.inject("CreateTrainingJob", error="ResourceLimitExceeded", times=1000)
    await cluster.apply(tensorflow_job("opted-in", onCapacityError="fallback"))
    await cluster.apply(tensorflow_job("opted-out", onCapacityError="fail"))

    status = await cluster.status_when("opted-in", lambda s: s.get("backend") == "local", "the fallback")
    assert "ResourceLimitExceeded" in status["backendReason"]
    await eventually(
        lambda: [e for e in cluster.events("opted-in") if e["reason"] == "RunningInCluster"], what="an Event"
    )
    opted_out = await cluster.status_when(
        "opted-out", lambda s: condition(s, "Synced").get("reason") == "ResourceLimitExceeded", "Synced=False"
    )
    assert opted_out.get("backend") != "local"
    names = set(pods(kube))
    assert names and all(name.startswith("opted-in") for name in names), names


@pytest.mark.usefixtures("operator")
async def test_parameter_servers_are_stopped_when_the_chief_finishes(cluster: Cluster, kube: KubeEmulator) -> None:
    await cluster.apply(
        tensorflow_job("ps", backend="local", strategy="parameter-server", workers=1, parameterServers=1)
    )
    created = await eventually(lambda: len(pods(kube)) == 3 and pods(kube), what="chief, worker and ps pods")
    roles = {json.loads(env(p)["TF_CONFIG"])["task"]["type"] for p in created.values()}
    assert roles == {"chief", "worker", "ps"}
    for pod in created.values():
        await kubelet(cluster, pod, "running")
    chief = next(p for p in created.values() if is_decider(p))
    await kubelet(cluster, chief, "succeeded")

    await cluster.status_when("ps", lambda s: s.get("trainingJobStatus") == "Completed", "Completed")
    await eventually(lambda: list(pods(kube)) == [chief["metadata"]["name"]], what="the servers to be deleted")


@pytest.mark.usefixtures("operator")
async def test_a_crashed_replica_fails_the_job_with_its_reason(cluster: Cluster, kube: KubeEmulator) -> None:
    await cluster.apply(tensorflow_job("crash", backend="local"))
    created = await eventually(lambda: len(pods(kube)) == 2 and pods(kube), what="two pods")
    for pod in created.values():
        await kubelet(cluster, pod, "running")
    worker = next(p for p in created.values() if not is_decider(p))
    await kubelet(cluster, worker, "failed")

    status = await cluster.status_when("crash", lambda s: s.get("trainingJobStatus") == "Failed", "Failed")
    assert "NaN loss" in status["failureReason"]
    await eventually(lambda: worker["metadata"]["name"] in pods(kube) and len(pods(kube)) == 1, what="the rest stopped")
    await eventually(
        lambda: [e for e in cluster.events("crash") if e["type"] == "Warning" and "NaN loss" in e["message"]],
        what="a Warning with the reason",
    )


@pytest.mark.usefixtures("operator")
async def test_deleting_the_training_job_removes_its_pods_service_and_config(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    document = tensorflow_job("gone", backend="local")
    await cluster.apply(document)
    await eventually(lambda: len(pods(kube)) == 2, what="two pods")
    await cluster.delete("gone")
    await eventually(lambda: cluster.gone("gone"), what="the TrainingJob to go")
    assert pods(kube) == {} and objects(kube, "v1/services") == [] and objects(kube, "v1/configmaps") == []


async def test_the_annotation_and_the_operator_default_choose_the_backend(
    kube: KubeEmulator, cluster: Cluster, sim: Sim, settings: OperatorSettings
) -> None:
    local_by_default = settings.model_copy(update={"default_backend": "local"})
    async with running_beside(str(kube.url), local_by_default):
        await cluster.apply(tensorflow_job("by-default"))
        status = await cluster.status_when("by-default", lambda s: s.get("backend"), "a backend")
        assert status["backend"] == "local" and "default backend" in status["backendReason"]

    async with running_beside(str(kube.url), settings):
        annotated = tensorflow_job("by-annotation")
        annotated["metadata"]["annotations"] = {"sagemaker.aws.amazon.com/backend": "local"}
        await cluster.apply(annotated)
        status = await cluster.status_when("by-annotation", lambda s: s.get("backend"), "a backend")
        assert status["backend"] == "local" and "annotation" in status["backendReason"]
        await cluster.apply(tensorflow_job("on-sagemaker"))
        status = await cluster.status_when("on-sagemaker", lambda s: s.get("backend"), "a backend")
        assert status["backend"] == "sagemaker" and status["sageMakerTrainingJobName"]
