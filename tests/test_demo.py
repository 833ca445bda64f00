"""The demo a newcomer runs first: it must finish, show the states, events and logs, and clean up."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sagemaker_operator.demo import DEFAULT_SAMPLE, DemoError, run_demo
from sagemaker_operator.simulator import StageDurations

FAST = StageDurations(starting=1, downloading=1, training=2, uploading=1, stopping=1)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the demo overwrites them


async def test_demo_runs_the_sample_to_completed_and_leaves_nothing_running() -> None:
    lines: list[str] = []
    code = await run_demo(durations=FAST, timeout=60, echo=lines.append)
    output = "\n".join(lines)

    assert code == 0, output
    rows = [line for line in lines if line.startswith("xgboost-mnist ")]
    states = [row.split()[2] for row in rows if len(row.split()) > 3]
    assert "Training" in states and states[-1] == "Completed", rows
    assert "Normal   Completed" in output
    assert "[algo-1] [0]#011train-merror" in output, "the job's log lines are shown"
    assert "Model artifacts: s3://amzn-s3-demo-bucket/xgboost/xgboost-mnist-" in output
    assert 'trainingjob.sagemaker.aws.amazon.com "xgboost-mnist" deleted' in output
    # Nothing keeps running: the simulator's and the emulator's ports are closed, their threads gone.
    urls = re.findall(r"at (http://127\.0\.0\.1:\d+)", output)
    assert len(urls) == 2, output
    for url in urls:
        host, port = url.removeprefix("http://").split(":")
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=1).close()
    assert not [t for t in threading.enumerate() if t.name == "sagemaker-simulator"]


async def test_demo_of_a_failure_shows_the_reason_and_exits_non_zero() -> None:
    lines: list[str] = []
    code = await run_demo(durations=FAST, timeout=60, fail_reason="label column has NaN", echo=lines.append)
    output = "\n".join(lines)

    assert code == 1
    assert "Warning  Failed             AlgorithmError: label column has NaN" in output
    assert "Failure reason: AlgorithmError: label column has NaN" in output


async def test_demo_refuses_a_manifest_that_is_not_a_training_job(tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
    with pytest.raises(DemoError, match="is not a TrainingJob or HyperparameterTuningJob manifest"):
        await run_demo(sample=manifest, echo=lambda _: None)


def test_demo_command_exits_zero() -> None:
    """The quick-start command itself, as a newcomer runs it (default sample and durations)."""
    done = subprocess.run(
        [sys.executable, "-m", "sagemaker_operator.cli", "demo", "-f", str(DEFAULT_SAMPLE)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The job ended Completed" in done.stdout


async def test_demo_against_a_cluster_from_a_kubeconfig_installs_the_crds(tmp_path: Path) -> None:
    """`demo --kubeconfig`: here the "cluster" is an emulator started without our CRDs."""
    from sagemaker_operator.kube.emulator import serve_emulator

    async with serve_emulator() as cluster:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            f"""
apiVersion: v1
kind: Config
current-context: lab
clusters: [{{name: lab, cluster: {{server: "{cluster.url}"}}}}]
users: [{{name: me, user: {{token: abc}}}}]
contexts: [{{name: lab, context: {{cluster: lab, user: me}}}}]
"""
        )
        lines: list[str] = []
        code = await run_demo(kubeconfig=str(kubeconfig), durations=FAST, timeout=60, echo=lines.append)

        output = "\n".join(lines)
        assert code == 0, output
        assert f"cluster {cluster.url} (kubeconfig)" in output
        assert "customresourcedefinition.apiextensions.k8s.io/trainingjobs.sagemaker.aws.amazon.com created" in output
        assert cluster.list_objects("apiextensions.k8s.io/v1/customresourcedefinitions")


async def test_tuning_demo_shows_counters_moving_and_the_best_trial() -> None:
    from sagemaker_operator.demo import TUNING_SAMPLE

    lines: list[str] = []
    code = await run_demo(sample=TUNING_SAMPLE, durations=FAST, timeout=90, echo=lines.append)
    output = "\n".join(lines)

    assert code == 0, output
    rows = [line.split() for line in lines if line.startswith("xgboost-mnist-hpo ")]
    completed = [int(row[2]) for row in rows if len(row) > 3 and row[2].isdigit()]
    assert completed[-1] == 10 and len(set(completed)) > 2, rows
    assert "NewBestTrainingJob" in output
    assert "Best training job: xgboost-mnist-hpo-" in output
    assert "/algo-1] [0]#011train-merror" in output, "the best trial's log lines are shown"
