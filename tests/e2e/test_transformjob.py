"""BatchTransformJob end to end: success with the output path, failure with a reason, stop on delete."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cluster, Sim, condition, eventually, sample

pytestmark = pytest.mark.usefixtures("operator")
BTJ = "batchtransformjobs"


def transform_job(name: str, **spec_changes: object) -> dict:
    return sample("xgboost-mnist-batchtransform.yaml", name, **spec_changes)


@pytest.mark.usefixtures("model")
async def test_transform_job_completes_with_its_output_path(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(transform_job("batch"))
    status = await cluster.status_when("batch", lambda s: s.get("transformJobStatus") == "InProgress", "running", BTJ)
    name = status["sageMakerTransformJobName"]
    assert "#logStream:group=/aws/sagemaker/TransformJobs;prefix=" in status["cloudWatchLogUrl"]
    sim.simulator.clock.advance(36000)
    status = await cluster.status_when("batch", lambda s: s.get("transformJobStatus") == "Completed", "done", BTJ)

    assert status["outputPath"] == "s3://amzn-s3-demo-bucket/xgboost-batch-output"
    assert condition(status, "Succeeded")["status"] == "True"
    reasons = await eventually(lambda: (r := cluster.reasons("batch")) and "Completed" in r and r, what="events")
    assert "Submitted" in reasons
    assert sim.calls("CreateTransformJob") == 1
    assert sim.client().describe_transform_job(TransformJobName=name)["ModelName"] == "xgboost-mnist-model"


@pytest.mark.usefixtures("model")
async def test_failed_transform_job_shows_the_reason(cluster: Cluster, sim: Sim) -> None:
    environment = [{"name": "SAGEMAKER_SIMULATOR_FAILURE_REASON", "value": "payload too large"}]
    await cluster.apply(transform_job("broken", environment=environment))
    await cluster.status_when("broken", lambda s: s.get("transformJobStatus"), "submitted", BTJ)
    sim.simulator.clock.advance(36000)
    status = await cluster.status_when("broken", lambda s: s.get("transformJobStatus") == "Failed", "Failed", BTJ)
    assert "payload too large" in status["failureReason"]
    assert condition(status, "Succeeded")["reason"] == "Failed"
    await eventually(
        lambda: [e for e in cluster.events("broken") if e["type"] == "Warning" and "payload too large" in e["message"]],
        what="a Warning event with the reason",
    )


@pytest.mark.usefixtures("model")
async def test_deleting_a_running_transform_job_stops_it(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(transform_job("halt"))
    status = await cluster.status_when("halt", lambda s: s.get("transformJobStatus") == "InProgress", "running", BTJ)
    await cluster.delete("halt", BTJ)
    await eventually(lambda: cluster.gone("halt", BTJ), what="the resource to be deleted")
    assert sim.succeeded("StopTransformJob") == 1
    described = sim.client().describe_transform_job(TransformJobName=status["sageMakerTransformJobName"])
    assert described["TransformJobStatus"] in ("Stopping", "Stopped")


async def test_a_missing_model_is_retried_until_the_model_exists(cluster: Cluster, sim: Sim) -> None:
    """kubectl apply -f dir/ may create the job before its model: not an error to give up on."""
    await cluster.apply(transform_job("early", modelName="late-model"))
    status = await cluster.status_when(
        "early", lambda s: condition(s, "Synced").get("status") == "False", "Synced=False", BTJ
    )
    synced = condition(status, "Synced")
    assert "late-model" in synced["message"] and "creating it is enough" in synced["message"]
    assert condition(status, "Terminal").get("status") != "True"
    await eventually(lambda: [e for e in cluster.events("early") if e["type"] == "Warning"], what="a Warning")

    sim.client().create_model(
        ModelName="late-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"},
    )
    status = await cluster.status_when("early", lambda s: s.get("transformJobStatus") == "InProgress", "running", BTJ)
    assert condition(status, "Synced")["status"] == "True"
    assert sim.succeeded("CreateTransformJob") == 1
