"""The sagemaker-operator command as users run it: crds, simulate, run (as a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import boto3
import yaml
from click.testing import CliRunner

from sagemaker_operator.api import crds as generator
from sagemaker_operator.cli import main
from sagemaker_operator.kube.emulator import serve_emulator
from sagemaker_operator.simulator import Simulator, SimulatorServer
from tests.e2e.conftest import CRDS, TRAININGJOBS, eventually, training_job

COMMAND = [sys.executable, "-m", "sagemaker_operator.cli"]


def dummy_aws_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_crds_prints_and_writes_the_generated_crds(tmp_path: Path) -> None:
    printed = CliRunner().invoke(main, ["crds"])
    assert printed.exit_code == 0
    kinds = [doc["spec"]["names"]["kind"] for doc in yaml.safe_load_all(printed.output)]
    assert kinds == [kind.kind for kind in generator.KINDS]

    written = CliRunner().invoke(main, ["crds", "--write", str(tmp_path)])
    assert written.exit_code == 0
    assert {p.name for p in tmp_path.iterdir()} == set(generator.all_crds())


def test_run_refuses_a_bad_endpoint_naming_the_flag() -> None:
    result = CliRunner().invoke(main, ["run", "--sagemaker-endpoint", "sagemaker.local"])
    assert result.exit_code == 2
    assert "--sagemaker-endpoint must be an http(s) URL" in result.output


def test_simulate_serves_sagemaker_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*COMMAND, "simulate", "--port", "0"], stdout=subprocess.PIPE, text=True, env=dummy_aws_env(tmp_path)
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), first
        client = boto3.client(
            "sagemaker", endpoint_url=url, region_name="us-west-2", aws_access_key_id="a", aws_secret_access_key="b"
        )
        assert client.list_training_jobs()["TrainingJobSummaries"] == []
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


async def test_run_command_reconciles_and_serves_its_health_endpoint(tmp_path: Path) -> None:
    """The production path: kopf.operator with the login handler, resource scanning and /healthz."""
    liveness = free_port()
    with SimulatorServer(Simulator()) as simulator:
        async with serve_emulator(crds=CRDS) as kube:
            process = await asyncio.create_subprocess_exec(
                *COMMAND,
                "run",
                "--kube-server",
                str(kube.url),
                "--sagemaker-endpoint",
                simulator.url,
                "--region",
                "us-west-2",
                "--poll-interval",
                "0.3",
                "--liveness-port",
                str(liveness),
                env=dummy_aws_env(tmp_path),
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                async with aiohttp.ClientSession(base_url=str(kube.url)) as session:
                    response = await session.post(TRAININGJOBS, json=training_job("from-cli"))
                    assert response.status == 201

                    async def in_progress() -> bool:
                        async with session.get(f"{TRAININGJOBS}/from-cli") as got:
                            body = await got.json()
                        return (body.get("status") or {}).get("trainingJobStatus") == "InProgress"

                    await eventually(in_progress, timeout=60, what="the operator process to submit the job")

                async def healthy() -> bool:
                    try:
                        async with (
                            aiohttp.ClientSession() as probe,
                            probe.get(f"http://127.0.0.1:{liveness}/healthz") as answer,
                        ):
                            return answer.status == 200
                    except aiohttp.ClientError:
                        return False

                await eventually(healthy, timeout=30, what="/healthz")
            finally:
                process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), timeout=30)
                stderr = (await process.stderr.read()).decode() if process.stderr else ""
            assert code == 0, stderr


def test_every_documented_command_is_registered() -> None:
    assert set(main.commands) >= {"run", "crds", "simulate", "demo", "iam", "local-train"}
