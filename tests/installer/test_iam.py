"""``sagemaker-operator iam setup`` and ``iam check`` against moto's IAM, EKS and STS.

moto's EKS gives each cluster an ``identity.oidc.issuer`` (https://oidc.eks.<region>.amazonaws.com/id/...),
so DescribeCluster needs no stub. Every botocore call the commands make is recorded, to show that a
dry run and a second run write nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result
from moto import mock_aws

from sagemaker_operator import iam_policies
from sagemaker_operator.iam import iam

REGION = "us-west-2"
ACCOUNT = "123456789012"  # moto's default account
ROLE = "sagemaker-operator-prod"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{ROLE}"
SUBJECT = "system:serviceaccount:sagemaker-operator-system:sagemaker-operator"
READ_ONLY_PREFIXES = ("Get", "List", "Describe")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """moto with one EKS cluster, "prod"; yields its OIDC issuer URL."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with mock_aws():
        cluster = boto3.client("eks", region_name=REGION).create_cluster(
            name="prod",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"]},
        )["cluster"]
        yield cluster["identity"]["oidc"]["issuer"]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the AWS operations called (by any botocore client) while the test runs."""
    seen: list[str] = []
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        seen.append(operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return seen


def run(*args: str) -> Result:
    result = CliRunner().invoke(iam, list(args), catch_exceptions=False)
    return result


def setup(*extra: str) -> Result:
    return run("setup", "--cluster", "prod", "--region", REGION, *extra)


def check(*extra: str) -> Result:
    return run("check", "--cluster", "prod", "--region", REGION, *extra)


def state() -> dict[str, Any]:
    """Everything setup can change, read back from moto."""
    client = boto3.client("iam", region_name=REGION)
    roles = {r["RoleName"]: iam_policies.canonical(r["AssumeRolePolicyDocument"]) for r in client.list_roles()["Roles"]}
    policies = {}
    for p in client.list_policies(Scope="Local")["Policies"]:
        versions = client.list_policy_versions(PolicyArn=p["Arn"])["Versions"]
        policies[p["Arn"]] = sorted((v["VersionId"], v["IsDefaultVersion"]) for v in versions)
    attached = {
        name: sorted(a["PolicyArn"] for a in client.list_attached_role_policies(RoleName=name)["AttachedPolicies"])
        for name in roles
    }
    providers = sorted(p["Arn"] for p in client.list_open_id_connect_providers()["OpenIDConnectProviderList"])
    return {"roles": roles, "policies": policies, "attached": attached, "providers": providers}


def trust_of(role: str = ROLE) -> dict[str, Any]:
    document: dict[str, Any] = boto3.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return document


def default_policy_document(arn: str = POLICY_ARN) -> dict[str, Any]:
    client = boto3.client("iam")
    version = client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document: dict[str, Any] = client.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return document


# ----------------------------------------------------------------------------- setup


def test_setup_creates_provider_role_policy_and_prints_the_annotation(aws: str) -> None:
    result = setup()
    assert result.exit_code == 0, result.output

    host_path = aws.removeprefix("https://")
    provider_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host_path}"
    provider = boto3.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    assert trust_of() == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SageMakerOperatorServiceAccount",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{host_path}:aud": "sts.amazonaws.com", f"{host_path}:sub": SUBJECT}},
            }
        ],
    }
    assert default_policy_document() == iam_policies.operator_policy("aws", ACCOUNT)
    assert state()["attached"][ROLE] == [POLICY_ARN]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    assert f"eks.amazonaws.com/role-arn: {role_arn}" in result.output
    assert f"--set serviceAccount.roleArn={role_arn}" in result.output
    assert "kubectl annotate serviceaccount -n sagemaker-operator-system sagemaker-operator" in result.output
    assert "Done: 4 change(s) made." in result.output


def test_second_setup_changes_nothing_and_says_so(aws: str, calls: list[str]) -> None:
    assert setup().exit_code == 0
    before = state()
    calls.clear()

    again = setup()

    assert again.exit_code == 0, again.output
    assert state() == before
    assert [c for c in calls if not c.startswith(READ_ONLY_PREFIXES)] == []
    assert f"role {ROLE} already up to date" in again.output
    assert f"policy {ROLE} already up to date" in again.output
    assert "OIDC provider" in again.output and "already exists" in again.output
    assert f"policy {ROLE} already attached to role {ROLE}" in again.output
    assert "Nothing to change: everything was already up to date." in again.output


def test_dry_run_prints_the_documents_and_writes_nothing(aws: str, calls: list[str]) -> None:
    before = state()

    result = setup("--dry-run")

    assert result.exit_code == 0, result.output
    assert state() == before
    assert [c for c in calls if not c.startswith(READ_ONLY_PREFIXES)] == []
    assert "would create the IAM OIDC provider" in result.output
    assert f"would create role {ROLE}" in result.output
    assert "Dry run: nothing was changed (4 change(s) would be made)." in result.output
    # The documents are printed as JSON a user can read or feed to the AWS CLI.
    assert f'"{aws.removeprefix("https://")}:sub": "{SUBJECT}"' in result.output
    assert '"iam:PassedToService": "sagemaker.amazonaws.com"' in result.output
    assert f"eks.amazonaws.com/role-arn: arn:aws:iam::{ACCOUNT}:role/{ROLE}" in result.output


def test_setup_for_another_namespace_rewrites_the_trust_policy_and_says_what_it_was(aws: str) -> None:
    assert setup("--namespace", "default").exit_code == 0

    result = setup("--namespace", "ml-platform", "--service-account", "operator")

    assert result.exit_code == 0, result.output
    assert "today it trusts: system:serviceaccount:default:sagemaker-operator" in result.output
    condition = trust_of()["Statement"][0]["Condition"]["StringEquals"]
    assert condition[f"{aws.removeprefix('https://')}:sub"] == "system:serviceaccount:ml-platform:operator"
    assert f"policy {ROLE} already up to date" in result.output


def test_policy_change_makes_a_new_default_version_pruning_the_oldest_at_five(aws: str) -> None:
    assert setup().exit_code == 0
    client = boto3.client("iam")
    for n in range(4):  # v2..v5: older policies, now IAM's limit of five versions
        document = iam_policies.operator_policy("aws", ACCOUNT, [f"arn:aws:iam::{ACCOUNT}:role/old-{n}"])
        client.create_policy_version(PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(document), SetAsDefault=True)
    assert len(state()["policies"][POLICY_ARN]) == 5

    narrowed = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution-*"
    result = setup("--execution-role-arn", narrowed)

    assert result.exit_code == 0, result.output
    assert "deleting old version(s) v1" in result.output
    versions = state()["policies"][POLICY_ARN]
    assert [v for v, _ in versions] == ["v2", "v3", "v4", "v5", "v6"]
    assert ("v6", True) in versions
    pass_role = default_policy_document()["Statement"][-1]
    assert pass_role["Action"] == "iam:PassRole" and pass_role["Resource"] == [narrowed]


def test_an_unknown_cluster_is_named_with_its_region_and_the_clusters_there(aws: str) -> None:
    result = run("setup", "--cluster", "staging", "--region", REGION)
    assert result.exit_code == 1
    assert "EKS cluster 'staging' not found in region us-west-2. Clusters there: prod." in result.output

    elsewhere = run("check", "--cluster", "prod", "--region", "eu-west-1")
    assert elsewhere.exit_code == 1
    assert "not found in region eu-west-1. There is no EKS cluster in that region." in elsewhere.output


def test_access_denied_names_the_missing_permission(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = BaseClient._make_api_call

    def deny_create_role(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == "CreateRole":
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": f"User: arn:aws:iam::{ACCOUNT}:user/dev is not authorized to perform: "
                        "iam:CreateRole",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                operation_name,
            )
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", deny_create_role)
    result = setup()
    assert result.exit_code == 1
    assert "AWS refused iam:CreateRole" in result.output
    assert "needs the IAM permission iam:CreateRole" in result.output


# ----------------------------------------------------------------------------- check


def test_check_passes_after_setup(aws: str) -> None:
    assert setup().exit_code == 0
    result = check()
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output
    assert f"the trust policy lets in {SUBJECT}" in result.output
    assert "iam:PassRole is allowed, only towards sagemaker.amazonaws.com" in result.output
    assert f"No problems found. Annotation: eks.amazonaws.com/role-arn: arn:aws:iam::{ACCOUNT}:role/{ROLE}" in (
        result.output
    )


def test_check_finds_a_missing_oidc_provider(aws: str) -> None:
    assert setup().exit_code == 0
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{aws.removeprefix('https://')}"
    boto3.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)

    result = check()

    assert result.exit_code == 1
    assert f"no IAM OIDC provider exists for the cluster's issuer {aws}" in result.output
    assert "eksctl utils associate-iam-oidc-provider --cluster prod" in result.output


def test_check_explains_a_service_account_mismatch(aws: str) -> None:
    assert setup("--namespace", "default").exit_code == 0

    result = check()  # the operator was installed in sagemaker-operator-system

    assert result.exit_code == 1
    assert (
        "the trust policy lets in system:serviceaccount:default:sagemaker-operator, but the operator runs as "
        f"{SUBJECT}" in result.output
    )
    assert (
        "fix: sagemaker-operator iam setup --cluster prod --region us-west-2 --namespace sagemaker-operator-system"
        in (result.output)
    )


def test_check_finds_a_wrong_audience(aws: str) -> None:
    assert setup().exit_code == 0
    trust = trust_of()
    host_path = aws.removeprefix("https://")
    trust["Statement"][0]["Condition"]["StringEquals"][f"{host_path}:aud"] = "sts.amazonaws.com.cn"
    boto3.client("iam").update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(trust))

    result = check()

    assert result.exit_code == 1
    assert "expects the audience sts.amazonaws.com.cn, but EKS's tokens carry sts.amazonaws.com" in result.output


def test_check_recognises_a_sagemaker_execution_role(aws: str) -> None:
    """The Go operator's issue #126: the jobs' execution role given to the operator."""
    assert setup().exit_code == 0
    execution_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    boto3.client("iam").update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(execution_trust))

    result = check()

    assert result.exit_code == 1
    assert "it looks like a SageMaker execution role" in result.output


def replace_policy(document: dict[str, Any]) -> None:
    client = boto3.client("iam")
    client.detach_role_policy(RoleName=ROLE, PolicyArn=POLICY_ARN)
    arn = client.create_policy(PolicyName="hand-written", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    client.attach_role_policy(RoleName=ROLE, PolicyArn=arn)


def test_check_finds_missing_pass_role(aws: str) -> None:
    assert setup().exit_code == 0
    document = iam_policies.operator_policy()
    document["Statement"] = [s for s in document["Statement"] if s["Action"] != "iam:PassRole"]
    replace_policy(document)

    result = check("--policy-name", "hand-written")

    assert result.exit_code == 1
    assert "the role is missing iam:PassRole" in result.output
    assert "the role allows every SageMaker action the operator calls" in result.output


def test_check_finds_pass_role_without_the_sagemaker_condition(aws: str) -> None:
    assert setup().exit_code == 0
    document = iam_policies.operator_policy()
    del document["Statement"][-1]["Condition"]
    replace_policy(document)

    result = check("--policy-name", "hand-written")

    assert result.exit_code == 1
    assert "iam:PassRole is granted without the condition iam:PassedToService = sagemaker.amazonaws.com" in (
        result.output
    )


def test_check_finds_a_detached_policy(aws: str) -> None:
    assert setup().exit_code == 0
    boto3.client("iam").detach_role_policy(RoleName=ROLE, PolicyArn=POLICY_ARN)

    result = check()

    assert result.exit_code == 1
    assert f"policy {ROLE} exists but is not attached to role {ROLE}" in result.output
    assert f"fix: aws iam attach-role-policy --role-name {ROLE} --policy-arn {POLICY_ARN}" in result.output
    assert "the role is missing SageMaker permissions: sagemaker:CreateTrainingJob" in result.output


def test_check_warns_about_full_access_but_does_not_fail(aws: str) -> None:
    assert setup().exit_code == 0
    broad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
            iam_policies.operator_policy()["Statement"][-1],
        ],
    }
    replace_policy(broad)

    result = check("--policy-name", "hand-written")

    assert result.exit_code == 0, result.output
    assert "warning  the role allows sagemaker:* on every resource" in result.output


def test_check_of_a_missing_role(aws: str) -> None:
    result = check()
    assert result.exit_code == 1
    assert f"role {ROLE} does not exist" in result.output
