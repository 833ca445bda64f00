"""The simulated clock every job in a :class:`~sagemaker_operator.simulator.Simulator` reads.

Jobs never run on timers: their state is computed from this clock whenever someone looks, so a
test can jump an hour ahead with ``advance(3600)`` and a demo can run faster than wall time with
``speed``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Wall time since creation, scaled by ``speed``, plus whatever :meth:`advance` added.

    ``speed=0`` freezes the clock, so only :meth:`advance` moves it (handy for deterministic tests).
    The clock never goes backwards: log events must arrive in timestamp order. Its resolution is a
    millisecond, like AWS's timestamps, so a time a client read back and sends as a filter
    (``CreationTimeAfter``) compares exactly with the simulator's own.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._speed = speed
        self._origin = start if start is not None else datetime.now(UTC)
        self._mono_origin = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        """The current simulated time, an aware UTC datetime."""
        with self._lock:
            elapsed = (time.monotonic() - self._mono_origin) * self._speed + self._offset
        now = self._origin + timedelta(seconds=elapsed)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("the simulated clock cannot go backwards")
        with self._lock:
            self._offset += seconds
        return self.now()
