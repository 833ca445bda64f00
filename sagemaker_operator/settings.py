"""Operator-wide settings (CLI flags and environment), validated once at start-up."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sagemaker_operator import __version__
from sagemaker_operator.aws import errors
from sagemaker_operator.aws.clients import ClientFactory
from sagemaker_operator.aws.sync import BatchedSync, Budgets, JobRef, PerJobPolling, StatusSource


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class OperatorSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    region: str = Field(default_factory=default_region, description="Region for resources without spec.region")
    sagemaker_endpoint: str | None = Field(None, description="SageMaker endpoint URL override")
    namespaces: tuple[str, ...] = Field((), description="Namespaces to serve; empty means cluster-wide")
    poll_interval: float = Field(
        15.0, gt=0, description="Seconds between status checks: one List per region (batched) or one Describe per job"
    )
    status_sync: Literal["batched", "per-job"] = Field(
        "batched", description="batched: one List per region and interval finds changes; per-job: Describe each job"
    )
    sagemaker_rate: float = Field(
        10.0, gt=0, description="Budget of status calls per second per region (halved while SageMaker throttles)"
    )
    status_heartbeat: float = Field(300.0, gt=0, description="Refresh lastCheckTime at least this often")
    aws_max_attempts: int = Field(5, ge=1, description="botocore attempts per call (standard retry mode)")
    retry_base_delay: float = Field(5.0, gt=0, description="First delay before a failed step is retried")
    retry_max_delay: float = Field(300.0, gt=0, description="Longest delay between retries")
    delete_max_retries: int = Field(8, ge=0, description="Attempts to stop a job on delete before giving up")
    kube_server: str | None = Field(None, description="Kubernetes API URL (otherwise in-cluster or kubeconfig)")
    liveness_port: int | None = Field(None, description="Serve /healthz on this port")
    peering: str | None = Field(None, description="kopf peering name for several replicas; None = standalone")
    priority: int | None = Field(None, description="Peering priority; None = random when peering")
    default_backend: Literal["sagemaker", "local"] = Field(
        "sagemaker", description="Where a TrainingJob runs unless its spec or annotation says (local: in-cluster TF)"
    )
    helper_image: str = Field(
        default_factory=lambda: os.environ.get("SAGEMAKER_OPERATOR_IMAGE") or f"sagemaker-operator:{__version__}",
        description="The operator's own image, run by fallback pods to fetch inputs and upload the model",
    )

    @field_validator("sagemaker_endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"--sagemaker-endpoint must be an http(s) URL, got {value!r}")
        return value or None


# The pause of a resource's timer between two looks. The waiting happens inside the timer (next_look), so a
# resource whose job is about to exist is looked at again at once, and news wakes it up (batched sync).
TIMER_TICK = 0.1


@dataclass
class OperatorContext:
    """What handlers share, passed to them through kopf's memo."""

    settings: OperatorSettings
    clients: ClientFactory
    status_source: StatusSource
    kube_config: Any = None  # a lightkube KubeConfig; None: in-cluster, else the kubeconfig
    _kube_client: Any = None
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _memory: dict[str, dict[str, Any]] = field(default_factory=dict)

    def kube(self) -> Any:
        """An async Kubernetes client (lightkube) for the objects the operator creates itself (fallback Pods)."""
        if self._kube_client is None:
            from lightkube import AsyncClient, KubeConfig

            config = self.kube_config or KubeConfig.from_env()
            self._kube_client = AsyncClient(config=config, field_manager="sagemaker-operator")
        return self._kube_client

    async def aclose(self) -> None:
        await self.status_source.aclose()
        if self._kube_client is not None:
            await self._kube_client.close()
            self._kube_client = None

    def lock(self, key: str) -> asyncio.Lock:
        """One lock per resource, so its timer and its event handlers never act at the same time."""
        return self._locks.setdefault(key, asyncio.Lock())

    def memory(self, key: str) -> dict[str, Any]:
        """Per-resource notes that outlive one handler call (not a restart: the status is the durable copy)."""
        return self._memory.setdefault(key, {})

    def forget(self, key: str) -> None:
        self._locks.pop(key, None)
        self._memory.pop(key, None)

    @classmethod
    def from_settings(cls, settings: OperatorSettings) -> OperatorContext:
        clients = ClientFactory(settings.region, settings.sagemaker_endpoint, max_attempts=settings.aws_max_attempts)
        budgets = Budgets(settings.sagemaker_rate)
        source: StatusSource
        if settings.status_sync == "batched":
            source = BatchedSync(clients, interval=settings.poll_interval, budgets=budgets)
        else:
            source = PerJobPolling(clients, budgets)
        return cls(settings=settings, clients=clients, status_source=source)

    async def next_look(self, ref: JobRef | None, stopped: Any) -> None:
        """Wait until the job may have changed, at most a poll interval (batched sync wakes the resource on
        news; per-job polling waits an interval after the job's last look; ``ref`` None: nothing to follow)."""
        timeout = self.settings.poll_interval
        waiting = asyncio.ensure_future(
            self.status_source.wait_for_change(ref, timeout) if ref is not None else asyncio.sleep(timeout)
        )
        stopping = asyncio.ensure_future(stopped.wait())
        try:
            await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            stopping.cancel()

    async def wait_while(self, condition: Callable[[], bool], stopped: Any) -> None:
        """Re-check a cheap condition of a timer's live body every tick within one run, at most a poll interval.

        Much cheaper than returning and letting kopf re-run the timer next tick: kopf rebuilds a handler's
        state and arguments on every run: about 40 % of the operator's CPU while a burst of 200 new resources waited."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.poll_interval
        # Woken by ``stopped`` at once, not at the next tick: kopf expects a stopped timer to exit within a few
        # loop cycles, and otherwise looks again only a minute later, holding up the resource's deletion as long.
        stopping = asyncio.ensure_future(stopped.wait())
        try:
            while condition() and not stopping.done() and loop.time() < deadline:
                await asyncio.wait([stopping], timeout=TIMER_TICK)
        finally:
            stopping.cancel()

    async def wait_for_news(
        self, pending: Callable[[], bool], followed: Callable[[], JobRef | None], stopped: Any
    ) -> bool:
        """One timer run's wait for a timer that starts before what it follows exists (HostingDeployment's): while
        ``pending`` (the endpoint is being created), re-check each tick; then wait until what it follows may have
        changed. False: nothing to do this run. (Jobs' timers start once the job is submitted: `next_look`.)

        Once ``stopped`` (deletion, shutdown) it returns at once and the timer must not patch anything: kopf
        waits only a few loop cycles for a stopped timer, then a whole minute before the deletion goes on."""
        if pending():
            await self.wait_while(pending, stopped)
            if stopped or pending():
                return False
        await self.next_look(followed(), stopped)
        return not stopped

    def backoff(self, attempt: int) -> float:
        return errors.backoff(attempt, base=self.settings.retry_base_delay, cap=self.settings.retry_max_delay)
