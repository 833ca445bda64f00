"""Is this SageMaker resource ours? Decided by the UID tag the operator puts on everything it creates."""

from __future__ import annotations

from typing import Any

from sagemaker_operator.aws import errors, naming
from sagemaker_operator.aws.errors import AWSError, ErrorKind


async def is_owned(client: Any, arn: str, uid: str) -> bool:
    tags = await errors.call(client, "ListTags", ResourceArn=arn, MaxResults=100)
    return naming.owned_by(tags.get("Tags", []), uid)


def name_taken(noun: str, name: str, region: str, name_field: str, operation: str) -> AWSError:
    """The error for a name held by a resource that is not this custom resource's: Terminal, with the fix."""
    return AWSError(
        ErrorKind.TERMINAL,
        "NameTaken",
        f"a SageMaker {noun} named {name!r} already exists in {region} and was not created by this resource; "
        f"set spec.{name_field} to another name, or leave it out to let the operator derive a unique one",
        operation,
    )
