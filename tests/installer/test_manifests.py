"""The installer's manifests: valid Kubernetes objects, locked-down pods, exactly the RBAC kopf needs,
checked-in files that match their sources, and a Helm chart that installs the same operator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemaker_operator import __version__

from .manifests import (
    CHART,
    GROUP,
    INSTALLER,
    ROOT,
    VARIANTS,
    crd_plurals,
    env,
    grants,
    helm_error,
    helm_render,
    kubectl,
    kustomize,
    load_render,
    of_kind,
    one,
    pod_specs,
    rendered,
)

KUBERNETES_VERSIONS = ("1.25.0", "1.30.0", "1.37.0")  # the chart's kubeVersion floor, EKS's usual, the newest
READ = {"get", "list", "watch"}


def kinds_grants(plurals: list[str], verbs: set[str]) -> set[tuple[str, str, str]]:
    return {(GROUP, p, v) for p in plurals for v in verbs}


def expected_serving(plurals: list[str]) -> set[tuple[str, str, str]]:
    """Where resources are served: our kinds (watch + patch), their status (patch), Events (create)."""
    return (
        kinds_grants(plurals, READ | {"patch"})
        | {(GROUP, f"{p}/status", "patch") for p in plurals}
        | {("", "events", "create")}
    )


CRDS_READ = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in READ}
NAMESPACES_READ = {("", "namespaces", v) for v in READ}


# ----------------------------------------------------------------------------- files are current


def test_generated_files_match_their_sources() -> None:
    """kustomize output == installer/rendered/*.yaml, CRD copies == crds/, IAM JSON == the package's documents."""
    render = load_render()
    stale = render.stale_files(kubectl=kubectl())
    assert not stale, f"stale installer files, run .venv/bin/python installer/render.py: {stale}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_file_is_the_kustomize_output(variant: str) -> None:
    assert rendered(variant) == kustomize(INSTALLER / "kustomize" / variant)


def test_a_new_crd_needs_no_hand_edit(tmp_path: Path) -> None:
    """Drop a CRD into crds/ and every installer picks it up: CRD list, RBAC, rendered file, Helm chart."""
    crds = tmp_path / "crds"
    shutil.copytree(ROOT / "crds", crds)
    crd = yaml.safe_load((ROOT / "crds" / f"{GROUP}_trainingjobs.yaml").read_text())
    crd["metadata"]["name"] = f"processingjobs.{GROUP}"
    crd["spec"]["names"].update(kind="ProcessingJob", plural="processingjobs", singular="processingjob", shortNames=[])
    (crds / f"{GROUP}_processingjobs.yaml").write_text(yaml.safe_dump(crd))
    installer = tmp_path / "installer"
    shutil.copytree(INSTALLER, installer)

    load_render().generate(installer, crds, kubectl())

    docs = [d for d in yaml.safe_load_all((installer / "rendered" / "cluster-wide.yaml").read_text()) if d]
    assert f"processingjobs.{GROUP}" in {d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition")}
    rules = grants(one(docs, "ClusterRole", "sagemaker-operator")["rules"])
    assert {(GROUP, "processingjobs", "watch"), (GROUP, "processingjobs/status", "patch")} <= rules
    assert (installer / "helm" / "sagemaker-operator" / "crds" / f"{GROUP}_processingjobs.yaml").exists()


def test_versions_follow_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == __version__ and chart["appVersion"] == __version__
    for variant in VARIANTS:
        (deployment,) = of_kind(rendered(variant), "Deployment")
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"sagemaker-operator:{__version__}"


# ----------------------------------------------------------------------------- valid objects


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_objects_pass_kubernetes_schema_validation(variant: str, version: str) -> None:
    """Strict: an unknown or misplaced field is an error, as with kubectl's field validation."""
    kv = pytest.importorskip("kubernetes_validate")
    docs = [d for d in rendered(variant) if d["kind"] != "CustomResourceDefinition"]  # CRDs: tests/test_crds.py
    assert {"Namespace", "ServiceAccount", "Deployment", "ConfigMap"} <= {d["kind"] for d in docs}
    for doc in docs:
        kv.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchNamespaces": ["team-a", "team-b"], "peering": {"enabled": True}, "replicas": 2},
        {"inClusterFallback": {"enabled": True}, "region": "eu-west-1", "sagemakerEndpoint": "https://vpce.example"},
    ],
    ids=["defaults", "namespaced-ha", "fallback"],
)
def test_helm_objects_pass_kubernetes_schema_validation(values: dict[str, Any]) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    docs = helm_render(values)
    for doc in docs:
        if doc["apiVersion"].startswith("kopf.dev/"):
            continue  # our peering CRDs define these
        kv.validate(doc, "1.30.0", strict=True)
    peering_crds = yaml.safe_load_all((CHART / "crds" / "kopf.dev_peerings.yaml").read_text())
    for crd in peering_crds:
        kv.validate(crd, "1.30.0", strict=True)


# ----------------------------------------------------------------------------- security lint


def lint_pod(spec: dict[str, Any]) -> list[str]:
    problems = []
    pod = spec.get("securityContext", {})
    if not pod.get("runAsNonRoot") or not pod.get("runAsUser"):
        problems.append("pod: runAsNonRoot with a non-zero runAsUser")
    if pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("pod: seccompProfile RuntimeDefault")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"pod: {flag}")
    if any("hostPath" in v for v in spec.get("volumes", [])):
        problems.append("pod: hostPath volume")
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{c['name']}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{c['name']}: readOnlyRootFilesystem must be true")
        if sc.get("privileged"):
            problems.append(f"{c['name']}: privileged")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            problems.append(f"{c['name']}: drop ALL capabilities, add none")
        if sc.get("runAsUser") == 0:
            problems.append(f"{c['name']}: runs as root")
        if not {"requests", "limits"} <= set(c.get("resources", {})):
            problems.append(f"{c['name']}: resource requests and limits")
        image = c["image"]
        if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
            problems.append(f"{c['name']}: image without a pinned tag ({image})")
    return problems


def lint_rbac(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for binding in of_kind(docs, "ClusterRoleBinding", "RoleBinding"):
        if binding["roleRef"]["name"] in ("cluster-admin", "admin", "edit"):
            problems.append(f"{binding['metadata']['name']} binds {binding['roleRef']['name']}")
    for role in of_kind(docs, "ClusterRole", "Role"):
        name = role["metadata"]["name"]
        for group, resource, verb in grants(role.get("rules", [])):
            if verb == "*" or resource == "*" or group == "*":
                problems.append(f"{name}: wildcard in ({group!r}, {resource}, {verb})")
            if resource == "secrets":
                problems.append(f"{name}: can {verb} secrets")
            if verb in ("escalate", "bind", "impersonate"):
                problems.append(f"{name}: {verb}")
            if resource in ("pods/exec", "pods/attach", "nodes", "serviceaccounts/token"):
                problems.append(f"{name}: {verb} {resource}")
    return problems


def helm_variants() -> list[dict[str, Any]]:
    return [
        {},
        {"watchNamespaces": ["team-a"], "peering": {"enabled": True}, "replicas": 2},
        {"inClusterFallback": {"enabled": True}},
        {"inClusterFallback": {"enabled": True}, "watchNamespaces": ["team-a"]},
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_pod_is_locked_down_and_rbac_has_no_wildcards(variant: str) -> None:
    docs = rendered(variant)
    specs = list(pod_specs(docs))
    assert len(specs) == 1
    assert lint_pod(specs[0]) == []
    assert lint_rbac(docs) == []


@pytest.mark.parametrize("values", helm_variants(), ids=["defaults", "namespaced-ha", "fallback", "fallback-ns"])
def test_helm_pod_is_locked_down_and_rbac_has_no_wildcards(values: dict[str, Any]) -> None:
    docs = helm_render(values)
    assert [lint_pod(spec) for spec in pod_specs(docs)] == [[]]
    assert lint_rbac(docs) == []


def test_the_lint_catches_what_it_is_for() -> None:
    """The lint itself: a root, privileged, writable pod bound to cluster-admin with wildcards fails it."""
    bad_pod = {
        "securityContext": {},
        "hostNetwork": True,
        "containers": [{"name": "c", "image": "x:latest", "securityContext": {"privileged": True, "runAsUser": 0}}],
    }
    assert len(lint_pod(bad_pod)) >= 7
    bad_rbac: list[dict[str, Any]] = [
        {"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"name": "cluster-admin"}},
        {
            "kind": "ClusterRole",
            "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}],
        },
        {
            "kind": "Role",
            "metadata": {"name": "s"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
        },
    ]
    assert len(lint_rbac(bad_rbac)) == 3


# ----------------------------------------------------------------------------- RBAC is exactly kopf's


def test_cluster_wide_rbac_is_exactly_what_kopf_needs() -> None:
    docs = rendered("cluster-wide")
    assert [r["metadata"]["name"] for r in of_kind(docs, "ClusterRole", "Role")] == ["sagemaker-operator"]
    role = one(docs, "ClusterRole", "sagemaker-operator")
    assert grants(role["rules"]) == expected_serving(crd_plurals()) | CRDS_READ
    binding = one(docs, "ClusterRoleBinding", "sagemaker-operator")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "sagemaker-operator", "namespace": "sagemaker-operator-system"}
    ]
    assert one(docs, "ServiceAccount")["metadata"]["namespace"] == "sagemaker-operator-system"


def test_namespaced_rbac_grants_the_kinds_only_in_the_served_namespace() -> None:
    docs = rendered("namespaced")
    role = one(docs, "Role", "sagemaker-operator")
    assert role["metadata"]["namespace"] == "sagemaker-jobs"
    assert grants(role["rules"]) == expected_serving(crd_plurals())
    # Cluster-wide, only reads for kopf's scanning: nothing about our kinds, events or workloads.
    assert grants(one(docs, "ClusterRole", "sagemaker-operator-scanning")["rules"]) == CRDS_READ | NAMESPACES_READ
    assert of_kind(docs, "ClusterRoleBinding")[0]["roleRef"]["name"] == "sagemaker-operator-scanning"
    binding = one(docs, "RoleBinding", "sagemaker-operator")
    assert binding["metadata"]["namespace"] == "sagemaker-jobs"
    assert binding["subjects"][0]["namespace"] == "sagemaker-operator-system"
    # The operator runs elsewhere and is told which namespace to serve.
    (deployment,) = of_kind(docs, "Deployment")
    assert deployment["metadata"]["namespace"] == "sagemaker-operator-system"
    assert env(deployment["spec"]["template"]["spec"]["containers"][0])["SAGEMAKER_OPERATOR_NAMESPACE"] == (
        "sagemaker-jobs"
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_in_cluster_fallback_component_adds_workload_rights_only_when_enabled(variant: str, tmp_path: Path) -> None:
    assert not any(
        resource in ("pods", "services", "configmaps")
        for role in of_kind(rendered(variant), "ClusterRole", "Role")
        for _, resource, _ in grants(role["rules"])
    )
    overlay = tmp_path / "installer"
    shutil.copytree(INSTALLER / "kustomize", overlay)
    (overlay / "with-fallback").mkdir()
    (overlay / "with-fallback" / "kustomization.yaml").write_text(
        f"resources: [../{variant}]\ncomponents: [../components/in-cluster-fallback]\n"
    )
    docs = kustomize(overlay / "with-fallback")
    role = one(docs, "ClusterRole" if variant == "cluster-wide" else "Role", "sagemaker-operator")
    added = grants(role["rules"]) - grants(one(rendered(variant), role["kind"], "sagemaker-operator")["rules"])
    plurals = crd_plurals()
    assert added == {("", r, v) for r in ("pods", "services", "configmaps") for v in READ | {"create", "delete"}} | {
        (GROUP, f"{p}/finalizers", "update") for p in plurals
    }
    if variant == "namespaced":  # the scanning role is untouched
        assert grants(one(docs, "ClusterRole", "sagemaker-operator-scanning")["rules"]) == CRDS_READ | NAMESPACES_READ


# ----------------------------------------------------------------------------- Deployment


@pytest.mark.parametrize("variant", VARIANTS)
def test_deployment_probes_health_and_uses_a_writable_tmp_only(variant: str) -> None:
    (deployment,) = of_kind(rendered(variant), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (container,) = spec["template"]["spec"]["containers"]
    port = int(env(container)["SAGEMAKER_OPERATOR_LIVENESS_PORT"])
    assert container["ports"] == [{"name": "health", "containerPort": port, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert spec["template"]["spec"]["volumes"][0]["emptyDir"]
    assert env(container)["POD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    (config,) = of_kind(rendered(variant), "ConfigMap")
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert "SAGEMAKER_OPERATOR_REGION" not in config["data"]  # the cluster's region (AWS_REGION from EKS)


# ----------------------------------------------------------------------------- Helm


def test_helm_defaults_install_what_the_cluster_wide_manifests_install() -> None:
    helm_docs = helm_render()
    kustomize_docs = rendered("cluster-wide")
    assert grants(one(helm_docs, "ClusterRole")["rules"]) == grants(
        one(kustomize_docs, "ClusterRole", "sagemaker-operator")["rules"]
    )
    helm_pod = next(pod_specs(helm_docs))
    kustomize_pod = next(pod_specs(kustomize_docs))
    assert helm_pod["securityContext"] == kustomize_pod["securityContext"]
    (h,), (k,) = helm_pod["containers"], kustomize_pod["containers"]
    for key in ("securityContext", "resources", "startupProbe", "livenessProbe", "readinessProbe", "volumeMounts"):
        assert h[key] == k[key], key
    assert helm_pod["volumes"] == kustomize_pod["volumes"]
    assert h["image"] == k["image"]
    sa = one(helm_docs, "ServiceAccount")
    assert "annotations" not in sa["metadata"]  # no role yet: NOTES.txt says how to add it


def test_helm_values_reach_the_operator() -> None:
    role_arn = "arn:aws:iam::123456789012:role/sagemaker-operator-prod"
    docs = helm_render(
        {
            "image": {"repository": "123456789012.dkr.ecr.us-west-2.amazonaws.com/sagemaker-operator", "tag": "0.1.0"},
            "serviceAccount": {"roleArn": role_arn},
            "region": "eu-west-1",
            "sagemakerEndpoint": "https://api.sagemaker.eu-west-1.amazonaws.com",
            "pollInterval": 30,
            "resources": {"limits": {"memory": "512Mi", "cpu": None}},  # Helm merges maps; null removes a key
        }
    )
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role_arn}
    (container,) = next(pod_specs(docs))["containers"]
    assert container["image"] == "123456789012.dkr.ecr.us-west-2.amazonaws.com/sagemaker-operator:0.1.0"
    variables = env(container)
    assert variables["SAGEMAKER_OPERATOR_REGION"] == "eu-west-1"
    assert variables["SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT"] == "https://api.sagemaker.eu-west-1.amazonaws.com"
    assert variables["SAGEMAKER_OPERATOR_POLL_INTERVAL"] == "30"
    assert "SAGEMAKER_OPERATOR_NAMESPACE" not in variables and "SAGEMAKER_OPERATOR_PEERING" not in variables
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "176Mi"}, "limits": {"memory": "512Mi"}}


def test_helm_namespaced_with_peering_runs_two_replicas_with_rights_in_each_namespace() -> None:
    docs = helm_render({"watchNamespaces": ["team-a", "team-b"], "peering": {"enabled": True}, "replicas": 2})
    (deployment,) = of_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    variables = env(deployment["spec"]["template"]["spec"]["containers"][0])
    assert variables["SAGEMAKER_OPERATOR_NAMESPACE"] == "team-a team-b"
    assert variables["SAGEMAKER_OPERATOR_PEERING"] == "sagemaker-operator"
    roles = of_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for r in roles:
        peering = {("kopf.dev", "kopfpeerings", v) for v in READ | {"patch"}}
        assert grants(r["rules"]) == expected_serving(crd_plurals()) | peering
    # kopf's namespaced peering object lives in each served namespace, named as the operator's --peering.
    peerings = of_kind(docs, "KopfPeering")
    assert sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in peerings) == [
        ("team-a", "sagemaker-operator"),
        ("team-b", "sagemaker-operator"),
    ]
    (cluster_role,) = of_kind(docs, "ClusterRole")
    assert grants(cluster_role["rules"]) == CRDS_READ | NAMESPACES_READ


def test_helm_cluster_wide_peering_uses_a_cluster_peering() -> None:
    docs = helm_render({"peering": {"enabled": True, "name": "ha"}, "replicas": 2})
    assert [p["metadata"]["name"] for p in of_kind(docs, "ClusterKopfPeering")] == ["ha"]
    rules = grants(one(docs, "ClusterRole")["rules"])
    assert {("kopf.dev", "clusterkopfpeerings", v) for v in READ | {"patch"}} <= rules
    assert not any(resource == "kopfpeerings" for _, resource, _ in rules)


def test_helm_refuses_settings_that_would_break_the_operator() -> None:
    assert "needs peering.enabled=true" in helm_error({"replicas": 2})
    assert "must be an IAM role ARN" in helm_error({"serviceAccount": {"roleArn": "sagemaker-operator-prod"}})


def test_helm_chart_lints_clean() -> None:
    helm = pytest.importorskip("helm_python", reason="Helm renderer not installed")
    result = helm.lint(str(CHART))
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []  # severity 1 is INFO ("icon is recommended")
