"""Measure the operator's memory and CPU while it reconciles many TrainingJobs; print the figures.

The installer's resource requests and limits come from these numbers, not from a guess. The operator
runs as it does in a pod: ``sagemaker-operator run`` in its own process (kopf with its login
handler, resource scanning and /healthz), against the in-process Kubernetes API emulator and the
SageMaker simulator over HTTP, which run in this process so they are not counted. Only the operator's
process is sampled (RSS and CPU time from psutil).

Phases: idle (no jobs), burst (N jobs created at once: N CreateTrainingJob calls, status patches,
Events), steady (N jobs in progress, each described every poll interval, as in production),
completion (every job finishes), deletion (N resources deleted: finalizers removed).

    .venv/bin/python installer/measure_resources.py --jobs 200

Needs the demo extra (simulator, emulator) and psutil.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import math
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml

from sagemaker_operator.kube.emulator import serve_emulator
from sagemaker_operator.simulator import (
    TRAINING_SECONDS_HYPERPARAMETER,
    SimClock,
    Simulator,
    SimulatorServer,
    StageDurations,
)

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "default"
COLLECTION = f"/apis/sagemaker.aws.amazon.com/v1/namespaces/{NAMESPACE}/trainingjobs"
MIB = 1024 * 1024


@dataclass
class Sample:
    at: float
    rss: int
    cpu_seconds: float
    phase: str


@dataclass
class Sampler:
    """Samples one process every ``period`` seconds; the phase label tells which part of the run it was."""

    process: psutil.Process
    period: float = 0.5
    phase: str = "start"
    samples: list[Sample] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            try:
                times = self.process.cpu_times()
                rss = self.process.memory_info().rss
            except psutil.NoSuchProcess:
                return
            self.samples.append(Sample(time.monotonic(), rss, times.user + times.system, self.phase))
            await asyncio.sleep(self.period)

    def cpu_cores(self, phase: str | None = None, window: float = 2.0) -> list[float]:
        """CPU use in cores over sliding windows of ``window`` seconds (what a CPU limit would see)."""
        picked = [s for s in self.samples if phase is None or s.phase == phase]
        out = []
        for i, first in enumerate(picked):
            last = next((s for s in picked[i:] if s.at - first.at >= window), None)
            if last is None:
                break
            out.append((last.cpu_seconds - first.cpu_seconds) / (last.at - first.at))
        return out

    def rss(self, phase: str | None = None) -> list[int]:
        return [s.rss for s in self.samples if phase is None or s.phase == phase]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def training_job(name: str, training_seconds: float) -> dict[str, Any]:
    document = copy.deepcopy(yaml.safe_load((ROOT / "samples" / "xgboost-mnist-trainingjob.yaml").read_text()))
    document["metadata"] = {"name": name, "namespace": NAMESPACE}
    document["spec"]["hyperParameters"].append(
        {"name": TRAINING_SECONDS_HYPERPARAMETER, "value": str(int(training_seconds))}
    )
    return document


def operator_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.path.join(home, "none"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "none"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
        HOME=home,
    )
    return env


async def count_statuses(session: aiohttp.ClientSession) -> dict[str, int]:
    async with session.get(COLLECTION) as response:
        body = await response.json()
    counts: dict[str, int] = {}
    for item in body.get("items", []):
        status = (item.get("status") or {}).get("trainingJobStatus") or "Pending"
        counts[status] = counts.get(status, 0) + 1
    return counts


async def trim_request_log(kube: Any, keep: int = 50) -> None:
    """Keep the emulator from becoming the bottleneck it would otherwise be.

    kmock 0.8 records every request and, to route each new one, scans that whole record: the cost of a
    request grows with the number served so far, and at a few thousand requests the emulator (not the
    operator) limits the pace. A request is routed when it arrives, so only the newest can still need the record.
    """
    while True:
        await asyncio.sleep(0.2)
        del kube._requests[:-keep]


async def healthy(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as probe, probe.get(f"http://127.0.0.1:{port}/healthz") as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False


async def wait_until(check: Any, timeout: float, what: str, every: float = 3.0) -> None:
    """Poll sparingly: listing every job costs the emulator (in this process) more than the operator."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)


async def measure(jobs: int, poll_interval: float, steady_seconds: float, idle_seconds: float) -> Sampler:
    crds = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
    # Long enough in training that every job is polled several times at the real poll interval.
    training_seconds = steady_seconds
    simulator = Simulator(
        clock=SimClock(speed=1.0),
        durations=StageDurations(starting=5, downloading=5, training=training_seconds, uploading=5),
    )
    liveness = free_port()
    with tempfile.TemporaryDirectory() as home, SimulatorServer(simulator) as sim:
        async with serve_emulator(crds=crds, history_limit=5_000) as kube:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sagemaker_operator.cli",
                "run",
                "--kube-server",
                str(kube.url),
                "--sagemaker-endpoint",
                sim.url,
                "--region",
                "us-west-2",
                "--poll-interval",
                str(poll_interval),
                "--liveness-port",
                str(liveness),
                "--log-level",
                "warning",
                env=operator_env(home),
                stderr=asyncio.subprocess.DEVNULL,
            )
            sampler = Sampler(psutil.Process(process.pid))
            sampling = asyncio.create_task(sampler.run())
            trimming = asyncio.create_task(trim_request_log(kube))
            try:
                async with aiohttp.ClientSession(base_url=str(kube.url)) as session:
                    sampler.phase = "startup"
                    started = time.monotonic()
                    await wait_until(lambda: healthy(liveness), 120, "/healthz", every=0.2)
                    print(f"  /healthz answered {time.monotonic() - started:.1f}s after start", file=sys.stderr)
                    sampler.phase = "idle"
                    await asyncio.sleep(idle_seconds)

                    sampler.phase = "burst"
                    started = time.monotonic()
                    for i in range(jobs):
                        async with session.post(COLLECTION, json=training_job(f"job-{i:04d}", training_seconds)) as r:
                            if r.status != 201:
                                raise SystemExit(f"creating job-{i:04d}: HTTP {r.status} {await r.text()}")

                    async def all_submitted() -> bool:
                        counts = await count_statuses(session)
                        return counts.get("Pending", 0) == 0

                    await wait_until(all_submitted, 600, f"{jobs} jobs to be submitted")
                    print(f"  {jobs} jobs submitted in {time.monotonic() - started:.1f}s", file=sys.stderr)

                    sampler.phase = "steady"

                    async def all_done() -> bool:
                        counts = await count_statuses(session)
                        return counts.get("Completed", 0) == jobs

                    await wait_until(all_done, steady_seconds * 3 + 600, f"{jobs} jobs to complete")
                    print(f"  all completed {time.monotonic() - started:.1f}s after the burst", file=sys.stderr)

                    sampler.phase = "deletion"
                    for i in range(jobs):
                        async with session.delete(f"{COLLECTION}/job-{i:04d}") as r:
                            if r.status not in (200, 202):
                                raise SystemExit(f"deleting job-{i:04d}: HTTP {r.status}")

                    async def all_gone() -> bool:
                        async with session.get(COLLECTION) as response:
                            return not (await response.json()).get("items")

                    await wait_until(all_gone, 600, "every resource to be deleted")
                    sampler.phase = "after"
                    await asyncio.sleep(idle_seconds)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), timeout=30)
                except TimeoutError:
                    process.kill()
                sampling.cancel()
                trimming.cancel()
    return sampler


def report(sampler: Sampler, jobs: int, poll_interval: float) -> None:
    print(f"\nsagemaker-operator run: {jobs} TrainingJobs, poll interval {poll_interval:g}s, sampled every 0.5s")
    print(f"{'phase':<10} {'RSS min':>9} {'RSS max':>9} {'CPU avg':>9} {'CPU max(2s)':>12}")
    for phase in ("startup", "idle", "burst", "steady", "deletion", "after"):
        rss = sampler.rss(phase)
        cpu = sampler.cpu_cores(phase)
        if not rss:
            continue
        avg = statistics.fmean(cpu) if cpu else float("nan")
        top = max(cpu) if cpu else float("nan")
        print(f"{phase:<10} {min(rss) / MIB:>7.1f}Mi {max(rss) / MIB:>7.1f}Mi {avg:>8.3f}c {top:>11.3f}c")

    peak_rss = max(sampler.rss()) / MIB
    steady_cpu = sampler.cpu_cores("steady")
    steady_avg = statistics.fmean(steady_cpu) if steady_cpu else 0.0
    peak_cpu = max(sampler.cpu_cores() or [0.0])
    # Requests: what the operator uses while it follows the jobs, with 50% headroom.
    # Limits: memory at twice the peak (a burst of more jobs, larger watch lists); CPU at the busiest
    # 2-second window with 50% headroom, so a burst is slowed down a little at worst, never killed.
    request_mem = _round_up(max(sampler.rss("steady")) / MIB * 1.5, 16)
    limit_mem = _round_up(peak_rss * 2, 64)
    request_cpu = _round_up(steady_avg * 1000 * 1.5, 50)
    limit_cpu = _round_up(peak_cpu * 1000 * 1.5, 100)
    print(
        f"\npeak RSS {peak_rss:.1f}Mi; steady CPU {steady_avg:.3f} cores; busiest 2s {peak_cpu:.3f} cores\n"
        f"derived: requests cpu={request_cpu}m memory={request_mem}Mi; limits cpu={limit_cpu}m memory={limit_mem}Mi"
    )


def _round_up(value: float, step: int) -> int:
    return max(step, int(math.ceil(value / step) * step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=15.0, help="the operator's (default: its default)")
    parser.add_argument("--steady-seconds", type=float, default=90.0, help="how long each job trains")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    sampler = asyncio.run(measure(args.jobs, args.poll_interval, args.steady_seconds, args.idle_seconds))
    report(sampler, args.jobs, args.poll_interval)


if __name__ == "__main__":
    main()
