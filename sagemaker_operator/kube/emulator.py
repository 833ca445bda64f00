"""An in-process Kubernetes API server, good enough to run the real kopf reactor against it.

Used by the end-to-end tests and by ``sagemaker-operator demo`` (no cluster needed)::

    async with serve_emulator(crds=[crd]) as kube:               # or, the same thing:
        ...                                                      # async with KubeEmulator() as kube,
                                                                 #            kmock.Server(kube): ...
    # kube.url serves the API over HTTP; kube.objects[...] holds every object's history;
    # run kopf against it with sagemaker_operator.kube.running.run_operator(str(kube.url)).

It is a subclass of kmock's ``KubernetesEmulator`` (kmock 0.8, by kopf's author). kmock serves
discovery, records requests (``list(kube)``), keeps object histories and lets a test inject
faults (``kube['patch', kmock.name('x')] << 500`` wins over the emulation). This class
replaces kmock's object logic, which kopf stalls on, with the API server's semantics that
kopf and kubectl-like clients rely on:

* Resources: the builtins (kmock's bundled list: namespaces, events, CRDs...) and every CRD,
  registered with ``register_crd()`` or by creating a CustomResourceDefinition through the API.
* One resourceVersion counter for all objects (etcd's revision). Every write bumps it.
* Create: uid, creationTimestamp, generation, generateName, 409 AlreadyExists, 400 for a
  body whose apiVersion, kind or namespace contradicts the URL.
* Update: merge-patch (strategic merge patch is treated as merge patch: lists are replaced),
  JSON patch (a failed ``test`` is 422, as kopf expects for its optimistic finalizer
  patches), PUT (resourceVersion required, 409 Conflict when stale). The status subresource
  splits writes: the main resource ignores ``.status``, ``/status`` changes only ``.status``.
  generation grows on changes outside metadata (and outside status when it is a
  subresource). An update that changes nothing writes nothing, as in Kubernetes.
* Delete: finalizers hold the object with a deletionTimestamp; it disappears when the last
  finalizer is removed. Deleting a CRD deletes its objects at once.
* List and watch: label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors
  (equality on any dotted path, e.g. ``metadata.name`` or ``involvedObject.uid``); a watch
  replays events after ``?resourceVersion=`` from a bounded history (410 Gone when older),
  subscribes before it takes its snapshot so no event is lost, honours ``timeoutSeconds``
  and ``sendInitialEvents``, and ends when the HTTP server stops (so shutdown never hangs).
* Namespaces exist on demand: any namespace can be fetched, and one is created when the
  first object in it is.
* CEL ``x-kubernetes-validations`` of a CRD's schema run on create and update (see
  :mod:`sagemaker_operator.kube.cel`); a failing rule is a 422 ``Invalid`` worded like the
  API server's, and the object stays unchanged.
* Pod logs: no kubelet runs here, so a test writes a container's lines with
  :meth:`KubeEmulator.append_pod_log` and ``GET .../pods/NAME/log`` serves them as the API
  server would (``container``, ``timestamps``, ``sinceSeconds``, ``sinceTime``, ``tailLines``,
  ``limitBytes``, ``follow``; see :meth:`KubeEmulator.append_pod_log` for the details), and
  :meth:`KubeEmulator.rotate_pod_log` rotates a log as the kubelet would.

What it does NOT check or do (a real API server does; test those separately):
OpenAPI schema validation (types, required, enums, patterns, min/max, unknown-field pruning
and strict field validation), name syntax (DNS-1123), defaulting, RBAC and authentication,
admission webhooks, server-side apply (``application/apply-patch+yaml`` is refused with
415), dry runs, list pagination (``limit`` is ignored), object size limits, garbage
collection of dependents via ownerReferences, cascading deletion of a namespace's objects,
finalizers of a deleted CRD's objects, conversion between CRD versions (each served version
is stored separately), watch bookmarks other than the end of initial events, DELETED
events for objects that merely stop matching a watch's selector, and of pod logs: previous
containers' logs (``previous`` is ignored), rotation by size (only when a test asks for it), and
nodes (a pod needs no node).
Every version of every object is kept (kmock's history), so memory grows with writes. Use it
from one event loop (``append_pod_log`` and ``rotate_pod_log`` excepted).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import copy
import datetime
import json
import re
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock

from sagemaker_operator.kube import cel

NAMESPACES = kmock.resource("", "v1", "namespaces")
CRDS = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
PODS = kmock.resource("", "v1", "pods")
CRD_VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

_NAMESPACE_PATH = re.compile(r"/api/v1/namespaces(?:/(?P<name>[^/]+)(?:/(?P<sub>status|finalize))?)?/?")
_SERVER_POLL = 0.5  # seconds: how soon a watch-stream notices that no server serves it any more
_NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # as the API server's generateName
_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)
_Event = tuple[int, dict[str, Any]]  # (resourceVersion, watch event)
_ROUTING: contextvars.ContextVar[kmock.Request | None] = contextvars.ContextVar("kube_emulator_routing", default=None)
_Key = tuple[kmock.resource, str | None, str]
_LogKey = tuple[str, str, str]  # (namespace, pod, container)
_LogLine = tuple[int, str]  # (nanoseconds since the epoch, the line without its newline)
_NANO = 1_000_000_000
_GO_TRUE, _GO_FALSE = {"1", "t", "T", "TRUE", "true", "True"}, {"0", "f", "F", "FALSE", "false", "False"}
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)", re.IGNORECASE)


def api_error(status: int, reason: str, message: str, **details: Any) -> kmock.KubernetesError:
    """A Kubernetes ``Status`` failure, as clients (kopf's APIError classes) parse it."""
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=details or {})


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """kmock's Kubernetes emulator with the API server semantics that kopf needs."""

    crds: Iterable[Mapping[str, Any]] = ()
    history_limit: int = 1000  # watch events kept per resource for ?resourceVersion= replays
    # Requests kept for assertions (kmock's list): a long run (the demo, benchmarks) keeps only the latest
    # ones, so memory stays flat; None keeps all (tests asserting on requests).
    request_log_limit: int | None = None

    _revision: int = attrs.field(default=0, init=False)
    _history: dict[kmock.resource, collections.deque[_Event]] = attrs.field(factory=dict, init=False)
    _compacted: dict[kmock.resource, int] = attrs.field(factory=dict, init=False)
    _watchers: dict[kmock.resource, set[asyncio.Queue[_Event | None]]] = attrs.field(
        factory=lambda: collections.defaultdict(set), init=False
    )
    _rules: dict[kmock.resource, cel.SchemaRules | None] = attrs.field(factory=dict, init=False)
    # Pod logs may be written from another thread than the loop's (the plugin tests do): a lock, and
    # followers woken through their loop.
    _pod_logs: dict[_LogKey, list[_LogLine]] = attrs.field(factory=dict, init=False)
    _pod_logs_lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _log_followers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()  # kmock's discovery endpoints and fallback handlers (ours)
        self.fallback[kmock.method.PUT] << self._serve_replace
        with warnings.catch_warnings():  # kmock 0.8 uses importlib.resources.read_binary()
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resources.load_bundled()
        self._create(NAMESPACES, None, {"metadata": {"name": "default"}})
        for crd in self.crds:
            self.register_crd(crd)

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close_watches()
        await super().__aexit__(*exc_info)

    # ----------------------------------------------------------------- public API

    def register_crd(self, crd: Mapping[str, Any]) -> list[kmock.resource]:
        """Create (or replace) a CustomResourceDefinition, as ``kubectl apply`` would.

        Returns the resources of its served versions. Raises ``ValueError`` for a CRD the
        API server would reject (missing names, a CEL rule that does not parse).
        """
        name = crd.get("metadata", {}).get("name") or _crd_name(crd)
        body = {**copy.deepcopy(dict(crd)), "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}
        body["metadata"] = {**body.get("metadata", {}), "name": name}
        try:
            if (old := self._live((CRDS, None, name))) is None:
                self._create(CRDS, None, body)
            else:
                body["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                self._update(CRDS, None, name, None, lambda _: body)
        except kmock.KubernetesError as exc:
            raise ValueError(exc.message) from None
        return self._crd_resources(body)

    def create_object(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object from a manifest without HTTP (its apiVersion and kind say where)."""
        resource = self.resource_for(body.get("apiVersion", ""), body.get("kind", ""))
        info = self.resources[resource]
        namespace = (body.get("metadata", {}).get("namespace") or "default") if info.namespaced else None
        return self._create(resource, namespace, body)

    def resource_for(self, api_version: str, kind: str) -> kmock.resource:
        """The resource that serves a kind, e.g. ``('sagemaker.aws.amazon.com/v1', 'TrainingJob')``."""
        group, _, version = api_version.rpartition("/")
        for resource in self.resources:
            if (resource.group, resource.version, self.resources[resource].kind) == (group, version, kind):
                return resource
        raise LookupError(f"no resource serves {kind} in {api_version}")

    def list_objects(
        self,
        resource: str | kmock.resource,
        namespace: str | None = None,
    ) -> list[dict[str, Any]]:
        """The live objects of a resource (all namespaces unless one is given), oldest first."""
        wanted = kmock.resource(resource)
        return [copy.deepcopy(body) for (res, ns, _), body in self._all() if res == wanted and namespace in (None, ns)]

    def events_for(
        self,
        name: str,
        namespace: str | None = None,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """The core/v1 Events about an object, oldest first (what ``kubectl describe`` shows)."""
        return [
            event
            for event in self.list_objects("v1/events", namespace)
            if event.get("involvedObject", {}).get("name") == name
            and kind in (None, event.get("involvedObject", {}).get("kind"))
        ]

    def close_watches(self) -> None:
        """End every open watch-stream, e.g. before the HTTP server shuts down."""
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(None)

    @property
    def resource_version(self) -> str:
        """The current revision: what a list would answer now."""
        return str(self._revision)

    def append_pod_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        lines: Iterable[str | tuple[datetime.datetime, str]],
    ) -> None:
        """Write lines to a container's log, as if the container printed them (no kubelet runs here).

        Each line is a string (stamped with the current time) or ``(time, text)``, the time being the
        one the container runtime stamps (an aware datetime; a naive one is taken as UTC). A line holds
        no newline. The pod must exist and have the container (init or regular), else ``LookupError``.
        Deleting the pod deletes its logs. Safe to call from a thread other than the emulator's loop.

        ``GET /api/v1/namespaces/NS/pods/NAME/log`` then answers as the API server does:

        * ``container``: may be left out only for a pod with one container; an unknown one is 400
          ``container X is not valid for pod P``. A container has started once something was written
          to its log or the pod's status says it runs or ran; before that the answer is 400 ``container
          "X" in pod "P" is waiting to start: REASON`` (the status' waiting reason, else ContainerCreating).
        * ``timestamps=true`` prefixes each line with its time, RFC 3339 in UTC with nanoseconds
          (``2024-05-01T12:00:00.123456789Z line``), as the kubelet does.
        * ``sinceSeconds`` (back from now) or ``sinceTime`` (RFC 3339, which the API server passes on to
          the kubelet with second precision: the fraction is dropped) keep the lines stamped at or after
          it; both at once is a 422. ``tailLines`` keeps the last N lines, before ``since`` applies (the
          kubelet's order); ``limitBytes`` cuts the answer after that many bytes, mid-line if need be.
        * ``follow=true`` sends what is there, then keeps the response open and streams lines as they
          are appended, until the pod is deleted, the pod's status says the container terminated (as
          the kubelet stops at the container's exit), ``limitBytes`` is reached, the client goes away
          or the server stops. ``previous`` is ignored (there are no previous containers).
        * A missing pod is 404 ``pods "P" not found``.
        """
        body = self._live((PODS, namespace, pod))
        if body is None:
            raise LookupError(f'pods "{pod}" not found in namespace {namespace!r}')
        if container not in [name for names in _container_names(body) for name in names]:
            raise LookupError(f"container {container} is not valid for pod {pod}")
        stamped: list[_LogLine] = []
        for line in lines:
            when, text = (datetime.datetime.now(datetime.UTC), line) if isinstance(line, str) else line
            if "\n" in text:
                raise ValueError(f"a log line holds no newline: {text!r}")
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.UTC)
            stamped.append((_epoch_ns(when), text))
        with self._pod_logs_lock:
            self._pod_logs.setdefault((namespace, pod, container), []).extend(stamped)
        self._wake_log_followers()

    def rotate_pod_log(self, namespace: str, pod: str, container: str) -> None:
        """Rotate a container's log as the kubelet does: the lines so far are no longer served.

        The API serves a container's current log file only; what comes next is appended to a new,
        empty one. Followers already streaming keep reading the new file.
        """
        with self._pod_logs_lock:
            key = (namespace, pod, container)
            if key not in self._pod_logs:
                raise LookupError(f"container {container} of pod {pod} in namespace {namespace!r} has no log")
            self._pod_logs[key] = []

    # ----------------------------------------------------------------- HTTP plumbing

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock 0.8 fails to parse /api/v1/namespaces and reads /api/v1/namespaces/NAME as the
        # prefix of a namespaced URL, so namespace objects are parsed here; the rest goes to kmock.
        match = _NAMESPACE_PATH.fullmatch(raw_request.path)
        if match is None:
            return await super().__call__(raw_request)
        request = await _parse_namespace_request(raw_request, match, request_id=len(self._requests))
        self._requests.append(request)
        try:
            return await self._handle(request)
        except Exception as exc:  # as kmock does: report it to the client and keep it for the test
            if self._errors:
                self._errors[-1].append(exc)
            return await self._render_error(exc)

    def __iter__(self) -> Iterator[kmock.Request]:
        routed = _ROUTING.get()
        if routed is not None:  # see _handle()
            yield routed
            return
        yield from super().__iter__()

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Skip kmock's own state-changing _handle(): our fallback handlers below do it.
        # User-defined reactions (kube['...'] << ...) still take precedence over them.
        if self.request_log_limit is not None and len(self._requests) > self.request_log_limit:
            del self._requests[: len(self._requests) - self.request_log_limit]
        # kmock finds a request's reaction by asking each reaction's filter "is this request among the ones
        # you see?", which walks the whole request log: every request would cost O(log) filter checks, and
        # a busy operator saturates the CPU. While this task routes, the log it sees is the request alone
        # (criteria filters judge one request at a time; slice filters such as kube[...][:2] are not used
        # here and would not count across requests).
        token = _ROUTING.set(request)
        try:
            return await super(kmock.KubernetesEmulator, self)._handle(request)
        except kmock.KubernetesError as exc:  # an answer of the API, not a failure of the emulator
            return await self._render_error(exc)
        finally:
            _ROUTING.reset(token)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if not isinstance(exc, kmock.KubernetesError):
            return await super()._render_error(exc)  # an emulator bug: kmock adds the traceback
        status = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": exc.status,
            "reason": exc.reason,
            "message": exc.message,
        }
        # Exactly "application/json", as the API server sends: clients (lightkube) compare the header verbatim.
        return aiohttp.web.Response(
            body=json.dumps({**status, "details": exc.details} if exc.details else status).encode(),
            status=exc.status,
            content_type="application/json",
        )

    async def _serve_list(self, request: kmock.Request) -> kmock.Payload:
        resource = self._known(request)
        items = [body for key, body in self._all() if self._selected(request, key, body)]
        return kmock.Response(
            status=200,
            payload={
                "apiVersion": _api_version(resource),
                "kind": f"{self._info(resource).kind or 'Object'}List",
                "metadata": {"resourceVersion": str(self._revision)},
                "items": items,
            },
        )

    async def _serve_fetch(self, request: kmock.Request) -> kmock.Payload:
        resource, namespace, name = self._address(request)
        if resource == PODS and request.subresource == "log" and namespace is not None:
            return self._serve_pod_log(request, namespace, name)
        if request.subresource not in (None, "status"):
            raise _not_found(resource, name)
        body = self._live((resource, namespace, name))
        if body is None and resource == NAMESPACES:  # any namespace exists
            body = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        if body is None:
            raise _not_found(resource, name)
        return kmock.Response(status=200, payload=body)

    async def _serve_create(self, request: kmock.Request) -> kmock.Payload:
        resource = self._known(request)
        namespace = request.namespace
        if (namespace is not None) != self._namespaced(resource, request) or request.subresource:
            raise _not_found(resource, None)
        if not isinstance(request.data, Mapping):
            raise api_error(400, "BadRequest", "the request body must be a JSON object")
        return kmock.Response(status=201, payload=self._create(resource, namespace, request.data))

    async def _serve_update(self, request: kmock.Request) -> kmock.Payload:
        resource, namespace, name = self._address(request)
        content_type = _header(request, "Content-Type").split(";")[0].strip()
        patch = request.data
        mutate: Callable[[dict[str, Any]], Any]
        if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(patch, Mapping):
                raise api_error(400, "BadRequest", "a merge patch must be a JSON object")
            mutate = lambda old: merge_patch(old, patch)  # noqa: E731
        elif content_type == "application/json-patch+json":
            if not isinstance(patch, list):
                raise api_error(400, "BadRequest", "a JSON patch must be a JSON array of operations")
            mutate = lambda old: _json_patch(old, patch)  # noqa: E731
        else:
            raise api_error(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json-patch+json, application/merge-patch+json "
                f"(got {content_type!r})",
            )
        body = self._update(resource, namespace, name, request.subresource, mutate)
        return kmock.Response(status=200, payload=body)

    async def _serve_replace(self, request: kmock.Request) -> kmock.Payload:
        resource, namespace, name = self._address(request)
        new = request.data
        if not isinstance(new, Mapping):
            raise api_error(400, "BadRequest", "the request body must be a JSON object")
        if (new.get("metadata") or {}).get("name", name) != name:
            raise api_error(
                400,
                "BadRequest",
                f"the name of the object ({new['metadata']['name']}) does not match the name on the URL ({name})",
            )
        body = self._update(resource, namespace, name, request.subresource, lambda _: copy.deepcopy(new), replace=True)
        return kmock.Response(status=200, payload=body)

    async def _serve_delete(self, request: kmock.Request) -> kmock.Payload:
        resource, namespace, name = self._address(request)
        options = request.data if isinstance(request.data, Mapping) else {}
        return kmock.Response(status=200, payload=self._delete(resource, namespace, name, options))

    # kmock's is an async generator; ours returns one, so that a bad request is a plain HTTP error.
    async def _serve_watch(self, request: kmock.Request) -> kmock.Payload:  # type: ignore[override]
        resource = self._known(request)
        since = request.params.get("resourceVersion") or None
        initial = since in (None, "0") or request.params.get("sendInitialEvents") == "true"
        if since is not None and not since.isdigit():
            raise api_error(400, "BadRequest", f"invalid resource version: {since!r}")
        try:
            timeout = float(request.params["timeoutSeconds"]) if "timeoutSeconds" in request.params else None
        except ValueError:
            raise api_error(400, "BadRequest", "invalid timeoutSeconds") from None
        return self._stream(request, resource, int(since or 0), initial, timeout)

    async def _stream(
        self, request: kmock.Request, resource: kmock.resource, since: int, initial: bool, timeout: float | None
    ) -> AsyncIterator[kmock.Payload]:
        """Replay (or synthesize) the past events and then stream live ones, no gap between them."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        queue: asyncio.Queue[_Event | None] = asyncio.Queue()
        self._watchers[resource].add(queue)  # subscribe and snapshot with no await in between
        try:
            past: list[_Event]
            if initial:
                past = [
                    (self._revision, {"type": "ADDED", "object": body})
                    for key, body in self._all()
                    if key[0] == resource
                ]
            elif since < self._compacted.get(resource, 0):
                yield b""  # the API server answers 200 and an ERROR event in the stream
                yield {
                    "type": "ERROR",
                    "object": {
                        "apiVersion": "v1",
                        "kind": "Status",
                        "metadata": {},
                        "status": "Failure",
                        "reason": "Expired",
                        "code": 410,
                        "message": f"too old resource version: {since} ({self._compacted[resource]})",
                    },
                }
                return
            else:
                past = [item for item in self._history.get(resource, ()) if item[0] > since]
            yield b""  # send the headers now: the client waits for them before reading events
            for _, event in past:
                if self._selected(request, _key_of(resource, event["object"]), event["object"]):
                    yield event
            if initial and request.params.get("sendInitialEvents") == "true":
                yield {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": self._info(resource).kind,
                        "apiVersion": _api_version(resource),
                        "metadata": {
                            "resourceVersion": str(self._revision),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                }
            while True:
                remaining = _SERVER_POLL if deadline is None else deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return
                try:
                    item = await asyncio.wait_for(queue.get(), min(remaining, _SERVER_POLL))
                except TimeoutError:
                    if not self.servers:  # kmock.Server exits before it waits for its handlers
                        return
                    continue
                if item is None:  # close_watches()
                    return
                version, event = item
                if version > since and self._selected(request, _key_of(resource, event["object"]), event["object"]):
                    yield event
        finally:
            self._watchers[resource].discard(queue)

    # ----------------------------------------------------------------- pod logs

    def _serve_pod_log(self, request: kmock.Request, namespace: str, name: str) -> kmock.Payload:
        pod = self._live((PODS, namespace, name))
        if pod is None:
            raise _not_found(PODS, name)
        options = _LogOptions.parse(request.params, name)
        container = _log_container(pod, options.container)
        key = (namespace, name, container)
        with self._pod_logs_lock:
            log = self._pod_logs.get(key)  # the current file; rotate_pod_log() starts another one
            lines = list(log or ())
        _check_started(pod, container, log is not None)
        total = len(lines)
        if options.tail is not None:
            lines = lines[len(lines) - options.tail :] if options.tail else []
        since = options.since_ns()
        text = b"".join(options.render(line) for line in lines if line[0] >= since)
        if options.limit_bytes is not None:
            text = text[: options.limit_bytes]
        headers = {"Content-Type": "text/plain"}
        if not options.follow:
            return kmock.Response(status=200, payload=text, headers=headers)
        uid = pod["metadata"]["uid"]
        stream = self._follow_pod_log(request, key, uid, log, total, since, options, text)
        return kmock.Response(status=200, payload=stream, headers=headers)

    async def _follow_pod_log(
        self,
        request: kmock.Request,
        key: _LogKey,
        uid: str,
        log: list[_LogLine] | None,
        start: int,
        since: int,
        options: _LogOptions,
        first: bytes,
    ) -> AsyncIterator[bytes]:
        """What was there (``first``), then the lines appended to ``log`` after index ``start`` (and to the
        files that replace it), as they come."""
        budget = None if options.limit_bytes is None else options.limit_bytes - len(first)
        yield first  # even when empty: sends the headers, as the API server does at once
        follower = (asyncio.get_running_loop(), asyncio.Event())
        with self._pod_logs_lock:
            self._log_followers.add(follower)
        raw = request._raw_request
        try:
            while budget is None or budget > 0:
                follower[1].clear()
                with self._pod_logs_lock:
                    if self._pod_logs.get(key) is not log:  # written for the first time, or rotated
                        log, start = self._pod_logs.get(key), 0
                    new = (log or [])[start:]
                start += len(new)
                chunk = b"".join(options.render(line) for line in new if line[0] >= since)
                if budget is not None:
                    chunk, budget = chunk[:budget], budget - len(chunk)
                if chunk:
                    yield chunk
                pod = self._live((PODS, key[0], key[1]))
                if pod is None or pod["metadata"]["uid"] != uid or (not new and _terminated(pod, key[2])):
                    return
                if not self.servers or raw is None or raw.transport is None or raw.transport.is_closing():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(follower[1].wait(), _SERVER_POLL)
        finally:
            with self._pod_logs_lock:
                self._log_followers.discard(follower)

    def _wake_log_followers(self) -> None:
        with self._pod_logs_lock:
            followers = list(self._log_followers)
        for loop, event in followers:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    # ----------------------------------------------------------------- state transitions

    def _create(
        self,
        resource: kmock.resource,
        namespace: str | None,
        data: Mapping[str, Any],
    ) -> dict[str, Any]:
        info = self._info(resource)
        body = copy.deepcopy(dict(data))
        self._check_type(resource, body)
        meta = body.get("metadata")
        if meta is None:
            meta = body["metadata"] = {}
        if not isinstance(meta, dict):
            raise api_error(400, "BadRequest", "metadata must be an object")
        if meta.get("namespace") not in (None, "", namespace) and namespace is not None:
            raise api_error(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        name = meta.get("name") or self._generate_name(resource, namespace, meta.get("generateName"))
        if not name:
            raise self._invalid(resource, "", ["metadata.name: Required value: name or generateName is required"])
        if self._live((resource, namespace, name)) is not None:
            raise api_error(
                409,
                "AlreadyExists",
                f'{_qualified(resource)} "{name}" already exists',
                name=name,
                group=resource.group,
                kind=resource.plural,
            )
        if "status" in info.subresources:
            body.pop("status", None)  # the status is written through /status only
        for field in _SERVER_FIELDS:
            meta.pop(field, None)
        meta["name"] = name
        if namespace is not None:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        body = {"apiVersion": _api_version(resource), "kind": info.kind, **body}  # kopf's Events omit them
        if not body["kind"]:
            del body["kind"]
        if resource == NAMESPACES:
            body["status"] = {"phase": "Active"}
        if resource == CRDS:
            self._compile_crd(body)
            body["status"] = _crd_status(body)
        self._validate(resource, body, None)
        if namespace and self._live((NAMESPACES, None, namespace)) is None:
            self._create(NAMESPACES, None, {"metadata": {"name": namespace}})
        self._write((resource, namespace, name), body, "ADDED")
        if resource == CRDS:
            self._register_crd(body)
        return body

    def _update(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        subresource: str | None,
        mutate: Callable[[dict[str, Any]], Any],
        *,
        replace: bool = False,
    ) -> dict[str, Any]:
        info = self._info(resource)
        key = (resource, namespace, name)
        old = self._live(key)
        if (
            old is None
            or subresource not in (None, "status")
            or (subresource == "status" and "status" not in info.subresources)
        ):
            raise _not_found(resource, name)
        candidate = mutate(copy.deepcopy(old))
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata", {}), dict):
            raise self._invalid(resource, name, ["metadata: Invalid value: must be an object"])
        if subresource is None:
            self._check_type(resource, candidate)
        version = candidate.get("metadata", {}).get("resourceVersion")
        if replace and not version:
            raise self._invalid(
                resource, name, ["metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"]
            )
        if version is not None and str(version) != old["metadata"]["resourceVersion"]:
            raise api_error(
                409,
                "Conflict",
                f"Operation cannot be fulfilled on {_qualified(resource)} "
                f'"{name}": the object has been modified; please apply your '
                f"changes to the latest version and try again",
                name=name,
                group=resource.group,
                kind=resource.plural,
            )

        new = copy.deepcopy(old)
        if subresource == "status":  # only the status changes through /status
            _copy_key(candidate, new, "status")
        else:
            new = candidate
            new.setdefault("metadata", {})
            for field in ("apiVersion", "kind"):
                _copy_key(old, new, field)
            for field in ("name", "namespace", *_SERVER_FIELDS):
                _copy_key(old["metadata"], new["metadata"], field)
            if "status" in info.subresources:
                _copy_key(old, new, "status")
        if new == old:
            return old  # a no-op write: no new resourceVersion, no event

        old_finalizers = set(old["metadata"].get("finalizers") or [])
        added = set(new["metadata"].get("finalizers") or []) - old_finalizers
        if old["metadata"].get("deletionTimestamp") and added:
            raise self._invalid(
                resource,
                name,
                [
                    f"metadata.finalizers: Forbidden: no new finalizers can be "
                    f"added if the object is being deleted, found new "
                    f"finalizers {sorted(added)}"
                ],
            )
        if _generational(new, info) != _generational(old, info):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
        if resource == CRDS:
            self._compile_crd(new)
        self._validate(resource, new, old)

        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._write(key, new, None)  # the last finalizer is gone: the object goes away
            self._delete_now(key, new)
        else:
            self._write(key, new, "MODIFIED")
            if resource == CRDS:
                self._register_crd(new)
        return new

    def _delete(
        self, resource: kmock.resource, namespace: str | None, name: str, options: Mapping[str, Any]
    ) -> dict[str, Any]:
        key = (resource, namespace, name)
        old = self._live(key)
        if old is None:
            raise _not_found(resource, name)
        preconditions = options.get("preconditions") or {}
        for field in ("uid", "resourceVersion"):
            if preconditions.get(field) not in (None, old["metadata"].get(field)):
                raise api_error(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on {_qualified(resource)} "
                    f'"{name}": Precondition failed: {field} in precondition: '
                    f"{preconditions[field]}, {field} in object meta: "
                    f"{old['metadata'].get(field)}",
                    name=name,
                    group=resource.group,
                    kind=resource.plural,
                )
        if old["metadata"].get("deletionTimestamp"):
            return old  # already being deleted
        if old["metadata"].get("finalizers"):
            new = copy.deepcopy(old)
            new["metadata"].update(
                deletionTimestamp=_now(),
                deletionGracePeriodSeconds=0,
                generation=int(old["metadata"].get("generation") or 0) + 1,
            )
            self._write(key, new, "MODIFIED")
            return new
        return self._delete_now(key, old)

    def _delete_now(self, key: _Key, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self._bump())
        self._objects[key].delete()
        if key[0] == PODS:  # its containers' logs go with it
            with self._pod_logs_lock:
                for log_key in [k for k in self._pod_logs if k[:2] == (key[1], key[2])]:
                    del self._pod_logs[log_key]
        self._emit(key[0], "DELETED", body)
        if key[0] == CRDS:  # its objects go with it (finalizers are not waited for)
            for resource in self._crd_resources(body):
                for child_key, child in self._all():
                    if child_key[0] == resource:
                        self._delete_now(child_key, child)
                self.resources.pop(resource, None)
                self._rules.pop(resource, None)
        return body

    def _write(self, key: _Key, body: dict[str, Any], event: str | None) -> None:
        """Store a new version of an object, stamped with the next resourceVersion."""
        body["metadata"]["resourceVersion"] = str(self._bump())
        stored = copy.deepcopy(body)  # what the caller gets back must not alias the history
        if key in self._objects:
            self._objects[key].history.append(stored)
        else:
            self._objects[key] = stored
        if event is not None:
            self._emit(key[0], event, body)

    def _emit(self, resource: kmock.resource, kind: str, body: Mapping[str, Any]) -> None:
        item: _Event = (self._revision, {"type": kind, "object": copy.deepcopy(dict(body))})
        history = self._history.setdefault(resource, collections.deque())
        history.append(item)
        while len(history) > self.history_limit:
            self._compacted[resource] = history.popleft()[0]
        for queue in self._watchers.get(resource, ()):
            queue.put_nowait(item)
        if resource == PODS:  # a deleted pod, or a container that terminated, ends its log followers
            self._wake_log_followers()

    def _bump(self) -> int:
        self._revision += 1
        return self._revision

    # ----------------------------------------------------------------- CRDs and validation

    def _compile_crd(self, crd: Mapping[str, Any]) -> None:
        """Check a CRD as far as we can, and compile its CEL rules (kept for _register_crd)."""
        try:
            rules = {
                resource: cel.compile_schema((version.get("schema") or {}).get("openAPIV3Schema") or {})
                for resource, version in zip(self._crd_resources(crd), _served_versions(crd), strict=True)
            }
        except (cel.RuleCompileError, KeyError, TypeError, ValueError) as exc:
            name = crd.get("metadata", {}).get("name", "")
            raise self._invalid(CRDS, name, [f"spec: Invalid value: {exc}"]) from None
        self._rules.update(rules)

    def _register_crd(self, crd: Mapping[str, Any]) -> None:
        spec, names = crd["spec"], crd["spec"]["names"]
        for resource, version in zip(self._crd_resources(crd), _served_versions(crd), strict=True):
            self.resources[resource] = kmock.ResourceInfo(
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                kind=names["kind"],
                singular=names.get("singular") or names["kind"].lower(),
                shortnames=names.get("shortNames") or (),
                categories=names.get("categories") or (),
                subresources=(version.get("subresources") or {}).keys(),
                verbs=CRD_VERBS,
            )

    @staticmethod
    def _crd_resources(crd: Mapping[str, Any]) -> list[kmock.resource]:
        spec = crd["spec"]
        if not spec.get("group") or not spec["names"].get("plural") or not spec["names"].get("kind"):
            raise ValueError("spec.group, spec.names.plural and spec.names.kind are required")
        plural = spec["names"]["plural"]
        return [kmock.resource(spec["group"], version["name"], plural) for version in _served_versions(crd)]

    def _validate(self, resource: kmock.resource, new: dict[str, Any], old: dict[str, Any] | None) -> None:
        violations = cel.validate(self._rules.get(resource), new, old, update=old is not None)
        if violations:
            raise self._invalid(
                resource,
                new["metadata"]["name"],
                [str(v) for v in violations],
                causes=[{"reason": v.reason, "message": v.detail, "field": v.field} for v in violations],
            )

    def _invalid(
        self, resource: kmock.resource, name: str, errors: list[str], causes: list[dict[str, Any]] | None = None
    ) -> kmock.KubernetesError:
        kind = self._info(resource).kind or resource.plural or ""
        qualified = f"{kind}.{resource.group}" if resource.group else kind
        text = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
        return api_error(
            422,
            "Invalid",
            f'{qualified} "{name}" is invalid: {text}',
            name=name,
            group=resource.group,
            kind=kind,
            causes=causes or [{"reason": "FieldValueInvalid", "message": e} for e in errors],
        )

    def _check_type(self, resource: kmock.resource, body: Mapping[str, Any]) -> None:
        kind = self._info(resource).kind
        api_version = _api_version(resource)
        if body.get("apiVersion") not in (None, api_version):
            raise api_error(
                400,
                "BadRequest",
                f"the API version in the data ({body['apiVersion']}) does not "
                f"match the expected API version ({api_version})",
            )
        if body.get("kind") not in (None, kind) and kind:
            raise api_error(
                400, "BadRequest", f"the kind in the data ({body['kind']}) does not match the expected kind ({kind})"
            )

    # ----------------------------------------------------------------- lookups

    def _known(self, request: kmock.Request) -> kmock.resource:
        resource = request.resource
        if resource is None or (resource not in self.resources and resource not in self._get_resources()):
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        return resource

    def _get_resources(self) -> list[kmock.resource]:
        # Unlike kmock, which also counts resources of deleted objects (e.g. after a CRD's removal).
        return list({*self.resources, *(key[0] for key, _ in self._all())})

    def _address(self, request: kmock.Request) -> _Key:
        resource = self._known(request)
        if request.name is None or (request.namespace is not None) != self._namespaced(resource, request):
            raise _not_found(resource, request.name)
        return resource, request.namespace, request.name

    def _namespaced(self, resource: kmock.resource, request: kmock.Request) -> bool:
        namespaced = self._info(resource).namespaced
        return request.namespace is not None if namespaced is None else namespaced

    def _info(self, resource: kmock.resource) -> kmock.ResourceInfo:
        return self.resources[resource] if resource in self.resources else kmock.ResourceInfo()

    def _live(self, key: _Key) -> dict[str, Any] | None:
        if key not in self._objects or self._objects[key].deleted:
            return None
        body = self._objects[key].raw
        meta = body.get("metadata")
        if not isinstance(meta, dict) or "resourceVersion" not in meta:  # put into kube.objects by a test
            meta = body["metadata"] = {**(meta or {}), "name": key[2]}
            if key[1] is not None:
                meta["namespace"] = key[1]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            meta.setdefault("generation", 1)
            meta["resourceVersion"] = str(self._bump())
            self._objects[key].history[-1] = body
        return body

    def _all(self) -> list[tuple[_Key, dict[str, Any]]]:
        return [(key, body) for key in list(self._objects) if (body := self._live(key)) is not None]

    def _selected(self, request: kmock.Request, key: _Key, body: Mapping[str, Any]) -> bool:
        resource, namespace, name = key
        return (
            resource == request.resource
            and request.namespace in (None, namespace)
            and request.name in (None, name)
            and _labels_match(request.params.get("labelSelector", ""), body)
            and _fields_match(request.params.get("fieldSelector", ""), body)
        )

    def _generate_name(self, resource: kmock.resource, namespace: str | None, prefix: Any) -> str | None:
        if not prefix or not isinstance(prefix, str):
            return None
        while True:
            name = prefix + "".join(secrets.choice(_NAME_SUFFIX_CHARS) for _ in range(5))
            if self._live((resource, namespace, name)) is None:
                return name


@contextlib.asynccontextmanager
async def serve_emulator(
    *,
    crds: Iterable[Mapping[str, Any]] = (),
    host: str = "127.0.0.1",
    port: int | None = None,
    history_limit: int = 1000,
    request_log_limit: int | None = None,
) -> AsyncIterator[KubeEmulator]:
    """Run the emulator on an HTTP port; ``kube.url`` is the API server's address."""
    async with (
        KubeEmulator(crds=crds, history_limit=history_limit, request_log_limit=request_log_limit) as kube,
        kmock.Server(kube, host=host, port=port),
    ):
        try:
            yield kube
        finally:
            kube.close_watches()  # let the streams end before the server waits for its handlers


# --------------------------------------------------------------------- helpers


@attrs.frozen
class _LogOptions:
    """The query of a pod log request (PodLogOptions), checked as the API server checks it."""

    container: str | None
    timestamps: bool
    follow: bool
    since_seconds: int | None
    since_time: int | None  # nanoseconds since the epoch, whole seconds
    tail: int | None
    limit_bytes: int | None

    @classmethod
    def parse(cls, params: Mapping[str, str], pod: str) -> _LogOptions:
        options = cls(
            container=params.get("container") or None,
            timestamps=_go_bool(params, "timestamps"),
            follow=_go_bool(params, "follow"),
            since_seconds=_go_int(params, "sinceSeconds"),
            since_time=_since_time(params.get("sinceTime")),
            tail=_go_int(params, "tailLines"),
            limit_bytes=_go_int(params, "limitBytes"),
        )
        errors = []
        if options.since_seconds is not None and options.since_time is not None:
            errors.append("sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")
        for field, value, least in (
            ("sinceSeconds", options.since_seconds, 1),
            ("tailLines", options.tail, 0),
            ("limitBytes", options.limit_bytes, 1),
        ):
            if value is not None and value < least:
                bound = "greater than 0" if least else "greater than or equal to 0"
                errors.append(f"{field}: Invalid value: {value}: must be {bound}")
        if errors:
            text = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
            raise api_error(422, "Invalid", f'PodLogOptions "{pod}" is invalid: {text}', name=pod, kind="PodLogOptions")
        return options

    def since_ns(self) -> int:
        if self.since_seconds is not None:
            return time.time_ns() - self.since_seconds * _NANO
        return self.since_time if self.since_time is not None else 0

    def render(self, line: _LogLine) -> bytes:
        ns, text = line
        return (f"{_log_time(ns)} {text}\n" if self.timestamps else f"{text}\n").encode()


def _go_bool(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    if value is None or value in _GO_FALSE:
        return False
    if value in _GO_TRUE:
        return True
    raise api_error(400, "BadRequest", f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _go_int(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise api_error(400, "BadRequest", f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def _since_time(value: str | None) -> int | None:
    """``sinceTime``, truncated to whole seconds as the API server forwards it to the kubelet."""
    if not value:
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise api_error(
            400, "BadRequest", f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse as RFC 3339'
        )
    zone = "+00:00" if match[2].upper() == "Z" else match[2]
    return _epoch_ns(datetime.datetime.fromisoformat(match[1] + zone))


def _epoch_ns(when: datetime.datetime) -> int:
    whole = int(when.replace(microsecond=0).timestamp())
    return whole * _NANO + when.microsecond * 1000


def _log_time(ns: int) -> str:
    seconds, fraction = divmod(ns, _NANO)
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def _container_names(pod: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    spec = pod.get("spec") or {}
    return [c.get("name") for c in spec.get("containers") or []], [
        c.get("name") for c in spec.get("initContainers") or []
    ]


def _log_container(pod: Mapping[str, Any], wanted: str | None) -> str:
    name = pod["metadata"]["name"]
    containers, init = _container_names(pod)
    if wanted is None:
        if len(containers) == 1:
            return str(containers[0])
        choices = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        raise api_error(
            400, "BadRequest", choices + (f" or one of the init containers: [{' '.join(init)}]" if init else "")
        )
    if wanted not in containers and wanted not in init:
        raise api_error(400, "BadRequest", f"container {wanted} is not valid for pod {name}")
    return wanted


def _container_state(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    status = pod.get("status") or {}
    for item in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if item.get("name") == container:
            return item.get("state") or {}
    return None


def _check_started(pod: Mapping[str, Any], container: str, written: bool) -> None:
    state = _container_state(pod, container)
    if state is not None and (state.get("running") or state.get("terminated")):
        return
    if state is None and written:
        return
    reason = ((state or {}).get("waiting") or {}).get("reason") or "ContainerCreating"
    name = pod["metadata"]["name"]
    raise api_error(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def _terminated(pod: Mapping[str, Any], container: str) -> bool:
    return bool((_container_state(pod, container) or {}).get("terminated"))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _json_patch(document: dict[str, Any], operations: list[Any]) -> Any:
    try:
        return jsonpatch.apply_patch(document, operations)
    except jsonpatch.JsonPatchTestFailed as exc:  # kopf treats 422 as "retry on a fresher body"
        raise api_error(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            causes=[{"reason": "FieldValueInvalid", "message": str(exc)}],
        ) from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
        raise api_error(400, "BadRequest", f"jsonpatch operation does not apply: {exc}") from None


async def _parse_namespace_request(
    raw: aiohttp.web.BaseRequest, match: re.Match[str], request_id: int
) -> kmock.Request:
    body = await raw.read()
    try:
        data = await raw.json() if body else None
    except ValueError:
        data = None
    name, query = match["name"], dict(raw.query)
    action = (
        kmock.action.WATCH
        if raw.method == "GET" and query.get("watch") in ("true", "1")
        else (kmock.action.FETCH if name else kmock.action.LIST)
        if raw.method == "GET"
        else kmock.action.CREATE
        if raw.method == "POST" and not name
        else kmock.action.UPDATE
        if raw.method == "PATCH" and name
        else kmock.action.DELETE
        if raw.method == "DELETE" and name
        else None
    )
    return kmock.Request(
        id=request_id,
        raw_request=raw,
        url=raw.url,
        method=raw.method,
        params=query,
        headers=dict(raw.headers),
        cookies=dict(raw.cookies),
        body=body,
        text=body.decode(errors="replace"),
        data=data,
        action=action,
        resource=NAMESPACES,
        namespace=None,
        name=name,
        subresource=match["sub"],
    )


def _labels_match(selector: str, body: Mapping[str, Any]) -> bool:
    labels = (body.get("metadata") or {}).get("labels") or {}
    for term in _split_selector(selector):
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term):
            values = {v.strip() for v in m[3].split(",")}
            if (labels.get(m[1]) in values) != (m[2] == "in"):
                return False
        elif m := re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", term):
            if (labels.get(m[1]) == m[3]) != (m[2] != "!="):
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _fields_match(selector: str, body: Mapping[str, Any]) -> bool:
    for term in _split_selector(selector):
        if not (m := re.fullmatch(r"([^=!]+)(==|!=|=)(.*)", term)):
            raise api_error(400, "BadRequest", f"invalid field selector: {term!r}")
        path, op, expected = m.groups()
        value: Any = body
        for part in path.strip().split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        actual = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        if (actual == expected.strip()) != (op != "!="):
            return False
    return True


def _split_selector(selector: str) -> list[str]:
    """Split on the commas outside of parentheses: `a=b,c in (d,e)` has two terms."""
    return [t.strip() for t in re.split(r",(?![^()]*\))", selector) if t.strip()]


def _header(request: kmock.Request, name: str) -> str:
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), "")


def _copy_key(source: Mapping[str, Any], target: dict[str, Any], key: str) -> None:
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


def _generational(body: Mapping[str, Any], info: kmock.ResourceInfo) -> dict[str, Any]:
    """The part of an object whose change bumps metadata.generation."""
    ignored = {"metadata", "status"} if "status" in info.subresources else {"metadata"}
    return {k: v for k, v in body.items() if k not in ignored}


def _served_versions(crd: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [v for v in crd["spec"]["versions"] if v.get("served", True)]


def _crd_name(crd: Mapping[str, Any]) -> str:
    spec = crd.get("spec", {})
    return f"{spec.get('names', {}).get('plural', '')}.{spec.get('group', '')}"


def _crd_status(crd: Mapping[str, Any]) -> dict[str, Any]:
    now = _now()
    storage = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
    return {
        "acceptedNames": copy.deepcopy(crd["spec"]["names"]),
        "storedVersions": storage,
        "conditions": [
            {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}
            for kind, reason, message in [
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ]
        ],
    }


def _key_of(resource: kmock.resource, body: Mapping[str, Any]) -> _Key:
    meta = body.get("metadata") or {}
    return resource, meta.get("namespace"), meta.get("name", "")


def _api_version(resource: kmock.resource) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


def _qualified(resource: kmock.resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else str(resource.plural)


def _not_found(resource: kmock.resource, name: str | None) -> kmock.KubernetesError:
    return api_error(
        404,
        "NotFound",
        f'{_qualified(resource)} "{name}" not found' if name else "the server could not find the requested resource",
        name=name,
        group=resource.group,
        kind=resource.plural,
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["CRDS", "NAMESPACES", "PODS", "KubeEmulator", "api_error", "merge_patch", "serve_emulator"]
