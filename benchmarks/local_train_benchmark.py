"""Benchmark: what ``local-train`` costs over running the same TensorFlow script by hand.

For 1 and 2 workers (MultiWorkerMirroredStrategy) it runs samples/tensorflow/train.py on the digits
data set two ways and prints wall time and the peak memory of the whole process tree (the sum of the
resident set sizes of every process in it, sampled every 20 ms with psutil):

- direct: the script started by hand, one process per worker, with the TF_CONFIG and the few SM_*
  variables it reads set by the benchmark (what a user would otherwise script themselves);
- local-train: ``python -m sagemaker_operator.local.cli -f job.yaml --workers N`` on a manifest with
  ``file://`` channels and output, i.e. the contract for every replica, output streaming with host
  prefixes, supervision, and packing model.tar.gz.

    .venv/bin/python benchmarks/local_train_benchmark.py [--runs 3] [--epochs 8]

Needs tensorflow-cpu, scikit-learn and psutil. Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "samples" / "tensorflow"
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@dataclass
class Measure:
    seconds: float
    peak_mib: float


class TreeSampler:
    """Peak of the summed RSS of a set of root processes and all their descendants."""

    def __init__(self, roots: list[subprocess.Popen[bytes]]) -> None:
        self.roots = [psutil.Process(p.pid) for p in roots]
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                try:
                    members = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for process in members:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += process.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(0.02)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_processes(commands: list[tuple[list[str], dict[str, str], Path]]) -> Measure:
    started = time.perf_counter()
    processes = [
        subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for cmd, env, cwd in commands
    ]
    with TreeSampler(processes) as sampler:
        codes = [p.wait() for p in processes]
    elapsed = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a run failed with exit codes {codes}: {[c[0] for c in commands]}")
    return Measure(elapsed, sampler.peak / 2**20)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("0.0.0.0", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def direct(workers: int, epochs: int, data: Path, work: Path) -> Measure:
    ports = free_ports(workers)
    commands = []
    for index in range(workers):
        model = work / f"direct-{index}"
        model.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **QUIET}
        env.update(SM_MODEL_DIR=str(model), SM_CHANNEL_TRAIN=str(data / "train"), SM_CHANNEL_TEST=str(data / "test"))
        if workers > 1:
            cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        commands.append(([sys.executable, str(SAMPLE_DIR / "train.py"), "--epochs", str(epochs)], env, SAMPLE_DIR))
    return run_processes(commands)


def local_train(workers: int, epochs: int, data: Path, work: Path) -> Measure:
    document = yaml.safe_load((SAMPLE_DIR / "tensorflow-digits-trainingjob.yaml").read_text())
    spec = document["spec"]
    spec["hyperParameters"] = [
        {"name": "epochs", "value": str(epochs)},
        {"name": "sagemaker_program", "value": '"train.py"'},
        {"name": "sagemaker_submit_directory", "value": json.dumps(str(SAMPLE_DIR))},
    ]
    for channel in spec["inputDataConfig"]:
        channel["dataSource"]["s3DataSource"]["s3Uri"] = f"file://{data / channel['channelName']}"
    spec["outputDataConfig"]["s3OutputPath"] = f"file://{work / 'out'}"
    path = work / f"job-{workers}.yaml"
    path.write_text(yaml.safe_dump(document))
    command = [sys.executable, "-m", "sagemaker_operator.local.cli", "-f", str(path), "--workers", str(workers)]
    return run_processes([(command, {**os.environ, **QUIET}, work)])


def make_data(directory: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_data", SAMPLE_DIR / "make_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.runs} runs each, {args.epochs} epochs")
    print(f"{'workers':>7}  {'how':<12} {'wall s':>8} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_data(data)
        for workers in (1, 2):
            results: dict[str, list[Measure]] = {"direct": [], "local-train": []}
            for run in range(args.runs):
                for how, function in (("direct", direct), ("local-train", local_train)):
                    work = Path(tmp) / f"{how}-{workers}-{run}"
                    work.mkdir()
                    results[how].append(function(workers, args.epochs, data, work))
            medians = {}
            for how, measures in results.items():
                seconds = statistics.median(m.seconds for m in measures)
                peak = statistics.median(m.peak_mib for m in measures)
                medians[how] = (seconds, peak)
                runs = ", ".join(f"{m.seconds:.1f}" for m in measures)
                print(f"{workers:>7}  {how:<12} {seconds:>8.2f} {peak:>9.0f}   (runs: {runs} s)")
            (d_s, d_m), (l_s, l_m) = medians["direct"], medians["local-train"]
            print(f"{workers:>7}  {'overhead':<12} {l_s - d_s:>+8.2f} {l_m - d_m:>+9.0f}"
                  f"   ({(l_s / d_s - 1) * 100:+.0f}% time, {(l_m / d_m - 1) * 100:+.0f}% memory)")  # fmt: skip


if __name__ == "__main__":
    main()
