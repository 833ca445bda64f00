"""What goes wrong is said in one line that names what to fix; throttling slows down, never loses lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemaker_operator.simulator import Simulator

from .conftest import Cluster, emulator, training_request, write_kubeconfig


def completed(sim: Simulator, sagemaker: Any, cluster: Cluster, name: str, hosts: int = 1) -> None:
    sagemaker.create_training_job(**training_request(name, hosts=hosts))
    sim.clock.advance(30)
    cluster.training_job(name, name, "Completed")


def test_throttled_reads_back_off_and_still_print_every_line_once(
    sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any
) -> None:
    completed(sim, sagemaker, cluster, "busy", hosts=3)
    calm = plugin("tj", "busy")
    sim.faults.inject("logs.GetLogEvents", error="ThrottlingException", times=6)  # six in a row
    sim.faults.inject("logs.GetLogEvents", error="ThrottlingException", rate=0.5, seed=3)

    throttled = plugin("tj", "busy")

    assert throttled.code == 0, throttled.err
    assert throttled.lines == calm.lines
    refused = [r for r in sim.requests if r.operation == "GetLogEvents" and r.error_code == "ThrottlingException"]
    assert len(refused) >= 6
    notices = throttled.err.splitlines()
    assert notices == ["smlogs: CloudWatch Logs is throttling GetLogEvents requests; backing off and retrying"]


def test_outages_are_retried_too(sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any) -> None:
    completed(sim, sagemaker, cluster, "flaky", hosts=2)
    calm = plugin("tj", "flaky")
    sim.faults.inject("logs.DescribeLogStreams", error="InternalFailure", times=3)
    sim.faults.inject("logs.GetLogEvents", error="ServiceUnavailable", times=3)

    result = plugin("tj", "flaky")

    assert result.code == 0, result.err
    assert result.lines == calm.lines
    assert "CloudWatch Logs is failing (InternalFailure) on DescribeLogStreams requests; backing off" in result.err


def test_access_denied_names_the_missing_permission(
    sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any
) -> None:
    completed(sim, sagemaker, cluster, "secret")
    denial = "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: logs:GetLogEvents"
    sim.faults.inject("logs.GetLogEvents", error="AccessDeniedException", message=denial)

    result = plugin("tj", "secret")

    assert result.code == 1
    assert result.err.startswith("error: access denied to logs:GetLogEvents on log stream /aws/sagemaker/TrainingJobs:")
    assert "needs the IAM permission logs:GetLogEvents" in result.err
    assert denial in result.err
    assert "Traceback" not in result.err

    sim.faults.clear()
    sim.faults.inject("logs.DescribeLogStreams", error="AccessDeniedException")
    listing = plugin("tj", "secret")
    assert listing.code == 1
    assert "needs the IAM permission logs:DescribeLogStreams" in listing.err


def test_unknown_resource_names_the_namespace_and_context(cluster: Cluster, plugin: Any) -> None:
    result = plugin("tj", "nope")
    assert result.code == 1
    where = f'namespace "{cluster.namespace}" (context "emulator")'
    assert result.err == f'error: trainingjob "nope" not found in {where}\n'

    other = plugin("tj", "nope", "-n", "elsewhere")
    assert 'not found in namespace "elsewhere"' in other.err


def test_usage_errors(plugin: Any) -> None:
    kind = plugin("notebook", "x")
    assert kind.code == 2
    assert "unknown kind 'notebook': use one of trainingjob (tj), hyperparametertuningjob (hpo)" in kind.err
    missing = plugin("tj")
    assert missing.code == 2 and "a resource NAME is required" in missing.err
    tail = plugin("tj", "x", "--tail", "lots")
    assert tail.code == 2 and "--tail: not a number of lines" in tail.err


def test_a_job_not_submitted_yet(cluster: Cluster, plugin: Any) -> None:
    cluster.training_job("queued", None, status="")
    result = plugin("tj", "queued")
    assert result.code == 1
    assert "trainingjob/queued in namespace" in result.err
    assert "has not been submitted in SageMaker yet (no status.sageMakerTrainingJobName); use -f" in result.err


def test_a_spec_sagemaker_refused(cluster: Cluster, plugin: Any) -> None:
    refusal = {"type": "Terminal", "status": "True", "reason": "ValidationException", "message": "bad image"}
    cluster.training_job("refused", None, status="", conditions=[refusal])
    for args in (("tj", "refused"), ("tj", "refused", "-f")):
        result = plugin(*args)
        assert result.code == 1
        assert "SageMaker refused trainingjob/refused, nothing ran: bad image" in result.err


def test_no_logs_yet(sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any) -> None:
    sagemaker.create_training_job(**training_request("early"))
    cluster.training_job("early", "early", "InProgress")  # still Starting: no container, no stream
    result = plugin("tj", "early")
    assert result.code == 1
    assert (
        "training job early (status InProgress) has no log streams yet in /aws/sagemaker/TrainingJobs "
        "(prefix 'early/'); use -f to wait for them" in result.err
    )

    cluster.create("batchtransformjobs", "fresh", sageMakerTransformJobName="fresh", transformJobStatus="InProgress")
    group = plugin("btj", "fresh")
    assert group.code == 1
    assert f"log group /aws/sagemaker/TransformJobs does not exist yet in us-west-2 (at {cluster.sim_url})" in group.err


def test_aws_configuration_errors(sim: Simulator, sagemaker: Any, cluster: Cluster, plugin: Any) -> None:
    completed(sim, sagemaker, cluster, "somewhere")
    cluster.kube.create(
        "TrainingJob",
        "trainingjobs",
        cluster.namespace,
        "regionless",
        {
            "sageMakerTrainingJobName": "somewhere",
            "trainingJobStatus": "Completed",
        },
    )
    regionless = plugin("tj", "regionless")
    assert regionless.code == 1
    assert "no AWS region" in regionless.err and "--region" in regionless.err
    assert plugin("tj", "regionless", "--region", "us-west-2", "--endpoint-url", cluster.sim_url).code == 0

    unreachable = plugin("tj", "somewhere", "--endpoint-url", "http://127.0.0.1:9")
    assert unreachable.code == 1
    assert "cannot reach CloudWatch Logs at http://127.0.0.1:9" in unreachable.err


def test_a_cluster_without_the_operators_crds(tmp_path: Path, plugin: Any) -> None:
    with emulator([]) as bare:
        config = write_kubeconfig(tmp_path / "bare", bare, "default")
        result = plugin("tj", "x", "--kubeconfig", str(config))
    assert result.code == 1
    assert f"the Kubernetes API at {bare} does not serve trainingjobs.sagemaker.aws.amazon.com/v1" in result.err
    assert "are the operator's CRDs installed?" in result.err


def test_kubeconfig_errors(tmp_path: Path, kubeconfig: Path, plugin: Any) -> None:
    context = plugin("tj", "x", "--context", "nope")
    assert context.code == 1 and "kubeconfig" in context.err and "nope" in context.err

    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"
    down = tmp_path / "down"
    down.write_text(yaml.safe_dump(config))
    unreachable = plugin("tj", "x", "--kubeconfig", str(down))
    assert unreachable.code == 1
    assert "cannot reach the Kubernetes API at http://127.0.0.1:9 (context 'emulator')" in unreachable.err


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version(flag: str, plugin: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin(flag).code == 0
    shown = capsys.readouterr().out
    expected = (
        ["kubectl smlogs KIND NAME", "exit codes:", "AWS_ENDPOINT_URL_LOGS"]
        if flag == "--help"
        else ["kubectl-smlogs 0."]
    )
    assert all(text in shown for text in expected), shown
