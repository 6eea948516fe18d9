"""The audit trail in DynamoDB, anchored by S3 Object Lock: the aws side of ``AuditTrail``.

Entries live under partition ``entry`` sorted by ``seq``; one ``head`` item names the newest entry. An append is one
``TransactWriteItems``: put the new entries (only if their ``seq`` is free) and move the head (only if it still names
the entry they were chained to). Two writers that read the same head cannot both win, so the chain cannot fork; the
loser is cancelled, reads the new head and chains again, so no entry is dropped. Callers may add their own items to the
same transaction (the registry's state change), which then commits with its audit entry or not at all.

After each append the head is written as a small S3 object under Object Lock (compliance mode), whose key carries
``seq`` and hash: an anchor outside DynamoDB that nobody can delete or rewrite, which ``verify`` requires the chain
to contain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from gxp_assets.core.hashing import canonical_json
from gxp_assets.governance.audit import GENESIS_HASH, Anchor, AuditEntry, next_entry, verify_chain
from gxp_assets.stores.aws_artifacts import locked_put_args
from gxp_assets.stores.aws_dynamo import low_level, query_all
from gxp_assets.stores.aws_session import AwsContext

ENTRY, HEAD = "entry", "head"
CHECKPOINTS = "audit-checkpoints/"
#: How many times an append chains again after losing the head to another writer before giving up loudly.
MAX_REBASES = 50

Record = tuple[str, str, str, Mapping[str, Any]]
"""(actor, action, subject, details) of an entry to append."""


class AuditConflict(RuntimeError):
    """The transaction was refused for a reason other than a moved head (e.g. the caller's own condition)."""


class AwsAuditTrail:
    """``AuditTrail`` backed by the stack's audit table, anchored in its artifact bucket."""

    def __init__(self, context: AwsContext, anchored: bool = True) -> None:
        self.context = context
        self.table_name = context.resources.AuditTable
        self.table = context.session.resource("dynamodb").Table(self.table_name)
        self.dynamodb = context.client("dynamodb")
        self.s3 = context.client("s3")
        self.bucket = context.resources.ArtifactBucket
        self.anchored = anchored

    @staticmethod
    def _entry(item: Mapping[str, Any]) -> AuditEntry:
        details = json.loads(item["details"])
        if not isinstance(details, dict):
            raise ValueError(f"audit entry seq {item['seq']}: details are not a JSON object")
        return AuditEntry.from_dict({**item, "details": details})

    def _head_item(self) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.table.get_item(Key={"part": HEAD, "seq": 0}, ConsistentRead=True).get(
            "Item"
        )
        return item

    def head(self) -> AuditEntry | None:
        pointer = self._head_item()
        if pointer is None:
            return None
        item = self.table.get_item(Key={"part": ENTRY, "seq": pointer["head_seq"]}, ConsistentRead=True)["Item"]
        return self._entry(item)

    def _transaction(self, head: AuditEntry | None, entries: Sequence[AuditEntry], extra: Sequence[dict]) -> list:
        puts = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": low_level(
                        {
                            "part": ENTRY,
                            **entry.as_dict(),
                            "details": canonical_json(entry.details).decode(),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(seq)",
                }
            }
            for entry in entries
        ]
        last = entries[-1]
        move_head = {
            "Put": {
                "TableName": self.table_name,
                "Item": low_level({"part": HEAD, "seq": 0, "head_seq": last.seq, "head_hash": last.entry_hash}),
                "ConditionExpression": "attribute_not_exists(head_hash)" if head is None else "head_hash = :previous",
                **({} if head is None else {"ExpressionAttributeValues": low_level({":previous": head.entry_hash})}),
            }
        }
        return [move_head, *puts, *extra]

    def append_all(
        self, records: Sequence[Record], extra: Sequence[dict] = (), now: datetime | None = None
    ) -> list[AuditEntry]:
        """Chain ``records`` to the head in one transaction together with the caller's ``extra`` transact items.

        A moved head is retried on the new head; a failed condition of an ``extra`` item raises AuditConflict.
        """
        for _ in range(MAX_REBASES):
            head = self.head()
            entries: list[AuditEntry] = []
            at = now if now is not None else datetime.now(UTC)
            for actor, action, subject, details in records:
                entries.append(next_entry(entries[-1] if entries else head, actor, action, subject, details, at))
            try:
                self.dynamodb.transact_write_items(TransactItems=self._transaction(head, entries, extra))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
                ours = reasons[: 1 + len(entries)]
                theirs = reasons[1 + len(entries) :]
                if any(code == "ConditionalCheckFailed" for code in theirs):
                    raise AuditConflict(
                        f"the change was refused by a condition on its own items ({reasons}); nothing was written"
                    ) from None
                if any(code in ("ConditionalCheckFailed", "TransactionConflict") for code in ours) or not reasons:
                    continue  # another writer extended the chain first: chain again on the new head
                raise
            if self.anchored:
                self._anchor(entries[-1])
            return entries
        raise AuditConflict(f"the audit head kept moving: {MAX_REBASES} attempts to chain an entry lost the race")

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any],
        now: datetime | None = None,
    ) -> AuditEntry:
        return self.append_all([(actor, action, subject, details)], now=now)[0]

    def _anchor(self, entry: AuditEntry) -> None:
        body = canonical_json({"seq": entry.seq, "entry_hash": entry.entry_hash, "recorded_at": entry.recorded_at})
        self.s3.put_object(
            Bucket=self.bucket,
            Key=f"{CHECKPOINTS}{entry.seq:012d}-{entry.entry_hash}.json",
            Body=body,
            **locked_put_args(self.context),
        )

    def locked_checkpoints(self) -> list[Anchor]:
        """Every head anchored in S3, oldest first, read from the object keys."""
        anchors: list[Anchor] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=CHECKPOINTS):
            for found in page.get("Contents", []):
                seq, _, digest = found["Key"].removeprefix(CHECKPOINTS).removesuffix(".json").partition("-")
                anchors.append((int(seq), digest))
        return sorted(anchors)

    def _items(self) -> list[dict[str, Any]]:
        return query_all(self.table, KeyConditionExpression=Key("part").eq(ENTRY))

    def entries(self) -> list[AuditEntry]:
        return [self._entry(item) for item in self._items()]

    def verify(self, anchors: Iterable[Anchor] = ()) -> list[str]:
        """``verify_chain`` against ``anchors`` and every S3 checkpoint; also the head item must name the last
        entry (a deleted tail shows there); an unreadable entry is a problem to report, not a crash."""
        problems: list[str] = []
        entries: list[AuditEntry] = []
        for item in self._items():
            try:
                entries.append(self._entry(item))
            except ValueError as error:
                problems.append(f"seq {item['seq']}: details are not a readable JSON object ({error}): altered")
                entries.append(AuditEntry.from_dict({**item, "details": {"unreadable": item["details"]}}))
        pointer = self._head_item()
        last = (entries[-1].seq, entries[-1].entry_hash) if entries else (0, GENESIS_HASH)
        if pointer is not None and (int(pointer["head_seq"]), pointer["head_hash"]) != last:
            problems.append(
                f"the head item names seq {pointer['head_seq']} ({pointer['head_hash'][:12]}) but the last entry is "
                f"seq {last[0]} ({last[1][:12]}): entries were removed or added outside the trail"
            )
        extra = self.locked_checkpoints() if self.anchored else []
        return problems + verify_chain(entries, [*anchors, *extra])
