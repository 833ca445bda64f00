"""EndpointConfig: CreateEndpointConfig once, DeleteEndpointConfig when the resource is deleted."""

from __future__ import annotations

from sagemaker_operator.api.hosting import ENDPOINT_CONFIG
from sagemaker_operator.controllers.jobs import JobKind

ENDPOINT_CONFIG_KIND = JobKind(
    api=ENDPOINT_CONFIG,
    noun="endpoint configuration",
    describe_operation="DescribeEndpointConfig",
    stop_operation="DeleteEndpointConfig",
    arn_key="EndpointConfigArn",
    status_key="",
    status_field="status",
    name_status_field="sageMakerEndpointConfigName",
    arn_status_field="endpointConfigArn",
    status_fields=lambda described, region: {},
    lifecycle=False,
)
