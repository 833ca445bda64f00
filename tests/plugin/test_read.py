"""``kubectl smlogs`` without -f: what is logged so far, merged across hosts, each line once."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from sagemaker_operator.simulator import Simulator

from .conftest import Cluster, Result, now_ms, put_events, training_request

TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"
LINE = re.compile(r"^\[(?P<host>[^\]]+)\] (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<message>.*)$")
METRIC = re.compile(r"^\[(\d+)\]#011train-merror")


def parsed(result: Result) -> list[tuple[str, str, str]]:
    """(host, timestamp, message) of every line printed with --timestamps."""
    rows = []
    for line in result.lines:
        match = LINE.match(line)
        assert match, f"not a prefixed, timestamped line: {line!r}"
        rows.append((match["host"], match["ts"], match["message"]))
    return rows


def stored_events(logs: Any, job: str) -> dict[str, list[str]]:
    """The oracle: every message of every stream of ``job``, read straight from CloudWatch Logs."""
    streams = logs.describe_log_streams(logGroupName=TRAINING_GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    stored = {}
    for stream in streams:
        name, messages, token = stream["logStreamName"], [], None
        while True:
            kwargs = {"nextToken": token} if token else {}
            page = logs.get_log_events(logGroupName=TRAINING_GROUP, logStreamName=name, startFromHead=True, **kwargs)
            messages += [e["message"] for e in page["events"]]
            if page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
        stored[re.sub(r"-\d{10}$", "", name.split("/", 1)[1])] = messages
    return stored


def completed_job(sim: Simulator, sagemaker: Any, cluster: Cluster, name: str, hosts: int, **hp: str) -> None:
    sagemaker.create_training_job(**training_request(name, hosts=hosts, **hp))
    sim.clock.advance(30)
    cluster.training_job(name, name, "Completed")


def test_hosts_are_merged_in_time_order_and_other_jobs_stay_out(
    sim: Simulator, sagemaker: Any, logs: Any, cluster: Cluster, plugin: Any
) -> None:
    sagemaker.create_training_job(**training_request("mnist", hosts=3))
    # A job whose name extends ours: its streams "mnist-2/..." must not show up in mnist's logs.
    sagemaker.create_training_job(**training_request("mnist-2", hosts=1, max_depth="9"))
    sim.clock.advance(30)
    cluster.training_job("mnist", "mnist", "Completed")

    result = plugin("trainingjob", "mnist", "--timestamps")

    assert result.code == 0, result.err
    rows = parsed(result)
    assert [ts for _, ts, _ in rows] == sorted(ts for _, ts, _ in rows), "lines are in time order"
    stored = stored_events(logs, "mnist")
    assert set(stored) == {"algo-1", "algo-2", "algo-3"}
    for host, messages in stored.items():
        assert [m for h, _, m in rows if h == host] == messages, f"{host}: every line once, in its order"
    assert len(rows) == sum(len(m) for m in stored.values())
    assert not any('"max_depth": "9"' in message for _, _, message in rows), "mnist-2's lines leaked in"
    # Interleaved by time: each boosting round shows up on all three hosts before the next round.
    rounds = [int(m.group(1)) for _, _, message in rows if (m := METRIC.match(message))]
    assert rounds[:6] == [0, 0, 0, 1, 1, 1]


@pytest.mark.log_lines(12_000)
def test_more_than_ten_thousand_events_cost_one_call_per_page(
    sim: Simulator, sagemaker: Any, logs: Any, cluster: Cluster, plugin: Any
) -> None:
    completed_job(sim, sagemaker, cluster, "big", hosts=2)
    stored = stored_events(logs, "big")
    assert all(len(messages) > 12_000 for messages in stored.values())
    sim.reset_calls()

    result = plugin("tj", "big", "--timestamps")

    assert result.code == 0, result.err
    rows = parsed(result)
    assert len(rows) == sum(len(m) for m in stored.values())
    for host, messages in stored.items():
        assert [m for h, _, m in rows if h == host] == messages
    assert [ts for _, ts, _ in rows] == sorted(ts for _, ts, _ in rows)
    # 12,006 events per stream: two pages each, and the short second page needs no confirming read.
    assert sim.calls["logs.GetLogEvents"] == 4
    assert sim.calls["logs.DescribeLogStreams"] == 1


@pytest.mark.log_lines(12_000)
def test_tail_reads_backwards_from_the_newest_page(
    sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any
) -> None:
    completed_job(sim, sagemaker, cluster, "tailed", hosts=2)
    everything = plugin("tj", "tailed").lines
    sim.reset_calls()

    five = plugin("tj", "tailed", "--tail", "5")
    assert five.code == 0, five.err
    assert five.lines == everything[-5:]
    assert five.lines[-1].endswith("Saving model to /opt/ml/model/xgboost-model")
    assert sim.calls["logs.GetLogEvents"] == 2, "one small backward page per stream"

    sim.reset_calls()
    many = plugin("tj", "tailed", "--tail", "15000")
    assert many.lines == everything[-15_000:]
    assert sim.calls["logs.GetLogEvents"] == 4, "10,000 then 5,000 events back from each stream's end"

    assert plugin("tj", "tailed", "--tail", "0").lines == []
    assert plugin("tj", "tailed", "--tail", "-1").lines == everything


def test_since_a_time_or_a_duration(sim: Simulator, sagemaker: Any, logs: Any, cluster: Cluster, plugin: Any) -> None:
    completed_job(sim, sagemaker, cluster, "since", hosts=2)
    everything = parsed(plugin("tj", "since", "--timestamps"))
    cut = everything[len(everything) // 2][1]

    later = parsed(plugin("tj", "since", "--timestamps", "--since", cut))
    assert later == [row for row in everything if row[1] >= cut]
    assert 0 < len(later) < len(everything)

    # Durations count back from the wall clock: a transform job's lines an hour, 20 and 2 minutes old.
    now = int(datetime.now(UTC).timestamp() * 1000)
    put_events(
        logs,
        "/aws/sagemaker/TransformJobs",
        "batch/i-0abc-1700000000",
        [
            (now - 3_600_000, "an hour ago"),
            (now - 1_200_000, "twenty minutes ago"),
            (now - 120_000, "two minutes ago"),
        ],
    )
    cluster.create("batchtransformjobs", "batch", sageMakerTransformJobName="batch", transformJobStatus="Completed")
    assert plugin("btj", "batch", "--since", "10m", "--no-prefix").lines == ["two minutes ago"]
    assert plugin("btj", "batch", "--since", "1h5m", "--no-prefix").lines == [
        "an hour ago",
        "twenty minutes ago",
        "two minutes ago",
    ]
    bad = plugin("btj", "batch", "--since", "yesterday")
    assert bad.code == 2 and "--since 'yesterday'" in bad.err


def test_host_filter_selects_whole_host_names(sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any) -> None:
    completed_job(sim, sagemaker, cluster, "wide", hosts=11)
    sim.reset_calls()

    one = plugin("tj", "wide", "-p", "algo-1")
    assert one.code == 0, one.err
    assert {line.split("]")[0] + "]" for line in one.lines} == {"[algo-1]"}, "algo-10 and algo-11 are other hosts"
    assert sim.calls["logs.GetLogEvents"] == 1, "other hosts' streams are not read at all"

    assert {line.split("]")[0] for line in plugin("tj", "wide", "--host", "algo-1").lines} == {"[algo-1"}
    none = plugin("tj", "wide", "-p", "algo-99")
    assert none.code == 1
    assert "no log stream of training job wide matches -p algo-99" in none.err
    assert "algo-11" in none.err, "the message lists the hosts there are"


def test_prefix_and_timestamp_formatting(
    sim: Simulator, sagemaker: Any, logs: Any, cluster: Cluster, plugin: Any
) -> None:
    completed_job(sim, sagemaker, cluster, "fmt", hosts=1)
    plain = plugin("tj", "fmt").lines
    assert plain[0] == "[algo-1] Arguments: train"

    bare = plugin("tj", "fmt", "--no-prefix").lines
    assert bare == [line.removeprefix("[algo-1] ") for line in plain]

    stamped = plugin("tj", "fmt", "--no-prefix", "--timestamps").lines
    [stream] = logs.describe_log_streams(logGroupName=TRAINING_GROUP, logStreamNamePrefix="fmt/")["logStreams"]
    first = logs.get_log_events(
        logGroupName=TRAINING_GROUP, logStreamName=stream["logStreamName"], limit=1, startFromHead=True
    )["events"][0]["timestamp"]
    expected = datetime.fromtimestamp(first / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert stamped[0] == f"{expected} Arguments: train"
    assert [line.split(" ", 1)[1] for line in stamped] == bare


@pytest.mark.parametrize("words", [("TrainingJob", "fmt"), ("trainingjobs", "fmt"), ("TJ", "fmt"), ("tj/fmt",)])
def test_kind_names(sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any, words: tuple[str, ...]) -> None:
    completed_job(sim, sagemaker, cluster, "fmt", hosts=1)
    result = plugin(*words)
    assert result.code == 0, result.err
    assert result.lines[0] == "[algo-1] Arguments: train"


def test_transform_job_logs(logs: Any, cluster: Cluster, plugin: Any) -> None:
    base = now_ms() - 60_000  # PutLogEvents refuses events older than 14 days
    group = "/aws/sagemaker/TransformJobs"
    put_events(logs, group, "score/i-0aaa-1700000000", [(base + 1, "model loaded"), (base + 30, "200 OK")])
    put_events(logs, group, "score/i-0aaa-1700000000/data-log", [(base + 20, "record 1 done")])
    put_events(logs, group, "score-2/i-0bbb-1700000000", [(base + 10, "another job")])
    cluster.create("batchtransformjobs", "scoring", sageMakerTransformJobName="score", transformJobStatus="Completed")

    result = plugin("batchtransformjob", "scoring")

    assert result.code == 0, result.err
    assert result.lines == ["[i-0aaa] model loaded", "[i-0aaa/data-log] record 1 done", "[i-0aaa] 200 OK"]


def test_endpoint_logs(logs: Any, cluster: Cluster, plugin: Any) -> None:
    base = now_ms() - 60_000  # PutLogEvents refuses events older than 14 days
    put_events(logs, "/aws/sagemaker/Endpoints/ep", "AllTraffic/i-01", [(base + 5, "ping"), (base + 7, "invoke")])
    put_events(logs, "/aws/sagemaker/Endpoints/ep", "AllTraffic/i-02", [(base + 6, "ping")])
    put_events(logs, "/aws/sagemaker/Endpoints/ep-2", "AllTraffic/i-03", [(base + 6, "other endpoint")])
    cluster.create(
        "hostingdeployments", "serving", endpointName="ep", endpointStatus="InService", sageMakerEndpoint=None
    )

    # The resource names no endpoint URL: --endpoint-url points SageMaker and CloudWatch Logs at the simulator.
    result = plugin("hd", "serving", "--endpoint-url", cluster.sim_url)

    assert result.code == 0, result.err
    assert result.lines == ["[AllTraffic/i-01] ping", "[AllTraffic/i-02] ping", "[AllTraffic/i-01] invoke"]
    assert Counter(
        line.split("]")[0]
        for line in plugin("hd", "serving", "--endpoint-url", cluster.sim_url, "-p", "AllTraffic/i-02").lines
    ) == {"[AllTraffic/i-02": 1}


def test_a_chatty_and_a_quiet_instance_still_merge_in_time_order(logs: Any, cluster: Cluster, plugin: Any) -> None:
    """The chatty stream needs two pages: the quiet one's later lines must wait for its second page."""
    group, base = "/aws/sagemaker/TransformJobs", now_ms() - 3_600_000
    chatty = [(base + i * 10, f"chatty {i}") for i in range(15_000)]
    quiet = [(base + i * 1_500, f"quiet {i}") for i in range(100)]
    put_events(logs, group, "mixed/i-01-1700000000", chatty)
    put_events(logs, group, "mixed/i-02-1700000000/data-log", quiet)
    cluster.create("batchtransformjobs", "mixed", sageMakerTransformJobName="mixed", transformJobStatus="Completed")

    result = plugin("btj", "mixed", "--timestamps", "--no-prefix")

    assert result.code == 0, result.err
    stamps = [line.split(" ", 1)[0] for line in result.lines]
    assert stamps == sorted(stamps)
    messages = [line.split(" ", 1)[1] for line in result.lines]
    assert [m for m in messages if m.startswith("chatty")] == [m for _, m in chatty]
    assert [m for m in messages if m.startswith("quiet")] == [m for _, m in quiet]
