"""Validation, uniqueness, listing and tags, as SageMaker answers them."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import Simulator

from .conftest import ClientFactory, training_request


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def test_duplicate_name_is_resource_in_use(sagemaker: Any) -> None:
    arn = sagemaker.create_training_job(**training_request("twice"))["TrainingJobArn"]
    with pytest.raises(ClientError) as raised:
        sagemaker.create_training_job(**training_request("twice"))
    assert error_of(raised) == (
        "ResourceInUse",
        "Training job names must be unique within an AWS account and region, and a training job "
        f"with this name already exists ({arn})",
    )


def test_same_name_in_another_region_is_a_different_job(client: ClientFactory, sagemaker: Any) -> None:
    sagemaker.create_training_job(**training_request("regional"))
    other = boto3.client("sagemaker", region_name="eu-west-1", endpoint_url=sagemaker.meta.endpoint_url)
    arn = other.create_training_job(**training_request("regional"))["TrainingJobArn"]
    assert arn.startswith("arn:aws:sagemaker:eu-west-1:123456789012:")


@pytest.mark.parametrize("name", ["under_score", "-leading-dash", "x" * 64, "trailing-"])
def test_invalid_name_is_rejected_naming_the_field(sagemaker: Any, name: str) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_training_job(**training_request(name))
    code, message = error_of(raised)
    assert code == "ValidationException"
    assert re.match(r"\d validation errors? detected: ", message)
    assert f"Value '{name}' at 'trainingJobName' failed to satisfy constraint" in message
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_invalid_name_message_quotes_the_pattern(sagemaker: Any) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.describe_training_job(TrainingJobName="no_underscores")
    assert error_of(raised)[1].endswith(
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
    )


def test_missing_required_field_is_rejected_by_the_server(client: ClientFactory) -> None:
    unchecked = client("sagemaker", parameter_validation=False)  # as another SDK or a raw call would send
    request = training_request("no-role")
    del request["RoleArn"]
    with pytest.raises(ClientError) as raised:
        unchecked.create_training_job(**request)
    assert error_of(raised) == (
        "ValidationException",
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
    )


def test_enum_and_type_errors_are_rejected(client: ClientFactory) -> None:
    unchecked = client("sagemaker", parameter_validation=False)
    request = training_request("bad-mode")
    request["AlgorithmSpecification"]["TrainingInputMode"] = "Carrier-Pigeon"
    with pytest.raises(ClientError) as raised:
        unchecked.create_training_job(**request)
    message = error_of(raised)[1]
    assert "at 'algorithmSpecification.trainingInputMode'" in message
    assert "Member must satisfy enum value set: [Pipe, File, FastFile]" in message

    request = training_request("bad-type")
    request["ResourceConfig"]["InstanceCount"] = "two"
    with pytest.raises(ClientError) as raised:
        unchecked.create_training_job(**request)
    assert error_of(raised)[0] == "ValidationException"
    assert "ResourceConfig.InstanceCount" in error_of(raised)[1]


def names(page: dict[str, Any]) -> list[str]:
    return [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]


@pytest.fixture
def five_jobs(sim: Simulator, sagemaker: Any) -> list[str]:
    """job-0 .. job-4, created one second apart; job-0 and job-1 completed, job-2 stopped."""
    created = []
    for i in range(5):
        name = f"job-{i}"
        sagemaker.create_training_job(**training_request(name))
        created.append(name)
        sim.clock.advance(1 if i != 1 else 12)
    sagemaker.stop_training_job(TrainingJobName="job-2")
    sim.clock.advance(2)
    return created


def test_list_defaults_to_newest_first(sagemaker: Any, five_jobs: list[str]) -> None:
    page = sagemaker.list_training_jobs()
    assert names(page) == ["job-4", "job-3", "job-2", "job-1", "job-0"]
    summary = page["TrainingJobSummaries"][-1]
    assert summary["TrainingJobArn"].endswith(":training-job/job-0")
    assert (summary["TrainingJobStatus"], summary["SecondaryStatus"]) == ("Completed", "Completed")
    assert "TrainingEndTime" in summary
    assert "TrainingEndTime" not in page["TrainingJobSummaries"][0]


def test_list_filters(sagemaker: Any, five_jobs: list[str]) -> None:
    assert names(sagemaker.list_training_jobs(StatusEquals="Completed")) == ["job-1", "job-0"]
    assert names(sagemaker.list_training_jobs(StatusEquals="Stopped")) == ["job-2"]
    assert names(sagemaker.list_training_jobs(NameContains="JOB-3")) == ["job-3"]
    created = {s["TrainingJobName"]: s["CreationTime"] for s in sagemaker.list_training_jobs()["TrainingJobSummaries"]}
    assert names(sagemaker.list_training_jobs(CreationTimeAfter=created["job-2"])) == ["job-4", "job-3"]
    assert names(sagemaker.list_training_jobs(CreationTimeBefore=created["job-1"])) == ["job-0"]
    assert names(
        sagemaker.list_training_jobs(SortBy="Name", SortOrder="Ascending", CreationTimeAfter=created["job-0"])
    ) == ["job-1", "job-2", "job-3", "job-4"]


def test_list_last_modified_time_after_sees_transitions(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_training_job(**training_request("older"))
    sim.clock.advance(1)
    checkpoint = sagemaker.describe_training_job(TrainingJobName="older")["CreationTime"]
    sim.clock.advance(0.5)
    sagemaker.create_training_job(**training_request("newer"))

    assert names(sagemaker.list_training_jobs(LastModifiedTimeAfter=checkpoint)) == ["newer"]
    sim.clock.advance(1)  # "older" goes Downloading: modified after the checkpoint
    assert names(sagemaker.list_training_jobs(LastModifiedTimeAfter=checkpoint)) == ["newer", "older"]
    assert names(sagemaker.list_training_jobs(LastModifiedTimeBefore=checkpoint)) == []


def test_list_paginates_stably_while_jobs_are_added(sim: Simulator, sagemaker: Any, five_jobs: list[str]) -> None:
    first = sagemaker.list_training_jobs(MaxResults=2)
    assert names(first) == ["job-4", "job-3"]
    sagemaker.create_training_job(**training_request("job-5"))  # newest: must not shift later pages
    second = sagemaker.list_training_jobs(MaxResults=2, NextToken=first["NextToken"])
    assert names(second) == ["job-2", "job-1"]
    third = sagemaker.list_training_jobs(MaxResults=2, NextToken=second["NextToken"])
    assert names(third) == ["job-0"]
    assert "NextToken" not in third

    paginated = [
        s["TrainingJobName"]
        for page in sagemaker.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 4})
        for s in page["TrainingJobSummaries"]
    ]
    assert paginated == ["job-5", "job-4", "job-3", "job-2", "job-1", "job-0"]


def test_list_rejects_garbage_tokens_and_page_sizes(client: ClientFactory, sagemaker: Any) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.list_training_jobs(NextToken="not-a-token")
    assert error_of(raised)[0] == "ValidationException"
    unchecked = client("sagemaker", parameter_validation=False)
    with pytest.raises(ClientError) as raised:
        unchecked.list_training_jobs(MaxResults=101)
    assert "Member must have value less than or equal to 100" in error_of(raised)[1]


def test_tags_round_trip(sagemaker: Any) -> None:
    arn = sagemaker.create_training_job(**training_request("tagged"))["TrainingJobArn"]
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml-platform"}]

    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "research"}, {"Key": "cost", "Value": "42"}])
    assert {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]} == {
        "team": "research",
        "cost": "42",
    }
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "cost", "Value": "42"}]


def test_list_tags_paginates(sagemaker: Any) -> None:
    arn = sagemaker.create_training_job(**training_request("many-tags", Tags=[]))["TrainingJobArn"]
    for batch in range(2):
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{batch}-{i:02}", "Value": "v"} for i in range(30)])
    first = sagemaker.list_tags(ResourceArn=arn, MaxResults=50)
    assert len(first["Tags"]) == 50
    second = sagemaker.list_tags(ResourceArn=arn, MaxResults=50, NextToken=first["NextToken"])
    assert len(second["Tags"]) == 10
    assert "NextToken" not in second
    assert len({t["Key"] for t in first["Tags"] + second["Tags"]}) == 60


def test_tags_of_resources_the_simulator_does_not_own_reach_moto(sim: Simulator, sagemaker: Any) -> None:
    experiment_arn = sagemaker.create_experiment(ExperimentName="moto-experiment")["ExperimentArn"]
    sagemaker.add_tags(ResourceArn=experiment_arn, Tags=[{"Key": "owner", "Value": "moto"}])
    assert {"Key": "owner", "Value": "moto"} in sagemaker.list_tags(ResourceArn=experiment_arn)["Tags"]
    assert sim.calls["sagemaker.AddTags"] == 1
    assert sim.calls["sagemaker.CreateExperiment"] == 1
