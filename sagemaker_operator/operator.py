"""Assemble and run the kopf operator: registry, kopf settings, login, and the run loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import kopf

from sagemaker_operator import GROUP
from sagemaker_operator.api.common import FINALIZER
from sagemaker_operator.controllers import hostingdeployment, jobs
from sagemaker_operator.controllers.endpointconfig import ENDPOINT_CONFIG_KIND
from sagemaker_operator.controllers.model import MODEL_KIND
from sagemaker_operator.controllers.trainingjob import TRAINING
from sagemaker_operator.controllers.transformjob import TRANSFORM
from sagemaker_operator.controllers.tuningjob import TUNING
from sagemaker_operator.kube.login import connection_info as kubeconfig_login
from sagemaker_operator.kube.running import run_operator
from sagemaker_operator.settings import TIMER_TICK, OperatorContext, OperatorSettings

JOB_KINDS = (TRAINING, TUNING, TRANSFORM)
CREATED_ONCE_KINDS = (MODEL_KIND, ENDPOINT_CONFIG_KIND)


def build_registry(settings: OperatorSettings, *, login: bool = True) -> kopf.OperatorRegistry:
    """A fresh registry per operator instance (tests run several, one after another).

    ``login=False`` when the caller hands kopf its credentials directly (demo, tests): then no
    kubeconfig on the machine can send the operator to another cluster by accident.
    """
    registry = kopf.OperatorRegistry()
    for job in (*JOB_KINDS, *CREATED_ONCE_KINDS):
        jobs.register(registry, job, TIMER_TICK)
    hostingdeployment.register(registry, TIMER_TICK)
    if not login:
        return registry

    @kopf.on.login(registry=registry)
    def connect(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if settings.kube_server:
            return kopf.ConnectionInfo(server=settings.kube_server, default_namespace="default")
        # In a pod: the service account. Elsewhere: the kubeconfig, exec plugins (EKS) included.
        return kopf.login_with_service_account(**kwargs) or kubeconfig_login()

    return registry


def build_kopf_settings(settings: OperatorSettings) -> kopf.OperatorSettings:
    kopf_settings = kopf.OperatorSettings()
    kopf_settings.persistence.finalizer = FINALIZER
    # Keep kopf's bookkeeping in our own annotations; our CRD's status schema has no room for it.
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    kopf_settings.posting.level = logging.INFO
    kopf_settings.execution.max_workers = 20
    # Watch streams are re-established periodically so a silently dead connection cannot stall us.
    kopf_settings.watching.server_timeout = 300
    kopf_settings.watching.client_timeout = 330
    return kopf_settings


async def run(
    settings: OperatorSettings,
    *,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run the operator as a program (``sagemaker-operator run``) until ``stop_flag`` is set."""
    context = OperatorContext.from_settings(settings)
    if settings.kube_server:
        context.kube_config = kube_config_for(settings.kube_server)
    # Made now, not by the first resource's handler: building a boto3 client blocks the event loop for a
    # fifth of a second, which a burst of new resources would all wait for.
    context.clients.sagemaker()
    # What start-up loaded (botocore's service models, kopf, pydantic schemas: ~130,000 objects) lives as
    # long as the process. Frozen, it is out of the collector's way: otherwise each full collection scans it
    # all, about a tenth of a second in the middle of a burst of new resources.
    gc.freeze()
    liveness = f"http://0.0.0.0:{settings.liveness_port}/healthz" if settings.liveness_port else None
    await kopf.operator(
        registry=build_registry(settings),
        settings=build_kopf_settings(settings),
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        standalone=settings.peering is None,
        peering_name=settings.peering,
        # kopf pauses every replica that shares the top priority, so replicas must differ.
        priority=settings.priority if settings.priority is not None else random.randint(1, 32767),
        liveness_endpoint=liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
        memo=kopf.Memo(ctx=context),
    )
    await context.aclose()


@contextlib.asynccontextmanager
async def running_beside(
    kube: str | kopf.ConnectionInfo, settings: OperatorSettings, context: OperatorContext | None = None
) -> AsyncIterator[OperatorContext]:
    """Run the operator in the current event loop next to other servers (the demo, the tests).

    The block starts once the operator watches its resources; leaving it stops the operator
    and nothing else in the loop.
    """
    context = context or OperatorContext.from_settings(settings)
    if isinstance(kube, str) and context.kube_config is None:
        context.kube_config = kube_config_for(kube)
    kopf_settings = build_kopf_settings(settings)
    kopf_settings.scanning.disabled = True  # the CRDs are known to be installed
    try:
        async with run_operator(
            kube,
            registry=build_registry(settings, login=False),
            settings=kopf_settings,
            namespaces=settings.namespaces,
            memo=kopf.Memo(ctx=context),
        ):
            yield context
    finally:
        await context.aclose()


def kube_config_for(server: str) -> Any:
    """A lightkube config for an API server reached by URL alone (the emulator, `run --kube-server`)."""
    from lightkube import KubeConfig

    return KubeConfig.from_dict(
        {
            "clusters": [{"name": "api", "cluster": {"server": server}}],
            "users": [{"name": "operator", "user": {"token": "operator"}}],
            "contexts": [{"name": "api", "context": {"cluster": "api", "user": "operator"}}],
            "current-context": "api",
        }
    )
