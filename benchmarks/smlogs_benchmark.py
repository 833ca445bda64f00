"""Benchmark: ``kubectl smlogs`` against ``awslogs get`` and ``aws logs filter-log-events``.

Seeds the same CloudWatch log data (by default 3 streams x 50,000 events of one training job) into
the SageMaker simulator's moto server, creates a TrainingJob resource naming that job in the
in-process Kubernetes API emulator, then reads the whole log with each tool as a child process and
prints, per tool: events per second, time to first line, CloudWatch Logs API calls (counted by the
simulator) and the child's peak memory (its maximum resident set size).

    .venv/bin/python benchmarks/smlogs_benchmark.py [--streams 3] [--events 50000] [--runs 3]

awscli and awslogs pin botocore versions of their own, so they never go into the project's .venv
(whose botocore is pinned for the CRDs): on its first run the script creates ``.bench-venv/`` at the
repository root and installs them there (``--peers-venv`` picks another place).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-west-2"
GROUP = "/aws/sagemaker/TrainingJobs"
JOB = "bench-xgboost-0123456789ab"
PEERS = ("awscli==1.46.3", "awslogs==0.15.0")


@dataclass
class Run:
    lines: int
    seconds: float
    first_line: float
    calls: dict[str, int]
    peak_mib: float
    exit_code: int

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


# -- setting up ---------------------------------------------------------------------------------


def peers_venv(path: Path) -> Path:
    """The isolated venv with awscli and awslogs, created on first use."""
    if not (path / "bin" / "aws").exists() or not (path / "bin" / "awslogs").exists():
        print(f"installing {', '.join(PEERS)} into {path} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", *PEERS], check=True)
    ignore = path / ".gitignore"
    if not ignore.exists():  # git, and so ruff, skip the venv even where the repository does not ignore it
        ignore.write_text("# created by benchmarks/smlogs_benchmark.py\n*\n")
    return path / "bin"


def seed(url: str, streams: int, events: int) -> list[str]:
    """``streams`` instances of one job, ``events`` lines each, interleaved in time, as PutLogEvents writes them."""
    import boto3

    logs = boto3.client("logs", region_name=REGION, endpoint_url=url)
    logs.create_log_group(logGroupName=GROUP)
    start = int(time.time() * 1000) - 3_600_000
    epoch = start // 1000
    names = []
    for host in range(1, streams + 1):
        name = f"{JOB}/algo-{host}-{epoch}"
        logs.create_log_stream(logGroupName=GROUP, logStreamName=name)
        batch: list[dict[str, Any]] = []
        for i in range(events):
            message = (
                f"[{i}]#011train-merror:0.{(i * 7919 + host) % 100000:05d}"
                f"#011validation-merror:0.{(i * 104729 + host) % 100000:05d} (algo-{host})"
            )
            batch.append({"timestamp": start + i * 20 + host, "message": message})
            if len(batch) == 10_000:
                logs.put_log_events(logGroupName=GROUP, logStreamName=name, logEvents=batch)
                batch = []
        if batch:
            logs.put_log_events(logGroupName=GROUP, logStreamName=name, logEvents=batch)
        names.append(name)
    return names


@contextmanager
def kubernetes(sim_url: str, job: str) -> Iterator[str]:
    """The API emulator in a thread, with a Completed TrainingJob naming ``job``; yields its URL."""
    import yaml

    from sagemaker_operator.kube.emulator import serve_emulator

    crd = yaml.safe_load((ROOT / "crds" / "sagemaker.aws.amazon.com_trainingjobs.yaml").read_text())
    ready, state = threading.Event(), cast(dict[str, Any], {})

    async def serve() -> None:
        async with serve_emulator(crds=[crd]) as kube:
            state.update(url=str(kube.url), loop=asyncio.get_running_loop(), stop=asyncio.Event())
            kube.create_object(
                {
                    "apiVersion": "sagemaker.aws.amazon.com/v1",
                    "kind": "TrainingJob",
                    "metadata": {"name": "bench", "namespace": "default"},
                    "spec": {},
                }
            )
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the Kubernetes API emulator did not start")
    url = str(state["url"]).rstrip("/")
    status = {
        "sageMakerTrainingJobName": job,
        "trainingJobStatus": "Completed",
        "region": REGION,
        "sageMakerEndpoint": sim_url,
    }
    _patch_status(url, status)
    try:
        yield url
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


def _patch_status(url: str, status: dict[str, Any]) -> None:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{url}/apis/sagemaker.aws.amazon.com/v1/namespaces/default/trainingjobs/bench/status",
        data=json.dumps({"status": status}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def kubeconfig(url: str, directory: Path) -> Path:
    import yaml

    path = directory / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "bench",
                "clusters": [{"name": "bench", "cluster": {"server": url}}],
                "users": [{"name": "bench", "user": {"token": "unused"}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
            }
        )
    )
    return path


# -- measuring ----------------------------------------------------------------------------------


class Launcher:
    """Runs the tools from a small process started before the benchmark loads anything.

    A child's peak RSS (``ru_maxrss``) includes whatever its parent had resident when it forked,
    as the kernel records it at exec; forking the tools from this process, which holds the moto
    server and 150,000 events, would add its size to every tool's figure.
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--launcher"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, command: list[str], env: dict[str, str]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"command": command, "env": env}) + "\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(self.process.stdout.readline())
        return result

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)


def launcher() -> None:
    """``--launcher``: run each command it is sent; answer lines, timings and peak RSS as JSON."""
    for request in sys.stdin:
        job = json.loads(request)
        print(json.dumps(run_once(job["command"], job["env"])), flush=True)


def run_once(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout, stderr = cast(io.BufferedReader, child.stdout), cast(io.BufferedReader, child.stderr)
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
    reader.start()
    lines, first = 0, 0.0
    while chunk := stdout.read1(1 << 16):
        if not lines and b"\n" in chunk:
            first = time.perf_counter() - started
        lines += chunk.count(b"\n")
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    reader.join(10)
    return {
        "lines": lines,
        "seconds": elapsed,
        "first_line": first,
        "peak_kib": usage.ru_maxrss,
        "exit_code": child.returncode,
        "stderr": b"".join(errors).decode(errors="replace")[-500:],
    }


def measure(launch: Launcher, command: list[str], sim: Any, env: dict[str, str]) -> Run:
    """Run ``command`` once; the simulator counts its CloudWatch Logs calls."""
    sim.reset_calls()
    result = launch.run(command, env)
    if result["exit_code"] != 0:
        print(f"  {command[0]} exited {result['exit_code']}: {result['stderr']}", file=sys.stderr)
    calls = {k.removeprefix("logs."): v for k, v in sorted(sim.calls.items()) if k.startswith("logs.")}
    return Run(
        result["lines"], result["seconds"], result["first_line"], calls, result["peak_kib"] / 1024, result["exit_code"]
    )


def commands(bin_dir: Path, url: str, config: Path, streams: list[str]) -> dict[str, list[str]]:
    return {
        "kubectl smlogs": [sys.executable, "-m", "kubectl_plugin", "trainingjob", "bench", "--kubeconfig", str(config)],
        "awslogs get": [
            str(bin_dir / "awslogs"),
            "get",
            GROUP,
            f"{JOB}/.*",
            "--start",
            "2h",
            "--no-group",
            "--color",
            "never",
            "--aws-region",
            REGION,
            "--aws-endpoint-url",
            url,
        ],
        # moto ignores --log-stream-name-prefix (AWS honours it), so the streams are named.
        "aws logs filter-log-events": [
            str(bin_dir / "aws"),
            "logs",
            "filter-log-events",
            "--log-group-name",
            GROUP,
            "--log-stream-names",
            *streams,
            "--endpoint-url",
            url,
            "--region",
            REGION,
            "--output",
            "text",
            "--query",
            "events[].[logStreamName,message]",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--events", type=int, default=50_000, help="events per stream")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool; the median run is shown")
    parser.add_argument("--peers-venv", type=Path, default=ROOT / ".bench-venv")
    parser.add_argument("--launcher", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.launcher:
        launcher()
        return
    launch = Launcher()  # first, while this process is still small

    from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer

    bin_dir = peers_venv(args.peers_venv)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBECONFIG"))},
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    sim = Simulator(clock=SimClock(speed=0))
    total = args.streams * args.events
    with SimulatorServer(sim) as server, tempfile.TemporaryDirectory() as tmp:
        print(f"seeding {args.streams} streams x {args.events:,} events into {server.url} ...", flush=True)
        streams = seed(server.url, args.streams, args.events)
        with kubernetes(server.url, JOB) as kube_url:
            config = kubeconfig(kube_url, Path(tmp))
            tools = commands(bin_dir, server.url, config, streams)
            runs: dict[str, list[Run]] = {tool: [] for tool in tools}
            for _ in range(args.runs):  # round-robin, so load from elsewhere on the machine hits every tool alike
                for tool, command in tools.items():
                    runs[tool].append(measure(launch, command, sim, env))
            results = {tool: sorted(done, key=lambda r: r.seconds)[len(done) // 2] for tool, done in runs.items()}
            for tool, done in runs.items():
                print(f"  {tool}: {', '.join(f'{r.seconds:.2f}s' for r in done)}", flush=True)
    launch.close()

    print(f"\n{total:,} events ({args.streams} streams x {args.events:,}); median of {args.runs} runs\n")
    header = f"{'tool':<28}{'lines':>9}{'events/s':>11}{'first line':>12}{'wall':>8}{'API calls':>11}{'peak RSS':>10}"
    print(header)
    print("-" * len(header))
    for tool, run in results.items():
        print(
            f"{tool:<28}{run.lines:>9,}{run.events_per_second:>11,.0f}{run.first_line:>11.2f}s"
            f"{run.seconds:>7.2f}s{sum(run.calls.values()):>11}{run.peak_mib:>7.0f} MiB"
        )
    print()
    for tool, run in results.items():
        detail = ", ".join(f"{op} {count}" for op, count in run.calls.items())
        complete = "" if run.lines == total else f"  (printed {run.lines:,} of {total:,} lines)"
        print(f"{tool:<28}{detail}{complete}")
    smlogs = results["kubectl smlogs"]
    faster = [f"{run.seconds / smlogs.seconds:.1f}x {tool}" for tool, run in results.items() if run is not smlogs]
    print(f"\nkubectl smlogs wall-time speed-up over: {', '.join(faster)}")


if __name__ == "__main__":
    main()
