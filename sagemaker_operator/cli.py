"""The ``sagemaker-operator`` command: run the operator, print CRDs, serve the simulator, run the demo."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click
import pydantic

from sagemaker_operator import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sagemaker-operator")
def main() -> None:
    """Kubernetes operator for Amazon SageMaker."""


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "urllib3", "aiohttp.access", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


@main.command()
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    envvar="SAGEMAKER_OPERATOR_NAMESPACE",
    multiple=True,
    help="Serve only this namespace (repeatable; the variable takes a space-separated list). Default: all.",
)
@click.option(
    "--region",
    envvar=["SAGEMAKER_OPERATOR_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
    default="us-east-1",
    show_default=True,
    help="AWS region for resources without spec.region.",
)
@click.option(
    "--sagemaker-endpoint",
    envvar="SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT",
    default=None,
    help="SageMaker endpoint URL for resources without spec.sageMakerEndpoint (e.g. the simulator).",
)
@click.option(
    "--poll-interval",
    envvar="SAGEMAKER_OPERATOR_POLL_INTERVAL",
    type=float,
    default=15.0,
    show_default=True,
    help="Seconds between status checks.",
)
@click.option(
    "--liveness-port",
    envvar="SAGEMAKER_OPERATOR_LIVENESS_PORT",
    type=int,
    default=8080,
    show_default=True,
    help="Port of /healthz; 0 disables it.",
)
@click.option(
    "--peering",
    envvar="SAGEMAKER_OPERATOR_PEERING",
    default=None,
    help="kopf peering name, to run several replicas (one active).",
)
@click.option(
    "--priority",
    envvar="SAGEMAKER_OPERATOR_PRIORITY",
    type=int,
    default=None,
    help="Peering priority: the live replica with the highest works, the others wait (default: random).",
)
@click.option(
    "--status-sync",
    envvar="SAGEMAKER_OPERATOR_STATUS_SYNC",
    type=click.Choice(["batched", "per-job"]),
    default="batched",
    show_default=True,
    help="batched: one List per region and poll interval finds the jobs that changed, only those are "
    "described; per-job: one Describe per job and interval (the Go operator's and ACK's way).",
)
@click.option(
    "--sagemaker-rate",
    envvar="SAGEMAKER_OPERATOR_SAGEMAKER_RATE",
    type=float,
    default=10.0,
    show_default=True,
    help="Status calls per second per region at most; halved while SageMaker throttles.",
)
@click.option(
    "--default-backend",
    envvar="SAGEMAKER_OPERATOR_DEFAULT_BACKEND",
    type=click.Choice(["sagemaker", "local"]),
    default="sagemaker",
    show_default=True,
    help="Where TrainingJobs run unless spec.fallback.backend or the backend annotation says "
    "(local: TensorFlow distributed training in Pods).",
)
@click.option(
    "--helper-image",
    envvar="SAGEMAKER_OPERATOR_IMAGE",
    default=None,
    help="The operator's own image, used by fallback Pods to fetch inputs and upload the model.",
)
@click.option(
    "--kube-server",
    envvar="SAGEMAKER_OPERATOR_KUBE_SERVER",
    default=None,
    help="Kubernetes API URL (default: in-cluster, else kubeconfig).",
)
@click.option(
    "--log-level",
    envvar="SAGEMAKER_OPERATOR_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def run(
    namespaces: tuple[str, ...],
    region: str,
    sagemaker_endpoint: str | None,
    poll_interval: float,
    liveness_port: int,
    peering: str | None,
    priority: int | None,
    status_sync: str,
    sagemaker_rate: float,
    default_backend: str,
    helper_image: str | None,
    kube_server: str | None,
    log_level: str,
) -> None:
    """Run the operator (until SIGTERM or Ctrl-C)."""
    from sagemaker_operator import operator
    from sagemaker_operator.settings import OperatorSettings

    _configure_logging(log_level)
    try:
        settings = OperatorSettings(
            region=region,
            sagemaker_endpoint=sagemaker_endpoint,
            namespaces=namespaces,
            poll_interval=poll_interval,
            liveness_port=liveness_port or None,
            peering=peering,
            priority=priority,
            default_backend=default_backend,
            status_sync=status_sync,
            sagemaker_rate=sagemaker_rate,
            kube_server=kube_server,
            **({"helper_image": helper_image} if helper_image else {}),
        )
    except pydantic.ValidationError as exc:
        raise click.UsageError(_first_error(exc)) from exc

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await operator.run(settings, stop_flag=stop)

    asyncio.run(_main())


def _first_error(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"])
    return f"{field}: {error['msg']}"


@main.command()
@click.option(
    "--write",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one YAML file per CRD into this directory instead of printing them.",
)
def crds(directory: Path | None) -> None:
    """Print (or write) the CustomResourceDefinitions, generated from botocore's SageMaker model."""
    from sagemaker_operator.api import crds as generator

    if directory is None:
        click.echo("\n---\n".join(generator.all_crds().values()), nl=False)
        return
    for path in generator.write(directory):
        click.echo(f"wrote {path}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=4566, show_default=True, help="0 picks a free port.")
@click.option("--speed", type=float, default=1.0, show_default=True, help="Simulated seconds per real second.")
@click.option(
    "--training-seconds",
    type=float,
    default=20.0,
    show_default=True,
    help="Length of a training job's Training stage, in simulated seconds.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def simulate(host: str, port: int, speed: float, training_seconds: float, log_level: str) -> None:
    """Serve the embedded SageMaker simulator (plus moto's S3, STS, IAM, CloudWatch Logs) over HTTP."""
    _configure_logging(log_level)
    try:
        from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations
    except ImportError as exc:  # moto is in the demo extra
        raise click.ClickException(
            f"the simulator needs the demo extra: pip install 'sagemaker-operator[demo]' ({exc})"
        ) from exc

    simulator = Simulator(clock=SimClock(speed=speed), durations=StageDurations(training=training_seconds))
    try:
        server = SimulatorServer(simulator, host=host, port=port).bind()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}; try --port 0") from exc
    click.echo(f"SageMaker simulator listening on {server.url}")
    click.echo(f"  export AWS_ENDPOINT_URL={server.url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
    click.echo(f"  sagemaker-operator run --sagemaker-endpoint {server.url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.command()
@click.option(
    "-f",
    "--file",
    "sample",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Manifest to run: a TrainingJob or HyperparameterTuningJob (default: samples/xgboost-mnist-trainingjob.yaml).",
)
@click.option("--tuning", is_flag=True, help="Run the hyperparameter tuning sample (samples/xgboost-mnist-hpo.yaml).")
@click.option("--kubeconfig", default=None, help="Use this kubeconfig's cluster instead of the in-process emulator.")
@click.option("--context", default=None, help="Use this kubeconfig context's cluster instead of the emulator.")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option(
    "--fail",
    "fail_reason",
    default=None,
    metavar="REASON",
    help="Make the simulated job fail with this reason, to see how failures look.",
)
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Give up after this many seconds.")
@click.option("-v", "--verbose", is_flag=True, help="Show the operator's logs.")
def demo(
    sample: Path | None,
    tuning: bool,
    kubeconfig: str | None,
    context: str | None,
    namespace: str,
    fail_reason: str | None,
    timeout: float,
    verbose: bool,
) -> None:
    """Run a TrainingJob (or, with --tuning, a tuning job) end to end with no AWS account and no cluster."""
    try:
        from sagemaker_operator import demo as demo_module
    except ImportError as exc:  # moto and kmock are in the demo extra
        raise click.ClickException(
            f"the demo needs the demo extra: pip install 'sagemaker-operator[demo]' ({exc})"
        ) from exc

    demo_module.quiet_logging(verbose)
    try:
        code = asyncio.run(
            demo_module.run_demo(
                sample=sample or (demo_module.TUNING_SAMPLE if tuning else demo_module.DEFAULT_SAMPLE),
                kubeconfig=kubeconfig,
                context=context,
                namespace=namespace,
                fail_reason=fail_reason,
                timeout=timeout,
                echo=click.echo,
            )
        )
    except demo_module.DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


def _add_optional_commands() -> None:
    from sagemaker_operator.iam import iam
    from sagemaker_operator.local.cli import local_train

    main.add_command(iam)
    main.add_command(local_train)


_add_optional_commands()

if __name__ == "__main__":
    main()
