"""CloudWatch log lines for simulated jobs, written into moto's logs backend.

A job's log is planned in full from its :class:`~sagemaker_operator.simulator.lifecycle.Timeline`
(one list of timestamped lines per stream) and appended to moto as simulated time passes, so a reader
following the log group sees lines arrive and finds them complete once the job is terminal. Streams are
named like SageMaker's:

- ``/aws/sagemaker/TrainingJobs``: ``<job>/algo-<i>-<epoch seconds of TrainingStartTime>``
- ``/aws/sagemaker/TransformJobs``: ``<job>/<instance id>-<epoch seconds of TransformStartTime>`` and,
  for the same instance, ``.../data-log`` with the batch transform agent's lines.
- ``/aws/sagemaker/Endpoints/<endpoint>``: ``<variant>/<instance id>``, one stream per instance an
  endpoint deployment starts (so an update that deploys a new fleet opens new streams).
"""

from __future__ import annotations

import json
import math
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .lifecycle import Timeline

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
ENDPOINT_PING_SECONDS = 60.0
"""How often an endpoint instance's log shows a health check once it is in service."""


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    message: str


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def metric_values(job_name: str, rounds: int) -> list[tuple[float, float]]:
    """(train, validation) error per boosting round: decreasing, noisy, the same for the same job."""
    rng = random.Random(zlib.crc32(job_name.encode()))
    values = []
    for k in range(rounds):
        base = 0.05 + 0.25 * math.exp(-4.0 * k / max(rounds, 1))
        train = base * (1 + rng.uniform(-0.03, 0.03))
        values.append((round(train, 5), round(train * 1.12 + rng.uniform(0, 0.004), 5)))
    return values


def final_metrics(job_name: str, rounds: int, at: datetime) -> list[dict[str, Any]]:
    """FinalMetricDataList of a completed job: the values of its last metric line."""
    train, validation = metric_values(job_name, rounds)[-1] if rounds else (0.0, 0.0)
    return [
        {"MetricName": "train:merror", "Value": train, "Timestamp": at},
        {"MetricName": "validation:merror", "Value": validation, "Timestamp": at},
    ]


def host_count(request: dict[str, Any]) -> int:
    """How many instances (``algo-<i>`` hosts) a training request asks for."""
    resources = request.get("ResourceConfig") or {}
    groups = resources.get("InstanceGroups") or []
    if groups:
        return max(1, sum(int(group.get("InstanceCount") or 0) for group in groups))
    return max(1, int(resources.get("InstanceCount") or 1))


def plan_training_log(
    job_name: str,
    request: dict[str, Any],
    timeline: Timeline,
    failure_reason: str | None,
    metric_lines: int,
) -> list[list[LogLine]]:
    """Every line each host writes, in timestamp order; empty if the container never started."""
    start, end, cut = timeline.training_start, timeline.training_end, timeline.cut
    if cut is not None and cut < start:
        return []
    resources = request.get("ResourceConfig") or {}
    hosts = [f"algo-{i}" for i in range(1, host_count(request) + 1)]
    hyperparameters = request.get("HyperParameters") or {}
    channels = [c.get("ChannelName", "") for c in request.get("InputDataConfig") or []]
    stamp = start.strftime("%Y-%m-%d:%H:%M:%S")
    span = (end - start).total_seconds()
    metrics = metric_values(job_name, metric_lines)

    plans = []
    for host in hosts:
        lines = [
            LogLine(epoch_ms(start), text)
            for text in (
                "Arguments: train",
                f"[{stamp}:INFO] Running on host {host} "
                f"({resources.get('InstanceType', 'unknown instance type')}); hosts: {json.dumps(hosts)}",
                f"[{stamp}:INFO] Hyperparameters: {json.dumps(hyperparameters, sort_keys=True)}",
                *(f"[{stamp}:INFO] File path /opt/ml/input/data/{c} of input files" for c in channels),
                f"[{stamp}:INFO] {'Single node' if len(hosts) == 1 else 'Distributed node'} training.",
            )
        ]
        for k, (train, validation) in enumerate(metrics):
            at = start + timedelta(seconds=span * (k + 1) / (len(metrics) + 1))
            lines.append(
                LogLine(epoch_ms(at), f"[{k}]#011train-merror:{train:.5f}#011validation-merror:{validation:.5f}")
            )
        if failure_reason is not None:
            lines += [
                LogLine(epoch_ms(end), "Traceback (most recent call last):"),
                LogLine(epoch_ms(end), f"{failure_reason}"),
                LogLine(epoch_ms(end), f"[{end.strftime('%Y-%m-%d:%H:%M:%S')}:ERROR] Reporting training FAILURE"),
            ]
        else:
            lines += [
                LogLine(epoch_ms(end), f"[{end.strftime('%Y-%m-%d:%H:%M:%S')}:INFO] Training complete."),
                LogLine(epoch_ms(end), "Saving model to /opt/ml/model/xgboost-model"),
            ]
        if cut is not None and cut < end:
            lines = [line for line in lines if line.timestamp_ms <= epoch_ms(cut)]
            lines.append(LogLine(epoch_ms(cut), "Received SIGTERM: the training job is being stopped."))
        plans.append(lines)
    return plans


@dataclass
class JobLog:
    """The part of a job's planned log already appended to moto, per stream."""

    account_id: str
    region: str
    stream_prefix: str
    """``<job name>/``; training streams are ``<prefix>algo-<i>-<epoch>``."""
    written: list[int] = field(default_factory=list)
    group: str = TRAINING_LOG_GROUP

    def stream_names(self, hosts: int, started: datetime) -> list[str]:
        epoch = int(started.timestamp())
        return [f"{self.stream_prefix}algo-{i}-{epoch}" for i in range(1, hosts + 1)]

    def flush(self, plans: list[list[LogLine]], started: datetime, now: datetime) -> bool:
        """Append a training job's lines due by ``now``; True once every planned line is written."""
        return self.flush_streams(list(zip(self.stream_names(len(plans), started), plans, strict=True)), now)

    def flush_streams(self, streams: list[tuple[str, list[LogLine]]], now: datetime) -> bool:
        """Append the lines due by ``now`` to each named stream; True once every planned line is written.

        Lines are appended in timestamp order and a re-plan (on stop) only drops lines later than
        the stop, so the count already written stays a valid cursor.
        """
        if len(self.written) < len(streams):
            self.written += [0] * (len(streams) - len(self.written))
        now_ms = epoch_ms(now)
        for index, (name, lines) in enumerate(streams):
            done = self.written[index]
            due = done
            while due < len(lines) and lines[due].timestamp_ms <= now_ms:
                due += 1
            if due > done:
                append_events(self.account_id, self.region, self.group, name, lines[done:due])
                self.written[index] = due
        return all(self.written[i] >= len(lines) for i, (_, lines) in enumerate(streams))


def instance_id(job_name: str, index: int) -> str:
    """An EC2-style instance id (``i-`` and 17 hex digits), the same for the same job and instance."""
    digest = zlib.crc32(f"{job_name}/{index}".encode())
    rng = random.Random(digest)
    return "i-" + "".join(rng.choice("0123456789abcdef") for _ in range(17))


def transform_stream_names(job_name: str, instances: int, started: datetime) -> list[tuple[str, str]]:
    """(container stream, data-log stream) per instance."""
    epoch = int(started.timestamp())
    names = []
    for index in range(instances):
        stream = f"{job_name}/{instance_id(job_name, index)}-{epoch}"
        names.append((stream, f"{stream}/data-log"))
    return names


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def plan_transform_log(
    job_name: str,
    request: dict[str, Any],
    timeline: Timeline,
    failure_reason: str | None,
    batches_per_instance: int,
) -> list[list[LogLine]]:
    """Lines of each instance's container stream and data-log stream, interleaved per instance.

    The container stream has the model server starting and one ``POST /invocations`` per batch; the
    data-log has the agent's settings line, one line per input object and, on failure, the error.
    """
    start, end, cut = timeline.training_start, timeline.training_end, timeline.cut
    if cut is not None and cut < start:
        return []
    resources = request.get("TransformResources") or {}
    instances = max(1, int(resources.get("InstanceCount") or 1))
    source = (request.get("TransformInput") or {}).get("DataSource", {}).get("S3DataSource", {})
    prefix = str(source.get("S3Uri", "s3://input/")).removeprefix("s3://").rstrip("/")
    settings = (
        f"MaxConcurrentTransforms={request.get('MaxConcurrentTransforms', 1)}, "
        f"MaxPayloadInMB={request.get('MaxPayloadInMB', 6)}, "
        f"BatchStrategy={_upper_snake(request.get('BatchStrategy', 'MultiRecord'))}"
    )
    span = (end - start).total_seconds()
    stamp = start.strftime("%d/%b/%Y:%H:%M:%S +0000")
    plans: list[list[LogLine]] = []
    for index in range(instances):
        container = [
            LogLine(epoch_ms(start), text)
            for text in (
                f"[{stamp}] [INFO] Starting the model server on {instance_id(job_name, index)} "
                f"({resources.get('InstanceType', 'unknown instance type')})",
                f"[{stamp}] [INFO] Loading the model from /opt/ml/model",
                f"[{stamp}] [INFO] Listening at: unix:/tmp/gunicorn.sock",
                '169.254.255.130 - - "GET /ping HTTP/1.1" 200 0 "-" "Go-http-client/1.1"',
                '169.254.255.130 - - "GET /execution-parameters HTTP/1.1" 404 232 "-" "Go-http-client/1.1"',
            )
        ]
        data = [LogLine(epoch_ms(start), f"{_iso_ms(start)}:[sagemaker logs]: {settings}")]
        for k in range(batches_per_instance):
            at = start + timedelta(seconds=span * (k + 1) / (batches_per_instance + 1))
            part = f"{prefix}/part-{index * batches_per_instance + k:05d}"
            container.append(LogLine(epoch_ms(at), '169.254.255.130 - - "POST /invocations HTTP/1.1" 200 - "-"'))
            data.append(LogLine(epoch_ms(at), f"{_iso_ms(at)}:[sagemaker logs]: {part}: transformed"))
        if failure_reason is not None:
            part = f"{prefix}/part-{(index + 1) * batches_per_instance:05d}"
            container += [
                LogLine(epoch_ms(end), '169.254.255.130 - - "POST /invocations HTTP/1.1" 500 - "-"'),
                LogLine(epoch_ms(end), "Traceback (most recent call last):"),
                LogLine(epoch_ms(end), failure_reason),
            ]
            data += [
                LogLine(epoch_ms(end), f"{_iso_ms(end)}:[sagemaker logs]: {part}: ClientError: 500"),
                LogLine(epoch_ms(end), f"{_iso_ms(end)}:[sagemaker logs]: {part}: Message: {failure_reason}"),
            ]
        if cut is not None and cut < end:
            container = [line for line in container if line.timestamp_ms <= epoch_ms(cut)]
            container.append(LogLine(epoch_ms(cut), "Received SIGTERM: the transform job is being stopped."))
            data = [line for line in data if line.timestamp_ms <= epoch_ms(cut)]
        plans += [container, data]
    return plans


def endpoint_log_group(endpoint_name: str) -> str:
    return f"{ENDPOINT_LOG_GROUP_PREFIX}{endpoint_name}"


@dataclass(frozen=True)
class HostedContainer:
    """What an endpoint instance's log says about one container it runs."""

    hostname: str
    image: str | None
    model_data_url: str | None


@dataclass(frozen=True)
class EndpointInstance:
    """One instance of an endpoint's production variant, from start to end (all planned ahead).

    An instance starts when a deployment (create, update or added capacity) starts, passes its health
    check at ``ready`` (or fails it there, with ``failure``, and ends), and ends when it is replaced,
    removed or the endpoint is deleted. ``end`` is filled in by the operation that ends it.
    """

    variant: str
    instance_id: str
    instance_type: str
    model_name: str
    containers: tuple[HostedContainer, ...]
    start: datetime
    ready: datetime
    failure: str | None = None
    end: datetime | None = None

    @property
    def stream(self) -> str:
        return f"{self.variant}/{self.instance_id}"


def plan_endpoint_instance_log(instance: EndpointInstance, pings: int) -> list[LogLine]:
    """An instance's model server log: start, model loaded, health checks, then its error or shutdown.

    After the instance is in service, one ``GET /ping`` line every :data:`ENDPOINT_PING_SECONDS` up to
    ``pings`` lines, so a follower sees lines arrive while the plan stays finite.
    """
    start, ready = instance.start, instance.ready
    stamp = start.strftime("%d/%b/%Y:%H:%M:%S +0000")
    lines = [
        LogLine(
            epoch_ms(start),
            f"[{stamp}] [INFO] Starting the model server on {instance.instance_id} ({instance.instance_type}) "
            f"for production variant {instance.variant}",
        )
    ]
    for container in instance.containers:
        source = container.model_data_url or "no model data"
        lines.append(
            LogLine(
                epoch_ms(start),
                f"[{stamp}] [INFO] Container {container.hostname}: image {container.image or 'unknown'}, "
                f"loading {source}",
            )
        )
    loaded = start + (ready - start) / 2
    lines.append(
        LogLine(
            epoch_ms(loaded),
            f"[{loaded.strftime('%d/%b/%Y:%H:%M:%S +0000')}] [INFO] Model {instance.model_name} loaded; "
            "listening at: unix:/tmp/gunicorn.sock",
        )
    )
    if instance.failure is not None:
        lines += [
            LogLine(epoch_ms(ready), '169.254.178.2 - - "GET /ping HTTP/1.1" 500 - "-" "AHC/2.0"'),
            LogLine(epoch_ms(ready), "Traceback (most recent call last):"),
            LogLine(epoch_ms(ready), instance.failure),
            LogLine(epoch_ms(ready), "[ERROR] The model server failed its health check; shutting down."),
        ]
        return lines
    ping = '169.254.178.2 - - "GET /ping HTTP/1.1" 200 0 "-" "AHC/2.0"'
    lines += [
        LogLine(epoch_ms(ready + timedelta(seconds=ENDPOINT_PING_SECONDS * k)), ping) for k in range(max(1, pings))
    ]
    if instance.end is not None:
        end_ms = epoch_ms(instance.end)
        lines = [line for line in lines if line.timestamp_ms <= end_ms]
        lines.append(LogLine(end_ms, "Received SIGTERM: shutting down the model server."))
    return lines


def _upper_snake(name: str) -> str:
    """``MultiRecord`` -> ``MULTI_RECORD``, as the batch transform agent prints it."""
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()


def logs_backend(account_id: str, region: str) -> Any:
    from moto.backends import get_backend

    return get_backend("logs")[account_id][region]


def ensure_log_group(account_id: str, region: str, group: str) -> None:
    logs_backend(account_id, region).ensure_log_group(group)


def append_events(account_id: str, region: str, group: str, stream: str, lines: list[LogLine]) -> None:
    """Append to a stream in moto, creating group and stream if missing.

    Goes through the log group rather than the backend's PutLogEvents, which would drop events
    more than 2 hours ahead of wall time (a fast simulated clock gets there).
    """
    backend = logs_backend(account_id, region)
    backend.ensure_log_group(group)
    backend.ensure_log_stream(group, stream)
    events = [{"timestamp": line.timestamp_ms, "message": line.message} for line in lines]
    backend.groups[group].put_log_events(stream, events)
