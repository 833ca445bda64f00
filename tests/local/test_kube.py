"""The in-cluster runner's objects (no kubelet here: the objects are the behaviour), status mapping, clean-up."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from sagemaker_operator.aws.naming import derive_name
from sagemaker_operator.local import kube, tfconfig
from sagemaker_operator.local.spec import FallbackError
from tests.local.conftest import SAMPLE

HELPER = "123456789012.dkr.ecr.us-west-2.amazonaws.com/sagemaker-operator:0.1.0"
UID = "6f1c1d0e-3b1a-4f3e-9c55-0d6b1f0a2b7c"


def body(**fallback: Any) -> dict[str, Any]:
    document = yaml.safe_load(SAMPLE.read_text())
    document["metadata"].update(namespace="ml", uid=UID)
    document["spec"]["fallback"].update(fallback)
    return document


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = pod["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# --------------------------------------------------------------------------- objects


def test_headless_service_gives_every_pod_a_stable_name() -> None:
    cluster = kube.build(body(), helper_image=HELPER)
    service = cluster.service
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True  # names resolve while pods still download
    name = service["metadata"]["name"]
    assert len(cluster.pods) == 2
    for pod, host in zip(cluster.pods, ["algo-1", "algo-2"], strict=True):
        spec = pod["spec"]
        assert (spec["hostname"], spec["subdomain"]) == (host, name)
        assert spec["restartPolicy"] == "Never"
        assert spec["dnsConfig"]["searches"] == [f"{name}.ml.svc.cluster.local"]  # bare algo-N resolves
        labels = pod["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert labels[kube.LABEL_HOST] == host
        assert len(pod["metadata"]["name"]) <= 63


def test_tf_config_of_each_pod_matches_the_service_dns_names() -> None:
    for strategy, ps in (("multi-worker-mirrored", None), ("parameter-server", 2)):
        cluster = kube.build(body(strategy=strategy, parameterServers=ps), helper_image=HELPER)
        service = cluster.service["metadata"]["name"]
        dns = {f"{p['spec']['hostname']}.{service}:2222": p for p in cluster.pods}
        for pod in cluster.pods:
            config = json.loads(env_of(containers(pod)["train"])["TF_CONFIG"])
            addresses = [a for role in config["cluster"].values() for a in role]
            assert sorted(addresses) == sorted(dns)  # every address is exactly one pod's stable name
            me = config["cluster"][config["task"]["type"]][config["task"]["index"]]
            assert dns[me] is pod  # and the task is the pod itself
            labels = pod["metadata"]["labels"]
            assert (config["task"]["type"], str(config["task"]["index"])) == (
                labels[kube.LABEL_ROLE],
                labels[kube.LABEL_INDEX],
            )
            assert env_of(containers(pod)["train"])["SM_CURRENT_HOST"] == pod["spec"]["hostname"]


def test_owner_references_make_the_training_job_own_everything() -> None:
    cluster = kube.build(body(), helper_image=HELPER)
    for obj in cluster.objects:
        assert obj["metadata"]["namespace"] == "ml"
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "sagemaker.aws.amazon.com/v1",
                "kind": "TrainingJob",
                "name": "tensorflow-digits",
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    selector = kube.label_selector(body())
    assert selector == f"{kube.LABEL_UID}={UID}"  # the UID: a re-created job of the same name never matches
    key, value = selector.split("=")
    assert all(p["metadata"]["labels"][key] == value for p in cluster.pods)


def test_config_map_holds_the_contract_files_and_each_pod_mounts_its_own() -> None:
    cluster = kube.build(body(), helper_image=HELPER)
    data = cluster.config_map["data"]
    hyperparameters = json.loads(data["hyperparameters.json"])
    assert hyperparameters["sagemaker_program"] == '"train.py"' and hyperparameters["epochs"] == "10"
    assert json.loads(data["inputdataconfig.json"]).keys() == {"train", "test"}
    for pod in cluster.pods:
        host = pod["spec"]["hostname"]
        assert json.loads(data[f"resourceconfig-{host}.json"])["current_host"] == host
        volume = next(v for v in pod["spec"]["volumes"] if "configMap" in v)
        assert volume["configMap"]["name"] == cluster.config_map["metadata"]["name"]
        assert {"key": f"resourceconfig-{host}.json", "path": "resourceconfig.json"} in volume["configMap"]["items"]
        mounts = {m["mountPath"]: m for m in containers(pod)["train"]["volumeMounts"]}
        assert mounts["/opt/ml/input/config"]["readOnly"] is True
        assert {"/opt/ml/model", "/opt/ml/output", "/opt/ml/input/data", "/opt/ml/code"} <= mounts.keys()


def test_training_container_runs_the_script_with_the_sagemaker_contract() -> None:
    cluster = kube.build(body(), helper_image=HELPER)
    chief, worker = cluster.pods
    train = containers(worker)["train"]
    assert train["image"] == "123456789012.dkr.ecr.us-west-2.amazonaws.com/tensorflow-training:2.21-cpu-py311"
    assert train["command"] == [
        "python3",
        "train.py",
        "--batch-size",
        "32",
        "--epochs",
        "10",
        "--learning-rate",
        "0.01",
    ]
    assert train["workingDir"] == "/opt/ml/code"
    env = env_of(train)
    assert env["SM_MODEL_DIR"] == "/opt/ml/model" and env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_NUM_CPUS"] == "1"  # from spec.fallback.resources.cpu
    assert train["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    # The failure file is the termination message; the log tail when the script wrote none.
    assert train["terminationMessagePath"] == "/opt/ml/output/failure"
    assert train["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert worker["spec"]["activeDeadlineSeconds"] == 3600
    # Input first: S3 channels and sourcedir.tar.gz, fetched by the operator's image.
    fetch = containers(worker)["fetch"]
    assert fetch["image"] == HELPER
    assert fetch["command"] == ["python", "-m", "sagemaker_operator.local.pod"]
    assert "train=s3://amzn-s3-demo-bucket/tensorflow-digits/train/" in fetch["args"]
    assert fetch["args"][fetch["args"].index("--code") + 1].endswith("sourcedir.tar.gz")
    # The deciding pod trains as its last init container, then uploads the model.
    assert [c["name"] for c in chief["spec"]["initContainers"]] == ["fetch", "train"]
    assert [c["name"] for c in chief["spec"]["containers"]] == ["upload"]
    upload = chief["spec"]["containers"][0]
    # The job's name is the operator's derived SageMaker name, so both backends write to the same place.
    model_uri = upload["args"][upload["args"].index("--model-uri") + 1]
    assert (
        model_uri == f"s3://amzn-s3-demo-bucket/tensorflow-digits/output/{derive_name('tensorflow-digits', UID, 63)}"
        "/output/model.tar.gz"
    )
    assert kube.build(body(), helper_image=HELPER, job_name="given").model_uri.endswith("/given/output/model.tar.gz")
    assert [c["name"] for c in worker["spec"]["containers"]] == ["train"]
    assert chief["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "train"


def test_parameter_servers_run_a_plain_tf_server() -> None:
    cluster = kube.build(body(strategy="parameter-server", workers=1, parameterServers=1), helper_image=HELPER)
    roles = [p["metadata"]["labels"][kube.LABEL_ROLE] for p in cluster.pods]
    assert roles == ["chief", "worker", "ps"]
    chief, worker, ps = cluster.pods
    assert containers(chief)["train"]["command"][:2] == ["python3", "train.py"]
    assert containers(ps)["train"]["command"] == ["python3", "-c", tfconfig.SERVER_BOOTSTRAP]
    assert containers(worker)["train"]["command"] == ["python3", "-c", tfconfig.SERVER_BOOTSTRAP]
    assert "upload" in containers(chief) and "upload" not in containers(ps)


def test_resources_from_the_instance_type_or_left_to_the_cluster() -> None:
    document = body(sizeFromInstanceType=True, resources=None)
    document["spec"]["resourceConfig"]["instanceType"] = "ml.g5.2xlarge"
    train = containers(kube.build(document, helper_image=HELPER).pods[1])["train"]
    assert train["resources"] == {
        "requests": {"cpu": "8", "memory": "32768Mi"},
        "limits": {"memory": "32768Mi", "nvidia.com/gpu": "1"},
    }
    assert env_of(train)["SM_NUM_GPUS"] == "1"
    train = containers(kube.build(body(resources=None), helper_image=HELPER).pods[1])["train"]
    assert "resources" not in train
    assert env_of(train)["SM_NUM_CPUS"]["resourceFieldRef"]["resource"] == "limits.cpu"  # the pod's own limit
    assert kube.instance_resources("ml.c5.xlarge") == (4, 8, 0)
    document["spec"]["resourceConfig"]["instanceType"] = "ml.trn1.32xlarge"
    with pytest.raises(FallbackError, match=r"unknown instance type ml\.trn1\.32xlarge"):
        kube.build(document, helper_image=HELPER)


def test_long_names_still_make_valid_dns_labels() -> None:
    document = body(workers=12)
    document["metadata"]["name"] = "9" + "a" * 200
    cluster = kube.build(document, helper_image=HELPER)
    assert cluster.service["metadata"]["name"][0].isalpha()
    assert all(len(p["metadata"]["name"]) <= 63 for p in cluster.pods)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["spec"]["inputDataConfig"][0]["dataSource"]["s3DataSource"].update(s3Uri="file:///data"),
         "input data must be on S3"),
        (lambda d: d["spec"]["fallback"].update(sourceDir="code"), "an s3:// .tar.gz or an absolute path"),
        (lambda d: d["spec"]["fallback"].update(sourceDir="s3://amzn-s3-demo-bucket/src/"), "must be a .tar.gz"),
        (lambda d: d["metadata"].pop("uid"), "no metadata.uid"),
        (lambda d: d["spec"]["algorithmSpecification"].pop("trainingImage"), "no image"),
    ],
)  # fmt: skip
def test_jobs_the_cluster_cannot_run_are_refused(change: Any, message: str) -> None:
    document = body()
    change(document)
    with pytest.raises(FallbackError, match=message):
        kube.build(document, helper_image=HELPER)


def test_objects_pass_kubernetes_schema_validation() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    for fallback in ({}, {"strategy": "parameter-server", "parameterServers": 1, "serviceAccountName": "trainer"}):
        for obj in kube.build(body(**fallback), helper_image=HELPER).objects:
            kv.validate(obj, "1.30.0", strict=True)


# --------------------------------------------------------------------------- status


def running(name: str) -> dict[str, Any]:
    return {"name": name, "state": {"running": {"startedAt": "2026-11-01T00:00:00Z"}}}


def waiting(name: str, reason: str = "PodInitializing", message: str = "") -> dict[str, Any]:
    return {"name": name, "state": {"waiting": {"reason": reason, "message": message}}}


def terminated(name: str, code: int = 0, message: str = "") -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                                   "message": message}}}  # fmt: skip


def pod_status(cluster: kube.ClusterJob, host: str, phase: str, *statuses: dict, **extra: Any) -> dict[str, Any]:
    pod = copy.deepcopy(next(p for p in cluster.pods if p["spec"]["hostname"] == host))
    init_names = {c["name"] for c in pod["spec"].get("initContainers", [])}
    pod["status"] = {
        "phase": phase,
        "initContainerStatuses": [s for s in statuses if s["name"] in init_names],
        "containerStatuses": [s for s in statuses if s["name"] not in init_names],
        **extra,
    }
    return pod


CLUSTER = kube.build(body(), helper_image=HELPER)
UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/3 nodes are available: 3 Insufficient cpu."}  # fmt: skip


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        ([], ("InProgress", "Starting", None)),
        ([pod_status(CLUSTER, "algo-1", "Pending", conditions=[UNSCHEDULABLE]),
          pod_status(CLUSTER, "algo-2", "Pending", conditions=[UNSCHEDULABLE])], ("InProgress", "Pending", None)),
        ([pod_status(CLUSTER, "algo-1", "Pending", running("fetch"), waiting("train"), waiting("upload")),
          pod_status(CLUSTER, "algo-2", "Pending", terminated("fetch"), running("train"))],
         ("InProgress", "Downloading", None)),
        ([pod_status(CLUSTER, "algo-1", "Pending", terminated("fetch"), running("train"), waiting("upload")),
          pod_status(CLUSTER, "algo-2", "Running", terminated("fetch"), running("train"))],
         ("InProgress", "Training", None)),
        ([pod_status(CLUSTER, "algo-1", "Running", terminated("fetch"), terminated("train"), running("upload")),
          pod_status(CLUSTER, "algo-2", "Succeeded", terminated("fetch"), terminated("train"))],
         ("InProgress", "Uploading", None)),
        ([pod_status(CLUSTER, "algo-1", "Succeeded", terminated("fetch"), terminated("train"), terminated("upload")),
          pod_status(CLUSTER, "algo-2", "Succeeded", terminated("fetch"), terminated("train"))],
         ("Completed", "Completed", None)),
        ([pod_status(CLUSTER, "algo-1", "Pending", terminated("fetch"), running("train"), waiting("upload")),
          pod_status(CLUSTER, "algo-2", "Failed", terminated("fetch"),
                     terminated("train", 1, "ValueError: labels out of range"))],
         ("Failed", "Failed", "AlgorithmError: algo-2 worker:1 exited with code 1: ValueError: labels out of range")),
        ([pod_status(CLUSTER, "algo-1", "Failed", terminated("fetch", 1, "error: cannot list s3://b/x: NoSuchBucket")),
          pod_status(CLUSTER, "algo-2", "Pending", running("fetch"))],
         ("Failed", "Failed", "ClientError: algo-1 worker:0 could not download its input (exit code 1): "
                              "error: cannot list s3://b/x: NoSuchBucket")),
        ([pod_status(CLUSTER, "algo-1", "Failed", terminated("fetch"), running("train"), reason="DeadlineExceeded",
                     message="Pod was active on the node longer than the specified deadline"),
          pod_status(CLUSTER, "algo-2", "Running", terminated("fetch"), running("train"))],
         ("Stopped", "MaxRuntimeExceeded", "MaxRuntimeExceeded: stopped after maxRuntimeInSeconds (3600s)")),
        ([pod_status(CLUSTER, "algo-1", "Pending", terminated("fetch"), running("train"))],  # algo-2 was deleted
         ("Failed", "Failed", "AlgorithmError: algo-2 worker:1: pod {pod} is gone")),
    ],
    ids=["no-pods-yet", "unschedulable", "downloading", "training", "uploading", "completed", "worker-crash",
         "input-missing", "max-runtime", "pod-deleted"],
)  # fmt: skip
def test_pod_states_map_to_the_training_job_status(pods: list, expected: tuple) -> None:
    status = kube.observe(CLUSTER, pods, pods_created=bool(pods))
    reason = expected[2].format(pod=CLUSTER.pods[1]["metadata"]["name"]) if expected[2] else None
    assert (status.training_job_status, status.secondary_status, status.failure_reason) == (*expected[:2], reason)
    fields = status.status_fields()
    assert fields["trainingJobStatus"] == expected[0]
    if expected[0] == "Completed":
        assert fields["modelPath"] == CLUSTER.model_uri
    if expected[1] == "Pending":
        assert "Insufficient cpu" in fields["additional"]


def test_a_parameter_server_that_exits_fails_the_job() -> None:
    cluster = kube.build(body(strategy="parameter-server", workers=1, parameterServers=1), helper_image=HELPER)
    pods = [
        pod_status(cluster, "algo-1", "Pending", terminated("fetch"), running("train")),
        pod_status(cluster, "algo-2", "Running", terminated("fetch"), running("train")),
        pod_status(cluster, "algo-3", "Succeeded", terminated("fetch"), terminated("train")),
    ]
    status = kube.observe(cluster, pods)
    assert status.training_job_status == "Failed"
    assert status.failure_reason == "AlgorithmError: algo-3 ps:0 exited before the chief finished"


# --------------------------------------------------------------------------- clean-up


def test_parameter_servers_always_go_and_finished_pods_per_policy() -> None:
    for policy in ("keep", "delete"):
        cluster = kube.build(
            body(strategy="parameter-server", workers=1, parameterServers=1, cleanupPolicy=policy),
            helper_image=HELPER,
        )
        pods = [
            pod_status(cluster, "algo-1", "Succeeded", terminated("fetch"), terminated("train"), terminated("upload")),
            pod_status(cluster, "algo-2", "Running", terminated("fetch"), running("train")),
            pod_status(cluster, "algo-3", "Running", terminated("fetch"), running("train")),
        ]
        status = kube.observe(cluster, pods)
        assert status.training_job_status == "Completed"
        deleted = {(r.kind, r.name) for r in kube.to_delete(cluster, pods, status)}
        names = [p["metadata"]["name"] for p in cluster.pods]
        servers = {("Pod", names[1]), ("Pod", names[2])}
        if policy == "keep":
            assert deleted == servers  # the chief's finished pod stays for its logs
        else:
            assert deleted == servers | {
                ("Pod", names[0]),
                ("Service", cluster.service["metadata"]["name"]),
                ("ConfigMap", cluster.config_map["metadata"]["name"]),
            }
        # Nothing is deleted while the job runs.
        in_progress = kube.observe(cluster, pods[1:], pods_created=False)
        assert kube.to_delete(cluster, pods[1:], in_progress) == []
