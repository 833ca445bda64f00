"""Server-side fault injection: make chosen operations fail the way AWS does under load.

A fault matches an operation by name: ``"DescribeTrainingJob"`` (a SageMaker operation), ``"*"`` (any
SageMaker operation) or ``"<service>.<Operation>"`` / ``"<service>.*"`` for another service, e.g.
``"logs.GetLogEvents"``. It fires for the next ``times`` matching calls, or with probability ``rate``
(a seeded RNG, so tests are reproducible), or both; with neither it fires on every matching call.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from .errors import SageMakerError, common_error


@dataclass
class Fault:
    """One injected fault; ``remaining`` counts down when ``times`` was given."""

    operation: str
    error: str
    rate: float | None = None
    remaining: int | None = None
    message: str | None = None
    status: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, service: str, operation: str) -> bool:
        if "." in self.operation:
            want_service, want_operation = self.operation.split(".", 1)
        else:
            want_service, want_operation = "sagemaker", self.operation
        return want_service == service and want_operation in ("*", operation)


class FaultInjector:
    """The faults a simulator currently injects; thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def inject(
        self,
        operation: str,
        error: str,
        *,
        rate: float | None = None,
        times: int | None = None,
        seed: int | None = None,
        message: str | None = None,
        status: int | None = None,
    ) -> Fault:
        """Fail matching calls with AWS error ``error`` (see the module docstring for matching)."""
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        fault = Fault(operation, error, rate, times, message, status, random.Random(seed))
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def check(self, service: str, operation: str) -> SageMakerError | None:
        """The error to answer this call with, if a fault fires; consumes one of ``times``."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(service, operation):
                    continue
                if fault.rate is not None and fault.rng.random() >= fault.rate:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return common_error(fault.error, fault.message, fault.status)
        return None
