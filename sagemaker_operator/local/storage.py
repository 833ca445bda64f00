"""Moving data the way SageMaker does: channels and code in, ``model.tar.gz`` out; S3 or ``file://``.

S3 goes through boto3 with the default credential chain. A custom endpoint (MinIO, the project's
simulator, moto) comes from the caller or, as boto3 itself reads them, ``AWS_ENDPOINT_URL_S3`` and
``AWS_ENDPOINT_URL``. ``file://`` URIs (and plain paths) make local runs possible without any S3.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_operator.aws.clients import USER_AGENT


class StorageError(Exception):
    """Input or output that cannot be read or written; the message names the URI."""


@dataclass(frozen=True)
class Location:
    scheme: str  # "s3" or "file"
    bucket: str  # s3 only
    key: str  # s3 key, or the local path for file

    @property
    def path(self) -> Path:
        return Path(self.key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.scheme == "s3" else f"file://{self.key}"


def parse(uri: str, *, base: Path | None = None) -> Location:
    """``s3://bucket/key``, ``file:///abs`` or ``file://rel`` / a plain path (relative to ``base``)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StorageError(f"{uri}: an s3:// URI needs a bucket")
        return Location("s3", parsed.netloc, parsed.path.lstrip("/"))
    if parsed.scheme in ("file", ""):
        raw = unquote(parsed.netloc + parsed.path) if parsed.scheme == "file" else uri
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return Location("file", "", str(path))
    raise StorageError(f"{uri}: only s3:// and file:// locations are supported here, not {parsed.scheme}://")


def s3_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """An S3 client; path-style addressing so custom endpoints on an IP address or localhost work."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 5},
        user_agent_extra=USER_AGENT,
        s3={"addressing_style": "path"} if endpoint_url or _env_endpoint() else None,
    )
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session().client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


def _env_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _s3_failure(what: str, location: Location, exc: Exception) -> StorageError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        detail = f"{error.get('Code', 'Error')}: {error.get('Message') or exc}"
    else:
        detail = str(exc)
    return StorageError(f"cannot {what} {location}: {detail}")


# --------------------------------------------------------------------------- in


def download_prefix(
    client: Any, location: Location, dest: Path, *, shard: tuple[int, int] | None = None, manifest: bool = False
) -> list[Path]:
    """Copy every object under an S3 prefix (``S3Prefix``) into ``dest``, keeping the relative keys.

    With ``shard=(i, n)`` only every n-th object (sorted by key) from the i-th on is copied, which is
    how ``ShardedByS3Key`` gives each host its own part. A key that is an exact object is one file.
    """
    if manifest:
        raise StorageError(f"{location}: ManifestFile and AugmentedManifestFile channels are not supported here")
    keys = list_keys(client, location)
    if not keys:
        raise StorageError(f"{location}: no objects under this prefix")
    if shard is not None:
        index, count = shard
        keys = keys[index::count]
    written = []
    prefix = location.key
    for key in keys:
        relative = key[len(prefix) :].lstrip("/") if key != prefix else Path(key).name
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.download_file(location.bucket, key, str(target))
        except (ClientError, BotoCoreError) as exc:
            raise _s3_failure("download", Location("s3", location.bucket, key), exc) from exc
        written.append(target)
    return written


def list_keys(client: Any, location: Location) -> list[str]:
    keys: list[str] = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.key):
            keys.extend(o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))
    except (ClientError, BotoCoreError) as exc:
        raise _s3_failure("list", location, exc) from exc
    return sorted(keys)


def files_under(path: Path) -> list[Path]:
    """The files of a local channel, sorted like S3 keys (a single file is itself)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise StorageError(f"file://{path}: no such file or directory")
    return sorted(p for p in path.rglob("*") if p.is_file())


def fetch_source(uri: str, dest: Path, *, client_factory: Callable[[], Any], base: Path | None = None) -> Path:
    """Make the submit directory available: a local directory as is, or a .tar.gz (file:// or s3://)
    extracted into ``dest``. Returns the directory the script runs from."""
    location = parse(uri, base=base)
    if location.scheme == "file":
        if location.path.is_dir():
            return location.path
        if not location.path.is_file():
            raise StorageError(f"source directory {uri}: no such file or directory")
        _extract(location.path, dest, uri)
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "sourcedir.tar.gz"
        try:
            client_factory().download_file(location.bucket, location.key, str(archive))
        except (ClientError, BotoCoreError) as exc:
            raise _s3_failure("download", location, exc) from exc
        _extract(archive, dest, uri)
    return dest


def _extract(archive: Path, dest: Path, uri: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths, '..' and device files
    except (tarfile.TarError, OSError) as exc:
        raise StorageError(f"source directory {uri}: not a readable .tar.gz ({exc})") from exc


# --------------------------------------------------------------------------- out


def pack(directory: Path, archive: Path) -> Path:
    """``tar czf archive -C directory .``: SageMaker's layout, files at the archive's top level."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for entry in sorted(directory.iterdir()) if directory.is_dir() else []:
            tar.add(entry, arcname=entry.name)
    return archive


def upload(archive: Path, uri: str, *, client_factory: Callable[[], Any], base: Path | None = None) -> str:
    """Put a file at ``uri`` (s3:// or file://); returns the URI written."""
    location = parse(uri, base=base)
    if location.scheme == "file":
        location.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, location.path)
        return str(location)
    try:
        client_factory().upload_file(str(archive), location.bucket, location.key)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_failure("upload to", location, exc) from exc
    return str(location)


def is_empty(directory: Path) -> bool:
    return not directory.is_dir() or not any(directory.iterdir())
