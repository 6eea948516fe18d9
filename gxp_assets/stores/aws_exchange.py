"""An S3 prefix where a remote job's inputs and outputs are exchanged, every read checked against its SHA-256.

A remote step (the Glue scoring job) receives its batch file and model bundle here and leaves its staged results
and manifest here; the Dagster side takes nothing back whose bytes differ from what the job recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gxp_assets.core.hashing import sha256_file, sha256_hex


class ExchangeIntegrityError(RuntimeError):
    """A file of the exchange does not hash to what was recorded for it."""


class S3Exchange:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.strip("/")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def put_file(self, name: str, path: Path) -> str:
        self.s3.upload_file(str(path), self.bucket, self.key(name))
        return self.uri(name)

    def put_bytes(self, name: str, data: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)
        return self.uri(name)

    def get_bytes(self, name: str, sha256: str | None) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read()
        self._check(name, sha256_hex(data), sha256)
        return data

    def get_file(self, name: str, path: Path, sha256: str) -> Path:
        self.s3.download_file(self.bucket, self.key(name), str(path))
        self._check(name, sha256_file(path), sha256)
        return path

    def _check(self, name: str, found: str, expected: str | None) -> None:
        if expected is None:
            raise ExchangeIntegrityError(f"{self.uri(name)}: no SHA-256 was recorded for it, so it cannot be trusted")
        if found != expected:
            raise ExchangeIntegrityError(f"{self.uri(name)} hashes to {found}, not to the recorded {expected}")
