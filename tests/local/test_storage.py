"""Channels, code and model in and out: S3 (the simulator's) and file://, and the in-pod fetch/upload steps."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from sagemaker_operator.local import pod, storage
from tests.local.conftest import S3


def test_uris() -> None:
    assert storage.parse("s3://bucket/a/b/") == storage.Location("s3", "bucket", "a/b/")
    assert storage.parse("file:///data/x").path == Path("/data/x")
    assert storage.parse("file://rel/x", base=Path("/base")).path == Path("/base/rel/x")
    assert storage.parse("rel", base=Path("/base")).path == Path("/base/rel")
    with pytest.raises(storage.StorageError, match="only s3:// and file://"):
        storage.parse("gs://bucket/x")


def test_download_prefix_keeps_layout_and_shards_by_key(tmp_path: Path, s3: S3) -> None:
    for name in ("a", "b", "c", "sub/d"):
        s3.put(f"data/{name}.csv", name.encode())
    client = s3.client
    everything = storage.download_prefix(client, storage.parse(f"s3://{s3.bucket}/data/"), tmp_path / "all")
    assert sorted(p.relative_to(tmp_path / "all").as_posix() for p in everything) == [
        "a.csv", "b.csv", "c.csv", "sub/d.csv"
    ]  # fmt: skip
    first = storage.download_prefix(client, storage.parse(f"s3://{s3.bucket}/data/"), tmp_path / "s0", shard=(0, 2))
    second = storage.download_prefix(client, storage.parse(f"s3://{s3.bucket}/data/"), tmp_path / "s1", shard=(1, 2))
    assert [p.name for p in first] == ["a.csv", "c.csv"] and [p.name for p in second] == ["b.csv", "d.csv"]
    with pytest.raises(storage.StorageError, match="no objects under this prefix"):
        storage.download_prefix(client, storage.parse(f"s3://{s3.bucket}/nothing/"), tmp_path / "x")


def test_source_directory_forms(tmp_path: Path, s3: S3) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('hi')\n")
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(code / "train.py", arcname="train.py")
    uri = s3.put("src/sourcedir.tar.gz", archive)

    def factory() -> object:
        return s3.client

    assert storage.fetch_source(str(code), tmp_path / "unused", client_factory=factory) == code  # used in place
    extracted = storage.fetch_source(f"file://{archive}", tmp_path / "from-file", client_factory=factory)
    assert (extracted / "train.py").read_text() == "print('hi')\n"
    extracted = storage.fetch_source(uri, tmp_path / "from-s3", client_factory=factory)
    assert (extracted / "train.py").is_file()
    with pytest.raises(storage.StorageError, match=r"cannot download s3://.*/src/missing\.tar\.gz"):
        storage.fetch_source(f"s3://{s3.bucket}/src/missing.tar.gz", tmp_path / "m", client_factory=factory)
    (tmp_path / "bad.tar.gz").write_text("not a tarball")
    with pytest.raises(storage.StorageError, match=r"not a readable \.tar\.gz"):
        storage.fetch_source("bad.tar.gz", tmp_path / "b", client_factory=factory, base=tmp_path)


def test_pack_and_upload_to_file_and_s3(tmp_path: Path, s3: S3) -> None:
    model = tmp_path / "model"
    (model / "1" / "variables").mkdir(parents=True)
    (model / "1" / "saved_model.pb").write_bytes(b"pb")
    archive = storage.pack(model, tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["1", "1/saved_model.pb", "1/variables"]  # files at the top level

    def factory() -> object:
        return s3.client

    written = storage.upload(archive, "file://out/job/output/model.tar.gz", client_factory=factory, base=tmp_path)
    assert written == f"file://{tmp_path}/out/job/output/model.tar.gz"
    assert (tmp_path / "out/job/output/model.tar.gz").read_bytes() == archive.read_bytes()
    uri = f"s3://{s3.bucket}/out/job/output/model.tar.gz"
    assert storage.upload(archive, uri, client_factory=factory) == uri
    assert s3.get("out/job/output/model.tar.gz") == archive.read_bytes()


def test_pod_fetch_and_upload_steps(tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the in-cluster init and upload containers run, against the simulator's S3."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.url)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    for name in ("p0", "p1", "p2"):
        s3.put(f"train/{name}", name.encode())
    code = tmp_path / "train.py"
    code.write_text("print('hi')\n")
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(code, arcname="train.py")
    source = s3.put("src/sourcedir.tar.gz", archive)
    root = tmp_path / "opt-ml"
    args = ["fetch", "--dest", str(root), "--channel", f"train=s3://{s3.bucket}/train/", "--sharded", "train"]
    assert pod.main([*args, "--host-index", "1", "--host-count", "2", "--code", source]) == 0
    assert sorted(p.name for p in (root / "input/data/train").iterdir()) == ["p1"]
    assert (root / "code" / "train.py").is_file()

    (root / "model").mkdir()
    (root / "model" / "weights.bin").write_bytes(b"w")
    (root / "output" / "data").mkdir(parents=True)
    (root / "output" / "data" / "metrics.json").write_text("{}")
    model_uri = f"s3://{s3.bucket}/out/job/output/model.tar.gz"
    output_uri = f"s3://{s3.bucket}/out/job/output/output.tar.gz"
    upload = ["upload", "--model-dir", str(root / "model"), "--model-uri", model_uri]
    assert pod.main([*upload, "--output-data-dir", str(root / "output" / "data"), "--output-uri", output_uri]) == 0
    assert {"out/job/output/model.tar.gz", "out/job/output/output.tar.gz"} <= set(s3.keys())

    assert pod.main(["fetch", "--dest", str(root), "--channel", f"train=s3://{s3.bucket}-gone/x/"]) == 1
