"""local-train's process handling with small plain-Python scripts (no TensorFlow): fast and to the point."""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from sagemaker_operator.local.job import JobDefinition
from sagemaker_operator.local.runner import LocalRunner, LocalTrainError, RunOptions
from tests.local.conftest import LOCAL_TRAIN, S3, group_gone, manifest, process_gone, run_local_train, write_manifest

# Writes what it was given into its model directory, so tests can see the contract from inside.
REPORT = """
import json, os, sys
from pathlib import Path
model = Path(os.environ["SM_MODEL_DIR"])
channel = os.environ.get("SM_CHANNEL_TRAIN")
report = {
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("SM_", "TF_CONFIG", "TRAINING_JOB", "GREETING"))},
    "config": {p.name: json.loads(p.read_text()) for p in Path(os.environ["SM_INPUT_CONFIG_DIR"]).glob("*.json")},
    "train": sorted(str(p.relative_to(channel)) for p in Path(channel).rglob("*") if p.is_file()) if channel else [],
}
(model / f"{os.environ['SM_CURRENT_HOST']}.json").write_text(json.dumps(report))
"""


def script_dir(tmp_path: Path, body: str, name: str = "train.py") -> Path:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / name).write_text(textwrap.dedent(body))
    return code


def model_files(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def run(document: dict, tmp_path: Path, **options: object) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    job = JobDefinition.from_manifest(document)
    opts = RunOptions(base_dir=tmp_path, out=out, err=err, stop_grace=2, **options)  # type: ignore[arg-type]
    outcome = LocalRunner(job, opts).run()
    return outcome, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- the contract, seen by the script


def test_each_replica_gets_the_contract_and_its_own_host(tmp_path: Path) -> None:
    script_dir(tmp_path, REPORT)
    data = tmp_path / "data"
    for i in range(4):
        (data / f"part-{i}.csv").parent.mkdir(parents=True, exist_ok=True)
        (data / f"part-{i}.csv").write_text(f"{i}\n")
    document = manifest(
        hyperparameters={
            "epochs": "3",
            "learning-rate": "0.5",
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"code"',
        },
        channels={"train": "file://data"},
        sharded=("train",),
        environment={"GREETING": "hello"},
        instance_count=2,
    )
    outcome, out, _ = run(document, tmp_path, keep_workdir=True)
    assert outcome.status == "Completed", out

    reports = {}
    for host in ("algo-1", "algo-2"):
        reports[host] = json.loads((outcome.workdir / host / "model" / f"{host}.json").read_text())
    first, second = reports["algo-1"], reports["algo-2"]
    # Script mode: user hyperparameters on the command line, sorted, sagemaker_* kept out.
    assert first["argv"] == ["--epochs", "3", "--learning-rate", "0.5"]
    assert first["env"]["SM_HPS"] == '{"epochs":3,"learning-rate":0.5}'
    assert first["env"]["SM_HP_LEARNING-RATE"] == "0.5"
    assert first["env"]["SM_HOSTS"] == '["algo-1","algo-2"]'
    assert (first["env"]["SM_CURRENT_HOST"], second["env"]["SM_CURRENT_HOST"]) == ("algo-1", "algo-2")
    assert first["env"]["GREETING"] == "hello"  # spec.environment reaches the container
    assert first["env"]["TRAINING_JOB_NAME"] == "local-job"
    # Each replica has its own /opt/ml-like root; the variables point into it.
    assert first["env"]["SM_MODEL_DIR"] == str(outcome.workdir / "algo-1" / "model")
    assert second["env"]["SM_OUTPUT_DATA_DIR"] == str(outcome.workdir / "algo-2" / "output" / "data")
    # Config files as SageMaker writes them: hyperparameters verbatim, per-host resourceconfig.
    assert first["config"]["hyperparameters.json"]["sagemaker_program"] == '"train.py"'
    assert second["config"]["resourceconfig.json"]["current_host"] == "algo-2"
    assert first["config"]["inputdataconfig.json"]["train"]["S3DistributionType"] == "ShardedByS3Key"
    # ShardedByS3Key: disjoint halves of the files.
    assert first["train"] == ["part-0.csv", "part-2.csv"]
    assert second["train"] == ["part-1.csv", "part-3.csv"]
    # One TF_CONFIG cluster, one task each, ports on 127.0.0.1.
    config_1, config_2 = json.loads(first["env"]["TF_CONFIG"]), json.loads(second["env"]["TF_CONFIG"])
    assert config_1["cluster"] == config_2["cluster"]
    assert len(set(config_1["cluster"]["worker"])) == 2
    assert all(a.startswith("127.0.0.1:") for a in config_1["cluster"]["worker"])
    assert (config_1["task"], config_2["task"]) == ({"type": "worker", "index": 0}, {"type": "worker", "index": 1})
    # Only algo-1's model is packed (SageMaker's chief rule).
    assert set(model_files(tmp_path / "out" / "local-job" / "output" / "model.tar.gz")) == {"algo-1.json"}


# --------------------------------------------------------------------------- finding the script


@pytest.mark.parametrize("form", ["directory", "file-tar", "explicit-fields"])
def test_the_script_is_found_in_a_directory_or_an_archive(tmp_path: Path, form: str) -> None:
    code = script_dir(tmp_path, "import os; open(os.environ['SM_MODEL_DIR'] + '/weights.txt', 'w').write('42')\n")
    if form == "directory":
        hps = {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code)}  # not JSON-encoded: fine
        fallback = None
    elif form == "file-tar":
        archive = tmp_path / "sourcedir.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(code / "train.py", arcname="train.py")
        hps = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"file://{archive}"'}
        fallback = None
    else:
        hps = {"sagemaker_program": '"other.py"'}
        fallback = {"entryPoint": "train.py", "sourceDir": "code"}  # the explicit fields win
    outcome, out, _ = run(manifest(hyperparameters=hps, fallback=fallback), tmp_path)
    assert outcome.status == "Completed", out
    assert model_files(tmp_path / "out" / "local-job" / "output" / "model.tar.gz") == {"weights.txt": b"42"}


def test_the_script_comes_from_s3_and_the_model_goes_back_to_s3(tmp_path: Path, s3: S3) -> None:
    code = script_dir(tmp_path, REPORT)
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(code / "train.py", arcname="train.py")
    source = s3.put("job/source/sourcedir.tar.gz", archive)
    s3.put("job/train/a.csv", b"1,2\n")
    s3.put("job/train/nested/b.csv", b"3,4\n")
    document = manifest(
        hyperparameters={"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"{source}"'},
        channels={"train": f"s3://{s3.bucket}/job/train/"},
        output=f"s3://{s3.bucket}/output/",
    )
    outcome, out, _ = run(document, tmp_path, endpoint_url=s3.url)
    assert outcome.status == "Completed", out
    assert outcome.model_uri == f"s3://{s3.bucket}/output/local-job/output/model.tar.gz"
    archive_out = tmp_path / "model.tar.gz"
    archive_out.write_bytes(s3.get("output/local-job/output/model.tar.gz"))
    report = json.loads(model_files(archive_out)["algo-1.json"])
    assert report["train"] == ["a.csv", "nested/b.csv"]
    assert report["env"]["SM_MODULE_DIR"] == source


def test_a_missing_script_is_a_clear_error(tmp_path: Path) -> None:
    script_dir(tmp_path, "print('hi')\n")
    document = manifest(hyperparameters={"sagemaker_program": '"tran.py"', "sagemaker_submit_directory": '"code"'})
    with pytest.raises(LocalTrainError, match=r"training script 'tran.py' not found in source directory code"):
        run(document, tmp_path)
    with pytest.raises(LocalTrainError, match="no training script"):
        run(manifest(), tmp_path)


def test_unreadable_s3_input_is_a_clear_error(tmp_path: Path, s3: S3) -> None:
    script_dir(tmp_path, "print('never runs')\n")
    document = manifest(
        hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": "code"},
        channels={"train": f"s3://{s3.bucket}-missing/data/"},
    )
    with pytest.raises(LocalTrainError, match=r"cannot list s3://test-.*-missing/data/: NoSuchBucket"):
        run(document, tmp_path, endpoint_url=s3.url)


def test_the_cli_refuses_what_is_not_a_training_job(tmp_path: Path) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n")
    result = run_local_train("-f", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "expected apiVersion sagemaker.aws.amazon.com/v1 and kind TrainingJob, got apps/v1 Deployment" in result.stderr
    )


# --------------------------------------------------------------------------- failures, time limits, ports


CRASH = """
import os, sys, time
host = os.environ["SM_CURRENT_HOST"]
open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "pid"), "w").write(str(os.getpid()))
if host == "algo-2":
    time.sleep(0.5)
    if os.environ.get("WRITE_FAILURE"):
        open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("ValueError: labels out of range")
    print("about to fail", file=sys.stderr)
    raise SystemExit(3)
time.sleep(600)  # a worker blocked on a peer that is gone
"""


@pytest.mark.parametrize("failure_file", [True, False])
def test_a_crashing_replica_fails_the_job_with_its_reason_and_stops_the_others(
    tmp_path: Path, failure_file: bool
) -> None:
    script_dir(tmp_path, CRASH)
    document = manifest(
        hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": "code"},
        instance_count=3,
        environment={"WRITE_FAILURE": "1"} if failure_file else None,
    )
    started = time.monotonic()
    outcome, _, err = run(document, tmp_path)
    assert time.monotonic() - started < 30  # not the 600 s the others would sleep
    assert outcome.status == "Failed" and outcome.exit_code == 1
    assert outcome.failure_reason.startswith("AlgorithmError: algo-2 worker:1 exited with code 3")
    expected = "ValueError: labels out of range" if failure_file else "about to fail"
    assert expected in outcome.failure_reason
    assert "[algo-2 worker:1] about to fail" in err  # streamed with its host prefix
    for record in outcome.replicas:
        assert process_gone(record.pid) and group_gone(record.pgid), record
    assert not (tmp_path / "out").exists()  # a failed job uploads nothing


def test_max_runtime_stops_the_job_and_keeps_what_the_script_saved(tmp_path: Path) -> None:
    script_dir(
        tmp_path,
        """
        import os, time
        open(os.path.join(os.environ["SM_MODEL_DIR"], "checkpoint.txt"), "w").write("epoch 1")
        time.sleep(600)
        """,
    )
    document = manifest(
        hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": "code"}, max_runtime=2
    )
    started = time.monotonic()
    outcome, _, _ = run(document, tmp_path)
    assert 2 <= time.monotonic() - started < 20
    assert (outcome.status, outcome.secondary_status, outcome.exit_code) == ("Stopped", "MaxRuntimeExceeded", 124)
    assert "maxRuntimeInSeconds (2s)" in outcome.failure_reason
    # As SageMaker does, what the script saved before it was stopped is still uploaded.
    assert model_files(tmp_path / "out" / "local-job" / "output" / "model.tar.gz") == {"checkpoint.txt": b"epoch 1"}
    assert all(process_gone(r.pid) for r in outcome.replicas)


def test_a_busy_port_is_retried_with_other_ports(tmp_path: Path) -> None:
    # The script binds its TF_CONFIG address as a TensorFlow server would; the first port offered is taken.
    script_dir(
        tmp_path,
        """
        import json, os, socket
        config = json.loads(os.environ["TF_CONFIG"])
        port = int(config["cluster"]["worker"][config["task"]["index"]].rsplit(":", 1)[1])
        with socket.socket() as s:
            s.bind(("0.0.0.0", port))  # OSError: [Errno 98] Address already in use
        """,
    )
    blocker = socket.socket()
    blocker.bind(("0.0.0.0", 0))
    blocker.listen()
    offered: list[list[int]] = []

    def picker(count: int) -> list[int]:
        from sagemaker_operator.local.runner import free_ports

        ports = [blocker.getsockname()[1]] if not offered else free_ports(count)
        offered.append(ports)
        return ports

    document = manifest(hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": "code"})
    try:
        outcome, out, _ = run(document, tmp_path, port_picker=picker)
    finally:
        blocker.close()
    assert outcome.status == "Completed", out
    assert len(offered) == 2
    assert f"algo-1 worker:0: port {offered[0][0]} is taken; retrying with other ports" in out


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_stops_every_replica_and_their_children(tmp_path: Path) -> None:
    script_dir(
        tmp_path,
        """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"ready {os.getpid()} {child.pid}", flush=True)
        time.sleep(600)
        """,
    )
    path = write_manifest(
        tmp_path,
        manifest(
            hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": "code"}, instance_count=2
        ),
    )
    process = subprocess.Popen(
        [*LOCAL_TRAIN, "-f", str(path), "--stop-grace", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while len(pids) < 4 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready" in line:
            pids += [int(p) for p in line.split("ready", 1)[1].split()]
    assert len(pids) == 4, "the replicas did not start"
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends local-train
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "Stopped (Stopped): interrupted (SIGINT)" in errors
    for pid in pids:  # the scripts and the children they started
        assert process_gone(pid), pid


def test_the_workdir_is_removed_unless_kept(tmp_path: Path) -> None:
    script_dir(tmp_path, "print('ok')\n")
    document = manifest(hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": "code"})
    outcome, _, _ = run(document, tmp_path)
    assert not outcome.workdir.exists()
    kept = tmp_path / "kept"
    run(document, tmp_path, workdir=kept, keep_workdir=True)
    assert (kept / "algo-1" / "input" / "config" / "resourceconfig.json").is_file()
    assert json.loads((kept / "replicas.json").read_text())[0]["exit_code"] == 0
    with pytest.raises(LocalTrainError, match="is not empty"):
        run(document, tmp_path, workdir=kept)
