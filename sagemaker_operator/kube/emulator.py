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

What it does NOT check or do (a real API server does; test those separately):
OpenAPI schema validation (types, required, enums, patterns, min/max, unknown-field pruning
and strict field validation), name syntax (DNS-1123), defaulting, RBAC and authentication,
admission webhooks, server-side apply (``application/apply-patch+yaml`` is refused with
415), dry runs, list pagination (``limit`` is ignored), object size limits, garbage
collection of dependents via ownerReferences, cascading deletion of a namespace's objects,
finalizers of a deleted CRD's objects, conversion between CRD versions (each served version
is stored separately), watch bookmarks other than the end of initial events, and DELETED
events for objects that merely stop matching a watch's selector. Every version of every
object is kept (kmock's history), so memory grows with writes. Use it from one event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import datetime
import json
import re
import secrets
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock

from sagemaker_operator.kube import cel

NAMESPACES = kmock.resource("", "v1", "namespaces")
CRDS = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
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
_Key = tuple[kmock.resource, str | None, str]


def api_error(status: int, reason: str, message: str, **details: Any) -> kmock.KubernetesError:
    """A Kubernetes ``Status`` failure, as clients (kopf's APIError classes) parse it."""
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=details or {})


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """kmock's Kubernetes emulator with the API server semantics that kopf needs."""

    crds: Iterable[Mapping[str, Any]] = ()
    history_limit: int = 1000  # watch events kept per resource for ?resourceVersion= replays

    _revision: int = attrs.field(default=0, init=False)
    _history: dict[kmock.resource, collections.deque[_Event]] = attrs.field(factory=dict, init=False)
    _compacted: dict[kmock.resource, int] = attrs.field(factory=dict, init=False)
    _watchers: dict[kmock.resource, set[asyncio.Queue[_Event | None]]] = attrs.field(
        factory=lambda: collections.defaultdict(set), init=False
    )
    _rules: dict[kmock.resource, cel.SchemaRules | None] = attrs.field(factory=dict, init=False)

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

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Skip kmock's own state-changing _handle(): our fallback handlers below do it.
        # User-defined reactions (kube['...'] << ...) still take precedence over them.
        try:
            return await super(kmock.KubernetesEmulator, self)._handle(request)
        except kmock.KubernetesError as exc:  # an answer of the API, not a failure of the emulator
            return await self._render_error(exc)

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
) -> AsyncIterator[KubeEmulator]:
    """Run the emulator on an HTTP port; ``kube.url`` is the API server's address."""
    async with KubeEmulator(crds=crds, history_limit=history_limit) as kube, kmock.Server(kube, host=host, port=port):
        try:
            yield kube
        finally:
            kube.close_watches()  # let the streams end before the server waits for its handlers


# --------------------------------------------------------------------- helpers


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


__all__ = ["CRDS", "NAMESPACES", "KubeEmulator", "api_error", "merge_patch", "serve_emulator"]
