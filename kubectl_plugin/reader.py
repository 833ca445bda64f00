"""Reading many streams at once and printing their events once each, merged in time order.

Every stream has a cursor (its forward token) and a buffer of events read but not printed yet.
The streams whose buffer ran empty are read concurrently (one page each) while the lines already
merged are printed, so a stream holds at most one page in memory. Every buffered event at or before
the *watermark* is printed, in (timestamp, stream, position) order. The watermark is the newest
timestamp read from the slowest stream that may still hold more: nothing older can arrive from it,
so a read of what is stored prints in time order. A stream that has nothing more right now does not
hold the watermark back, so while following, a quiet host does not delay the others' lines; the
price is that a line reaching CloudWatch after newer lines of another host were printed is printed
when it is read, as ``kubectl logs`` of several pods would."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .cloudwatch import PAGE_LIMIT, LogSource, Notices, Page, StreamGone, StreamInfo
from .output import Event, Printer

T = TypeVar("T")
R = TypeVar("R")


class LogBackend(Protocol):
    """What the reader needs from where logs live: CloudWatch Logs (:mod:`.cloudwatch`), or the Pods of
    a TrainingJob that runs in the cluster (:mod:`.pods`)."""

    @property
    def endpoint(self) -> str: ...

    def discover(self, sources: Sequence[LogSource]) -> tuple[list[StreamInfo], list[str]]:
        """The streams of ``sources``, and the sources' containers (log groups) that do not exist yet."""
        ...

    def read_forward(self, stream: StreamInfo, token: str | None, start_ms: int | None) -> Page: ...

    def read_backward(self, stream: StreamInfo, token: str | None, start_ms: int | None, limit: int) -> Page: ...

    def gone_notice(self, stream: StreamInfo) -> str | None:
        """What to say when ``stream`` disappears while being read (:class:`StreamGone`), if anything."""
        ...


class Workers:
    """A thread pool for concurrent reads (boto3 clients are thread-safe; their calls block)."""

    def __init__(self, size: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, size), thread_name_prefix="smlogs")

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` concurrently; the first exception is raised once all are done."""
        return gather(self.submit(fn, items))

    def submit(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Future[R]]:
        """Start ``fn`` over ``items``; collect the results with :func:`gather`."""
        return [self._pool.submit(fn, item) for item in items]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def gather(futures: Sequence[Future[R]]) -> list[R]:
    return [future.result() for future in futures]


@dataclass(eq=False)
class Stream:
    info: StreamInfo
    order: int
    token: str | None = None
    buffer: deque[Event] = field(default_factory=deque)
    seq: int = 0
    last_ms: int = -1
    """Timestamp of the newest event read; nothing older can come from this stream any more."""
    pending: bool = True
    """More may be read right now (no read yet, or the last page may not have been the end)."""
    next_poll: float = 0.0
    idle: float = 0.0
    retired: bool = False
    """Read to its end after its job ended: never read again."""

    def newest_ms(self) -> int:
        """The newest event time known, read or reported by DescribeLogStreams."""
        return max(self.last_ms, self.info.last_event_ms or -1)

    def take(self, events: list[tuple[int, str]]) -> None:
        order, seq, buffer = self.order, self.seq, self.buffer
        for ms, message in events:
            buffer.append((ms, order, seq, message))
            seq += 1
        self.seq = seq
        if events:
            self.last_ms = max(self.last_ms, events[-1][0])


@dataclass(frozen=True)
class PollTiming:
    interval: float
    """Seconds between reads of a stream that has caught up."""
    max_interval: float
    """Reads of a stream that stays quiet back off up to this."""
    dormant_interval: float
    """... and up to this for a stream with nothing for an hour (an endpoint's replaced instance)."""


DORMANT_MS = 3_600_000


class StreamSet:
    """The streams being read, their cursors, and the merge that prints them."""

    def __init__(
        self,
        backend: LogBackend,
        printer: Printer,
        workers: Workers,
        notices: Notices,
        *,
        start_ms: int | None = None,
        host: str | None = None,
    ) -> None:
        self.backend = backend
        self.printer = printer
        self.workers = workers
        self.notices = notices
        self.start_ms = start_ms
        self.host = host
        self._streams: dict[tuple[str, str], Stream] = {}
        self._gone: set[tuple[str, str]] = set()

    @property
    def streams(self) -> list[Stream]:
        return list(self._streams.values())

    def __len__(self) -> int:
        return len(self._streams)

    def update(self, infos: Sequence[StreamInfo]) -> list[Stream]:
        """Start reading the streams not seen before; refresh the others' hints. Returns the new ones."""
        added = []
        for info in infos:
            key = (info.source.group, info.name)
            if key in self._gone or (self.host and not info.matches_host(self.host)):
                continue
            known = self._streams.get(key)
            if known is not None:
                known.info = info
                continue
            stream = Stream(info, self.printer.add_label(info.label))
            self._streams[key] = stream
            added.append(stream)
        return added

    # -- reading ----------------------------------------------------------------------------------

    def drain(self, streams: Sequence[Stream] | None = None) -> None:
        """Read ``streams`` (default: all) to their end, at least one read each, and print, merged.

        The next pages are fetched while the lines already merged are printed.
        """
        for stream in self.streams if streams is None else streams:
            stream.pending = True
        while True:
            ready = self._take_ready()
            todo = [s for s in self.streams if s.pending and not s.buffer]
            fetching = self.workers.submit(self._read_forward, todo)
            self.printer.print(ready)
            if not todo:
                break
            self._apply(gather(fetching), follow=False)
        self.printer.print(self._take_ready())

    def tail(self, lines: int) -> None:
        """Print the last ``lines`` events across all streams, reading each stream backwards."""

        def read(stream: Stream) -> tuple[Stream, list[tuple[int, str]], str | None]:
            limit = max(1, min(lines, PAGE_LIMIT))
            try:
                page = self.backend.read_backward(stream.info, None, self.start_ms, limit)
                forward, pages = page.forward_token, [page.events]
                got = len(page.events)
                while got < lines and not page.complete:
                    page = self.backend.read_backward(
                        stream.info, page.backward_token, self.start_ms, min(lines - got, PAGE_LIMIT)
                    )
                    pages.append(page.events)
                    got += len(page.events)
            except StreamGone:
                return stream, [], None
            return stream, [event for events in reversed(pages) for event in events], forward

        for stream, events, forward in self.workers.map(read, self.streams):
            if forward is None:
                self._drop(stream)
                continue
            stream.token = forward
            stream.take(events)
            stream.pending = False
        newest: list[Event] = []
        for stream in self.streams:
            newest.extend(stream.buffer)
            stream.buffer.clear()
        newest.sort()
        self.printer.print(newest[len(newest) - lines :] if lines else [])

    def retire_ended(self) -> None:
        """Read the streams of jobs that ended to their end, once, and stop reading them."""
        ended = [s for s in self.streams if s.info.source.ended and not s.retired]
        if ended:
            self.drain(ended)
            for stream in ended:
                stream.retired = True

    def poll(self, now: float, timing: PollTiming) -> float:
        """Read the streams that are due, print what is ready; returns when the next one is due."""
        live = [s for s in self.streams if not s.retired]
        due = [s for s in live if (s.pending and not s.buffer) or (not s.pending and s.next_poll <= now)]
        if due:
            got = self._fetch(due, follow=True)
            dormant_before = time.time() * 1000 - DORMANT_MS
            for stream in due:
                if stream.pending:
                    stream.next_poll = now
                elif got.get(id(stream)):
                    stream.idle, stream.next_poll = timing.interval, now + timing.interval
                else:  # nothing new: back off
                    cap = timing.dormant_interval if stream.newest_ms() < dormant_before else timing.max_interval
                    stream.idle = min(max(stream.idle * 2, timing.interval), cap)
                    stream.next_poll = now + stream.idle
            self._print_ready()
        return min((s.next_poll for s in live), default=math.inf)

    def _fetch(self, streams: list[Stream], *, follow: bool) -> dict[int, int]:
        """Read one page of each stream concurrently; returns how many events each got."""
        return self._apply(self.workers.map(self._read_forward, streams), follow=follow)

    def _read_forward(self, stream: Stream) -> tuple[Stream, Page | None]:
        try:
            return stream, self.backend.read_forward(stream.info, stream.token, self.start_ms)
        except StreamGone:
            return stream, None

    def _apply(self, pages: list[tuple[Stream, Page | None]], *, follow: bool) -> dict[int, int]:
        """Take the pages read into the streams' buffers; returns how many events each got."""
        got: dict[int, int] = {}
        for stream, page in pages:
            if page is None:
                self._drop(stream)
                continue
            stream.token = page.forward_token
            stream.take(page.events)
            got[id(stream)] = len(page.events)
            # While following, an empty page means "wait", whatever its token says.
            stream.pending = not page.complete and (bool(page.events) or not follow)
        return got

    def _drop(self, stream: Stream) -> None:
        key = (stream.info.source.group, stream.info.name)
        self._streams.pop(key, None)
        self._gone.add(key)
        notice = self.backend.gone_notice(stream.info)
        if notice:
            self.notices.say(notice)
        self.printer.print(sorted(stream.buffer))

    def _print_ready(self) -> None:
        self.printer.print(self._take_ready())

    def _take_ready(self) -> list[Event]:
        """Every buffered event no stream can still precede, in merge order."""
        holding = [s.last_ms for s in self._streams.values() if s.pending]
        watermark = min(holding) if holding else math.inf
        ready: list[Event] = []
        for stream in self._streams.values():
            buffer = stream.buffer
            if buffer and buffer[-1][0] <= watermark:
                ready.extend(buffer)
                buffer.clear()
            else:
                while buffer and buffer[0][0] <= watermark:
                    ready.append(buffer.popleft())
        ready.sort()
        return ready
