"""HostingDeployment end to end: create, zero-downtime updates, failed updates, scaling, tags, delete, restart."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from sagemaker_operator.kube.emulator import KubeEmulator
from sagemaker_operator.operator import running_beside
from sagemaker_operator.settings import OperatorSettings
from tests.e2e.conftest import Cluster, Sim, condition, eventually, sample

HD = "hostingdeployments"
NEW_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:2.0-1"


def deployment(name: str = "serve") -> dict[str, Any]:
    return sample("xgboost-mnist-hostingdeployment.yaml", name)


def with_image(document: dict[str, Any], image: str, environment: list[dict[str, str]] | None = None) -> dict:
    changed = copy.deepcopy(document)
    container = changed["spec"]["models"][0]["containers"][0]
    container["image"] = image
    if environment is not None:
        container["environment"] = environment
    return changed


async def in_service(cluster: Cluster, sim: Sim, name: str, config: str | None = None) -> dict[str, Any]:
    """Advance SageMaker's clock until the resource reports InService (on ``config`` if given) and Ready."""

    async def check() -> dict[str, Any] | None:
        sim.simulator.clock.advance(60)
        status = await cluster.status(name, HD)
        ready = condition(status, "Ready")
        on_config = config is None or status.get("endpointConfigName") == config
        if status.get("endpointStatus") == "InService" and ready.get("status") == "True" and on_config:
            return status
        return None

    return await eventually(check, what=f"{name} InService and Ready")


def resources(sim: Sim) -> dict[str, list[str]]:
    client = sim.client()
    return {
        "endpoints": [e["EndpointName"] for e in client.list_endpoints()["Endpoints"]],
        "configs": [c["EndpointConfigName"] for c in client.list_endpoint_configs()["EndpointConfigs"]],
        "models": [m["ModelName"] for m in client.list_models()["Models"]],
    }


def no_gap_after_first_in_service(sim: Sim, endpoint: str) -> None:
    timeline = sim.simulator.endpoint(endpoint).timeline
    first = next(i for i, entry in enumerate(timeline) if entry.status == "InService")
    gaps = [entry for entry in timeline[first:] if entry.serving is None]
    assert not gaps, f"moments without a serving endpoint: {gaps}"


async def put_spec(cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
    code, body = await cluster.patch(name, {"spec": spec}, HD)
    assert code == 200, body


@pytest.mark.usefixtures("operator")
async def test_create_to_in_service(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(deployment())
    status = await cluster.status_when("serve", lambda s: s.get("endpointStatus") == "Creating", "Creating", HD)
    assert condition(status, "Ready")["status"] == "Unknown"
    status = await in_service(cluster, sim, "serve")

    endpoint = status["endpointName"]
    assert (
        status["endpointUrl"] == f"https://runtime.sagemaker.us-west-2.amazonaws.com/endpoints/{endpoint}/invocations"
    )
    assert status["endpointArn"].endswith(f"endpoint/{endpoint}")
    (model_name,) = status["modelNames"]
    assert model_name["name"] == "xgboost-model"
    variant = status["productionVariants"][0]
    assert variant["variantName"] == "AllTraffic" and variant["currentInstanceCount"] == 1
    held = resources(sim)
    assert held == {"endpoints": [endpoint], "configs": [status["endpointConfigName"]], "models": [model_name["value"]]}
    tags = sim.tags(status["endpointArn"])
    assert tags["team"] == "ml-platform" and "sagemaker.aws.amazon.com/kubernetes-uid" in tags
    reasons = await eventually(lambda: (r := cluster.reasons("serve")) and "InService" in r and r, what="events")
    assert "Creating" in reasons


@pytest.mark.usefixtures("operator")
async def test_image_change_moves_to_a_new_config_without_downtime_and_cleans_up(cluster: Cluster, sim: Sim) -> None:
    document = deployment()
    await cluster.apply(document)
    before = await in_service(cluster, sim, "serve")

    await put_spec(cluster, "serve", with_image(document, NEW_IMAGE)["spec"])
    updating = await cluster.status_when("serve", lambda s: s.get("updatingTo"), "an update in flight", HD)
    new_config = updating["updatingTo"]
    assert new_config != before["endpointConfigName"]
    after = await in_service(cluster, sim, "serve", config=new_config)

    assert after["modelNames"][0]["value"] != before["modelNames"][0]["value"]
    assert sim.succeeded("UpdateEndpoint") == 1
    await eventually(
        lambda: resources(sim)["configs"] == [new_config] and len(resources(sim)["models"]) == 1,
        what="the superseded config and model to be deleted",
    )
    assert resources(sim)["models"] == [after["modelNames"][0]["value"]]
    no_gap_after_first_in_service(sim, after["endpointName"])
    reasons = await eventually(lambda: (r := cluster.reasons("serve")) and "CleanedUp" in r and r, what="events")
    assert "Updating" in reasons and "Updated" in reasons


@pytest.mark.usefixtures("operator")
async def test_failed_update_is_recorded_not_retried_and_the_endpoint_keeps_serving(cluster: Cluster, sim: Sim) -> None:
    document = deployment()
    await cluster.apply(document)
    before = await in_service(cluster, sim, "serve")
    broken = with_image(document, NEW_IMAGE, [{"name": "SAGEMAKER_SIMULATOR_FAILURE_REASON", "value": "OOM at load"}])
    await put_spec(cluster, "serve", broken["spec"])

    async def failed() -> dict[str, Any] | None:
        sim.simulator.clock.advance(60)
        status = await cluster.status("serve", HD)
        return status if condition(status, "Ready").get("reason") == "UpdateFailed" else None

    status = await eventually(failed, what="the update to fail")
    assert status["endpointStatus"] == "InService"
    assert status["endpointConfigName"] == before["endpointConfigName"], "still serving the last good config"
    assert "OOM at load" in status["failureReason"]
    warning = await eventually(
        lambda: [e for e in cluster.events("serve") if e["reason"] == "UpdateFailed" and e["type"] == "Warning"],
        what="an UpdateFailed Warning",
    )
    assert "OOM at load" in warning[0]["message"]

    for _ in range(10):  # many polls later, the same failing config is not sent again
        sim.simulator.clock.advance(60)
        await asyncio.sleep(0.2)
    assert sim.succeeded("UpdateEndpoint") == 1
    no_gap_after_first_in_service(sim, status["endpointName"])
    await eventually(lambda: len(resources(sim)["configs"]) == 1, what="the failed config to be cleaned up")

    # A new edit tries again.
    await put_spec(cluster, "serve", with_image(document, NEW_IMAGE)["spec"])
    updating = await cluster.status_when("serve", lambda s: s.get("updatingTo"), "a new update", HD)
    await in_service(cluster, sim, "serve", config=updating["updatingTo"])
    assert sim.succeeded("UpdateEndpoint") == 2


@pytest.mark.usefixtures("operator")
async def test_weights_and_counts_change_in_place_without_a_new_config(cluster: Cluster, sim: Sim) -> None:
    document = deployment()
    await cluster.apply(document)
    before = await in_service(cluster, sim, "serve")
    configs_created = sim.succeeded("CreateEndpointConfig")

    scaled = copy.deepcopy(document["spec"])
    scaled["productionVariants"][0].update(initialInstanceCount=3, initialVariantWeight=0.5)
    await put_spec(cluster, "serve", scaled)

    async def scaled_out() -> dict[str, Any] | None:
        sim.simulator.clock.advance(60)
        status = await cluster.status("serve", HD)
        variant = (status.get("productionVariants") or [{}])[0]
        ready = condition(status, "Ready").get("status") == "True"
        return status if ready and variant.get("currentInstanceCount") == 3 else None

    status = await eventually(scaled_out, what="3 instances")
    assert status["productionVariants"][0]["currentWeight"] == pytest.approx(0.5)
    assert status["endpointConfigName"] == before["endpointConfigName"]
    assert sim.succeeded("CreateEndpointConfig") == configs_created
    assert sim.succeeded("UpdateEndpointWeightsAndCapacities") == 1
    assert sim.calls("UpdateEndpoint") == 0


@pytest.mark.usefixtures("operator")
async def test_tag_changes_apply_in_place(cluster: Cluster, sim: Sim) -> None:
    document = deployment()
    await cluster.apply(document)
    before = await in_service(cluster, sim, "serve")
    retagged = copy.deepcopy(document["spec"])
    retagged["tags"] = [{"key": "cost-center", "value": "42"}]
    await put_spec(cluster, "serve", retagged)

    def tags() -> dict[str, str]:
        return sim.tags(before["endpointArn"])

    await eventually(lambda: tags().get("cost-center") == "42" and "team" not in tags(), what="the new tags")
    assert "sagemaker.aws.amazon.com/kubernetes-uid" in tags(), "ownership tags are never removed"
    assert sim.calls("UpdateEndpoint") == 0 and resources(sim)["configs"] == [before["endpointConfigName"]]


@pytest.mark.usefixtures("operator")
async def test_a_change_while_creating_waits_then_applies(cluster: Cluster, sim: Sim) -> None:
    document = deployment()
    await cluster.apply(document)
    await cluster.status_when("serve", lambda s: s.get("endpointStatus") == "Creating", "Creating", HD)
    await put_spec(cluster, "serve", with_image(document, NEW_IMAGE)["spec"])
    await asyncio.sleep(1.0)  # several polls while Creating
    assert sim.calls("UpdateEndpoint") == 0, "nothing is sent to an endpoint that is still being created"

    updating = await eventually(
        lambda: _advance_then(cluster, sim, lambda s: s.get("updatingTo")), what="the waiting change to be applied"
    )
    await in_service(cluster, sim, "serve", config=updating["updatingTo"])
    assert sim.succeeded("UpdateEndpoint") == 1


async def _advance_then(cluster: Cluster, sim: Sim, predicate: Any) -> dict[str, Any] | None:
    sim.simulator.clock.advance(60)
    status = await cluster.status("serve", HD)
    return status if predicate(status) else None


@pytest.mark.usefixtures("operator")
async def test_delete_removes_every_sagemaker_resource_it_created(cluster: Cluster, sim: Sim) -> None:
    document = deployment()
    await cluster.apply(document)
    await in_service(cluster, sim, "serve")
    await put_spec(cluster, "serve", with_image(document, NEW_IMAGE)["spec"])
    await cluster.status_when("serve", lambda s: s.get("updatingTo"), "an update in flight", HD)
    status = await in_service(cluster, sim, "serve")
    await cluster.delete("serve", HD)

    await eventually(lambda: cluster.gone("serve", HD), what="the resource to be deleted")
    sim.simulator.clock.advance(600)
    assert resources(sim) == {"endpoints": [], "configs": [], "models": []}
    assert sim.succeeded("DeleteEndpoint") == 1
    assert status["endpointName"]
    await asyncio.sleep(0.3)  # a List already under way ends
    lists = sim.calls("ListEndpoints")
    await asyncio.sleep(1.0)
    assert sim.calls("ListEndpoints") == lists, "no resource follows the endpoint any more: no List"


@pytest.mark.usefixtures("operator")
async def test_retain_policy_leaves_the_endpoint_serving(cluster: Cluster, sim: Sim) -> None:
    document = deployment()
    document["metadata"]["annotations"] = {"services.k8s.aws/deletion-policy": "retain"}
    await cluster.apply(document)
    status = await in_service(cluster, sim, "serve")
    await cluster.delete("serve", HD)
    await eventually(lambda: cluster.gone("serve", HD), what="the resource to be deleted")
    assert resources(sim)["endpoints"] == [status["endpointName"]]
    assert sim.calls("DeleteEndpoint") == 0


async def test_a_restart_during_an_update_finishes_it_without_duplicates(
    kube: KubeEmulator, cluster: Cluster, sim: Sim, settings: OperatorSettings
) -> None:
    document = deployment()
    async with running_beside(str(kube.url), settings):
        await cluster.apply(document)
        before = await in_service(cluster, sim, "serve")
        await put_spec(cluster, "serve", with_image(document, NEW_IMAGE)["spec"])
        await eventually(lambda: sim.succeeded("UpdateEndpoint") == 1, what="UpdateEndpoint")
    # The operator is gone mid-update (the endpoint is Updating: the clock only moves when we say so).
    assert sim.client().describe_endpoint(EndpointName=before["endpointName"])["EndpointStatus"] == "Updating"

    async with running_beside(str(kube.url), settings):
        after = await in_service(cluster, sim, "serve")
        assert after["endpointConfigName"] != before["endpointConfigName"]
        await eventually(lambda: len(resources(sim)["configs"]) == 1, what="cleanup after the restart")
    assert sim.succeeded("UpdateEndpoint") == 1
    assert sim.succeeded("CreateEndpointConfig") == 2
    assert sim.succeeded("CreateEndpoint") == 1
    no_gap_after_first_in_service(sim, after["endpointName"])


@pytest.mark.usefixtures("operator")
async def test_standalone_model_and_endpoint_config_are_created_and_deleted(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(sample("xgboost-model.yaml", "model"))
    status = await cluster.status_when("model", lambda s: s.get("status") == "Created", "Created", "models")
    assert status["sageMakerModelName"] == "xgboost-mnist-model"
    assert condition(status, "Ready")["status"] == "True"
    await cluster.apply(sample("xgboost-endpointconfig.yaml", "config"))
    config = await cluster.status_when("config", lambda s: s.get("status") == "Created", "Created", "endpointconfigs")
    assert config["sageMakerEndpointConfigName"].startswith("config-")
    assert resources(sim)["configs"] == [config["sageMakerEndpointConfigName"]]

    await cluster.delete("config", "endpointconfigs")
    await cluster.delete("model", "models")
    await eventually(lambda: cluster.gone("model", "models"), what="the model resource to go")
    await eventually(lambda: resources(sim) == {"endpoints": [], "configs": [], "models": []}, what="all deleted")
