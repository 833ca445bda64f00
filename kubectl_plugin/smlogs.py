"""The ``kubectl smlogs`` command line (installed as ``kubectl-smlogs``, so kubectl finds it on PATH)."""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NoReturn, TextIO

from . import __version__
from .errors import ExitCode, SmlogsError
from .kinds import KINDS, kind_named

DESCRIPTION = """\
Print the CloudWatch logs of a SageMaker job managed by the SageMaker operator: a TrainingJob's
instances, a HyperparameterTuningJob's training jobs, a BatchTransformJob's instances, or a
HostingDeployment's endpoint. Lines of all instances are merged in time order and prefixed with
the instance (and, for a tuning job, the training job) they come from. A TrainingJob that runs in
the cluster instead of SageMaker (status.backend: local, the TensorFlow fallback) shows its
replicas' Pod logs the same way, one [algo-N] per replica.
"""

EPILOG = f"""\
kinds: {", ".join(f"{k.singular} ({k.short})" for k in KINDS)};
  plural names and any case work too

examples:
  kubectl smlogs trainingjob xgboost-mnist            everything logged so far
  kubectl smlogs tj/xgboost-mnist -f                  follow until the job ends; exit code = outcome
  kubectl smlogs hpo my-tuning --tail 20 -p algo-1    last 20 lines of algo-1 of every training job
  kubectl smlogs hd my-endpoint -f --since 10m        an endpoint's last 10 minutes, then follow
  kubectl smlogs tj xgb --endpoint-url http://127.0.0.1:4566   against the SageMaker simulator

AWS: region and endpoint come from the resource (status, then spec: region, sageMakerEndpoint);
credentials from the usual AWS chain (--profile, AWS_PROFILE, ...). CloudWatch Logs is read at
--logs-endpoint-url, else --endpoint-url, else AWS_ENDPOINT_URL_LOGS, else the resource's
sageMakerEndpoint when that is not an AWS host (a simulator serves both), else AWS's endpoint.
Needs logs:DescribeLogStreams and logs:GetLogEvents (and, for a tuning job whose status lists no
training jobs, sagemaker:ListTrainingJobsForHyperParameterTuningJob).

Kubernetes: get on the resource; for a TrainingJob that runs in the cluster, list on pods and get
on pods/log in its namespace (no AWS access is needed then). Its pods' logs last as long as the
pods: with spec.fallback.cleanupPolicy: delete they go when the job ends.

exit codes: 0 logs printed (with -f: the job Completed), 1 error, 2 usage, 3 (with -f) the job or
endpoint Failed, 4 (with -f) the job was Stopped, 5 (with -f) the resource was deleted,
130 interrupted (Ctrl-C).
"""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_since(text: str, now: datetime | None = None) -> int:
    """``--since``: a duration (``10m``, ``1h30m``) back from now, or an RFC 3339 time; epoch ms."""
    value = text.strip()
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        back = sum(float(n) * _UNIT_MS[u] for n, u in parts)
        return int((now or datetime.now(UTC)).timestamp() * 1000 - back)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise SmlogsError(
            f"--since {text!r}: expected a duration (30s, 10m, 2h, 1h30m, 7d) or an RFC 3339 time "
            "(2024-05-01T12:00:00Z)",
            ExitCode.USAGE,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _tail(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of lines: {text!r}") from None
    if value < -1:
        raise argparse.ArgumentTypeError("must be >= 0 (or -1 for all lines)")
    return None if value == -1 else value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError("must be between 0 and 300 seconds")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as SmlogsError (so run() returns instead of exiting)."""

    def error(self, message: str) -> NoReturn:
        raise SmlogsError(f"{message}\n{self.format_usage().rstrip()}", ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kubectl smlogs",
        usage="kubectl smlogs KIND NAME [-n NAMESPACE] [-f] [--tail N] [--since DURATION|TIME] "
        "[-p PREFIX] [--timestamps] [--no-prefix] [options]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "kind",
        metavar="KIND",
        help="trainingjob, hyperparametertuningjob, batchtransformjob, "
        "hostingdeployment (or plural, or tj, hpo, btj, hd); KIND/NAME works too",
    )
    parser.add_argument("name", metavar="NAME", nargs="?", help="the resource's name")

    logs = parser.add_argument_group("what to print")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new lines until the job ends (an endpoint: until Ctrl-C)",
    )
    logs.add_argument(
        "--tail",
        type=_tail,
        default=None,
        metavar="N",
        help="only the last N lines (across all instances; -1: all), then follow with -f",
    )
    logs.add_argument(
        "--since", metavar="DURATION|TIME", help="only lines newer than a duration (10m, 2h, 1h30m) or an RFC 3339 time"
    )
    logs.add_argument(
        "-p",
        "--host",
        metavar="PREFIX",
        help="only the instances whose name starts with PREFIX (algo-1 is not algo-10); "
        "for a tuning job, a training job's name works too",
    )
    logs.add_argument(
        "--timestamps",
        action="store_true",
        help="print each line's timestamp (UTC; CloudWatch's, or the container runtime's for pods)",
    )
    logs.add_argument("--no-prefix", action="store_true", help="do not prefix lines with [instance]")

    kube = parser.add_argument_group("Kubernetes")
    kube.add_argument("-n", "--namespace", help="default: the context's namespace, else default")
    kube.add_argument("--kubeconfig", help="default: $KUBECONFIG, else ~/.kube/config, else in-cluster")
    kube.add_argument("--context", help="kubeconfig context (default: the current one)")

    aws = parser.add_argument_group("AWS")
    aws.add_argument("--region", help="default: the resource's region, else the AWS configuration's")
    aws.add_argument("--profile", help="AWS profile for credentials")
    aws.add_argument(
        "--endpoint-url", metavar="URL", help="SageMaker and CloudWatch Logs endpoint (e.g. the simulator's)"
    )
    aws.add_argument("--logs-endpoint-url", metavar="URL", help="CloudWatch Logs endpoint only")

    parser.add_argument(
        "--poll-interval",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="while following: seconds between reads of a stream (quiet streams back off to "
        "8x; the status is checked every 2x) (default: 1)",
    )
    parser.add_argument("--version", action="version", version=f"kubectl-smlogs {__version__}")
    return parser


def run(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command; returns the exit code (see :class:`~.errors.ExitCode`)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        return int(_run(list(sys.argv[1:] if argv is None else argv), out, err))
    except SmlogsError as exc:
        err.write(f"error: {exc.message}\n")
        err.flush()
        return int(exc.code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0


def _run(argv: list[str], out: TextIO, err: TextIO) -> ExitCode:
    from .resolve import AwsOverrides, Cluster, KubeOptions
    from .session import Options, Session

    args = build_parser().parse_args(argv)
    kind_text, name = args.kind, args.name
    if name is None and "/" in kind_text:
        kind_text, name = kind_text.split("/", 1)
    if not name:
        raise SmlogsError("a resource NAME is required: kubectl smlogs KIND NAME", ExitCode.USAGE)
    kind = kind_named(kind_text)
    options = Options(
        follow=args.follow,
        tail=args.tail,
        since_ms=parse_since(args.since) if args.since else None,
        host=args.host,
        timestamps=args.timestamps,
        prefix=not args.no_prefix,
        poll_interval=args.poll_interval,
    )
    overrides = AwsOverrides(args.region, args.profile, args.endpoint_url, args.logs_endpoint_url)
    cluster = Cluster(KubeOptions(args.kubeconfig, args.context, args.namespace))
    return Session(kind, name, cluster, options, overrides, out, err).run()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):  # a log line the terminal cannot show must not end the run
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = run(argv)
    except BrokenPipeError:
        code = int(ExitCode.BROKEN_PIPE)
    if code == ExitCode.BROKEN_PIPE or _stdout_closed():
        # Whoever read our output is gone: silence the final flush instead of printing a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = int(ExitCode.BROKEN_PIPE)
    sys.exit(code)


def _stdout_closed() -> bool:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    return False


if __name__ == "__main__":
    main()
