"""How the operator learns a SageMaker job's current state: one interface, swappable strategies.

Controllers only ever ask ``await source.observe(ref)``. ``PerJobPolling`` answers with one
Describe call per ask (the Go operator's and ACK's scheme: API calls grow with the number of jobs).
A batched strategy (one List call per region and interval, Describe only what changed) plugs in
behind the same interface without touching the controllers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sagemaker_operator.aws import errors
from sagemaker_operator.aws.clients import ClientFactory


@dataclass(frozen=True)
class JobRef:
    """A SageMaker job, by the coordinates needed to ask about it."""

    describe_operation: str  # e.g. "DescribeTrainingJob"
    name_param: str  # e.g. "TrainingJobName"
    name: str
    region: str
    endpoint: str | None = None


class StatusSource(Protocol):
    async def observe(self, ref: JobRef) -> dict[str, Any] | None:
        """The job's Describe* response, or None if SageMaker does not know the job."""
        ...


class PerJobPolling:
    """One Describe per observation."""

    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    async def observe(self, ref: JobRef) -> dict[str, Any] | None:
        client = self._clients.sagemaker(ref.region, ref.endpoint)
        try:
            response: dict[str, Any] = await errors.call(client, ref.describe_operation, **{ref.name_param: ref.name})
        except errors.AWSError as exc:
            if exc.kind is errors.ErrorKind.NOT_FOUND:
                return None
            raise
        return response
