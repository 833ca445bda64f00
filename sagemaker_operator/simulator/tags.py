"""AddTags, ListTags and DeleteTags for resources the simulator owns; moto answers for any other ARN."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import validation_error
from .protocol import PASS_TO_MOTO, HandlerResult, RequestContext, sagemaker_operation

if TYPE_CHECKING:
    from .core import Simulator


@sagemaker_operation("AddTags")
def add_tags(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> HandlerResult:
    resource = sim.store.by_arn(params["ResourceArn"])
    if resource is None:
        return PASS_TO_MOTO
    new = {tag["Key"]: tag["Value"] for tag in params["Tags"]}
    resource.tags[:] = [t for t in resource.tags if t["Key"] not in new] + [
        {"Key": k, "Value": v} for k, v in new.items()
    ]
    return {"Tags": list(resource.tags)}


@sagemaker_operation("ListTags")
def list_tags(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> HandlerResult:
    resource = sim.store.by_arn(params["ResourceArn"])
    if resource is None:
        return PASS_TO_MOTO
    start = 0
    if params.get("NextToken"):
        try:
            start = int(params["NextToken"])
        except ValueError:
            raise validation_error("Invalid pagination token.") from None
    page_size = params.get("MaxResults", 50)
    response: dict[str, Any] = {"Tags": resource.tags[start : start + page_size]}
    if start + page_size < len(resource.tags):
        response["NextToken"] = str(start + page_size)
    return response


@sagemaker_operation("DeleteTags")
def delete_tags(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> HandlerResult:
    resource = sim.store.by_arn(params["ResourceArn"])
    if resource is None:
        return PASS_TO_MOTO
    keys = set(params["TagKeys"])
    resource.tags[:] = [t for t in resource.tags if t["Key"] not in keys]
    return {}
