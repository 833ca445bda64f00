"""An operator killed between CreateTrainingJob and its status patch: the next one adopts, never duplicates."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sagemaker_operator.aws.clients import ClientFactory
from sagemaker_operator.aws.sync import PerJobPolling
from sagemaker_operator.kube.emulator import KubeEmulator
from sagemaker_operator.operator import running_beside
from sagemaker_operator.settings import OperatorContext, OperatorSettings
from tests.e2e.conftest import Cluster, Sim, condition, eventually, training_job


class DiesAfterCreate(ClientFactory):
    """SageMaker clients whose CreateTrainingJob goes through, then never returns: the operator 'dies' there."""

    def __init__(self, settings: OperatorSettings) -> None:
        super().__init__(settings.region, settings.sagemaker_endpoint)
        self.created = threading.Event()
        self.release = threading.Event()

    def sagemaker(self, region: str | None = None, endpoint: str | None = None) -> Any:
        return _Hanging(super().sagemaker(region, endpoint), self)


class _Hanging:
    def __init__(self, client: Any, owner: DiesAfterCreate) -> None:
        self._client, self._owner = client, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_training_job(self, **request: Any) -> Any:
        response = self._client.create_training_job(**request)
        self._owner.created.set()
        self._owner.release.wait(timeout=60)  # the answer is never delivered to the (stopped) operator
        return response


async def test_restart_between_create_and_status_patch_adopts_the_job(
    kube: KubeEmulator, cluster: Cluster, sim: Sim, settings: OperatorSettings
) -> None:
    clients = DiesAfterCreate(settings)
    doomed = OperatorContext(settings, clients, PerJobPolling(clients))
    try:
        async with running_beside(str(kube.url), settings, doomed):
            resource = await cluster.apply(training_job("survivor"))
            await eventually(lambda: clients.created.is_set(), what="CreateTrainingJob to be sent")
        # The first operator is gone; SageMaker has the job, Kubernetes does not know it.
        assert sim.succeeded("CreateTrainingJob") == 1
        assert not (await cluster.status("survivor")).get("sageMakerTrainingJobName")
    finally:
        clients.release.set()

    async with running_beside(str(kube.url), settings):
        status = await eventually(lambda: _submitted(cluster), what="the second operator to record the job")
        assert sim.succeeded("CreateTrainingJob") == 1, "exactly one SageMaker job"
        assert sim.calls("CreateTrainingJob") == 2, "the second attempt met ResourceInUse and adopted"
        jobs = sim.simulator.training_job(status["sageMakerTrainingJobName"])
        assert {t["Value"] for t in jobs.tags} >= {resource["metadata"]["uid"]}
        assert condition(status, "Synced")["status"] == "True"
        submitted = await eventually(
            lambda: [e for e in cluster.events("survivor") if e["reason"] == "Submitted"],
            what="a Submitted event",
        )
        assert "Adopted" in submitted[-1]["message"]
        await asyncio.sleep(0.5)
        assert sim.succeeded("CreateTrainingJob") == 1


async def _submitted(cluster: Cluster) -> dict[str, Any] | None:
    status = await cluster.status("survivor")
    return status if status.get("sageMakerTrainingJobName") else None
