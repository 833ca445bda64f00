"""Real TensorFlow on CPU through ``local-train``, the way a user runs it: the sample script on digits.

Held-out data: samples/tensorflow/make_data.py writes a stratified 75/25 split; the job trains on the
75% (``train`` channel) and the test below measures accuracy itself, on the 25% the job never trained
on, with the model loaded back from the model.tar.gz the job wrote.
"""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.local.conftest import SAMPLE, SAMPLE_DIR, group_gone, process_gone, run_local_train, write_manifest

pytestmark = pytest.mark.tensorflow
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_data", SAMPLE_DIR / "make_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    directory = tmp_path_factory.mktemp("digits")
    module.write(directory)
    return directory


def sample_job(tmp_path: Path, data: Path, *, epochs: int = 8) -> Path:
    """The sample TrainingJob, pointed at local files instead of S3 (what a user does to try it locally)."""
    document = yaml.safe_load(SAMPLE.read_text())
    spec = document["spec"]
    for item in spec["hyperParameters"]:
        if item["name"] == "sagemaker_submit_directory":
            item["value"] = json.dumps(str(SAMPLE_DIR))
        if item["name"] == "epochs":
            item["value"] = str(epochs)
    for channel in spec["inputDataConfig"]:
        channel["dataSource"]["s3DataSource"]["s3Uri"] = f"file://{data / channel['channelName']}"
    spec["outputDataConfig"]["s3OutputPath"] = "file://out"
    return write_manifest(tmp_path, document)


def held_out_accuracy(archive: Path, data: Path, tmp_path: Path) -> float:
    import tensorflow as tf

    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "model", filter="data")
    model = tf.saved_model.load(str(tmp_path / "model" / "1"))  # SavedModel, TensorFlow Serving's layout
    test = np.load(data / "test" / "test.npz")
    logits = model.serve(tf.constant(test["x"], dtype=tf.float32)).numpy()
    return float(np.mean(np.argmax(logits, axis=1) == test["y"]))


def test_two_workers_multi_worker_mirrored_train_digits(tmp_path: Path, data: Path) -> None:
    path = sample_job(tmp_path, data)
    result = run_local_train("-f", str(path), "--workers", "2", cwd=tmp_path, env=QUIET)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "multi-worker-mirrored, algo-1 worker:0, algo-2 worker:1" in out
    assert "[algo-1 worker:0] CollectiveAllReduceStrategy: 2 replica(s), global batch 64" in out
    assert "[algo-2 worker:1] epoch 8/8" in out
    archive = tmp_path / "out" / "tensorflow-digits" / "output" / "model.tar.gz"
    assert f"Completed; model at file://{archive}" in out
    accuracy = held_out_accuracy(archive, data, tmp_path)
    assert accuracy > 0.9, accuracy
    with tarfile.open(tmp_path / "out" / "tensorflow-digits" / "output" / "output.tar.gz") as tar:
        metrics = json.loads(tar.extractfile("metrics.json").read())  # type: ignore[union-attr]
    assert metrics["test_examples"] == 450


def test_parameter_server_run_completes_and_leaves_nothing_running(tmp_path: Path, data: Path) -> None:
    path = sample_job(tmp_path, data, epochs=6)
    workdir = tmp_path / "work"
    result = run_local_train(
        "-f", str(path), "--workers", "1", "--ps", "1", "--workdir", str(workdir), "--keep-workdir",
        cwd=tmp_path, env=QUIET,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "parameter-server, algo-1 chief:0, algo-2 worker:0, algo-3 ps:0" in out
    assert "[algo-3 ps:0] tf.distribute.Server ps:0 serving at" in out
    assert "[algo-1 chief:0] ParameterServerStrategyV2" in out
    records = json.loads((workdir / "replicas.json").read_text())
    assert [(r["role"], r["runs_script"]) for r in records] == [("chief", True), ("worker", False), ("ps", False)]
    for record in records:  # the servers never exit by themselves: local-train stopped them
        assert process_gone(record["pid"]) and group_gone(record["pgid"]), record
    accuracy = held_out_accuracy(tmp_path / "out" / "tensorflow-digits" / "output" / "model.tar.gz", data, tmp_path)
    assert accuracy > 0.9, accuracy


CRASHING_WORKER = """
import os, sys
import tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()
if os.environ["SM_CURRENT_HOST"] == "algo-2":
    with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
        f.write("RuntimeError: worker 1 lost its data")
    sys.exit(1)
with strategy.scope():  # worker 0 waits for worker 1 in the first collective, forever
    variable = tf.Variable(1.0)
print("unreachable: the peer is gone", flush=True)
"""


def test_a_crashing_tensorflow_worker_fails_the_job_and_stops_its_peer(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(CRASHING_WORKER)
    document = yaml.safe_load(SAMPLE.read_text())
    document["spec"]["hyperParameters"] = [
        {"name": "sagemaker_program", "value": '"train.py"'},
        {"name": "sagemaker_submit_directory", "value": '"code"'},
    ]
    document["spec"]["inputDataConfig"] = []
    document["spec"]["outputDataConfig"]["s3OutputPath"] = "file://out"
    path = write_manifest(tmp_path, document)
    workdir = tmp_path / "work"
    started = time.monotonic()
    result = run_local_train("-f", str(path), "--workdir", str(workdir), "--keep-workdir", cwd=tmp_path, env=QUIET)
    assert time.monotonic() - started < 120
    assert result.returncode == 1
    assert "Failed (Failed): AlgorithmError: algo-2 worker:1 exited with code 1: " in result.stderr
    assert "RuntimeError: worker 1 lost its data" in result.stderr
    assert "unreachable" not in result.stdout
    for record in json.loads((workdir / "replicas.json").read_text()):
        assert process_gone(record["pid"]) and group_gone(record["pgid"]), record
    assert not (tmp_path / "out").exists()
