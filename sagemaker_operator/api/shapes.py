"""One walk over botocore's SageMaker shapes, used two ways.

The SageMaker request shapes are maintained by AWS in botocore's service model.
From them we derive (1) the OpenAPI schema of each custom resource's spec and
(2) the translation of a spec into the boto3 request, so every SageMaker field
is available, named and validated the same way in both places.

Conventions (compatible with the Go operator's YAML):
- member names become lowerCamelCase (``VolumeSizeInGB`` -> ``volumeSizeInGB``);
- a map becomes a list of ``{name, value}`` items;
- ``Tags`` are ``[{key, value}]`` (that is botocore's own Tag structure).
"""

from __future__ import annotations

import base64
import functools
import html
import re
from collections.abc import Mapping
from typing import Any

import botocore.session
import re2
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

JSONSchema = dict[str, Any]

# The API server compiles patterns with Go's RE2, which caps counted repetition at 1000.
_RE2_MAX_REPEAT = 1000
_DESCRIPTION_LIMIT = 300


@functools.cache
def service_model(service: str = "sagemaker") -> Any:
    return botocore.session.get_session().get_service_model(service)


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


def lower_camel(member: str) -> str:
    """``S3OutputPath`` -> ``s3OutputPath``; ``ETag`` -> ``eTag`` (first letter only, as the Go operator)."""
    return member[:1].lower() + member[1:]


# --------------------------------------------------------------------------- schema


def translate_pattern(java_pattern: str) -> str | None:
    """Turn botocore's whole-value Java regex into an anchored RE2 pattern, or None if RE2 cannot express it.

    A CRD's pattern is an unanchored search in Go's RE2 and the API server rejects the whole CRD for
    syntax RE2 lacks, so: anchor, rewrite what has an RE2 equivalent, drop lookarounds (the pattern
    gets a little more permissive; SageMaker still validates), and give up on anything else.
    """
    pattern = java_pattern
    # Lookarounds have no RE2 equivalent; removing them only loosens the check.
    pattern = _strip_lookarounds(pattern)
    # Java's POSIX class names.
    pattern = re.sub(
        r"\\p\{Alnum\}",
        lambda m: "[:alnum:]" if _inside_class(m.string, m.start()) else "[[:alnum:]]",
        pattern,
    )
    # \uXXXX -> \x{XXXX}
    pattern = re.sub(r"\\u([0-9A-Fa-f]{4})", r"\\x{\1}", pattern)
    pattern = re.sub(r"\{(\d+)(,(\d*))?\}", _cap_repetition, pattern)
    anchored = f"^(?:{pattern})$"
    return anchored if _compiles_in_re2(anchored) else None


def _strip_lookarounds(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            depth, j = 0, i
            while j < len(pattern):
                if pattern[j] == "\\":
                    j += 2
                    continue
                if pattern[j] == "(":
                    depth += 1
                elif pattern[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            i = j + 1
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _inside_class(pattern: str, index: int) -> bool:
    return pattern.rfind("[", 0, index) > pattern.rfind("]", 0, index)


def _cap_repetition(match: re.Match[str]) -> str:
    low = int(match.group(1))
    if match.group(2) is None:
        return match.group(0) if low <= _RE2_MAX_REPEAT else "+"
    high = match.group(3)
    if low > _RE2_MAX_REPEAT:
        return "+"
    if high and int(high) > _RE2_MAX_REPEAT:
        return f"{{{low},}}"
    return match.group(0)


def _compiles_in_re2(pattern: str) -> bool:
    options = re2.Options()
    options.log_errors = False  # a pattern we drop is expected, not an error worth printing
    try:
        re2.compile(pattern, options)
    except re2.error:
        return False
    return True


def describe(shape: Shape) -> str | None:
    """First sentence of botocore's HTML documentation, for `kubectl explain`."""
    text = getattr(shape, "documentation", "") or ""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    if not text:
        return None
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(sentence) > _DESCRIPTION_LIMIT:
        sentence = sentence[: _DESCRIPTION_LIMIT - 3].rstrip() + "..."
    return sentence


def shape_schema(shape: Shape, *, descriptions: bool = True, _path: tuple[str, ...] = ()) -> JSONSchema:
    """The structural OpenAPI v3 schema of a botocore shape, by our naming conventions."""
    schema: JSONSchema
    meta = shape.metadata
    if shape.name in _path:  # recursive shape: stop and keep whatever the user wrote
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    path = (*_path, shape.name)
    if isinstance(shape, StructureShape):
        if meta.get("document"):
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        else:
            properties = {
                lower_camel(name): shape_schema(member, descriptions=descriptions, _path=path)
                for name, member in shape.members.items()
            }
            schema = {"type": "object", "properties": properties}
            required = [lower_camel(name) for name in shape.required_members]
            if required:
                schema["required"] = required
    elif isinstance(shape, MapShape):
        schema = _map_as_list_schema(shape, descriptions, path)
    elif isinstance(shape, ListShape):
        schema = {"type": "array", "items": shape_schema(shape.member, descriptions=descriptions, _path=path)}
        _add_bounds(schema, meta, "minItems", "maxItems")
    else:
        schema = _scalar_schema(shape)
    if descriptions and (text := describe(shape)):
        schema["description"] = text
    return schema


def _map_as_list_schema(shape: MapShape, descriptions: bool, path: tuple[str, ...]) -> JSONSchema:
    key = _scalar_schema(shape.key)
    value = shape_schema(shape.value, descriptions=descriptions, _path=path)
    schema: JSONSchema = {
        "type": "array",
        "items": {"type": "object", "properties": {"name": key, "value": value}, "required": ["name"]},
        # Duplicate names would silently overwrite each other in the request; let the API server refuse them.
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
    }
    _add_bounds(schema, shape.metadata, "minItems", "maxItems")
    return schema


def _scalar_schema(shape: Shape) -> JSONSchema:
    meta = shape.metadata
    kind = shape.type_name
    schema: JSONSchema
    if kind == "string":
        schema = {"type": "string"}
        if shape.enum:
            schema["enum"] = list(shape.enum)
        _add_bounds(schema, meta, "minLength", "maxLength")
        if "pattern" in meta and (pattern := translate_pattern(meta["pattern"])):
            schema["pattern"] = pattern
    elif kind in ("integer", "long"):
        schema = {"type": "integer", "format": "int64" if kind == "long" else "int32"}
        _add_bounds(schema, meta, "minimum", "maximum")
    elif kind in ("float", "double"):
        schema = {"type": "number"}
        _add_bounds(schema, meta, "minimum", "maximum")
    elif kind == "boolean":
        schema = {"type": "boolean"}
    elif kind == "timestamp":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "blob":
        schema = {"type": "string", "format": "byte"}
    else:  # pragma: no cover - botocore has no other scalar types today
        raise TypeError(f"unsupported botocore shape type {kind!r} ({shape.name})")
    return schema


def _add_bounds(schema: JSONSchema, meta: Mapping[str, Any], low_key: str, high_key: str) -> None:
    if "min" in meta:
        schema[low_key] = meta["min"]
    if "max" in meta:
        schema[high_key] = meta["max"]


# --------------------------------------------------------------------------- spec -> request


class SpecError(ValueError):
    """A spec value that cannot become a SageMaker request; the message names the field."""


def to_request(
    shape: StructureShape, spec: Mapping[str, Any], *, skip: frozenset[str] = frozenset(), path: str = "spec"
) -> dict:
    """Translate a custom resource spec (lowerCamelCase, maps as lists) into a boto3 request.

    ``path`` names the spec's position in error messages (e.g. ``spec.models[0]``).
    """
    return _to_request_struct(shape, spec, path, skip)


def _to_request_struct(shape: StructureShape, value: Any, path: str, skip: frozenset[str]) -> dict:
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}: expected an object, got {type(value).__name__}")
    if shape.metadata.get("document"):
        return dict(value)
    by_field = {lower_camel(name): name for name in shape.members}
    request: dict[str, Any] = {}
    for field, item in value.items():
        if field in skip or item is None:
            continue
        member = by_field.get(field)
        if member is None:
            raise SpecError(f"{path}.{field}: unknown field (not a member of SageMaker's {shape.name})")
        request[member] = _to_request_value(shape.members[member], item, f"{path}.{field}")
    return request


def _to_request_value(shape: Shape, value: Any, path: str) -> Any:
    if isinstance(shape, StructureShape):
        return _to_request_struct(shape, value, path, frozenset())
    if isinstance(shape, MapShape):
        return _map_from_items(shape, value, path)
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise SpecError(f"{path}: expected a list, got {type(value).__name__}")
        return [_to_request_value(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if shape.type_name == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


def _map_from_items(shape: MapShape, value: Any, path: str) -> dict:
    if isinstance(value, Mapping):  # tolerate a plain map, though the schema asks for a list
        items = [{"name": k, "value": v} for k, v in value.items()]
    elif isinstance(value, list):
        items = value
    else:
        raise SpecError(f"{path}: expected a list of {{name, value}}, got {type(value).__name__}")
    result: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or "name" not in item:
            raise SpecError(f"{path}[{i}]: each item needs a 'name' (and a 'value')")
        name = str(item["name"])
        if name in result:
            raise SpecError(f"{path}[{i}]: duplicate name {name!r}")
        raw = item.get("value", "")
        result[name] = _to_request_value(shape.value, raw, f"{path}[{i}].value")
    return result


# --------------------------------------------------------------------------- response -> status


def from_response(shape: Shape, value: Any) -> Any:
    """A SageMaker response fragment in the spec's conventions (lowerCamelCase, maps as lists, RFC 3339)."""
    if value is None:
        return None
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {
            lower_camel(name): from_response(shape.members[name], item)
            for name, item in value.items()
            if name in shape.members and item is not None
        }
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return [{"name": key, "value": from_response(shape.value, item)} for key, item in value.items()]
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [from_response(shape.member, item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def response_member(operation_name: str, member: str, response: Mapping[str, Any]) -> Any:
    """One member of an operation's response, converted with ``from_response`` (None when absent)."""
    shape = operation(operation_name).output_shape
    return from_response(shape.members[member], response.get(member))
