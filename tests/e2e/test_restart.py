"""An operator killed between Create* and its status patch: the next one adopts, never duplicates."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from sagemaker_operator.aws.clients import ClientFactory
from sagemaker_operator.aws.sync import PerJobPolling
from sagemaker_operator.kube.emulator import KubeEmulator
from sagemaker_operator.operator import JOB_KINDS, running_beside
from sagemaker_operator.settings import OperatorContext, OperatorSettings
from tests.e2e.conftest import Cluster, Sim, condition, eventually, sample

SAMPLES = {
    "TrainingJob": "xgboost-mnist-trainingjob.yaml",
    "HyperparameterTuningJob": "xgboost-mnist-hpo.yaml",
    "BatchTransformJob": "xgboost-mnist-batchtransform.yaml",
}


class DiesAfterCreate(ClientFactory):
    """SageMaker clients whose Create* goes through, then never returns: the operator 'dies' right there."""

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
        method = getattr(self._client, name)
        if not name.startswith("create_"):
            return method

        def create_then_hang(**request: Any) -> Any:
            response = method(**request)
            self._owner.created.set()
            self._owner.release.wait(timeout=60)  # the answer never reaches the (stopped) operator
            return response

        return create_then_hang


@pytest.mark.parametrize("job", JOB_KINDS, ids=lambda job: job.api.kind)
async def test_restart_between_create_and_status_patch_adopts_the_job(
    job: Any, kube: KubeEmulator, cluster: Cluster, sim: Sim, settings: OperatorSettings, model: str
) -> None:
    plural, create = job.api.plural, job.api.create_operation
    clients = DiesAfterCreate(settings)
    doomed = OperatorContext(settings, clients, PerJobPolling(clients))
    try:
        async with running_beside(str(kube.url), settings, doomed):
            resource = await cluster.apply(sample(SAMPLES[job.api.kind], "survivor"))
            await eventually(clients.created.is_set, what=f"{create} to be sent")
        # The first operator is gone; SageMaker has the job, Kubernetes does not know it.
        assert sim.succeeded(create) == 1
        assert not (await cluster.status("survivor", plural)).get(job.name_status_field)
    finally:
        clients.release.set()

    async with running_beside(str(kube.url), settings):
        status = await cluster.status_when(
            "survivor", lambda s: s.get(job.name_status_field), "the second operator records the job", plural
        )
        assert sim.succeeded(create) == 1, "exactly one SageMaker job"
        assert sim.calls(create) == 2, "the second attempt met ResourceInUse and adopted"
        assert condition(status, "Synced")["status"] == "True"
        submitted = await eventually(
            lambda: [e for e in cluster.events("survivor") if e["reason"] == "Submitted"], what="a Submitted event"
        )
        assert "Adopted" in submitted[-1]["message"]
        arn = status[job.arn_status_field]
        tags = sim.tags(arn)
        assert tags["sagemaker.aws.amazon.com/kubernetes-uid"] == resource["metadata"]["uid"]
        await asyncio.sleep(0.5)
        assert sim.succeeded(create) == 1


@pytest.mark.parametrize("job", JOB_KINDS, ids=lambda job: job.api.kind)
async def test_a_plain_restart_creates_nothing_and_carries_on(
    job: Any, kube: KubeEmulator, cluster: Cluster, sim: Sim, settings: OperatorSettings, model: str
) -> None:
    plural, create = job.api.plural, job.api.create_operation
    async with running_beside(str(kube.url), settings):
        await cluster.apply(sample(SAMPLES[job.api.kind], "steady"))
        await cluster.status_when("steady", lambda s: s.get(job.status_field), "a SageMaker status", plural)
    async with running_beside(str(kube.url), settings):
        sim.simulator.clock.advance(36000)
        status = await cluster.status_when(
            "steady", lambda s: s.get(job.status_field) == "Completed", "Completed after the restart", plural
        )
        assert condition(status, "Succeeded")["status"] == "True"
    assert sim.calls(create) == 1
