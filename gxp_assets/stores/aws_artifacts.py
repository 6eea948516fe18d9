"""Artifacts in S3 under their SHA-256, indexed in DynamoDB: the aws side of ``ArtifactStore``.

An object's key ends in its SHA-256, and it is written with ``If-None-Match: *``, so a version is never overwritten:
writing equal bytes again finds the object already there (and checks it). Objects are encrypted with the stack's KMS
key and kept under S3 Object Lock in compliance mode for the stack's ``RetentionDays`` (they are Part 11 records:
nobody, not even the account's root user, can delete or shorten them). Every read is hashed against the recorded
version. Large files go up by multipart upload (boto3's managed transfer), from a spooled copy hashed as it was made.

The index is keyed by asset and time (``seq``). Each version is also indexed under its run (the key ``run#<run id>``,
which no asset name can take: Dagster keys are letters, digits and underscores), in the same transaction, so that
"the version this run stored" is one strongly consistent query, as a run's next step needs it right away (a global
secondary index would be eventually consistent).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from boto3.dynamodb.conditions import Attr, Key
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from gxp_assets.core.hashing import sha256_copy, sha256_file, sha256_hex
from gxp_assets.stores.aws_dynamo import low_level, plain, query_all, scan_all
from gxp_assets.stores.aws_session import AwsContext
from gxp_assets.stores.local import default_home, open_regular
from gxp_assets.stores.protocols import ArtifactNotFound, ArtifactRef, IntegrityError

#: The index key of a run's versions: ``run#<run id>``, sorted by ``<asset>|<partition>|<seq>`` (each part quoted).
RUN_KEY_PREFIX = "run#"

MULTIPART = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)


def locked_put_args(context: AwsContext) -> dict[str, Any]:
    """Encryption with the stack's key and a compliance-mode retention (the stack's RetentionDays): what every kept
    record is written with."""
    until = datetime.now(UTC) + timedelta(days=int(context.resources.RetentionDays))
    return {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": context.resources.KmsKeyArn,
        "ObjectLockMode": "COMPLIANCE",
        "ObjectLockRetainUntilDate": until,
    }


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class AwsArtifactStore:
    def __init__(self, context: AwsContext, cache: Path | str | None = None) -> None:
        self.context = context
        self.bucket = context.resources.ArtifactBucket
        self.s3 = context.client("s3")
        self.index = context.session.resource("dynamodb").Table(context.resources.ArtifactIndexTable)
        self.dynamodb = context.client("dynamodb")  # TransactWriteItems, with items in the wire format
        self.cache = Path(cache).resolve() if cache else default_home() / "aws-cache"

    @staticmethod
    def key(asset: str, partition: str | None, sha256: str, suffix: str) -> str:
        folder = "/".join(quote(part, safe="") for part in asset.split("/"))
        where = "none" if partition is None else "p-" + quote(partition, safe="")
        return f"artifacts/{folder}/{where}/{sha256}{suffix}"

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, asset: str, partition: str | None, payload: bytes, suffix: str, run_id: str) -> ArtifactRef:
        sha256 = sha256_hex(payload)
        key = self.key(asset, partition, sha256, suffix)
        if self._exists(key):
            self._get(asset, key, sha256)
        else:
            try:
                self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=payload, IfNoneMatch="*", **locked_put_args(self.context)
                )
            except ClientError as error:
                if _code(error) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
                self._get(asset, key, sha256)  # another writer put it first: it must hold the same bytes
        return self._index_ref(asset, partition, sha256, suffix, len(payload), key, run_id)

    def put_file(self, asset: str, partition: str | None, source: Path, suffix: str, run_id: str) -> ArtifactRef:
        """Spool a copy of the regular file (hashed as it is copied), then upload it in parts if it is large."""
        self.cache.mkdir(parents=True, exist_ok=True)
        with open_regular(source) as opened, tempfile.NamedTemporaryFile(dir=self.cache, suffix=".spool") as spool:
            sha256 = sha256_copy(opened, spool)
            spool.flush()
            size = spool.tell()
            key = self.key(asset, partition, sha256, suffix)
            if self._exists(key):
                self._download_verified(asset, key, sha256)
            else:
                args = locked_put_args(self.context)
                self.s3.upload_file(spool.name, self.bucket, key, ExtraArgs=args, Config=MULTIPART)
                self._ensure_locked(key, args)
        return self._index_ref(asset, partition, sha256, suffix, size, key, run_id)

    def _ensure_locked(self, key: str, args: dict[str, Any]) -> None:
        """A multipart upload is checked to hold its retention and given it when it does not (some S3-compatible
        endpoints, moto among them, drop Object Lock headers on multipart uploads)."""
        head = self.s3.head_object(Bucket=self.bucket, Key=key)
        if head.get("ObjectLockMode") != "COMPLIANCE":
            retention = {"Mode": "COMPLIANCE", "RetainUntilDate": args["ObjectLockRetainUntilDate"]}
            self.s3.put_object_retention(Bucket=self.bucket, Key=key, VersionId=head["VersionId"], Retention=retention)

    def _index_ref(
        self, asset: str, partition: str | None, sha256: str, suffix: str, size: int, key: str, run_id: str
    ) -> ArtifactRef:
        created_at = datetime.now(UTC).isoformat(timespec="microseconds")
        item: dict[str, Any] = {
            "asset": asset,
            "seq": f"{created_at}#{uuid.uuid4().hex}",
            "sha256": sha256,
            "suffix": suffix,
            "size": size,
            "object_key": key,
            "run_id": run_id,
            "created_at": created_at,
        }
        if partition is not None:
            item["partition"] = partition
        by_run = {**item, "asset": RUN_KEY_PREFIX + run_id, "seq": _run_seq(asset, partition, item["seq"]),
                  "artifact_asset": asset}  # fmt: skip
        self.dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.index.name, "Item": low_level(entry),
                     "ConditionExpression": "attribute_not_exists(seq)"}}
            for entry in (item, by_run)
        ])  # fmt: skip
        return self._ref(item)

    def _ref(self, item: dict[str, Any]) -> ArtifactRef:
        return ArtifactRef(
            asset=item.get("artifact_asset", item["asset"]),
            partition=item.get("partition"),
            sha256=item["sha256"],
            suffix=item["suffix"],
            size=int(item["size"]),
            uri=self._uri(item["object_key"]),
            run_id=item["run_id"],
            created_at=item["created_at"],
        )

    def _mismatch(self, asset: str, key: str, expected: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"artifact of asset '{asset}' at {self._uri(key)} was recorded with SHA-256 {expected} "
            f"but its bytes hash to {actual}: it has been altered"
        )

    def _missing(self, asset: str, sha256: str, key: str) -> ArtifactNotFound:
        return ArtifactNotFound(f"artifact of asset '{asset}' with SHA-256 {sha256} is missing at {self._uri(key)}")

    def _get(self, asset: str, key: str, sha256: str) -> bytes:
        try:
            payload: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                raise self._missing(asset, sha256, key) from None
            raise
        actual = sha256_hex(payload)
        if actual != sha256:
            raise self._mismatch(asset, key, sha256, actual)
        return payload

    def read(self, ref: ArtifactRef) -> bytes:
        return self._get(ref.asset, self.key(ref.asset, ref.partition, ref.sha256, ref.suffix), ref.sha256)

    def _download_verified(self, asset: str, key: str, sha256: str) -> Path:
        path = self.cache / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as handle:
                try:
                    self.s3.download_fileobj(self.bucket, key, handle, Config=MULTIPART)
                except ClientError as error:
                    os.unlink(handle.name)
                    if _code(error) in ("NoSuchKey", "404"):
                        raise self._missing(asset, sha256, key) from None
                    raise
            os.replace(handle.name, path)
        actual = sha256_file(path)
        if actual != sha256:
            path.unlink()
            raise self._mismatch(asset, key, sha256, actual)
        return path

    def local_path(self, ref: ArtifactRef) -> Path:
        """A verified copy in the local cache (GXP_HOME/aws-cache), for readers that stream the bytes."""
        self.cache.mkdir(parents=True, exist_ok=True)
        return self._download_verified(ref.asset, self.key(ref.asset, ref.partition, ref.sha256, ref.suffix),
                                       ref.sha256)  # fmt: skip

    def _query(self, asset: str, newest_first: bool = False, **filters: Any) -> list[dict[str, Any]]:
        return query_all(self.index, **self._query_args(asset, newest_first, **filters))

    @staticmethod
    def _query_args(asset: str, newest_first: bool = False, **filters: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("asset").eq(asset),
            "ScanIndexForward": not newest_first,
        }
        condition = None
        for name, value in filters.items():
            clause = Attr(name).not_exists() if value is None else Attr(name).eq(value)
            condition = clause if condition is None else condition & clause
        if condition is not None:
            kwargs["FilterExpression"] = condition
        return kwargs

    def latest(self, asset: str, partition: str | None = None, run_id: str | None = None) -> ArtifactRef | None:
        """The newest version; with ``run_id`` one query on the run's own key, the newest of that asset and
        partition first."""
        if run_id is None:
            return self._newest(self._query_args(asset, True, partition=partition))
        return self._newest({
            "KeyConditionExpression": Key("asset").eq(RUN_KEY_PREFIX + run_id)
            & Key("seq").begins_with(_run_seq(asset, partition, "")),
            "ScanIndexForward": False,
        })  # fmt: skip

    def _newest(self, kwargs: dict[str, Any]) -> ArtifactRef | None:
        """The first item of a query, reading pages only until one holds an item (a filter may leave a page empty)."""
        kwargs = {"ConsistentRead": True, **kwargs}
        while True:
            page = self.index.query(**kwargs)
            if page.get("Items"):
                return self._ref(plain(page["Items"][0]))
            if "LastEvaluatedKey" not in page:
                return None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def find(self, asset: str, sha256: str) -> ArtifactRef:
        if len(sha256) < 8:
            raise ValueError("give at least 8 hex digits of the data version")
        prefix = sha256.lower()
        items = [item for item in self._query(asset, newest_first=True) if item["sha256"].startswith(prefix)]
        if len({item["sha256"] for item in items}) > 1:
            raise ValueError(f"data version {sha256} of asset '{asset}' is ambiguous: give more digits")
        if not items:
            raise ArtifactNotFound(f"asset '{asset}' has no stored version {sha256}")
        return self._ref(items[0])

    def versions(self, asset: str | None = None, partition: str | None = None) -> list[ArtifactRef]:
        if asset is not None:
            items = self._query(asset, **({"partition": partition} if partition is not None else {}))
        else:  # the run keys index the same versions again
            items = [item for item in scan_all(self.index) if not item["asset"].startswith(RUN_KEY_PREFIX)]
            items.sort(key=lambda item: item["seq"])
        return [self._ref(item) for item in items]


def _run_seq(asset: str, partition: str | None, seq: str) -> str:
    """The sort key of a version under its run's key: asset and partition first, so one prefix finds them."""
    where = "none" if partition is None else "p-" + quote(partition, safe="")
    return f"{quote(asset, safe='')}|{where}|{seq}"
