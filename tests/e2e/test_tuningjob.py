"""HyperparameterTuningJob end to end: counters that move, the best trial, children, stop on delete."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cluster, Sim, condition, eventually, sample

pytestmark = pytest.mark.usefixtures("operator")
HPO = "hyperparametertuningjobs"


def tuning_job(name: str, **spec_changes: object) -> dict:
    return sample("xgboost-mnist-hpo.yaml", name, **spec_changes)


async def test_tuning_job_counters_move_and_the_best_trial_wins(cluster: Cluster, sim: Sim) -> None:
    await cluster.apply(tuning_job("tune"))
    status = await cluster.status_when("tune", lambda s: s.get("hyperParameterTuningJobStatus"), "submitted", HPO)
    assert status["sageMakerHyperParameterTuningJobName"].startswith("tune-")
    assert len(status["sageMakerHyperParameterTuningJobName"]) <= 32

    # Step through simulated time; after each step the resource must show what SageMaker shows.
    name = status["sageMakerHyperParameterTuningJobName"]
    seen_completed: list[int] = []
    while status.get("hyperParameterTuningJobStatus") != "Completed":
        sim.simulator.clock.advance(300)
        truth = sim.client().describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        expected = {k[0].lower() + k[1:]: v for k, v in truth["TrainingJobStatusCounters"].items()}
        status = await cluster.status_when(
            "tune",
            lambda s, e=expected, t=truth: (
                s.get("hyperParameterTuningJobStatus") == t["HyperParameterTuningJobStatus"]
                and all((s.get("trainingJobStatusCounters") or {}).get(k) == v for k, v in e.items())
            ),
            "the counters SageMaker shows",
            HPO,
        )
        seen_completed.append(status["trainingJobStatusCounters"]["completed"])
    assert len(set(seen_completed)) >= 3, f"the counters moved in steps, not all at once: {seen_completed}"

    counters = status["trainingJobStatusCounters"]
    assert counters["completed"] == 10 and counters["inProgress"] == 0 and counters["totalError"] == 0
    children = status["trainingJobs"]
    assert len(children) == 10
    assert all(c["trainingJobStatus"] == "Completed" for c in children)
    best = status["bestTrainingJob"]
    lowest = min(children, key=lambda c: c["objectiveValue"])
    assert best["trainingJobName"] == lowest["trainingJobName"], "Minimize: the lowest validation:error wins"
    assert best["finalHyperParameterTuningJobObjectiveMetric"]["value"] == pytest.approx(lowest["objectiveValue"])
    assert {p["name"] for p in best["tunedHyperParameters"]} >= {"num_round", "eta"}
    assert condition(status, "Succeeded")["status"] == "True"
    assert "best: " + best["trainingJobName"] in condition(status, "Succeeded")["message"]

    reasons = await eventually(lambda: (r := cluster.reasons("tune")) and "Completed" in r and r, what="events")
    assert "Submitted" in reasons and "NewBestTrainingJob" in reasons
    assert sim.calls("CreateHyperParameterTuningJob") == 1


async def test_a_tuning_job_whose_trials_all_fail_reports_why(cluster: Cluster, sim: Sim) -> None:
    document = tuning_job("hopeless")
    document["spec"]["trainingJobDefinition"]["staticHyperParameters"].append(
        {"name": "sagemaker_simulator_failure_reason", "value": "out of memory"}
    )
    await cluster.apply(document)
    await cluster.status_when("hopeless", lambda s: s.get("hyperParameterTuningJobStatus"), "submitted", HPO)
    sim.simulator.clock.advance(36000)
    status = await cluster.status_when(
        "hopeless", lambda s: s.get("hyperParameterTuningJobStatus") == "Failed", "Failed", HPO
    )
    assert status["failureReason"]
    assert status["trainingJobStatusCounters"]["totalError"] > 0
    assert condition(status, "Succeeded")["status"] == "False"
    await eventually(
        lambda: [e for e in cluster.events("hopeless") if e["type"] == "Warning" and e["reason"] == "Failed"],
        what="a Warning event",
    )


@pytest.mark.parametrize("describe_throttled", [False, True], ids=["plain", "describe-throttled"])
async def test_deleting_a_running_tuning_job_stops_it(cluster: Cluster, sim: Sim, describe_throttled: bool) -> None:
    await cluster.apply(tuning_job("cancel"))
    status = await cluster.status_when(
        "cancel", lambda s: s.get("hyperParameterTuningJobStatus") == "InProgress", "InProgress", HPO
    )
    if describe_throttled:  # the Go operator leaked jobs when Describe was throttled during delete
        sim.simulator.faults.inject("DescribeHyperParameterTuningJob", error="ThrottlingException", rate=1.0)
    await cluster.delete("cancel", HPO)
    await eventually(lambda: cluster.gone("cancel", HPO), what="the resource to be deleted")

    assert sim.succeeded("StopHyperParameterTuningJob") == 1
    sim.simulator.faults.clear()
    name = status["sageMakerHyperParameterTuningJobName"]
    described = sim.client().describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")


async def test_an_invalid_tuning_spec_is_terminal_with_sagemakers_message(cluster: Cluster, sim: Sim) -> None:
    sim.simulator.faults.inject(
        "CreateHyperParameterTuningJob",
        error="ValidationException",
        times=1,
        message="The objective metric validation:error is not emitted by the algorithm",
    )
    await cluster.apply(tuning_job("invalid"))
    status = await cluster.status_when(
        "invalid", lambda s: condition(s, "Terminal").get("status") == "True", "Terminal", HPO
    )
    assert "validation:error is not emitted" in condition(status, "Terminal")["message"]
    assert sim.calls("CreateHyperParameterTuningJob") == 1
