"""The model registry (the "management table") in DynamoDB: the aws side of the registry protocol.

One table, keyed by ``pk``/``sk``: a model's record (``MODEL#<version>``/``RECORD``, its state ``ACTIVE`` or other),
one pointer per use case to its ACTIVE version (``ACTIVE#<use case>``), the transition history (``TRANSITIONS``,
sorted by time), signatures (``SIGNATURE#<id>``, each id once) and roles approvals. Every write is conditional:
a record is put only if absent (records never change), a state only moves from the state it was read in, and the
ACTIVE pointer only from the version it named, so two writers cannot make two versions ACTIVE. With an aws audit
trail, a state change and its audit entries commit in one ``TransactWriteItems`` (``transition_audited``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from gxp_assets.core.hashing import canonical_json
from gxp_assets.governance.registry import ModelVersion, State, Transition, check_transition, record_hash
from gxp_assets.governance.service import transition_details
from gxp_assets.stores.aws_audit import AwsAuditTrail
from gxp_assets.stores.aws_dynamo import low_level, query_all, scan_all
from gxp_assets.stores.aws_session import AwsContext

TRANSITIONS, ROLES_APPROVALS, SIGNATURES = "TRANSITIONS", "ROLES_APPROVALS", "SIGNATURES"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AwsRegistry:
    def __init__(self, context: AwsContext) -> None:
        self.table_name = context.resources.RegistryTable
        self.table = context.session.resource("dynamodb").Table(self.table_name)
        self.dynamodb = context.client("dynamodb")

    def _put(self, item: dict[str, Any], condition: str = "attribute_not_exists(pk)") -> dict[str, Any]:
        return {"Put": {"TableName": self.table_name, "Item": low_level(item), "ConditionExpression": condition}}

    def _transition_item(self, version: str, current: State | None, target: State, actor: str, reason: str) -> dict:
        at = _now()
        item = {"pk": TRANSITIONS, "sk": f"{at}#{uuid.uuid4().hex}", "version": version, "to_state": str(target),
                "actor": actor, "reason": reason, "at": at}  # fmt: skip
        if current is not None:
            item["from_state"] = str(current)
        return item

    def register(self, version: str, use_case: str, record: dict, actor: str) -> ModelVersion:
        """A new CANDIDATE; registering the same version again returns the first record unchanged."""
        existing = self.get(version)
        if existing is not None:
            return existing
        at = _now()
        model = {"pk": f"MODEL#{version}", "sk": "RECORD", "version": version, "use_case": use_case,
                 "record": canonical_json(record).decode(), "record_hash": record_hash(record),
                 "state": str(State.CANDIDATE), "registered_at": at}  # fmt: skip
        transition = self._transition_item(version, None, State.CANDIDATE, actor, "registered")
        try:
            self.dynamodb.transact_write_items(TransactItems=[self._put(model), self._put(transition)])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise  # a concurrent registration of the same version won: its record stands
        return self.get(version)  # type: ignore[return-value]

    def get(self, version: str) -> ModelVersion | None:
        item = self.table.get_item(Key={"pk": f"MODEL#{version}", "sk": "RECORD"}, ConsistentRead=True).get("Item")
        return ModelVersion.from_stored(item) if item else None

    def versions(self, use_case: str | None = None) -> list[ModelVersion]:
        condition = Attr("sk").eq("RECORD")
        if use_case:
            condition = condition & Attr("use_case").eq(use_case)
        items = scan_all(self.table, FilterExpression=condition)
        return [ModelVersion.from_stored(item) for item in sorted(items, key=lambda item: item["registered_at"])]

    def active(self, use_case: str) -> ModelVersion | None:
        pointer = self.table.get_item(Key={"pk": f"ACTIVE#{use_case}", "sk": "ACTIVE"}, ConsistentRead=True).get(
            "Item"
        )
        return self.get(pointer["version"]) if pointer else None

    def _move(self, model: ModelVersion, target: State, actor: str, reason: str) -> tuple[list[dict], Transition]:
        """Transact items that move ``model`` from the state it was read in to ``target``, and the transition."""
        update = {
            "Update": {
                "TableName": self.table_name,
                "Key": low_level({"pk": f"MODEL#{model.version}", "sk": "RECORD"}),
                "UpdateExpression": "SET #state = :target",
                "ConditionExpression": "#state = :current",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": low_level({":target": str(target), ":current": str(model.state)}),
            }
        }
        item = self._transition_item(model.version, model.state, target, actor, reason)
        made = Transition(model.version, model.state, target, actor, reason, item["at"])
        return [update, self._put(item)], made

    def _pointer(self, use_case: str, previous: str | None, version: str | None) -> dict[str, Any]:
        """Move the use case's ACTIVE pointer from ``previous`` to ``version`` (None: remove it), conditionally."""
        key = {"pk": f"ACTIVE#{use_case}", "sk": "ACTIVE"}
        condition = "attribute_not_exists(pk)" if previous is None else "version = :previous"
        values = {} if previous is None else {"ExpressionAttributeValues": low_level({":previous": previous})}
        if version is None:
            return {"Delete": {"TableName": self.table_name, "Key": low_level(key), "ConditionExpression": condition,
                               **values}}  # fmt: skip
        return {"Put": {"TableName": self.table_name, "Item": low_level({**key, "version": version}),
                        "ConditionExpression": condition, **values}}  # fmt: skip

    def _plan(self, version: str, target: State, actor: str, reason: str) -> tuple[list[dict], list[Transition]]:
        current = self.get(version)
        if current is None:
            raise LookupError(f"no model version {version} in the registry")
        check_transition(version, current.state, target)
        items: list[dict] = []
        made: list[Transition] = []
        if target == State.ACTIVE:
            previous = self.active(current.use_case)
            if previous is not None:
                moved, transition = self._move(previous, State.RETIRED, actor, f"replaced by {version}")
                items += moved
                made.append(transition)
            items.append(self._pointer(current.use_case, previous.version if previous else None, version))
        elif current.state == State.ACTIVE:
            items.append(self._pointer(current.use_case, version, None))
        moved, transition = self._move(current, target, actor, reason)
        return items + moved, [*made, transition]

    def transition(self, version: str, target: State, actor: str, reason: str) -> list[Transition]:
        """Move ``version`` to ``target`` in one transaction (activating retires the ACTIVE version in it too)."""
        items, made = self._plan(version, target, actor, reason)
        self.dynamodb.transact_write_items(TransactItems=items)
        return made

    def transition_audited(
        self, version: str, target: State, actor: str, reason: str, trail: AwsAuditTrail
    ) -> list[Transition]:
        """``transition`` with its audit entries in the same transaction: both are written, or neither."""
        items, made = self._plan(version, target, actor, reason)
        records = [(actor, "transition", made_.version, transition_details(made_)) for made_ in made]
        trail.append_all(records, extra=items)
        return made

    def history(self, version: str | None = None) -> list[Transition]:
        items = query_all(self.table, KeyConditionExpression=Key("pk").eq(TRANSITIONS))
        return [
            Transition(
                item["version"],
                State(item["from_state"]) if item.get("from_state") else None,
                State(item["to_state"]),
                item["actor"],
                item["reason"],
                item["at"],
            )
            for item in items
            if version is None or item["version"] == version
        ]

    def add_signature(self, version: str, signature: dict) -> None:
        """Stores a verified signature; a signature id can be stored once only (no replays)."""
        at, body = _now(), canonical_json(signature).decode()
        once = {"pk": f"SIGNATURE#{signature['signature_id']}", "sk": "SIGNATURE", "version": version}
        listed = {"pk": SIGNATURES, "sk": f"{at}#{signature['signature_id']}", "version": version, "body": body}
        try:
            self.dynamodb.transact_write_items(TransactItems=[self._put(once), self._put(listed)])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise ValueError(f"signature {signature['signature_id']} is already stored: a replay") from None
            raise

    def signatures(self, version: str | None = None) -> list[dict]:
        items = query_all(self.table, KeyConditionExpression=Key("pk").eq(SIGNATURES))
        return [json.loads(item["body"]) for item in items if version is None or item["version"] == version]

    def add_roles_approval(self, approval: dict) -> None:
        at = _now()
        item = {"pk": ROLES_APPROVALS, "sk": f"{at}#{uuid.uuid4().hex}", "roles_sha256": approval["roles_sha256"],
                "body": canonical_json(approval).decode()}  # fmt: skip
        self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")

    def roles_approvals(self) -> list[dict]:
        items = query_all(self.table, KeyConditionExpression=Key("pk").eq(ROLES_APPROVALS))
        return [json.loads(item["body"]) for item in items]
