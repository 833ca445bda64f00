"""Injected faults look like real AWS errors to botocore, retries included."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import Simulator

from .conftest import ClientFactory, training_request

pytestmark = pytest.mark.usefixtures("no_retry_sleep")


def test_throttling_is_retried_then_raised(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker", max_attempts=3)
    sagemaker.create_training_job(**training_request("throttled"))
    sim.faults.inject("DescribeTrainingJob", error="ThrottlingException", rate=1.0, seed=1)

    with pytest.raises(ClientError) as raised:
        sagemaker.describe_training_job(TrainingJobName="throttled")
    response = raised.value.response
    assert response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert sim.calls["sagemaker.DescribeTrainingJob"] == 3
    throttled = [r for r in sim.requests if r.operation == "DescribeTrainingJob"]
    assert [(r.status_code, r.error_code) for r in throttled] == [(400, "ThrottlingException")] * 3

    # other operations are untouched
    assert sagemaker.list_training_jobs()["TrainingJobSummaries"][0]["TrainingJobName"] == "throttled"


def test_times_fails_the_next_calls_and_botocore_recovers(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker", max_attempts=3)
    sim.faults.inject("*", error="InternalFailure", times=2)

    response = sagemaker.create_training_job(**training_request("recovered"))
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert sim.calls["sagemaker.CreateTrainingJob"] == 3
    assert [r.status_code for r in sim.requests] == [500, 500, 200]
    assert sim.requests[0].error_code == "InternalFailure"
    # the fault is used up: the next call goes straight through
    sagemaker.describe_training_job(TrainingJobName="recovered")
    assert sim.calls["sagemaker.DescribeTrainingJob"] == 1


def test_service_unavailable_is_a_503(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker", max_attempts=2)
    sim.faults.inject("ListTrainingJobs", error="ServiceUnavailable")
    with pytest.raises(ClientError) as raised:
        sagemaker.list_training_jobs()
    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert sim.calls["sagemaker.ListTrainingJobs"] == 2


def test_other_error_codes_are_400_and_not_retried(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker", max_attempts=3)
    sim.faults.inject("CreateTrainingJob", error="ResourceLimitExceeded", times=1)
    with pytest.raises(ClientError) as raised:
        sagemaker.create_training_job(**training_request("over-quota"))
    assert raised.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sim.calls["sagemaker.CreateTrainingJob"] == 1


def test_rate_is_reproducible_with_a_seed(client: ClientFactory, sim: Simulator) -> None:
    sagemaker = client("sagemaker")

    def pattern() -> list[bool]:
        outcomes = []
        for _ in range(40):
            try:
                sagemaker.list_training_jobs()
                outcomes.append(True)
            except ClientError:
                outcomes.append(False)
        return outcomes

    sim.faults.inject("ListTrainingJobs", error="ThrottlingException", rate=0.3, seed=7)
    first = pattern()
    sim.faults.clear()
    sim.faults.inject("ListTrainingJobs", error="ThrottlingException", rate=0.3, seed=7)
    assert pattern() == first
    assert 3 <= first.count(False) <= 25
    sim.faults.clear()
    assert pattern() == [True] * 40


def test_faults_on_other_services(sim: Simulator, client: ClientFactory) -> None:
    logs = client("logs", max_attempts=2)
    sim.faults.inject("logs.DescribeLogGroups", error="ThrottlingException")
    with pytest.raises(ClientError) as raised:
        logs.describe_log_groups()
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert sim.calls["logs.DescribeLogGroups"] == 2
    # "*" means SageMaker operations only
    sim.faults.clear()
    sim.faults.inject("*", error="InternalFailure")
    assert logs.describe_log_groups()["logGroups"] == []


@pytest.mark.parametrize(("service", "method"), [("sts", "get_caller_identity"), ("s3", "list_buckets")])
def test_faults_on_xml_services_parse_as_aws_errors(
    sim: Simulator, client: ClientFactory, service: str, method: str
) -> None:
    aws = client(service, max_attempts=2)
    operation = aws.meta.method_to_api_mapping[method]
    sim.faults.inject(f"{service}.{operation}", error="SlowDown", times=3, status=503, message="Reduce <rate>")

    with pytest.raises(ClientError) as raised:
        getattr(aws, method)()
    assert raised.value.response["Error"]["Code"] == "SlowDown"
    assert raised.value.response["Error"]["Message"] == "Reduce <rate>"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1  # 503 is retried

    getattr(aws, method)()  # the third failure is used up by the first retry; then it succeeds
    assert [(r.status_code, r.error_code) for r in sim.requests] == [(503, "SlowDown")] * 3 + [(200, None)]


def test_fault_validation(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.faults.inject("*", error="ThrottlingException", rate=1.5)
    with pytest.raises(ValueError):
        sim.faults.inject("*", error="ThrottlingException", times=0)


def test_failed_calls_do_not_change_state(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker")
    sim.faults.inject("CreateTrainingJob", error="InternalFailure", times=1)
    with pytest.raises(ClientError):
        sagemaker.create_training_job(**training_request("never-made"))
    with pytest.raises(ClientError) as raised:
        sagemaker.describe_training_job(TrainingJobName="never-made")
    assert raised.value.response["Error"]["Message"] == "Requested resource not found."
