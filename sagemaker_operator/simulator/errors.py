"""Errors the simulator answers with, shaped like SageMaker's so botocore parses them as real ones."""

from __future__ import annotations

# HTTP status and default message of the AWS "common errors" a fault can inject. botocore's retry
# logic keys on these: ThrottlingException (400) by code, InternalFailure/ServiceUnavailable by 5xx.
COMMON_ERRORS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (400, "Rate exceeded"),
    "InternalFailure": (
        500,
        "The request processing has failed because of an unknown error, exception or failure.",
    ),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
}


class SageMakerError(Exception):
    """An error answered to the client as ``{"__type": code, "message": message}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def validation_error(message: str) -> SageMakerError:
    return SageMakerError("ValidationException", message)


def not_found() -> SageMakerError:
    """What SageMaker answers for an unknown training (and most other) job name."""
    return validation_error("Requested resource not found.")


def tuning_job_not_found(name: str) -> SageMakerError:
    """What SageMaker answers for an unknown tuning job name (Describe, Stop, ListTrainingJobsFor...)."""
    return SageMakerError(
        "ResourceNotFound", f"Amazon SageMaker can't find a tuning job called {name}. Type another name."
    )


def job_not_found(name: str) -> SageMakerError:
    """What SageMaker answers for an unknown transform (and processing) job name."""
    return validation_error(f"Could not find requested job with name {name}")


def could_not_find(noun: str, arn: str) -> SageMakerError:
    """SageMaker's answer for an unknown model, endpoint configuration or endpoint (noun), by ARN."""
    return validation_error(f'Could not find {noun} "{arn}".')


def already_existing(noun: str, arn: str) -> SageMakerError:
    """SageMaker's answer to creating a model, endpoint configuration or endpoint whose name is taken."""
    return validation_error(f'Cannot create already existing {noun} "{arn}".')


def resource_in_use(message: str) -> SageMakerError:
    return SageMakerError("ResourceInUse", message)


def common_error(code: str, message: str | None = None, status: int | None = None) -> SageMakerError:
    """An error for ``code``: AWS's status and message for common errors, 400 otherwise."""
    default_status, default_message = COMMON_ERRORS.get(
        code, (400, "The request was rejected by a fault injected into the SageMaker simulator.")
    )
    return SageMakerError(code, message or default_message, status or default_status)
