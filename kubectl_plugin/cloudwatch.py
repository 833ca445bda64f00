"""CloudWatch Logs for ``kubectl smlogs``: stream discovery, one page per call, retries and errors.

Each stream is read with GetLogEvents and its forward token, up to 10,000 events a call, so a stream
costs about one call per 10,000 events and no time window is ever read twice. The end of what a
stream holds right now is known from the token coming back unchanged (what AWS documents), or,
saving that extra call, from a page that is not full and reaches the stream's ``lastEventTimestamp``
as DescribeLogStreams reported it just before.

Throttling and 5xx answers are retried here rather than by botocore, with full-jitter exponential
back-off, without limit and with a one-line notice on stderr, so a busy account slows the plugin
down but never makes it drop lines or give up silently.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectTimeoutError as BotoConnectTimeoutError,
)

from .errors import SmlogsError

PAGE_LIMIT = 10_000
"""GetLogEvents' largest page (in events)."""
PAGE_BYTES = 1_048_576
"""GetLogEvents' largest page (in bytes); a page near it may be cut short with more to come."""
EVENT_OVERHEAD = 26
"""Bytes CloudWatch counts per event besides its message."""
DESCRIBE_LIMIT = 50

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
TRANSIENT_CODES = frozenset(
    {"ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalServerError", "RequestTimeout"}
)
ACCESS_DENIED_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnauthorizedException", "NotAuthorized"}
)
BAD_CREDENTIALS_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
_CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, BotoConnectTimeoutError)
_CONNECTION_ATTEMPTS = 5
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
_EPOCH_SUFFIX = re.compile(r"-\d{10}(?=/|$)")


class Interrupted(Exception):
    """Raised in a worker thread that was waiting to retry when the run is being stopped."""


class StreamGone(Exception):
    """A stream disappeared while being read (its log group's retention expired it)."""


@dataclass(frozen=True)
class LogSource:
    """Where one job logs: a log group and the stream name prefix of its instances."""

    group: str
    prefix: str
    job: str | None = None
    """Set when lines are labelled with the job too (the training jobs of a tuning job)."""
    ended: bool = False
    """The job has ended (a tuning job's finished training job): read its streams to the end, then stop."""


@dataclass(frozen=True)
class StreamInfo:
    source: LogSource
    name: str
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    """As DescribeLogStreams reported; AWS updates it lazily, so it is a hint, never a bound."""

    @property
    def host(self) -> str:
        """The instance part of the stream name, without the epoch SageMaker appends (``algo-1``)."""
        suffix = self.name[len(self.source.prefix) :] or self.name
        return _EPOCH_SUFFIX.sub("", suffix) or suffix

    @property
    def label(self) -> str:
        return f"{self.source.job}/{self.host}" if self.source.job else self.host

    def matches_host(self, wanted: str) -> bool:
        """``-p``: ``algo-1`` selects ``algo-1`` (not ``algo-10``); a job name selects its instances."""
        suffix = self.name[len(self.source.prefix) :]
        return any(_prefix_on_boundary(value, wanted) for value in (self.host, suffix, self.label, self.name))


@dataclass(frozen=True)
class Page:
    events: list[tuple[int, str]]
    """(timestamp in ms, message), oldest first."""
    forward_token: str
    backward_token: str
    complete: bool
    """Forward: nothing after this page right now. Backward: nothing before it."""


def _prefix_on_boundary(value: str, prefix: str) -> bool:
    if not prefix or not value.startswith(prefix):
        return False
    return len(value) == len(prefix) or prefix[-1] in "-/_." or value[len(prefix)] in "-/_."


def _short(events: Sequence[tuple[int, str]], limit: int) -> bool:
    """True for a page that neither count nor size could have cut short."""
    if len(events) >= limit:
        return False
    size = sum(len(message.encode("utf-8", "replace")) + EVENT_OVERHEAD for _, message in events)
    return size < PAGE_BYTES // 2


def is_aws_endpoint(url: str | None) -> bool:
    host = (urlparse(url).hostname or "") if url else ""
    return host.endswith(_AWS_HOSTS)


class Notices:
    """One-line messages on stderr, each kind of trouble said once rather than on every retry."""

    def __init__(self, write: Callable[[str], None], repeat_after: float = 30.0) -> None:
        self._write = write
        self._said: dict[str, float] = {}
        self._repeat_after = repeat_after
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        with self._lock:
            self._write(f"smlogs: {message}\n")

    def once(self, key: str, message: str) -> None:
        """Say ``message`` the first time ``key`` comes up."""
        with self._lock:
            if key in self._said:
                return
            self._said[key] = time.monotonic()
            self._write(f"smlogs: {message}\n")

    def now_and_then(self, key: str, message: str) -> None:
        """Say ``message`` unless the same ``key`` was said in the last ``repeat_after`` seconds."""
        with self._lock:
            now = time.monotonic()
            if now - self._said.get(key, -self._repeat_after - 1) <= self._repeat_after:
                return
            self._said[key] = now
            self._write(f"smlogs: {message}\n")


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 0.25
    cap: float = 10.0

    def delay(self, attempt: int) -> float:
        """Full jitter: spreads retries of concurrent readers instead of having them collide again."""
        return random.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30)))


class AwsCaller:
    """Calls one AWS client's operations, retrying throttling and outages, naming what went wrong."""

    def __init__(
        self,
        make_client: Callable[[], Any],
        service: str,
        notices: Notices,
        retry: RetryPolicy,
        stop: threading.Event,
    ) -> None:
        self._make_client = make_client
        self.service = service
        self.notices = notices
        self.retry = retry
        self.stop = stop

    @cached_property
    def client(self) -> Any:
        """Made on first use: loading a service model takes a while (SageMaker's is large)."""
        return self._make_client()

    def __call__(self, operation: str, resource: str, **params: Any) -> dict[str, Any]:
        """Call ``operation``; ``resource`` names what it reads, for messages and IAM hints."""
        try:
            method = getattr(self.client, _snake(operation))
        except BotoCoreError as exc:
            raise SmlogsError(f"AWS configuration for {self._display}: {exc}") from None
        attempt = connection_failures = 0
        while True:
            if self.stop.is_set():
                raise Interrupted()
            try:
                response: dict[str, Any] = method(**params)
                return response
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if code in THROTTLING_CODES or code in TRANSIENT_CODES or status >= 500:
                    what = "throttling" if code in THROTTLING_CODES else f"failing ({code or status}) on"
                    self.notices.now_and_then(
                        f"retry:{self.service}",
                        f"{self._display} is {what} {operation} requests; backing off and retrying",
                    )
                    self._wait(attempt)
                    attempt += 1
                    continue
                raise self._client_error(exc, code, operation, resource) from None
            except _CONNECTION_ERRORS as exc:
                connection_failures += 1
                if connection_failures >= _CONNECTION_ATTEMPTS:
                    raise SmlogsError(f"cannot reach {self._display} at {self._endpoint}: {exc}") from None
                self._wait(connection_failures)
            except NoCredentialsError:
                raise SmlogsError(
                    "no AWS credentials found: pass --profile, set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                    "AWS_SECRET_ACCESS_KEY, or log in (aws sso login, aws configure)"
                ) from None
            except BotoCoreError as exc:
                raise SmlogsError(f"{self._display} {operation} failed: {exc}") from None

    @property
    def _display(self) -> str:
        return {"logs": "CloudWatch Logs", "sagemaker": "SageMaker"}.get(self.service, self.service)

    @property
    def _endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    def _wait(self, attempt: int) -> None:
        if self.stop.wait(self.retry.delay(attempt)):
            raise Interrupted()

    def _client_error(self, exc: ClientError, code: str, operation: str, resource: str) -> Exception:
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        if code in ACCESS_DENIED_CODES:
            needs = (
                " (kubectl smlogs reads with logs:DescribeLogStreams and logs:GetLogEvents on the log groups "
                "/aws/sagemaker/*)"
                if self.service == "logs"
                else ""
            )
            return SmlogsError(
                f"access denied to {self.service}:{operation} on {resource} ({message}). Your AWS identity needs "
                f"the IAM permission {self.service}:{operation} in region {self.client.meta.region_name}{needs}."
            )
        if code in BAD_CREDENTIALS_CODES:
            return SmlogsError(
                f"{self._display} at {self._endpoint} rejected the AWS credentials ({code}: {message}); "
                "check --profile / AWS_PROFILE and that the credentials have not expired"
            )
        if code == "ResourceNotFoundException":
            return StreamGone(message)
        return SmlogsError(f"{self._display} {operation} on {resource} failed: {code}: {message}")


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


class CloudWatchLogs:
    """The log backend the reader uses: find a job's streams, read one page of one stream.

    One of the places a job may log (:class:`~.reader.LogBackend`); the other is the Pods of a
    TrainingJob that runs in the cluster (:class:`~.pods.PodLogs`).
    """

    def __init__(self, call: AwsCaller) -> None:
        self.call = call

    @property
    def endpoint(self) -> str:
        return str(self.call.client.meta.endpoint_url)

    def gone_notice(self, stream: StreamInfo) -> str | None:
        return f"log stream {stream.name} disappeared while being read; skipping it"

    def discover(self, sources: Sequence[LogSource]) -> tuple[list[StreamInfo], list[str]]:
        """The streams of ``sources`` (name order) and the log groups that do not exist yet.

        Sources sharing a log group and a long common prefix (a tuning job's training jobs are
        ``<tuning job>-<nnn>-<id>``) are listed with one paginated DescribeLogStreams.
        """
        streams: list[StreamInfo] = []
        missing: list[str] = []
        by_group: dict[str, list[LogSource]] = {}
        for source in sources:
            by_group.setdefault(source.group, []).append(source)
        for group, members in by_group.items():
            try:
                for listed in self._list_streams(group, _listing_prefixes([m.prefix for m in members])):
                    name = str(listed["logStreamName"])
                    owner = max(
                        (m for m in members if name.startswith(m.prefix)),
                        key=lambda m: len(m.prefix),
                        default=None,
                    )
                    if owner is not None:
                        streams.append(
                            StreamInfo(owner, name, listed.get("firstEventTimestamp"), listed.get("lastEventTimestamp"))
                        )
            except StreamGone:
                missing.append(group)
        streams.sort(key=lambda s: (s.label, s.name))
        return streams, missing

    def _list_streams(self, group: str, prefixes: Iterable[str]) -> Iterable[dict[str, Any]]:
        for prefix in prefixes:
            params: dict[str, Any] = {"logGroupName": group, "limit": DESCRIBE_LIMIT}
            if prefix:
                params["logStreamNamePrefix"] = prefix
            while True:
                page = self.call("DescribeLogStreams", f"log group {group}", **params)
                yield from page.get("logStreams") or []
                token = page.get("nextToken")
                if not token or token == params.get("nextToken"):
                    break
                params["nextToken"] = token

    def read_forward(self, stream: StreamInfo, token: str | None, start_ms: int | None) -> Page:
        """The next page after ``token`` (from the head, or from ``start_ms``, when None)."""
        page = self._get(stream, token, start_ms, from_head=True, limit=PAGE_LIMIT)
        events, forward = page.events, page.forward_token
        complete = forward == token or (
            bool(events)
            and _short(events, PAGE_LIMIT)
            and stream.last_event_ms is not None
            and events[-1][0] >= stream.last_event_ms
        )
        return Page(events, forward, page.backward_token, complete)

    def read_backward(self, stream: StreamInfo, token: str | None, start_ms: int | None, limit: int) -> Page:
        """The page before ``token`` (the newest page when None), at most ``limit`` events."""
        page = self._get(stream, token, start_ms, from_head=False, limit=limit)
        events, backward = page.events, page.backward_token
        complete = (
            backward == token
            or not events
            or (
                _short(events, limit)
                and stream.first_event_ms is not None
                and events[0][0] <= max(stream.first_event_ms, start_ms or 0)
            )
        )
        return Page(events, page.forward_token, backward, complete)

    def _get(self, stream: StreamInfo, token: str | None, start_ms: int | None, from_head: bool, limit: int) -> Page:
        params: dict[str, Any] = {
            "logGroupName": stream.source.group,
            "logStreamName": stream.name,
            "startFromHead": from_head,
            "limit": limit,
        }
        if token is not None:
            params["nextToken"] = token
        if start_ms is not None:
            # Sent with every page, not only the first: a token is a position within this query.
            params["startTime"] = start_ms
        response = self.call("GetLogEvents", f"log stream {stream.source.group}:{stream.name}", **params)
        events = [(int(e["timestamp"]), str(e.get("message", ""))) for e in response.get("events") or []]
        return Page(
            events,
            str(response.get("nextForwardToken") or token or ""),
            str(response.get("nextBackwardToken") or token or ""),
            False,
        )


def _listing_prefixes(prefixes: Sequence[str]) -> list[str]:
    """One shared prefix when it narrows the listing enough, else one listing per prefix."""
    unique = sorted(set(prefixes))
    if len(unique) == 1:
        return unique
    common = _common_prefix(unique)
    # "tune-0" for tune-001-ab12cd34/ ... tune-042-ef56ab78/; "j" for job-a/ and jam-b/ would list too much.
    if common and len(common) * 4 >= min(len(p) for p in unique):
        return [common]
    return unique


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)  # the sorted extremes differ first where all of them do
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]


def new_callers(
    *,
    region: str | None,
    profile: str | None,
    logs_endpoint: str | None,
    sagemaker_endpoint: str | None,
    notices: Notices,
    retry: RetryPolicy,
    stop: threading.Event,
    max_connections: int,
) -> tuple[AwsCaller, AwsCaller]:
    """CloudWatch Logs and SageMaker callers; botocore's own retries are off (we retry, visibly)."""
    import boto3
    from botocore.config import Config

    from . import __version__

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=max(10, max_connections),
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra=f"kubectl-smlogs/{__version__}",
    )
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        if not session.region_name:
            raise SmlogsError(
                "no AWS region: the resource has no status.region or spec.region; pass --region or set AWS_REGION"
            )
        logs = AwsCaller(
            lambda: session.client("logs", endpoint_url=logs_endpoint, config=config), "logs", notices, retry, stop
        )
        logs.client  # noqa: B018  (made now, so configuration errors surface here)
    except NoRegionError as exc:
        raise SmlogsError(f"no AWS region: {exc}; pass --region") from None
    except BotoCoreError as exc:  # an unknown --profile, a broken AWS config file
        raise SmlogsError(f"AWS configuration: {exc}") from None
    sagemaker = AwsCaller(
        lambda: session.client("sagemaker", endpoint_url=sagemaker_endpoint, config=config),
        "sagemaker",
        notices,
        retry,
        stop,
    )
    return logs, sagemaker
