"""One run of ``kubectl smlogs``: read once, or follow until the job ends and its logs are drained.

Following is a loop over three clocks: each stream's next read (every ``--poll-interval`` while it
has news, at once while a page came back full, backing off to 8x the interval while it is quiet,
and to 60x once it has had nothing for an hour, as an endpoint's replaced instances), the
resource's status (the operator writes it; read through the Kubernetes API every 2x the
interval), and stream discovery (DescribeLogStreams every 5x the interval, to pick up new hosts
and, for a tuning job, new training jobs; a training job that ended is read to its end once and
then left alone, so a long tuning job does not poll hundreds of finished streams). When the status
is final, streams are discovered once
more and every stream is read to its end once more, so lines written just before the end are not
lost; then the exit code says how the job ended.

A TrainingJob whose status says it runs in the cluster (``status.backend: local``, the TensorFlow
fallback) is read from its Pods instead (:mod:`.pods`), with the same clocks: a "stream" is a replica,
discovery lists the job's Pods. A job that moves to the cluster while followed (SageMaker had no
capacity and the job opted in) switches to its Pods then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from .cloudwatch import CloudWatchLogs, Interrupted, LogSource, Notices, RetryPolicy, StreamInfo, new_callers
from .errors import ExitCode, SmlogsError
from .kinds import TUNING_JOB, Child, Kind, View
from .output import Printer
from .pods import PodLogs
from .reader import LogBackend, PollTiming, StreamSet, Workers
from .resolve import AwsOverrides, Cluster, aws_target, log_sources, tuning_children

MAX_WORKERS = 16


@dataclass(frozen=True)
class Options:
    follow: bool = False
    tail: int | None = None
    since_ms: int | None = None
    host: str | None = None
    timestamps: bool = False
    prefix: bool = True
    poll_interval: float = 1.0


@dataclass(frozen=True)
class Timing:
    """Every wait of a run, derived from ``--poll-interval`` so tests can run the same code fast."""

    poll: PollTiming
    status: float
    discovery: float
    retry: RetryPolicy

    @classmethod
    def scaled(cls, interval: float) -> Timing:
        return cls(
            poll=PollTiming(interval, 8 * interval, 60 * interval),
            status=2 * interval,
            discovery=5 * interval,
            retry=RetryPolicy(base=interval / 4, cap=10 * interval),
        )


class Session:
    def __init__(
        self,
        kind: Kind,
        name: str,
        cluster: Cluster,
        options: Options,
        overrides: AwsOverrides,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.kind = kind
        self.name = name
        self.cluster = cluster
        self.options = options
        self.overrides = overrides
        self.timing = Timing.scaled(options.poll_interval)
        self.notices = Notices(_writer(err))
        self.printer = Printer(out, timestamps=options.timestamps, prefix=options.prefix)
        self.stop = threading.Event()
        self.workers = Workers(MAX_WORKERS)
        self._last_view: View | None = None
        self._found: list[StreamInfo] = []
        self.backend: LogBackend
        self.cloudwatch: CloudWatchLogs | None = None
        self.pods: PodLogs | None = None
        self.list_children: Callable[[str], tuple[Child, ...]] | None = None

    def run(self) -> ExitCode:
        try:
            return self._run()
        except Interrupted:  # a worker noticed the stop; the main thread's reason wins below
            raise KeyboardInterrupt from None
        finally:
            self.stop.set()
            self.workers.close()

    # -- the run ----------------------------------------------------------------------------------

    def _run(self) -> ExitCode:
        view = self._submitted()
        self._use_backend(view)
        outcome = self.kind.outcome(view.status)
        if not self.options.follow or outcome is not None:
            self._read_once(view)
            if not self.options.follow:
                return ExitCode.ERROR if self.pods is not None and self.pods.unreadable else ExitCode.OK
            return self._ended(view, outcome)
        return self._follow(view)

    def _use_backend(self, view: View) -> None:
        """Read the Pods of a job that runs in the cluster, else CloudWatch Logs; the reader is the same."""
        if view.local:
            self.pods = PodLogs(self.cluster, self.notices, self.timing.retry, self.stop)
            self.backend, self.list_children = self.pods, None
        else:
            target = aws_target(view, self.overrides)
            logs, sagemaker = new_callers(
                region=target.region,
                profile=self.overrides.profile,
                logs_endpoint=target.logs_endpoint,
                sagemaker_endpoint=target.sagemaker_endpoint,
                notices=self.notices,
                retry=self.timing.retry,
                stop=self.stop,
                max_connections=MAX_WORKERS,
            )
            self.cloudwatch = CloudWatchLogs(logs)
            self.backend = self.cloudwatch
            self.list_children = tuning_children(sagemaker) if self.kind is TUNING_JOB else None
        self.streams = StreamSet(
            self.backend,
            self.printer,
            self.workers,
            self.notices,
            start_ms=self.options.since_ms,
            host=self.options.host,
        )

    def _read_once(self, view: View) -> None:
        sources, missing = self._discover(view)
        if not self.streams:
            message = self._no_logs(view, sources, missing)
            if not self.options.follow:
                raise SmlogsError(message)
            self.notices.say(message)
            return
        self._initial_read(view)

    def _nothing_from_pods(self, view: View) -> None:
        """Pods were found but no line printed: say why, when it is not just a quiet job."""
        job = f"{self.kind.noun} {view.job_name}"
        assert self.pods is not None
        if not self.streams:  # every pod went away between the listing and the reading
            message = self._pods_gone(view)
            if not self.options.follow:
                raise SmlogsError(message)
            self.notices.say(message)
        elif self.pods.waiting and self.options.since_ms is None and self.options.tail != 0:
            hosts = {s.info.name: s.info.label for s in self.streams.streams}
            why = "; ".join(f"{hosts.get(pod, pod)}: {message}" for pod, message in sorted(self.pods.waiting.items()))
            self.notices.once("not-started", f"no lines yet from {job}: {why}")

    def _follow(self, view: View) -> ExitCode:
        now = time.monotonic()
        sources, missing = self._discover(view)
        if self.streams:
            self._initial_read(view)
        else:
            self.notices.once("streams", f"waiting for logs: {self._no_logs(view, sources, missing, waiting=True)}")
        next_status, next_discovery = now + self.timing.status, now + self.timing.discovery
        while True:
            now = time.monotonic()
            if now >= next_status:
                next_status = now + self.timing.status
                latest = self._status()
                if latest is None:  # deleted
                    self._final_read(view)
                    self.notices.say(f"{self.kind.singular}/{self.name} was deleted")
                    return ExitCode.DELETED
                if latest.local and self.pods is None:
                    reason = f" ({latest.backend_reason})" if latest.backend_reason else ""
                    self.notices.say(
                        f"{self.kind.singular}/{self.name} now runs in the cluster{reason}; reading its pods' logs"
                    )
                    self._use_backend(latest)
                    next_discovery = now
                view = latest
                outcome = self.kind.outcome(view.status)
                if outcome is not None:
                    self._final_read(view)
                    return self._ended(view, outcome)
            if now >= next_discovery:
                next_discovery = now + self.timing.discovery
                had_streams = bool(self.streams)
                self._discover(view)
                if not had_streams and self.streams:
                    self._initial_read(view)
                self.streams.retire_ended()
            next_read = self.streams.poll(now, self.timing.poll)
            wake = min(next_read, next_status, next_discovery)
            time.sleep(max(0.0, wake - time.monotonic()))

    def _initial_read(self, view: View) -> None:
        if self.options.tail is not None:
            self.streams.tail(self.options.tail)
        else:
            self.streams.drain()
        if self.pods is not None and not self.printer.printed:
            self._nothing_from_pods(view)

    def _final_read(self, view: View) -> None:
        """After the end: pick up streams not seen yet, then read every stream to its end."""
        sources, missing = self._discover(view)
        if self.streams:
            self.streams.drain([s for s in self.streams.streams if not s.retired])
        else:
            self.notices.say(self._no_logs(view, sources, missing, waiting=True))

    def _ended(self, view: View, outcome: ExitCode | None) -> ExitCode:
        if outcome is None:
            return ExitCode.OK
        if outcome is not ExitCode.OK:
            reason = f": {view.failure_reason}" if view.failure_reason else ""
            self.notices.say(f"{self.kind.noun} {view.job_name} {view.status}{reason}")
        return outcome

    # -- the resource -----------------------------------------------------------------------------

    def _submitted(self) -> View:
        """The resource's view once it names a SageMaker job; waits for that with ``-f``."""
        while True:
            obj = self.cluster.get(self.kind, self.name)
            if obj is None:
                raise SmlogsError(f'{self.kind.singular} "{self.name}" not found in {self.cluster.where()}')
            view = self.kind.view(obj)
            if view.started:
                return view
            if view.refused:
                raise SmlogsError(f"SageMaker refused {self.kind.singular}/{self.name}, nothing ran: {view.refused}")
            what = "created" if self.kind.noun == "endpoint" else "submitted"
            if view.wants_local:
                place, hint = "started in the cluster", "status.backend"
            else:
                place, hint = f"{what} in SageMaker", f"status.{self.kind.name_field}"
            if not self.options.follow:
                raise SmlogsError(
                    f"{self.kind.singular}/{self.name} in {self.cluster.where()} has not been {place} "
                    f"yet (no {hint}); use -f to wait for it"
                )
            self.notices.once("submitted", f"waiting for {self.kind.singular}/{self.name} to be {place}")
            time.sleep(self.timing.status)

    def _status(self) -> View | None:
        """The resource now; a failed read keeps the last view (the logs are still worth reading)."""
        try:
            obj = self.cluster.get(self.kind, self.name)
        except SmlogsError as exc:
            self.notices.now_and_then("status", f"cannot read the status ({exc.message}); still reading logs")
            return self._last_view
        self._last_view = None if obj is None else self.kind.view(obj)
        return self._last_view

    # -- the streams ------------------------------------------------------------------------------

    def _discover(self, view: View) -> tuple[list[LogSource], list[str]]:
        self._last_view = view
        sources = log_sources(self.kind, view, self.list_children)
        if not sources:
            return sources, []
        found, missing = self.backend.discover(sources)
        self.streams.update(found)
        self._found = found
        return sources, missing

    def _no_logs(self, view: View, sources: list[LogSource], missing: list[str], waiting: bool = False) -> str:
        if self.cloudwatch is None:
            return self._no_pods(view, waiting)
        region = self.cloudwatch.call.client.meta.region_name
        job = f"{self.kind.noun} {view.sagemaker_name}"
        if not sources:
            return f"{job} has not started any training jobs yet"
        if missing:
            return f"log group {missing[0]} does not exist yet in {region} (at {self.cloudwatch.endpoint})"
        if self.options.host and self._found:
            names = ", ".join(sorted({s.label for s in self._found}))
            return f"no log stream of {job} matches -p {self.options.host} (its streams: {names})"
        where = ", ".join(sorted({f"{s.group} (prefix {s.prefix!r})" if s.prefix else s.group for s in sources}))
        status = f" (status {view.status})" if view.status else ""
        hint = "" if waiting or self.options.follow else "; use -f to wait for them"
        return f"{job}{status} has no log streams yet in {where}{hint}"

    def _no_pods(self, view: View, waiting: bool) -> str:
        """Why a job that runs in the cluster shows no lines: no pods yet, none matching -p, or gone."""
        job = f"{self.kind.noun} {view.job_name}"
        if self.options.host and self._found:
            hosts = ", ".join(s.label for s in self._found)
            return f"no pod of {job} matches -p {self.options.host} (its hosts: {hosts})"
        if self.kind.outcome(view.status) is not None:
            return self._pods_gone(view)
        status = f" (status {view.status})" if view.status else ""
        hint = "" if waiting or self.options.follow else "; use -f to wait for them"
        return f"{job} runs in the cluster{status} but has no pods yet in {self.cluster.where()}{hint}"

    def _pods_gone(self, view: View) -> str:
        if self.kind.outcome(view.status) is not None:
            where = f"ran in the cluster and ended ({view.status})"
        else:
            where = f"runs in the cluster (status {view.status or 'unknown'})"
        how = " (spec.fallback.cleanupPolicy: delete)" if view.cleanup_policy == "delete" else ""
        return f"{self.kind.noun} {view.job_name} {where}; its pods have been deleted{how}, and their logs with them"


def _writer(stream: TextIO) -> Callable[[str], None]:
    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return write
