from __future__ import annotations

import re
import uuid

import pytest

from sagemaker_operator.aws import naming

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def test_derived_name_is_stable_for_one_resource_and_differs_between_resources() -> None:
    uid = str(uuid.uuid4())
    assert naming.derive_name("xgboost-mnist", uid, 63) == naming.derive_name("xgboost-mnist", uid, 63)
    assert naming.derive_name("xgboost-mnist", uid, 63) != naming.derive_name("xgboost-mnist", str(uuid.uuid4()), 63)
    assert naming.derive_name("xgboost-mnist", uid, 63).startswith("xgboost-mnist-")


@pytest.mark.parametrize("resource_name", ["a", "my.job.v2", "x" * 253, "trailing-" + "y" * 60, "a--b"])
@pytest.mark.parametrize("limit", [32, 63])
def test_derived_names_are_valid_sagemaker_names_within_the_limit(resource_name: str, limit: int) -> None:
    name = naming.derive_name(resource_name, str(uuid.uuid4()), limit)
    assert len(name) <= limit
    assert SAGEMAKER_NAME.match(name), name


def test_ownership_is_recognised_only_by_uid() -> None:
    tags = naming.request_tags([{"Key": "team", "Value": "a"}], "ns", "job", "uid-1")
    assert naming.owned_by(tags, "uid-1")
    assert not naming.owned_by(tags, "uid-2")
    assert not naming.owned_by([{"Key": "team", "Value": "uid-1"}], "uid-1")
