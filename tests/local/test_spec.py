"""spec.fallback: defaults, validation, the backend choice and the capacity-error policy, CRD-friendliness."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from sagemaker_operator.api.crds import pydantic_schema
from sagemaker_operator.local.job import JobDefinition
from sagemaker_operator.local.spec import (
    BACKEND_ANNOTATION,
    Backend,
    CleanupPolicy,
    FallbackError,
    FallbackSpec,
    Strategy,
    choose_backend,
    crd_schema,
    fallback_of,
    is_capacity_error,
    should_fall_back,
)
from tests.local.conftest import SAMPLE


def test_defaults_run_on_sagemaker_as_before() -> None:
    fallback = fallback_of({})
    assert fallback.backend is None
    assert fallback.strategy is Strategy.MULTI_WORKER_MIRRORED
    assert fallback.ps_count() == 0
    assert fallback.cleanupPolicy is CleanupPolicy.KEEP
    assert fallback.port == 2222
    assert choose_backend({}, {}).backend is Backend.SAGEMAKER
    assert fallback_of({"fallback": {"strategy": "parameter-server"}}).ps_count() == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"strategy": "horovod"},
            "spec.fallback.strategy: Input should be 'multi-worker-mirrored' or 'parameter-server'",
        ),
        ({"parameterServers": 2}, "parameterServers needs strategy 'parameter-server'"),
        ({"strategy": "parameter-server", "parameterServers": 0}, "needs at least one parameter server"),
        ({"workers": 0}, "spec.fallback.workers: Input should be greater than or equal to 1"),
        ({"worker": 2}, "spec.fallback.worker: Extra inputs are not permitted"),
        ({"s3Endpoint": "minio:9000"}, "spec.fallback.s3Endpoint: String should match pattern"),
    ],
)
def test_invalid_fallbacks_name_the_field(raw: dict, message: str) -> None:
    with pytest.raises(FallbackError, match=message.replace("(", r"\(")):
        fallback_of({"fallback": raw})


def test_backend_choice_spec_then_annotation_then_default() -> None:
    annotated = {BACKEND_ANNOTATION: "local"}
    choice = choose_backend({"fallback": {"backend": "sagemaker"}}, annotated, default="local")
    assert (choice.backend, choice.reason) == (Backend.SAGEMAKER, "spec.fallback.backend is 'sagemaker'")
    choice = choose_backend({}, annotated)
    assert choice.is_local and choice.reason == f"annotation {BACKEND_ANNOTATION} is 'local'"
    choice = choose_backend({}, {}, default="local")
    assert choice.is_local and "operator's default" in choice.reason
    with pytest.raises(FallbackError, match="'cloud' is not one of"):
        choose_backend({}, {BACKEND_ANNOTATION: "cloud"})


def test_capacity_errors_fall_back_only_when_asked() -> None:
    opted_in = {"fallback": {"onCapacityError": "fallback"}}
    assert is_capacity_error("ResourceLimitExceeded")
    assert is_capacity_error(None, "CapacityError: Unable to provision requested ML compute capacity.")
    assert not is_capacity_error("ValidationException", "Invalid hyperparameter")
    choice = should_fall_back(opted_in, "ResourceLimitExceeded", "account-level service limit")
    assert choice is not None and choice.is_local and "ResourceLimitExceeded" in choice.reason
    assert should_fall_back({}, "ResourceLimitExceeded") is None  # default: fail as usual
    assert should_fall_back(opted_in, "ValidationException") is None


def test_the_crd_schema_is_structural_and_checks_what_the_model_checks() -> None:
    schema = crd_schema()  # what goes into the TrainingJob CRD as spec.fallback
    assert schema["properties"]["strategy"]["enum"] == ["multi-worker-mirrored", "parameter-server"]
    assert schema["properties"]["resources"]["properties"]["gpu"] == {
        "type": "integer",
        "minimum": 0,
        "description": "GPUs (nvidia.com/gpu) of each replica.",
    }

    def typed(node: dict) -> None:  # structural: every level has a type, no $ref, no anyOf
        assert "type" in node and "$ref" not in node and "anyOf" not in node, node
        for child in node.get("properties", {}).values():
            typed(child)

    typed(schema)
    assert pydantic_schema(FallbackSpec)["properties"].keys() == schema["properties"].keys()  # same fields either way
    sample = yaml.safe_load(SAMPLE.read_text())
    jsonschema.validate(sample["spec"]["fallback"], schema)
    assert JobDefinition.from_manifest(sample).fallback.onCapacityError.value == "fallback"
    for bad in ({"workers": 0}, {"strategy": "horovod"}, {"s3Endpoint": "minio:9000"}, {"port": 80}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_the_sample_validates_against_the_training_job_crd_with_the_fallback_field() -> None:
    """As the API server will check it once spec.fallback is in the CRD (strict: unknown fields are errors)."""
    from tests.crd_schema import load_crds, openapi_schema, validation_errors

    crds = load_crds()
    openapi_schema(crds["TrainingJob"])["properties"]["spec"]["properties"]["fallback"] = crd_schema()
    sample = yaml.safe_load(SAMPLE.read_text())
    assert validation_errors(sample, crds) == []
    sample["spec"]["fallback"]["workerz"] = 2
    assert validation_errors(sample, crds) == [
        "spec.fallback: Additional properties are not allowed ('workerz' was unexpected)"
    ]
