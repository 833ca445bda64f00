"""CloudWatch log lines of simulated jobs, read back the way kubectl smlogs and the console read them."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations

from .conftest import ClientFactory, training_request

GROUP = "/aws/sagemaker/TrainingJobs"


def stream_names(logs: Any, job: str) -> list[str]:
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    return [s["logStreamName"] for s in streams]


def read_all(logs: Any, stream: str) -> list[dict[str, Any]]:
    """Every event of a stream, following nextForwardToken until it stops moving."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
    while True:
        page = logs.get_log_events(**kwargs)
        events += page["events"]
        if page["nextForwardToken"] == kwargs.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextForwardToken"]


METRIC_LINE = re.compile(r"^\[(\d+)\]#011train-merror:[0-9.]+#011validation-merror:[0-9.]+$")


def test_one_stream_per_host_named_like_sagemakers(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    request = training_request("hosts")
    request["ResourceConfig"]["InstanceCount"] = 3
    sagemaker.create_training_job(**request)
    assert stream_names(logs, "hosts") == []  # the group exists, streams come with the container

    sim.clock.advance(20)
    started = sagemaker.describe_training_job(TrainingJobName="hosts")["TrainingStartTime"]
    epoch = int(started.timestamp())
    assert sorted(stream_names(logs, "hosts")) == [f"hosts/algo-{i}-{epoch}" for i in (1, 2, 3)]
    assert sim.training_job("hosts").log_stream_names() == sorted(stream_names(logs, "hosts"))
    for stream in stream_names(logs, "hosts"):
        messages = [e["message"] for e in read_all(logs, stream)]
        host = re.search(r"algo-\d", stream)
        assert host is not None
        assert any(host.group(0) in m for m in messages)
        assert messages[0] == "Arguments: train"


def test_lines_arrive_progressively_and_are_complete_at_the_end(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    sagemaker.create_training_job(**training_request("follow"))
    sim.clock.advance(4.5)  # half a second into Training
    [stream] = stream_names(logs, "follow")
    page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    early = [e["message"] for e in page["events"]]
    assert early[0] == "Arguments: train"
    assert any("Hyperparameters" in m and '"max_depth": "5"' in m for m in early)
    assert not any("Training complete" in m for m in early)
    rounds_early = [int(m.group(1)) for m in map(METRIC_LINE.match, early) if m]

    sim.clock.advance(3)
    later = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True, nextToken=page["nextForwardToken"]
    )["events"]
    rounds_later = [int(m.group(1)) for m in (METRIC_LINE.match(e["message"]) for e in later) if m]
    assert rounds_later, "a follower sees new metric lines as the job trains"
    assert rounds_later[0] == (rounds_early[-1] + 1 if rounds_early else 0)

    sim.clock.advance(30)
    assert sagemaker.describe_training_job(TrainingJobName="follow")["TrainingJobStatus"] == "Completed"
    events = read_all(logs, stream)
    rounds = [int(m.group(1)) for m in (METRIC_LINE.match(e["message"]) for e in events) if m]
    assert rounds == list(range(20))
    assert events[-1]["message"].startswith("Saving model")
    timestamps = [e["timestamp"] for e in events]
    assert timestamps == sorted(timestamps)
    described = sagemaker.describe_training_job(TrainingJobName="follow")
    train_start = described["SecondaryStatusTransitions"][2]["StartTime"]
    train_end = described["SecondaryStatusTransitions"][2]["EndTime"]
    assert timestamps[0] == int(train_start.timestamp() * 1000)
    assert timestamps[-1] == int(train_end.timestamp() * 1000)


def test_failure_reason_is_in_the_logs(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    request = training_request("broken")
    request["HyperParameters"]["sagemaker_simulator_failure_reason"] = "KeyError: 'label'"
    sagemaker.create_training_job(**request)
    sim.clock.advance(30)
    [stream] = stream_names(logs, "broken")
    messages = [e["message"] for e in read_all(logs, stream)]
    assert "AlgorithmError: KeyError: 'label'" in messages
    assert not any(m.startswith("Saving model") for m in messages)


def test_stopped_job_logs_stop_where_it_was_stopped(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    sagemaker.create_training_job(**training_request("cut-short"))
    sim.clock.advance(7)  # halfway through Training
    sagemaker.stop_training_job(TrainingJobName="cut-short")
    sim.clock.advance(30)
    [stream] = stream_names(logs, "cut-short")
    messages = [e["message"] for e in read_all(logs, stream)]
    rounds = [int(m.group(1)) for m in map(METRIC_LINE.match, messages) if m]
    assert 0 < len(rounds) < 20
    assert "SIGTERM" in messages[-1]


def test_more_than_ten_thousand_events_page_through(client: ClientFactory) -> None:
    sim = Simulator(clock=SimClock(speed=0), durations=StageDurations(training=60), log_lines_per_host=10_500)
    with SimulatorServer(sim) as server:
        sagemaker = client("sagemaker", url=server.url)
        logs = client("logs", url=server.url)
        sagemaker.create_training_job(**training_request("chatty"))
        sim.clock.advance(120)
        [stream] = stream_names(logs, "chatty")
        first = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
        assert len(first["events"]) == 10_000  # one page is at most 10,000 events
        events = read_all(logs, stream)
    rounds = [int(m.group(1)) for m in (METRIC_LINE.match(e["message"]) for e in events) if m]
    assert rounds == list(range(10_500))


def test_concurrent_readers_never_duplicate_lines(sim: Simulator, client: ClientFactory) -> None:
    sagemaker = client("sagemaker")
    sagemaker.create_training_job(**training_request("busy"))
    errors: list[BaseException] = []
    done = threading.Event()

    def poll() -> None:
        reader = client("sagemaker")
        log_reader = client("logs")
        try:
            while not done.is_set():
                reader.describe_training_job(TrainingJobName="busy")
                log_reader.describe_log_streams(logGroupName=GROUP)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(30):
            sim.clock.advance(0.5)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert errors == []
    logs = client("logs")
    [stream] = stream_names(logs, "busy")
    messages = [e["message"] for e in read_all(logs, stream)]
    rounds = [int(m.group(1)) for m in map(METRIC_LINE.match, messages) if m]
    assert rounds == list(range(20))
    assert messages.count("Arguments: train") == 1


@pytest.mark.parametrize("region", ["us-west-2", "eu-central-1"])
def test_logs_are_written_in_the_jobs_region(sim: Simulator, client: ClientFactory, region: str) -> None:
    sagemaker = client("sagemaker", region=region)
    logs = client("logs", region=region)
    name = f"in-{region}"
    sagemaker.create_training_job(**training_request(name))
    sim.clock.advance(30)
    assert len(stream_names(logs, name)) == 1
