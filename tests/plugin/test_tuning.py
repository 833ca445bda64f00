"""A tuning job's logs are its training jobs' logs, each line prefixed with the training job."""

from __future__ import annotations

import time
from typing import Any

from sagemaker_operator.simulator import Simulator

from .conftest import Cluster, settled, training_request

CHILDREN = ("tune-001-aaaa", "tune-002-bbbb")


def start_children(sim: Simulator, sagemaker: Any, names: tuple[str, ...] = CHILDREN) -> None:
    for name in names:
        sagemaker.create_training_job(**training_request(name, hosts=2))
    # Not a child of "tune" although its name shares the prefix: it must not show up.
    sagemaker.create_training_job(**training_request("tune-003-zzzz", hosts=1, max_depth="9"))
    sim.clock.advance(30)


def tuning_status(
    cluster: Cluster, status: str, children: tuple[str, ...] | None, running: tuple[str, ...] = ()
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "sageMakerHyperParameterTuningJobName": "tune",
        "hyperParameterTuningJobStatus": status,
        "region": "us-west-2",
        "sageMakerEndpoint": cluster.sim_url,
    }
    if children is not None:
        fields["trainingJobs"] = [
            {
                "trainingJobName": name,
                "trainingJobStatus": "InProgress" if name in running else "Completed",
                "objectiveValue": 0.1,
            }
            for name in children
        ]
    return fields


def test_lines_are_prefixed_with_the_training_job_and_host(
    sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any
) -> None:
    start_children(sim, sagemaker)
    cluster.create("hyperparametertuningjobs", "tuning", **tuning_status(cluster, "Completed", CHILDREN))
    sim.reset_calls()

    result = plugin("hpo", "tuning")

    assert result.code == 0, result.err
    prefixes = {line.split("] ")[0] + "]" for line in result.lines}
    assert prefixes == {f"[{child}/algo-{i}]" for child in CHILDREN for i in (1, 2)}
    assert not any('"max_depth": "9"' in line for line in result.lines)
    assert sum(line.endswith("] Arguments: train") for line in result.lines) == 4
    assert sim.calls["logs.DescribeLogStreams"] == 1, "the children share a prefix: one listing finds all"

    only = plugin("hyperparametertuningjob", "tuning", "-p", "tune-002-bbbb")
    assert {line.split("/")[0] for line in only.lines} == {"[tune-002-bbbb"}


def test_a_training_job_started_while_following_is_picked_up(
    sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any
) -> None:
    start_children(sim, sagemaker, CHILDREN[:1])
    cluster.create("hyperparametertuningjobs", "tuning", **tuning_status(cluster, "InProgress", CHILDREN[:1]))
    run = follow("hpo", "tuning")
    run.wait_for(
        lambda lines: any(line.startswith("[tune-001-aaaa/algo-2] Saving model") for line in lines),
        "the first training job's lines",
    )

    sagemaker.create_training_job(**training_request(CHILDREN[1], hosts=2))
    cluster.set(
        "hyperparametertuningjobs", "tuning", **tuning_status(cluster, "InProgress", CHILDREN, running=CHILDREN[1:])
    )
    sim.clock.advance(10)
    run.wait_for(
        lambda lines: any(line.startswith("[tune-002-bbbb/algo-1] Arguments") for line in lines),
        "the second training job's lines",
    )
    sim.clock.advance(30)
    cluster.set("hyperparametertuningjobs", "tuning", **tuning_status(cluster, "Completed", CHILDREN))
    result = run.result()

    assert result.code == 0, result.err
    assert sum(line.endswith("] Saving model to /opt/ml/model/xgboost-model") for line in result.lines) == 4
    assert len(set(result.lines)) == len(result.lines)


def test_finished_training_jobs_are_read_to_the_end_once_then_left_alone(
    sim: Simulator, sagemaker: Any, cluster: Cluster, follow: Any
) -> None:
    """A long tuning job must not keep polling every finished training job's streams (API quota)."""
    start_children(sim, sagemaker)
    cluster.create("hyperparametertuningjobs", "tuning", **tuning_status(cluster, "InProgress", CHILDREN))
    run = follow("hpo", "tuning")
    run.wait_for(lambda lines: sum("Saving model" in line for line in lines) == 4, "all four hosts' last lines")

    settled(lambda: sim.calls["logs.GetLogEvents"], quiet=1.0)  # the finished streams retired: 20 polls unread
    before = sim.calls
    time.sleep(1.0)
    after = sim.calls
    assert after["logs.GetLogEvents"] == before["logs.GetLogEvents"], "finished streams are not read again"
    assert after["logs.DescribeLogStreams"] > before["logs.DescribeLogStreams"], (
        "new training jobs are still looked for"
    )

    cluster.set("hyperparametertuningjobs", "tuning", hyperParameterTuningJobStatus="Completed")
    assert run.result().code == 0


def test_without_a_list_in_the_status_the_training_jobs_come_from_sagemaker(
    sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any
) -> None:
    start_children(sim, sagemaker)
    asked: list[dict[str, Any]] = []

    def list_children(_sim: Any, _context: Any, params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        first = "NextToken" not in params  # two pages, as a real tuning job with many children answers
        name = CHILDREN[0] if first else CHILDREN[1]
        summary = {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:us-west-2:123456789012:training-job/{name}",
            "CreationTime": sim.clock.now(),
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"max_depth": "5"},
        }
        return {"TrainingJobSummaries": [summary], **({"NextToken": "page-2"} if first else {})}

    # The simulator's extension point: this test's own answer for the operation, over real HTTP.
    sim.handlers["ListTrainingJobsForHyperParameterTuningJob"] = list_children
    cluster.create("hyperparametertuningjobs", "tuning", **tuning_status(cluster, "Completed", None))

    result = plugin("hpo", "tuning")

    assert result.code == 0, result.err
    assert [params.get("HyperParameterTuningJobName") for params in asked] == ["tune", "tune"]
    assert {line.split("/")[0] for line in result.lines} == {"[tune-001-aaaa", "[tune-002-bbbb"}
