"""Adjudications and monitoring events on the aws results table (aws_results.py), per use case.

- ``ADJ#<report_id>`` / ``<use_case>#<adjudicated_at>#<label>#<source file>``: labels, each put once (conditional);
  an item from before use cases (sort key starting with the time, no ``use_case``) counts for the use case whose
  scoring of the report it joins, as on the embedded store;
- ``MONITORING`` / ``<id>``: monitoring events with their ``use_case``, ids from an atomic counter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from gxp_assets.core.hashing import canonical_json
from gxp_assets.stores.aws_dynamo import query_all, scan_all
from gxp_assets.stores.aws_results_rows import item_row, item_use_case
from gxp_assets.stores.results_frames import STORED_COLUMNS, adjudication_rows, event_use_case, typed_frame, utc_text
from gxp_assets.stores.results_protocol import MonitoringEvent

ByReport = Callable[[str], list[dict[str, Any]]]
"""Every scoring (row item) of one report id, across batches and use cases."""


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def counts_for(label: dict[str, Any], use_case: str | None) -> bool:
    """Whether an adjudication item counts for a scoring of ``use_case``: given in it, or stored before use cases."""
    return label.get("use_case") in (None, use_case)


def latest_scoring(scorings: list[dict[str, Any]], use_case: str | None) -> dict[str, Any] | None:
    """The latest of a report's scorings in ``use_case`` (the use case of each read as its row's)."""
    mine = [item for item in scorings if item_use_case(item) == use_case]
    return max(mine, key=lambda item: item["scored_key"]) if mine else None


def adjudications_of(table: Any, report_id: str) -> list[dict[str, Any]]:
    return query_all(table, KeyConditionExpression=Key("pk").eq(f"ADJ#{report_id}"))


def record_adjudications(table: Any, frame: pd.DataFrame, use_case: str) -> int:
    if frame.empty:
        return 0
    if not use_case:
        raise ValueError("an adjudication is given in a use case; name it")
    added = 0
    for report_id, label, at, adjudicator, source_file in adjudication_rows(frame):
        try:
            table.put_item(
                Item={"pk": f"ADJ#{report_id}", "sk": f"{use_case}#{at}#{label}#{source_file}",
                      "report_id_adj": report_id, "label": label, "adjudicated_at": at, "adjudicator": adjudicator,
                      "source_file": source_file, "recorded_at": now_text(), "use_case": use_case},
                ConditionExpression="attribute_not_exists(pk)",
            )  # fmt: skip
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            continue  # an identical row recorded again is ignored
        added += 1
    return added


def adjudicated(table: Any, by_report: ByReport, since: datetime | None, use_case: str | None) -> pd.DataFrame:
    """Per (use case, report): the report's latest scoring in that use case with the latest adjudication that counts
    for it; only ``use_case`` when given."""
    labels: dict[str, list[dict[str, Any]]] = {}
    for item in scan_all(table, FilterExpression=Attr("pk").begins_with("ADJ#")):
        labels.setdefault(item["report_id_adj"], []).append(item)
    floor = utc_text(since, "since") if since is not None else None
    found = []
    for report_id, items in labels.items():
        scorings = by_report(report_id)
        cases = {item_use_case(item) for item in scorings}
        for case in sorted(cases & {use_case} if use_case else cases, key=str):
            counted = [label for label in items if counts_for(label, case)]
            scoring = latest_scoring(scorings, case)
            if not counted or scoring is None:
                continue
            label = max(counted, key=lambda label: (label["adjudicated_at"], label["recorded_at"]))
            if floor is None or label["adjudicated_at"] >= floor:
                found.append((label["adjudicated_at"], report_id, case or "", scoring, label))
    rows = [(*item_row(scoring), label["label"], label["adjudicated_at"], label["adjudicator"])
            for *_, scoring, label in sorted(found, key=lambda entry: entry[:3])]  # fmt: skip
    return typed_frame(rows, (*STORED_COLUMNS, "label", "adjudicated_at", "adjudicator"))


def record_monitoring(
    table: Any, kind: str, batch: str | None, model_version: str | None, alarms: list[str], evidence: dict,
    use_case: str | None,
) -> int:  # fmt: skip
    counter = table.update_item(Key={"pk": "COUNTER", "sk": "monitoring"}, UpdateExpression="ADD n :one",
                                ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")  # fmt: skip
    event_id = int(counter["Attributes"]["n"])
    table.put_item(Item={"pk": "MONITORING", "sk": f"{event_id:012d}", "event_id": event_id, "kind": kind,
                         "batch": batch, "model_version": model_version, "alarms": json.dumps(list(alarms)),
                         "evidence": canonical_json(evidence).decode(), "created_at": now_text(),
                         "use_case": use_case})  # fmt: skip
    return event_id


def monitoring_since(table: Any, after_id: int, use_case: str | None) -> list[MonitoringEvent]:
    after = Key("pk").eq("MONITORING") & Key("sk").gt(f"{after_id:012d}")
    events = []
    for item in query_all(table, KeyConditionExpression=after):
        evidence = json.loads(item["evidence"])
        events.append(MonitoringEvent(
            int(item["event_id"]), item["kind"], item.get("batch"), item.get("model_version"),
            tuple(json.loads(item["alarms"])), evidence, datetime.fromisoformat(item["created_at"]),
            event_use_case(item.get("use_case"), item.get("model_version"), evidence),
        ))  # fmt: skip
    return [event for event in events if event.use_case == use_case] if use_case else events
