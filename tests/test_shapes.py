"""Spec -> SageMaker request by the botocore shape walk, and the pattern translation for RE2."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml
from botocore.validate import ParamValidator

from sagemaker_operator import operator
from sagemaker_operator.api import shapes
from sagemaker_operator.controllers.jobs import build_request
from sagemaker_operator.controllers.trainingjob import TRAINING
from tests.crd_schema import SAMPLES_DIR

META = {"name": "xgboost-mnist", "namespace": "ml", "uid": "6f1c0a52-3c7e-4c1b-9d2e-0a4b8e7f1c23"}
JOB_KINDS = {job.api.kind: job for job in (*operator.JOB_KINDS, *operator.CREATED_ONCE_KINDS)}
JOB_SAMPLES = [p for p in sorted(SAMPLES_DIR.rglob("*.yaml")) if yaml.safe_load(p.read_text())["kind"] in JOB_KINDS]


@pytest.mark.parametrize("path", JOB_SAMPLES, ids=lambda p: p.name)
def test_every_job_sample_becomes_a_request_botocore_accepts(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    job = JOB_KINDS[document["kind"]]
    request = build_request(job, document["spec"], META, "sample-0123456789ab")
    report = ParamValidator().validate(request, shapes.operation(job.api.create_operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_samples_cover_every_job_kind() -> None:
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in JOB_SAMPLES}
    assert kinds == set(JOB_KINDS)


def test_request_translation_follows_the_go_operator_conventions() -> None:
    spec = yaml.safe_load((SAMPLES_DIR / "xgboost-mnist-trainingjob.yaml").read_text())["spec"]
    request = build_request(TRAINING, spec, META, "job-name")

    assert request["TrainingJobName"] == "job-name"
    assert request["HyperParameters"]["max_depth"] == "5"  # [{name, value}] -> map
    assert request["ResourceConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.m5.xlarge",
        "VolumeSizeInGB": 5,
    }
    channel = request["InputDataConfig"][0]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == "s3://amzn-s3-demo-bucket/xgboost/train/"
    assert "Region" not in request and "SageMakerEndpoint" not in request
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["team"] == "ml-platform"
    assert tags["sagemaker.aws.amazon.com/kubernetes-uid"] == META["uid"]
    assert tags["sagemaker.aws.amazon.com/kubernetes-namespace"] == "ml"
    assert tags["sagemaker.aws.amazon.com/kubernetes-name"] == "xgboost-mnist"


def test_a_user_cannot_spoof_the_ownership_tags() -> None:
    spec = {"tags": [{"key": "sagemaker.aws.amazon.com/kubernetes-uid", "value": "someone-else"}]}
    request = build_request(TRAINING, spec, META, "n")
    uid_tags = [t["Value"] for t in request["Tags"] if t["Key"] == "sagemaker.aws.amazon.com/kubernetes-uid"]
    assert uid_tags == [META["uid"]]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"resourceConfig": {"instanceCnt": 1}}, "spec.resourceConfig.instanceCnt: unknown field"),
        ({"hyperParameters": [{"value": "1"}]}, "spec.hyperParameters[0]: each item needs a 'name'"),
        (
            {"hyperParameters": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]},
            "duplicate name 'a'",
        ),
        ({"inputDataConfig": {"channelName": "train"}}, "spec.inputDataConfig: expected a list"),
    ],
)
def test_untranslatable_specs_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(shapes.SpecError, match=r".*") as info:
        build_request(TRAINING, spec, META, "n")
    assert message in str(info.value)


def test_lower_camel_matches_the_go_operator_field_names() -> None:
    assert shapes.lower_camel("VolumeSizeInGB") == "volumeSizeInGB"
    assert shapes.lower_camel("S3Uri") == "s3Uri"
    assert shapes.lower_camel("KmsKeyId") == "kmsKeyId"


@pytest.mark.parametrize(
    ("java", "accepts", "rejects"),
    [
        # lookbehind "(?<!-)" is dropped: slightly more permissive, but the CRD is accepted by the API server
        (r"([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)", ["model-1"], ["model_1", "x model"]),
        (r"arn:[\p{Alnum}\-]+:lambda:.*", ["arn:aws:lambda:fn"], ["arn:a_b:lambda:fn"]),
        (r"[\S]{1,2048}", ["a" * 1500], ["has space"]),
        (r"[a-z]+", ["abc"], ["abc1", "1abc"]),  # anchored: no partial matches
    ],
)
def test_patterns_translate_to_anchored_re2(java: str, accepts: list[str], rejects: list[str]) -> None:
    pattern = shapes.translate_pattern(java)
    assert pattern is not None
    for value in accepts:
        assert re2.search(pattern, value), value
    for value in rejects:
        assert not re2.search(pattern, value), value


def test_patterns_re2_cannot_express_are_dropped() -> None:
    assert shapes.translate_pattern(r"[\uD800\uDC00-\uDBFF\uDFFF]*") is None


def test_responses_convert_by_the_same_conventions_as_specs() -> None:
    best = {
        "TrainingJobName": "hpo-001-abcdef12",
        "TunedHyperParameters": {"Eta": "0.2"},  # map keys are data: never re-cased
        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:error", "Value": 0.12},
        "CreationTime": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "SomethingNewerThanOurBotocore": 1,
    }
    converted = shapes.response_member("DescribeHyperParameterTuningJob", "BestTrainingJob", {"BestTrainingJob": best})
    assert converted == {
        "trainingJobName": "hpo-001-abcdef12",
        "tunedHyperParameters": [{"name": "Eta", "value": "0.2"}],
        "finalHyperParameterTuningJobObjectiveMetric": {"metricName": "validation:error", "value": 0.12},
        "creationTime": "2026-01-02T03:04:05Z",
    }
    assert shapes.response_member("DescribeHyperParameterTuningJob", "BestTrainingJob", {}) is None
