"""Request validation against botocore's SageMaker model, answered the way SageMaker answers.

boto3 checks types and required fields on the client, but not enums, maximum lengths or name
patterns; SageMaker does, and answers ``ValidationException`` with messages like::

    1 validation error detected: Value 'my_job' at 'trainingJobName' failed to satisfy constraint:
    Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$

:func:`validate_input` reports required members, enums, lengths, numeric ranges and the patterns of the
resource-name shapes in :data:`ENFORCED_PATTERNS` in that style, then runs botocore's own
``ParamValidator`` for what is left (types, unknown members). Patterns of other shapes are not
enforced: many are written for Java's regex engine and would reject valid requests under Python's.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

from .errors import validation_error

# Shape names whose pattern is checked (all written so Python's engine reads them as Java's does).
ENFORCED_PATTERNS: set[str] = {
    "TrainingJobName",
    "HyperParameterTuningJobName",
    "HyperParameterTrainingJobDefinitionName",
    "TransformJobName",
    "ModelName",
    "EndpointName",
    "EndpointConfigName",
    "VariantName",
}

_MAX_REPORTED = 10  # SageMaker lists at most a handful of problems in one message.


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def operation_model(operation: str) -> OperationModel:
    return service_model().operation_model(operation)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def anchored(pattern: str) -> str:
    """The pattern as SageMaker prints it: anchored at both ends."""
    return ("" if pattern.startswith("^") else "^") + pattern + ("" if pattern.endswith("$") else "$")


def validate_input(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException if ``params`` is not a valid request for ``operation``."""
    shape = operation_model(operation).input_shape
    if shape is None:
        return
    problems: list[str] = []
    _check(shape, params, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise validation_error(f"{count} validation {noun} detected: " + "; ".join(problems[:_MAX_REPORTED]))
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise validation_error(report.generate_report())


def _member_path(path: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _fail(problems: list[str], value: Any, path: str, constraint: str) -> None:
    problems.append(f"Value {_show(value)} at '{path}' failed to satisfy constraint: {constraint}")


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    """Check SageMaker's server-side constraints; values of the wrong type are left to ParamValidator."""
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_member_path(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, member_value in value.items():
            if name in members and member_value is not None:
                _check(members[name], member_value, _member_path(path, name), problems)
        return
    if kind in ("list", "map", "string") and isinstance(value, list | dict | str):
        if "max" in meta and len(value) > meta["max"]:
            _fail(problems, value, path, f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            _fail(problems, value, path, f"Member must have length greater than or equal to {meta['min']}")
    if kind == "list" and isinstance(value, list):
        for index, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{index}.member", problems)
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", problems)
            _check(shape.value, item, f"{path}.{key}", problems)
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            allowed = ", ".join(shape.enum)
            _fail(problems, value, path, f"Member must satisfy enum value set: [{allowed}]")
        pattern = meta.get("pattern")
        if pattern and shape.name in ENFORCED_PATTERNS and not _compiled(anchored(pattern)).match(value):
            _fail(problems, value, path, f"Member must satisfy regular expression pattern: {anchored(pattern)}")
    elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        if "max" in meta and value > meta["max"]:
            _fail(problems, value, path, f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta and value < meta["min"]:
            _fail(problems, value, path, f"Member must have value greater than or equal to {meta['min']}")
