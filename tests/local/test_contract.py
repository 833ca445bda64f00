"""SageMaker's container contract for one replica of a multi-host job, and TF_CONFIG for both strategies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagemaker_operator.local import contract, tfconfig
from sagemaker_operator.local.contract import ContainerPaths
from sagemaker_operator.local.job import JobDefinition
from sagemaker_operator.local.spec import FallbackError, Strategy
from tests.local.conftest import manifest

HOSTS = ["algo-1", "algo-2", "algo-3"]


def job(**kwargs: object) -> JobDefinition:
    document = manifest(
        name="digits",
        hyperparameters={
            "epochs": "5",
            "optimizer": '"adam"',  # script mode: JSON-encoded by the SageMaker Python SDK
            "layers": "[64, 32]",
            "dropout": "not json",
            "x": "1",
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://amzn-s3-demo-bucket/src/sourcedir.tar.gz"',
            "sagemaker_multi_worker_mirrored_strategy_enabled": "true",
        },
        channels={"training": "s3://amzn-s3-demo-bucket/train/", "validation": "s3://amzn-s3-demo-bucket/val/"},
        output="s3://amzn-s3-demo-bucket/out",
        instance_count=3,
        **kwargs,  # type: ignore[arg-type]
    )
    return JobDefinition.from_manifest(document)


def test_config_files_for_one_host_of_three() -> None:
    files = contract.config_files(job(), HOSTS, "algo-2")
    hyperparameters = json.loads(files["hyperparameters.json"])
    assert hyperparameters["optimizer"] == '"adam"'  # verbatim: strings, as SageMaker stores them
    assert hyperparameters["epochs"] == "5"
    resources = json.loads(files["resourceconfig.json"])
    assert resources["current_host"] == "algo-2"
    assert resources["hosts"] == HOSTS
    assert resources["network_interface_name"] == "eth0"
    assert resources["instance_groups"] == [
        {"instance_group_name": "homogeneousCluster", "instance_type": "ml.m5.large", "hosts": HOSTS}
    ]
    channels = json.loads(files["inputdataconfig.json"])
    assert channels == {
        "training": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
        "validation": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
    }


def test_sm_variables_as_the_training_toolkit_names_them() -> None:
    built = contract.build(job(), HOSTS, "algo-3", num_cpus=8, entry_point="train.py", module_dir="s3://b/src.tgz")
    env = built.env
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNELS"] == '["training","validation"]'
    assert env["SM_CHANNEL_TRAINING"] == "/opt/ml/input/data/training"
    assert env["SM_CHANNEL_VALIDATION"] == "/opt/ml/input/data/validation"
    assert env["SM_HOSTS"] == '["algo-1","algo-2","algo-3"]'
    assert env["SM_CURRENT_HOST"] == "algo-3"
    # Decoded like the toolkit: JSON where it parses, else the raw string; sagemaker_* kept out.
    assert json.loads(env["SM_HPS"]) == {
        "dropout": "not json",
        "epochs": 5,
        "layers": [64, 32],
        "optimizer": "adam",
        "x": 1,
    }
    assert env["SM_HP_EPOCHS"] == "5"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    assert env["SM_HP_LAYERS"] == "[64,32]"
    assert "SM_HP_SAGEMAKER_PROGRAM" not in env
    assert env["SM_FRAMEWORK_PARAMS"] == '{"sagemaker_multi_worker_mirrored_strategy_enabled":true}'
    assert env["SM_NUM_CPUS"] == "8" and env["SM_NUM_GPUS"] == "0"
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_OUTPUT_DIR"] == "/opt/ml/output"
    assert env["SM_INPUT_DIR"] == "/opt/ml/input"
    assert env["SM_INPUT_CONFIG_DIR"] == "/opt/ml/input/config"
    assert env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == "s3://b/src.tgz"
    assert json.loads(env["SM_RESOURCE_CONFIG"])["current_host"] == "algo-3"
    assert set(json.loads(env["SM_INPUT_DATA_CONFIG"])) == {"training", "validation"}
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == "digits"
    assert training_env["master_hostname"] == "algo-1" and training_env["is_master"] is False
    assert training_env["channel_input_dirs"]["training"] == "/opt/ml/input/data/training"
    assert env["TRAINING_JOB_NAME"] == "digits"
    # The script's command line: user hyperparameters sorted, one-letter names with one dash.
    assert built.args == [
        "--dropout", "not json", "--epochs", "5", "--layers", "[64, 32]", "--optimizer", "adam", "-x", "1"
    ]  # fmt: skip
    assert json.loads(env["SM_USER_ARGS"]) == built.args


def test_local_replicas_get_paths_under_their_own_root(tmp_path: Path) -> None:
    paths = ContainerPaths(tmp_path / "algo-2")
    env = contract.build(job(), HOSTS, "algo-2", paths, num_cpus=2, entry_point="train.py").env
    assert env["SM_MODEL_DIR"] == str(tmp_path / "algo-2" / "model")
    assert env["SM_CHANNEL_TRAINING"] == str(tmp_path / "algo-2" / "input" / "data" / "training")
    paths.make()
    assert Path(paths.output_data_dir).is_dir() and Path(paths.checkpoints_dir).is_dir()
    Path(paths.failure_file).write_text("x" * 2000)
    assert contract.failure_reason(paths) == "x" * 1024  # SageMaker's FailureReason limit


def test_no_cpu_count_leaves_sm_num_cpus_to_the_pod() -> None:
    env = contract.build(job(), HOSTS, "algo-1", num_cpus=None, entry_point="train.py").env
    assert "SM_NUM_CPUS" not in env


def test_script_location_prefers_the_explicit_fields() -> None:
    assert contract.script_location(job()) == ("train.py", "s3://amzn-s3-demo-bucket/src/sourcedir.tar.gz")
    explicit = job(fallback={"entryPoint": "main.py", "sourceDir": "/app"})
    assert contract.script_location(explicit) == ("main.py", "/app")


def test_model_goes_where_sagemaker_puts_it() -> None:
    assert job().model_uri == "s3://amzn-s3-demo-bucket/out/digits/output/model.tar.gz"


def test_a_channel_that_is_not_s3_is_refused() -> None:
    document = manifest(channels={"train": "s3://b/x"})
    document["spec"]["inputDataConfig"][0]["dataSource"] = {"fileSystemDataSource": {"fileSystemId": "fs-1"}}
    with pytest.raises(FallbackError, match="only S3"):
        _ = JobDefinition.from_manifest(document).channels


# --------------------------------------------------------------------------- TF_CONFIG


def test_multi_worker_mirrored_tf_config() -> None:
    replicas = tfconfig.plan(Strategy.MULTI_WORKER_MIRRORED, 3)
    assert [(r.role, r.index, r.host) for r in replicas] == [
        ("worker", 0, "algo-1"),
        ("worker", 1, "algo-2"),
        ("worker", 2, "algo-3"),
    ]
    config = tfconfig.tf_config(replicas, lambda r: f"{r.host}.svc:2222", replicas[1])
    assert config == {
        "cluster": {"worker": ["algo-1.svc:2222", "algo-2.svc:2222", "algo-3.svc:2222"]},
        "task": {"type": "worker", "index": 1},
    }
    assert tfconfig.decider(replicas) == replicas[0]
    assert all(tfconfig.runs_script(Strategy.MULTI_WORKER_MIRRORED, r) for r in replicas)


def test_parameter_server_tf_config_uses_tf2_vocabulary() -> None:
    replicas = tfconfig.plan(Strategy.PARAMETER_SERVER, 2, 2)
    assert [r.task for r in replicas] == ["chief-0", "worker-0", "worker-1", "ps-0", "ps-1"]
    assert [r.host for r in replicas] == ["algo-1", "algo-2", "algo-3", "algo-4", "algo-5"]
    ps1 = replicas[4]
    config = tfconfig.tf_config(replicas, lambda r: f"127.0.0.1:{9000 + int(r.host[5:])}", ps1)
    assert config == {
        "cluster": {
            "chief": ["127.0.0.1:9001"],
            "worker": ["127.0.0.1:9002", "127.0.0.1:9003"],
            "ps": ["127.0.0.1:9004", "127.0.0.1:9005"],
        },
        "task": {"type": "ps", "index": 1},
    }
    assert "master" not in json.dumps(config)  # TF 2's tf.distribute refuses TF 1's "master"
    assert tfconfig.decider(replicas).role == "chief"
    # Only the chief runs the script; workers and parameter servers serve until stopped.
    assert [tfconfig.exits_by_itself(Strategy.PARAMETER_SERVER, r) for r in replicas] == [True] + [False] * 4


def test_plans_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        tfconfig.plan(Strategy.MULTI_WORKER_MIRRORED, 0)
    with pytest.raises(ValueError, match="no parameter servers"):
        tfconfig.plan(Strategy.MULTI_WORKER_MIRRORED, 2, 1)
    with pytest.raises(ValueError, match="at least one parameter server"):
        tfconfig.plan(Strategy.PARAMETER_SERVER, 2, 0)
