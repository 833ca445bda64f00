"""SageMaker models: CreateModel, DescribeModel, DeleteModel, ListModels.

The simulator owns models (rather than leaving them to moto) so that a duplicate name is refused as
SageMaker refuses it (moto silently overwrites), tags and validation work as for every other kind, and
endpoint configurations, endpoints and transform jobs can check the models they name in one place.

A model has no lifecycle: it exists from CreateModel to DeleteModel. Deleting a model that an
endpoint configuration or a running endpoint uses is allowed, as in SageMaker: an endpoint keeps the
containers it deployed. One environment variable in a container's ``Environment`` steers a model
(it reaches no real container, so it is safe to set):

``SAGEMAKER_SIMULATOR_FAILURE_REASON``
    Any non-empty string: every endpoint deployment of the model fails its health check (see
    :mod:`.endpoints`); the same variable on a transform job makes that job fail (see :mod:`.transform`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import already_existing, could_not_find, validation_error
from .listing import filter_summaries, page, standard_sort_keys
from .protocol import RequestContext, sagemaker_operation

if TYPE_CHECKING:
    from .core import Simulator

FAILURE_ENVIRONMENT_VARIABLE = "SAGEMAKER_SIMULATOR_FAILURE_REASON"


def model_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account_id}:model/{name.lower()}"


@dataclass(frozen=True)
class Container:
    """One container of a model, as a deployment needs it."""

    label: str
    """How SageMaker's messages name it: ``primary container`` or ``container <hostname>``."""
    hostname: str
    image: str | None
    model_data_url: str | None
    failure: str | None
    """The value of SAGEMAKER_SIMULATOR_FAILURE_REASON in its Environment, if set and non-empty."""


@dataclass(eq=False)
class Model:
    """A simulated SageMaker model: the CreateModel request, its tags and creation time."""

    KIND = "model"

    name: str
    arn: str
    account_id: str
    region: str
    request: dict[str, Any]
    tags: list[dict[str, str]]
    created: datetime

    def refresh(self, now: datetime) -> bool:
        return False  # nothing happens to a model over time

    @property
    def containers(self) -> list[Container]:
        """PrimaryContainer, or each of Containers (a multi-container model)."""
        if self.request.get("PrimaryContainer") is not None:
            definitions = [self.request["PrimaryContainer"]]
        else:
            definitions = list(self.request.get("Containers") or [])
        containers = []
        for index, definition in enumerate(definitions):
            hostname = definition.get("ContainerHostname") or f"container-{index + 1}"
            label = "primary container" if index == 0 else f"container {hostname}"
            failure = (definition.get("Environment") or {}).get(FAILURE_ENVIRONMENT_VARIABLE) or None
            containers.append(
                Container(label, hostname, definition.get("Image"), definition.get("ModelDataUrl"), failure)
            )
        return containers

    def describe(self) -> dict[str, Any]:
        """The DescribeModel response: the request echoed back (without Tags), ARN and creation time."""
        response: dict[str, Any] = {"ModelName": self.name}
        for key in ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig"):
            if key in self.request:
                response[key] = copy.deepcopy(self.request[key])
        response.update(
            CreationTime=self.created,
            ModelArn=self.arn,
            EnableNetworkIsolation=bool(self.request.get("EnableNetworkIsolation", False)),
        )
        return response

    def summary(self) -> dict[str, Any]:
        return {"ModelName": self.name, "ModelArn": self.arn, "CreationTime": self.created}


def find_model(sim: Simulator, context: RequestContext, name: str) -> Model:
    """The model ``name`` in the caller's account and region; SageMaker's ValidationException if none."""
    model = sim.store.get(Model.KIND, context.account_id, context.region, name)
    if model is None:
        raise could_not_find("model", model_arn(context.region, context.account_id, name))
    assert isinstance(model, Model)
    return model


@sagemaker_operation("CreateModel")
def create_model(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelName"]
    arn = model_arn(context.region, context.account_id, name)
    if sim.store.get(Model.KIND, context.account_id, context.region, name) is not None:
        raise already_existing("model", arn)
    primary, containers = params.get("PrimaryContainer"), params.get("Containers")
    if primary is None and not containers:
        raise validation_error("Either PrimaryContainer or Containers must be specified.")
    if primary is not None and containers:
        raise validation_error("PrimaryContainer and Containers cannot both be specified.")
    if params.get("InferenceExecutionConfig") is not None and primary is not None:
        raise validation_error("InferenceExecutionConfig can be specified only with Containers.")
    model = Model(
        name=name,
        arn=arn,
        account_id=context.account_id,
        region=context.region,
        request={k: copy.deepcopy(v) for k, v in params.items() if k != "Tags"},
        tags=[dict(tag) for tag in params.get("Tags") or []],
        created=sim.clock.now(),
    )
    sim.store.add(Model.KIND, model)
    return {"ModelArn": arn}


@sagemaker_operation("DescribeModel")
def describe_model(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return find_model(sim, context, params["ModelName"]).describe()


@sagemaker_operation("DeleteModel")
def delete_model(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    sim.store.remove(Model.KIND, find_model(sim, context, params["ModelName"]))
    return {}


_SORT_KEYS = standard_sort_keys("ModelName", "ModelName")


@sagemaker_operation("ListModels")
def list_models(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    models = sim.store.of_kind(Model.KIND, context.account_id, context.region)
    summaries = [model.summary() for model in models if isinstance(model, Model)]
    summaries = filter_summaries(summaries, params, name_key="ModelName", status_key="ModelName")
    return page(
        summaries,
        params,
        items_key="Models",
        sort_keys=_SORT_KEYS,
        default_sort="CreationTime",
        default_order="Descending",
    )
