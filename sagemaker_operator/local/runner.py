"""The local-process runner behind ``sagemaker-operator local-train``.

One process per replica, started with the current Python on 127.0.0.1 free ports, each in its own
process group (so a replica's children are stopped with it) and its own ``/opt/ml``-like root under
the work directory. The runner streams every replica's output with a ``[algo-i role:n]`` prefix and
decides the outcome as SageMaker would:

- Completed when the deciding replica (chief, or worker 0) exits 0 and the other script-running
  replicas exit 0 too (they get ``worker_grace`` seconds after it; stragglers are then stopped);
- Failed as soon as any replica exits non-zero, or a server (ps, parameter-server worker) exits at
  all: the others are stopped and the reason is that replica's ``/opt/ml/output/failure`` or the last
  lines of its stderr;
- Stopped (MaxRuntimeExceeded) when ``stoppingCondition.maxRuntimeInSeconds`` passes; the model is
  still uploaded if the script saved one, as SageMaker does.

Servers never exit by themselves and are stopped when the job ends. Nothing is left running on any
way out (normal end, failure, timeout, Ctrl-C, SIGTERM): every process group gets SIGTERM, then
SIGKILL after ``stop_grace`` seconds.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from sagemaker_operator.local import contract, storage, tfconfig
from sagemaker_operator.local.job import JobDefinition
from sagemaker_operator.local.spec import FallbackError, Strategy
from sagemaker_operator.local.tfconfig import Replica

COMPLETED, FAILED, STOPPED = "Completed", "Failed", "Stopped"
_PORT_BUSY_MARKERS = ("Could not start gRPC server", "Failed to add port", "Address already in use")
_TAIL_LINES = 20
_POLL_SECONDS = 0.05


class LocalTrainError(Exception):
    """The job cannot start (missing script, unreadable input, bad manifest); the message says why."""


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class RunOptions:
    workers: int | None = None  # default: spec.fallback.workers, then resourceConfig.instanceCount
    parameter_servers: int | None = None  # >0 selects the parameter-server strategy, 0 multi-worker-mirrored
    workdir: Path | None = None  # default: a new temporary directory
    keep_workdir: bool = False
    endpoint_url: str | None = None  # S3 endpoint; default spec.fallback.s3Endpoint, then boto3's
    base_dir: Path = field(default_factory=Path.cwd)  # relative paths in the manifest are relative to this
    stop_grace: float = 10.0  # SIGTERM -> SIGKILL
    worker_grace: float = 60.0  # how long other workers may run on after worker 0 succeeded
    port_attempts: int = 3
    python: str = sys.executable
    port_picker: Callable[[int], list[int]] | None = None  # for tests; default: free ports from the OS
    out: IO[str] | None = None  # replica stdout and our messages (default sys.stdout)
    err: IO[str] | None = None  # replica stderr (default sys.stderr)


@dataclass
class ReplicaRecord:
    host: str
    role: str
    index: int
    port: int
    pid: int
    pgid: int
    runs_script: bool
    exit_code: int | None = None

    @property
    def label(self) -> str:
        return f"{self.host} {self.role}:{self.index}"


@dataclass
class Outcome:
    status: str  # Completed, Failed or Stopped
    secondary_status: str  # Completed, Failed, MaxRuntimeExceeded or Stopped
    failure_reason: str | None = None
    model_uri: str | None = None
    output_uri: str | None = None
    workdir: Path | None = None
    replicas: list[ReplicaRecord] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0 completed, 1 failed, 124 max runtime exceeded (as timeout(1)), 130 interrupted."""
        if self.status == COMPLETED:
            return 0
        if self.interrupted:
            return 130
        return 124 if self.secondary_status == "MaxRuntimeExceeded" else 1


# --------------------------------------------------------------------------- processes


class _Process:
    """One replica's process: its output pumped line by line with a prefix, the tail of stderr kept."""

    def __init__(
        self, replica: Replica, popen: subprocess.Popen[bytes], paths: contract.ContainerPaths, port: int
    ) -> None:
        self.replica = replica
        self.popen = popen
        self.paths = paths
        self.port = port
        self.pgid = os.getpgid(popen.pid)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.stdout_tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.pumps: list[threading.Thread] = []
        self.stopped_by_us = False

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def pump(self, stream: IO[bytes], sink: IO[str], tail: collections.deque[str], lock: threading.Lock) -> None:
        prefix = f"[{self.replica.label}] "

        def run() -> None:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                tail.append(line)
                with lock:
                    sink.write(prefix + line + "\n")
                    sink.flush()
            stream.close()

        thread = threading.Thread(target=run, name=f"pump-{self.replica.host}", daemon=True)
        thread.start()
        self.pumps.append(thread)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signum)


def _bind_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _bind_prctl()  # bound here, not in the forked child
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL if local-train itself is killed, so no replica outlives it."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def free_ports(count: int) -> list[int]:
    """Distinct ports that are free right now (TensorFlow binds 0.0.0.0, so check that)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("0.0.0.0", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# --------------------------------------------------------------------------- the runner


class LocalRunner:
    """Runs one TrainingJob as local processes; ``run()`` returns the Outcome and leaves nothing running."""

    def __init__(self, job: JobDefinition, options: RunOptions | None = None) -> None:
        self.job = job
        self.options = options or RunOptions()
        self.out: IO[str] = self.options.out or sys.stdout
        self.err: IO[str] = self.options.err or sys.stderr
        self._lock = threading.Lock()
        self._processes: list[_Process] = []
        self._s3: Any = None
        ps = self.options.parameter_servers
        if ps is None:
            self.strategy = job.fallback.strategy
            ps = job.fallback.ps_count()
        else:
            self.strategy = Strategy.PARAMETER_SERVER if ps > 0 else Strategy.MULTI_WORKER_MIRRORED
        self.replicas = tfconfig.plan(self.strategy, job.workers(self.options.workers), ps)
        self.hosts = [r.host for r in self.replicas]

    def say(self, message: str) -> None:
        with self._lock:
            self.out.write(f"[local-train] {message}\n")
            self.out.flush()

    # ------------------------------------------------------------------ entry

    def run(self) -> Outcome:
        workdir = self._workdir()
        outcome = Outcome(FAILED, "Failed", workdir=workdir)
        previous = self._trap_signals()
        try:
            self.say(
                f"job {self.job.job_name}: {self.strategy.value}, "
                + ", ".join(r.label for r in self.replicas)
                + f"; work directory {workdir}"
            )
            code_dir, entry = self._prepare_code(workdir)
            channels = self._prepare_data(workdir)
            outcome = self._run_with_ports(workdir, code_dir, entry, channels)
            if outcome.status == COMPLETED or outcome.secondary_status == "MaxRuntimeExceeded":
                self._stop_all()  # servers and stragglers first: the model is final
                try:
                    self._upload(outcome)
                except storage.StorageError as exc:
                    outcome.status, outcome.secondary_status = FAILED, "Failed"
                    outcome.failure_reason = f"ClientError: {exc}"[:1024]
                    self.say(f"job failed: {outcome.failure_reason}")
        except _Interrupted as exc:
            self.say(f"{exc}: stopping every replica")
            outcome = Outcome(STOPPED, "Stopped", f"interrupted ({exc})", workdir=workdir, interrupted=True)
        except (storage.StorageError, FallbackError) as exc:
            raise LocalTrainError(str(exc)) from exc
        finally:
            self._ignore_signals()  # a second Ctrl-C must not cut the clean-up short
            try:
                self._stop_all()
                outcome.replicas = [self._record(p) for p in self._processes]
                if self._processes:
                    self._write_records(workdir)  # with the exit codes, for --keep-workdir
                self._cleanup(workdir)
            finally:
                self._restore_signals(previous)
        return outcome

    def _workdir(self) -> Path:
        if self.options.workdir is None:
            return Path(tempfile.mkdtemp(prefix=f"local-train-{self.job.job_name}-"))
        workdir = self.options.workdir.resolve()
        if workdir.exists() and any(workdir.iterdir()):
            raise LocalTrainError(f"--workdir {workdir} is not empty; give a new or empty directory")
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    def _cleanup(self, workdir: Path) -> None:
        if self.options.keep_workdir:
            self.say(f"work directory kept: {workdir}")
            return
        _make_writable(workdir / "shared")
        shutil.rmtree(workdir, ignore_errors=True)

    # ------------------------------------------------------------------ inputs

    def _s3_client(self) -> Any:
        if self._s3 is None:
            endpoint = self.options.endpoint_url or self.job.fallback.s3Endpoint
            self._s3 = storage.s3_client(self.job.region, endpoint)
        return self._s3

    def _prepare_code(self, workdir: Path) -> tuple[Path, str]:
        entry, source = contract.script_location(self.job)
        if not entry:
            raise LocalTrainError(
                "no training script: set the sagemaker_program hyperparameter (script mode) or spec.fallback.entryPoint"
            )
        if source:
            code_dir = storage.fetch_source(
                source, workdir / "shared" / "code", client_factory=self._s3_client, base=self.options.base_dir
            )
        else:
            script = storage.parse(entry, base=self.options.base_dir).path
            code_dir, entry = script.parent, script.name
        script = code_dir / entry
        if not script.is_file():
            where = f"source directory {source}" if source else str(code_dir)
            raise LocalTrainError(f"training script {entry!r} not found in {where}")
        if (code_dir / "requirements.txt").is_file():
            self.say("note: requirements.txt is not installed locally; install it into this environment yourself")
        return code_dir, entry

    def _prepare_data(self, workdir: Path) -> dict[str, Path]:
        """Each channel once: S3 prefixes downloaded into ``shared/data`` (made read-only), file:// used in place."""
        shared: dict[str, Path] = {}
        for channel in self.job.channels:
            location = storage.parse(channel.uri, base=self.options.base_dir)
            if channel.input_mode != "File":
                self.say(f"channel {channel.name}: {channel.input_mode} input mode runs as File mode locally")
            if location.scheme == "file":
                storage.files_under(location.path)  # fails clearly when missing
                shared[channel.name] = location.path
                continue
            target = workdir / "shared" / "data" / channel.name
            self.say(f"channel {channel.name}: downloading {location}")
            storage.download_prefix(self._s3_client(), location, target, manifest=channel.s3_data_type != "S3Prefix")
            _make_read_only(target)
            shared[channel.name] = target
        return shared

    def _link_channels(self, paths: contract.ContainerPaths, shared: dict[str, Path], replica: Replica) -> None:
        position = self.hosts.index(replica.host)
        for channel in self.job.channels:
            source = shared[channel.name]
            link = Path(paths.channel(channel.name))
            if link.is_symlink() or link.exists():
                continue
            if not channel.sharded and source.is_dir():
                link.symlink_to(source, target_is_directory=True)
                continue
            # ShardedByS3Key: this host sees every N-th file, as SageMaker gives each instance its part.
            # (A channel that is one file is a directory holding that file, as on SageMaker.)
            link.mkdir(parents=True)
            files = storage.files_under(source)
            for path in files[position :: len(self.hosts)] if channel.sharded else files:
                relative = path.relative_to(source) if source.is_dir() else Path(path.name)
                (link / relative).parent.mkdir(parents=True, exist_ok=True)
                (link / relative).symlink_to(path)

    # ------------------------------------------------------------------ processes

    def _run_with_ports(self, workdir: Path, code_dir: Path, entry: str, channels: dict[str, Path]) -> Outcome:
        picker = self.options.port_picker or free_ports
        for attempt in range(1, self.options.port_attempts + 1):
            ports = dict(zip(self.hosts, picker(len(self.replicas)), strict=True))
            self._launch(workdir, code_dir, entry, channels, ports)
            outcome, busy = self._supervise()
            outcome.workdir = workdir
            if busy is None or attempt == self.options.port_attempts:
                return outcome
            self.say(f"{busy.label}: port {ports[busy.host]} is taken; retrying with other ports")
            self._processes.clear()
        raise AssertionError("unreachable")

    def _launch(
        self, workdir: Path, code_dir: Path, entry: str, channels: dict[str, Path], ports: dict[str, int]
    ) -> None:
        _, source = contract.script_location(self.job)
        for replica in self.replicas:
            paths = contract.ContainerPaths(workdir / replica.host)
            for stale in (paths.model_dir, paths.output_dir):  # a retry starts clean
                shutil.rmtree(stale, ignore_errors=True)
            paths.make()
            self._link_channels(paths, channels, replica)
            built = contract.build(
                self.job,
                self.hosts,
                replica.host,
                paths,
                num_cpus=os.cpu_count() or 1,
                entry_point=entry,
                module_dir=source or str(code_dir),
            )
            contract.write_config(paths, built.files)
            env = dict(os.environ)
            env.update(self.job.environment)
            env.update(built.env)
            env["TF_CONFIG"] = tfconfig.tf_config_json(self.replicas, lambda r: f"127.0.0.1:{ports[r.host]}", replica)
            env["PYTHONUNBUFFERED"] = "1"
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code_dir), os.environ.get("PYTHONPATH")) if p)
            if tfconfig.runs_script(self.strategy, replica):
                command = self._script_command(code_dir, entry, built.args)
            else:
                command = [self.options.python, "-c", tfconfig.SERVER_BOOTSTRAP]
            self._start(replica, command, code_dir, env, paths, ports[replica.host])
        self._write_records(workdir)

    def _script_command(self, code_dir: Path, entry: str, args: list[str]) -> list[str]:
        if entry.endswith(".py"):
            return [self.options.python, entry, *args]
        script = code_dir / entry
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return [str(script), *args]

    def _start(
        self, replica: Replica, command: list[str], cwd: Path, env: dict[str, str], paths: Any, port: int
    ) -> None:
        try:
            popen = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own process group: stopped as a whole, untouched by the terminal's ^C
                preexec_fn=_die_with_parent if _PRCTL is not None else None,
            )
        except OSError as exc:
            raise LocalTrainError(f"{replica.label}: cannot start {command[0]}: {exc}") from exc
        process = _Process(replica, popen, paths, port)
        assert popen.stdout is not None and popen.stderr is not None
        process.pump(popen.stdout, self.out, process.stdout_tail, self._lock)
        process.pump(popen.stderr, self.err, process.stderr_tail, self._lock)
        self._processes.append(process)
        what = "script" if tfconfig.runs_script(self.strategy, replica) else "tf.distribute.Server"
        self.say(f"{replica.label}: started {what} (pid {popen.pid}, port {port})")

    def _supervise(self) -> tuple[Outcome, Replica | None]:
        """Watch the replicas until the job is decided; returns the outcome and, for a port clash, who hit it."""
        decider = tfconfig.decider(self.replicas)
        deadline = time.monotonic() + self.job.max_runtime if self.job.max_runtime else None
        decided_at: float | None = None
        seen: set[str] = set()
        while True:
            for process in self._processes:
                replica, code = process.replica, process.returncode
                if code is None or replica.host in seen:
                    continue
                seen.add(replica.host)
                self._drain(process)
                if code != 0:
                    reason = self._reason(process, code)
                    if self._port_busy(process):
                        self._stop_all()
                        return Outcome(FAILED, "Failed", reason), replica
                    return self._fail(reason), None
                if not tfconfig.exits_by_itself(self.strategy, replica):
                    return self._fail(f"AlgorithmError: {replica.label} exited before the chief finished"), None
                self.say(f"{replica.label}: exited 0")
                if replica == decider:
                    decided_at = time.monotonic()
            running = [
                p
                for p in self._processes
                if p.returncode is None and tfconfig.exits_by_itself(self.strategy, p.replica)
            ]
            if decided_at is not None and not running:
                return Outcome(COMPLETED, "Completed"), None
            now = time.monotonic()
            if decided_at is not None and now - decided_at > self.options.worker_grace:
                names = ", ".join(p.replica.label for p in running)
                self.say(f"{names} still running {self.options.worker_grace:.0f}s after {decider.label}; stopping")
                return Outcome(COMPLETED, "Completed"), None
            if deadline is not None and now > deadline:
                reason = f"MaxRuntimeExceeded: stopped after maxRuntimeInSeconds ({self.job.max_runtime}s)"
                self.say(reason)
                return Outcome(STOPPED, "MaxRuntimeExceeded", reason), None
            time.sleep(_POLL_SECONDS)

    def _fail(self, reason: str) -> Outcome:
        self.say(f"job failed: {reason}")
        self._stop_all()
        return Outcome(FAILED, "Failed", reason)

    def _reason(self, process: _Process, code: int) -> str:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        detail = contract.failure_reason(process.paths)
        if not detail:
            tail = [line for line in (process.stderr_tail or process.stdout_tail) if line.strip()]
            detail = "\n".join(tail[-5:])
        text = f"AlgorithmError: {process.replica.label} {how}" + (f": {detail}" if detail else "")
        return text[:1024]

    def _port_busy(self, process: _Process) -> bool:
        text = "\n".join(process.stderr_tail) + "\n".join(process.stdout_tail)
        return any(marker in text for marker in _PORT_BUSY_MARKERS)

    def _drain(self, process: _Process) -> None:
        for thread in process.pumps:
            thread.join(timeout=2)

    def _stop_all(self) -> None:
        """SIGTERM every replica's process group, SIGKILL what is left after ``stop_grace`` seconds."""
        alive = [p for p in self._processes if p.returncode is None]
        for process in alive:
            process.stopped_by_us = True
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.options.stop_grace
        while any(p.returncode is None for p in alive) and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        for process in self._processes:
            # Also catches children left in the group after the replica itself exited.
            process.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=5)
            self._drain(process)

    def _record(self, process: _Process) -> ReplicaRecord:
        r = process.replica
        return ReplicaRecord(
            host=r.host,
            role=r.role,
            index=r.index,
            port=process.port,
            pid=process.popen.pid,
            pgid=process.pgid,
            runs_script=tfconfig.runs_script(self.strategy, r),
            exit_code=process.returncode,
        )

    def _write_records(self, workdir: Path) -> None:
        records = [self._record(p).__dict__ for p in self._processes]
        (workdir / "replicas.json").write_text(json.dumps(records, indent=1))

    # ------------------------------------------------------------------ outputs

    def _upload(self, outcome: Outcome) -> None:
        decider = tfconfig.decider(self.replicas)
        assert outcome.workdir is not None
        paths = contract.ContainerPaths(outcome.workdir / decider.host)
        model_dir = Path(paths.model_dir)
        if storage.is_empty(model_dir) and outcome.status != COMPLETED:
            return
        if storage.is_empty(model_dir):
            self.say(f"warning: {decider.label} saved nothing in SM_MODEL_DIR; model.tar.gz is empty")
        archive = storage.pack(model_dir, outcome.workdir / "model.tar.gz")
        outcome.model_uri = storage.upload(
            archive, self.job.model_uri, client_factory=self._s3_client, base=self.options.base_dir
        )
        self.say(f"model: {outcome.model_uri}")
        output_data = Path(paths.output_data_dir)
        if not storage.is_empty(output_data):
            archive = storage.pack(output_data, outcome.workdir / "output.tar.gz")
            outcome.output_uri = storage.upload(
                archive,
                f"{self.job.output_uri}/output.tar.gz",
                client_factory=self._s3_client,
                base=self.options.base_dir,
            )
            self.say(f"output data: {outcome.output_uri}")

    # ------------------------------------------------------------------ signals

    def _trap_signals(self) -> dict[int, Any]:
        """Ctrl-C and SIGTERM become _Interrupted in the main thread, so ``finally`` stops the replicas."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, frame: FrameType | None) -> None:
            raise _Interrupted(signum)

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _ignore_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _make_read_only(path: Path) -> None:
    for item in sorted(path.rglob("*"), reverse=True):
        if item.is_file():
            item.chmod(0o444)
        elif item.is_dir():
            item.chmod(0o555)
    path.chmod(0o555)


def _make_writable(path: Path) -> None:
    if not path.exists():
        return
    for item in [path, *path.rglob("*")]:
        if item.is_dir() and not item.is_symlink():
            item.chmod(0o755)
