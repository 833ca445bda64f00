"""HostingDeployment planning: names from content, so updates create exactly what changed."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.validate import ParamValidator

from sagemaker_operator.api import shapes
from sagemaker_operator.controllers.hostingdeployment import make_plan, weight_changes
from tests.crd_schema import SAMPLES_DIR

META = {"name": "hosting-deployment", "namespace": "ml", "uid": "0f6c3c2e-2b6b-4c8e-9d2e-1a4b8e7f1c23"}
HOSTING_SAMPLES = [p for p in sorted(SAMPLES_DIR.glob("*.yaml")) if "kind: HostingDeployment" in p.read_text()]
MODEL_NAME = re.compile(r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$")


def spec(file: str = "xgboost-mnist-hostingdeployment.yaml") -> dict[str, Any]:
    return yaml.safe_load((SAMPLES_DIR / file).read_text())["spec"]


@pytest.mark.parametrize("path", HOSTING_SAMPLES, ids=lambda p: p.name)
def test_every_hosting_sample_plans_requests_botocore_accepts(path: Path) -> None:
    plan = make_plan(yaml.safe_load(path.read_text())["spec"], META)
    validator = ParamValidator()
    for model in plan.models:
        report = validator.validate(model.request, shapes.operation("CreateModel").input_shape)
        assert not report.has_errors(), report.generate_report()
        assert MODEL_NAME.match(model.name) and len(model.name) <= 63, model.name
    report = validator.validate(plan.config_request, shapes.operation("CreateEndpointConfig").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert len(plan.config_name) <= 63 and len(plan.endpoint_name) <= 63


def test_variants_refer_to_the_models_created_for_them() -> None:
    plan = make_plan(spec(), META)
    (model,) = plan.models
    assert plan.config_request["ProductionVariants"][0]["ModelName"] == model.name
    assert model.name.startswith(plan.base + "-xgboost-model-")
    tags = {t["Key"]: t["Value"] for t in model.request["Tags"]}
    assert tags["sagemaker.aws.amazon.com/kubernetes-uid"] == META["uid"] and tags["team"] == "ml-platform"


def test_a_variant_may_name_an_existing_sagemaker_model() -> None:
    changed = spec()
    changed["productionVariants"][0]["modelName"] = "model-made-elsewhere"
    plan = make_plan(changed, META)
    assert plan.config_request["ProductionVariants"][0]["ModelName"] == "model-made-elsewhere"


def test_names_follow_content_so_an_update_creates_only_what_changed() -> None:
    before = make_plan(spec(), META)
    assert make_plan(spec(), META) == before, "planning is deterministic"

    new_image = spec()
    new_image["models"][0]["containers"][0]["image"] = "123456789012.dkr.ecr.us-west-2.amazonaws.com/xgb:2"
    after = make_plan(new_image, META)
    assert after.models[0].name != before.models[0].name
    assert after.config_name != before.config_name

    new_weights = spec()
    new_weights["productionVariants"][0].update(initialVariantWeight=0.5, initialInstanceCount=3)
    scaled = make_plan(new_weights, META)
    assert scaled.config_name == before.config_name, "weights and counts change in place, not by a new config"
    assert scaled.variants == {"AllTraffic": (0.5, 3)}

    retagged = spec()
    retagged["tags"] = [{"key": "team", "value": "vision"}]
    assert make_plan(retagged, META).config_name == before.config_name
    assert make_plan(retagged, META).tags_hash != before.tags_hash

    other = make_plan(spec(), {**META, "uid": "11111111-2222-3333-4444-555555555555"})
    assert other.config_name != before.config_name, "another resource never shares a SageMaker name"


def test_weight_changes_list_only_variants_that_differ() -> None:
    multi = make_plan(spec("multi-container-hostingdeployment.yaml"), META)
    described = {
        "ProductionVariants": [
            {"VariantName": "Current", "DesiredWeight": 0.8, "DesiredInstanceCount": 2},
            {"VariantName": "Candidate", "DesiredWeight": 0.5, "DesiredInstanceCount": 1},
        ]
    }
    assert weight_changes(multi, described) == [
        {"VariantName": "Candidate", "DesiredWeight": 0.2, "DesiredInstanceCount": 1}
    ]
    same = copy.deepcopy(described)
    same["ProductionVariants"][1]["DesiredWeight"] = 0.2
    assert weight_changes(multi, same) == []


def test_an_untranslatable_model_names_its_position() -> None:
    broken = spec()
    broken["models"][0]["primaryContainerTypo"] = {}
    with pytest.raises(shapes.SpecError, match=r"spec\.models\[0\]\.primaryContainerTypo: unknown field"):
        make_plan(broken, META)
