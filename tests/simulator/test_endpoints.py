"""Endpoints as a client sees them: create, zero-downtime and failed updates, capacity changes, delete,
logs, listing and tags. Stage lengths (the ``sim`` fixture): Creating 4 s, Updating 4 s, Deleting 2 s.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import Simulator, TimelineEntry

from .conftest import IMAGE, config_request, model_request

ARN = "arn:aws:sagemaker:us-west-2:123456789012"
GROUP = "/aws/sagemaker/Endpoints/"
STREAM = re.compile(r"^(?P<variant>[^/]+)/(?P<instance>i-[0-9a-f]{17})$")


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def describe(sagemaker: Any, name: str) -> dict[str, Any]:
    described = sagemaker.describe_endpoint(EndpointName=name)
    described.pop("ResponseMetadata")
    return described


def status(sagemaker: Any, name: str) -> tuple[str, str]:
    described = describe(sagemaker, name)
    return described["EndpointStatus"], described["EndpointConfigName"]


def capacity(variant: dict[str, Any]) -> tuple[float, float, int, int]:
    """(CurrentWeight, DesiredWeight, CurrentInstanceCount, DesiredInstanceCount) of a variant summary."""
    keys = ("CurrentWeight", "DesiredWeight", "CurrentInstanceCount", "DesiredInstanceCount")
    return tuple(variant[key] for key in keys)


def assert_never_without_service(timeline: list[TimelineEntry]) -> None:
    """From the first InService until deletion, some configuration serves traffic at every moment."""
    first = next(i for i, entry in enumerate(timeline) if entry.status == "InService")
    for entry in timeline[first:]:
        if entry.status == "Deleting":
            break
        assert entry.serving is not None, f"no configuration serving at {entry}"


@pytest.fixture
def hosted(sim: Simulator, sagemaker: Any) -> str:
    """Endpoint ``web`` InService on config ``c1`` (model ``m1``, 2 instances); ``m2``/``c2`` and the
    failing ``bad``/``c-bad`` are ready for updates."""
    sagemaker.create_model(**model_request("m1"))
    sagemaker.create_model(**model_request("m2", image=f"{IMAGE.rsplit(':', 1)[0]}:2.0-1"))
    sagemaker.create_model(**model_request("bad", failure="ImportError: No module named 'xgboost'"))
    sagemaker.create_endpoint_config(**config_request("c1", ("AllTraffic", "m1", 2)))
    sagemaker.create_endpoint_config(**config_request("c2", ("AllTraffic", "m2", 2)))
    sagemaker.create_endpoint_config(**config_request("c-bad", ("AllTraffic", "bad", 1)))
    sagemaker.create_endpoint(EndpointName="web", EndpointConfigName="c1")
    sim.clock.advance(4)
    assert status(sagemaker, "web") == ("InService", "c1")
    return "web"


def test_create_goes_creating_then_in_service(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("m1"))
    sagemaker.create_endpoint_config(**config_request("c1", ("AllTraffic", "m1", 2)))
    arn = sagemaker.create_endpoint(EndpointName="Web-Endpoint", EndpointConfigName="c1")["EndpointArn"]
    assert arn == f"{ARN}:endpoint/web-endpoint"

    creating = describe(sagemaker, "Web-Endpoint")
    created = creating["CreationTime"]
    assert (creating["EndpointStatus"], creating["EndpointConfigName"]) == ("Creating", "c1")
    assert creating["LastModifiedTime"] == created
    assert "ProductionVariants" not in creating and "FailureReason" not in creating
    pending = creating["PendingDeploymentSummary"]
    assert pending["EndpointConfigName"] == "c1"
    assert pending["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    assert pending["ProductionVariants"][0]["VariantStatus"][0]["Status"] == "Creating"

    sim.clock.advance(3.9)
    assert describe(sagemaker, "Web-Endpoint")["EndpointStatus"] == "Creating"
    sim.clock.advance(0.1)
    described = describe(sagemaker, "Web-Endpoint")
    assert described["EndpointStatus"] == "InService"
    assert described["LastModifiedTime"] == created + timedelta(seconds=4)
    assert "PendingDeploymentSummary" not in described
    [variant] = described["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert capacity(variant) == (1.0, 1.0, 2, 2)
    [image] = variant["DeployedImages"]
    assert image["SpecifiedImage"] == IMAGE
    assert re.fullmatch(
        r"123456789012\.dkr\.ecr\.us-west-2\.amazonaws\.com/xgboost@sha256:[0-9a-f]{64}", image["ResolvedImage"]
    )
    assert image["ResolutionTime"] == created
    assert sim.endpoint("web-endpoint").timeline == [
        (created, "Creating", None),
        (created + timedelta(seconds=4), "InService", "c1"),
    ]


def test_create_errors(sagemaker: Any, hosted: str) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint(EndpointName="web", EndpointConfigName="c2")
    assert error_of(raised) == ("ValidationException", f'Cannot create already existing endpoint "{ARN}:endpoint/web".')
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint(EndpointName="other", EndpointConfigName="No-Config")
    assert error_of(raised) == (
        "ValidationException",
        f'Could not find endpoint configuration "{ARN}:endpoint-config/no-config".',
    )
    sagemaker.delete_model(ModelName="m2")  # c2 names it: deploying c2 must fail
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint(EndpointName="other", EndpointConfigName="c2")
    assert error_of(raised) == ("ValidationException", f'Could not find model "{ARN}:model/m2".')
    for call in (sagemaker.describe_endpoint, sagemaker.delete_endpoint):
        with pytest.raises(ClientError) as raised:
            call(EndpointName="nowhere")
        assert error_of(raised) == ("ValidationException", f'Could not find endpoint "{ARN}:endpoint/nowhere".')
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint(EndpointName="bad_name", EndpointConfigName="c1")
    assert "at 'endpointName' failed to satisfy constraint" in error_of(raised)[1]


def test_a_failing_model_fails_the_creation(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    sagemaker.create_endpoint(EndpointName="broken", EndpointConfigName="c-bad")
    sim.clock.advance(4)
    described = describe(sagemaker, "broken")
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == (
        "The primary container for production variant AllTraffic did not pass the ping health check. "
        "Please check CloudWatch logs for this endpoint. ImportError: No module named 'xgboost'"
    )
    assert "ProductionVariants" not in described
    for call, kwargs in (
        (sagemaker.update_endpoint, {"EndpointConfigName": "c1"}),
        (sagemaker.update_endpoint_weights_and_capacities, {"DesiredWeightsAndCapacities": [{"VariantName": "x"}]}),
    ):
        with pytest.raises(ClientError) as raised:
            call(EndpointName="broken", **kwargs)
        assert error_of(raised) == ("ValidationException", f'Cannot update failed endpoint "{ARN}:endpoint/broken".')
    sagemaker.delete_endpoint(EndpointName="broken")  # the one operation a failed endpoint allows
    assert describe(sagemaker, "broken")["EndpointStatus"] == "Deleting"


def test_update_serves_the_old_config_until_the_new_one_is_in_service(
    sim: Simulator, sagemaker: Any, hosted: str
) -> None:
    sim.clock.advance(10)
    arn = sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")["EndpointArn"]
    assert arn == f"{ARN}:endpoint/web"
    updating = describe(sagemaker, "web")
    assert (updating["EndpointStatus"], updating["EndpointConfigName"]) == ("Updating", "c1")
    assert updating["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == IMAGE  # still the old fleet
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == "c2"
    updated_at = updating["LastModifiedTime"]

    sim.clock.advance(3)
    assert status(sagemaker, "web") == ("Updating", "c1")
    sim.clock.advance(1)
    described = describe(sagemaker, "web")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "c2")
    assert described["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"].endswith("xgboost:2.0-1")
    assert described["LastModifiedTime"] == updated_at + timedelta(seconds=4)
    assert "FailureReason" not in described and "PendingDeploymentSummary" not in described

    timeline = sim.endpoint("web").timeline
    assert [(entry.status, entry.serving) for entry in timeline] == [
        ("Creating", None),
        ("InService", "c1"),
        ("Updating", "c1"),
        ("InService", "c2"),
    ]
    assert_never_without_service(timeline)


def test_a_failed_update_rolls_back_to_the_old_config(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c-bad")
    assert status(sagemaker, "web") == ("Updating", "c1")
    sim.clock.advance(4)
    described = describe(sagemaker, "web")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "c1")
    assert described["FailureReason"].startswith(
        "The primary container for production variant AllTraffic did not pass the ping health check."
    )
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2  # the old fleet, untouched
    assert_never_without_service(sim.endpoint("web").timeline)

    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")  # a failed update can be followed
    assert "FailureReason" not in describe(sagemaker, "web")
    sim.clock.advance(4)
    assert status(sagemaker, "web") == ("InService", "c2")
    timeline = sim.endpoint("web").timeline
    assert [(entry.status, entry.serving) for entry in timeline][1:] == [
        ("InService", "c1"),
        ("Updating", "c1"),
        ("InService", "c1"),
        ("Updating", "c1"),
        ("InService", "c2"),
    ]
    assert_never_without_service(timeline)


def test_no_update_or_delete_while_in_progress(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")
    in_progress = ("ValidationException", f'Cannot update in-progress endpoint "{ARN}:endpoint/web".')
    calls: list[tuple[Any, dict[str, Any]]] = [
        (sagemaker.update_endpoint, {"EndpointConfigName": "c1"}),
        (
            sagemaker.update_endpoint_weights_and_capacities,
            {"DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredWeight": 2.0}]},
        ),
        (sagemaker.delete_endpoint, {}),
    ]
    for call, kwargs in calls:
        with pytest.raises(ClientError) as raised:
            call(EndpointName="web", **kwargs)
        assert error_of(raised) == in_progress
    sagemaker.create_endpoint(EndpointName="young", EndpointConfigName="c1")
    with pytest.raises(ClientError) as raised:
        sagemaker.delete_endpoint(EndpointName="young")  # still Creating
    assert error_of(raised)[1] == f'Cannot update in-progress endpoint "{ARN}:endpoint/young".'
    sim.clock.advance(4)
    assert status(sagemaker, "web") == ("InService", "c2")  # the refused calls changed nothing


def test_deleting_the_config_in_use_keeps_the_endpoint_but_blocks_updates(
    sim: Simulator, sagemaker: Any, hosted: str
) -> None:
    sagemaker.delete_endpoint_config(EndpointConfigName="c1")  # allowed, as in SageMaker
    sim.clock.advance(60)
    described = describe(sagemaker, "web")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "c1")
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    # SageMaker needs the current configuration to update an endpoint
    with pytest.raises(ClientError) as raised:
        sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")
    assert error_of(raised) == (
        "ValidationException",
        f'Could not find endpoint configuration "{ARN}:endpoint-config/c1".',
    )
    with pytest.raises(ClientError) as raised:
        sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c3")
    assert error_of(raised)[1] == f'Could not find endpoint configuration "{ARN}:endpoint-config/c3".'
    assert status(sagemaker, "web") == ("InService", "c1")


def test_old_config_and_models_can_go_once_the_update_is_done(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")
    sim.clock.advance(4)
    sagemaker.delete_endpoint_config(EndpointConfigName="c1")
    sagemaker.delete_model(ModelName="m1")
    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")  # c2 is current and exists
    sim.clock.advance(4)
    assert status(sagemaker, "web") == ("InService", "c2")


def test_weights_and_capacities(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("m1"))
    sagemaker.create_model(**model_request("m2"))
    sagemaker.create_endpoint_config(**config_request("ab", ("A", "m1", 1), ("B", "m2", 1)))
    sagemaker.create_endpoint(EndpointName="ab-test", EndpointConfigName="ab")
    sim.clock.advance(4)
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="ab-test",
        DesiredWeightsAndCapacities=[{"VariantName": "B", "DesiredWeight": 3.0, "DesiredInstanceCount": 3}],
    )
    updating = describe(sagemaker, "ab-test")
    assert updating["EndpointStatus"] == "Updating"
    assert "PendingDeploymentSummary" not in updating  # no new configuration is being deployed
    a, b = updating["ProductionVariants"]
    assert (capacity(a), capacity(b)) == ((1, 1, 1, 1), (1, 3, 1, 3))
    sim.clock.advance(4)
    described = describe(sagemaker, "ab-test")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "ab")
    b = described["ProductionVariants"][1]
    assert capacity(b) == (3, 3, 3, 3)
    assert_never_without_service(sim.endpoint("ab-test").timeline)
    streams = sim.endpoint("ab-test").log_stream_names()
    assert sorted(s.split("/")[0] for s in streams) == ["A", "B", "B", "B"]  # two instances added to B

    with pytest.raises(ClientError) as raised:
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="ab-test", DesiredWeightsAndCapacities=[{"VariantName": "C", "DesiredWeight": 1.0}]
        )
    assert error_of(raised) == (
        "ValidationException",
        f'The variant(s) "C" are not present in endpoint "{ARN}:endpoint/ab-test".',
    )


def test_retained_variant_properties(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="web", DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 5}]
    )
    sim.clock.advance(4)
    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2", RetainAllVariantProperties=True)
    sim.clock.advance(4)
    assert describe(sagemaker, "web")["ProductionVariants"][0]["CurrentInstanceCount"] == 5  # kept, not c2's 2
    sagemaker.update_endpoint(
        EndpointName="web",
        EndpointConfigName="c1",
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredInstanceCount"}],
    )
    sim.clock.advance(4)
    assert describe(sagemaker, "web")["ProductionVariants"][0]["CurrentInstanceCount"] == 2  # c1's own count


def test_multi_container_models(sim: Simulator, sagemaker: Any) -> None:
    def containers(failure: str | None = None) -> list[dict[str, Any]]:
        predict: dict[str, Any] = {"ContainerHostname": "predict", "Image": IMAGE}
        if failure:
            predict["Environment"] = {"SAGEMAKER_SIMULATOR_FAILURE_REASON": failure}
        return [{"ContainerHostname": "preprocess", "Image": "sklearn:1.2"}, predict]

    for name, failure in (("serial", None), ("serial-bad", "OOM")):
        request = model_request(name, Containers=containers(failure), InferenceExecutionConfig={"Mode": "Serial"})
        del request["PrimaryContainer"]
        sagemaker.create_model(**request)
        sagemaker.create_endpoint_config(**config_request(name, ("AllTraffic", name, 1)))
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sim.clock.advance(4)
    images = describe(sagemaker, "serial")["ProductionVariants"][0]["DeployedImages"]
    assert [image["SpecifiedImage"] for image in images] == ["sklearn:1.2", IMAGE]
    assert images[0]["ResolvedImage"].startswith("sklearn@sha256:")
    failed = describe(sagemaker, "serial-bad")
    assert failed["EndpointStatus"] == "Failed"
    assert failed["FailureReason"].startswith("The container predict for production variant AllTraffic did not pass")
    assert failed["FailureReason"].endswith(" OOM")
    assert sim.endpoint_config("serial").request["ProductionVariants"][0]["ModelName"] == "serial"


def test_serverless_variant(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_model(**model_request("m1"))
    config = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    sagemaker.create_endpoint_config(
        EndpointConfigName="sls",
        ProductionVariants=[{"VariantName": "v", "ModelName": "m1", "ServerlessConfig": config}],
    )
    sagemaker.create_endpoint(EndpointName="sls", EndpointConfigName="sls")
    sim.clock.advance(4)
    [variant] = describe(sagemaker, "sls")["ProductionVariants"]
    assert variant["CurrentServerlessConfig"] == variant["DesiredServerlessConfig"] == config
    assert "CurrentInstanceCount" not in variant
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="sls",
        DesiredWeightsAndCapacities=[{"VariantName": "v", "ServerlessUpdateConfig": {"MaxConcurrency": 10}}],
    )
    sim.clock.advance(4)
    assert describe(sagemaker, "sls")["ProductionVariants"][0]["CurrentServerlessConfig"]["MaxConcurrency"] == 10


def test_delete_goes_deleting_then_gone(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    sagemaker.delete_endpoint(EndpointName="web")
    assert describe(sagemaker, "web")["EndpointStatus"] == "Deleting"
    assert [e["EndpointStatus"] for e in sagemaker.list_endpoints()["Endpoints"]] == ["Deleting"]
    with pytest.raises(ClientError) as raised:
        sagemaker.delete_endpoint(EndpointName="web")
    assert error_of(raised)[1] == f'Cannot update in-progress endpoint "{ARN}:endpoint/web".'
    sim.clock.advance(2)
    with pytest.raises(ClientError) as raised:
        sagemaker.describe_endpoint(EndpointName="web")
    assert error_of(raised) == ("ValidationException", f'Could not find endpoint "{ARN}:endpoint/web".')
    assert sagemaker.list_endpoints()["Endpoints"] == []
    with pytest.raises(KeyError):
        sim.endpoint("web")
    with pytest.raises(ClientError):
        sagemaker.list_tags(ResourceArn=f"{ARN}:endpoint/web")  # gone from the tagging operations too
    sagemaker.create_endpoint(EndpointName="web", EndpointConfigName="c2")  # the name is free again
    assert status(sagemaker, "web") == ("Creating", "c2")


def test_logs_per_variant_and_instance(sim: Simulator, sagemaker: Any, logs: Any, hosted: str) -> None:
    group = f"{GROUP}web"

    def streams() -> list[str]:
        return sorted(s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"])

    def read(stream: str) -> list[str]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        return [e["message"] for e in events]

    first = streams()
    assert len(first) == 2 and all(STREAM.match(s) and s.startswith("AllTraffic/") for s in first)
    assert sorted(sim.endpoint("web").log_stream_names()) == first
    lines = read(first[0])
    assert STREAM.match(first[0])["instance"] in lines[0]  # type: ignore[index]
    assert "Model m1 loaded" in lines[2]
    assert lines[-1].endswith('"GET /ping HTTP/1.1" 200 0 "-" "AHC/2.0"')
    sim.clock.advance(120)
    assert len(read(first[0])) == len(lines) + 2  # a health check a minute while in service

    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")
    sim.clock.advance(4)
    after = streams()
    assert len(after) == 4 and set(first) < set(after)  # the new fleet logs to new streams
    for stream in first:
        assert read(stream)[-1] == "Received SIGTERM: shutting down the model server."
    new = sorted(set(after) - set(first))
    assert any("Model m2 loaded" in line for line in read(new[0]))

    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c-bad")
    sim.clock.advance(4)
    [failed] = sorted(set(streams()) - set(after))
    assert "ImportError: No module named 'xgboost'" in read(failed)
    assert '"GET /ping HTTP/1.1" 500' in read(failed)[-4]
    for stream in new:  # the serving fleet was not touched by the failed update
        assert "SIGTERM" not in read(stream)[-1]


def test_list_endpoints_filters_sorts_and_pages(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    for name in ("api-b", "api-a"):
        sim.clock.advance(1)
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="c1")
    sim.clock.advance(1)
    sagemaker.create_endpoint(EndpointName="broken", EndpointConfigName="c-bad")

    def names(**kwargs: Any) -> list[str]:
        return [e["EndpointName"] for e in sagemaker.list_endpoints(**kwargs)["Endpoints"]]

    assert names() == ["broken", "api-a", "api-b", "web"]  # default: CreationTime, Descending
    assert names(SortBy="Name", SortOrder="Ascending") == ["api-a", "api-b", "broken", "web"]
    assert names(StatusEquals="Creating", SortBy="Name") == ["broken", "api-b", "api-a"]
    assert names(StatusEquals="InService") == ["web"]
    assert names(NameContains="API") == ["api-a", "api-b"]
    summaries = {e["EndpointName"]: e for e in sagemaker.list_endpoints()["Endpoints"]}
    assert set(summaries["web"]) == {
        "EndpointName",
        "EndpointArn",
        "CreationTime",
        "LastModifiedTime",
        "EndpointStatus",
    }
    assert names(CreationTimeAfter=summaries["api-b"]["CreationTime"]) == ["broken", "api-a"]

    checkpoint = summaries["broken"]["LastModifiedTime"]
    sim.clock.advance(0.5)
    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")
    assert names(LastModifiedTimeAfter=checkpoint) == ["web"]  # a status change moves LastModifiedTime
    sim.clock.advance(10)
    assert names(LastModifiedTimeAfter=checkpoint) == ["broken", "api-a", "api-b", "web"]
    assert names(StatusEquals="Failed") == ["broken"]

    paginated = [
        e["EndpointName"]
        for page in sagemaker.get_paginator("list_endpoints").paginate(PaginationConfig={"PageSize": 3})
        for e in page["Endpoints"]
    ]
    assert paginated == ["broken", "api-a", "api-b", "web"]


def test_endpoint_tags(sagemaker: Any, hosted: str) -> None:
    arn = f"{ARN}:endpoint/web"
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == []
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "platform"}])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "platform"}]
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["owner"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == []
    sagemaker.create_endpoint(EndpointName="tagged", EndpointConfigName="c1", Tags=[{"Key": "k", "Value": "v"}])
    assert sagemaker.list_tags(ResourceArn=f"{ARN}:endpoint/tagged")["Tags"] == [{"Key": "k", "Value": "v"}]


def test_endpoint_calls_are_counted(sim: Simulator, sagemaker: Any, hosted: str) -> None:
    sagemaker.update_endpoint(EndpointName="web", EndpointConfigName="c2")
    describe(sagemaker, "web")
    calls = sim.calls
    assert (calls["sagemaker.CreateEndpoint"], calls["sagemaker.UpdateEndpoint"]) == (1, 1)
    assert calls["sagemaker.DescribeEndpoint"] == 2  # the fixture's check and this one
