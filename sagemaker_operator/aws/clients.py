"""boto3 clients, one per (service, region, endpoint), made the same way for every kind.

Credentials always come from botocore's default chain, so in a pod with IRSA (``AWS_ROLE_ARN`` and
``AWS_WEB_IDENTITY_TOKEN_FILE`` injected by EKS) the operator calls SageMaker with the role's
temporary credentials from STS AssumeRoleWithWebIdentity, refreshed by botocore before they expire.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from sagemaker_operator import __version__
from sagemaker_operator.aws import errors

USER_AGENT = f"sagemaker-operator-k8s/{__version__}"


class ClientFactory:
    """Caches clients; boto3 clients are thread-safe, sessions are not, so creation is locked."""

    def __init__(
        self,
        default_region: str,
        default_endpoint: str | None = None,
        *,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.default_region = default_region
        self.default_endpoint = default_endpoint or None
        self._config = Config(
            # "standard" retries throttling and 5xx with exponential backoff and full jitter.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            user_agent_extra=USER_AGENT,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=errors.CALL_THREADS,  # one connection per thread that makes calls
        )
        self._session = boto3.session.Session()
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._lock = threading.Lock()

    def resolve(self, region: str | None, endpoint: str | None) -> tuple[str, str | None]:
        """The region and endpoint a resource uses: its own, else the operator's defaults."""
        return region or self.default_region, endpoint or self.default_endpoint

    def client(self, service: str, region: str | None = None, endpoint: str | None = None) -> Any:
        region, endpoint = self.resolve(region, endpoint)
        # The endpoint override is SageMaker's; other services keep AWS's (or AWS_ENDPOINT_URL_<SERVICE>).
        endpoint_url = endpoint if service == "sagemaker" else None
        key = (service, region, endpoint_url)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._session.client(
                    service, region_name=region, endpoint_url=endpoint_url, config=self._config
                )
                self._clients[key] = found
            return found

    def sagemaker(self, region: str | None = None, endpoint: str | None = None) -> Any:
        return self.client("sagemaker", region, endpoint)
