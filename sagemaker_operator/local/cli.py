"""``sagemaker-operator local-train``: run a TrainingJob manifest as local TensorFlow processes.

Also runnable on its own (``python -m sagemaker_operator.local.cli -f job.yaml``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from sagemaker_operator.local.job import JobDefinition
from sagemaker_operator.local.runner import LocalRunner, LocalTrainError, RunOptions
from sagemaker_operator.local.spec import FallbackError


class SetupError(click.ClickException):
    """The job could not start (exit status 2), as opposed to a job that ran and failed (1)."""

    exit_code = 2


def _load_manifest(path: Path) -> object:
    """The TrainingJob in the file (the first one, when the file holds several documents)."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise SetupError(f"{path}: cannot read the manifest: {exc}") from exc
    if not documents:
        raise SetupError(f"{path}: the file holds no Kubernetes object")
    jobs = [d for d in documents if isinstance(d, dict) and d.get("kind") == "TrainingJob"]
    return jobs[0] if jobs else documents[0]


@click.command("local-train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-f",
    "--file",
    "manifest",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The TrainingJob manifest.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker replicas (default: the spec's).")
@click.option(
    "--ps",
    "parameter_servers",
    type=click.IntRange(0, 16),
    default=None,
    help="Parameter servers: N>0 runs the parameter-server strategy (1 chief, workers, N ps); 0 multi-worker-mirrored.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="New or empty directory for the replicas' /opt/ml trees (default: a temporary one).",
)
@click.option("--keep-workdir", is_flag=True, help="Keep the work directory (logs, model, config) afterwards.")
@click.option("--job-name", default=None, help="Training job name (default: spec.trainingJobName or metadata.name).")
@click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL_S3",
    default=None,
    help="S3 endpoint URL (MinIO, the simulator); default: spec.fallback.s3Endpoint, then AWS.",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL when replicas are stopped.",
)
def local_train(
    manifest: Path,
    workers: int | None,
    parameter_servers: int | None,
    workdir: Path | None,
    keep_workdir: bool,
    job_name: str | None,
    endpoint_url: str | None,
    stop_grace: float,
) -> None:
    """Run a TrainingJob without SageMaker: TensorFlow distributed training in local processes.

    Each replica gets SageMaker's container contract (SM_* variables, /opt/ml-like directories,
    hyperparameters.json, resourceconfig.json with hosts algo-1..N) and TF_CONFIG; the model is packed
    into model.tar.gz at <s3OutputPath>/<job name>/output/ (s3:// or file://). Exit status: 0
    completed, 1 failed, 2 could not start, 124 maxRuntimeInSeconds exceeded, 130 interrupted.
    """
    document = _load_manifest(manifest)
    try:
        job = JobDefinition.from_manifest(document, job_name=job_name)
        options = RunOptions(
            workers=workers,
            parameter_servers=parameter_servers,
            workdir=workdir,
            keep_workdir=keep_workdir,
            endpoint_url=endpoint_url,
            base_dir=manifest.resolve().parent,
            stop_grace=stop_grace,
        )
        outcome = LocalRunner(job, options).run()
    except (FallbackError, LocalTrainError, ValueError) as exc:
        raise SetupError(f"{manifest}: {exc}") from exc
    if outcome.status == "Completed":
        click.echo(f"[local-train] {job.job_name}: Completed; model at {outcome.model_uri}")
    else:
        click.echo(
            f"[local-train] {job.job_name}: {outcome.status} ({outcome.secondary_status}): {outcome.failure_reason}",
            err=True,
        )
    sys.exit(outcome.exit_code)


if __name__ == "__main__":
    local_train()
