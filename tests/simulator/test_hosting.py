"""Models and endpoint configurations as a client sees them: CRUD, SageMaker's errors, listing, tags."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import Simulator

from .conftest import IMAGE, ROLE_ARN, ClientFactory, config_request, model_request

ARN = "arn:aws:sagemaker:us-west-2:123456789012"


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    response.pop("ResponseMetadata", None)
    return response


# -- models ------------------------------------------------------------------------------------------


def test_model_create_describe_delete(sim: Simulator, sagemaker: Any) -> None:
    arn = sagemaker.create_model(**model_request("Xgb-Model"))["ModelArn"]
    assert arn == f"{ARN}:model/xgb-model"
    described = without_metadata(sagemaker.describe_model(ModelName="Xgb-Model"))
    created = described.pop("CreationTime")
    assert described == {
        "ModelName": "Xgb-Model",
        "PrimaryContainer": model_request("Xgb-Model")["PrimaryContainer"],
        "ExecutionRoleArn": ROLE_ARN,
        "ModelArn": arn,
        "EnableNetworkIsolation": False,
    }
    assert created == sim.clock.now()
    assert sim.model("xgb-model").tags == [{"Key": "team", "Value": "ml-platform"}]

    sagemaker.delete_model(ModelName="Xgb-Model")
    for call in (sagemaker.describe_model, sagemaker.delete_model):
        with pytest.raises(ClientError) as raised:
            call(ModelName="Xgb-Model")
        assert error_of(raised) == ("ValidationException", f'Could not find model "{ARN}:model/xgb-model".')
    with pytest.raises(KeyError):
        sim.model("Xgb-Model")
    sagemaker.create_model(**model_request("Xgb-Model"))  # the name is free again


def test_duplicate_model_is_refused_not_overwritten(sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("twice", image="first:1"))
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model(**model_request("TWICE", image="second:1"))  # names differ only in case
    assert error_of(raised) == ("ValidationException", f'Cannot create already existing model "{ARN}:model/twice".')
    assert sagemaker.describe_model(ModelName="twice")["PrimaryContainer"]["Image"] == "first:1"


@pytest.mark.parametrize("name", ["under_score", "-leading", "trailing-", "x" * 64])
def test_model_name_is_validated(sagemaker: Any, name: str) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model(**model_request(name))
    code, message = error_of(raised)
    assert code == "ValidationException"
    assert re.match(rf"\d validation errors? detected: Value '{name}' at 'modelName' failed to satisfy", message)


def test_model_needs_exactly_one_kind_of_container(client: ClientFactory) -> None:
    sagemaker = client("sagemaker")
    request = model_request("no-container")
    del request["PrimaryContainer"]
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model(**request)
    assert error_of(raised) == ("ValidationException", "Either PrimaryContainer or Containers must be specified.")
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model(**model_request("both", Containers=[{"Image": IMAGE}]))
    assert error_of(raised)[0] == "ValidationException"


def test_multi_container_model_round_trips(sim: Simulator, sagemaker: Any) -> None:
    containers = [
        {"ContainerHostname": "preprocess", "Image": "sklearn:1.2"},
        {"ContainerHostname": "predict", "Image": IMAGE, "ModelDataUrl": "s3://my-bucket/models/m.tar.gz"},
    ]
    request = model_request("pipeline", Containers=containers, InferenceExecutionConfig={"Mode": "Direct"})
    del request["PrimaryContainer"]
    sagemaker.create_model(**request)
    described = sagemaker.describe_model(ModelName="pipeline")
    assert described["Containers"] == containers
    assert described["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert "PrimaryContainer" not in described
    assert [c.label for c in sim.model("pipeline").containers] == ["primary container", "container predict"]


def test_list_models_filters_sorts_and_pages(sim: Simulator, sagemaker: Any) -> None:
    for name in ("model-b", "model-a", "other-c", "model-d"):
        sagemaker.create_model(**model_request(name))
        sim.clock.advance(1)

    def names(**kwargs: Any) -> list[str]:
        return [m["ModelName"] for m in sagemaker.list_models(**kwargs)["Models"]]

    assert names() == ["model-d", "other-c", "model-a", "model-b"]  # default: CreationTime, Descending
    assert names(SortBy="Name", SortOrder="Ascending") == ["model-a", "model-b", "model-d", "other-c"]
    assert names(NameContains="MODEL") == ["model-d", "model-a", "model-b"]
    summaries = {m["ModelName"]: m for m in sagemaker.list_models()["Models"]}
    assert set(summaries["model-a"]) == {"ModelName", "ModelArn", "CreationTime"}
    assert names(CreationTimeAfter=summaries["model-a"]["CreationTime"]) == ["model-d", "other-c"]
    assert names(CreationTimeBefore=summaries["model-a"]["CreationTime"]) == ["model-b"]
    paginated = [
        m["ModelName"]
        for page in sagemaker.get_paginator("list_models").paginate(
            SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 3}
        )
        for m in page["Models"]
    ]
    assert paginated == ["model-a", "model-b", "model-d", "other-c"]


# -- endpoint configurations ----------------------------------------------------------------------------


def test_endpoint_config_create_describe_delete(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("m1"))
    request = config_request("Config-1", ("AllTraffic", "m1", 2), KmsKeyId="alias/hosting")
    arn = sagemaker.create_endpoint_config(**request)["EndpointConfigArn"]
    assert arn == f"{ARN}:endpoint-config/config-1"
    described = without_metadata(sagemaker.describe_endpoint_config(EndpointConfigName="Config-1"))
    assert described.pop("CreationTime") == sim.clock.now()
    assert described == {
        "EndpointConfigName": "Config-1",
        "EndpointConfigArn": arn,
        "ProductionVariants": [{**request["ProductionVariants"][0], "InitialVariantWeight": 1.0}],
        "KmsKeyId": "alias/hosting",
    }

    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint_config(**request)
    assert error_of(raised) == (
        "ValidationException",
        f'Cannot create already existing endpoint configuration "{ARN}:endpoint-config/config-1".',
    )
    sagemaker.delete_endpoint_config(EndpointConfigName="Config-1")
    for call in (sagemaker.describe_endpoint_config, sagemaker.delete_endpoint_config):
        with pytest.raises(ClientError) as raised:
            call(EndpointConfigName="Config-1")
        assert error_of(raised) == (
            "ValidationException",
            f'Could not find endpoint configuration "{ARN}:endpoint-config/config-1".',
        )


def test_endpoint_config_needs_its_models(sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("present"))
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint_config(**config_request("c", ("a", "present", 1), ("b", "Absent-Model", 1)))
    assert error_of(raised) == ("ValidationException", f'Could not find model "{ARN}:model/absent-model".')
    with pytest.raises(ClientError):
        sagemaker.describe_endpoint_config(EndpointConfigName="c")


def test_endpoint_config_variant_checks(sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("m1"))
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint_config(**config_request("dup", ("v", "m1", 1), ("v", "m1", 1)))
    assert error_of(raised)[0] == "ValidationException"
    assert "repeated: v" in error_of(raised)[1]
    request = config_request("no-type", ("v", "m1", 1))
    del request["ProductionVariants"][0]["InstanceType"]
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint_config(**request)
    assert "needs InstanceType and InitialInstanceCount, or a ServerlessConfig" in error_of(raised)[1]
    serverless = {
        "VariantName": "v",
        "ModelName": "m1",
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
    }
    sagemaker.create_endpoint_config(EndpointConfigName="serverless", ProductionVariants=[serverless])


def test_list_endpoint_configs_filters_and_pages(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("m1"))
    for name in ("cfg-2", "cfg-1", "other"):
        sagemaker.create_endpoint_config(**config_request(name, ("v", "m1", 1)))
        sim.clock.advance(1)

    def names(**kwargs: Any) -> list[str]:
        return [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs(**kwargs)["EndpointConfigs"]]

    assert names() == ["other", "cfg-1", "cfg-2"]
    assert names(SortBy="Name", SortOrder="Ascending", NameContains="cfg") == ["cfg-1", "cfg-2"]
    first = sagemaker.list_endpoint_configs(MaxResults=2)
    assert [c["EndpointConfigName"] for c in first["EndpointConfigs"]] == ["other", "cfg-1"]
    second = sagemaker.list_endpoint_configs(MaxResults=2, NextToken=first["NextToken"])
    assert [c["EndpointConfigName"] for c in second["EndpointConfigs"]] == ["cfg-2"]
    assert "NextToken" not in second


def test_deleting_a_model_leaves_configs_alone(sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("m1"))
    sagemaker.create_endpoint_config(**config_request("c1", ("v", "m1", 1)))
    sagemaker.delete_model(ModelName="m1")  # allowed, as in SageMaker
    assert sagemaker.describe_endpoint_config(EndpointConfigName="c1")["ProductionVariants"][0]["ModelName"] == "m1"


# -- tags and counting ----------------------------------------------------------------------------------


def test_tags_on_models_and_configs(sim: Simulator, sagemaker: Any) -> None:
    model_arn = sagemaker.create_model(**model_request("tagged"))["ModelArn"]
    config_arn = sagemaker.create_endpoint_config(**config_request("tagged", ("v", "tagged", 1)))["EndpointConfigArn"]
    for arn in (model_arn, config_arn):
        assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml-platform"}]
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "prod"}])
        assert {t["Key"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]} == {"team", "stage"}
        sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team"])
        assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "prod"}]
    assert "Tags" not in sagemaker.describe_model(ModelName="tagged")
    assert sim.calls["sagemaker.AddTags"] == 2


@pytest.mark.usefixtures("no_retry_sleep")
def test_hosting_calls_are_counted_and_faults_apply(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker", max_attempts=2)
    sim.faults.inject("CreateModel", error="ThrottlingException", times=1)
    sagemaker.create_model(**model_request("retried"))  # botocore retries the throttled first attempt
    assert sim.calls["sagemaker.CreateModel"] == 2
    assert [(r.operation, r.status_code) for r in sim.requests] == [("CreateModel", 400), ("CreateModel", 200)]
