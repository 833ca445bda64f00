"""Hyperparameter tuning jobs as a client sees them: children launched within limits, the best one, stop."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations

from .conftest import ClientFactory, tuning_request

TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"
CHILD_NAME = re.compile(r"^(?P<tuning>.+)-(?P<index>\d{3})-[0-9a-f]{8}$")
RUNNING = ("InProgress", "Stopping")


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def describe(sagemaker: Any, name: str) -> dict[str, Any]:
    return sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def children(sagemaker: Any, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every HyperParameterTrainingJobSummary of a tuning job, through the paginator."""
    paginator = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
    return [
        summary
        for page in paginator.paginate(HyperParameterTuningJobName=name, **kwargs)
        for summary in page["TrainingJobSummaries"]
    ]


def run_to_the_end(sim: Simulator, sagemaker: Any, name: str, step: float = 0.5) -> list[dict[str, Any]]:
    """Advance the clock until the tuning job is terminal; the descriptions seen on the way."""
    seen = [describe(sagemaker, name)]
    while seen[-1]["HyperParameterTuningJobStatus"] in RUNNING:
        assert len(seen) < 1000, "the tuning job never ended"
        sim.clock.advance(step)
        seen.append(describe(sagemaker, name))
    return seen


def test_create_returns_the_arn_and_launches_children_at_once(sagemaker: Any) -> None:
    arn = sagemaker.create_hyper_parameter_tuning_job(**tuning_request("Tune-Case"))["HyperParameterTuningJobArn"]
    assert arn == "arn:aws:sagemaker:us-west-2:123456789012:hyper-parameter-tuning-job/tune-case"
    described = describe(sagemaker, "Tune-Case")
    assert described["HyperParameterTuningJobStatus"] == "InProgress"
    assert described["HyperParameterTuningJobName"] == "Tune-Case"
    assert described["TrainingJobStatusCounters"] == {
        "Completed": 0,
        "InProgress": 2,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 2, "Failed": 0}
    assert described["LastModifiedTime"] == described["CreationTime"]
    assert "BestTrainingJob" not in described
    assert "HyperParameterTuningEndTime" not in described
    request = tuning_request("Tune-Case")
    assert described["TrainingJobDefinition"] == request["TrainingJobDefinition"]
    config = described["HyperParameterTuningJobConfig"]
    assert config["ParameterRanges"] == request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert "Tags" not in described


def test_parallelism_limit_holds_at_every_moment_and_exactly_max_jobs_run(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("limits", max_jobs=7, parallel=3))
    peak = 0
    launched_counts = set()
    while describe(sagemaker, "limits")["HyperParameterTuningJobStatus"] == "InProgress":
        summaries = children(sagemaker, "limits")
        running = [s for s in summaries if s["TrainingJobStatus"] in RUNNING]
        assert len(running) <= 3
        peak = max(peak, len(running))
        launched_counts.add(len(summaries))
        sim.clock.advance(0.25)
    assert peak == 3
    assert len(launched_counts) > 2, "children are launched over time, not all at once"

    summaries = children(sagemaker, "limits")
    assert len(summaries) == 7
    assert sorted(int(CHILD_NAME.match(s["TrainingJobName"])["index"]) for s in summaries) == list(range(1, 8))
    # Between creation and end, never more than three children overlap (the maximum is at a creation).
    spans = [(s["CreationTime"], s["TrainingEndTime"]) for s in summaries]
    overlaps = [sum(1 for start, end in spans if start <= at < end) for at, _ in spans]
    assert max(overlaps) == 3
    described = describe(sagemaker, "limits")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 7
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 7, "Pending": 0, "Failed": 0}
    last_end = max(end for _, end in spans)
    assert described["HyperParameterTuningEndTime"] == last_end
    assert described["LastModifiedTime"] == last_end

    sim.clock.advance(600)  # nothing more is launched once the tuning job is done
    assert len(children(sagemaker, "limits")) == 7


@pytest.mark.parametrize(("objective", "pick"), [("Minimize", min), ("Maximize", max)])
def test_best_training_job_follows_the_objective_type(
    sim: Simulator, sagemaker: Any, objective: str, pick: Any
) -> None:
    name = f"best-{objective.lower()}"
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request(name, objective=objective, max_jobs=8, parallel=4))
    run_to_the_end(sim, sagemaker, name)

    values = {}
    for summary in children(sagemaker, name):
        metric = summary["FinalHyperParameterTuningJobObjectiveMetric"]
        assert metric["MetricName"] == "validation:merror"
        assert summary["ObjectiveStatus"] == "Succeeded"
        # the training job itself reports the same value among its final metrics
        final = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])["FinalMetricDataList"]
        assert {m["MetricName"]: m["Value"] for m in final}["validation:merror"] == pytest.approx(metric["Value"])
        values[summary["TrainingJobName"]] = metric["Value"]
    assert len(set(values.values())) > 1, "the hyperparameters make a difference"

    best = describe(sagemaker, name)["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pick(values.values())
    assert values[best["TrainingJobName"]] == pick(values.values())
    assert best["TuningJobName"] == name
    assert best["TrainingJobStatus"] == "Completed"
    assert best["ObjectiveStatus"] == "Succeeded"
    assert set(best["TunedHyperParameters"]) == {"max_depth", "eta", "booster"}
    assert best["TrainingStartTime"] < best["TrainingEndTime"]


def test_counters_and_best_job_move_over_time(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("moving", max_jobs=6, parallel=2))
    seen = run_to_the_end(sim, sagemaker, "moving")
    completed = [d["TrainingJobStatusCounters"]["Completed"] for d in seen]
    assert completed == sorted(completed)
    assert len(set(completed)) >= 4, f"the counters move in steps: {sorted(set(completed))}"
    pending = [d["ObjectiveStatusCounters"]["Pending"] for d in seen]
    assert max(pending) == 2 and pending[-1] == 0
    # BestTrainingJob appears with the first completed child and only ever improves (Minimize).
    bests = [
        d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for d in seen
        if "BestTrainingJob" in d
    ]
    assert bests and bests == sorted(bests, reverse=True)
    # LastModifiedTime moves with every change of the counters and of the status
    for before, after in itertools.pairwise(seen):
        changed = (before["TrainingJobStatusCounters"], before["HyperParameterTuningJobStatus"]) != (
            after["TrainingJobStatusCounters"],
            after["HyperParameterTuningJobStatus"],
        )
        assert (after["LastModifiedTime"] > before["LastModifiedTime"]) == changed


def test_children_are_real_training_jobs(sim: Simulator, sagemaker: Any, logs: Any) -> None:
    tuning_arn = sagemaker.create_hyper_parameter_tuning_job(**tuning_request("family", max_jobs=3, parallel=3))[
        "HyperParameterTuningJobArn"
    ]
    sim.clock.advance(5)  # into the Training stage: the containers write logs
    listed = sagemaker.list_training_jobs(NameContains="family-")["TrainingJobSummaries"]
    assert len(listed) == 3
    for summary in listed:
        name = summary["TrainingJobName"]
        match = CHILD_NAME.match(name)
        assert match and match["tuning"] == "family"
        described = sagemaker.describe_training_job(TrainingJobName=name)
        assert described["TuningJobArn"] == tuning_arn
        assert described["TrainingJobStatus"] == "InProgress"
        hyperparameters = described["HyperParameters"]
        assert hyperparameters["num_round"] == "20"  # static
        assert 3 <= int(hyperparameters["max_depth"]) <= 10  # tuned, within its range
        assert 0.01 <= float(hyperparameters["eta"]) <= 0.5
        assert hyperparameters["booster"] in ("gbtree", "dart")
        assert hyperparameters["_tuning_objective_metric"] == "validation:merror"
        assert described["OutputDataConfig"] == tuning_request("family")["TrainingJobDefinition"]["OutputDataConfig"]
        assert sagemaker.list_tags(ResourceArn=described["TrainingJobArn"])["Tags"] == [
            {"Key": "team", "Value": "ml-platform"}
        ]
        streams = logs.describe_log_streams(logGroupName=TRAINING_GROUP, logStreamNamePrefix=f"{name}/")
        [stream] = streams["logStreams"]
        assert stream["logStreamName"].startswith(f"{name}/algo-1-")
        assert sim.training_job(name).log_stream_names() == [stream["logStreamName"]]
    assert {c.name for c in sim.tuning_job("family").children} == {s["TrainingJobName"] for s in listed}


def test_list_training_jobs_sees_children_as_they_launch(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("batched", max_jobs=4, parallel=2))
    checkpoint = describe(sagemaker, "batched")["CreationTime"]
    first = sagemaker.list_training_jobs(LastModifiedTimeAfter=checkpoint)["TrainingJobSummaries"]
    assert first == []  # the first two children were created at the checkpoint itself
    sim.clock.advance(60)
    names = [
        s["TrainingJobName"]
        for s in sagemaker.list_training_jobs(LastModifiedTimeAfter=checkpoint)["TrainingJobSummaries"]
    ]
    assert len(names) == 4
    tuning = sagemaker.list_hyper_parameter_tuning_jobs(LastModifiedTimeAfter=checkpoint)
    assert [s["HyperParameterTuningJobName"] for s in tuning["HyperParameterTuningJobSummaries"]] == ["batched"]


def test_stop_stops_the_running_children(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("halt", max_jobs=6, parallel=3))
    sim.clock.advance(3)
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="halt")

    described = describe(sagemaker, "halt")
    assert described["HyperParameterTuningJobStatus"] == "Stopping"
    assert [s["TrainingJobStatus"] for s in children(sagemaker, "halt")] == ["Stopping"] * 3
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="halt")  # accepted while Stopping

    sim.clock.advance(2)
    described = describe(sagemaker, "halt")
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert described["TrainingJobStatusCounters"]["Stopped"] == 3
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 3}
    assert described["HyperParameterTuningEndTime"] == described["LastModifiedTime"]
    for summary in children(sagemaker, "halt"):
        child = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert (child["TrainingJobStatus"], child["SecondaryStatus"]) == ("Stopped", "Stopped")

    sim.clock.advance(600)
    assert len(children(sagemaker, "halt")) == 3, "a stopped tuning job launches nothing more"
    with pytest.raises(ClientError) as raised:
        sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="halt")
    assert error_of(raised) == (
        "ValidationException",
        "The request was rejected because the hyperparameter tuning job is in status Stopped.",
    )


def test_stopping_keeps_completed_children_and_the_best_job(sim: Simulator, sagemaker: Any) -> None:
    request = tuning_request("partial", max_jobs=4, parallel=2)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_simulator_training_seconds"] = "6"
    sagemaker.create_hyper_parameter_tuning_job(**request)
    sim.clock.advance(13)  # the first two completed at 12s; the next two are Starting
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="partial")
    sim.clock.advance(2)
    described = describe(sagemaker, "partial")
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    assert described["TrainingJobStatusCounters"]["Stopped"] == 2
    assert described["BestTrainingJob"]["TrainingJobStatus"] == "Completed"


def test_failure_hyperparameter_fails_children_and_then_the_tuning_job(sim: Simulator, sagemaker: Any) -> None:
    request = tuning_request(
        "doomed", max_jobs=10, parallel=3, static={"sagemaker_simulator_failure_reason": "label column has NaNs"}
    )
    sagemaker.create_hyper_parameter_tuning_job(**request)
    run_to_the_end(sim, sagemaker, "doomed")

    described = describe(sagemaker, "doomed")
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert described["FailureReason"] == (
        "No training job succeeded after 5 attempts. For additional details, please take a look at the "
        "training job failures by listing training jobs for the hyperparameter tuning job."
    )
    counters = described["TrainingJobStatusCounters"]
    # SageMaker gives up after 5 failures; the children already running when it does still end.
    assert 5 <= counters["NonRetryableError"] < 10
    assert counters["Completed"] == counters["InProgress"] == 0
    assert described["ObjectiveStatusCounters"]["Failed"] == counters["NonRetryableError"]
    assert "BestTrainingJob" not in described
    for summary in children(sagemaker, "doomed"):
        assert summary["TrainingJobStatus"] == "Failed"
        assert summary["FailureReason"] == "AlgorithmError: label column has NaNs"
        assert summary["ObjectiveStatus"] == "Failed"
        assert "FinalHyperParameterTuningJobObjectiveMetric" not in summary


def test_all_of_few_children_failing_fails_the_tuning_job(sim: Simulator, sagemaker: Any) -> None:
    request = tuning_request("few", max_jobs=3, parallel=1, static={"sagemaker_simulator_failure_reason": "OOM"})
    sagemaker.create_hyper_parameter_tuning_job(**request)
    run_to_the_end(sim, sagemaker, "few")
    described = describe(sagemaker, "few")
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("No training job succeeded after 3 attempts.")
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 3


def test_failure_rate_fails_an_even_share_of_children(sim: Simulator, sagemaker: Any) -> None:
    request = tuning_request(
        "flaky",
        max_jobs=6,
        parallel=2,
        static={"sagemaker_simulator_failure_reason": "flaky disk", "sagemaker_simulator_failure_rate": "0.5"},
    )
    sagemaker.create_hyper_parameter_tuning_job(**request)
    run_to_the_end(sim, sagemaker, "flaky")
    described = describe(sagemaker, "flaky")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 3
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 3
    failed = sorted(
        int(CHILD_NAME.match(s["TrainingJobName"])["index"])
        for s in children(sagemaker, "flaky", StatusEquals="Failed")
    )
    assert failed == [2, 4, 6]
    assert described["BestTrainingJob"]["TrainingJobStatus"] == "Completed"
    succeeded = children(sagemaker, "flaky", StatusEquals="Completed")
    child = sagemaker.describe_training_job(TrainingJobName=succeeded[0]["TrainingJobName"])
    assert "sagemaker_simulator_failure_reason" not in child["HyperParameters"]


def test_list_children_sorted_by_objective(sim: Simulator, sagemaker: Any) -> None:
    request = tuning_request("ranked", max_jobs=6, parallel=3, static={"sagemaker_simulator_failure_rate": "0.34"})
    sagemaker.create_hyper_parameter_tuning_job(**request)
    run_to_the_end(sim, sagemaker, "ranked")

    def values(**kwargs: Any) -> list[float]:
        return [
            s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in children(sagemaker, "ranked", **kwargs)
        ]

    ascending = values(SortBy="FinalObjectiveMetricValue", SortOrder="Ascending", PaginationConfig={"PageSize": 1})
    assert len(ascending) == 4, "children without an objective value are left out when sorting by it"
    assert ascending == sorted(ascending)
    assert values(SortBy="FinalObjectiveMetricValue", SortOrder="Descending") == sorted(ascending, reverse=True)
    best = describe(sagemaker, "ranked")["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == ascending[0]

    by_name = [s["TrainingJobName"] for s in children(sagemaker, "ranked")]  # default: Name, Ascending
    assert len(by_name) == 6 and by_name == sorted(by_name)
    page = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="ranked", MaxResults=4, SortBy="Status", SortOrder="Descending"
    )
    assert "NextToken" in page
    rest = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="ranked",
        MaxResults=4,
        SortBy="Status",
        SortOrder="Descending",
        NextToken=page["NextToken"],
    )
    statuses = [s["TrainingJobStatus"] for s in page["TrainingJobSummaries"] + rest["TrainingJobSummaries"]]
    assert statuses == ["Failed"] * 2 + ["Completed"] * 4
    with pytest.raises(ClientError) as raised:
        sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="ranked", SortBy="Name", NextToken=page["NextToken"]
        )
    assert error_of(raised)[0] == "ValidationException"


def test_list_tuning_jobs_filters_sorts_and_pages(sim: Simulator, sagemaker: Any) -> None:
    created: dict[str, datetime] = {}
    for name in ("tune-b", "tune-a", "other-c"):
        sagemaker.create_hyper_parameter_tuning_job(**tuning_request(name, max_jobs=2, parallel=2))
        created[name] = describe(sagemaker, name)["CreationTime"]
        sim.clock.advance(1)
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune-a")

    def names(**kwargs: Any) -> list[str]:
        return [
            s["HyperParameterTuningJobName"]
            for s in sagemaker.list_hyper_parameter_tuning_jobs(**kwargs)["HyperParameterTuningJobSummaries"]
        ]

    assert names() == ["other-c", "tune-a", "tune-b"]  # default: Name, Ascending
    assert names(SortBy="CreationTime", SortOrder="Descending") == ["other-c", "tune-a", "tune-b"]
    assert names(SortBy="CreationTime", SortOrder="Ascending") == ["tune-b", "tune-a", "other-c"]
    assert names(NameContains="TUNE") == ["tune-a", "tune-b"]
    assert names(StatusEquals="Stopping") == ["tune-a"]
    assert names(CreationTimeAfter=created["tune-b"]) == ["other-c", "tune-a"]
    assert names(CreationTimeBefore=created["other-c"]) == ["tune-a", "tune-b"]

    first = sagemaker.list_hyper_parameter_tuning_jobs(MaxResults=2)
    assert len(first["HyperParameterTuningJobSummaries"]) == 2
    second = sagemaker.list_hyper_parameter_tuning_jobs(MaxResults=2, NextToken=first["NextToken"])
    assert [s["HyperParameterTuningJobName"] for s in second["HyperParameterTuningJobSummaries"]] == ["tune-b"]
    assert "NextToken" not in second

    summary = sagemaker.list_hyper_parameter_tuning_jobs(NameContains="tune-b")["HyperParameterTuningJobSummaries"][0]
    assert summary["Strategy"] == "Bayesian"
    assert summary["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2}
    assert summary["TrainingJobStatusCounters"]["InProgress"] == 2
    assert summary["ObjectiveStatusCounters"]["Pending"] == 2
    assert summary["HyperParameterTuningJobArn"].endswith(":hyper-parameter-tuning-job/tune-b")


def test_unknown_tuning_job_is_resource_not_found(sagemaker: Any) -> None:
    calls = (
        sagemaker.describe_hyper_parameter_tuning_job,
        sagemaker.stop_hyper_parameter_tuning_job,
        sagemaker.list_training_jobs_for_hyper_parameter_tuning_job,
    )
    for call in calls:
        with pytest.raises(ClientError) as raised:
            call(HyperParameterTuningJobName="no-such-tuning")
        assert error_of(raised) == (
            "ResourceNotFound",
            "Amazon SageMaker can't find a tuning job called no-such-tuning. Type another name.",
        )
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_duplicate_name_is_resource_in_use(sagemaker: Any) -> None:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("twice"))
    with pytest.raises(ClientError) as raised:
        sagemaker.create_hyper_parameter_tuning_job(**tuning_request("TWICE"))
    assert error_of(raised) == (
        "ResourceInUse",
        "A hyperparameter tuning job with the name, TWICE, already exists. Choose a different name.",
    )


@pytest.mark.parametrize("name", ["x" * 33, "under_score", "trailing-"])
def test_invalid_name_is_rejected(sagemaker: Any, name: str) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_hyper_parameter_tuning_job(**tuning_request(name))
    code, message = error_of(raised)
    assert code == "ValidationException"
    assert f"Value '{name}' at 'hyperParameterTuningJobName' failed to satisfy constraint" in message


def test_request_problems_are_validation_errors(sagemaker: Any) -> None:
    def rejected(request: dict[str, Any]) -> str:
        with pytest.raises(ClientError) as raised:
            sagemaker.create_hyper_parameter_tuning_job(**request)
        code, message = error_of(raised)
        assert code == "ValidationException"
        return message

    small = tuning_request("small", max_jobs=5)
    small["HyperParameterTuningJobConfig"]["ParameterRanges"] = {
        "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]
    }
    assert rejected(small) == (
        "You don't have enough combinations of hyperparameter ranges. The total number of hyperparameter "
        "combinations for the provided ranges [2.0] must be equal or greater than the value of "
        "MaxNumberOfJobs, [5]. Provide additional ranges."
    )
    overlap = tuning_request("overlap", static={"booster": "gbtree"})
    assert "both static and tunable" in rejected(overlap)
    no_definition = tuning_request("none")
    del no_definition["TrainingJobDefinition"]
    assert "TrainingJobDefinition" in rejected(no_definition)
    log_of_zero = tuning_request("zero")
    log_of_zero["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0]["MinValue"] = "0"
    assert "Logarithmic scaling" in rejected(log_of_zero)
    bad_rate = tuning_request("rate", static={"sagemaker_simulator_failure_rate": "often"})
    assert "sagemaker_simulator_failure_rate" in rejected(bad_rate)


def test_grid_search_tries_every_combination_once(sim: Simulator, sagemaker: Any) -> None:
    request = tuning_request("grid", max_jobs=None, parallel=4)
    config = request["HyperParameterTuningJobConfig"]
    config["Strategy"] = "Grid"
    config["ParameterRanges"] = {
        "CategoricalParameterRanges": [
            {"Name": "booster", "Values": ["gbtree", "dart"]},
            {"Name": "max_depth", "Values": ["3", "6", "9"]},
        ]
    }
    sagemaker.create_hyper_parameter_tuning_job(**request)
    run_to_the_end(sim, sagemaker, "grid")
    tried = {tuple(sorted(s["TunedHyperParameters"].items())) for s in children(sagemaker, "grid")}
    assert len(tried) == 6
    assert (
        describe(sagemaker, "grid")["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    )


def test_samples_are_deterministic_per_job_name(client: ClientFactory) -> None:
    """The same request in two simulators launches children with the same names and hyperparameters."""

    def tuned() -> list[tuple[str, dict[str, str]]]:
        sim = Simulator(clock=SimClock(speed=0), durations=StageDurations(training=6))
        with SimulatorServer(sim) as server:
            sagemaker = client("sagemaker", url=server.url)
            sagemaker.create_hyper_parameter_tuning_job(**tuning_request("same", max_jobs=4, parallel=4))
            return [(s["TrainingJobName"], s["TunedHyperParameters"]) for s in children(sagemaker, "same")]

    first = tuned()
    assert first == tuned()
    assert len({tuple(sorted(h.items())) for _, h in first}) == 4


def test_tags_of_a_tuning_job(sagemaker: Any) -> None:
    arn = sagemaker.create_hyper_parameter_tuning_job(**tuning_request("tagged"))["HyperParameterTuningJobArn"]
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml-platform"}]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "cost", "Value": "42"}])
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "cost", "Value": "42"}]


def test_tuning_operations_are_counted_and_can_be_faulted(
    sim: Simulator, client: ClientFactory, no_retry_sleep: None
) -> None:
    sagemaker = client("sagemaker", max_attempts=2)
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("watched"))
    sim.faults.inject("DescribeHyperParameterTuningJob", error="ThrottlingException", times=1)
    assert describe(sagemaker, "watched")["ResponseMetadata"]["RetryAttempts"] == 1
    assert sim.calls["sagemaker.DescribeHyperParameterTuningJob"] == 2
    assert sim.calls["sagemaker.CreateHyperParameterTuningJob"] == 1


def test_tuning_jobs_are_per_region(client: ClientFactory, sagemaker: Any) -> None:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("regional"))
    other = boto3.client("sagemaker", region_name="eu-west-1", endpoint_url=sagemaker.meta.endpoint_url)
    with pytest.raises(ClientError):
        other.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="regional")
    assert other.list_training_jobs()["TrainingJobSummaries"] == []


def test_simulator_record_of_a_tuning_job(sim: Simulator, sagemaker: Any) -> None:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("record", max_jobs=3, parallel=1))
    job = sim.tuning_job("record")
    assert job.status(sim.clock.now()) == "InProgress"
    assert len(job.children) == 1
    assert job.tags == [{"Key": "team", "Value": "ml-platform"}]
    with pytest.raises(KeyError):
        sim.tuning_job("other")


def test_several_training_job_definitions_take_turns(sim: Simulator, sagemaker: Any) -> None:
    request = tuning_request("multi", max_jobs=4, parallel=4)
    definition = request.pop("TrainingJobDefinition")
    ranges = request["HyperParameterTuningJobConfig"].pop("ParameterRanges")
    objective = request["HyperParameterTuningJobConfig"].pop("HyperParameterTuningJobObjective")
    small = {**definition, "DefinitionName": "small", "TuningObjective": objective, "HyperParameterRanges": ranges}
    large = {
        **{k: v for k, v in small.items() if k != "ResourceConfig"},
        "DefinitionName": "large",
        "HyperParameterTuningResourceConfig": {
            "InstanceConfigs": [{"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}]
        },
    }
    sagemaker.create_hyper_parameter_tuning_job(**request, TrainingJobDefinitions=[small, large])
    run_to_the_end(sim, sagemaker, "multi")

    summaries = children(sagemaker, "multi")
    assert [s["TrainingJobDefinitionName"] for s in summaries] == ["small", "large", "small", "large"]
    for summary in summaries:
        resources = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])["ResourceConfig"]
        expected = 1 if summary["TrainingJobDefinitionName"] == "small" else 2
        assert resources["InstanceCount"] == expected
    described = describe(sagemaker, "multi")
    assert [d["DefinitionName"] for d in described["TrainingJobDefinitions"]] == ["small", "large"]
    assert "TrainingJobDefinition" not in described
    assert described["BestTrainingJob"]["TrainingJobDefinitionName"] in ("small", "large")
