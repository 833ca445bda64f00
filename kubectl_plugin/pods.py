"""Pod logs for ``kubectl smlogs``: a TrainingJob that runs in the cluster (the TensorFlow fallback).

Such a job has no SageMaker job and no CloudWatch logs. Its replicas are Pods in the TrainingJob's
namespace, labelled with the TrainingJob's UID and their SageMaker host name (``algo-1`` ...), and a
replica's training output is the log of its ``train`` container (an init container in the pod whose
training decides the outcome, the main container in the others). :class:`PodLogs` makes each such
Pod one stream of the reader (:mod:`.reader`), so the time-ordered merge, ``--tail``, ``--since``,
``-p``, ``--timestamps``, following and the exit codes are the same as for CloudWatch.

Every read is one ``GET .../pods/NAME/log?container=train&timestamps=true``: the timestamps merge
the replicas in time order (and are printed with ``--timestamps``). A stream's cursor is the second
of the newest line taken and how many lines of the log, from that second on, were taken already:
the next read asks for ``sinceTime`` = that second and skips that many lines. The API server passes
``sinceTime`` on to the kubelet with whole seconds, so a finer cursor would not help; counting lines
rather than comparing timestamps makes it exact even when lines share a timestamp or a container's
stdout and stderr interleave slightly out of time order. ``--since`` is a ``sinceTime`` too (absolute,
so the node's clock and ours need not agree, unlike ``sinceSeconds``; the lines of its second that
are older than it are dropped here); ``--tail N`` is ``tailLines=N``. A read stops after 10,000 lines
(the answer is read as a stream and closed there), so a long log is held in memory one page at a time.
The API serves a container's current log file only: lines the kubelet rotated away (10 MiB files by
default) before they were read are not shown; a log found shorter than the cursor (rotated) is read
again from the cursor's second, and a rotation that is not seen so (the new file already longer)
skips as many of its first lines of that second as were taken from the old one.

Why polling rather than ``follow=true`` streams: a follow stream ends whenever the container exits
(the deciding pod's ``train`` is an init container), when an API server, a proxy or a load balancer
closes a long or idle connection, or when the network blips, and each time it must be resumed without
losing or repeating lines: that needs the very cursor above, so streams would only add a reconnect
loop and one blocked thread per replica that neither Ctrl-C nor the end of the job can interrupt
promptly. A container that has not started yet answers 400 ("waiting to start") either way. Polling
costs one small GET per replica per ``--poll-interval`` (1 s, backing off to 8 s while a replica is
quiet; replicas whose ``train`` container has terminated are read to the end once and then left
alone) and shows a line within one interval while its replica is busy, within 8 after a quiet spell.

Pods are found by listing the namespace's pods with ``training-job-uid=<uid>`` (read while following
every 5 intervals, so a replica that starts late is picked up). A pod deleted by the operator's
clean-up simply has no more log: its lines read so far stay printed, and nothing is said unless
nothing at all can be shown. Permissions: ``list`` on ``pods`` and ``get`` on ``pods/log``.
"""

from __future__ import annotations

import calendar
import contextlib
import re
import threading
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .cloudwatch import PAGE_LIMIT, Interrupted, LogSource, Notices, Page, RetryPolicy, StreamGone, StreamInfo
from .errors import SmlogsError
from .kinds import LABEL_HOST, LABEL_UID, TRAIN_CONTAINER
from .resolve import Cluster

ATTEMPTS = 5
"""Tries of a request that fails for a passing reason (throttling, 5xx, the connection) before moving on."""
_TIMESTAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ?")
_NOT_STARTED = ("waiting to start", "is not available", "does not have a host assigned", "PodInitializing")


class _Unanswered(Exception):
    """A log request got no log: the container has not started, or the request kept failing."""


@dataclass(frozen=True)
class PodStream(StreamInfo):
    """One replica: its Pod's ``train`` container."""

    namespace: str = ""
    pod_host: str = ""
    """The pod's ``sagemaker.aws.amazon.com/host`` label (``algo-1``), its name when unlabelled."""

    @property
    def host(self) -> str:
        return self.pod_host or self.name

    def matches_host(self, wanted: str) -> bool:
        """``-p algo-1`` selects algo-1, not algo-10; a pod's name (or its start) works too."""
        return any(_on_boundary(value, wanted) for value in (self.host, self.name))


@dataclass(frozen=True)
class _Line:
    ns: int
    """Nanoseconds since the epoch (0 when the line carried no timestamp)."""
    text: str

    @property
    def second(self) -> int:
        return self.ns // 1_000_000_000

    @property
    def ms(self) -> int:
        return self.ns // 1_000_000


@dataclass(frozen=True)
class Cursor:
    """Where the next forward read of a stream starts.

    ``since`` (whole seconds) is the ``sinceTime`` to ask for (None: from the start). In ``count``
    mode, the first ``skip`` lines of that answer were taken already. After a ``--tail``, whose answer
    holds only the newest lines, positions are unknown: ``after_ns`` mode skips the lines older than
    the newest line printed and the first ``skip`` of those stamped exactly like it.
    """

    since: int | None = None
    skip: int = 0
    after_ns: int | None = None

    def encode(self) -> str:
        since = "" if self.since is None else str(self.since)
        after = "" if self.after_ns is None else str(self.after_ns)
        return f"{since}:{self.skip}:{after}"

    @classmethod
    def decode(cls, token: str | None, start_ms: int | None) -> Cursor:
        if not token:
            return cls(None if start_ms is None else start_ms // 1000)
        since, skip, after = token.split(":")
        return cls(int(since) if since else None, int(skip), int(after) if after else None)


class PodLogs:
    """The log backend of a TrainingJob that runs in the cluster: its Pods, through the Kubernetes API."""

    def __init__(self, cluster: Cluster, notices: Notices, retry: RetryPolicy, stop: threading.Event) -> None:
        self.cluster = cluster
        self.notices = notices
        self.retry = retry
        self.stop = stop
        self.waiting: dict[str, str] = {}
        """Pods whose ``train`` container has not started: the API server's words, by pod name."""
        self.unreadable: dict[str, str] = {}
        """Pods whose last read failed after every retry (5xx, throttling, no connection), by pod name."""

    @property
    def endpoint(self) -> str:
        return str(self.cluster.server)

    # -- finding the replicas ---------------------------------------------------------------------

    def discover(self, sources: Sequence[LogSource]) -> tuple[list[StreamInfo], list[str]]:
        """The Pods of each source's TrainingJob (UID in ``prefix``) that have a ``train`` container."""
        streams: list[StreamInfo] = []
        for source in sources:
            pods = self._list_pods(source.prefix)
            for pod in pods:
                meta, spec = _mapping(pod.get("metadata")), _mapping(pod.get("spec"))
                names = [c.get("name") for key in ("initContainers", "containers") for c in spec.get(key) or []]
                if TRAIN_CONTAINER not in names or not meta.get("name"):
                    continue
                ended = LogSource(source.group, source.prefix, source.job, _terminated(pod))
                streams.append(
                    PodStream(
                        ended,
                        str(meta["name"]),
                        namespace=str(meta.get("namespace") or self.cluster.namespace),
                        pod_host=str(_mapping(meta.get("labels")).get(LABEL_HOST) or ""),
                    )
                )
        streams.sort(key=lambda s: (_natural(s.label), s.name))
        return streams, []

    def _list_pods(self, uid: str) -> list[Mapping[str, Any]]:
        from lightkube.resources.core_v1 import Pod

        params = {"labelSelector": f"{LABEL_UID}={uid}"}
        where = f"pods in {self.cluster.where()}"
        with self._request("list", Pod, None, params, where) as response:
            if response is None:
                return []
            response.read()
            items = response.json().get("items") or []
        return [item for item in items if isinstance(item, Mapping)]

    # -- reading ----------------------------------------------------------------------------------

    def read_forward(self, stream: StreamInfo, token: str | None, start_ms: int | None) -> Page:
        """The lines after the cursor ``token`` (from the start, or from ``start_ms``, when None)."""
        cursor = Cursor.decode(token, start_ms)
        params = _params()
        if cursor.since is not None:
            params["sinceTime"] = _rfc3339(cursor.since)
        seconds: list[int] = []  # of every line of the answer, taken or skipped
        taken: list[_Line] = []
        last = -1  # index (in the answer) of the last line taken
        same = 0  # lines stamped exactly cursor.after_ns, seen so far
        complete = True
        try:
            with contextlib.closing(self._lines(stream, params)) as lines:  # a page cut short closes the response
                for index, line in enumerate(lines):
                    seconds.append(line.second)
                    if cursor.after_ns is not None:
                        if line.ns == cursor.after_ns and same < cursor.skip:
                            same += 1
                            continue
                        if line.ns < cursor.after_ns:
                            continue
                    elif index < cursor.skip:
                        continue
                    if len(taken) == PAGE_LIMIT:
                        complete = False
                        break
                    taken.append(line)
                    last = index
        except _Unanswered:  # not started yet, or no answer for now: the cursor stays where it is
            return Page([], token or "", "", True)
        events = [(line.ms, line.text) for line in taken if start_ms is None or line.ms >= start_ms]
        if not taken:
            if cursor.after_ns is None and cursor.skip > len(seconds):
                # Fewer lines from that second than were taken before: the kubelet rotated the log, and the
                # lines of the new file are all new. Read them (at once, unless following).
                return Page([], Cursor(cursor.since, 0).encode(), "", False)
            return Page([], token or "", "", True)
        since = max(cursor.since if cursor.since is not None else -1, taken[-1].second)
        skip = sum(1 for second in seconds[: last + 1] if second >= since)
        return Page(events, Cursor(since, skip).encode(), "", complete)

    def read_backward(self, stream: StreamInfo, token: str | None, start_ms: int | None, limit: int) -> Page:
        """The ``limit`` lines before the ``token`` newest ones already returned (``tailLines``)."""
        newer = int(token or 0)
        params = _params()
        params["tailLines"] = str(newer + limit)
        if start_ms is not None:
            params["sinceTime"] = _rfc3339(start_ms // 1000)
        try:
            lines = list(self._lines(stream, params))
        except _Unanswered:  # nothing read: the next forward read starts from the beginning (or --since)
            return Page([], Cursor.decode(None, start_ms).encode(), str(newer), True)
        older = lines[: max(0, len(lines) - newer)]
        events = [(line.ms, line.text) for line in older if start_ms is None or line.ms >= start_ms]
        complete = len(lines) < newer + limit
        if lines:
            newest = lines[-1]
            forward = Cursor(newest.second, sum(1 for line in lines if line.ns == newest.ns), newest.ns)
        else:
            forward = Cursor.decode(None, start_ms)
        return Page(events, forward.encode(), str(newer + len(older)), complete)

    def gone_notice(self, stream: StreamInfo) -> str | None:
        """Nothing: a deleted pod (the operator's clean-up) simply has no more log."""
        return None

    def _lines(self, stream: StreamInfo, params: dict[str, str]) -> Generator[_Line, None, None]:
        """The answer's lines, parsed as they arrive; closing the generator closes the response."""
        from lightkube.resources.core_v1 import PodLog

        label = f"{stream.name} ({stream.label})" if stream.label != stream.name else stream.name
        with self._request("get", PodLog, stream.name, params, f"pods/{stream.name}/log", label) as response:
            if response is None:
                raise _Unanswered()
            self.waiting.pop(stream.name, None)
            self.unreadable.pop(stream.name, None)
            parser = _Parser()
            rest = b""
            for chunk in response.iter_bytes():
                rest += chunk
                *complete, rest = rest.split(b"\n")
                for raw in complete:
                    yield parser.parse(raw)
            if rest:
                yield parser.parse(rest)

    # -- requests and their errors ----------------------------------------------------------------

    def _request(
        self, verb: str, resource: Any, name: str | None, params: dict[str, str], what: str, pod: str | None = None
    ) -> _Response:
        return _Response(self, verb, resource, name, params, what, pod)

    def _send(self, verb: str, resource: Any, name: str | None, params: dict[str, str]) -> Any:
        generic = self.cluster.client._client  # lightkube's request plumbing: Client.log() cannot ask for sinceTime
        request = generic.build_adapter_request(
            generic.prepare_request(verb, resource, name=name, namespace=self.cluster.namespace, params=params)
        )
        return generic.send(request, stream=True)

    def _wait(self, attempt: int) -> None:
        if self.stop.wait(self.retry.delay(attempt)):
            raise Interrupted()


class _Response:
    """One request, retried while it fails for a passing reason; the context is the open response.

    Yields None when the answer means "nothing to read" (the container has not started, or the request
    kept failing for a passing reason), raises :class:`StreamGone` for a deleted pod and
    :class:`SmlogsError` for what the user must fix (RBAC, a bad kubeconfig).
    """

    def __init__(
        self,
        logs: PodLogs,
        verb: str,
        resource: Any,
        name: str | None,
        params: dict[str, str],
        what: str,
        pod: str | None,
    ) -> None:
        self.logs, self.verb, self.resource, self.name, self.params = logs, verb, resource, name, params
        self.what, self.pod = what, pod
        self.response: Any = None

    def __enter__(self) -> Any:
        import httpx2
        from lightkube.core.exceptions import ConfigError

        logs, cluster = self.logs, self.logs.cluster
        for attempt in range(ATTEMPTS):
            if logs.stop.is_set():
                raise Interrupted()
            try:
                response = logs._send(self.verb, self.resource, self.name, self.params)
            except ConfigError as exc:
                raise SmlogsError(f"kubeconfig context {cluster.context!r}: {exc}") from None
            except httpx2.TransportError as exc:
                problem = f"cannot reach the Kubernetes API at {cluster.server} ({exc})"
            else:
                if not response.is_error:
                    self.response = response
                    return response
                response.read()
                code, message = response.status_code, _message(response)
                response.close()
                if code == 404 and self.pod is not None:
                    raise StreamGone(message)
                if code in (401, 403):
                    raise SmlogsError(self._denied(message))
                if code == 400 and self.pod is not None and any(words in message for words in _NOT_STARTED):
                    logs.waiting[self.name or ""] = message
                    return None
                if code != 429 and code < 500:
                    raise SmlogsError(f"reading {self.what} in {cluster.where()}: {code} {message}")
                problem = f"the Kubernetes API answers {code} ({message})"
            if attempt + 1 < ATTEMPTS:
                logs.notices.now_and_then("kube-retry", f"{problem}; backing off and retrying")
                logs._wait(attempt)
        if self.pod is None:
            raise SmlogsError(f"listing {self.what}: {problem}")
        logs.unreadable[self.name or ""] = problem
        logs.notices.now_and_then(f"unreadable:{self.name}", f"cannot read the log of pod {self.pod}: {problem}")
        return None

    def __exit__(self, *exc_info: Any) -> None:
        if self.response is not None:
            self.response.close()

    def _denied(self, message: str) -> str:
        cluster = self.logs.cluster
        if self.verb == "list":
            what = f"list pods in {cluster.where()}"
        else:
            what = f"get pods/log ({self.name}) in {cluster.where()}"
        return (
            f"not allowed to {what}: {message}. This TrainingJob runs in the cluster, so kubectl smlogs reads its "
            "replicas' Pod logs: it needs the RBAC verbs list on pods and get on pods/log in that namespace"
        )


class _Parser:
    """``<RFC 3339 timestamp> <text>`` lines; the epoch second of the last stamp seen is cached."""

    def __init__(self) -> None:
        self._stamp = b""
        self._second = 0
        self._previous = 0

    def parse(self, raw: bytes) -> _Line:
        match = _TIMESTAMP.match(raw)
        if match is None:  # not stamped (cannot happen with timestamps=true): keep the order, take the last time
            return _Line(self._previous, raw.decode("utf-8", "replace"))
        stamp = match[1] + match[3]
        if stamp != self._stamp:
            self._stamp, self._second = stamp, _epoch_second(match[1], match[3])
        fraction = match[2] or b""
        ns = self._second * 1_000_000_000 + (int(fraction.ljust(9, b"0")) if fraction else 0)
        self._previous = ns
        return _Line(ns, raw[match.end() :].decode("utf-8", "replace"))


def _epoch_second(moment: bytes, zone: bytes) -> int:
    text = moment.decode()
    second = calendar.timegm(
        (int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]), int(text[17:19]))
    )
    if zone != b"Z":
        sign = -1 if zone[:1] == b"+" else 1
        second += sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return second


def _params() -> dict[str, str]:
    return {"container": TRAIN_CONTAINER, "timestamps": "true"}


def _rfc3339(second: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def _terminated(pod: Mapping[str, Any]) -> bool:
    """The pod's ``train`` container has exited: its log is complete."""
    status = _mapping(pod.get("status"))
    for key in ("initContainerStatuses", "containerStatuses"):
        for item in status.get(key) or []:
            if isinstance(item, Mapping) and item.get("name") == TRAIN_CONTAINER:
                return bool(_mapping(item.get("state")).get("terminated"))
    return False


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])
    return response.text.strip() or response.reason_phrase


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _natural(text: str) -> tuple[Any, ...]:
    """``algo-2`` before ``algo-10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _on_boundary(value: str, prefix: str) -> bool:
    if not prefix or not value.startswith(prefix):
        return False
    return len(value) == len(prefix) or prefix[-1] in "-/_." or value[len(prefix)] in "-/_."
