"""The HTTP server: control endpoints, request records, moto behind it, isolation between simulators."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations

from .conftest import REGION, ClientFactory, training_request


def control(url: str, method: str, path: str, document: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(document).encode() if document is not None else None
    request = urllib.request.Request(f"{url}/_simulator/{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_control_endpoints(server: SimulatorServer, sagemaker: Any) -> None:
    sagemaker.create_training_job(**training_request("remote"))

    before = server.simulator.clock.now()
    status, body = control(server.url, "POST", "clock/advance", {"seconds": 3})
    assert status == 200
    assert datetime.fromisoformat(body["now"]) == before + timedelta(seconds=3)
    assert sagemaker.describe_training_job(TrainingJobName="remote")["SecondaryStatus"] == "Downloading"

    assert (
        control(
            server.url,
            "POST",
            "faults",
            {"operation": "DescribeTrainingJob", "error": "ThrottlingException", "times": 1},
        )[0]
        == 200
    )
    with pytest.raises(ClientError) as raised:
        sagemaker.describe_training_job(TrainingJobName="remote")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"

    control(server.url, "POST", "faults", {"operation": "*", "error": "InternalFailure", "rate": 1.0})
    assert control(server.url, "DELETE", "faults")[0] == 200
    sagemaker.describe_training_job(TrainingJobName="remote")

    status, calls = control(server.url, "GET", "calls")
    assert status == 200
    assert calls == {"sagemaker.CreateTrainingJob": 1, "sagemaker.DescribeTrainingJob": 3}

    assert control(server.url, "DELETE", "calls")[0] == 200
    assert control(server.url, "GET", "calls") == (200, {})


def test_control_endpoints_reject_bad_requests(server: SimulatorServer) -> None:
    assert control(server.url, "POST", "clock/advance", {"secs": 3})[0] == 400
    assert control(server.url, "POST", "clock/advance", {"seconds": -1})[0] == 400
    assert control(server.url, "POST", "faults", {"operation": "*"})[0] == 400
    assert control(server.url, "GET", "nothing-here")[0] == 404


def test_requests_record_caller_region_and_outcome(sim: Simulator, client: ClientFactory) -> None:
    alice = client("sagemaker", access_key_id="AKIAALICE0000000000")
    bob = client("sagemaker", region="eu-west-1", access_key_id="AKIABOB00000000000000")
    alice.create_training_job(**training_request("alices"))
    with pytest.raises(ClientError):
        bob.describe_training_job(TrainingJobName="alices")  # another region: not found

    first, second = sim.requests
    assert (first.service, first.operation, first.region) == ("sagemaker", "CreateTrainingJob", REGION)
    assert (first.access_key_id, first.status_code, first.error_code) == ("AKIAALICE0000000000", 200, None)
    assert (second.region, second.access_key_id) == ("eu-west-1", "AKIABOB00000000000000")
    assert (second.status_code, second.error_code) == (400, "ValidationException")


def test_other_services_reach_moto_on_the_same_port(sim: Simulator, client: ClientFactory) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="training-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="training-data", Key="train/data.csv", Body=b"1,2,3\n")
    assert s3.get_object(Bucket="training-data", Key="train/data.csv")["Body"].read() == b"1,2,3\n"

    iam = client("iam")
    iam.create_role(RoleName="SageMakerRole", AssumeRolePolicyDocument="{}")
    sts = client("sts")
    assumed = sts.assume_role_with_web_identity(
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        RoleSessionName="operator",
        WebIdentityToken="a-service-account-token",
    )
    assert assumed["Credentials"]["AccessKeyId"]

    calls = sim.calls
    assert calls["s3.CreateBucket"] == 1
    assert calls["s3.PutObject"] == 1
    assert calls["s3.GetObject"] == 1
    assert calls["iam.CreateRole"] == 1
    assert calls["sts.AssumeRoleWithWebIdentity"] == 1
    missing = [r for r in sim.requests if r.operation == "GetObject"]
    assert missing[0].status_code == 200

    with pytest.raises(ClientError):
        s3.get_object(Bucket="training-data", Key="nope")
    assert sim.requests[-1].error_code == "NoSuchKey"


def test_sagemaker_operations_the_simulator_does_not_own_reach_moto(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_model(
        ModelName="served",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/xgboost:1.7-1"},
    )
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["served"]
    assert sim.calls["sagemaker.ListModels"] == 1


def test_two_simulators_do_not_share_jobs(client: ClientFactory) -> None:
    durations = StageDurations(starting=2, downloading=2, training=6, uploading=2, stopping=2)
    first, second = (Simulator(clock=SimClock(speed=0), durations=durations) for _ in range(2))
    with SimulatorServer(first) as one, SimulatorServer(second) as two:
        assert one.url != two.url
        sm_one = client("sagemaker", url=one.url)
        sm_two = client("sagemaker", url=two.url)
        sm_one.create_training_job(**training_request("mine"))
        with pytest.raises(ClientError) as raised:
            sm_two.describe_training_job(TrainingJobName="mine")
        assert raised.value.response["Error"]["Message"] == "Requested resource not found."
        sm_two.create_training_job(**training_request("mine"))  # no ResourceInUse across simulators
        first.clock.advance(30)
        assert sm_one.describe_training_job(TrainingJobName="mine")["TrainingJobStatus"] == "Completed"
        assert sm_two.describe_training_job(TrainingJobName="mine")["TrainingJobStatus"] == "InProgress"

        # moto's backends are process-wide: a bucket made through one server is visible through the other
        client("s3", url=one.url).create_bucket(
            Bucket="shared-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        assert "shared-bucket" in [b["Name"] for b in client("s3", url=two.url).list_buckets()["Buckets"]]
    assert first.calls["sagemaker.CreateTrainingJob"] == 1
    assert second.calls["sagemaker.CreateTrainingJob"] == 1


def test_serve_forever_blocks_until_stopped(client: ClientFactory) -> None:
    server = SimulatorServer(Simulator(clock=SimClock(speed=0)), host="0.0.0.0", port=0).bind()
    assert server.url.startswith("http://127.0.0.1:")
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        sagemaker = client("sagemaker", url=server.url)
        assert sagemaker.list_training_jobs()["TrainingJobSummaries"] == []
    finally:
        server.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_aws_endpoint_url_environment_variable_works(server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_training_job(**training_request("via-env"))
    assert sagemaker.describe_training_job(TrainingJobName="via-env")["TrainingJobName"] == "via-env"


def test_clock_speed_runs_jobs_without_advancing(client: ClientFactory) -> None:
    fast = Simulator(
        clock=SimClock(speed=1000),
        durations=StageDurations(starting=2, downloading=2, training=6, uploading=2, stopping=2),
    )
    with SimulatorServer(fast) as server:
        sagemaker = client("sagemaker", url=server.url)
        sagemaker.create_training_job(**training_request("quick"))
        deadline = time.monotonic() + 10
        while sagemaker.describe_training_job(TrainingJobName="quick")["TrainingJobStatus"] != "Completed":
            assert time.monotonic() < deadline
            time.sleep(0.005)


def test_clock_rules() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    clock = SimClock(speed=0, start=start)
    assert clock.now() == start
    assert clock.advance(1.5) == start + timedelta(seconds=1.5)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SimClock(speed=-1)
    with pytest.raises(ValueError):
        SimClock(start=datetime(2024, 1, 1))


def test_operations_moto_lacks_answer_not_implemented_without_retries(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker", max_attempts=3)
    with pytest.raises(ClientError) as raised:
        sagemaker.stop_compilation_job(CompilationJobName="neo")
    assert raised.value.response["Error"]["Code"] == "NotImplemented"
    assert "sagemaker.StopCompilationJob" in raised.value.response["Error"]["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert sim.calls["sagemaker.StopCompilationJob"] == 1
