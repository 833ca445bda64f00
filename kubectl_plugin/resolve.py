"""From ``KIND NAME`` to what to read: the custom resource, through the Kubernetes API (lightkube).

The kubeconfig is found like kubectl finds it (``--kubeconfig``, else ``$KUBECONFIG`` with its files
merged, else ``~/.kube/config``, else the in-cluster service account); exec plugins such as
``aws eks get-token`` work. The resource's status names the SageMaker job, its region and the
endpoint the operator used; :func:`log_sources` turns that into CloudWatch log groups and prefixes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cloudwatch import AwsCaller, LogSource, is_aws_endpoint
from .errors import SmlogsError
from .kinds import (
    ENDPOINT_LOG_GROUP_PREFIX,
    GROUP,
    HOSTING_DEPLOYMENT,
    TRAINING_JOB,
    TRAINING_LOG_GROUP,
    TRANSFORM_JOB,
    TRANSFORM_LOG_GROUP,
    TUNING_JOB,
    VERSION,
    Child,
    Kind,
    View,
)


@dataclass(frozen=True)
class KubeOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


class Cluster:
    """A Kubernetes API connection and the namespace to look in."""

    def __init__(self, options: KubeOptions) -> None:
        from lightkube import Client
        from lightkube.core.exceptions import ConfigError

        try:
            config = _load_config(options.kubeconfig)
            single = config.get(options.context)
        except ConfigError as exc:
            raise SmlogsError(f"kubeconfig: {exc}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SmlogsError(f"kubeconfig: cannot read it ({exc})") from None
        if single is None:  # pragma: no cover - lightkube raises instead
            raise SmlogsError("kubeconfig: no context")
        self.context = single.context_name
        self.server = single.cluster.server
        self.namespace = options.namespace or single.namespace
        try:
            self.client = Client(single, namespace=self.namespace)
        except ConfigError as exc:
            raise SmlogsError(f"kubeconfig context {self.context!r}: {exc}") from None
        except AssertionError as exc:  # lightkube asserts a user entry exists
            raise SmlogsError(f"kubeconfig context {self.context!r}: {exc or 'incomplete'}") from None

    def where(self) -> str:
        return f'namespace "{self.namespace}" (context "{self.context}")'

    def get(self, kind: Kind, name: str) -> Mapping[str, Any] | None:
        """The resource as a plain dict; None once it is deleted (or never existed)."""
        import httpx2
        from lightkube.core.exceptions import ApiError, ConfigError

        resource = _generic_resource(kind)
        try:
            obj = self.client.get(resource, name=name, namespace=self.namespace)
        except ApiError as exc:
            status = exc.status
            details = status.details
            if status.code == 404 and details is not None and details.name:
                return None
            if status.code == 404:
                raise SmlogsError(
                    f"the Kubernetes API at {self.server} does not serve {kind.plural}.{GROUP}/{VERSION} "
                    f"(context {self.context!r}): are the operator's CRDs installed? (kubectl apply -f crds/)"
                ) from None
            if status.code in (401, 403):
                raise SmlogsError(
                    f"not allowed to get {kind.plural}/{name} in {self.where()}: {status.message}"
                ) from None
            raise SmlogsError(f"getting {kind.singular}/{name} in {self.where()}: {status.message}") from None
        except ConfigError as exc:  # e.g. the kubeconfig's exec plugin failed (it runs on the first request)
            raise SmlogsError(f"kubeconfig context {self.context!r}: {exc}") from None
        except httpx2.HTTPError as exc:
            raise SmlogsError(
                f"cannot reach the Kubernetes API at {self.server} (context {self.context!r}): {exc}"
            ) from None
        return dict(obj)


def _generic_resource(kind: Kind) -> Any:
    from lightkube.generic_resource import create_namespaced_resource

    return create_namespaced_resource(GROUP, VERSION, kind.kind, kind.plural)


def _load_config(path: str | None) -> Any:
    """kubectl's lookup: an explicit file, the merged $KUBECONFIG list, ~/.kube/config, in-cluster."""
    from lightkube import KubeConfig

    if path:
        return KubeConfig.from_file(Path(path).expanduser())
    env = os.environ.get("KUBECONFIG")
    paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()] if env else []
    if not paths:
        default = Path("~/.kube/config").expanduser()
        if not default.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return KubeConfig.from_service_account()
        paths = [default]
    existing = [p for p in paths if p.exists()]
    if not existing:
        raise SmlogsError(f"no kubeconfig found at {os.pathsep.join(map(str, paths))}; pass --kubeconfig")
    if len(existing) == 1:
        return KubeConfig.from_file(existing[0])
    return KubeConfig.from_dict(_merge_kubeconfigs(existing), fname=existing[0])


def _merge_kubeconfigs(paths: list[Path]) -> dict[str, Any]:
    """kubectl's merge: the first file to define a name (or the current context) wins."""
    import yaml

    merged: dict[str, Any] = {"current-context": None, "clusters": [], "contexts": [], "users": []}
    seen: dict[str, set[str]] = {"clusters": set(), "contexts": set(), "users": set()}
    for path in paths:
        config = yaml.safe_load(path.read_text()) or {}
        merged["current-context"] = merged["current-context"] or config.get("current-context")
        for section in seen:
            for item in config.get(section) or []:
                if item.get("name") not in seen[section]:
                    seen[section].add(item.get("name"))
                    merged[section].append(item)
    return merged


# -- what to read ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsOverrides:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    """SageMaker and CloudWatch Logs (the simulator serves both)."""
    logs_endpoint_url: str | None = None


@dataclass(frozen=True)
class AwsTarget:
    region: str | None
    sagemaker_endpoint: str | None
    logs_endpoint: str | None
    """None: botocore's default (which honours AWS_ENDPOINT_URL_LOGS and AWS_ENDPOINT_URL)."""


def aws_target(view: View, overrides: AwsOverrides) -> AwsTarget:
    """Region and endpoints: flags first, then the resource, then the AWS configuration.

    CloudWatch Logs follows the resource's ``sageMakerEndpoint`` only when that is not an AWS
    host: a simulator or LocalStack serves both APIs on one URL, a SageMaker VPC endpoint does not.
    """
    sagemaker = overrides.endpoint_url or view.endpoint
    logs = overrides.logs_endpoint_url or overrides.endpoint_url
    if logs is None and not os.environ.get("AWS_ENDPOINT_URL_LOGS") and view.endpoint:
        logs = None if is_aws_endpoint(view.endpoint) else view.endpoint
    return AwsTarget(overrides.region or view.region, sagemaker, logs)


POD_LOGS = "pods"
"""The :class:`~.cloudwatch.LogSource` group of a job's Pods (the source's prefix is the TrainingJob's UID)."""


def log_sources(
    kind: Kind, view: View, list_children: Callable[[str], tuple[Child, ...]] | None = None
) -> list[LogSource]:
    """The log groups and stream prefixes of a resource's SageMaker job (or endpoint).

    A TrainingJob that runs in the cluster (the TF fallback) has one source: its Pods, found by the
    TrainingJob's UID (:mod:`.pods`, the backend :mod:`.session` picks for it).
    """
    if view.local:
        return [LogSource(POD_LOGS, view.uid)] if view.uid else []
    name = view.sagemaker_name
    if name is None:
        return []
    if kind is HOSTING_DEPLOYMENT:
        return [LogSource(f"{ENDPOINT_LOG_GROUP_PREFIX}{name}", "")]
    if kind is TRANSFORM_JOB:
        return [LogSource(TRANSFORM_LOG_GROUP, f"{name}/")]
    if kind is TUNING_JOB:
        children = view.children
        if children is None and list_children is not None:
            children = list_children(name)
        return [
            LogSource(TRAINING_LOG_GROUP, f"{child.name}/", child.name, TRAINING_JOB.outcome(child.status) is not None)
            for child in children or ()
        ]
    return [LogSource(TRAINING_LOG_GROUP, f"{name}/")]


def tuning_children(call: AwsCaller) -> Callable[[str], tuple[Child, ...]]:
    """ListTrainingJobsForHyperParameterTuningJob, for a tuning job whose status lists no children."""

    def list_children(tuning_job: str) -> tuple[Child, ...]:
        return tuple(_children_pages(call, tuning_job))

    return list_children


def _children_pages(call: AwsCaller, tuning_job: str) -> Iterator[Child]:
    params: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job, "MaxResults": 100}
    while True:
        page = call("ListTrainingJobsForHyperParameterTuningJob", f"hyperparameter tuning job {tuning_job}", **params)
        for summary in page.get("TrainingJobSummaries") or []:
            yield Child(str(summary["TrainingJobName"]), summary.get("TrainingJobStatus"))
        token = page.get("NextToken")
        if not token:
            return
        params["NextToken"] = token
