"""A training job's life as a client sees it through DescribeTrainingJob and StopTrainingJob."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import Simulator

from .conftest import training_request


def status(sagemaker: Any, name: str) -> tuple[str, str]:
    described = sagemaker.describe_training_job(TrainingJobName=name)
    return described["TrainingJobStatus"], described["SecondaryStatus"]


def test_job_goes_through_secondary_statuses_to_completed(sim: Simulator, sagemaker: Any) -> None:
    arn = sagemaker.create_training_job(**training_request("xgb-1"))["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:us-west-2:123456789012:training-job/xgb-1"

    seen = [status(sagemaker, "xgb-1")]
    for _ in range(6):  # stages last 2, 2, 6, 2 seconds
        sim.clock.advance(2)
        seen.append(status(sagemaker, "xgb-1"))
    assert seen == [
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
        ("InProgress", "Training"),
        ("InProgress", "Training"),
        ("InProgress", "Uploading"),
        ("Completed", "Completed"),
    ]

    described = sagemaker.describe_training_job(TrainingJobName="xgb-1")
    created = described["CreationTime"]
    assert described["TrainingStartTime"] == created + timedelta(seconds=2)
    assert described["TrainingEndTime"] == created + timedelta(seconds=12)
    assert described["LastModifiedTime"] == described["TrainingEndTime"]
    assert described["BillableTimeInSeconds"] == 10
    assert described["ModelArtifacts"] == {
        "S3ModelArtifacts": "s3://my-bucket/xgboost/output/xgb-1/output/model.tar.gz"
    }
    assert {m["MetricName"] for m in described["FinalMetricDataList"]} == {
        "train:merror",
        "validation:merror",
    }
    transitions = described["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert transitions[2]["StatusMessage"] == "Training image download completed. Training in progress."
    assert transitions[-1]["StatusMessage"] == "Training job completed"
    for before, after in itertools.pairwise(transitions):
        assert before["EndTime"] == after["StartTime"]


def test_describe_echoes_the_request_but_not_its_tags(sagemaker: Any) -> None:
    request = training_request("echo")
    sagemaker.create_training_job(**request)
    described = sagemaker.describe_training_job(TrainingJobName="echo")
    for field in (
        "AlgorithmSpecification",
        "HyperParameters",
        "RoleArn",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
    ):
        assert described[field] == request[field], field
    assert "Tags" not in described
    assert "ModelArtifacts" not in described  # only once Completed
    assert described["EnableNetworkIsolation"] is False


def test_last_modified_time_moves_at_every_transition(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_training_job(**training_request("lmt"))
    first = sagemaker.describe_training_job(TrainingJobName="lmt")["LastModifiedTime"]
    sim.clock.advance(1)
    assert sagemaker.describe_training_job(TrainingJobName="lmt")["LastModifiedTime"] == first
    sim.clock.advance(1.5)
    assert sagemaker.describe_training_job(TrainingJobName="lmt")["LastModifiedTime"] == first + timedelta(seconds=2)


def test_failure_hyperparameter_fails_the_job_after_training(sim: Simulator, sagemaker: Any) -> None:
    request = training_request("doomed")
    request["HyperParameters"]["sagemaker_simulator_failure_reason"] = "ValueError: label column has NaNs"
    sagemaker.create_training_job(**request)

    sim.clock.advance(9)
    assert status(sagemaker, "doomed") == ("InProgress", "Training")
    sim.clock.advance(1)
    described = sagemaker.describe_training_job(TrainingJobName="doomed")
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Failed", "Failed")
    assert described["FailureReason"] == "AlgorithmError: ValueError: label column has NaNs"
    assert "ModelArtifacts" not in described
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]][-2:] == ["Training", "Failed"]


def test_training_seconds_hyperparameter_overrides_the_training_stage(sim: Simulator, sagemaker: Any) -> None:
    request = training_request("long")
    request["HyperParameters"]["sagemaker_simulator_training_seconds"] = "100"
    sagemaker.create_training_job(**request)
    sagemaker.create_training_job(**training_request("short"))

    sim.clock.advance(60)
    assert status(sagemaker, "long") == ("InProgress", "Training")
    assert status(sagemaker, "short") == ("Completed", "Completed")
    sim.clock.advance(50)
    assert status(sagemaker, "long") == ("Completed", "Completed")


def test_invalid_training_seconds_is_rejected(sagemaker: Any) -> None:
    request = training_request("bad-seconds")
    request["HyperParameters"]["sagemaker_simulator_training_seconds"] = "soon"
    with pytest.raises(ClientError) as raised:
        sagemaker.create_training_job(**request)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "sagemaker_simulator_training_seconds" in raised.value.response["Error"]["Message"]


def test_stop_goes_stopping_then_stopped(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_training_job(**training_request("halt"))
    sim.clock.advance(5)
    sagemaker.stop_training_job(TrainingJobName="halt")

    assert status(sagemaker, "halt") == ("Stopping", "Stopping")
    sagemaker.stop_training_job(TrainingJobName="halt")  # stopping a Stopping job is accepted
    sim.clock.advance(1.9)
    assert status(sagemaker, "halt") == ("Stopping", "Stopping")
    sim.clock.advance(0.1)
    described = sagemaker.describe_training_job(TrainingJobName="halt")
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "Stopped")
    transitions = described["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions] == [
        "Starting",
        "Downloading",
        "Training",
        "Stopping",
        "Stopped",
    ]
    assert transitions[2]["EndTime"] == described["CreationTime"] + timedelta(seconds=5)
    assert described["TrainingEndTime"] == described["CreationTime"] + timedelta(seconds=7)
    assert "ModelArtifacts" not in described

    sim.clock.advance(60)  # a stopped job stays stopped
    assert status(sagemaker, "halt") == ("Stopped", "Stopped")


@pytest.mark.parametrize(
    ("hyperparameters", "final"),
    [({}, "Completed"), ({"sagemaker_simulator_failure_reason": "boom"}, "Failed"), (None, "Stopped")],
)
def test_stop_on_a_terminal_job_is_rejected(
    sim: Simulator, sagemaker: Any, hyperparameters: dict[str, str] | None, final: str
) -> None:
    request = training_request("done")
    if hyperparameters is not None:
        request["HyperParameters"].update(hyperparameters)
    sagemaker.create_training_job(**request)
    if hyperparameters is None:
        sagemaker.stop_training_job(TrainingJobName="done")
    sim.clock.advance(30)
    assert status(sagemaker, "done")[0] == final

    with pytest.raises(ClientError) as raised:
        sagemaker.stop_training_job(TrainingJobName="done")
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == f"The request was rejected because the training job is in status {final}."
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_max_runtime_stops_the_job(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_training_job(**training_request("slow", StoppingCondition={"MaxRuntimeInSeconds": 5}))
    sim.clock.advance(7)  # 2s starting + 5s of runtime
    assert status(sagemaker, "slow") == ("Stopping", "Stopping")
    sim.clock.advance(2)
    assert status(sagemaker, "slow") == ("Stopped", "MaxRuntimeExceeded")


def test_unknown_job_is_not_found(sagemaker: Any) -> None:
    for call in (sagemaker.describe_training_job, sagemaker.stop_training_job):
        with pytest.raises(ClientError) as raised:
            call(TrainingJobName="no-such-job")
        assert raised.value.response["Error"] == {
            "Code": "ValidationException",
            "Message": "Requested resource not found.",
        }


def test_simulator_record_follows_the_clock(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_training_job(**training_request("record"))
    job = sim.training_job("record")
    assert job.status(sim.clock.now()) == "InProgress"
    assert job.tags == [{"Key": "team", "Value": "ml-platform"}]
    sim.clock.advance(20)
    assert job.status(sim.clock.now()) == "Completed"
    with pytest.raises(KeyError):
        sim.training_job("other")
