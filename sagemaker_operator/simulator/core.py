"""The simulator's state: its clock, faults, owned resources and the record of every request served.

Everything the simulator owns (training, hyperparameter tuning and transform jobs; models, endpoint
configurations and endpoints) is per :class:`Simulator`; what it hands to moto (S3, STS, IAM,
CloudWatch Logs and the other SageMaker operations) lives in moto's process-wide backends.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from . import endpoint_configs as _endpoint_configs  # noqa: F401  (imported to register its handlers)
from . import endpoints as _endpoints  # noqa: F401
from . import models as _models  # noqa: F401
from . import tags as _tags  # noqa: F401
from . import training as _training  # noqa: F401
from . import transform as _transform  # noqa: F401
from . import tuning as _tuning  # noqa: F401
from .clock import SimClock
from .endpoint_configs import EndpointConfig
from .endpoints import Endpoint
from .errors import SageMakerError
from .faults import FaultInjector
from .lifecycle import StageDurations
from .models import Model
from .protocol import HANDLERS, Handler, HandlerResult, RequestContext, RequestInfo
from .training import TrainingJob
from .transform import TransformJob
from .tuning import TuningJob
from .validation import validate_input

_Kind = TypeVar("_Kind", TrainingJob, TuningJob, TransformJob, Model, EndpointConfig, Endpoint)


class Resource(Protocol):
    """What the store needs from a resource the simulator owns."""

    name: str
    arn: str
    account_id: str
    region: str
    tags: list[dict[str, str]]

    def refresh(self, now: datetime) -> bool:
        """Bring side effects (log lines) up to ``now``; False once nothing will change any more."""
        ...


@runtime_checkable
class Expiring(Protocol):
    """A resource that ceases to exist at a planned moment (an endpoint once DeleteEndpoint completes)."""

    KIND: str

    def expired(self, now: datetime) -> bool: ...


class ResourceStore:
    """Owned resources by kind, account, region and name, and by ARN for the tagging operations."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str, str], Resource] = {}
        self._by_arn: dict[str, Resource] = {}

    @staticmethod
    def _key(kind: str, account_id: str, region: str, name: str) -> tuple[str, str, str, str]:
        # SageMaker lowercases names in ARNs, so two names differing only in case would collide.
        return kind, account_id, region, name.lower()

    def add(self, kind: str, resource: Resource) -> None:
        self._by_key[self._key(kind, resource.account_id, resource.region, resource.name)] = resource
        self._by_arn[resource.arn.lower()] = resource

    def remove(self, kind: str, resource: Resource) -> None:
        """Forget ``resource`` (deleted); a newer resource that took its name or ARN stays."""
        key = self._key(kind, resource.account_id, resource.region, resource.name)
        if self._by_key.get(key) is resource:
            del self._by_key[key]
        if self._by_arn.get(resource.arn.lower()) is resource:
            del self._by_arn[resource.arn.lower()]

    def get(self, kind: str, account_id: str, region: str, name: str) -> Resource | None:
        return self._by_key.get(self._key(kind, account_id, region, name))

    def of_kind(self, kind: str, account_id: str | None = None, region: str | None = None) -> list[Resource]:
        return [
            resource
            for (k, account, reg, _), resource in self._by_key.items()
            if k == kind and account_id in (None, account) and region in (None, reg)
        ]

    def by_arn(self, arn: str) -> Resource | None:
        return self._by_arn.get(arn.lower())


@dataclass(frozen=True)
class RequestRecord:
    """One request the simulator served (including those passed to moto or failed by a fault)."""

    service: str
    operation: str
    region: str
    access_key_id: str | None
    status_code: int
    error_code: str | None
    time: datetime
    """Simulated time when the request was answered."""


class Simulator:
    """An embedded SageMaker: job and endpoint lifecycles, logs and faults on top of moto.

    Serve it over HTTP with :class:`~sagemaker_operator.simulator.server.SimulatorServer`.
    """

    def __init__(
        self,
        clock: SimClock | None = None,
        durations: StageDurations | None = None,
        *,
        log_lines_per_host: int = 20,
        max_request_records: int = 100_000,
    ) -> None:
        self.clock = clock or SimClock()
        self.durations = durations or StageDurations()
        self.log_lines_per_host = log_lines_per_host
        self.faults = FaultInjector()
        self.store = ResourceStore()
        self.handlers: dict[str, Handler] = dict(HANDLERS)
        self.lock = threading.RLock()
        """Held while a handler runs and while jobs refresh, so every request sees one consistent state."""
        self._active: list[Resource] = []
        self._calls: Counter[str] = Counter()
        self._requests: deque[RequestRecord] = deque(maxlen=max_request_records)
        self._record_lock = threading.Lock()

    # -- what tests and tools read --------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """A snapshot of the request counts, keyed ``"<service>.<Operation>"``."""
        with self._record_lock:
            return Counter(self._calls)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the most recent requests served, oldest first."""
        with self._record_lock:
            return list(self._requests)

    def reset_calls(self) -> None:
        with self._record_lock:
            self._calls.clear()
            self._requests.clear()

    def training_job(self, name: str, *, region: str | None = None, account_id: str | None = None) -> TrainingJob:
        """The simulator's record of a training job (tuning children included); KeyError if there is none."""
        return self._owned(TrainingJob, name, region, account_id)

    def tuning_job(self, name: str, *, region: str | None = None, account_id: str | None = None) -> TuningJob:
        """The simulator's record of a hyperparameter tuning job; raises KeyError if there is none."""
        return self._owned(TuningJob, name, region, account_id)

    def transform_job(self, name: str, *, region: str | None = None, account_id: str | None = None) -> TransformJob:
        """The simulator's record of a transform job; raises KeyError if there is none."""
        return self._owned(TransformJob, name, region, account_id)

    def model(self, name: str, *, region: str | None = None, account_id: str | None = None) -> Model:
        """The simulator's record of a model; raises KeyError if there is none (or it was deleted)."""
        return self._owned(Model, name, region, account_id)

    def endpoint_config(self, name: str, *, region: str | None = None, account_id: str | None = None) -> EndpointConfig:
        """The simulator's record of an endpoint configuration; raises KeyError if there is none."""
        return self._owned(EndpointConfig, name, region, account_id)

    def endpoint(self, name: str, *, region: str | None = None, account_id: str | None = None) -> Endpoint:
        """The simulator's record of an endpoint (``.timeline``, ``.log_stream_names()``); KeyError if none."""
        return self._owned(Endpoint, name, region, account_id)

    def _owned(self, kind: type[_Kind], name: str, region: str | None, account_id: str | None) -> _Kind:
        self.refresh()
        with self.lock:
            for resource in self.store.of_kind(kind.KIND, account_id, region):
                if resource.name.lower() == name.lower() and isinstance(resource, kind):
                    return resource
        raise KeyError(name)

    # -- what handlers and the HTTP app use ------------------------------------------------------

    def track(self, resource: Resource) -> None:
        """Have :meth:`refresh` keep ``resource``'s side effects current until it settles."""
        with self.lock:
            if resource not in self._active:
                self._active.append(resource)

    def refresh(self) -> None:
        """Bring every unsettled resource up to the clock (called before each request is served).

        A refresh may track new resources (a tuning job launching training jobs); they are brought up
        to the same moment in the same call.
        """
        with self.lock:
            now = self.clock.now()
            pending, self._active = self._active, []
            kept: list[Resource] = []
            while pending:
                for resource in pending:
                    if resource.refresh(now):
                        kept.append(resource)
                    elif isinstance(resource, Expiring) and resource.expired(now):
                        self.store.remove(resource.KIND, resource)
                pending, self._active = [r for r in self._active if r not in kept], []
            self._active = kept

    def handle(self, operation: str, context: RequestContext, params: dict[str, Any]) -> HandlerResult:
        """Validate and run the handler for a SageMaker operation the simulator owns."""
        handler = self.handlers[operation]
        validate_input(operation, params)
        with self.lock:
            return handler(self, context, params)

    def record(self, info: RequestInfo, status_code: int, error_code: str | None) -> None:
        record = RequestRecord(
            info.service,
            info.operation,
            info.region,
            info.access_key_id,
            status_code,
            error_code,
            self.clock.now(),
        )
        with self._record_lock:
            self._calls[f"{info.service}.{info.operation}"] += 1
            self._requests.append(record)

    def check_fault(self, info: RequestInfo) -> SageMakerError | None:
        return self.faults.check(info.service, info.operation)
