"""Endpoint configurations: CreateEndpointConfig, DescribeEndpointConfig, DeleteEndpointConfig,
ListEndpointConfigs.

A configuration names its models by name; they must exist when it is created (SageMaker checks
then, and again when an endpoint deploys it). Deleting a configuration an endpoint uses is allowed, as
in SageMaker, and the endpoint keeps running on what it deployed; but UpdateEndpoint then fails, since
SageMaker needs the endpoint's current configuration to update it (see :mod:`.endpoints`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import already_existing, could_not_find, validation_error
from .listing import filter_summaries, page, standard_sort_keys
from .models import find_model
from .protocol import RequestContext, sagemaker_operation
from .validation import operation_model

if TYPE_CHECKING:
    from .core import Simulator

DEFAULT_VARIANT_WEIGHT = 1.0
"""SageMaker's InitialVariantWeight when a production variant leaves it out."""

# Request members DescribeEndpointConfig echoes back: all those its response has (Tags is not one).
_ECHOED = frozenset(operation_model("DescribeEndpointConfig").output_shape.members) - {"ProductionVariants"}


def endpoint_config_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account_id}:endpoint-config/{name.lower()}"


@dataclass(eq=False)
class EndpointConfig:
    """A simulated endpoint configuration: the CreateEndpointConfig request, tags and creation time."""

    KIND = "endpoint-config"

    name: str
    arn: str
    account_id: str
    region: str
    request: dict[str, Any]
    tags: list[dict[str, str]]
    created: datetime

    def refresh(self, now: datetime) -> bool:
        return False  # nothing happens to a configuration over time

    @property
    def production_variants(self) -> list[dict[str, Any]]:
        """The production variants with SageMaker's defaults filled in (InitialVariantWeight 1.0)."""
        return [
            {
                **copy.deepcopy(variant),
                "InitialVariantWeight": variant.get("InitialVariantWeight", DEFAULT_VARIANT_WEIGHT),
            }
            for variant in self.request["ProductionVariants"]
        ]

    def describe(self) -> dict[str, Any]:
        """The DescribeEndpointConfig response: the request echoed back (without Tags), with defaults."""
        response: dict[str, Any] = {"EndpointConfigName": self.name, "EndpointConfigArn": self.arn}
        response["ProductionVariants"] = self.production_variants
        for key, value in self.request.items():
            if key in _ECHOED and key != "EndpointConfigName":
                response[key] = copy.deepcopy(value)
        response["CreationTime"] = self.created
        return response

    def summary(self) -> dict[str, Any]:
        return {"EndpointConfigName": self.name, "EndpointConfigArn": self.arn, "CreationTime": self.created}


def find_endpoint_config(sim: Simulator, context: RequestContext, name: str) -> EndpointConfig:
    """The configuration ``name`` in the caller's account and region; SageMaker's ValidationException if none."""
    config = sim.store.get(EndpointConfig.KIND, context.account_id, context.region, name)
    if config is None:
        raise could_not_find("endpoint configuration", endpoint_config_arn(context.region, context.account_id, name))
    assert isinstance(config, EndpointConfig)
    return config


def _check_variants(
    sim: Simulator, context: RequestContext, variants: list[dict[str, Any]], shadows: list[dict[str, Any]]
) -> None:
    """What SageMaker checks in (shadow) production variants beyond the request shape, then that their
    models exist (the wording of all but the last check is the simulator's)."""
    names = [variant["VariantName"] for variant in [*variants, *shadows]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise validation_error(f"Production variant names must be unique; repeated: {', '.join(duplicates)}.")
    for variant in [*variants, *shadows]:
        name = variant["VariantName"]
        if not variant.get("ModelName"):
            raise validation_error(
                f"Production variant {name} must name a model (ModelName); the simulator does not serve "
                "inference components."
            )
        serverless = variant.get("ServerlessConfig") is not None
        instances = variant.get("InstanceType") is not None or variant.get("InitialInstanceCount") is not None
        if serverless and instances:
            raise validation_error(
                f"Production variant {name} cannot have both ServerlessConfig and InstanceType/InitialInstanceCount."
            )
        if not serverless and (variant.get("InstanceType") is None or variant.get("InitialInstanceCount") is None):
            raise validation_error(
                f"Production variant {name} needs InstanceType and InitialInstanceCount, or a ServerlessConfig."
            )
    for variant in [*variants, *shadows]:
        find_model(sim, context, variant["ModelName"])


@sagemaker_operation("CreateEndpointConfig")
def create_endpoint_config(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointConfigName"]
    arn = endpoint_config_arn(context.region, context.account_id, name)
    if sim.store.get(EndpointConfig.KIND, context.account_id, context.region, name) is not None:
        raise already_existing("endpoint configuration", arn)
    _check_variants(sim, context, params["ProductionVariants"], params.get("ShadowProductionVariants") or [])
    config = EndpointConfig(
        name=name,
        arn=arn,
        account_id=context.account_id,
        region=context.region,
        request={k: copy.deepcopy(v) for k, v in params.items() if k != "Tags"},
        tags=[dict(tag) for tag in params.get("Tags") or []],
        created=sim.clock.now(),
    )
    sim.store.add(EndpointConfig.KIND, config)
    return {"EndpointConfigArn": arn}


@sagemaker_operation("DescribeEndpointConfig")
def describe_endpoint_config(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return find_endpoint_config(sim, context, params["EndpointConfigName"]).describe()


@sagemaker_operation("DeleteEndpointConfig")
def delete_endpoint_config(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    sim.store.remove(EndpointConfig.KIND, find_endpoint_config(sim, context, params["EndpointConfigName"]))
    return {}


_SORT_KEYS = standard_sort_keys("EndpointConfigName", "EndpointConfigName")


@sagemaker_operation("ListEndpointConfigs")
def list_endpoint_configs(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    configs = sim.store.of_kind(EndpointConfig.KIND, context.account_id, context.region)
    summaries = [config.summary() for config in configs if isinstance(config, EndpointConfig)]
    summaries = filter_summaries(summaries, params, name_key="EndpointConfigName", status_key="EndpointConfigName")
    return page(
        summaries,
        params,
        items_key="EndpointConfigs",
        sort_keys=_SORT_KEYS,
        default_sort="CreationTime",
        default_order="Descending",
    )
