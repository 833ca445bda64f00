"""How the operator learns a SageMaker job's current state: one interface, swappable strategies.

Controllers only ever ``await source.observe(ref)`` (and ``invalidate(ref)`` after they change something, and
``forget(ref)`` once they stop following the job).

- ``PerJobPolling``: one Describe per ask (the Go operator's and ACK's scheme: API calls grow with the
  number of jobs and the polling rate, whether anything changed or not).
- ``BatchedSync``: per region and endpoint, one List call per interval (``LastModifiedTimeAfter``, 100 per
  page) says which jobs changed; only those are described again, when their resource next asks. A job
  seen for the first time (new, or after an operator restart) is described directly. API calls grow with
  changes, not with jobs.

Both go through a ``RateLimiter`` per region and endpoint: a budget of calls per second shared by every
job there, halved when SageMaker throttles (the whole region slows down, not one job) and regained slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sagemaker_operator.aws import errors
from sagemaker_operator.aws.clients import ClientFactory
from sagemaker_operator.aws.errors import AWSError, ErrorKind


@dataclass(frozen=True)
class JobRef:
    """A SageMaker job, by the coordinates needed to ask about it."""

    describe_operation: str  # e.g. "DescribeTrainingJob"
    name_param: str  # e.g. "TrainingJobName"
    name: str
    region: str
    endpoint: str | None = None


class StatusSource(Protocol):
    async def observe(self, ref: JobRef) -> dict[str, Any] | None:
        """The job's Describe* response, or None if SageMaker does not know the job."""
        ...

    def invalidate(self, ref: JobRef) -> None:
        """The operator just changed the job (created, stopped, updated): the next observe must ask SageMaker."""
        ...

    async def wait_for_change(self, ref: JobRef, timeout: float) -> None:
        """Return when the job may have changed (or after ``timeout``): when to look again."""
        ...

    def forget(self, ref: JobRef) -> None:
        """Its resource is going away (deleted): drop what is kept about the job."""
        ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """A token bucket with multiplicative decrease on throttling and additive increase on success (AIMD)."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        min_rate: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.max_rate = rate
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.min_rate = min(min_rate, rate)
        self._tokens = self.burst
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        """Wait for a token (and for any pause after throttling); calls are spaced fairly in FIFO order."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                self._refill()
                if self._tokens >= 1 - 1e-9:  # tolerate float rounding of the refill
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await self._sleep((1 - self._tokens) / self.rate)

    def throttled(self) -> None:
        """SageMaker said "Rate exceeded": halve the rate and pause the whole region briefly, with jitter."""
        self.rate = max(self.min_rate, self.rate / 2)
        self._tokens = min(self._tokens, 0.0)
        self._paused_until = max(self._paused_until, self._clock() + random.uniform(0.5, 1.0) / self.rate)

    def succeeded(self) -> None:
        self.rate = min(self.max_rate, self.rate + self.max_rate / 50)

    async def call(self, client: Any, operation: str, **kwargs: Any) -> Any:
        """``errors.call`` under this budget, reporting throttling back to it."""
        await self.acquire()
        try:
            response = await errors.call(client, operation, **kwargs)
        except AWSError as exc:
            if exc.code in errors.THROTTLING_CODES:
                self.throttled()
            raise
        self.succeeded()
        return response


class Budgets:
    """One limiter per region and endpoint (SageMaker's limits are per account and region)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._limiters: dict[tuple[str, str | None], RateLimiter] = {}

    def __call__(self, region: str, endpoint: str | None) -> RateLimiter:
        key = (region, endpoint)
        if key not in self._limiters:
            self._limiters[key] = RateLimiter(self.rate)
        return self._limiters[key]


# --------------------------------------------------------------------------- strategies


class PerJobPolling:
    """One Describe per observation, each job an interval after its last one."""

    def __init__(
        self, clients: ClientFactory, budgets: Budgets | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clients = clients
        self._budgets = budgets or Budgets(rate=20.0)
        self._clock = clock
        self._asked: dict[JobRef, float] = {}  # when each job was last described
        self._pruned_at = clock()

    async def observe(self, ref: JobRef) -> dict[str, Any] | None:
        self._asked[ref] = self._clock()
        return await _describe(self._clients, self._budgets, ref)

    def invalidate(self, ref: JobRef) -> None:
        self._asked.pop(ref, None)  # every observe asks SageMaker anyway; the next look need not wait

    def forget(self, ref: JobRef) -> None:
        self._asked.pop(ref, None)

    async def wait_for_change(self, ref: JobRef, timeout: float) -> None:
        """Nothing tells it about changes: look an interval after the last look (a new job: now)."""
        now = self._clock()
        if now - self._pruned_at > timeout:  # forget jobs nobody asked about for ten intervals
            self._asked = {r: t for r, t in self._asked.items() if now - t < 10 * timeout}
            self._pruned_at = now
        asked = self._asked.get(ref)
        if asked is not None:
            await asyncio.sleep(max(0.0, asked + timeout - now))

    async def aclose(self) -> None:
        pass


async def _describe(clients: ClientFactory, budgets: Budgets, ref: JobRef) -> dict[str, Any] | None:
    client = clients.sagemaker(ref.region, ref.endpoint)
    try:
        response: dict[str, Any] = await budgets(ref.region, ref.endpoint).call(
            client, ref.describe_operation, **{ref.name_param: ref.name}
        )
    except AWSError as exc:
        if exc.kind is ErrorKind.NOT_FOUND:
            return None
        raise
    return response


@dataclass(frozen=True)
class ListSpec:
    """The List* operation that reports changes of what a Describe* describes."""

    operation: str
    result_key: str
    name_key: str
    status_key: str
    final: frozenset[str] = frozenset()  # statuses a job never leaves: no List needed for it any more


JOB_FINAL = frozenset({"Completed", "Failed", "Stopped"})

LISTS: dict[str, ListSpec] = {
    "DescribeTrainingJob": ListSpec(
        "ListTrainingJobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobStatus", JOB_FINAL
    ),
    "DescribeHyperParameterTuningJob": ListSpec(
        "ListHyperParameterTuningJobs",
        "HyperParameterTuningJobSummaries",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
        JOB_FINAL,
    ),
    "DescribeTransformJob": ListSpec(
        "ListTransformJobs", "TransformJobSummaries", "TransformJobName", "TransformJobStatus", JOB_FINAL
    ),
    # An endpoint has no final status: a Failed one can be updated and serve again.
    "DescribeEndpoint": ListSpec("ListEndpoints", "Endpoints", "EndpointName", "EndpointStatus"),
}


# How long a job nobody asks about is kept. Only a guard against leaks: jobs are forgotten when their resource
# says so (``forget``), and this catches a resource that vanished without its deletion handler (finalizer removed
# by hand). Not a number of poll intervals: a busy operator's timers may come round late, and every job
# forgotten while still followed costs a Describe to learn again (5 times the Describes at 1,000 jobs).
FORGET_UNASKED_AFTER = 3600.0


@dataclass
class _Entry:
    description: dict[str, Any] | None  # None: SageMaker does not know the job
    asked: float  # when its resource last asked (monotonic), to drop jobs nobody asks about for long
    waiters: int = 0  # resources waiting for news of it right now: followed, whenever they last asked
    dirty: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # wakes the resource waiting for news

    def mark(self) -> None:
        self.dirty = True
        self.changed.set()

    @property
    def modified(self) -> Any:
        return (self.description or {}).get("LastModifiedTime")


@dataclass
class _Group:
    """The jobs of one kind in one region and endpoint, with one List per interval."""

    spec: ListSpec
    entries: dict[str, _Entry] = field(default_factory=dict)
    watermark: datetime.datetime | None = None  # the newest LastModifiedTime SageMaker has shown us
    listed_at: float = 0.0
    task: asyncio.Task[None] | None = None  # the List loop, while someone follows jobs of this group

    def see(self, modified: Any) -> None:
        if isinstance(modified, datetime.datetime) and (self.watermark is None or modified > self.watermark):
            self.watermark = modified

    def is_final(self, entry: _Entry) -> bool:
        return entry.description is not None and entry.description.get(self.spec.status_key) in self.spec.final

    def needs_lists(self) -> bool:
        """Some job here can still change. A job in its final state is kept (its resource may ask once more
        before its status shows it) but costs nothing."""
        return any(not self.is_final(entry) for entry in self.entries.values())


class BatchedSync:
    """One List per region, kind and interval finds what changed; Describe only that (see the module doc).

    The List asks for ``LastModifiedTimeAfter = newest change seen - overlap``. The watermark is built from
    SageMaker's own timestamps, so the operator's clock does not matter; the overlap covers SageMaker's
    clocks not agreeing to the second. A List that fails part-way (throttled) keeps the old watermark, so
    the next round lists the same window again and no transition is lost.
    """

    def __init__(
        self,
        clients: ClientFactory,
        *,
        interval: float,
        budgets: Budgets | None = None,
        overlap: float = 60.0,
        forget_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self._clients = clients
        self._budgets = budgets or Budgets(rate=20.0)
        self.interval = interval
        self.overlap = datetime.timedelta(seconds=overlap)
        self.forget_after = forget_after if forget_after is not None else FORGET_UNASKED_AFTER
        self._clock = clock
        self._background = background  # False: rounds run only by list_now() (tests drive time themselves)
        self._groups: dict[tuple[str, str | None, str], _Group] = {}

    def _group(self, ref: JobRef, spec: ListSpec) -> _Group:
        key = (ref.region, ref.endpoint, spec.operation)
        if key not in self._groups:  # its first jobs are described directly; the first List is due an interval later
            self._groups[key] = _Group(spec, listed_at=self._clock())
        return self._groups[key]

    async def observe(self, ref: JobRef) -> dict[str, Any] | None:
        spec = LISTS.get(ref.describe_operation)
        if spec is None:  # nothing lists changes of this kind (models, configs): ask directly
            return await _describe(self._clients, self._budgets, ref)
        group = self._group(ref, spec)
        now = self._clock()
        entry = group.entries.get(ref.name)
        if entry is None or entry.dirty:
            description = await _describe(self._clients, self._budgets, ref)
            if entry is None:
                entry = group.entries[ref.name] = _Entry(description, now)
            entry.description, entry.dirty = description, False
            entry.changed.clear()
            group.see(entry.modified)
        entry.asked = now
        if self._background and (group.task is None or group.task.done()) and group.needs_lists():
            group.task = asyncio.create_task(self._follow(ref, group), name=f"sync {group.spec.operation} {ref.region}")
        return entry.description

    def invalidate(self, ref: JobRef) -> None:
        spec = LISTS.get(ref.describe_operation)
        entry = self._group(ref, spec).entries.get(ref.name) if spec else None
        if entry is not None:
            entry.mark()

    def forget(self, ref: JobRef) -> None:
        spec = LISTS.get(ref.describe_operation)
        if spec is not None:
            self._group(ref, spec).entries.pop(ref.name, None)  # with nothing left to change, the List loop ends

    async def wait_for_change(self, ref: JobRef, timeout: float) -> None:
        spec = LISTS.get(ref.describe_operation)
        entry = self._group(ref, spec).entries.get(ref.name) if spec else None
        if entry is None or entry.dirty:
            return  # never looked at, or already known to have changed: look now
        entry.waiters += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.changed.wait(), timeout)
        finally:
            entry.waiters -= 1
            entry.asked = max(entry.asked, self._clock())

    async def aclose(self) -> None:
        tasks = [group.task for group in self._groups.values() if group.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def list_now(self) -> None:
        """One List round for every group now (what the background loops do once per interval)."""
        for (region, endpoint, _), group in list(self._groups.items()):
            await self.list_changes(JobRef("", "", "", region, endpoint), group)

    async def _follow(self, ref: JobRef, group: _Group) -> None:
        """The group's List loop: one round per interval, as long as a job followed there can still change."""
        while group.needs_lists():
            await asyncio.sleep(max(0.0, group.listed_at + self.interval - self._clock()))
            await self.list_changes(ref, group)

    async def list_changes(self, ref: JobRef, group: _Group) -> None:
        """Mark the followed jobs that changed since the watermark.

        Jobs leave when their resource calls ``forget``; one nobody waits for nor asked about within
        ``forget_after`` is dropped too (see ``FORGET_UNASKED_AFTER``). A job in its final state stays, without
        Lists: forgetting it at once would cost a Describe, again and again, for each look its resource takes
        before its own status shows the final state (the operator's view of the resource can lag seconds)."""
        now = self._clock()
        group.entries = {name: e for name, e in group.entries.items() if e.waiters or now - e.asked < self.forget_after}
        group.listed_at = now
        if not group.needs_lists():
            return
        client = self._clients.sagemaker(ref.region, ref.endpoint)
        limiter = self._budgets(ref.region, ref.endpoint)
        request: dict[str, Any] = {"MaxResults": 100}
        if group.watermark is not None:
            request["LastModifiedTimeAfter"] = group.watermark - self.overlap
        newest = group.watermark
        try:
            while True:
                page = await limiter.call(client, group.spec.operation, **request)
                for summary in page.get(group.spec.result_key, []):
                    modified = summary.get("LastModifiedTime")
                    if isinstance(modified, datetime.datetime) and (newest is None or modified > newest):
                        newest = modified
                    entry = group.entries.get(summary[group.spec.name_key])
                    if entry is not None and not group.is_final(entry) and _changed(entry, summary, group.spec):
                        entry.mark()
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
        except AWSError:
            # Throttled or failed part-way: list the same window again next round (the watermark stays);
            # what this round already marked stays marked.
            return
        group.watermark = newest


def _changed(entry: _Entry, summary: dict[str, Any], spec: ListSpec) -> bool:
    description = entry.description
    if description is None:
        return True  # it exists now
    if summary.get(spec.status_key) != description.get(spec.status_key):
        return True
    modified = summary.get("LastModifiedTime")
    return modified is not None and entry.modified is not None and modified > entry.modified
