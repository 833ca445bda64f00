"""CloudWatch log lines for simulated training jobs, written into moto's logs backend.

A job's log is planned in full from its :class:`~sagemaker_operator.simulator.lifecycle.Timeline`
(one list of timestamped lines per host) and appended to moto as simulated time passes, so a reader
following ``/aws/sagemaker/TrainingJobs`` sees lines arrive and finds them complete once the job is
terminal. Streams are named like SageMaker's: ``<job>/algo-<i>-<epoch seconds of TrainingStartTime>``.
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
    """The part of a job's planned log already appended to moto, per host."""

    account_id: str
    region: str
    stream_prefix: str
    """``<job name>/``; streams are ``<prefix>algo-<i>-<epoch>``."""
    written: list[int] = field(default_factory=list)

    def stream_names(self, hosts: int, started: datetime) -> list[str]:
        epoch = int(started.timestamp())
        return [f"{self.stream_prefix}algo-{i}-{epoch}" for i in range(1, hosts + 1)]

    def flush(self, plans: list[list[LogLine]], started: datetime, now: datetime) -> bool:
        """Append the lines due by ``now``; True once every planned line is written.

        Lines are appended in timestamp order and a re-plan (on stop) only drops lines later than
        the stop, so the count already written stays a valid cursor.
        """
        if len(self.written) < len(plans):
            self.written += [0] * (len(plans) - len(self.written))
        now_ms = epoch_ms(now)
        for host, (lines, name) in enumerate(zip(plans, self.stream_names(len(plans), started), strict=True)):
            done = self.written[host]
            due = done
            while due < len(lines) and lines[due].timestamp_ms <= now_ms:
                due += 1
            if due > done:
                append_events(self.account_id, self.region, TRAINING_LOG_GROUP, name, lines[done:due])
                self.written[host] = due
        return all(self.written[h] >= len(lines) for h, lines in enumerate(plans))


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
