from __future__ import annotations

import asyncio
import threading

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ParamValidationError

from sagemaker_operator.aws.errors import CALL_THREADS, ErrorKind, backoff, call, classify


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("ThrottlingException", "Rate exceeded"), ErrorKind.RETRYABLE),
        (client_error("InternalFailure", status=500), ErrorKind.RETRYABLE),
        (client_error("SomethingNew", status=503), ErrorKind.RETRYABLE),
        (client_error("ResourceLimitExceeded", "quota"), ErrorKind.RETRYABLE),
        (client_error("ValidationException", "1 validation error detected"), ErrorKind.TERMINAL),
        (client_error("ValidationException", "Requested resource not found."), ErrorKind.NOT_FOUND),
        (client_error("ResourceNotFound"), ErrorKind.NOT_FOUND),
        (client_error("ValidationException", 'Could not find endpoint "arn:aws:sagemaker:..."'), ErrorKind.NOT_FOUND),
        (client_error("ValidationException", 'Cannot create already existing model "arn:..."'), ErrorKind.IN_USE),
        (client_error("ResourceInUse", "a training job with this name already exists"), ErrorKind.IN_USE),
        (client_error("AccessDeniedException", status=403), ErrorKind.ACCESS),
        (client_error("UnrecognizedClientException"), ErrorKind.ACCESS),
        (ParamValidationError(report="Missing required parameter"), ErrorKind.TERMINAL),
        (NoCredentialsError(), ErrorKind.ACCESS),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), ErrorKind.RETRYABLE),
    ],
)
def test_classification(exc: Exception, kind: ErrorKind) -> None:
    error = classify(exc, "CreateTrainingJob")
    assert error.kind is kind
    assert "CreateTrainingJob" in str(error)


def test_access_errors_point_at_irsa() -> None:
    assert "eks.amazonaws.com/role-arn" in classify(client_error("AccessDeniedException", status=403)).hint


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    first = [backoff(0, base=1, cap=60) for _ in range(50)]
    assert all(0.5 <= d <= 1 for d in first) and len(set(first)) > 1
    assert all(30 <= backoff(10, base=1, cap=60) <= 60 for _ in range(50))


async def test_a_burst_of_calls_runs_concurrently_up_to_the_connection_pool() -> None:
    """200 new resources submit at once: their Create calls must not queue behind asyncio's default
    executor (CPUs + 4 threads, 6 on a 2-core node); every call of the burst below waits for all the
    others to have started, so it only finishes if CALL_THREADS of them are in flight together."""
    everyone_started = threading.Barrier(CALL_THREADS, timeout=10)

    class SlowClient:
        def describe_training_job(self, TrainingJobName: str) -> dict[str, str]:
            everyone_started.wait()
            return {"TrainingJobName": TrainingJobName}

    client = SlowClient()
    answers = await asyncio.gather(
        *(call(client, "DescribeTrainingJob", TrainingJobName=f"job-{i}") for i in range(CALL_THREADS))
    )
    assert [a["TrainingJobName"] for a in answers] == [f"job-{i}" for i in range(CALL_THREADS)]
    assert CALL_THREADS >= 20  # as many as the boto3 connection pool, so no call waits for a thread
