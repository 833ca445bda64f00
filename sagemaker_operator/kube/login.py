"""Credentials for the Kubernetes API from a kubeconfig, including ``exec`` plugins.

kopf's built-in kubeconfig login reads static tokens and certificates only, but an EKS kubeconfig
authenticates with ``exec: aws eks get-token``. This reads the chosen context and runs its exec
plugin (the client.authentication.k8s.io ExecCredential protocol), so ``sagemaker-operator run``
and ``demo --kubeconfig`` work from a laptop against EKS. kopf calls the login again on HTTP 401,
which refreshes an expired token.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kopf
import yaml


class KubeconfigError(Exception):
    """A kubeconfig that cannot be used; the message says which file, context or field."""


def kubeconfig_paths(explicit: str | None = None) -> list[Path]:
    value = explicit or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def load_merged(paths: list[Path]) -> dict[str, Any]:
    """Merge kubeconfig files the way kubectl does: the first definition of a name wins."""
    merged: dict[str, Any] = {"current-context": None, "contexts": {}, "clusters": {}, "users": {}}
    for path in paths:
        if not path.exists():
            continue
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise KubeconfigError(f"{path}: not valid YAML ({exc})") from exc
        merged["current-context"] = merged["current-context"] or config.get("current-context")
        for section, key in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for item in config.get(section) or []:
                merged[section].setdefault(item["name"], item.get(key) or {})
    return merged


def connection_info(kubeconfig: str | None = None, context: str | None = None) -> kopf.ConnectionInfo:
    paths = kubeconfig_paths(kubeconfig)
    config = load_merged(paths)
    name = context or config["current-context"]
    where = ", ".join(str(p) for p in paths)
    if not name:
        raise KubeconfigError(f"no current context in {where}; pass --context")
    if name not in config["contexts"]:
        known = ", ".join(sorted(config["contexts"])) or "none"
        raise KubeconfigError(f"context {name!r} not found in {where} (known: {known})")
    ctx = config["contexts"][name]
    cluster = config["clusters"].get(ctx.get("cluster"))
    if not cluster or not cluster.get("server"):
        raise KubeconfigError(f"context {name!r}: cluster {ctx.get('cluster')!r} has no server")
    user = config["users"].get(ctx.get("user"), {})
    exec_creds = _run_exec_plugin(user["exec"]) if user.get("exec") else {}
    return kopf.ConnectionInfo(
        server=cluster["server"],
        ca_path=cluster.get("certificate-authority"),
        ca_data=cluster.get("certificate-authority-data"),
        insecure=cluster.get("insecure-skip-tls-verify"),
        certificate_path=user.get("client-certificate"),
        certificate_data=exec_creds.get("clientCertificateData") or user.get("client-certificate-data"),
        private_key_path=user.get("client-key"),
        private_key_data=exec_creds.get("clientKeyData") or user.get("client-key-data"),
        token=exec_creds.get("token") or user.get("token") or _token_file(user),
        username=user.get("username"),
        password=user.get("password"),
        default_namespace=ctx.get("namespace"),
        proxy_url=cluster.get("proxy-url"),
    )


def _token_file(user: dict[str, Any]) -> str | None:
    path = user.get("tokenFile")
    return Path(path).expanduser().read_text().strip() if path else None


def _run_exec_plugin(spec: dict[str, Any]) -> dict[str, Any]:
    command = [spec["command"], *(spec.get("args") or [])]
    env = dict(os.environ)
    env.update({item["name"]: item["value"] for item in spec.get("env") or []})
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as exc:
        hint = spec.get("installHint") or f"install {spec['command']!r} or fix the kubeconfig's exec command"
        raise KubeconfigError(f"kubeconfig exec plugin not found: {spec['command']} ({hint})") from exc
    if done.returncode != 0:
        raise KubeconfigError(f"kubeconfig exec plugin {' '.join(command)} failed: {done.stderr.strip()[:500]}")
    try:
        status: dict[str, Any] = json.loads(done.stdout).get("status") or {}
    except json.JSONDecodeError as exc:
        raise KubeconfigError(f"kubeconfig exec plugin {command[0]} printed no ExecCredential JSON") from exc
    return status
