"""The SageMaker training container contract, for replica i of N: config files, directories, ``SM_*``.

What SageMaker (and its training toolkit, aws/sagemaker-training-toolkit) gives a training container:

- ``/opt/ml/input/config/hyperparameters.json``: the request's HyperParameters, values as strings,
  exactly as submitted. Script mode (the SageMaker Python SDK) JSON-encodes every value, so
  ``epochs=5`` arrives as ``"5"`` and ``sagemaker_program`` as ``"\\"train.py\\""``; the toolkit
  decodes each value with ``json.loads`` and keeps the raw string when that fails. So do we.
- ``resourceconfig.json`` (``current_host``, ``hosts``, ``network_interface_name``, instance groups)
  and ``inputdataconfig.json`` (per channel: input mode, distribution, content type).
- ``/opt/ml/input/data/<channel>``, ``/opt/ml/model``, ``/opt/ml/output`` (``failure`` holds the
  reason a failing script gives, ``data`` other artifacts), ``/opt/ml/checkpoints``, ``/opt/ml/code``.
- The ``SM_*`` variables, named as the toolkit names them (``SM_`` + the upper-cased key, values
  that are not strings as compact sorted JSON), and the script's command line: every user
  hyperparameter (not ``sagemaker_*``) as ``--name value``, sorted by name.

In-cluster pods get the real ``/opt/ml`` paths. Local processes cannot all own ``/opt/ml``, so each
replica gets its own root (``<workdir>/algo-i``) and the variables point into it: scripts that read
``SM_MODEL_DIR``, ``SM_CHANNEL_*`` and ``SM_OUTPUT_DATA_DIR`` (as SageMaker recommends) run
unchanged in all three places; hard-coded ``/opt/ml`` paths only work on SageMaker and in the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from sagemaker_operator.local.job import JobDefinition

SAGEMAKER_BASE = PurePosixPath("/opt/ml")
HYPERPARAMETERS_FILE = "hyperparameters.json"
RESOURCE_CONFIG_FILE = "resourceconfig.json"
INPUT_DATA_CONFIG_FILE = "inputdataconfig.json"
INSTANCE_GROUP = "homogeneousCluster"
NETWORK_INTERFACE = "eth0"

PROGRAM_HP = "sagemaker_program"
SUBMIT_DIR_HP = "sagemaker_submit_directory"
REGION_HP = "sagemaker_region"
LOG_LEVEL_HP = "sagemaker_container_log_level"
# The toolkit's own sagemaker_* hyperparameters; the other sagemaker_* ones are "framework params".
TOOLKIT_HPS = frozenset(
    {
        PROGRAM_HP,
        SUBMIT_DIR_HP,
        "sagemaker_enable_cloudwatch_metrics",
        REGION_HP,
        LOG_LEVEL_HP,
        "sagemaker_job_name",
        "default_user_module_name",
        "_tuning_objective_metric",
        "sagemaker_s3_output",
    }
)
_DISTRIBUTION_HPS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
)


@dataclass(frozen=True)
class ContainerPaths:
    """The ``/opt/ml`` tree, rooted anywhere (``/opt/ml`` in a pod, ``<workdir>/algo-i`` locally)."""

    base: PurePath = SAGEMAKER_BASE

    @property
    def input_dir(self) -> PurePath:
        return self.base / "input"

    @property
    def config_dir(self) -> PurePath:
        return self.base / "input" / "config"

    @property
    def data_dir(self) -> PurePath:
        return self.base / "input" / "data"

    def channel(self, name: str) -> PurePath:
        return self.data_dir / name

    @property
    def model_dir(self) -> PurePath:
        return self.base / "model"

    @property
    def output_dir(self) -> PurePath:
        return self.base / "output"

    @property
    def output_data_dir(self) -> PurePath:
        return self.base / "output" / "data"

    @property
    def intermediate_dir(self) -> PurePath:
        return self.base / "output" / "intermediate"

    @property
    def failure_file(self) -> PurePath:
        return self.base / "output" / "failure"

    @property
    def checkpoints_dir(self) -> PurePath:
        return self.base / "checkpoints"

    @property
    def code_dir(self) -> PurePath:
        return self.base / "code"

    def make(self) -> None:
        """Create the writable directories (local runs; pods get volumes)."""
        for directory in (
            self.config_dir,
            self.data_dir,
            self.model_dir,
            self.output_data_dir,
            self.intermediate_dir,
            self.checkpoints_dir,
        ):
            Path(directory).mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- hyperparameters


def decode(value: str) -> Any:
    """A hyperparameter as the toolkit reads it: JSON when it parses, else the string itself."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def split_hyperparameters(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, sagemaker_* ones), decoded. Only the user's reach the script's command line."""
    user: dict[str, Any] = {}
    sagemaker: dict[str, Any] = {}
    for key, value in raw.items():
        (sagemaker if key.startswith("sagemaker_") or key in TOOLKIT_HPS else user)[key] = decode(value)
    return user, sagemaker


def command_line(user_hps: Mapping[str, Any]) -> list[str]:
    """``--name value`` per hyperparameter, sorted (``-n`` for one-letter names); maps become ``k=v,k=v``."""
    args: list[str] = []
    for key in sorted(user_hps):
        value = user_hps[key]
        args.append(f"-{key}" if len(key) == 1 else f"--{key}")
        if isinstance(value, Mapping):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append("" if value is None else str(value))
    return args


def env_value(value: Any) -> str:
    """The toolkit's rendering of a value in an environment variable."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def script_location(job: JobDefinition) -> tuple[str | None, str | None]:
    """(entry point, source dir) from ``spec.fallback`` first, else the script-mode hyperparameters."""
    _, sagemaker = split_hyperparameters(job.hyperparameters)
    entry = job.fallback.entryPoint or _as_str(sagemaker.get(PROGRAM_HP))
    source = job.fallback.sourceDir or _as_str(sagemaker.get(SUBMIT_DIR_HP))
    return entry, source


def _as_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


# --------------------------------------------------------------------------- config files


def resource_config(hosts: Sequence[str], current_host: str, instance_type: str) -> dict[str, Any]:
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": list(hosts),
        "instance_groups": [
            {"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": list(hosts)}
        ],
        "network_interface_name": NETWORK_INTERFACE,
    }


def input_data_config(job: JobDefinition) -> dict[str, dict[str, str]]:
    config: dict[str, dict[str, str]] = {}
    for channel in job.channels:
        entry = {
            "TrainingInputMode": channel.input_mode,
            "S3DistributionType": channel.distribution,
            "RecordWrapperType": channel.record_wrapper,
        }
        if channel.content_type:
            entry["ContentType"] = channel.content_type
        if channel.compression != "None":
            entry["CompressionType"] = channel.compression
        config[channel.name] = entry
    return config


def config_files(job: JobDefinition, hosts: Sequence[str], current_host: str) -> dict[str, str]:
    """File name -> content of ``/opt/ml/input/config`` for one host."""
    return {
        HYPERPARAMETERS_FILE: json.dumps(job.hyperparameters, indent=1, sort_keys=True),
        RESOURCE_CONFIG_FILE: json.dumps(resource_config(hosts, current_host, job.instance_type), indent=1),
        INPUT_DATA_CONFIG_FILE: json.dumps(input_data_config(job), indent=1, sort_keys=True),
    }


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class Contract:
    """Everything one replica's process receives: environment, command-line arguments, config files."""

    env: dict[str, str]
    args: list[str]
    files: dict[str, str]


def build(
    job: JobDefinition,
    hosts: Sequence[str],
    current_host: str,
    paths: ContainerPaths = ContainerPaths(),
    *,
    num_cpus: int | None,
    num_gpus: int = 0,
    entry_point: str | None = None,
    module_dir: str | None = None,
) -> Contract:
    """The contract of ``current_host``. ``num_cpus=None`` leaves ``SM_NUM_CPUS`` to the caller (a pod's
    downward API); ``module_dir`` is the submit directory as given (SageMaker shows the S3 URI)."""
    if current_host not in hosts:
        raise ValueError(f"{current_host} is not one of the hosts {list(hosts)}")
    user_hps, sagemaker_hps = split_hyperparameters(job.hyperparameters)
    framework_params = {k: v for k, v in sagemaker_hps.items() if k not in TOOLKIT_HPS}
    distributed = any(bool(framework_params.get(k)) for k in _DISTRIBUTION_HPS)
    channels = {c.name: str(paths.channel(c.name)) for c in job.channels}
    resources = resource_config(hosts, current_host, job.instance_type)
    data_config = input_data_config(job)
    log_level = sagemaker_hps.get(LOG_LEVEL_HP, 20)
    module_name = entry_point[:-3] if entry_point and entry_point.endswith(".py") else entry_point
    groups = [INSTANCE_GROUP]
    training_env: dict[str, Any] = {
        "additional_framework_parameters": framework_params,
        "channel_input_dirs": channels,
        "current_host": current_host,
        "current_instance_group": INSTANCE_GROUP,
        "current_instance_group_hosts": list(hosts),
        "current_instance_type": job.instance_type,
        "distribution_hosts": list(hosts) if distributed else [],
        "distribution_instance_groups": groups if distributed else [],
        "framework_module": None,
        "hosts": list(hosts),
        "hyperparameters": user_hps,
        "input_config_dir": str(paths.config_dir),
        "input_data_config": data_config,
        "input_dir": str(paths.input_dir),
        "instance_groups": groups,
        "instance_groups_dict": {INSTANCE_GROUP: resources["instance_groups"][0]},
        "is_hetero": False,
        "is_master": current_host == hosts[0],
        "is_modelparallel_enabled": None,
        "job_name": job.job_name,
        "log_level": log_level,
        "master_hostname": hosts[0],
        "model_dir": str(paths.model_dir),
        "module_dir": module_dir or str(paths.code_dir),
        "module_name": module_name,
        "network_interface_name": NETWORK_INTERFACE,
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "output_data_dir": str(paths.output_data_dir),
        "output_dir": str(paths.output_dir),
        "output_intermediate_dir": str(paths.intermediate_dir),
        "resource_config": resources,
        "user_entry_point": entry_point,
    }
    args = command_line(user_hps)
    variables: dict[str, Any] = {
        "hosts": list(hosts),
        "network_interface_name": NETWORK_INTERFACE,
        "hps": user_hps,
        "user_entry_point": entry_point,
        "framework_params": framework_params,
        "resource_config": resources,
        "input_data_config": data_config,
        "output_data_dir": str(paths.output_data_dir),
        "channels": sorted(channels),
        "current_host": current_host,
        "current_instance_type": job.instance_type,
        "current_instance_group": INSTANCE_GROUP,
        "current_instance_group_hosts": list(hosts),
        "instance_groups": groups,
        "instance_groups_dict": training_env["instance_groups_dict"],
        "distribution_instance_groups": training_env["distribution_instance_groups"],
        "is_hetero": False,
        "module_name": module_name,
        "log_level": log_level,
        "framework_module": None,
        "input_dir": str(paths.input_dir),
        "input_config_dir": str(paths.config_dir),
        "output_dir": str(paths.output_dir),
        "num_gpus": num_gpus,
        "model_dir": str(paths.model_dir),
        "module_dir": training_env["module_dir"],
        "training_env": training_env,
        "user_args": args,
        "output_intermediate_dir": str(paths.intermediate_dir),
    }
    if num_cpus is not None:
        variables["num_cpus"] = num_cpus
    variables.update({f"channel_{name}": path for name, path in channels.items()})
    variables.update({f"hp_{key}": value for key, value in user_hps.items()})
    env = {f"SM_{key.upper()}": env_value(value) for key, value in variables.items()}
    # Set by SageMaker itself or by the toolkit before it starts the script.
    env["TRAINING_JOB_NAME"] = job.job_name
    env["CURRENT_HOST"] = current_host
    region = sagemaker_hps.get(REGION_HP) or job.region
    if region:
        env["SAGEMAKER_REGION"] = str(region)
    return Contract(env=env, args=args, files=config_files(job, hosts, current_host))


def write_config(paths: ContainerPaths, files: Mapping[str, str]) -> None:
    directory = Path(paths.config_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def failure_reason(paths: ContainerPaths, limit: int = 1024) -> str | None:
    """What the script wrote to ``/opt/ml/output/failure`` (SageMaker keeps 1024 characters)."""
    path = Path(paths.failure_file)
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return None
    return text[:limit] or None
