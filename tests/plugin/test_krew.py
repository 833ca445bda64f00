"""The krew manifest and the launcher it ships stay in step with the plugin."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

import kubectl_plugin

KREW = Path(kubectl_plugin.__file__).parent / "krew"


def test_manifest_names_the_plugin_and_this_version() -> None:
    manifest = yaml.safe_load((KREW / "smlogs.yaml").read_text())
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert (manifest["kind"], manifest["metadata"]["name"]) == ("Plugin", "smlogs")
    assert manifest["spec"]["version"] == f"v{kubectl_plugin.__version__}"
    for platform in manifest["spec"]["platforms"]:
        assert platform["bin"] == "kubectl-smlogs"
        assert "kubectl-smlogs" in [entry["from"] for entry in platform["files"]]
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
        assert f"/v{kubectl_plugin.__version__}/" in platform["uri"]
    text = (KREW / "smlogs.yaml").read_text()
    assert text.count("RELEASE-TIME VALUE") >= 3, "placeholders are marked as such"


def test_launcher_installs_this_version_and_says_what_python_it_needs() -> None:
    launcher = KREW / "kubectl-smlogs"
    assert f"VERSION={kubectl_plugin.__version__}" in launcher.read_text()
    done = subprocess.run(
        ["sh", str(launcher), "tj", "x"],
        env={"PATH": "/usr/bin:/bin", "KUBECTL_SMLOGS_PYTHON": "no-such-python3"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "needs Python 3.11 or newer: 'no-such-python3' is missing or older" in done.stderr
