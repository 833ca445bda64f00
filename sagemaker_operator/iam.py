"""``sagemaker-operator iam``: set up, and check, the IAM role the operator runs as on EKS (IRSA).

The two failures users of the Go operator hit most were a wrong trust policy (the pod's token is
refused: ``InvalidIdentityToken``, ``AccessDenied`` on ``AssumeRoleWithWebIdentity``) and giving the
operator the jobs' SageMaker execution role. ``iam setup`` writes the exact documents (the cluster's
OIDC provider, a role only the operator's service account can assume, the least-privilege policy);
``iam check`` reads an existing setup and says in plain words what is wrong and how to fix it.

Both only read until they know what to change; ``--dry-run`` stops there. Credentials are the AWS
CLI's (profile, environment, SSO...); the identity needs IAM and ``eks:DescribeCluster`` rights.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import click
from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_operator.aws import errors
from sagemaker_operator.iam_policies import (
    ROLE_ARN_ANNOTATION,
    SAGEMAKER_SERVICE,
    STS_AUDIENCE,
    Statement,
    canonical,
    condition_values,
    dumps,
    example_resource,
    issuer_host_path,
    oidc_provider_arn,
    operator_policy,
    required_actions,
    service_account_subject,
    statements,
    trust_policy,
)

DEFAULT_NAMESPACE = "sagemaker-operator-system"
DEFAULT_SERVICE_ACCOUNT = "sagemaker-operator"
DEFAULT_RELEASE = "sagemaker-operator"
MAX_POLICY_VERSIONS = 5  # IAM keeps at most five versions of a managed policy
MAX_ROLE_NAME = 64


class IamError(click.ClickException):
    """An AWS failure, worded for the person running the command."""


# ----------------------------------------------------------------------------- AWS access


class Aws:
    """EKS, IAM and STS clients; every failure becomes an :class:`IamError` that says what to do."""

    def __init__(self, region: str, session: boto3.session.Session | None = None) -> None:
        self.region = region
        session = session or boto3.session.Session()
        self.eks = session.client("eks", region_name=region)
        self.iam = session.client("iam", region_name=region)
        self.sts = session.client("sts", region_name=region)
        self.caller = "this identity"

    def call(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        client = getattr(self, service)
        try:
            response: dict[str, Any] = getattr(client, _snake(operation))(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise IamError(self.explain(exc, service, operation)) from exc
        return response

    def maybe(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        """Like :meth:`call`, but "no such thing" is an answer (``None``), not a failure."""
        client = getattr(self, service)
        try:
            response: dict[str, Any] = getattr(client, _snake(operation))(**kwargs)
        except ClientError as exc:
            if errors.classify(exc).kind is errors.ErrorKind.NOT_FOUND:
                return None
            raise IamError(self.explain(exc, service, operation)) from exc
        except BotoCoreError as exc:
            raise IamError(self.explain(exc, service, operation)) from exc
        return response

    def pages(self, service: str, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
        client = getattr(self, service)
        try:
            for page in client.get_paginator(_snake(operation)).paginate(**kwargs):
                yield from page.get(key, [])
        except (ClientError, BotoCoreError) as exc:
            raise IamError(self.explain(exc, service, operation)) from exc

    def explain(self, exc: BaseException, service: str, operation: str) -> str:
        try:
            error = errors.classify(exc, operation)
        except BaseException:  # not an AWS error at all: let its own message speak
            return f"{service}:{operation} failed: {exc}"
        if error.code in ("NoCredentialsError", "CredentialRetrievalError"):
            return (
                f"No AWS credentials found for {service}:{operation}. Configure them as for the AWS CLI "
                "(aws configure, aws sso login, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)."
            )
        if error.kind is errors.ErrorKind.ACCESS:
            return (
                f"AWS refused {service}:{operation} for {self.caller} ({error.code}): {error.message}\n"
                f"The identity running this command needs the IAM permission {service}:{operation}."
            )
        return f"{service}:{operation} failed ({error.code}): {error.message}"


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


# ----------------------------------------------------------------------------- what exists


@dataclass
class Target:
    """What the user asked for."""

    cluster: str
    region: str
    namespace: str = DEFAULT_NAMESPACE
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    role_name: str = ""
    policy_name: str = ""
    execution_roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.role_name = self.role_name or default_role_name(self.cluster)
        self.policy_name = self.policy_name or self.role_name

    @property
    def subject(self) -> str:
        return service_account_subject(self.namespace, self.service_account)


def default_role_name(cluster: str) -> str:
    """One role per cluster, so a second cluster in the account does not rewrite the first one's trust."""
    return f"sagemaker-operator-{cluster}"[:MAX_ROLE_NAME]


@dataclass
class Facts:
    """The current state in AWS, read without changing anything."""

    account: str
    partition: str
    issuer: str
    provider_arn: str
    provider: dict[str, Any] | None
    role: dict[str, Any] | None
    policy_arn: str
    policy: dict[str, Any] | None
    policy_document: Any
    policy_versions: list[dict[str, Any]]
    attached_arns: list[str]

    @property
    def role_arn(self) -> str:
        return str((self.role or {}).get("Arn") or "")

    def expected_role_arn(self, role_name: str) -> str:
        return self.role_arn or f"arn:{self.partition}:iam::{self.account}:role/{role_name}"


def read_facts(aws: Aws, target: Target) -> Facts:
    identity = aws.call("sts", "GetCallerIdentity")
    aws.caller = str(identity.get("Arn", "this identity"))
    account = str(identity["Account"])
    partition = aws.caller.split(":")[1] if aws.caller.startswith("arn:") else "aws"
    issuer = cluster_issuer(aws, target.cluster)
    provider_arn = oidc_provider_arn(partition, account, issuer)
    provider = aws.maybe("iam", "GetOpenIDConnectProvider", OpenIDConnectProviderArn=provider_arn)
    role = (aws.maybe("iam", "GetRole", RoleName=target.role_name) or {}).get("Role")
    policy_arn = f"arn:{partition}:iam::{account}:policy/{target.policy_name}"
    policy = (aws.maybe("iam", "GetPolicy", PolicyArn=policy_arn) or {}).get("Policy")
    document: Any = None
    versions: list[dict[str, Any]] = []
    if policy:
        version = aws.call("iam", "GetPolicyVersion", PolicyArn=policy_arn, VersionId=policy["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        versions = list(aws.pages("iam", "ListPolicyVersions", "Versions", PolicyArn=policy_arn))
    attached = []
    if role:
        attached = [
            str(p["PolicyArn"])
            for p in aws.pages("iam", "ListAttachedRolePolicies", "AttachedPolicies", RoleName=target.role_name)
        ]
    return Facts(
        account=account,
        partition=partition,
        issuer=issuer,
        provider_arn=provider_arn,
        provider=provider,
        role=role,
        policy_arn=policy_arn,
        policy=policy,
        policy_document=document,
        policy_versions=versions,
        attached_arns=attached,
    )


def cluster_issuer(aws: Aws, cluster: str) -> str:
    found = aws.maybe("eks", "DescribeCluster", name=cluster)
    if found is None:
        try:
            names = list(aws.pages("eks", "ListClusters", "clusters"))
        except IamError:
            names = []
        listing = f" Clusters there: {', '.join(names)}." if names else " There is no EKS cluster in that region."
        raise IamError(
            f"EKS cluster {cluster!r} not found in region {aws.region}.{listing} Check --cluster and --region."
        )
    issuer = str(((found["cluster"].get("identity") or {}).get("oidc") or {}).get("issuer") or "")
    if not issuer:
        raise IamError(f"EKS cluster {cluster!r} in {aws.region} has no OIDC issuer, so IRSA cannot work with it.")
    return issuer


# ----------------------------------------------------------------------------- setup


@dataclass
class Step:
    """One change ``setup`` makes, or (``apply is None``) a thing already as it should be."""

    message: str
    apply: Callable[[], Any] | None = None
    details: list[str] = field(default_factory=list)


def plan(aws: Aws, target: Target, facts: Facts) -> tuple[list[Step], dict[str, Any], dict[str, Any]]:
    """The steps that bring AWS to the wanted state, with the trust and permissions documents."""
    trust = trust_policy(facts.provider_arn, facts.issuer, target.namespace, target.service_account)
    permissions = operator_policy(facts.partition, facts.account, target.execution_roles)
    steps: list[Step] = []

    if facts.provider is None:
        steps.append(
            Step(
                f"create the IAM OIDC provider for {facts.issuer} (audience {STS_AUDIENCE}; no thumbprint: IAM "
                "verifies EKS issuers with its trusted root CAs)",
                lambda: aws.call(
                    "iam",
                    "CreateOpenIDConnectProvider",
                    Url=facts.issuer,
                    ClientIDList=[STS_AUDIENCE],
                    Tags=[{"Key": "sagemaker-operator/cluster", "Value": target.cluster}],
                ),
            )
        )
    elif STS_AUDIENCE not in facts.provider.get("ClientIDList", []):
        steps.append(
            Step(
                f"add the audience {STS_AUDIENCE} to the OIDC provider {facts.provider_arn}",
                lambda: aws.call(
                    "iam",
                    "AddClientIDToOpenIDConnectProvider",
                    OpenIDConnectProviderArn=facts.provider_arn,
                    ClientID=STS_AUDIENCE,
                ),
            )
        )
    else:
        steps.append(Step(f"OIDC provider {facts.provider_arn} already exists"))

    if facts.role is None:
        steps.append(
            Step(
                f"create role {target.role_name}, assumable only by {target.subject} in cluster {target.cluster}",
                lambda: aws.call(
                    "iam",
                    "CreateRole",
                    RoleName=target.role_name,
                    AssumeRolePolicyDocument=dumps(trust),
                    Description=f"SageMaker operator for Kubernetes on EKS cluster {target.cluster} (IRSA)"[:1000],
                ),
            )
        )
    elif canonical(facts.role.get("AssumeRolePolicyDocument") or {}) != canonical(trust):
        old = describe_trust(facts.role.get("AssumeRolePolicyDocument") or {})
        steps.append(
            Step(
                f"replace the trust policy of role {target.role_name} (it must trust only {target.subject})",
                lambda: aws.call(
                    "iam", "UpdateAssumeRolePolicy", RoleName=target.role_name, PolicyDocument=dumps(trust)
                ),
                details=[f"today it trusts: {old}"],
            )
        )
    else:
        steps.append(Step(f"role {target.role_name} already up to date"))

    if facts.policy is None:
        steps.append(
            Step(
                f"create policy {target.policy_name}",
                lambda: aws.call(
                    "iam",
                    "CreatePolicy",
                    PolicyName=target.policy_name,
                    PolicyDocument=dumps(permissions),
                    Description="Least-privilege SageMaker access for the SageMaker operator for Kubernetes",
                ),
            )
        )
    elif canonical(facts.policy_document) != canonical(permissions):
        details = []
        stale = sorted((v for v in facts.policy_versions if not v.get("IsDefaultVersion")), key=_created)
        prune = stale[: max(0, len(facts.policy_versions) - (MAX_POLICY_VERSIONS - 1))]
        if prune:
            details.append(
                f"deleting old version(s) {', '.join(v['VersionId'] for v in prune)} "
                f"(IAM keeps at most {MAX_POLICY_VERSIONS} versions)"
            )

        def new_version() -> None:
            for version in prune:
                aws.call("iam", "DeletePolicyVersion", PolicyArn=facts.policy_arn, VersionId=version["VersionId"])
            aws.call(
                "iam",
                "CreatePolicyVersion",
                PolicyArn=facts.policy_arn,
                PolicyDocument=dumps(permissions),
                SetAsDefault=True,
            )

        steps.append(Step(f"update policy {target.policy_name} (a new default version)", new_version, details=details))
    else:
        steps.append(Step(f"policy {target.policy_name} already up to date"))

    if facts.policy_arn in facts.attached_arns:
        steps.append(Step(f"policy {target.policy_name} already attached to role {target.role_name}"))
    else:
        steps.append(
            Step(
                f"attach policy {target.policy_name} to role {target.role_name}",
                lambda: aws.call("iam", "AttachRolePolicy", RoleName=target.role_name, PolicyArn=facts.policy_arn),
            )
        )
    return steps, trust, permissions


def _created(version: dict[str, Any]) -> Any:
    return (version.get("CreateDate") or "", version.get("VersionId", ""))


def describe_trust(document: Any) -> str:
    """Who a trust policy lets in, in a few words (for "today it trusts ...")."""
    who = []
    for statement in statements(document, "trust policy"):
        if statement.effect != "Allow":
            continue
        subjects = [v for values in _subject_conditions(statement).values() for v in values]
        principals = _principals(document, statement)
        who.append(", ".join(subjects) if subjects else " ".join(principals) or "anyone")
    return "; ".join(who) or "nobody"


def run_setup(aws: Aws, target: Target, dry_run: bool, echo: Callable[[str], None]) -> int:
    facts = read_facts(aws, target)
    echo(f"EKS cluster {target.cluster} ({target.region}): OIDC issuer {facts.issuer}")
    steps, trust, permissions = plan(aws, target, facts)
    changes = [s for s in steps if s.apply is not None]
    if dry_run:
        echo(f"\nTrust policy of role {target.role_name}:\n{dumps(trust)}")
        echo(f"Permissions policy {target.policy_name}:\n{dumps(permissions)}")
    for number, step in enumerate(steps, 1):
        prefix = "would " if dry_run and step.apply else ""
        echo(f"[{number}/{len(steps)}] {prefix}{step.message}")
        for line in step.details:
            echo(f"      {line}")
        if step.apply is not None and not dry_run:
            step.apply()
    role_arn = facts.expected_role_arn(target.role_name)
    if dry_run:
        echo(f"\nDry run: nothing was changed ({len(changes)} change(s) would be made).")
    elif not changes:
        echo("\nNothing to change: everything was already up to date.")
    else:
        echo(f"\nDone: {len(changes)} change(s) made.")
    echo(annotation_help(role_arn, target))
    return 0


def annotation_help(role_arn: str, target: Target) -> str:
    ns, sa = target.namespace, target.service_account
    return (
        f"\nThe operator's service account needs this annotation:\n"
        f"  {ROLE_ARN_ANNOTATION}: {role_arn}\n"
        f"With Helm:\n"
        f"  helm upgrade --install {DEFAULT_RELEASE} installer/helm/sagemaker-operator -n {ns} --create-namespace \\\n"
        f"    --set serviceAccount.name={sa} --set serviceAccount.roleArn={role_arn}\n"
        f"With the manifests in installer/ (already applied):\n"
        f"  kubectl annotate serviceaccount -n {ns} {sa} {ROLE_ARN_ANNOTATION}={role_arn} --overwrite\n"
        f"  kubectl rollout restart deployment -n {ns} sagemaker-operator"
    )


# ----------------------------------------------------------------------------- check


@dataclass
class Finding:
    ok: bool
    message: str
    fix: str = ""
    warning: bool = False


def run_check(aws: Aws, target: Target, echo: Callable[[str], None]) -> int:
    facts = read_facts(aws, target)
    echo(
        f"Checking IRSA for the SageMaker operator: cluster {target.cluster} ({target.region}), "
        f"service account {target.namespace}/{target.service_account}, role {target.role_name}"
    )
    findings = diagnose(aws, target, facts)
    for finding in findings:
        label = "ok     " if finding.ok else ("warning" if finding.warning else "PROBLEM")
        echo(f"  {label}  {finding.message}")
        if finding.fix:
            echo(f"           fix: {finding.fix}")
    problems = [f for f in findings if not f.ok and not f.warning]
    if problems:
        echo(f"\n{len(problems)} problem(s) found.")
        return 1
    echo(f"\nNo problems found. Annotation: {ROLE_ARN_ANNOTATION}: {facts.role_arn}")
    return 0


def diagnose(aws: Aws, target: Target, facts: Facts) -> list[Finding]:
    setup = (
        f"sagemaker-operator iam setup --cluster {target.cluster} --region {target.region} "
        f"--namespace {target.namespace} --service-account {target.service_account} --role-name {target.role_name}"
    )
    found = [Finding(True, f"cluster {target.cluster} has the OIDC issuer {facts.issuer}")]

    if facts.provider is None:
        found.append(
            Finding(
                False,
                f"no IAM OIDC provider exists for the cluster's issuer {facts.issuer}: AWS cannot verify the "
                "pod's token (the operator gets InvalidIdentityToken from AssumeRoleWithWebIdentity)",
                f"{setup}   (or: eksctl utils associate-iam-oidc-provider --cluster {target.cluster} "
                f"--region {target.region} --approve)",
            )
        )
    elif STS_AUDIENCE not in facts.provider.get("ClientIDList", []):
        found.append(
            Finding(
                False,
                f"the OIDC provider {facts.provider_arn} does not accept the audience {STS_AUDIENCE} "
                f"(it accepts {', '.join(facts.provider.get('ClientIDList', [])) or 'none'})",
                f"aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn "
                f"{facts.provider_arn} --client-id {STS_AUDIENCE}",
            )
        )
    else:
        found.append(Finding(True, f"IAM OIDC provider {facts.provider_arn} exists (audience {STS_AUDIENCE})"))

    if facts.role is None:
        found.append(Finding(False, f"role {target.role_name} does not exist", setup))
        return found
    found.extend(check_trust(target, facts, setup))
    found.extend(check_permissions(aws, target, facts))
    return found


def check_trust(target: Target, facts: Facts, setup: str) -> list[Finding]:
    document = facts.role.get("AssumeRolePolicyDocument") if facts.role else None
    document = document or {}
    host_path = issuer_host_path(facts.issuer)
    ours = []
    others = []
    for statement in statements(document, "trust policy"):
        if statement.effect != "Allow":
            continue
        principals = _principals(document, statement)
        if facts.provider_arn in principals and statement.covers_action("sts:AssumeRoleWithWebIdentity"):
            ours.append(statement)
        else:
            others.extend(principals)
    if not ours:
        if any(p == SAGEMAKER_SERVICE for p in others):
            message = (
                f"role {target.role_name} is trusted by {SAGEMAKER_SERVICE}: it looks like a SageMaker execution "
                "role (the one in a job's spec.roleArn). The operator needs its own role, trusted by the cluster's "
                "OIDC provider; keep the execution role for the jobs"
            )
        else:
            federated = [p for p in others if ":oidc-provider/" in p]
            trusted = f"it trusts {', '.join(federated)}" if federated else f"it trusts {', '.join(others) or 'nobody'}"
            message = (
                f"the trust policy of role {target.role_name} does not let the cluster's OIDC provider "
                f"{facts.provider_arn} assume it with sts:AssumeRoleWithWebIdentity ({trusted})"
            )
        return [Finding(False, message, setup)]

    results: list[Finding] = []
    for statement in ours:
        subjects = _subject_conditions(statement, host_path)
        audiences = {op: vals for op, vals in condition_values(statement.condition, f"{host_path}:aud").items()}
        if not subjects:
            results.append(
                Finding(
                    False,
                    "the trust policy has no condition on the service account (…:sub): every pod in the cluster "
                    "that asks for this role gets it",
                    setup,
                )
            )
        elif not any(_condition_allows(op, values, target.subject) for op, values in subjects.items()):
            allowed = ", ".join(v for values in subjects.values() for v in values)
            results.append(
                Finding(
                    False,
                    f"the trust policy lets in {allowed}, but the operator runs as {target.subject}: its token is "
                    "refused (AccessDenied on AssumeRoleWithWebIdentity)",
                    setup + "   (or pass the namespace and service account you installed the operator with)",
                )
            )
        else:
            results.append(Finding(True, f"the trust policy lets in {target.subject}"))
        if not audiences:
            results.append(
                Finding(
                    False,
                    f"the trust policy has no audience condition (…:aud = {STS_AUDIENCE}): tokens minted for "
                    "other audiences would be accepted",
                    setup,
                )
            )
        elif not any(_condition_allows(op, values, STS_AUDIENCE) for op, values in audiences.items()):
            wrong = ", ".join(v for values in audiences.values() for v in values)
            results.append(
                Finding(
                    False,
                    f"the trust policy expects the audience {wrong}, but EKS's tokens carry {STS_AUDIENCE}",
                    setup,
                )
            )
        else:
            results.append(Finding(True, f"the trust policy expects the audience {STS_AUDIENCE}"))
    return results


def check_permissions(aws: Aws, target: Target, facts: Facts) -> list[Finding]:
    results: list[Finding] = []
    granted: list[Statement] = []
    for arn in facts.attached_arns:
        policy = aws.call("iam", "GetPolicy", PolicyArn=arn)["Policy"]
        version = aws.call("iam", "GetPolicyVersion", PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        granted.extend(statements(version["PolicyVersion"]["Document"], f"policy {policy['PolicyName']}"))
    for name in aws.pages("iam", "ListRolePolicies", "PolicyNames", RoleName=target.role_name):
        inline = aws.call("iam", "GetRolePolicy", RoleName=target.role_name, PolicyName=name)
        granted.extend(statements(inline["PolicyDocument"], f"inline policy {name}"))

    attach = (
        f"aws iam attach-role-policy --role-name {target.role_name} --policy-arn {facts.policy_arn}"
        if facts.policy
        else f"sagemaker-operator iam setup --cluster {target.cluster} --region {target.region} "
        f"--role-name {target.role_name} --policy-name {target.policy_name}"
    )
    if facts.policy and facts.policy_arn not in facts.attached_arns:
        results.append(
            Finding(False, f"policy {target.policy_name} exists but is not attached to role {target.role_name}", attach)
        )

    def allowed(action: str) -> list[Statement]:
        resource = example_resource(action, facts.partition, facts.account, target.region)
        return [s for s in granted if s.effect == "Allow" and s.covers_action(action) and s.covers_resource(resource)]

    def denied(action: str) -> list[Statement]:
        resource = example_resource(action, facts.partition, facts.account, target.region)
        return [s for s in granted if s.effect == "Deny" and s.covers_action(action) and s.covers_resource(resource)]

    sagemaker = [a for a in required_actions() if a.startswith("sagemaker:")]
    missing = [a for a in sagemaker if not allowed(a)]
    blocked = sorted({f"{a} ({s.source})" for a in sagemaker for s in denied(a)})
    if missing:
        results.append(Finding(False, f"the role is missing SageMaker permissions: {', '.join(missing)}", attach))
    else:
        results.append(Finding(True, "the role allows every SageMaker action the operator calls"))
    if blocked:
        results.append(Finding(False, f"explicitly denied: {', '.join(blocked)}", "remove the Deny statements"))
    if any(s.effect == "Allow" and "sagemaker:*" in s.actions and "*" in s.resources for s in granted):
        results.append(
            Finding(
                False,
                "the role allows sagemaker:* on every resource (AmazonSageMakerFullAccess?): it works, but is "
                f"far more than the operator needs; {target.policy_name} is enough",
                warning=True,
            )
        )

    pass_role = allowed("iam:PassRole")
    if not pass_role:
        results.append(
            Finding(
                False,
                "the role is missing iam:PassRole: SageMaker refuses every job (AccessDenied on CreateTrainingJob), "
                "because the operator cannot hand it the job's execution role",
                attach,
            )
        )
    else:
        loose = [s for s in pass_role if not _passes_only_to_sagemaker(s)]
        if loose:
            sources = ", ".join(sorted({s.source for s in loose}))
            results.append(
                Finding(
                    False,
                    f"iam:PassRole is granted without the condition iam:PassedToService = {SAGEMAKER_SERVICE} "
                    f"({sources}): the operator could pass roles to any AWS service",
                    f'add "Condition": {{"StringEquals": {{"iam:PassedToService": "{SAGEMAKER_SERVICE}"}}}} '
                    f"to that statement, or use the policy {target.policy_name} from iam setup",
                )
            )
        else:
            results.append(Finding(True, f"iam:PassRole is allowed, only towards {SAGEMAKER_SERVICE}"))
    return results


def _passes_only_to_sagemaker(statement: Statement) -> bool:
    values = condition_values(statement.condition, "iam:PassedToService")
    allowed = [v for op, vals in values.items() if op.startswith("String") and "Not" not in op for v in vals]
    return bool(allowed) and all(v == SAGEMAKER_SERVICE for v in allowed)


def _principals(document: Any, statement: Statement) -> list[str]:
    """The principals of a statement (Statement keeps actions and resources only, so re-read the raw one)."""
    import json

    raw = json.loads(document) if isinstance(document, str) else document
    items = raw.get("Statement", [])
    items = [items] if isinstance(items, dict) else items
    for item in items:
        if next(iter(statements({"Statement": [item]}, statement.source))) == statement:
            principal = item.get("Principal") or {}
            if isinstance(principal, str):
                return [principal]
            return [str(v) for values in principal.values() for v in ([values] if isinstance(values, str) else values)]
    return []


def _subject_conditions(statement: Statement, host_path: str | None = None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for operator, pairs in statement.condition.items():
        for name, values in (pairs or {}).items():
            if name.endswith(":sub") and (host_path is None or name.lower() == f"{host_path}:sub".lower()):
                found.setdefault(operator, []).extend([values] if isinstance(values, str) else list(values))
    return found


def _condition_allows(operator: str, values: list[str], wanted: str) -> bool:
    from fnmatch import fnmatchcase

    if operator in ("StringEquals", "ForAnyValue:StringEquals"):
        return wanted in values
    if operator in ("StringLike", "ForAnyValue:StringLike"):
        return any(fnmatchcase(wanted, v.replace("[", "[[]")) for v in values)
    return False


# ----------------------------------------------------------------------------- commands


def _options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--cluster", required=True, help="EKS cluster name."),
            click.option(
                "--region",
                required=True,
                envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
                help="The cluster's AWS region (default: $AWS_REGION).",
            ),
            click.option(
                "--namespace", default=DEFAULT_NAMESPACE, show_default=True, help="Namespace the operator runs in."
            ),
            click.option(
                "--service-account",
                default=DEFAULT_SERVICE_ACCOUNT,
                show_default=True,
                help="The operator's service account.",
            ),
            click.option("--role-name", default="", help="IAM role name [default: sagemaker-operator-CLUSTER]."),
            click.option("--policy-name", default="", help="Managed policy name [default: the role name]."),
        ]
    ):
        function = option(function)
    return function


@click.group(name="iam")
def iam() -> None:
    """Set up and check the IAM role the operator runs as on EKS (IRSA)."""


@iam.command()
@_options
@click.option(
    "--execution-role-arn",
    "execution_roles",
    multiple=True,
    help="Allow passing only these SageMaker execution roles (repeatable; wildcards allowed). "
    "Default: any role of the account, towards SageMaker only.",
)
@click.option("--dry-run", is_flag=True, help="Print the documents and the changes; change nothing.")
def setup(
    cluster: str,
    region: str,
    namespace: str,
    service_account: str,
    role_name: str,
    policy_name: str,
    execution_roles: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Create or update the OIDC provider, role and policy; print the service account annotation.

    Safe to run again: what is already right is left alone.
    """
    target = Target(cluster, region, namespace, service_account, role_name, policy_name, execution_roles)
    sys.exit(run_setup(Aws(region), target, dry_run, click.echo))


@iam.command()
@_options
def check(cluster: str, region: str, namespace: str, service_account: str, role_name: str, policy_name: str) -> None:
    """Diagnose an existing setup in plain words; exit 1 when something is wrong."""
    target = Target(cluster, region, namespace, service_account, role_name, policy_name)
    sys.exit(run_check(Aws(region), target, click.echo))
