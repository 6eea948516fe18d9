"""The landing zone on AWS: the ``landing/`` prefix of the stack's landing bucket, announced on the Records queue.

S3 sends an event notification to the Records queue for every object created under ``landing/<kind>/``. The landing
sensor ``pull``s the queue (the queue's visibility timeout hides a message while it is handled), copies each announced
object into the local mirror (the folder the embedded zone scans, written under a temporary name and renamed, its time
set to when it landed), and ``acknowledge``s (deletes) the messages once its run requests are made. A message that is
not an S3 event of the landing prefix is never deleted: after the queue's maxReceiveCount it moves to the dead-letter
queue, where a person can look at it. Run keys stay the file's SHA-256, so a message delivered twice scores once.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from gxp_assets.stores.aws_session import AwsContext
from gxp_assets.stores.landing import ADJUDICATIONS, REPORTS, LocalLandingZone

PREFIX = "landing/"
_LOG = logging.getLogger("gxp.landing")


@dataclass(frozen=True)
class Announced:
    kind: str
    name: str
    key: str


def announced(body: str) -> list[Announced] | None:
    """The landed objects an SQS message announces; [] for S3's test event; None when it is not an S3 event of the
    landing prefix (a poison message, left for the dead-letter queue)."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("Event") == "s3:TestEvent":
        return []
    found = []
    for record in event.get("Records") or [None]:
        key = unquote_plus(str(((record or {}).get("s3") or {}).get("object", {}).get("key", "")))
        kind, _, name = key.removeprefix(PREFIX).partition("/")
        if not key.startswith(PREFIX) or kind not in (REPORTS, ADJUDICATIONS) or not name or "/" in name:
            return None
        found.append(Announced(kind, name, key))
    return found


class AwsLandingZone(LocalLandingZone):
    """``LocalLandingZone`` over a local mirror, fed from the landing bucket through the Records queue."""

    def __init__(self, context: AwsContext, root: Path | str | None = None, settle_seconds: float = 0.0) -> None:
        super().__init__(root, settle_seconds)
        self.s3, self.sqs = context.client("s3"), context.client("sqs")
        self.bucket, self.queue = context.resources.LandingBucket, context.resources.RecordsQueueUrl

    def land(self, source: Path, kind: str = REPORTS) -> str:
        """Put a file into the landing bucket (what a sender does); returns its key."""
        self.folder(kind)  # refuses an unknown kind
        key = f"{PREFIX}{kind}/{source.name}"
        self.s3.upload_file(str(source), self.bucket, key)
        return key

    def pull(self, max_messages: int = 10) -> list[str]:
        """Copy what the queue announces into the mirror; returns the receipts to acknowledge after the run requests.
        Short polling, so a sensor tick never waits."""
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue, MaxNumberOfMessages=max_messages, WaitTimeSeconds=0
        ).get("Messages", [])
        receipts = []
        for message in messages:
            objects = announced(message.get("Body", ""))
            if objects is None:
                _LOG.warning("message %s is not a landing event; left for the dead-letter queue", message["MessageId"])
                continue
            for landed in objects:
                self._mirror(landed)
            receipts.append(message["ReceiptHandle"])
        return receipts

    def _mirror(self, landed: Announced) -> None:
        target = self.folder(landed.kind) / landed.name
        head = self.s3.head_object(Bucket=self.bucket, Key=landed.key)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".pulling-", delete=False) as handle:
            self.s3.download_fileobj(self.bucket, landed.key, handle)
        stamp = head["LastModified"].timestamp()
        os.utime(handle.name, (stamp, stamp))
        os.replace(handle.name, target)

    def acknowledge(self, receipts: list[str]) -> None:
        for receipt in receipts:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=receipt)
