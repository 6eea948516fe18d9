"""Where a Spark scoring job keeps its files: a local folder (local Spark, tests) or an S3 prefix (Glue).

The executors read their chunk and write its scored rows themselves, so the place must be one every executor
reaches: on Glue that is S3, never the driver's disk. A place is its URI and nothing else, so it travels to the
executors as it is; the S3 client is made in the process that uses it (boto3 finds the credentials there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

_S3_CLIENTS: dict[str, Any] = {}  # per process: one client, made on first use


def _s3() -> Any:
    if "s3" not in _S3_CLIENTS:
        import boto3

        _S3_CLIENTS["s3"] = boto3.client("s3")
    return _S3_CLIENTS["s3"]


@dataclass(frozen=True)
class StagingPlace:
    """A folder path or ``s3://bucket/prefix/``; names are relative to it."""

    uri: str

    def __post_init__(self) -> None:
        if self.uri.startswith("s3://") and "/" not in self.uri[5:].rstrip("/"):
            object.__setattr__(self, "uri", self.uri.rstrip("/") + "/")  # a bare bucket: its root
        if self.uri.startswith("s3://") and not self.uri[5:].split("/", 1)[0]:
            raise ValueError(f"not an S3 prefix: {self.uri!r}")

    @property
    def on_s3(self) -> bool:
        return self.uri.startswith("s3://")

    def _key(self, name: str) -> tuple[str, str]:
        bucket, prefix = self.uri[5:].split("/", 1)
        return bucket, f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else name

    def path(self, name: str) -> Path:
        """The local file of ``name`` (a local place only)."""
        if self.on_s3:
            raise ValueError(f"{self.uri} is on S3, not a local folder")
        return Path(self.uri) / name

    def put(self, name: str, data: bytes) -> None:
        if self.on_s3:
            bucket, key = self._key(name)
            _s3().put_object(Bucket=bucket, Key=key, Body=data)
            return
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def get(self, name: str) -> bytes:
        if self.on_s3:
            bucket, key = self._key(name)
            return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        return self.path(name).read_bytes()

    def delete(self, name: str) -> None:
        if self.on_s3:
            bucket, key = self._key(name)
            _s3().delete_object(Bucket=bucket, Key=key)
            return
        self.path(name).unlink(missing_ok=True)
