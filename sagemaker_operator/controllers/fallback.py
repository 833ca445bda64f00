"""A TrainingJob run without SageMaker: TensorFlow distributed training in Pods of the cluster.

``sagemaker_operator.local.kube`` says what to create and how to read the Pods (pure functions); this module
talks to the Kubernetes API and fits the fallback into the job lifecycle of ``jobs.py``: where a job runs is
decided once (spec, annotation, operator default, or SageMaker's capacity error with the opt-in policy),
recorded in ``status.backend`` and ``status.backendReason``, and announced by an Event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import kopf
from lightkube import AsyncClient
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Pod, Service

from sagemaker_operator.api.common import ConditionType, now_rfc3339
from sagemaker_operator.aws import naming
from sagemaker_operator.controllers.status import outcome, set_conditions, synced, terminal
from sagemaker_operator.local import kube
from sagemaker_operator.local.spec import Backend, BackendChoice, FallbackError, choose_backend, should_fall_back
from sagemaker_operator.settings import OperatorContext

LOCAL = Backend.LOCAL.value
_KINDS: dict[str, Any] = {"Pod": Pod, "Service": Service, "ConfigMap": ConfigMap}


def runs_locally(status: Mapping[str, Any]) -> bool:
    return status.get("backend") == LOCAL


def choose(body: kopf.Body, ctx: OperatorContext) -> BackendChoice:
    return choose_backend(body["spec"], body["metadata"].get("annotations"), ctx.settings.default_backend)


def on_capacity_error(body: kopf.Body, code: str | None, message: str | None) -> BackendChoice | None:
    return should_fall_back(body["spec"], code, message)


def _job_name(body: kopf.Body) -> str:
    meta = body["metadata"]
    return str(body["spec"].get("trainingJobName") or naming.derive_name(meta["name"], meta["uid"], 63))


def _cluster_job(body: kopf.Body, ctx: OperatorContext) -> kube.ClusterJob:
    document = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), **dict(body)}
    return kube.build(document, helper_image=ctx.settings.helper_image, job_name=_job_name(body))


async def start(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext, choice: BackendChoice) -> None:
    """Create the Service, ConfigMap and Pods; an object left by an earlier attempt is kept (restart-safe)."""
    try:
        cluster = _cluster_job(body, ctx)
    except FallbackError as exc:
        message = f"The job cannot run in the cluster: {exc}"
        kopf.warn(body, reason="FallbackRefused", message=message)
        patch.status["additional"] = message
        raise kopf.PermanentError(message) from exc
    client = ctx.kube()
    for obj in cluster.objects:
        try:
            await client.create(from_dict(obj))
        except ApiError as exc:
            if exc.status.code != 409:  # AlreadyExists: created before a restart
                raise kopf.TemporaryError(f"creating {obj['kind']} {obj['metadata']['name']}: {exc}", delay=5) from exc
    patch.status.update(
        backend=LOCAL,
        backendReason=choice.reason,
        trainingJobStatus="InProgress",
        secondaryStatus="Starting",
        lastCheckTime=now_rfc3339(),
        additional=None,
    )
    set_outcome(body, patch, "Unknown", "RunningInCluster", f"Running without SageMaker: {choice.reason}")
    replicas = ", ".join(f"{r.role}-{r.index}" for r in cluster.replicas)
    kopf.info(body, reason="RunningInCluster", message=f"Running in the cluster ({replicas}) because {choice.reason}")


def set_outcome(
    body: kopf.Body, patch: kopf.Patch, state: Literal["True", "False", "Unknown"], reason: str, message: str
) -> None:
    result = outcome(ConditionType.SUCCEEDED, state, reason, message)
    set_conditions(patch, body.get("status") or {}, body["metadata"], synced(True), terminal(False), result)


async def sync(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> None:
    """Map the Pods to the TrainingJob's status; once it has ended, delete what must go."""
    status = body.get("status") or {}
    if status.get("trainingJobStatus") in ("Completed", "Failed", "Stopped"):
        return
    cluster = _cluster_job(body, ctx)
    client = ctx.kube()
    pods = [p.to_dict() async for p in client.list(Pod, namespace=cluster.namespace, labels=cluster.labels)]
    observed = kube.observe(cluster, pods)
    fields = observed.status_fields()
    changed = {k: v for k, v in fields.items() if status.get(k) != v}
    if not changed:
        return
    patch.status.update(fields, lastCheckTime=now_rfc3339())
    if observed.secondary_status != status.get("secondaryStatus"):
        message = observed.failure_reason or observed.message or observed.secondary_status
        if observed.training_job_status in ("Failed", "Stopped"):
            kopf.warn(body, reason=observed.secondary_status, message=message)
        else:
            kopf.info(body, reason=observed.secondary_status, message=message)
    if not observed.finished:
        set_outcome(body, patch, "Unknown", observed.secondary_status, observed.message or "")
        return
    if observed.training_job_status == "Completed":
        set_outcome(body, patch, "True", "Completed", f"Model at {observed.model_path}")
    else:
        set_outcome(body, patch, "False", observed.training_job_status, observed.failure_reason or "")
    for ref in kube.to_delete(cluster, pods, observed):
        await _delete(client, ref.kind, ref.name, ref.namespace)


async def stop(body: kopf.Body, ctx: OperatorContext) -> None:
    """The TrainingJob is being deleted: remove its Pods, Service and ConfigMap (owner references would
    too, but not every cluster runs the garbage collector promptly, and running Pods cost money)."""
    try:
        cluster = _cluster_job(body, ctx)
    except FallbackError:
        return
    client = ctx.kube()
    for obj in reversed(cluster.objects):
        await _delete(client, obj["kind"], obj["metadata"]["name"], cluster.namespace)
    kopf.info(body, reason="Stopping", message="Deleting the job's Pods, Service and ConfigMap")


async def _delete(client: AsyncClient, kind: str, name: str, namespace: str) -> None:
    try:
        await client.delete(_KINDS[kind], name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code != 404:
            raise


class InCluster:
    """The fallback as the shared job mechanics see it (``JobKind.alternate``)."""

    runs_locally = staticmethod(runs_locally)
    choose = staticmethod(choose)
    on_capacity_error = staticmethod(on_capacity_error)
    start = staticmethod(start)
    sync = staticmethod(sync)
    stop = staticmethod(stop)


IN_CLUSTER = InCluster()
