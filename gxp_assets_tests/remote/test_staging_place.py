"""The staging place a Spark job's executors write to: the same names and bytes in a folder and under an S3 prefix."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from gxp_assets.remote import staging_place
from gxp_assets.remote.staging_place import StagingPlace
from gxp_assets_tests.aws_server import REGION


def round_trip(place: StagingPlace) -> None:
    place.put("000000.predictions.parquet", b"scored")
    place.put("valid/000001.parquet", b"records")
    assert place.get("000000.predictions.parquet") == b"scored"
    assert place.get("valid/000001.parquet") == b"records"
    place.delete("valid/000001.parquet")
    with pytest.raises(Exception):  # noqa: B017 - a missing file (OSError) or key (botocore's NoSuchKey)
        place.get("valid/000001.parquet")


def test_a_local_place_is_a_folder(tmp_path: Path) -> None:
    place = StagingPlace(str(tmp_path / "out"))
    round_trip(place)
    assert (tmp_path / "out" / "000000.predictions.parquet").read_bytes() == b"scored"
    assert not place.on_s3


def test_an_s3_place_keeps_its_files_under_its_prefix(aws_env: dict[str, str]) -> None:
    staging_place._S3_CLIENTS.clear()  # a client made for an earlier test's server would be stale
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gxp-staging", CreateBucketConfiguration={"LocationConstraint": REGION})
    place = StagingPlace("s3://gxp-staging/glue-scoring/b1/run-1/output/")
    round_trip(place)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="gxp-staging").get("Contents", [])]
    assert keys == ["glue-scoring/b1/run-1/output/000000.predictions.parquet"]
    assert place.on_s3
    with pytest.raises(ValueError, match="on S3"):
        place.path("x")


def test_a_bucket_without_a_prefix_is_its_root(aws_env: dict[str, str]) -> None:
    staging_place._S3_CLIENTS.clear()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gxp-root", CreateBucketConfiguration={"LocationConstraint": REGION})
    StagingPlace("s3://gxp-root").put("manifest.json", b"{}")
    assert s3.get_object(Bucket="gxp-root", Key="manifest.json")["Body"].read() == b"{}"
    with pytest.raises(ValueError, match="not an S3 prefix"):
        StagingPlace("s3:///key")
