"""Kubeconfig login for the operator, including exec plugins as EKS uses them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sagemaker_operator.kube.login import KubeconfigError, connection_info


def write_kubeconfig(path: Path, user: dict, current: str = "eks") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [
            {
                "name": "eks",
                "cluster": {"server": "https://example.eks.amazonaws.com", "certificate-authority-data": "Q0E="},
            }
        ],
        "users": [{"name": "me", "user": user}],
        "contexts": [
            {"name": "eks", "context": {"cluster": "eks", "user": "me", "namespace": "ml"}},
            {"name": "other", "context": {"cluster": "eks", "user": "me"}},
        ],
    }
    path.write_text(json.dumps(config))
    return path


def test_exec_plugin_token_is_used(tmp_path: Path) -> None:
    plugin = tmp_path / "get-token.py"
    credential = {
        "kind": "ExecCredential",
        "status": {"token": "k8s-aws-v1.abc", "expirationTimestamp": "2030-01-01T00:00:00Z"},
    }
    plugin.write_text(f"import json, os\nassert os.environ['AWS_PROFILE'] == 'ml'\nprint(json.dumps({credential!r}))\n")
    user = {"exec": {"command": sys.executable, "args": [str(plugin)], "env": [{"name": "AWS_PROFILE", "value": "ml"}]}}
    info = connection_info(str(write_kubeconfig(tmp_path / "config", user)))
    assert info.server == "https://example.eks.amazonaws.com"
    assert info.token == "k8s-aws-v1.abc"
    assert info.ca_data == "Q0E="
    assert info.default_namespace == "ml"


def test_a_context_can_be_chosen(tmp_path: Path) -> None:
    info = connection_info(str(write_kubeconfig(tmp_path / "config", {"token": "t"})), context="other")
    assert info.token == "t" and info.default_namespace is None


@pytest.mark.parametrize(
    ("user", "context", "message"),
    [
        ({"exec": {"command": "/nonexistent/aws-iam-authenticator"}}, None, "exec plugin not found"),
        (
            {"exec": {"command": sys.executable, "args": ["-c", "import sys; sys.exit('denied')"]}},
            None,
            "failed: denied",
        ),
        ({"token": "t"}, "missing", "context 'missing' not found"),
    ],
)
def test_unusable_kubeconfigs_say_why(tmp_path: Path, user: dict, context: str | None, message: str) -> None:
    with pytest.raises(KubeconfigError, match=message):
        connection_info(str(write_kubeconfig(tmp_path / "config", user)), context=context)
