"""IRSA: with the web identity variables EKS injects, SageMaker calls carry the assumed role's credentials."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sts.models import sts_backends

from sagemaker_operator.aws import errors
from sagemaker_operator.aws.clients import ClientFactory
from sagemaker_operator.simulator import Simulator, SimulatorServer

ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/sagemaker-operator"


@pytest.fixture
def web_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pod environment of an IRSA service account, and no other credentials anywhere."""
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl")  # any token of >= 4 characters; moto's STS accepts it
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    return token


def test_sagemaker_calls_are_signed_with_credentials_from_assume_role_with_web_identity(
    web_identity: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = Simulator()
    with SimulatorServer(simulator) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", server.url)  # STS of the simulator (moto) instead of AWS
        client = ClientFactory("us-west-2", server.url).sagemaker()
        asyncio.run(errors.call(client, "ListTrainingJobs"))

    operations = [(r.service, r.operation) for r in simulator.requests]
    assert ("sts", "AssumeRoleWithWebIdentity") in operations
    listing = next(r for r in simulator.requests if r.operation == "ListTrainingJobs")
    issued = [role for role in sts_backends[DEFAULT_ACCOUNT_ID]["global"].assumed_roles if role.role_arn == ROLE_ARN]
    assert issued, "moto's STS issued no credentials for the operator's role"
    assert listing.access_key_id in {role.access_key_id for role in issued}


def test_without_any_credentials_the_error_says_what_to_fix(
    web_identity: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ROLE_ARN")
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE")
    client = ClientFactory("us-west-2", "http://127.0.0.1:9").sagemaker()
    with pytest.raises(errors.AWSError) as info:
        asyncio.run(errors.call(client, "ListTrainingJobs"))
    assert info.value.kind is errors.ErrorKind.ACCESS
    assert "role-arn" in info.value.hint
