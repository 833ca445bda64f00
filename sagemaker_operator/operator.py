"""Assemble and run the kopf operator: registry, kopf settings, login, and the run loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from sagemaker_operator import GROUP
from sagemaker_operator.api.common import FINALIZER
from sagemaker_operator.controllers import jobs
from sagemaker_operator.controllers.trainingjob import TRAINING
from sagemaker_operator.settings import OperatorContext, OperatorSettings

JOB_KINDS = (TRAINING,)


def build_registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    """A fresh registry per operator instance (tests run several, one after another)."""
    registry = kopf.OperatorRegistry()
    for job in JOB_KINDS:
        jobs.register(registry, job, settings.poll_interval)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if settings.kube_server:
            return kopf.ConnectionInfo(server=settings.kube_server, default_namespace="default")
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

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
    kopf_settings.scanning.disabled = bool(settings.kube_server)
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
    context: OperatorContext | None = None,
) -> None:
    """Run the operator until ``stop_flag`` is set (or forever)."""
    context = context or OperatorContext.from_settings(settings)
    liveness = f"http://0.0.0.0:{settings.liveness_port}/healthz" if settings.liveness_port else None
    await kopf.operator(
        registry=build_registry(settings),
        settings=build_kopf_settings(settings),
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        standalone=settings.peering is None,
        peering_name=settings.peering,
        liveness_endpoint=liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
        memo=kopf.Memo(ctx=context),
    )
