"""``kubectl smlogs -f``: new lines as they come, new hosts picked up, and an exit code when the job ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sagemaker_operator.simulator import Simulator

from .conftest import ROOT, Cluster, now_ms, put_events, training_request


def has(text: str) -> Any:
    return lambda lines: any(text in line for line in lines)


def assert_each_line_once(followed: list[str], complete: list[str]) -> None:
    """What -f printed is the complete log: every line once, each host's lines in their order."""
    assert Counter(followed) == Counter(complete)
    assert len(set(followed)) == len(followed)
    for host in {line.split("]")[0] for line in complete}:
        assert [line for line in followed if line.startswith(host)] == [
            line for line in complete if line.startswith(host)
        ]


def test_follow_prints_lines_as_they_come_and_exits_0_when_completed(
    sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any, plugin: Any
) -> None:
    sagemaker.create_training_job(**training_request("live", hosts=2))
    sim.clock.advance(4.5)  # half a second into Training: only the first lines are written
    cluster.training_job("live", "live", "InProgress")

    run = follow("trainingjob", "live")
    run.wait_for(has("Distributed node training"), "the first lines")
    assert not any("[10]#011" in line for line in run.lines)

    sim.clock.advance(10)
    run.wait_for(lambda lines: sum("[9]#011" in line for line in lines) == 2, "round 9 on both hosts")
    assert run.code is None, "the job is still running: -f keeps going"

    sim.clock.advance(20)  # the job ends in SageMaker; the operator reports it a moment later
    cluster.set("trainingjobs", "live", trainingJobStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert result.lines[-1].endswith("Saving model to /opt/ml/model/xgboost-model")
    assert_each_line_once(result.lines, plugin("tj", "live").lines)


def test_follow_with_tail_starts_from_the_last_lines(
    sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any, plugin: Any
) -> None:
    sagemaker.create_training_job(**training_request("tailing", hosts=2))
    sim.clock.advance(10)
    cluster.training_job("tailing", "tailing", "InProgress")
    so_far = plugin("tj", "tailing").lines

    run = follow("tj", "tailing", "--tail", "3")
    run.wait_for(lambda lines: len(lines) >= 3, "the last three lines")
    assert run.lines == so_far[-3:]

    sim.clock.advance(30)
    cluster.set("trainingjobs", "tailing", trainingJobStatus="Completed")
    result = run.result()
    assert result.code == 0, result.err
    everything = plugin("tj", "tailing").lines
    assert Counter(result.lines) == Counter(everything[len(so_far) - 3 :])


def test_follow_reads_every_stream_once_more_after_a_failure_and_exits_3(
    sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any, plugin: Any
) -> None:
    sagemaker.create_training_job(
        **training_request("doomed", hosts=2, sagemaker_simulator_failure_reason="label column has NaN")
    )
    sim.clock.advance(5)
    cluster.training_job("doomed", "doomed", "InProgress")
    run = follow("tj", "doomed")
    run.wait_for(has("Distributed node training"), "the first lines")

    # The job fails and the status says so at once: its last lines are read after the status, once.
    sim.clock.advance(30)
    reason = "AlgorithmError: label column has NaN"
    cluster.set("trainingjobs", "doomed", trainingJobStatus="Failed", failureReason=reason)
    result = run.result()

    assert result.code == 3
    assert "training job doomed Failed: AlgorithmError: label column has NaN" in result.err
    assert sum("Reporting training FAILURE" in line for line in result.lines) == 2
    assert_each_line_once(result.lines, plugin("tj", "doomed").lines)


def test_follow_exits_4_when_the_job_is_stopped(sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any) -> None:
    sagemaker.create_training_job(**training_request("halted"))
    sim.clock.advance(8)
    cluster.training_job("halted", "halted", "InProgress")
    run = follow("tj", "halted")
    run.wait_for(has("Arguments: train"), "the first lines")

    sagemaker.stop_training_job(TrainingJobName="halted")
    cluster.set("trainingjobs", "halted", trainingJobStatus="Stopping")
    sim.clock.advance(5)
    cluster.set("trainingjobs", "halted", trainingJobStatus="Stopped")
    result = run.result()

    assert result.code == 4
    assert result.lines[-1] == "[algo-1] Received SIGTERM: the training job is being stopped."


def test_follow_picks_up_a_new_host_and_the_last_lines(logs: Any, cluster: Cluster, follow: Any) -> None:
    group, base = "/aws/sagemaker/TransformJobs", now_ms()
    put_events(logs, group, "batch/i-01-1700000000", [(base, "first instance up")])
    cluster.create("batchtransformjobs", "batch", sageMakerTransformJobName="batch", transformJobStatus="InProgress")
    run = follow("btj", "batch")
    run.wait_for(has("first instance up"), "the first instance's line")

    put_events(logs, group, "batch/i-02-1700000000", [(base + 10, "second instance up")])
    run.wait_for(has("[i-02] second instance up"), "the new instance's stream")

    put_events(logs, group, "batch/i-01-1700000000", [(base + 20, "first instance done")])
    put_events(logs, group, "batch/i-02-1700000000", [(base + 21, "second instance done")])
    cluster.set("batchtransformjobs", "batch", transformJobStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert result.lines[:2] == ["[i-01] first instance up", "[i-02] second instance up"]
    # Written a moment apart to two streams read on their own schedules: either may be read first.
    assert sorted(result.lines[2:]) == ["[i-01] first instance done", "[i-02] second instance done"]


def test_follow_waits_for_submission_and_for_streams_saying_so_once(
    sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any
) -> None:
    cluster.training_job("queued", None, status="")
    run = follow("tj", "queued")
    run.wait_for(lambda _: "to be submitted" in run.err.text(), "the waiting notice")

    sagemaker.create_training_job(**training_request("queued-abc123"))
    cluster.set("trainingjobs", "queued", sageMakerTrainingJobName="queued-abc123", trainingJobStatus="InProgress")
    run.wait_for(lambda _: "waiting for logs" in run.err.text(), "the no-streams notice")

    sim.clock.advance(10)
    run.wait_for(has("Arguments: train"), "the lines once training started")
    sim.clock.advance(30)
    cluster.set("trainingjobs", "queued", trainingJobStatus="Completed")
    result = run.result()

    assert result.code == 0, result.err
    assert result.err.count("waiting for trainingjob/queued to be submitted in SageMaker") == 1
    assert result.err.count("waiting for logs: training job queued-abc123") == 1
    assert "has no log streams yet in /aws/sagemaker/TrainingJobs (prefix 'queued-abc123/')" in result.err
    assert result.lines[-1] == "[algo-1] Saving model to /opt/ml/model/xgboost-model"


def test_follow_exits_5_when_the_resource_is_deleted(
    sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any
) -> None:
    sagemaker.create_training_job(**training_request("gone"))
    sim.clock.advance(8)
    cluster.training_job("gone", "gone", "InProgress")
    run = follow("tj", "gone")
    run.wait_for(has("Arguments: train"), "the first lines")

    cluster.kube.delete("trainingjobs", cluster.namespace, "gone")
    result = run.result()

    assert result.code == 5
    assert "trainingjob/gone was deleted" in result.err


def test_endpoint_is_followed_until_it_fails(logs: Any, cluster: Cluster, follow: Any) -> None:
    group, base = "/aws/sagemaker/Endpoints/live-ep", now_ms()
    put_events(logs, group, "AllTraffic/i-01", [(base, "serving")])
    cluster.create("hostingdeployments", "serve", endpointName="live-ep", endpointStatus="InService")
    run = follow("hostingdeployment", "serve")
    run.wait_for(has("serving"), "the endpoint's line")
    cluster.set("hostingdeployments", "serve", endpointStatus="Updating")
    put_events(logs, group, "AllTraffic/i-01", [(base + 1, "out of memory")])
    run.wait_for(has("out of memory"), "the next line")
    assert run.code is None, "an endpoint that is updating is still followed"

    cluster.set("hostingdeployments", "serve", endpointStatus="Failed")
    result = run.result()
    assert result.code == 3
    assert result.lines == ["[AllTraffic/i-01] serving", "[AllTraffic/i-01] out of memory"]


def test_ctrl_c_exits_130_without_a_traceback(
    sim: Simulator, sagemaker: Any, cluster: Cluster, kubeconfig: Path
) -> None:
    sagemaker.create_training_job(**training_request("forever"))
    sim.clock.advance(8)
    cluster.training_job("forever", "forever", "InProgress")
    command = [sys.executable, "-m", "kubectl_plugin", "tj", "forever", "-f", "--kubeconfig", str(kubeconfig)]
    child = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "[algo-1] Arguments: train\n"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 130
    assert "Traceback" not in err
