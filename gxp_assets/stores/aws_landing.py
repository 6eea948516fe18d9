"""The landing zone on AWS: ``landing/<use_case>/<kind>/`` in the stack's landing bucket, announced on the Records
queue.

S3 sends an event notification to the one Records queue for every object created under ``landing/``. A use case's
landing sensor ``pull``s the queue (the queue's visibility timeout hides a message while it is handled) and copies
each announced object into the local mirror of the use case its key names (``<mirrors>/<use_case>/<kind>/``, the
folders the embedded zones scan; written under a temporary name and renamed, its time set to when it landed), then
``acknowledge``s (deletes) the messages once its run requests are made. Each sensor scans only its own use case's
mirror, so it only ever requests runs for its own files; an object of another declared use case is handed to that
use case's mirror, where its own sensor takes it.

Why one queue, routed by key, and not one queue per use case: S3 filters notifications by key prefix and suffix
only, so a queue per use case needs a notification, a queue, a dead-letter queue and a queue policy per use case in
the template, and declaring a use case would then mean changing the stack. With one queue the template names no use
case. A sensor must not leave another use case's message on the queue either: every receive counts towards the
queue's maxReceiveCount and would send it to the dead-letter queue.

A message that is not an S3 event of ``landing/<declared use case>/<kind>/<name>`` (another prefix, an undeclared use
case, the ``landing/<kind>/`` keys of before use cases) is never deleted: after the queue's maxReceiveCount it moves
to the dead-letter queue, where a person can look at it and land the file again under its use case's prefix. Run keys
stay the file's SHA-256, so a message delivered twice scores once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from gxp_assets.stores.aws_session import AwsContext
from gxp_assets.stores.landing import ADJUDICATIONS, REPORTS, LocalLandingZone

PREFIX = "landing/"
_USE_CASE_ID = re.compile(r"^[a-z][a-z0-9_]*$")  # as use_case.yaml's id
_LOG = logging.getLogger("gxp.landing")


@dataclass(frozen=True)
class Announced:
    use_case: str
    kind: str
    name: str
    key: str


def landing_key(use_case: str, kind: str, name: str) -> str:
    """Where a file of ``use_case`` lands in the bucket: ``landing/<use_case>/<kind>/<name>``."""
    return f"{PREFIX}{use_case}/{kind}/{name}"


def announced(body: str, use_cases: Collection[str]) -> list[Announced] | None:
    """The landed objects an SQS message announces; [] for S3's test event; None when it is not an S3 event of
    ``landing/<use case>/<kind>/<name>`` for one of ``use_cases`` (a poison message, left for the dead-letter
    queue)."""
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
        parts = key.removeprefix(PREFIX).split("/")
        if not key.startswith(PREFIX) or len(parts) != 3:
            return None
        use_case, kind, name = parts
        if not _USE_CASE_ID.match(use_case) or use_case not in use_cases or kind not in (REPORTS, ADJUDICATIONS) \
                or not name:  # fmt: skip
            return None
        found.append(Announced(use_case, kind, name, key))
    return found


class AwsLandingZone(LocalLandingZone):
    """``LocalLandingZone`` of one use case over its local mirror (``root``, named for the use case), fed from the
    landing bucket through the Records queue; ``use_cases`` are those declared, whose files are routed to their own
    mirrors beside ``root``."""

    def __init__(
        self, context: AwsContext, root: Path | str, settle_seconds: float = 0.0,
        use_cases: Collection[str] = (),
    ) -> None:  # fmt: skip
        super().__init__(root, settle_seconds)
        self.use_case = self.root.name
        self.use_cases = frozenset(use_cases) | {self.use_case}
        self.s3, self.sqs = context.client("s3"), context.client("sqs")
        self.bucket, self.queue = context.resources.LandingBucket, context.resources.RecordsQueueUrl

    def land(self, source: Path, kind: str = REPORTS) -> str:
        """Put a file into this use case's prefix of the landing bucket (what a sender does); returns its key."""
        self.folder(kind)  # refuses an unknown kind
        key = landing_key(self.use_case, kind, source.name)
        self.s3.upload_file(str(source), self.bucket, key)
        return key

    def pull(self, max_messages: int = 10) -> list[str]:
        """Copy what the queue announces into the mirror of the use case each key names; returns the receipts to
        acknowledge after the run requests. Short polling, so a sensor tick never waits."""
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue, MaxNumberOfMessages=max_messages, WaitTimeSeconds=0
        ).get("Messages", [])
        receipts = []
        for message in messages:
            objects = announced(message.get("Body", ""), self.use_cases)
            if objects is None:
                _LOG.warning("message %s is not a landing event of a declared use case (landing/<use_case>/<kind>/);"
                             " left for the dead-letter queue", message["MessageId"])  # fmt: skip
                continue
            for landed in objects:
                self._mirror(landed)
            receipts.append(message["ReceiptHandle"])
        return receipts

    def mirror_folder(self, use_case: str, kind: str) -> Path:
        """The local mirror of ``use_case``'s ``kind`` folder: this zone's own, or the one beside it."""
        if use_case == self.use_case:
            return self.folder(kind)
        return LocalLandingZone(self.root.parent / use_case, self.settle_seconds).folder(kind)

    def _mirror(self, landed: Announced) -> None:
        target = self.mirror_folder(landed.use_case, landed.kind) / landed.name
        head = self.s3.head_object(Bucket=self.bucket, Key=landed.key)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".pulling-", delete=False) as handle:
            self.s3.download_fileobj(self.bucket, landed.key, handle)
        stamp = head["LastModified"].timestamp()
        os.utime(handle.name, (stamp, stamp))
        os.replace(handle.name, target)

    def acknowledge(self, receipts: list[str]) -> None:
        for receipt in receipts:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=receipt)
