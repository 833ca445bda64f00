"""What every SageMaker operation handler shares: request identity, the handler registry, JSON.

A resource kind (training, tuning and transform jobs; models, endpoint configurations, endpoints) lives
in its own module and registers one function per operation with :func:`sagemaker_operation`. A handler
receives the simulator, a :class:`RequestContext` and the already validated request parameters, and
returns the response as a dict (datetimes allowed) or :data:`PASS_TO_MOTO` to let moto answer instead.
It raises :class:`~sagemaker_operator.simulator.errors.SageMakerError` for errors. The HTTP plumbing
around it (parsing, validation, faults, counting, serialisation) lives in ``app.py`` and is written once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .core import Simulator

DEFAULT_REGION = "us-east-1"

# "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-west-2/sagemaker/aws4_request, SignedHeaders=..."
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

# JSON-protocol target prefixes (unsigned requests carry no credential scope to name the service).
_TARGET_SERVICES = {"SageMaker": "sagemaker", "Logs_20140328": "logs"}
_UNSIGNED_ACTIONS = {"AssumeRoleWithWebIdentity": "sts", "AssumeRoleWithSAML": "sts"}


@dataclass(frozen=True)
class RequestInfo:
    """Who called which operation of which service in which region (None when unknown)."""

    service: str
    operation: str
    region: str
    access_key_id: str | None
    json_target: bool
    """True when the request named its operation in X-Amz-Target (JSON protocol)."""


@dataclass(frozen=True)
class RequestContext:
    """What a handler needs to know about the caller."""

    account_id: str
    region: str
    access_key_id: str | None


class _PassToMoto:
    def __repr__(self) -> str:
        return "PASS_TO_MOTO"


PASS_TO_MOTO: Final = _PassToMoto()
"""Returned by a handler to let moto answer the request (e.g. tags of a resource moto owns)."""

HandlerResult = dict[str, Any] | _PassToMoto
Handler = Callable[["Simulator", RequestContext, dict[str, Any]], HandlerResult]

HANDLERS: dict[str, Handler] = {}
"""SageMaker operation name -> handler; filled by the resource-kind modules when imported."""


def sagemaker_operation(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the simulator's handler for SageMaker operation ``name``."""

    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise ValueError(f"two handlers for SageMaker operation {name}")
        HANDLERS[name] = handler
        return handler

    return register


def parse_request(
    environ: dict[str, Any],
    body: bytes | None,
    rest_operation: Callable[[str, dict[str, Any]], str | None] | None = None,
) -> RequestInfo:
    """Identify an AWS request from its SigV4 credential scope, X-Amz-Target or Action parameter.

    ``rest_operation(service, environ)`` names the operation when the protocol carries it in neither
    place (REST protocols such as S3's); failing that, the HTTP method stands in for it.
    """
    access_key = None
    service = region = None
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        access_key, region, service = match.group(1), match.group(2), match.group(3).lower()
    if access_key is None:
        query_key = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if query_key:  # presigned URL
            parts = query_key[0].split("/")
            if len(parts) == 5:
                access_key, region, service = parts[0], parts[2], parts[3].lower()

    operation = None
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if "." in target:
        prefix, operation = target.split(".", 1)
        service = service or _TARGET_SERVICES.get(prefix, prefix.lower())
    else:
        action = _action(environ, body)
        if action:
            operation = action
            service = service or _UNSIGNED_ACTIONS.get(action)
        elif service and rest_operation is not None:
            operation = rest_operation(service, environ)
    return RequestInfo(
        service=service or "unknown",
        operation=operation or environ.get("REQUEST_METHOD", "GET"),
        region=region or DEFAULT_REGION,
        access_key_id=access_key,
        json_target=bool(target),
    )


def _action(environ: dict[str, Any], body: bytes | None) -> str | None:
    """The Action parameter of a query-protocol request (STS, IAM), from the query string or form."""
    for source in (environ.get("QUERY_STRING", ""), (body or b"").decode("utf-8", "replace")):
        values = parse_qs(source).get("Action")
        if values:
            return values[0]
    return None


def account_for(access_key_id: str | None, environ: dict[str, Any]) -> str:
    """The account a request acts in, decided the way moto decides it, so logs land where clients read."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return str(environ["HTTP_X_MOTO_ACCOUNT_ID"])
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key_id) if access_key_id else DEFAULT_ACCOUNT_ID


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()  # the JSON protocol's timestamp format: epoch seconds
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dump_json(document: Any) -> bytes:
    return json.dumps(document, default=_json_default).encode("utf-8")
