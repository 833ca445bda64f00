"""Batch transform jobs as a client sees them: lifecycle, failure, stop, the model check, logs, listing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import Simulator
from sagemaker_operator.simulator.validation import operation_model

from .conftest import ROLE_ARN, transform_request

GROUP = "/aws/sagemaker/TransformJobs"
STREAM = re.compile(r"^(?P<job>[^/]+)/(?P<instance>i-[0-9a-f]{17})-(?P<epoch>\d+)(?P<data>/data-log)?$")

pytestmark = pytest.mark.usefixtures("model")


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def describe(sagemaker: Any, name: str) -> dict[str, Any]:
    described = sagemaker.describe_transform_job(TransformJobName=name)
    described.pop("ResponseMetadata")
    return described


def read_all(logs: Any, stream: str) -> list[str]:
    events: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
    while True:
        page = logs.get_log_events(**kwargs)
        events += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == kwargs.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextForwardToken"]


def stream_names(logs: Any, job: str) -> list[str]:
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    return sorted(s["logStreamName"] for s in streams)


def test_lifecycle_to_completed(sim: Simulator, sagemaker: Any) -> None:
    arn = sagemaker.create_transform_job(**transform_request("Batch-1"))["TransformJobArn"]
    assert arn == "arn:aws:sagemaker:us-west-2:123456789012:transform-job/batch-1"

    described = describe(sagemaker, "Batch-1")
    assert described["TransformJobStatus"] == "InProgress"
    assert "TransformStartTime" not in described  # instances are still being provisioned
    created = described["CreationTime"]
    sim.clock.advance(2)
    assert describe(sagemaker, "Batch-1")["TransformStartTime"] == created + timedelta(seconds=2)
    sim.clock.advance(5.9)
    assert describe(sagemaker, "Batch-1")["TransformJobStatus"] == "InProgress"
    sim.clock.advance(0.1)
    described = describe(sagemaker, "Batch-1")
    assert described["TransformJobStatus"] == "Completed"
    assert described["TransformEndTime"] == created + timedelta(seconds=8)
    assert "FailureReason" not in described

    request = transform_request("Batch-1")
    for member in ("ModelName", "BatchStrategy", "MaxPayloadInMB", "TransformOutput", "TransformResources"):
        assert described[member] == request[member], member
    assert described["TransformInput"] == {**request["TransformInput"], "CompressionType": "None"}
    # only members DescribeTransformJob's shape has: no Tags, no LastModifiedTime
    assert set(described) <= set(operation_model("DescribeTransformJob").output_shape.members)
    assert "Tags" not in described and "LastModifiedTime" not in described


def test_failure_reason_from_the_environment(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    request = transform_request("broken", Environment={"SAGEMAKER_SIMULATOR_FAILURE_REASON": "payload too large"})
    sagemaker.create_transform_job(**request)
    sim.clock.advance(7)
    assert describe(sagemaker, "broken")["TransformJobStatus"] == "InProgress"
    sim.clock.advance(1)
    described = describe(sagemaker, "broken")
    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: payload too large"
    assert described["Environment"] == {"SAGEMAKER_SIMULATOR_FAILURE_REASON": "payload too large"}
    container, data_log = stream_names(logs, "broken")
    assert "AlgorithmError: payload too large" in read_all(logs, container)
    assert read_all(logs, data_log)[-1].endswith("Message: AlgorithmError: payload too large")


def test_stop_goes_stopping_then_stopped(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    sagemaker.create_transform_job(**transform_request("halt"))
    sim.clock.advance(4)
    sagemaker.stop_transform_job(TransformJobName="halt")
    assert describe(sagemaker, "halt")["TransformJobStatus"] == "Stopping"
    sagemaker.stop_transform_job(TransformJobName="halt")  # accepted while Stopping
    sim.clock.advance(2)
    described = describe(sagemaker, "halt")
    assert described["TransformJobStatus"] == "Stopped"
    assert described["TransformEndTime"] == described["CreationTime"] + timedelta(seconds=6)
    sim.clock.advance(60)
    assert describe(sagemaker, "halt")["TransformJobStatus"] == "Stopped"
    container, _ = stream_names(logs, "halt")
    assert "SIGTERM" in read_all(logs, container)[-1]


@pytest.mark.parametrize("final", ["Completed", "Failed", "Stopped"])
def test_stop_on_a_terminal_job_is_rejected(sim: Simulator, sagemaker: Any, final: str) -> None:
    environment = {"SAGEMAKER_SIMULATOR_FAILURE_REASON": "boom"} if final == "Failed" else {}
    sagemaker.create_transform_job(**transform_request("done", Environment=environment))
    if final == "Stopped":
        sagemaker.stop_transform_job(TransformJobName="done")
    sim.clock.advance(30)
    assert describe(sagemaker, "done")["TransformJobStatus"] == final
    with pytest.raises(ClientError) as raised:
        sagemaker.stop_transform_job(TransformJobName="done")
    assert error_of(raised) == (
        "ValidationException",
        f"The request was rejected because the transform job is in status {final}.",
    )


def test_unknown_job_is_not_found(sagemaker: Any) -> None:
    for call in (sagemaker.describe_transform_job, sagemaker.stop_transform_job):
        with pytest.raises(ClientError) as raised:
            call(TransformJobName="no-such-job")
        assert error_of(raised) == ("ValidationException", "Could not find requested job with name no-such-job")


def test_unknown_model_is_rejected(sim: Simulator, sagemaker: Any) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_transform_job(**transform_request("orphan", ModelName="No-Such-Model"))
    assert error_of(raised) == (
        "ValidationException",
        'Could not find model "arn:aws:sagemaker:us-west-2:123456789012:model/no-such-model".',
    )
    with pytest.raises(KeyError):
        sim.transform_job("orphan")


def test_a_model_created_through_the_simulator_is_usable(sagemaker: Any) -> None:
    sagemaker.create_model(
        ModelName="fresh-model", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": "xgboost:1.7-1"}
    )
    assert sagemaker.describe_model(ModelName="fresh-model")["ModelName"] == "fresh-model"
    sagemaker.create_transform_job(**transform_request("fresh", ModelName="fresh-model"))
    assert describe(sagemaker, "fresh")["ModelName"] == "fresh-model"


def test_a_deleted_model_is_no_longer_usable(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.delete_model(ModelName="xgboost-model")
    with pytest.raises(ClientError) as raised:
        sagemaker.create_transform_job(**transform_request("too-late"))
    assert error_of(raised) == (
        "ValidationException",
        'Could not find model "arn:aws:sagemaker:us-west-2:123456789012:model/xgboost-model".',
    )


def test_duplicate_name_is_resource_in_use(sagemaker: Any) -> None:
    arn = sagemaker.create_transform_job(**transform_request("twice"))["TransformJobArn"]
    with pytest.raises(ClientError) as raised:
        sagemaker.create_transform_job(**transform_request("twice"))
    assert error_of(raised) == (
        "ResourceInUse",
        f"Job name must be unique within an AWS account and region, and a job with this name already exists ({arn})",
    )


@pytest.mark.parametrize(("member", "value"), [("TransformJobName", "bad_name"), ("ModelName", "bad_model-")])
def test_invalid_names_are_rejected(sagemaker: Any, member: str, value: str) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_transform_job(**transform_request("valid", **{member: value}))
    code, message = error_of(raised)
    assert code == "ValidationException"
    path = member[0].lower() + member[1:]
    assert f"Value '{value}' at '{path}' failed to satisfy constraint" in message


def test_logs_one_stream_and_one_data_log_per_instance(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    sagemaker.create_transform_job(**transform_request("scored", instances=2))
    assert logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]["logGroupName"] == GROUP
    assert stream_names(logs, "scored") == []  # streams come with the containers

    sim.clock.advance(3)  # a second into the work
    streams = stream_names(logs, "scored")
    started = describe(sagemaker, "scored")["TransformStartTime"]
    parsed = [STREAM.match(name) for name in streams]
    assert all(parsed) and len(streams) == 4
    instances = {m["instance"] for m in parsed if m}
    assert len(instances) == 2
    assert {m["epoch"] for m in parsed if m} == {str(int(started.timestamp()))}
    assert sorted(sim.transform_job("scored").log_stream_names()) == streams
    early = {name: read_all(logs, name) for name in streams}

    sim.clock.advance(30)
    assert describe(sagemaker, "scored")["TransformJobStatus"] == "Completed"
    for name in streams:
        lines = read_all(logs, name)
        assert len(lines) > len(early[name]), "lines keep arriving while the job works"
        assert lines[: len(early[name])] == early[name]
        if name.endswith("/data-log"):
            assert "MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD" in lines[0]
            assert sum("my-bucket/batch/input/part-" in line for line in lines) == 20
        else:
            assert STREAM.match(name)["instance"] in lines[0]  # type: ignore[index]
            assert sum('"POST /invocations HTTP/1.1" 200' in line for line in lines) == 20


def test_list_filters_sorts_and_pages(sim: Simulator, sagemaker: Any) -> None:
    for i in range(4):
        environment = {"SAGEMAKER_SIMULATOR_FAILURE_REASON": "boom"} if i == 1 else {}
        sagemaker.create_transform_job(**transform_request(f"batch-{i}", Environment=environment))
        sim.clock.advance(3)
    sagemaker.stop_transform_job(TransformJobName="batch-3")
    sim.clock.advance(0.5)

    def names(**kwargs: Any) -> list[str]:
        return [s["TransformJobName"] for s in sagemaker.list_transform_jobs(**kwargs)["TransformJobSummaries"]]

    assert names() == ["batch-3", "batch-2", "batch-1", "batch-0"]  # default: CreationTime, Descending
    assert names(SortBy="Name", SortOrder="Ascending") == ["batch-0", "batch-1", "batch-2", "batch-3"]
    assert names(StatusEquals="Failed") == ["batch-1"]
    assert names(StatusEquals="Stopping") == ["batch-3"]
    assert names(StatusEquals="Completed") == ["batch-0"]
    assert names(NameContains="BATCH-2") == ["batch-2"]
    summaries = {s["TransformJobName"]: s for s in sagemaker.list_transform_jobs()["TransformJobSummaries"]}
    assert summaries["batch-1"]["FailureReason"] == "AlgorithmError: boom"
    assert "TransformEndTime" in summaries["batch-0"] and "TransformEndTime" not in summaries["batch-2"]
    assert names(CreationTimeAfter=summaries["batch-1"]["CreationTime"]) == ["batch-3", "batch-2"]
    assert names(CreationTimeBefore=summaries["batch-1"]["CreationTime"]) == ["batch-0"]
    # LastModifiedTime moves at every status change: after batch-1 failed, only batch-3 (Stopping) changed.
    assert names(LastModifiedTimeAfter=summaries["batch-1"]["LastModifiedTime"]) == ["batch-3"]

    first = sagemaker.list_transform_jobs(MaxResults=3)
    sagemaker.create_transform_job(**transform_request("batch-4"))  # newest: must not shift the next page
    second = sagemaker.list_transform_jobs(MaxResults=3, NextToken=first["NextToken"])
    assert [s["TransformJobName"] for s in second["TransformJobSummaries"]] == ["batch-0"]
    assert "NextToken" not in second
    paginated = [
        s["TransformJobName"]
        for page in sagemaker.get_paginator("list_transform_jobs").paginate(PaginationConfig={"PageSize": 2})
        for s in page["TransformJobSummaries"]
    ]
    assert paginated == ["batch-4", "batch-3", "batch-2", "batch-1", "batch-0"]


def test_last_modified_time_moves_at_every_status_change(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_transform_job(**transform_request("moving"))

    def last_modified() -> Any:
        [summary] = sagemaker.list_transform_jobs(NameContains="moving")["TransformJobSummaries"]
        return summary["LastModifiedTime"], summary["TransformJobStatus"]

    created = describe(sagemaker, "moving")["CreationTime"]
    assert last_modified() == (created, "InProgress")
    sim.clock.advance(10)
    assert last_modified() == (created + timedelta(seconds=8), "Completed")


def test_tags_round_trip(sagemaker: Any) -> None:
    arn = sagemaker.create_transform_job(**transform_request("tagged"))["TransformJobArn"]
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml-platform"}]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "nightly"}])
    assert {t["Key"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]} == {"team", "stage"}
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team", "stage"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == []


def test_transform_calls_are_counted(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_transform_job(**transform_request("counted"))
    describe(sagemaker, "counted")
    sagemaker.list_transform_jobs()
    calls = sim.calls
    assert calls["sagemaker.CreateModel"] == 1  # the model fixture
    assert (calls["sagemaker.CreateTransformJob"], calls["sagemaker.DescribeTransformJob"]) == (1, 1)
    assert calls["sagemaker.ListTransformJobs"] == 1
