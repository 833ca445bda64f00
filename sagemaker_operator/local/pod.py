"""The fetch and upload steps of in-cluster replicas, run in the operator's image (it has boto3).

    python -m sagemaker_operator.local.pod fetch --dest /opt/ml --channel train=s3://b/p/ [--sharded train]
        --host-index 0 --host-count 2 [--code s3://b/sourcedir.tar.gz]
    python -m sagemaker_operator.local.pod upload --model-dir /opt/ml/model --model-uri s3://b/job/output/model.tar.gz
        [--output-data-dir /opt/ml/output/data --output-uri s3://b/job/output/output.tar.gz]

Credentials come from the pod (IRSA through ``spec.fallback.serviceAccountName``), the endpoint from
``AWS_ENDPOINT_URL_S3`` (``spec.fallback.s3Endpoint``). A failure exits 1 with the reason on stderr,
which the pod's termination message (FallbackToLogsOnError) carries into the TrainingJob's status.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sagemaker_operator.local import storage


def fetch(args: argparse.Namespace) -> None:
    dest = Path(args.dest)
    client = storage.s3_client()
    for item in args.channel:
        name, _, uri = item.partition("=")
        location = storage.parse(uri)
        shard = (args.host_index, args.host_count) if name in args.sharded else None
        files = storage.download_prefix(client, location, dest / "input" / "data" / name, shard=shard)
        print(f"channel {name}: {len(files)} file(s) from {location}", flush=True)
    if args.code:
        storage.fetch_source(args.code, dest / "code", client_factory=lambda: client)
        print(f"code: {args.code} extracted into {dest / 'code'}", flush=True)


def upload(args: argparse.Namespace) -> None:
    client = storage.s3_client()
    with tempfile.TemporaryDirectory() as tmp:
        model = storage.pack(Path(args.model_dir), Path(tmp) / "model.tar.gz")
        print(f"model: {storage.upload(model, args.model_uri, client_factory=lambda: client)}", flush=True)
        if args.output_data_dir and args.output_uri and not storage.is_empty(Path(args.output_data_dir)):
            output = storage.pack(Path(args.output_data_dir), Path(tmp) / "output.tar.gz")
            print(f"output data: {storage.upload(output, args.output_uri, client_factory=lambda: client)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sagemaker_operator.local.pod", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetching = commands.add_parser("fetch", help="download channels and the submit directory")
    fetching.add_argument("--dest", default="/opt/ml")
    fetching.add_argument("--channel", action="append", default=[], metavar="NAME=URI")
    fetching.add_argument("--sharded", action="append", default=[], metavar="NAME", help="ShardedByS3Key channel")
    fetching.add_argument("--host-index", type=int, default=0)
    fetching.add_argument("--host-count", type=int, default=1)
    fetching.add_argument("--code", default=None, metavar="URI")
    uploading = commands.add_parser("upload", help="pack and upload the model (and output data)")
    uploading.add_argument("--model-dir", default="/opt/ml/model")
    uploading.add_argument("--model-uri", required=True)
    uploading.add_argument("--output-data-dir", default=None)
    uploading.add_argument("--output-uri", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args)
        else:
            upload(args)
    except storage.StorageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
