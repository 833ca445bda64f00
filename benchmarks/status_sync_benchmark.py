"""Status sync at scale: SageMaker API calls per job-hour, status and create latency, operator RSS and CPU.

Everything runs twice, with ``--status-sync batched`` and ``--status-sync per-job`` (the Go operator's and
ACK's scheme), and the ratio is printed. The operator is a real ``sagemaker-operator run`` process against
the in-process Kubernetes API emulator and the SageMaker simulator; nothing else runs in its process.

Two scenarios per mode, because whole job lifetimes and latency need different clocks:

1. Lifetimes (simulated time ``--speed`` times faster): N TrainingJobs with realistic durations (Starting
   2 min, Downloading 1 min, Training 1-3 h, Uploading 1 min), followed to completion. The operator's poll
   interval and API budget are scaled by the same factor, so its calls per simulated job-hour are what it
   would make against SageMaker. Also: operator peak RSS and CPU.
2. Latency (real time, the production budget): a burst of B resources (create latency: resource created ->
   CreateTrainingJob), the rest of the N over ``--stagger`` seconds; once all are in flight, a third of them
   finish at random moments of a ``--latency-minutes`` window. Status latency = SageMaker's transition ->
   the resource showing that status (as a watch sees it).

    .venv/bin/python benchmarks/status_sync_benchmark.py                 # 1000 jobs, both modes (~40 min)
    .venv/bin/python benchmarks/status_sync_benchmark.py --jobs 100 --modes batched --scenarios latency
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sagemaker_operator.kube.emulator import serve_emulator  # noqa: E402
from sagemaker_operator.simulator import (  # noqa: E402
    SimClock,
    Simulator,
    SimulatorServer,
    StageDurations,
    TrainingJob,
)

NAMESPACE = "bench"
PATH = f"/apis/sagemaker.aws.amazon.com/v1/namespaces/{NAMESPACE}/trainingjobs"
ORDER = ["Starting", "Downloading", "Training", "Uploading", "Completed"]
CRDS = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
SAMPLE = yaml.safe_load((ROOT / "samples" / "xgboost-mnist-trainingjob.yaml").read_text())


@dataclass
class World:
    """A simulator, an emulator and an operator process, plus what a watch has seen of the resources."""

    sim: Simulator
    kube: Any
    process: psutil.Process
    speed: float
    wall0: float
    sim0: datetime.datetime
    seen: dict[str, dict[str, float]]  # SageMaker job name -> secondary status -> first wall time shown
    completed: set[str]

    def to_wall(self, moment: datetime.datetime) -> float:
        return self.wall0 + (moment - self.sim0).total_seconds() / self.speed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@asynccontextmanager
async def world(mode: str, speed: float, durations: StageDurations, args: argparse.Namespace) -> AsyncIterator[World]:
    sim = Simulator(clock=SimClock(speed=speed), durations=durations, log_lines_per_host=2)
    wall0, sim0 = time.time(), sim.clock.now()
    with SimulatorServer(sim) as server, tempfile.TemporaryDirectory() as home:
        async with serve_emulator(crds=CRDS, request_log_limit=100) as kube:
            # As on a real cluster, the namespace exists before the operator starts. kopf lists namespaces,
            # then starts a watch with a listing of its own whose items it ignores: a namespace created between
            # the two is never served (the operator then sat idle for a whole run).
            kube.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_CONFIG_FILE=f"{home}/none",
                AWS_SHARED_CREDENTIALS_FILE=f"{home}/none",
                AWS_EC2_METADATA_DISABLED="true",
            )
            liveness = free_port()
            command = [
                sys.executable, "-m", "sagemaker_operator.cli", "run",
                "--kube-server", str(kube.url), "--sagemaker-endpoint", server.url, "--region", "us-west-2",
                "-n", NAMESPACE, "--poll-interval", str(args.poll_interval / speed), "--status-sync", mode,
                "--sagemaker-rate", str(args.rate * speed), "--liveness-port", str(liveness), "--log-level", "error",
            ]  # fmt: skip
            log = open(os.environ.get("BENCH_OPERATOR_LOG") or f"{home}/operator.log", "w")  # noqa: SIM115
            operator = subprocess.Popen(command, env=env, cwd=ROOT, stderr=log)
            here = World(sim, kube, psutil.Process(operator.pid), speed, wall0, sim0, {}, set())
            watcher = asyncio.create_task(watch(here))
            try:
                await wait_healthy(liveness)
                sim.reset_calls()
                yield here
            finally:
                watcher.cancel()
                operator.send_signal(signal.SIGTERM)
                try:  # in a thread: the emulator in this event loop must keep serving the operator's last calls
                    await asyncio.to_thread(operator.wait, 30)
                except subprocess.TimeoutExpired:
                    operator.kill()
                log.close()


async def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the operator did not become healthy")


async def watch(here: World) -> None:
    """Like `kubectl get trainingjobs -w`: note when each resource first shows each status."""
    async with aiohttp.ClientSession(base_url=str(here.kube.url)) as session:
        params = {"watch": "true", "resourceVersion": "0"}
        async with session.get(PATH, params=params, timeout=aiohttp.ClientTimeout(total=None)) as response:
            async for line in response.content:
                now = time.time()
                body = json.loads(line).get("object", {})
                status = body.get("status") or {}
                name, state = status.get("sageMakerTrainingJobName"), status.get("secondaryStatus")
                if name and state:
                    here.seen.setdefault(name, {}).setdefault(state, now)
                if status.get("trainingJobStatus") == "Completed":
                    here.completed.add(body["metadata"]["name"])


def job_document(index: int, training_seconds: float) -> dict[str, Any]:
    document = yaml.safe_load(yaml.safe_dump(SAMPLE))
    document["metadata"] = {"name": f"job-{index:04d}", "namespace": NAMESPACE}
    document["spec"]["hyperParameters"].append(
        {"name": "sagemaker_simulator_training_seconds", "value": str(int(training_seconds))}
    )
    document["spec"]["stoppingCondition"]["maxRuntimeInSeconds"] = 5 * 3600
    return document


async def post(session: aiohttp.ClientSession, document: dict[str, Any], posted: dict[str, float]) -> None:
    posted[document["metadata"]["name"]] = time.time()
    async with session.post(PATH, json=document) as response:
        if response.status != 201:
            raise RuntimeError(await response.text())


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


# --------------------------------------------------------------------------- scenario 1: lifetimes


@dataclass
class Lifetimes:
    job_hours: float
    calls: Counter[str]
    rss_peak: float
    cpu_avg: float
    cpu_max: float
    unfinished: int
    wall: float

    @property
    def per_job_hour(self) -> float:
        return sum(self.calls.values()) / self.job_hours if self.job_hours else float("nan")


async def lifetimes(mode: str, args: argparse.Namespace) -> Lifetimes:
    durations = StageDurations(starting=120, downloading=60, training=3600, uploading=60, stopping=30)
    rng = random.Random(args.seed)
    async with world(mode, args.speed, durations, args) as here:
        started = time.time()
        posted: dict[str, float] = {}
        documents = [job_document(i, rng.uniform(args.min_hours, args.max_hours) * 3600) for i in range(args.jobs)]
        async with aiohttp.ClientSession(base_url=str(here.kube.url)) as session:
            for start in range(0, args.jobs, 50):
                await asyncio.gather(*(post(session, d, posted) for d in documents[start : start + 50]))
        rss: list[float] = []
        cpu: list[float] = []
        last_cpu, last_time = cpu_seconds(here.process), time.time()
        limit = started + args.max_minutes * 60
        while time.time() < limit and len(here.completed) < args.jobs:
            await asyncio.sleep(1.0)
            with here.process.oneshot():
                rss.append(here.process.memory_info().rss / 2**20)
                now_cpu, now = cpu_seconds(here.process), time.time()
            cpu.append((now_cpu - last_cpu) / (now - last_time))
            last_cpu, last_time = now_cpu, now
        end = here.sim.clock.now()
        calls = Counter({op.split(".", 1)[1]: n for op, n in here.sim.calls.items() if op.startswith("sagemaker.")})
        job_hours, unfinished = 0.0, 0
        for job in here.sim.store.of_kind(TrainingJob.KIND):
            described = job.describe(end)  # type: ignore[attr-defined]
            finish = described.get("TrainingEndTime") or end
            job_hours += (min(finish, end) - described["CreationTime"]).total_seconds() / 3600
            unfinished += described["TrainingJobStatus"] != "Completed"
        return Lifetimes(
            job_hours=job_hours,
            calls=calls,
            rss_peak=max(rss, default=float("nan")),
            cpu_avg=statistics.fmean(cpu) if cpu else float("nan"),
            cpu_max=max(cpu, default=float("nan")),
            unfinished=unfinished,
            wall=time.time() - started,
        )


# --------------------------------------------------------------------------- scenario 2: latency


@dataclass
class Latency:
    status: list[float]  # SageMaker transition -> the resource showing it, seconds
    create: list[float]  # resource created -> CreateTrainingJob, seconds, for the burst


async def latency(mode: str, args: argparse.Namespace) -> Latency:
    """Real time. A burst of B resources, then the rest of the N over --stagger seconds (create latency of the
    burst). Starting and Downloading are short, so every job is in Training once the operator has looked at it
    once; after --settle seconds a third of the jobs finish (Uploading, Completed) at random moments of the
    measured window while the others train on: status latency is measured on those transitions, with all N
    jobs in flight and the same API budget as in production."""
    durations = StageDurations(starting=2, downloading=2, training=4 * 3600, uploading=23, stopping=30)
    rng = random.Random(args.seed)
    window = args.latency_minutes * 60
    async with world(mode, 1.0, durations, args) as here:
        window_start = args.stagger + args.settle
        gap = args.stagger / max(1, args.jobs - args.burst)
        documents = []
        for i in range(args.jobs):
            created = max(0, i - args.burst) * gap  # about when the job will be created
            ends = rng.uniform(window_start, window_start + window - 60) - created
            documents.append(job_document(i, ends if i % 3 == 0 else 4 * 3600))
        posted: dict[str, float] = {}
        async with aiohttp.ClientSession(base_url=str(here.kube.url)) as session:
            await asyncio.gather(*(post(session, d, posted) for d in documents[: args.burst]))
            for document in documents[args.burst :]:
                await post(session, document, posted)
                await asyncio.sleep(gap)
        measured_from = here.sim0 + datetime.timedelta(seconds=window_start)
        await asyncio.sleep(max(0.0, here.wall0 + window_start + window - time.time()))
        end = here.sim.clock.now() - datetime.timedelta(seconds=args.poll_interval + 10)  # settled transitions only
        status = []
        for job in here.sim.store.of_kind(TrainingJob.KIND):
            described = job.describe(end)  # type: ignore[attr-defined]
            shown = here.seen.get(job.name, {})
            for transition in described.get("SecondaryStatusTransitions", []):
                moment, state = transition["StartTime"], transition["Status"]
                if state not in ORDER or not measured_from <= moment <= end:
                    continue
                later = [shown[s] for s in ORDER[ORDER.index(state) :] if s in shown]
                status.append(max(0.0, min(later) - here.to_wall(moment)) if later else float("inf"))
        burst = {d["metadata"]["name"] for d in documents[: args.burst]}
        create = []
        for job in here.sim.store.of_kind(TrainingJob.KIND):
            resource = job.name.rsplit("-", 1)[0]  # SageMaker names are "<resource>-<hash of its uid>"
            if resource in burst:
                create.append(max(0.0, here.to_wall(job.describe(end)["CreationTime"]) - posted[resource]))  # type: ignore[attr-defined]
        return Latency(status, create)


# --------------------------------------------------------------------------- report


def report(results: dict[str, tuple[Lifetimes, Latency]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.jobs} TrainingJobs in flight; poll interval {args.poll_interval:g} s; budget {args.rate:g} "
        f"SageMaker status calls/s per region. Calls, RSS and CPU: whole lifetimes, simulated time x{args.speed:g}. "
        f"Latency: real time, burst of {args.burst} creates, then status transitions with all jobs in flight."
    )
    print(
        f"{'mode':<9} {'job-hours':>9} {'calls/job-h':>12} {'List':>7} {'Describe':>9} {'Create':>7} "
        f"{'status p50/p95/max s':>21} {'create p50/p95 s':>17} {'RSS MiB':>8} {'CPU avg/max':>12}"
    )
    for mode, (life, lat) in results.items():
        hours = life.job_hours or float("nan")
        lists = sum(n for op, n in life.calls.items() if op.startswith("List")) / hours
        describes = sum(n for op, n in life.calls.items() if op.startswith("Describe")) / hours
        creates = life.calls.get("CreateTrainingJob", 0) / hours
        status = "/".join(f"{percentile(lat.status, q):.1f}" for q in (0.5, 0.95, 1.0))
        create = "/".join(f"{percentile(lat.create, q):.2f}" for q in (0.5, 0.95))
        print(
            f"{mode:<9} {life.job_hours:>9.0f} {life.per_job_hour:>12.2f} {lists:>7.2f} {describes:>9.2f} "
            f"{creates:>7.2f} {status:>21} {create:>17} {life.rss_peak:>8.0f} "
            f"{life.cpu_avg:>5.2f}/{life.cpu_max:<5.2f}"
        )
        if life.unfinished:
            print(f"          ({life.unfinished} jobs had not completed within --max-minutes)")
        if lat.status:
            print(f"          ({len(lat.status)} status transitions measured)")
    if {"batched", "per-job"} <= results.keys():
        ratio = results["per-job"][0].per_job_hour / results["batched"][0].per_job_hour
        print(f"per-job polling made {ratio:.0f}x the SageMaker calls per job-hour of batched sync")


async def run(args: argparse.Namespace) -> None:
    results = {}
    scenarios = args.scenarios.split(",")
    for mode in args.modes.split(","):
        life, lat = Lifetimes(0.0, Counter(), *[float("nan")] * 3, 0, 0.0), Latency([], [])
        if "lifetimes" in scenarios:
            print(f"{mode}: lifetimes ...", flush=True)
            life = await lifetimes(mode, args)
        if "latency" in scenarios:
            print(f"{mode}: latency ...", flush=True)
            lat = await latency(mode, args)
        results[mode] = (life, lat)
    report(results, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument(
        "--poll-interval", type=float, default=15.0, help="seconds (real-world time; the operator's default)"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="SageMaker calls per second per region")
    parser.add_argument("--speed", type=float, default=20.0, help="lifetimes: simulated seconds per wall second")
    parser.add_argument("--min-hours", type=float, default=1.0, help="lifetimes: shortest Training stage")
    parser.add_argument("--max-hours", type=float, default=3.0, help="lifetimes: longest Training stage")
    parser.add_argument("--max-minutes", type=float, default=15.0, help="lifetimes: wall minutes per mode at most")
    parser.add_argument("--stagger", type=float, default=60.0, help="latency: seconds over which the rest arrive")
    parser.add_argument("--settle", type=float, default=150.0, help="latency: seconds before the measured window")
    parser.add_argument("--latency-minutes", type=float, default=5.0, help="latency: the measured window, minutes")
    parser.add_argument("--modes", default="batched,per-job")
    parser.add_argument("--scenarios", default="lifetimes,latency", help="a quick look at one: lifetimes or latency")
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
