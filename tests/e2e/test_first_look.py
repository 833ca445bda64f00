"""A new resource's status comes from SageMaker at once, not a poll interval after it was created.

A job's timer starts once the resource's status shows the submitted job; an endpoint's timer starts with the
resource, usually before the deploy handler has created the endpoint. Neither may then wait a whole poll
interval (minutes in production) before its first look. The poll interval here is ten minutes, far beyond
any wait below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sagemaker_operator.kube.emulator import KubeEmulator
from sagemaker_operator.operator import running_beside
from sagemaker_operator.settings import OperatorContext, OperatorSettings
from tests.e2e.conftest import Cluster, Sim, condition, eventually, sample, training_job

SLOW_POLLING = 600.0


@pytest.fixture(params=["batched", "per-job"])
async def slow_operator(
    request: pytest.FixtureRequest, kube: KubeEmulator, settings: OperatorSettings
) -> AsyncIterator[OperatorContext]:
    slow = settings.model_copy(update={"poll_interval": SLOW_POLLING, "status_sync": request.param})
    async with running_beside(str(kube.url), slow) as context:
        yield context


@pytest.mark.usefixtures("slow_operator")
async def test_a_new_training_job_shows_sagemakers_status_at_once(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(training_job("prompt"))
    # secondaryStatus is only in DescribeTrainingJob's answer, not in CreateTrainingJob's.
    status = await cluster.status_when("prompt", lambda s: s.get("secondaryStatus"), "the first Describe's status")
    assert status["secondaryStatus"] == "Starting"
    assert status["trainingJobStatus"] == "InProgress"
    assert sim.calls("DescribeTrainingJob") >= 1


@pytest.mark.usefixtures("slow_operator")
async def test_a_new_endpoint_is_described_at_once(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(sample("xgboost-mnist-hostingdeployment.yaml", "prompt"))
    # endpointArn is written from DescribeEndpoint's answer, which the timer's first look fetches.
    status = await cluster.status_when(
        "prompt", lambda s: s.get("endpointArn"), "the endpoint's first Describe", plural="hostingdeployments"
    )
    assert status["endpointStatus"] == "Creating"
    assert sim.calls("DescribeEndpoint") >= 1


@pytest.mark.usefixtures("slow_operator")
async def test_deleting_a_resource_whose_job_is_not_created_yet_is_not_held_up(cluster: Cluster, sim: Sim) -> None:
    """SageMaker throttles the creation here, so the create handler is retrying when the resource is deleted.
    Nothing of the operator's may hold the deletion (a timer that does not end within a few loop cycles of
    being stopped makes kopf look again only a minute later), and no job may be created afterwards."""
    sim.simulator.faults.inject("CreateTrainingJob", error="ThrottlingException", message="Rate exceeded")
    await cluster.apply(training_job("hasty"))
    await cluster.status_when(
        "hasty", lambda s: condition(s, "Synced").get("reason") == "ThrottlingException", "the throttled submission"
    )
    await cluster.delete("hasty")

    async def gone() -> bool:
        return await cluster.get("hasty") is None

    await eventually(gone, what="the resource to be deleted (kopf's next look would be a minute away)")
    assert sim.calls("StopTrainingJob") == 0
    assert not sim.simulator.store.of_kind("TrainingJob"), "no job was created behind the user's back"
