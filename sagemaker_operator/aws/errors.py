"""Every AWS failure is classified once, here, into what the controllers do about it.

botocore has already retried throttling and 5xx (standard retry mode) before an error reaches us;
what arrives here is what it gave up on. Controllers then either retry later with jittered backoff
(RETRYABLE, ACCESS), stop and tell the user (TERMINAL), or treat it as an answer (NOT_FOUND, IN_USE).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    NoCredentialsError,
    ParamValidationError,
)


class ErrorKind(enum.Enum):
    RETRYABLE = "retryable"  # throttling, 5xx, network: try again later
    ACCESS = "access"  # credentials or IAM: retry later, but the fix is outside the spec
    TERMINAL = "terminal"  # the request itself is wrong: the spec must change
    NOT_FOUND = "not-found"
    IN_USE = "in-use"  # the name is taken (maybe by ourselves, before a restart)


THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
}
_TRANSIENT = {
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
    # Capacity and account quotas free up as other jobs end; retry slowly rather than give up.
    "ResourceLimitExceeded",
    "CapacityError",
    "InsufficientCapacityError",
}
_ACCESS = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
}
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "NoSuchEntity"}
_IN_USE = {"ResourceInUse", "ResourceInUseException", "ConflictException"}


@dataclass
class AWSError(Exception):
    kind: ErrorKind
    code: str
    message: str
    operation: str = ""

    def __str__(self) -> str:
        where = f" ({self.operation})" if self.operation else ""
        return f"{self.code}{where}: {self.message}"

    @property
    def hint(self) -> str:
        """What the user can do about it, in one sentence."""
        if self.kind is ErrorKind.ACCESS:
            return (
                "Check the operator's AWS credentials: with IRSA, the service account's "
                "eks.amazonaws.com/role-arn annotation, the role's trust policy and its SageMaker "
                "permissions."
            )
        if self.kind is ErrorKind.TERMINAL:
            return "Fix the spec; the operator will submit again when the spec changes."
        if self.kind is ErrorKind.NOT_FOUND and self.operation.startswith("Create"):
            return (
                "SageMaker cannot find something the spec refers to (a model, say); the operator retries with "
                "backoff, so creating it is enough."
            )
        if self.code == "ResourceLimitExceeded":
            return "An account quota is reached; the operator retries as capacity frees up."
        return "The operator retries with backoff."


def classify(exc: BaseException, operation: str = "") -> AWSError:
    if isinstance(exc, AWSError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")) or str(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return AWSError(_kind_of(code, message, status), code, message, operation)
    if isinstance(exc, ParamValidationError):
        return AWSError(ErrorKind.TERMINAL, "ParamValidationError", str(exc), operation)
    if isinstance(exc, NoCredentialsError | CredentialRetrievalError):
        return AWSError(ErrorKind.ACCESS, type(exc).__name__, str(exc), operation)
    if isinstance(exc, ConnectionError | BotoCoreError | OSError):
        return AWSError(ErrorKind.RETRYABLE, type(exc).__name__, str(exc), operation)
    raise exc


def _kind_of(code: str, message: str, status: int) -> ErrorKind:
    if code in THROTTLING_CODES or code in _TRANSIENT or status >= 500:
        return ErrorKind.RETRYABLE
    if code in _ACCESS or status == 403:
        return ErrorKind.ACCESS
    lowered = message.lower()
    if code in _NOT_FOUND or (
        code == "ValidationException" and ("not found" in lowered or "could not find" in lowered)
    ):
        # SageMaker answers Describe/Stop on an unknown job with ValidationException
        # "Requested resource not found."
        return ErrorKind.NOT_FOUND
    if code in _IN_USE or "already exist" in message.lower():  # "already exists" / "Cannot create already existing"
        return ErrorKind.IN_USE
    return ErrorKind.TERMINAL


# Threads for blocking boto3 calls, as many as a client's connection pool (clients.py sizes it by this). A
# thread is held for a call's whole round trip, so the threads bound how many calls are in flight: in a burst
# of 200 new resources (200 Creates, then 200 first Describes) each waits for a thread. Create latency p95
# of such a burst on a 2-core machine, in alternating runs: 5 threads (near asyncio's default of CPUs + 4)
# 2.0-2.2 s; 20 threads 1.1-1.9 s; 40 threads 1.1-1.6 s, better than 20 in each of four pairs; 80 threads
# 1.1-1.5 s, worse than 40 in three of four pairs.
CALL_THREADS = 40
_call_threads = ThreadPoolExecutor(max_workers=CALL_THREADS, thread_name_prefix="aws-call")


async def call(client: Any, operation: str, **kwargs: Any) -> Any:
    """Run a blocking boto3 call (by API name, e.g. "DescribeTrainingJob") off the event loop.

    Raises AWSError on failure.
    """
    method = getattr(client, xform_name(operation))
    run = functools.partial(contextvars.copy_context().run, method, **kwargs)
    try:
        return await asyncio.get_running_loop().run_in_executor(_call_threads, run)
    except (ClientError, BotoCoreError, OSError) as exc:
        raise classify(exc, operation) from exc


async def paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a List* operation, following NextToken."""
    items: list[dict[str, Any]] = []
    while True:
        page = await call(client, operation, **kwargs)
        items.extend(page.get(result_key, []))
        if not page.get("NextToken"):
            return items
        kwargs["NextToken"] = page["NextToken"]


def backoff(attempt: int, *, base: float = 5.0, cap: float = 300.0) -> float:
    """Delay before retry number ``attempt`` (0-based): exponential, capped, with jitter."""
    ceiling = min(cap, base * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)
