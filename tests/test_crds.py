"""The generated CRDs: current, structural, RE2-clean, CEL that compiles and behaves, and samples that fit."""

from __future__ import annotations

import json
from typing import Any

import celpy
import pytest
import re2
import yaml

from sagemaker_operator.api import crds as generator
from tests.crd_schema import CRD_DIR, SAMPLES_DIR, load_crds, openapi_schema, validation_errors, walk

CRDS = load_crds()
SAMPLES = sorted(SAMPLES_DIR.rglob("*.yaml"))


def test_checked_in_crds_match_the_generator() -> None:
    expected = generator.all_crds()
    on_disk = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    stale = sorted(name for name in expected.keys() | on_disk.keys() if expected.get(name) != on_disk.get(name))
    assert not stale, f"crds/ is stale ({stale}); regenerate with: sagemaker-operator crds --write crds/"


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    """What the API server demands of a structural schema; it rejects the whole CRD otherwise."""
    problems = []
    for path, node in walk(openapi_schema(CRDS[kind])):
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{path or '<root>'}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties together")
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "nullable"):
            if forbidden in node:
                problems.append(f"{path}: {forbidden} is not allowed here")
        if node.get("x-kubernetes-list-type") == "map":
            keys = node.get("x-kubernetes-list-map-keys", [])
            item = node["items"]
            if not keys or not set(keys) <= set(item.get("required", [])):
                problems.append(f"{path}: list-map keys {keys} must be required in items")
        enum = node.get("enum", [])
        if node.get("type") == "string" and not all(isinstance(v, str) for v in enum):
            problems.append(f"{path}: non-string enum value")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_pattern_is_anchored_and_compiles_under_re2(kind: str) -> None:
    patterns = [(path, node["pattern"]) for path, node in walk(openapi_schema(CRDS[kind])) if "pattern" in node]
    assert len(patterns) > 10
    for path, pattern in patterns:
        assert pattern.startswith("^") and pattern.endswith("$"), path
        re2.compile(pattern)  # raises on syntax RE2 (and the API server) cannot parse


def test_sagemaker_patterns_are_whole_value_matches() -> None:
    """botocore's patterns are whole-value; unanchored in a CRD they would accept junk around a valid name."""
    schema = openapi_schema(CRDS["TrainingJob"])
    name_pattern = schema["properties"]["spec"]["properties"]["trainingJobName"]["pattern"]
    assert re2.search(name_pattern, "my-job-1")
    assert not re2.search(name_pattern, "my_job!")
    assert not re2.search(name_pattern, "-leading-hyphen")


def _rules(kind: str) -> list[dict[str, Any]]:
    return [rule for _, node in walk(openapi_schema(CRDS[kind])) for rule in node.get("x-kubernetes-validations", [])]


def _evaluate(rule: str, new: dict[str, Any], old: dict[str, Any]) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    return bool(program.evaluate({"self": celpy.json_to_cel(new), "oldSelf": celpy.json_to_cel(old)}))


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_cel_rules_compile(kind: str) -> None:
    rules = _rules(kind)
    assert rules, "every job kind has an immutability rule"
    env = celpy.Environment()
    for rule in rules:
        env.compile(rule["rule"])
        assert rule["message"]


def test_immutability_rule_rejects_spec_edits_and_allows_the_rest() -> None:
    (rule,) = [r["rule"] for r in _rules("TrainingJob")]
    sample = yaml.safe_load((SAMPLES_DIR / "xgboost-mnist-trainingjob.yaml").read_text())
    submitted = {
        **sample,
        "status": {
            "trainingJobStatus": "InProgress",
            "conditions": [{"type": "Synced", "status": "True"}, {"type": "Terminal", "status": "False"}],
        },
    }
    edited = json.loads(json.dumps(submitted))
    edited["spec"]["resourceConfig"]["instanceCount"] = 2
    relabelled = json.loads(json.dumps(submitted))
    relabelled["metadata"]["labels"] = {"team": "b"}

    assert not _evaluate(rule, edited, submitted), "a spec edit of a submitted job must be rejected"
    assert _evaluate(rule, relabelled, submitted), "metadata edits stay allowed"
    assert _evaluate(rule, submitted, submitted), "no-op applies stay allowed"
    assert not _evaluate(rule, edited, sample), "immutable from creation: what runs is always what the spec shows"

    refused = json.loads(json.dumps(submitted))
    refused["status"]["conditions"][1]["status"] = "True"
    assert _evaluate(rule, edited, refused), "after SageMaker refused the spec, fixing it is allowed"


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_crd_fits_the_api_server_limits(kind: str) -> None:
    size = len(json.dumps(CRDS[kind]))
    # Client-side `kubectl apply` copies the object into an annotation limited to 256 KiB.
    assert size < 256 * 1024, f"{kind} CRD is {size} bytes"


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_printer_columns_point_at_real_fields(kind: str) -> None:
    schema = openapi_schema(CRDS[kind])
    paths = {path for path, _ in walk(schema)}
    for column in CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]:
        json_path = column["jsonPath"]
        assert json_path.startswith(".metadata.") or json_path in paths, json_path


def test_names_match_the_go_operator_and_kubectl_conventions() -> None:
    names = CRDS["TrainingJob"]["spec"]["names"]
    assert names["plural"] == "trainingjobs" and "tj" in names["shortNames"]
    assert "sagemaker" in names["categories"]
    columns = [c["name"] for c in CRDS["TrainingJob"]["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:4] == ["Status", "Secondary-Status", "Creation-Time", "Sagemaker-Job-Name"]
    assert CRDS["TrainingJob"]["spec"]["versions"][0]["subresources"] == {"status": {}}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_validates_against_its_crd(path: Any) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        assert validation_errors(document, CRDS) == []


def _sample() -> dict[str, Any]:
    return yaml.safe_load((SAMPLES_DIR / "xgboost-mnist-trainingjob.yaml").read_text())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["spec"].pop("roleArn"), "'roleArn' is a required property"),
        (lambda d: d["spec"].update(trainingImage="x"), "Additional properties are not allowed"),
        (lambda d: d["spec"]["resourceConfig"].update(instanceType="ml.bogus"), "is not one of"),
        (lambda d: d["spec"]["stoppingCondition"].update(maxRuntimeInSeconds=0), "less than the minimum"),
        (lambda d: d["spec"]["hyperParameters"].append({"name": "eta", "value": "1"}), "Duplicate value"),
        (lambda d: d["spec"].update(region="Oregon"), "does not match"),
        (lambda d: d["spec"].update(roleArn="my-role-please"), "does not match"),
        (lambda d: d["spec"].update(tags=[{"key": f"k{i}", "value": "v"} for i in range(48)]), "is too long"),
        (lambda d: d["spec"].update(trainingJobName="x" * 64), "is too long"),
    ],
)
def test_schema_rejects_bad_documents_with_the_field_named(mutate: Any, expected: str) -> None:
    document = _sample()
    mutate(document)
    errors = validation_errors(document, CRDS)
    assert any(expected in e for e in errors), errors


def test_go_operator_quirks_still_validate() -> None:
    """Odd-but-valid YAML from the Go operator's samples: https S3 URLs, odd parameter names, no tags."""
    document = _sample()
    document["spec"]["outputDataConfig"]["s3OutputPath"] = "https://s3-us-east-2.amazonaws.com/bucket/xgboost"
    document["spec"]["debugHookConfig"] = {
        "s3OutputPath": "s3://bucket/hook",
        "collectionConfigurations": [
            {"collectionName": "losses", "collectionParameters": [{"name": 'save_interval"', "value": "500"}]}
        ],
    }
    del document["spec"]["tags"]
    assert validation_errors(document, CRDS) == []


def test_hosting_deployments_accept_spec_edits_except_region_and_endpoint_name() -> None:
    schema = openapi_schema(CRDS["HostingDeployment"])
    assert "x-kubernetes-validations" not in schema, "a HostingDeployment's spec is meant to change"
    rules = [r["rule"] for r in schema["properties"]["spec"]["x-kubernetes-validations"]]
    spec = yaml.safe_load((SAMPLES_DIR / "xgboost-mnist-hostingdeployment.yaml").read_text())["spec"]

    def allowed(new: dict[str, Any]) -> bool:
        return all(_evaluate(rule, new, spec) for rule in rules)

    new_image = json.loads(json.dumps(spec))
    new_image["models"][0]["containers"][0]["image"] = "123456789012.dkr.ecr.us-west-2.amazonaws.com/xgb:2"
    assert allowed(new_image)
    assert not allowed({**spec, "region": "eu-west-1"})
    assert not allowed({**spec, "endpointName": "renamed"})
    assert not allowed({k: v for k, v in spec.items() if k != "region"})
