"""Generate the CustomResourceDefinitions checked in under ``crds/``.

The spec schema comes from botocore's SageMaker model (see ``shapes``); the status schema from
our pydantic status models. ``sagemaker-operator crds --write crds/`` regenerates the files and a
test fails when the checked-in copies are stale.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from sagemaker_operator import GROUP, VERSION
from sagemaker_operator.api import shapes
from sagemaker_operator.api.common import CATEGORY, OPERATOR_SPEC_FIELDS, OWNERSHIP_TAG_KEYS, Kind
from sagemaker_operator.api.hosting import ENDPOINT_CONFIG, HOSTING_DEPLOYMENT, MODEL
from sagemaker_operator.api.trainingjob import TRAINING_JOB
from sagemaker_operator.api.transformjob import BATCH_TRANSFORM_JOB
from sagemaker_operator.api.tuningjob import HYPERPARAMETER_TUNING_JOB

KINDS: tuple[Kind, ...] = (
    TRAINING_JOB,
    HYPERPARAMETER_TUNING_JOB,
    BATCH_TRANSFORM_JOB,
    HOSTING_DEPLOYMENT,
    MODEL,
    ENDPOINT_CONFIG,
)

# A job's spec is what was submitted to SageMaker, and SageMaker jobs cannot be changed. Reject edits at
# admission instead of ignoring them, except while SageMaker has refused the spec (Terminal): then the
# job does not exist yet and fixing the spec is exactly what the user should do.
IMMUTABLE_SPEC_RULE = {
    "rule": (
        "self.spec == oldSelf.spec || (has(oldSelf.status) && has(oldSelf.status.conditions) && "
        "oldSelf.status.conditions.exists(c, c.type == 'Terminal' && c.status == 'True'))"
    ),
    "message": (
        "spec is immutable: the job was submitted to SageMaker, whose jobs cannot be changed; "
        "delete this resource and create a new one (or apply it under a new name)"
    ),
    "reason": "FieldValueForbidden",
    "fieldPath": ".spec",
}


def spec_schema(kind: Kind) -> dict[str, Any]:
    if kind.spec_schema is not None:
        schema = kind.spec_schema()
    else:
        schema = shapes.shape_schema(shapes.operation(kind.create_operation).input_shape)
    properties: dict[str, Any] = schema["properties"]
    # The operator derives the SageMaker name from the resource when the spec does not give one.
    required = [r for r in schema.get("required", []) if r != kind.name_field]
    required += [r for r in kind.spec_required if r not in required]
    properties[kind.name_field]["description"] = (
        f"The SageMaker name. Optional: by default the operator derives a unique name from the "
        f"resource's name and UID (at most {kind.name_max_length} characters)."
    )
    properties.update(copy.deepcopy(OPERATOR_SPEC_FIELDS))
    properties.update(copy.deepcopy(kind.extra_spec))
    if "tags" in properties:  # the operator adds its ownership tags to SageMaker's limit of 50
        properties["tags"]["maxItems"] = properties["tags"].get("maxItems", 50) - len(OWNERSHIP_TAG_KEYS)
        properties["tags"]["x-kubernetes-list-type"] = "map"
        properties["tags"]["x-kubernetes-list-map-keys"] = ["key"]
    schema["required"] = required
    if kind.spec_rules:
        schema["x-kubernetes-validations"] = [dict(rule) for rule in kind.spec_rules]
    return schema


def status_schema(kind: Kind) -> dict[str, Any]:
    """The status schema: our pydantic model, with the fields copied from SageMaker typed by botocore's shapes."""
    schema = pydantic_schema(kind.status_model)
    for field, (operation, member) in kind.status_shapes.items():
        shape = shapes.operation(operation).output_shape.members[member]
        schema["properties"][field] = loosened(shapes.shape_schema(shape, descriptions=False))
    return schema


def loosened(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop value constraints from a status schema: SageMaker may answer values newer than our botocore
    (a new enum member, say), and a status the API server rejects would stop all status updates."""
    out = {k: v for k, v in schema.items() if k not in _CONSTRAINTS}
    if "properties" in out:
        out["properties"] = {k: loosened(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = loosened(out["items"])
    return out


_CONSTRAINTS = {
    *("enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "required"),
    *("x-kubernetes-list-type", "x-kubernetes-list-map-keys"),
}


def pydantic_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A structural OpenAPI schema from a pydantic model (refs inlined, optionals flattened)."""
    raw = model.model_json_schema()
    definitions = raw.get("$defs", {})
    return _structural(raw, definitions)


def _structural(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _structural(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    if "anyOf" in node:  # Optional[X] -> X; the API server treats absent and null alike for us
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise TypeError(f"status schemas allow only Optional unions, got {node}")
        return _structural(options[0], definitions)
    out: dict[str, Any] = {}
    if "enum" in node:
        out["enum"] = node["enum"]
    if "const" in node:
        out["enum"] = [node["const"]]
    node_type = node.get("type", "string" if "enum" in node or "const" in node else None)
    out["type"] = node_type
    if node_type == "object":
        out["properties"] = {k: _structural(v, definitions) for k, v in node.get("properties", {}).items()}
    elif node_type == "array":
        out["items"] = _structural(node["items"], definitions)
    if node.get("description"):
        out["description"] = node["description"]
    return out


def crd(kind: Kind) -> dict[str, Any]:
    plural = kind.plural
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in kind.printer_columns],
                    "schema": {
                        "openAPIV3Schema": {
                            "description": kind.description,
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(kind),
                                "status": status_schema(kind),
                            },
                            **({"x-kubernetes-validations": [dict(IMMUTABLE_SPEC_RULE)]} if kind.immutable else {}),
                        }
                    },
                }
            ],
        },
    }


def render(document: dict[str, Any]) -> str:
    header = "# Generated from botocore's SageMaker model by `sagemaker-operator crds --write crds/`.\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=120)


def file_name(kind: Kind) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def all_crds() -> dict[str, str]:
    """File name -> rendered YAML for every kind."""
    return {file_name(kind): render(crd(kind)) for kind in KINDS}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in all_crds().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
