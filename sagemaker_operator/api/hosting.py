"""Hosting: HostingDeployment (Models + EndpointConfig + Endpoint in one resource), Model and EndpointConfig."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict

from sagemaker_operator.api import shapes
from sagemaker_operator.api.common import Kind, ResourceStatus

DESCRIBE_ENDPOINT = "DescribeEndpoint"
# Fields of the spec that are not part of the EndpointConfig: they steer the Endpoint and the operator.
ENDPOINT_FIELDS = ("retainAllVariantProperties", "excludeRetainedVariantProperties", "deploymentConfig")
HOSTING_OWN_FIELDS = ("models", "endpointName", "tags", *ENDPOINT_FIELDS)


class CreatedResourceStatus(ResourceStatus):
    """Model and EndpointConfig: created once, no lifecycle of their own (the Go operator's fields)."""

    status: str | None = None


class ModelStatus(CreatedResourceStatus):
    sageMakerModelName: str | None = None
    modelArn: str | None = None


class EndpointConfigStatus(CreatedResourceStatus):
    sageMakerEndpointConfigName: str | None = None
    endpointConfigArn: str | None = None


class NameValue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    value: str | None = None


class HostingDeploymentStatus(ResourceStatus):
    endpointStatus: str | None = None
    endpointName: str | None = None
    endpointArn: str | None = None
    endpointConfigName: str | None = None
    endpointUrl: str | None = None
    failureReason: str | None = None
    creationTime: str | None = None
    lastModifiedTime: str | None = None
    # spec.models[].name -> the SageMaker model created for it (the Go operator's field).
    modelNames: list[NameValue] = []
    # Filled from DescribeEndpoint (current and desired weight and instance count per variant).
    productionVariants: list[dict[str, Any]] = []
    # The EndpointConfig an UpdateEndpoint is heading for, while it runs.
    updatingTo: str | None = None
    # The EndpointConfig whose deployment failed: not retried until the spec changes.
    failedEndpointConfigName: str | None = None
    failedGeneration: int | None = None  # ... at this generation of the spec; an edit tries again
    # The EndpointConfig whose superseded configs and models were last cleaned up.
    cleanedUpFor: str | None = None
    # Hash of the tags last applied in place to the endpoint and its current config and models.
    appliedTagsHash: str | None = None


def _unchanged(field: str) -> dict[str, str]:
    return {
        "rule": f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})",
        "message": f"spec.{field} cannot change: an endpoint lives under one name in one region; "
        "create another HostingDeployment instead",
        "reason": "FieldValueForbidden",
        "fieldPath": f".{field}",
    }


def hosting_spec_schema() -> dict[str, Any]:
    """The EndpointConfig members, plus `models[]` (CreateModel with a `name`), the endpoint's name and update knobs.

    This is the Go operator's HostingDeployment (region, models, productionVariants, kmsKeyId, tags) with every
    other SageMaker member available too.
    """
    config = shapes.shape_schema(shapes.operation("CreateEndpointConfig").input_shape)
    model = shapes.shape_schema(shapes.operation("CreateModel").input_shape)
    endpoint = shapes.shape_schema(shapes.operation("CreateEndpoint").input_shape)
    update = shapes.shape_schema(shapes.operation("UpdateEndpoint").input_shape)

    model_item = copy.deepcopy(model)
    name_schema = model_item["properties"].pop("modelName")
    model_item["properties"].pop("tags")
    model_item["properties"] = {"name": {**name_schema, "description": _MODEL_NAME_HELP}, **model_item["properties"]}
    model_item["required"] = ["name"]

    properties = {k: v for k, v in config["properties"].items() if k not in ("endpointConfigName",)}
    properties["models"] = {
        "type": "array",
        "items": model_item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "description": "The models to create; productionVariants[].modelName refers to them by name.",
    }
    properties["endpointName"] = endpoint["properties"]["endpointName"]
    properties["deploymentConfig"] = endpoint["properties"]["deploymentConfig"]
    for field in ("retainAllVariantProperties", "excludeRetainedVariantProperties"):
        properties[field] = update["properties"][field]
    return {"type": "object", "properties": properties, "required": ["productionVariants"]}


_MODEL_NAME_HELP = (
    "The model's name within this HostingDeployment (productionVariants[].modelName refers to it). The SageMaker "
    "model gets a unique name derived from it, the resource and the model's content; a variant may also name an "
    "existing SageMaker model that is not listed here."
)


HOSTING_DEPLOYMENT = Kind(
    kind="HostingDeployment",
    plural="hostingdeployments",
    short_names=("hd",),
    create_operation="CreateEndpoint",
    name_member="EndpointName",
    name_max_length=63,
    status_model=HostingDeploymentStatus,
    description="A SageMaker endpoint with its models and endpoint configuration, updated without downtime.",
    immutable=False,
    spec_schema=hosting_spec_schema,
    spec_rules=(_unchanged("region"), _unchanged("endpointName")),
    status_shapes={"productionVariants": (DESCRIBE_ENDPOINT, "ProductionVariants")},
    printer_columns=(
        {"name": "Status", "type": "string", "jsonPath": ".status.endpointStatus"},
        {"name": "Sagemaker-Endpoint-Name", "type": "string", "jsonPath": ".status.endpointName"},
        {"name": "Creation-Time", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Endpoint-Config", "type": "string", "priority": 1, "jsonPath": ".status.endpointConfigName"},
        {"name": "Reason", "type": "string", "priority": 1, "jsonPath": ".status.failureReason"},
    ),
)

MODEL = Kind(
    kind="Model",
    plural="models",
    short_names=("smmodel",),
    create_operation="CreateModel",
    name_member="ModelName",
    name_max_length=63,
    status_model=ModelStatus,
    description="A SageMaker model (e.g. for BatchTransformJob.spec.modelName).",
    printer_columns=(
        {"name": "Status", "type": "string", "jsonPath": ".status.status"},
        {"name": "Sage-Maker-Model-Name", "type": "string", "jsonPath": ".status.sageMakerModelName"},
        {"name": "Creation-Time", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ),
)

ENDPOINT_CONFIG = Kind(
    kind="EndpointConfig",
    plural="endpointconfigs",
    short_names=("smepc",),
    create_operation="CreateEndpointConfig",
    name_member="EndpointConfigName",
    name_max_length=63,
    status_model=EndpointConfigStatus,
    description="A SageMaker endpoint configuration.",
    printer_columns=(
        {"name": "Status", "type": "string", "jsonPath": ".status.status"},
        {
            "name": "Sage-Maker-EndpointConfig-Name",
            "type": "string",
            "jsonPath": ".status.sageMakerEndpointConfigName",
        },
        {"name": "Creation-Time", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ),
)
