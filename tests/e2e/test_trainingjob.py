"""TrainingJob end to end: real kopf reactor, Kubernetes API emulator, SageMaker simulator over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import boto3
import pytest

from sagemaker_operator.settings import OperatorSettings
from tests.e2e.conftest import Cluster, Sim, condition, eventually, training_job

pytestmark = pytest.mark.usefixtures("operator")


async def submitted(cluster: Cluster, name: str) -> dict[str, Any]:
    return await eventually(
        lambda: _if(cluster.status(name), lambda s: s.get("trainingJobStatus") == "InProgress"),
        what=f"{name} to be InProgress",
    )


async def _if(status_coro: Any, predicate: Any) -> Any:
    status = await status_coro
    return status if predicate(status) else None


async def reaches(cluster: Cluster, name: str, job_status: str) -> dict[str, Any]:
    return await eventually(
        lambda: _if(cluster.status(name), lambda s: s.get("trainingJobStatus") == job_status),
        what=f"{name} to be {job_status}",
    )


async def test_job_is_submitted_once_and_completes_with_model_path(cluster: Cluster, sim: Sim) -> None:
    resource = await cluster.apply(training_job("mnist"))
    status = await submitted(cluster, "mnist")
    job_name = status["sageMakerTrainingJobName"]
    assert job_name.startswith("mnist-")
    assert status["trainingJobArn"].endswith(f"training-job/{job_name}")
    assert status["secondaryStatus"] == "Starting"
    assert status["region"] == "us-west-2"
    assert "#logStream:group=/aws/sagemaker/TrainingJobs;prefix=" in status["cloudWatchLogUrl"]

    sim.simulator.clock.advance(3600)
    status = await reaches(cluster, "mnist", "Completed")

    assert status["secondaryStatus"] == "Completed"
    assert status["modelPath"] == f"s3://amzn-s3-demo-bucket/xgboost/{job_name}/output/model.tar.gz"
    assert condition(status, "Succeeded")["status"] == "True"
    assert condition(status, "Synced")["status"] == "True"
    assert condition(status, "Terminal")["status"] == "False"
    assert status["observedGeneration"] == resource["metadata"]["generation"]
    assert status["lastCheckTime"]
    assert sim.calls("CreateTrainingJob") == 1
    job = sim.simulator.training_job(job_name)
    tags = {t["Key"]: t["Value"] for t in job.tags}
    assert tags["sagemaker.aws.amazon.com/kubernetes-uid"] == resource["metadata"]["uid"]
    assert tags["team"] == "ml-platform"

    # Every transition became an Event, even those that happened between two polls.
    reasons = await eventually(lambda: (r := cluster.reasons("mnist")) and "Completed" in r and r, what="events")
    for reason in ("Submitted", "Starting", "Downloading", "Training", "Uploading", "Completed"):
        assert reasons.count(reason) == 1, reasons
    timeline = [t["status"] for t in status["secondaryStatusTransitions"]]
    assert timeline == ["Starting", "Downloading", "Training", "Uploading", "Completed"]

    # Once the final state is recorded, the operator stops asking SageMaker: no Describe, and no List either
    # when no other job is followed.
    await asyncio.sleep(0.3)  # a List already under way ends
    describes, lists = sim.calls("DescribeTrainingJob"), sim.calls("ListTrainingJobs")
    await asyncio.sleep(1.0)
    assert (sim.calls("DescribeTrainingJob"), sim.calls("ListTrainingJobs")) == (describes, lists)


async def test_failed_job_shows_the_reason_and_a_warning_event(cluster: Cluster, sim: Sim) -> None:
    hyperparameters = [{"name": "sagemaker_simulator_failure_reason", "value": "label column has NaN"}]
    await cluster.apply(training_job("doomed", hyperParameters=hyperparameters))
    await submitted(cluster, "doomed")
    sim.simulator.clock.advance(3600)
    status = await reaches(cluster, "doomed", "Failed")

    assert "label column has NaN" in status["failureReason"]
    succeeded = condition(status, "Succeeded")
    assert succeeded["status"] == "False" and succeeded["reason"] == "Failed"
    assert "label column has NaN" in succeeded["message"]
    assert condition(status, "Synced")["status"] == "True", "the link to AWS is fine; the job failed"
    warnings = await eventually(
        lambda: [e for e in cluster.events("doomed") if e["type"] == "Warning" and e["reason"] == "Failed"],
        what="a Warning event",
    )
    assert "label column has NaN" in warnings[0]["message"]


async def test_deleting_a_running_job_stops_it_and_the_resource_goes_away(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(training_job("stopme"))
    status = await submitted(cluster, "stopme")
    await cluster.delete("stopme")

    await eventually(lambda: _gone(cluster, "stopme"), what="the resource to be deleted")
    assert sim.calls("StopTrainingJob") == 1
    job = sim.simulator.training_job(status["sageMakerTrainingJobName"])
    assert job.describe(sim.simulator.clock.now())["TrainingJobStatus"] in ("Stopping", "Stopped")
    await asyncio.sleep(0.3)  # a List already under way ends
    lists = sim.calls("ListTrainingJobs")
    await asyncio.sleep(1.0)
    assert sim.calls("ListTrainingJobs") == lists, "no resource follows the job any more: no List"


async def _gone(cluster: Cluster, name: str) -> bool:
    return await cluster.get(name) is None


async def test_retain_policy_leaves_the_job_running(cluster: Cluster, sim: Sim) -> None:
    document = training_job("keepme")
    document["metadata"]["annotations"] = {"services.k8s.aws/deletion-policy": "retain"}
    await cluster.apply(document)
    status = await submitted(cluster, "keepme")
    await cluster.delete("keepme")

    await eventually(lambda: _gone(cluster, "keepme"), what="the resource to be deleted")
    assert sim.calls("StopTrainingJob") == 0
    job = sim.simulator.training_job(status["sageMakerTrainingJobName"])
    assert job.describe(sim.simulator.clock.now())["TrainingJobStatus"] == "InProgress"


async def test_a_spec_edit_is_rejected_but_labels_can_change(cluster: Cluster) -> None:
    await cluster.apply(training_job("frozen"))
    await submitted(cluster, "frozen")

    code, body = await cluster.patch("frozen", {"spec": {"resourceConfig": {"instanceCount": 4}}})
    assert code == 422
    assert "spec is immutable" in body["message"]
    assert (await cluster.get("frozen"))["spec"]["resourceConfig"]["instanceCount"] == 1

    code, _ = await cluster.patch("frozen", {"metadata": {"labels": {"team": "vision"}}})
    assert code == 200


async def test_throttling_on_30_percent_of_calls_still_completes_without_a_busy_loop(
    cluster: Cluster, sim: Sim, settings: OperatorSettings
) -> None:
    sim.simulator.faults.inject("*", error="ThrottlingException", rate=0.3, seed=7)
    started = time.monotonic()
    await cluster.apply(training_job("throttled"))
    status = await submitted(cluster, "throttled")
    sim.simulator.clock.advance(3600)
    await reaches(cluster, "throttled", "Completed")
    elapsed = time.monotonic() - started

    assert sim.succeeded("CreateTrainingJob") == 1
    sagemaker = boto3.client("sagemaker", endpoint_url=sim.url, region_name="us-west-2")
    listed = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in listed] == [status["sageMakerTrainingJobName"]]
    throttled = sum(1 for r in sim.simulator.requests if r.error_code == "ThrottlingException")
    assert throttled > 0, "the fault was injected"
    # No busy loop: SageMaker is asked at most once per poll interval, plus botocore's retries of throttled calls.
    polls = elapsed / settings.poll_interval + 5
    sagemaker_calls = sum(n for op, n in sim.simulator.calls.items() if op.startswith("sagemaker."))
    assert sagemaker_calls <= 2 * polls, (sagemaker_calls, polls)


async def test_sagemaker_refusing_the_spec_is_terminal_until_the_spec_is_fixed(cluster: Cluster, sim: Sim) -> None:
    sim.simulator.faults.inject(
        "CreateTrainingJob",
        error="ValidationException",
        times=1,
        message="Instance type ml.m5.xlarge is not available",
    )
    await cluster.apply(training_job("refused"))
    status = await eventually(
        lambda: _if(cluster.status("refused"), lambda s: condition(s, "Terminal").get("status") == "True"),
        what="a Terminal condition",
    )
    assert "Instance type ml.m5.xlarge is not available" in condition(status, "Terminal")["message"]
    assert condition(status, "Synced")["status"] == "False"
    assert not status.get("sageMakerTrainingJobName")
    await eventually(lambda: "SubmissionFailed" in cluster.reasons("refused"), what="a SubmissionFailed event")

    await asyncio.sleep(1.0)  # several retry delays: a terminal error must not be retried
    assert sim.calls("CreateTrainingJob") == 1

    # The CRD's rule lets a refused spec be fixed; the fix is submitted.
    code, body = await cluster.patch("refused", {"spec": {"resourceConfig": {"instanceType": "ml.c5.xlarge"}}})
    assert code == 200, body
    status = await submitted(cluster, "refused")
    assert condition(status, "Terminal")["status"] == "False"
    assert sim.calls("CreateTrainingJob") == 2
    job = sim.simulator.training_job(status["sageMakerTrainingJobName"])
    assert job.request["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"


async def test_aws_outage_is_shown_as_not_synced_and_retried_until_it_ends(cluster: Cluster, sim: Sim) -> None:
    sim.simulator.faults.inject("CreateTrainingJob", error="ServiceUnavailable", times=1000)
    await cluster.apply(training_job("outage"))
    status = await eventually(
        lambda: _if(cluster.status("outage"), lambda s: condition(s, "Synced").get("reason") == "ServiceUnavailable"),
        what="Synced=False with the AWS error",
    )
    assert condition(status, "Synced")["status"] == "False"
    assert condition(status, "Terminal").get("status") != "True", "an outage is not the spec's fault"
    await eventually(lambda: [e for e in cluster.events("outage") if e["reason"] == "ServiceUnavailable"])
    attempts = sim.calls("CreateTrainingJob")

    sim.simulator.faults.clear()
    status = await submitted(cluster, "outage")
    assert condition(status, "Synced")["status"] == "True"
    assert sim.succeeded("CreateTrainingJob") == 1
    assert attempts >= 2, "retried"
    outage_warnings = [e for e in cluster.events("outage") if e["reason"] == "ServiceUnavailable"]
    assert len(outage_warnings) == 1, "one Warning for the outage, not one per retry"
    assert outage_warnings[0]["type"] == "Warning"


async def test_a_name_taken_by_another_job_is_reported_not_adopted(cluster: Cluster, sim: Sim) -> None:
    sagemaker = boto3.client("sagemaker", endpoint_url=sim.url, region_name="us-west-2")
    foreign = training_job("x")["spec"]
    request = {
        "TrainingJobName": "shared-name",
        "RoleArn": foreign["roleArn"],
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://amzn-s3-demo-bucket/other"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    sagemaker.create_training_job(**request)

    await cluster.apply(training_job("squatter", trainingJobName="shared-name"))
    status = await eventually(
        lambda: _if(cluster.status("squatter"), lambda s: condition(s, "Terminal").get("status") == "True"),
        what="a Terminal condition",
    )
    assert "already exists" in condition(status, "Terminal")["message"]
    assert "spec.trainingJobName" in condition(status, "Terminal")["message"]
    assert not status.get("sageMakerTrainingJobName")

    await cluster.delete("squatter")
    await eventually(lambda: _gone(cluster, "squatter"), what="the resource to be deleted")
    assert sim.calls("StopTrainingJob") == 0, "someone else's job is never stopped"


async def test_deleting_a_refused_job_calls_nothing(cluster: Cluster, sim: Sim) -> None:
    sim.simulator.faults.inject("CreateTrainingJob", error="ValidationException", times=1)
    await cluster.apply(training_job("never"))
    await eventually(
        lambda: _if(cluster.status("never"), lambda s: condition(s, "Terminal").get("status") == "True"),
        what="a Terminal condition",
    )
    await cluster.delete("never")
    await eventually(lambda: _gone(cluster, "never"), what="the resource to be deleted")
    assert sim.calls("StopTrainingJob") == 0
