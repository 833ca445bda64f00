"""The in-cluster runner, as pure functions: a TrainingJob in, Kubernetes objects and status out.

No API calls here; the operator creates what :func:`build` returns, lists the pods by
:func:`label_selector`, maps them with :func:`observe` and deletes what :func:`to_delete` names.

Shape (as Kubeflow's TFJob, with SageMaker's contract inside):

- one headless Service (``clusterIP: None``, ``publishNotReadyAddresses`` so names resolve while pods
  still download their input), and per replica one Pod with ``hostname: algo-N`` and
  ``subdomain: <service>``: ``algo-N.<service>`` is its stable DNS name. TF_CONFIG uses those names;
  ``dnsConfig.searches`` adds ``<service>.<namespace>.svc.cluster.local`` so the bare SageMaker host
  names in ``SM_HOSTS`` (``algo-2``) resolve too, as they do on SageMaker;
- one ConfigMap with ``hyperparameters.json``, ``inputdataconfig.json`` and one ``resourceconfig.json``
  per host, mounted read-only at ``/opt/ml/input/config`` (each pod picks its own resourceconfig);
- an emptyDir for ``/opt/ml/{input/data,model,output,checkpoints,code}``; a ``fetch`` init container
  (the operator's image, boto3) downloads S3 channels and the submit directory into it;
- the training container runs ``python3 <entry point> <hyperparameters>`` in the job's image (not the
  image's SageMaker entrypoint, which would write a TF 1 TF_CONFIG), with TF_CONFIG and the ``SM_*``
  variables; its termination message is ``/opt/ml/output/failure`` and, when that is empty, the end
  of its log, which is exactly SageMaker's failure reason;
- model upload: in the deciding pod (chief, or worker 0) training runs as the last *init* container
  and an ``upload`` container (the operator's image) packs ``/opt/ml/model`` into ``model.tar.gz`` at
  ``<s3OutputPath>/<job>/output/`` after it. The kubelet runs it only if training exited 0, and the
  user's image needs neither boto3 nor the AWS CLI. Other pods run training as their main container;
- ``restartPolicy: Never``, ``activeDeadlineSeconds`` from ``maxRuntimeInSeconds``, owner references to
  the TrainingJob (controller, blockOwnerDeletion) so everything goes when the TrainingJob goes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagemaker_operator import API_VERSION, GROUP
from sagemaker_operator.aws import naming
from sagemaker_operator.local import contract, tfconfig
from sagemaker_operator.local.job import JobDefinition
from sagemaker_operator.local.spec import CleanupPolicy, FallbackError, Strategy
from sagemaker_operator.local.tfconfig import Replica

LABEL_JOB = f"{GROUP}/training-job"
LABEL_UID = f"{GROUP}/training-job-uid"
LABEL_ROLE = f"{GROUP}/replica-type"
LABEL_INDEX = f"{GROUP}/replica-index"
LABEL_HOST = f"{GROUP}/host"
MANAGED_BY = {"app.kubernetes.io/managed-by": "sagemaker-operator", "app.kubernetes.io/component": "tensorflow"}

FETCH, TRAIN, UPLOAD = "fetch", "train", "upload"
CONFIG_VOLUME, ML_VOLUME = "sagemaker-config", "opt-ml"
ML = contract.SAGEMAKER_BASE
TERMINATION_GRACE_SECONDS = 120  # what SageMaker gives a stopped training container
_BASE_NAME_LENGTH = 40  # leaves room for "-worker-NN" within DNS label limits
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class ObjectRef:
    """Something to delete: ``kind``/``name`` in ``namespace``."""

    api_version: str
    kind: str
    name: str
    namespace: str


@dataclass(frozen=True)
class ClusterJob:
    """Everything the operator creates for one TrainingJob on the fallback, in creation order."""

    definition: JobDefinition
    strategy: Strategy
    replicas: list[Replica]
    service: dict[str, Any]
    config_map: dict[str, Any]
    pods: list[dict[str, Any]]
    labels: dict[str, str]

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [self.service, self.config_map, *self.pods]

    @property
    def namespace(self) -> str:
        return self.definition.namespace

    @property
    def label_selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))

    @property
    def model_uri(self) -> str:
        return self.definition.model_uri

    def pod_name(self, replica: Replica) -> str:
        return f"{self.service['metadata']['name']}-{replica.role}-{replica.index}"


# --------------------------------------------------------------------------- building


def build(body: Mapping[str, Any], *, helper_image: str, job_name: str | None = None) -> ClusterJob:
    """The Service, ConfigMap and Pods for a TrainingJob body (``apiVersion``, ``kind``, ``metadata``, ``spec``).

    ``helper_image`` is the operator's own image (it runs the fetch and upload steps). ``job_name`` is
    the training job's name (default: ``spec.trainingJobName`` or the operator's derived name).
    Raises FallbackError when the job cannot run in the cluster as written.
    """
    definition = JobDefinition.from_manifest(body, job_name=job_name)
    meta = body.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        raise FallbackError("the TrainingJob has no metadata.uid (build pods for a resource the API server stored)")
    fallback = definition.fallback
    image = definition.image
    if not image:
        raise FallbackError("no image: set spec.fallback.image or spec.algorithmSpecification.trainingImage")
    strategy = fallback.strategy
    replicas = tfconfig.plan(strategy, definition.workers(), fallback.ps_count())
    base = _base_name(definition.resource_name, uid)
    namespace = definition.namespace
    labels = {LABEL_JOB: _label_value(definition.resource_name), LABEL_UID: uid}
    owner = owner_reference(body)
    entry, source = contract.script_location(definition)
    if not entry:
        raise FallbackError("no training script: set the sagemaker_program hyperparameter or spec.fallback.entryPoint")
    code_uri, workdir = _code_location(source)
    for channel in definition.channels:
        if not channel.uri.startswith("s3://"):
            raise FallbackError(f"channel {channel.name}: in the cluster, input data must be on S3, not {channel.uri}")
        if channel.s3_data_type != "S3Prefix":
            raise FallbackError(f"channel {channel.name}: {channel.s3_data_type} is not supported on the fallback")
    if not definition.output_path.startswith("s3://"):
        raise FallbackError(
            f"spec.outputDataConfig.s3OutputPath must be on S3 in the cluster: {definition.output_path}"
        )

    service_name = base
    hosts = [r.host for r in replicas]
    config_map = _config_map(definition, hosts, f"{base}-config", namespace, labels, owner)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(service_name, namespace, labels, owner),
        "spec": {
            "clusterIP": "None",
            "selector": dict(labels),
            "publishNotReadyAddresses": True,
            "ports": [{"name": "tf", "port": fallback.port, "targetPort": fallback.port, "protocol": "TCP"}],
        },
    }
    cluster = ClusterJob(definition, strategy, replicas, service, config_map, [], labels)
    decider = tfconfig.decider(replicas)

    def address(replica: Replica) -> str:
        return f"{replica.host}.{service_name}:{fallback.port}"

    resources = _resources(definition)
    for replica in replicas:
        cluster.pods.append(
            _pod(
                cluster,
                replica,
                is_decider=replica == decider,
                tf_config=tfconfig.tf_config_json(replicas, address, replica),
                image=image,
                helper_image=helper_image,
                entry=entry,
                source=source,
                code_uri=code_uri,
                workdir=workdir,
                resources=resources,
                owner=owner,
            )
        )
    return cluster


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def label_selector(body: Mapping[str, Any]) -> str:
    """Selects the pods of a TrainingJob (by its UID, so a re-created job of the same name never matches)."""
    return f"{LABEL_UID}={body['metadata']['uid']}"


def _base_name(name: str, uid: str) -> str:
    base = naming.derive_name(name, uid, _BASE_NAME_LENGTH).lower()
    base = _DNS_LABEL.sub("-", base).strip("-")
    return base if base[:1].isalpha() else f"j{base}"[:_BASE_NAME_LENGTH]  # a Service name starts with a letter


def _label_value(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", value)[:63].strip("-._")


def _metadata(name: str, namespace: str, labels: Mapping[str, str], owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**MANAGED_BY, **labels},
        "ownerReferences": [dict(owner)],
    }


def _code_location(source: str | None) -> tuple[str | None, str]:
    """(S3 URI to fetch into /opt/ml/code or None, the training container's working directory)."""
    if not source:
        return None, str(ML / "code")  # SageMaker's convention for code baked into the image
    if source.startswith("s3://"):
        if not source.endswith((".tar.gz", ".tgz")):
            raise FallbackError(f"source directory {source}: on S3 it must be a .tar.gz (sourcedir.tar.gz)")
        return source, str(ML / "code")
    if source.startswith("/"):
        return None, source  # a directory inside the image
    raise FallbackError(
        f"source directory {source}: in the cluster use an s3:// .tar.gz or an absolute path inside the image"
    )


def _config_map(
    job: JobDefinition, hosts: Sequence[str], name: str, namespace: str, labels: Mapping[str, str], owner: dict
) -> dict[str, Any]:
    data: dict[str, str] = {}
    for host in hosts:
        files = contract.config_files(job, hosts, host)
        data[contract.HYPERPARAMETERS_FILE] = files[contract.HYPERPARAMETERS_FILE]
        data[contract.INPUT_DATA_CONFIG_FILE] = files[contract.INPUT_DATA_CONFIG_FILE]
        data[_resource_config_key(host)] = files[contract.RESOURCE_CONFIG_FILE]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(name, namespace, labels, owner),
        "data": data,
    }


def _resource_config_key(host: str) -> str:
    return f"resourceconfig-{host}.json"


def _pod(
    cluster: ClusterJob,
    replica: Replica,
    *,
    is_decider: bool,
    tf_config: str,
    image: str,
    helper_image: str,
    entry: str,
    source: str | None,
    code_uri: str | None,
    workdir: str,
    resources: dict[str, Any],
    owner: dict[str, Any],
) -> dict[str, Any]:
    job = cluster.definition
    fallback = job.fallback
    service_name = cluster.service["metadata"]["name"]
    hosts = [r.host for r in cluster.replicas]
    runs_script = tfconfig.runs_script(cluster.strategy, replica)
    static_cpus = _static_cpus(job)
    built = contract.build(
        job,
        hosts,
        replica.host,
        num_cpus=static_cpus,
        num_gpus=_gpus(job, replica),
        entry_point=entry,
        module_dir=source or workdir,
    )
    env = [{"name": k, "value": v} for k, v in sorted({**job.environment, **built.env}.items())]
    if static_cpus is None:  # what the container may use: its CPU limit, or the node's allocatable CPUs
        env.append(_downward_cpus())
    env += [
        {"name": "TF_CONFIG", "value": tf_config},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "PYTHONPATH", "value": workdir},
    ]
    command = ["python3", entry, *built.args] if runs_script else ["python3", "-c", tfconfig.SERVER_BOOTSTRAP]
    mounts = _train_mounts(code_uri is not None)
    train: dict[str, Any] = {
        "name": TRAIN,
        "image": image,
        "command": command,
        "workingDir": workdir,
        "env": env,
        "ports": [{"name": "tf", "containerPort": fallback.port}],
        "volumeMounts": mounts,
        "terminationMessagePath": str(ML / "output" / "failure"),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    container_resources = _replica_resources(resources, replica)
    if container_resources:
        train["resources"] = container_resources
    init: list[dict[str, Any]] = []
    fetch = _fetch_container(job, replica, hosts, helper_image, code_uri)
    if fetch:
        init.append(fetch)
    containers: list[dict[str, Any]]
    if is_decider:
        init.append(train)
        containers = [_upload_container(job, helper_image)]
    else:
        containers = [train]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "hostname": replica.host,
        "subdomain": service_name,
        "dnsConfig": {"searches": [f"{service_name}.{cluster.namespace}.svc.cluster.local"]},
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "initContainers": init,
        "containers": containers,
        "volumes": [
            {"name": ML_VOLUME, "emptyDir": {}},
            {
                "name": CONFIG_VOLUME,
                "configMap": {
                    "name": cluster.config_map["metadata"]["name"],
                    "items": [
                        {"key": contract.HYPERPARAMETERS_FILE, "path": contract.HYPERPARAMETERS_FILE},
                        {"key": contract.INPUT_DATA_CONFIG_FILE, "path": contract.INPUT_DATA_CONFIG_FILE},
                        {"key": _resource_config_key(replica.host), "path": contract.RESOURCE_CONFIG_FILE},
                    ],
                },
            },
        ],
    }
    if not init:
        del spec["initContainers"]
    if job.max_runtime:
        spec["activeDeadlineSeconds"] = job.max_runtime
    if fallback.serviceAccountName:
        spec["serviceAccountName"] = fallback.serviceAccountName
    metadata = _metadata(cluster.pod_name(replica), cluster.namespace, cluster.labels, owner)
    metadata["labels"].update({LABEL_ROLE: replica.role, LABEL_INDEX: str(replica.index), LABEL_HOST: replica.host})
    # `kubectl logs POD` shows training even where it runs as an init container.
    metadata["annotations"] = {"kubectl.kubernetes.io/default-container": TRAIN}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _train_mounts(with_code: bool) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": CONFIG_VOLUME, "mountPath": str(ML / "input" / "config"), "readOnly": True},
        {"name": ML_VOLUME, "mountPath": str(ML / "input" / "data"), "subPath": "input/data"},
        {"name": ML_VOLUME, "mountPath": str(ML / "model"), "subPath": "model"},
        {"name": ML_VOLUME, "mountPath": str(ML / "output"), "subPath": "output"},
        {"name": ML_VOLUME, "mountPath": str(ML / "checkpoints"), "subPath": "checkpoints"},
    ]
    if with_code:  # otherwise /opt/ml/code is whatever the image has there
        mounts.append({"name": ML_VOLUME, "mountPath": str(ML / "code"), "subPath": "code"})
    return mounts


def _helper_env(job: JobDefinition) -> list[dict[str, str]]:
    env = []
    if job.region:
        env.append({"name": "AWS_REGION", "value": job.region})
    if job.fallback.s3Endpoint:
        env.append({"name": "AWS_ENDPOINT_URL_S3", "value": job.fallback.s3Endpoint})
    return env


def _fetch_container(
    job: JobDefinition, replica: Replica, hosts: Sequence[str], helper_image: str, code_uri: str | None
) -> dict[str, Any] | None:
    args = ["fetch", "--dest", str(ML), "--host-index", str(hosts.index(replica.host)), "--host-count", str(len(hosts))]
    for channel in job.channels:
        args += ["--channel", f"{channel.name}={channel.uri}"]
        if channel.sharded:
            args += ["--sharded", channel.name]
    if code_uri:
        args += ["--code", code_uri]
    if len(args) == 7:  # nothing to fetch
        return None
    return {
        "name": FETCH,
        "image": helper_image,
        "command": ["python", "-m", "sagemaker_operator.local.pod"],
        "args": args,
        "env": _helper_env(job),
        "volumeMounts": [{"name": ML_VOLUME, "mountPath": str(ML)}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _upload_container(job: JobDefinition, helper_image: str) -> dict[str, Any]:
    return {
        "name": UPLOAD,
        "image": helper_image,
        "command": ["python", "-m", "sagemaker_operator.local.pod"],
        "args": [
            "upload",
            "--model-dir",
            str(ML / "model"),
            "--model-uri",
            job.model_uri,
            "--output-data-dir",
            str(ML / "output" / "data"),
            "--output-uri",
            f"{job.output_uri}/output.tar.gz",
        ],
        "env": _helper_env(job),
        "volumeMounts": [
            {"name": ML_VOLUME, "mountPath": str(ML / "model"), "subPath": "model"},
            {"name": ML_VOLUME, "mountPath": str(ML / "output"), "subPath": "output"},
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _downward_cpus() -> dict[str, Any]:
    return {
        "name": "SM_NUM_CPUS",
        "valueFrom": {"resourceFieldRef": {"containerName": TRAIN, "resource": "limits.cpu", "divisor": "1"}},
    }


# --------------------------------------------------------------------------- resources

# vCPUs, GiB and GPUs of common SageMaker training instance types, for spec.fallback.sizeFromInstanceType.
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "9xlarge": 36, "12xlarge": 48,
          "16xlarge": 64, "18xlarge": 72, "24xlarge": 96}  # fmt: skip
_GIB_PER_VCPU = {"m4": 4, "m5": 4, "m6i": 4, "m7i": 4, "c4": 1.875, "c5": 2, "c6i": 2, "c7i": 2, "r5": 8, "t3": 4}
_GPU_INSTANCES: dict[str, tuple[int, float, int]] = {  # (vCPUs, GiB, GPUs)
    "ml.p3.2xlarge": (8, 61, 1),
    "ml.p3.8xlarge": (32, 244, 4),
    "ml.p3.16xlarge": (64, 488, 8),
    "ml.g4dn.xlarge": (4, 16, 1),
    "ml.g4dn.2xlarge": (8, 32, 1),
    "ml.g4dn.12xlarge": (48, 192, 4),
    "ml.g5.xlarge": (4, 16, 1),
    "ml.g5.2xlarge": (8, 32, 1),
    "ml.g5.12xlarge": (48, 192, 4),
    "ml.g5.48xlarge": (192, 768, 8),
}


def instance_resources(instance_type: str) -> tuple[int, float, int] | None:
    """(vCPUs, memory GiB, GPUs) of a SageMaker instance type we know, else None."""
    if instance_type in _GPU_INSTANCES:
        return _GPU_INSTANCES[instance_type]
    match = re.fullmatch(r"ml\.([a-z0-9]+)\.([0-9]*x?large)", instance_type)
    if not match or match.group(1) not in _GIB_PER_VCPU or match.group(2) not in _SIZES:
        return None
    vcpus = _SIZES[match.group(2)]
    return vcpus, vcpus * _GIB_PER_VCPU[match.group(1)], 0


def _resources(job: JobDefinition) -> dict[str, Any]:
    """cpu/memory/gpu per replica: spec.fallback.resources, else the instance type's (if asked), else none."""
    given = job.fallback.resources
    if given is not None:
        return {"cpu": given.cpu, "memory": given.memory, "gpu": given.gpu or 0}
    if job.fallback.sizeFromInstanceType:
        known = instance_resources(job.instance_type)
        if known is None:
            raise FallbackError(
                f"sizeFromInstanceType: unknown instance type {job.instance_type}; set spec.fallback.resources"
            )
        vcpus, gib, gpus = known
        return {"cpu": str(vcpus), "memory": f"{math.floor(gib * 1024)}Mi", "gpu": gpus}
    return {}


def _replica_resources(resources: Mapping[str, Any], replica: Replica) -> dict[str, Any]:
    requests, limits = {}, {}
    if resources.get("cpu"):
        requests["cpu"] = resources["cpu"]
    if resources.get("memory"):
        requests["memory"] = limits["memory"] = resources["memory"]
    if resources.get("gpu") and replica.role == tfconfig.WORKER:  # workers compute; chief and ps coordinate
        limits["nvidia.com/gpu"] = str(resources["gpu"])
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _static_cpus(job: JobDefinition) -> int | None:
    resources = _resources(job)
    cpu = resources.get("cpu")
    if not cpu:
        return None
    return max(1, math.ceil(int(cpu[:-1]) / 1000)) if cpu.endswith("m") else max(1, math.ceil(float(cpu)))


def _gpus(job: JobDefinition, replica: Replica) -> int:
    return int(_resources(job).get("gpu") or 0) if replica.role == tfconfig.WORKER else 0


# --------------------------------------------------------------------------- observing


@dataclass
class ReplicaState:
    host: str
    role: str
    index: int
    pod: str
    state: str  # Missing, Pending, Starting, Downloading, Training, Uploading, Succeeded, Failed
    message: str = ""


@dataclass
class ClusterStatus:
    """The TrainingJob's status as SageMaker would report it, from what the pods show."""

    training_job_status: str  # InProgress, Completed, Failed, Stopped
    secondary_status: str  # Pending, Starting, Downloading, Training, Uploading, Completed, Failed, MaxRuntimeExceeded
    failure_reason: str | None = None
    message: str = ""  # why it waits, for an Event (e.g. the scheduler's message)
    model_path: str | None = None
    replicas: list[ReplicaState] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.training_job_status != "InProgress"

    def status_fields(self) -> dict[str, Any]:
        """The TrainingJob status fields to patch (the Go operator's names)."""
        fields: dict[str, Any] = {
            "trainingJobStatus": self.training_job_status,
            "secondaryStatus": self.secondary_status,
        }
        if self.failure_reason:
            fields["failureReason"] = self.failure_reason
        if self.model_path:
            fields["modelPath"] = self.model_path
        if self.message and not self.finished:
            fields["additional"] = self.message
        return fields


def observe(cluster: ClusterJob, pods: Sequence[Mapping[str, Any]], *, pods_created: bool = True) -> ClusterStatus:
    """Map the job's pods (as listed by the API) to the TrainingJob status.

    ``pods_created``: the operator has created every pod, so a missing one was deleted or evicted and
    fails the job; before that, a missing pod just means "Starting". Call this only while the job is
    in progress: once it has ended, record the result (pods may then be deleted).
    """
    by_name = {p.get("metadata", {}).get("name"): p for p in pods}
    decider = tfconfig.decider(cluster.replicas)
    states = [
        _replica_state(cluster, replica, by_name.get(cluster.pod_name(replica)), replica == decider)
        for replica in cluster.replicas
    ]
    model_path = cluster.model_uri

    deadline = next((s for s in states if s.state == "Failed" and s.message.startswith("DeadlineExceeded")), None)
    if deadline is not None:
        runtime = cluster.definition.max_runtime
        return ClusterStatus(
            "Stopped",
            "MaxRuntimeExceeded",
            f"MaxRuntimeExceeded: stopped after maxRuntimeInSeconds ({runtime}s)",
            replicas=states,
        )
    for state in states:
        replica = _replica_of(cluster, state)
        if state.state == "Failed":
            return ClusterStatus("Failed", "Failed", _failure(state), replicas=states)
        if state.state == "Missing" and pods_created:
            reason = f"AlgorithmError: {state.host} {state.role}:{state.index}: pod {state.pod} is gone"
            return ClusterStatus("Failed", "Failed", reason, replicas=states)
        if state.state == "Succeeded" and not tfconfig.exits_by_itself(cluster.strategy, replica):
            reason = f"AlgorithmError: {state.host} {state.role}:{state.index} exited before the chief finished"
            return ClusterStatus("Failed", "Failed", reason, replicas=states)

    script_states = [s for s in states if tfconfig.runs_script(cluster.strategy, _replica_of(cluster, s))]
    if all(s.state == "Succeeded" for s in script_states):
        return ClusterStatus("Completed", "Completed", model_path=model_path, replicas=states)
    decider_state = next(s for s in states if s.host == decider.host)
    if decider_state.state == "Uploading":
        secondary = "Uploading"
    elif decider_state.state == "Succeeded":
        secondary = "Training"  # the chief is done; other workers are finishing
    else:
        secondary = _least_advanced(states)
    message = "; ".join(f"{s.host}: {s.message}" for s in states if s.message)
    return ClusterStatus("InProgress", secondary, message=message, replicas=states)


def _least_advanced(states: Sequence[ReplicaState]) -> str:
    """The job is as far as its slowest replica: Pending < Starting < Downloading < Training."""
    rank = {"Pending": 0, "Missing": 1, "Starting": 1, "Downloading": 2, "Training": 3, "Uploading": 3, "Succeeded": 3}
    slowest = min(states, key=lambda s: rank.get(s.state, 1))
    return {"Missing": "Starting", "Uploading": "Training", "Succeeded": "Training"}.get(slowest.state, slowest.state)


def _replica_of(cluster: ClusterJob, state: ReplicaState) -> Replica:
    return next(r for r in cluster.replicas if r.host == state.host)


def _failure(state: ReplicaState) -> str:
    return state.message[:1024]


def _container_statuses(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = pod.get("status") or {}
    found = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for item in status.get(key) or []:
            found[item.get("name")] = item
    return found


def _replica_state(
    cluster: ClusterJob, replica: Replica, pod: Mapping[str, Any] | None, is_decider: bool
) -> ReplicaState:
    name = cluster.pod_name(replica)
    state = ReplicaState(replica.host, replica.role, replica.index, name, "Missing")
    if pod is None:
        return state
    status = pod.get("status") or {}
    phase = status.get("phase", "Pending")
    who = f"{replica.host} {replica.role}:{replica.index}"
    if phase == "Failed" and status.get("reason") in ("DeadlineExceeded",):
        state.state, state.message = "Failed", f"DeadlineExceeded: {status.get('message', '')}".strip()
        return state
    containers = _container_statuses(pod)
    for container, what in ((FETCH, "could not download its input"), (TRAIN, None), (UPLOAD, "could not upload")):
        terminated = ((containers.get(container) or {}).get("state") or {}).get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            code = terminated.get("exitCode")
            detail = (terminated.get("message") or terminated.get("reason") or "").strip()
            if what is None:
                text = f"AlgorithmError: {who} exited with code {code}"
            else:
                text = f"ClientError: {who} {what} (exit code {code})"
            state.state, state.message = "Failed", text + (f": {detail}" if detail else "")
            return state
        waiting = ((containers.get(container) or {}).get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "InvalidImageName":
            state.state, state.message = "Failed", f"ClientError: {who}: {waiting.get('message', 'invalid image')}"
            return state
    if phase == "Failed":
        reason = status.get("reason") or "Failed"
        state.state, state.message = "Failed", f"AlgorithmError: {who}: {reason}: {status.get('message', '')}".strip()
        return state

    def is_(container: str, what: str) -> bool:
        return bool(((containers.get(container) or {}).get("state") or {}).get(what))

    def done(container: str) -> bool:
        terminated = ((containers.get(container) or {}).get("state") or {}).get("terminated") or {}
        return "exitCode" in terminated and terminated["exitCode"] == 0

    if done(TRAIN) and (not is_decider or done(UPLOAD)):
        state.state = "Succeeded"
    elif is_decider and done(TRAIN):
        state.state = "Uploading"
    elif is_(TRAIN, "running"):
        state.state = "Training"
    elif is_(FETCH, "running"):
        state.state = "Downloading"
    else:
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if scheduled and scheduled.get("status") == "False":
            state.state, state.message = "Pending", scheduled.get("message") or scheduled.get("reason", "")
        else:
            state.state = "Starting"
            waiting = [
                f"{c}: {w.get('reason')}"
                for c, s in containers.items()
                if (w := (s.get("state") or {}).get("waiting")) and w.get("reason") not in (None, "PodInitializing")
            ]
            state.message = ", ".join(waiting)
    return state


# --------------------------------------------------------------------------- cleaning up


def to_delete(cluster: ClusterJob, pods: Sequence[Mapping[str, Any]], status: ClusterStatus) -> list[ObjectRef]:
    """What to delete once the job has ended: every pod still running (parameter servers, servers,
    stragglers, the survivors of a failure) always; with ``cleanupPolicy: delete`` every pod, the
    Service and the ConfigMap. Nothing while the job runs."""
    if not status.finished:
        return []
    namespace = cluster.namespace
    delete_all = cluster.definition.fallback.cleanupPolicy is CleanupPolicy.DELETE
    refs = []
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "")
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if delete_all or phase in ("Pending", "Running", "Unknown"):
            refs.append(ObjectRef("v1", "Pod", name, namespace))
    if delete_all:
        refs.append(ObjectRef("v1", "Service", cluster.service["metadata"]["name"], namespace))
        refs.append(ObjectRef("v1", "ConfigMap", cluster.config_map["metadata"]["name"], namespace))
    return refs


def dumps(cluster: ClusterJob) -> str:
    """The objects as a JSON list (for ``kubectl apply -f -`` when debugging)."""
    return json.dumps(cluster.objects, indent=1)


__all__ = [
    "ClusterJob",
    "ClusterStatus",
    "ObjectRef",
    "ReplicaState",
    "build",
    "instance_resources",
    "label_selector",
    "observe",
    "owner_reference",
    "to_delete",
]
