"""Validate documents against our CRDs the way a real API server would (schema part only).

The API server prunes nothing here: kubectl applies with strict field validation, so unknown
fields are errors. Patterns are RE2 (Go), so they are checked with google-re2, not Python's re.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import re2
import yaml

ROOT = Path(__file__).resolve().parents[1]
CRD_DIR = ROOT / "crds"
SAMPLES_DIR = ROOT / "samples"


def load_crds() -> dict[str, dict[str, Any]]:
    """kind -> CRD document, from the checked-in files."""
    crds = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        crds[doc["spec"]["names"]["kind"]] = doc
    return crds


def openapi_schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    for _, node in walk(out):
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
    return out


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
    if isinstance(instance, str) and not re2.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _list_map_keys(validator: Any, keys: list[str], instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
    if not isinstance(instance, list):
        return
    seen = set()
    for item in instance:
        key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else None
        if key in seen:
            yield jsonschema.ValidationError(f"Duplicate value: {dict(zip(keys, key or (), strict=False))}")
        seen.add(key)


KubeValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    {"pattern": _re2_pattern, "x-kubernetes-list-map-keys": _list_map_keys},
)


def validation_errors(document: dict[str, Any], crds: dict[str, dict[str, Any]]) -> list[str]:
    crd = crds[document["kind"]]
    group, version = crd["spec"]["group"], crd["spec"]["versions"][0]["name"]
    if document.get("apiVersion") != f"{group}/{version}":
        return [f"apiVersion {document.get('apiVersion')!r} is not {group}/{version}"]
    validator = KubeValidator(_strict(openapi_schema(crd)))
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
