"""The inference results table in DynamoDB and one pair of Parquet files per batch in S3: the aws ``ResultsStore``.

Items of the stack's results table (``pk``/``sk``):
- ``ROWS#<batch>`` / ``<intake_seq>``: one scored row (report_id, input_sha256, p_ae, prediction_set, triage, model
  and plan version, run_id, scored_at as attributes, and the whole row as JSON, which is what its hash covers);
  PRIORITY and REVIEW rows carry ``queue`` (their triage) and ``due_key``, so the work queue is a query of the
  sparse ``priority`` index per level,
  and every row is found by report through the ``by_report`` index;
- ``BATCH#<batch>`` / ``SUMMARY``: counts, the SHA-256 of the batch's files and of its rows, written last;
- ``ADJ#<report_id>`` / ``<use_case>#<adjudicated_at>#<label>#<source file>``: labels, each put once (conditional);
- ``MONITORING`` / ``<id>``: monitoring events, ids from an atomic counter;
- ``LEASE#<batch>``: held while a batch is published, so two runs never interleave their rows (the second fails).

Rows and the writer are in aws_results_rows.py, adjudications and monitoring events in aws_results_feedback.py. Rows,
summaries, labels and events carry their ``use_case``; readers given one see only its rows (the use case of a row
published before is its model version's: ``results_frames.version_use_case``).

The Parquet files are content-addressed objects under Object Lock (a re-scored batch gets new objects, the summary
points to them). A writer spools chunks to local files (bounded memory) and publishes on exit; unlike SQLite there
is no transaction across the rows, so a reader during a re-score may briefly see rows of both attempts, and
``verify`` (against the audit trail) tells which one the summary stands for.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from gxp_assets.core.hashing import canonical_json, sha256_file, sha256_hex
from gxp_assets.stores import aws_results_feedback as feedback
from gxp_assets.stores.aws_artifacts import locked_put_args
from gxp_assets.stores.aws_dynamo import query_all, scan_all
from gxp_assets.stores.aws_results_queue import open_queue
from gxp_assets.stores.aws_results_rows import (
    FILES,
    INDEX,
    SCHEMAS,
    AwsBatchWriter,
    item_row,
    item_use_case,
    row_item,
)
from gxp_assets.stores.aws_session import AwsContext
from gxp_assets.stores.protocols import IntegrityError
from gxp_assets.stores.results_frames import (
    PREDICTION_SCHEMA,
    QUARANTINE_SCHEMA,
    STORED_COLUMNS,
    arrow_pandas,
    scored_frame,
    sql_rows,
    typed_frame,
    whole_batch,
    with_hours_left,
)
from gxp_assets.stores.results_integrity import add_rows
from gxp_assets.stores.results_protocol import (
    TRIAGE_LEVELS,
    BatchSummary,
    MonitoringEvent,
    OnCommit,
    QueueFilter,
)

LEASE = timedelta(minutes=15)  # longer than any publish; a killed publisher's lease lapses after it


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AwsResultsStore:
    def __init__(self, context: AwsContext, cache: Path | str | None = None) -> None:
        self.context = context
        self.table = context.session.resource("dynamodb").Table(context.resources.ResultsTable)
        self.s3 = context.client("s3")
        self.bucket = context.resources.ArtifactBucket
        self.cache = Path(cache) if cache else Path(tempfile.gettempdir()) / "gxp-aws-results"

    # -- writing batches ------------------------------------------------------------------------------------------

    def scored_elsewhere(self, report_ids: list[str], batch: str, use_case: str | None = None) -> list[bool]:
        """Per report id, whether another batch (of ``use_case`` when given) holds a scoring of it (a report sent
        again is kept and marked)."""
        seen = {report_id for report_id in set(report_ids)
                if any(item["batch"] != batch and (not use_case or item_use_case(item) == use_case)
                       for item in self._by_report(report_id))}  # fmt: skip
        return [report_id in seen for report_id in report_ids]

    @contextmanager
    def writer(
        self, batch: str, run_id: str, on_commit: OnCommit | None = None, use_case: str | None = None
    ) -> Iterator[AwsBatchWriter]:
        if not batch:
            raise ValueError("a batch needs a non-empty name")
        self.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache) as folder:
            with whole_batch(AwsBatchWriter(self.scored_elsewhere, batch, use_case, Path(folder)), batch) as writer:
                yield writer
            with self._lease(batch):
                self._refuse_other_use_case(writer)
                self._publish(writer, run_id, on_commit)

    def _refuse_other_use_case(self, writer: AwsBatchWriter) -> None:
        """A batch name is one use case's: results of another use case never replace it (checked under the lease)."""
        held = self.batch_summary(writer.batch)
        if writer.use_case and held is not None and held.use_case and held.use_case != writer.use_case:
            raise ValueError(f"batch {writer.batch!r} holds results of use case {held.use_case!r}, not "
                             f"{writer.use_case!r}: a batch name is one use case's; nothing of this attempt was "
                             "committed")  # fmt: skip

    @contextmanager
    def _lease(self, batch: str) -> Iterator[None]:
        """One publisher per batch at a time (a conditional put of a lease that expires, so a killed writer does not
        block the batch for ever); a second one fails loudly instead of interleaving its rows with the first's."""
        token, now = uuid.uuid4().hex, datetime.now(UTC)
        key = {"pk": f"LEASE#{batch}", "sk": "LEASE"}
        try:
            self.table.put_item(Item={**key, "token": token, "expires": (now + LEASE).isoformat()},
                                ConditionExpression="attribute_not_exists(pk) OR expires < :now",
                                ExpressionAttributeValues={":now": now.isoformat()})  # fmt: skip
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise RuntimeError(f"batch {batch!r} is being published by another run; nothing of this attempt was "
                               "committed: score it again once that run ends") from None  # fmt: skip
        try:
            yield
        finally:
            self.table.delete_item(Key=key, ConditionExpression="#token = :token",
                                   ExpressionAttributeNames={"#token": "token"},
                                   ExpressionAttributeValues={":token": token})  # fmt: skip

    def _key(self, batch: str, name: str, sha256: str) -> str:
        return f"results/{quote(batch, safe='')}/{name}-{sha256}.parquet"

    def _publish(self, writer: AwsBatchWriter, run_id: str, on_commit: OnCommit | None) -> None:
        batch = writer.batch
        hashes = {name: sha256_file(writer.paths[name]) for name in FILES}
        for name in FILES:
            self.s3.upload_file(str(writer.paths[name]), self.bucket, self._key(batch, name, hashes[name]),
                                ExtraArgs=locked_put_args(self.context))  # fmt: skip
        rows = writer.rows()
        new_keys = {f"{row[INDEX['intake_seq']]:012d}" for row in rows}
        stale = [item["sk"] for item in self._row_items(batch) if item["sk"] not in new_keys]
        with self.table.batch_writer() as batch_writer:  # boto3 re-sends unprocessed items itself
            for row in rows:
                batch_writer.put_item(Item=row_item(row))
            for sk in stale:
                batch_writer.delete_item(Key={"pk": f"ROWS#{batch}", "sk": sk})
        digest = hashlib.sha256()
        add_rows(digest, rows)
        counts = {level: int(writer.triage.get(level, 0)) for level in TRIAGE_LEVELS}
        facts = {"run_id": run_id, "scored": writer.scored, "quarantined": writer.quarantined,
                 "triage_counts": counts, "predictions_sha256": hashes["predictions"],
                 "quarantine_sha256": hashes["quarantine"], "rows_sha256": digest.hexdigest(),
                 "folder": quote(batch, safe=""), "written_at": _now(), "use_case": writer.use_case}  # fmt: skip
        if on_commit is not None:
            on_commit(facts)
        self.table.put_item(Item={"pk": f"BATCH#{batch}", "sk": "SUMMARY", "batch": batch,
                                  "facts": canonical_json(facts).decode()})  # fmt: skip

    # -- integrity ------------------------------------------------------------------------------------------------

    def _row_items(self, batch: str) -> list[dict[str, Any]]:
        return query_all(self.table, KeyConditionExpression=Key("pk").eq(f"ROWS#{batch}"))

    def _summaries(self) -> dict[str, dict[str, Any]]:
        items = scan_all(self.table, FilterExpression=Attr("sk").eq("SUMMARY"))
        return {item["batch"]: json.loads(item["facts"]) for item in items}

    def _object_sha256(self, batch: str, name: str, sha256: str) -> str | None:
        try:
            payload = self.s3.get_object(Bucket=self.bucket, Key=self._key(batch, name, sha256))["Body"].read()
        except ClientError:
            return None
        return sha256_hex(payload)

    def verify(self, recorded: dict[str, dict]) -> list[str]:
        """Differences between the table (and the batch files in S3) and the audit trail's results records."""
        summaries = self._summaries()
        problems: list[str] = []
        for batch, facts in sorted(recorded.items()):
            summary = summaries.get(batch)
            if summary is None:
                problems.append(f"batch {batch}: recorded in the audit trail, missing from the results table")
                continue
            digest = hashlib.sha256()
            add_rows(digest, [item_row(item) for item in self._row_items(batch)])
            named = ("scored", "quarantined", "predictions_sha256", "quarantine_sha256",
                     *(("use_case",) if "use_case" in facts else ()))  # recorded since batches carry it
            found = {**{name: summary.get(name) for name in named}, "rows_sha256": digest.hexdigest()}
            for name, value in found.items():
                if facts.get(name) != value:
                    problems.append(f"batch {batch}: the table holds {name} {value}, "
                                    f"the audit trail {facts.get(name)}")  # fmt: skip
            for name in FILES:
                expected = facts.get(f"{name}_sha256")
                if (actual := self._object_sha256(batch, name, str(expected))) != expected:
                    problems.append(f"batch {batch}: {name} file hashes to {actual}, "
                                    f"the audit trail records {expected}")  # fmt: skip
        problems += [f"batch {b}: in the results table, never recorded in the audit trail" for b in summaries
                     if b not in recorded]  # fmt: skip
        return problems

    def rebuild(self, recorded: dict[str, dict]) -> list[str]:
        """Rewrite rows and summaries from the batch files in S3 that still hash to what the trail recorded."""
        restored: list[str] = []
        for batch, facts in sorted(recorded.items()):
            if any(self._object_sha256(batch, name, facts[f"{name}_sha256"]) != facts[f"{name}_sha256"]
                   for name in FILES):  # fmt: skip
                continue
            frame = self._read(batch, "predictions", facts["predictions_sha256"])
            rows = sql_rows(scored_frame(frame, batch))
            keep = {f"{row[INDEX['intake_seq']]:012d}" for row in rows}
            with self.table.batch_writer() as batch_writer:
                for row in rows:
                    batch_writer.put_item(Item=row_item(row))
                for item in self._row_items(batch):
                    if item["sk"] not in keep:
                        batch_writer.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
            self.table.put_item(Item={"pk": f"BATCH#{batch}", "sk": "SUMMARY", "batch": batch,
                                      "facts": canonical_json(facts).decode()})  # fmt: skip
            restored.append(batch)
        return restored

    # -- reading batches ------------------------------------------------------------------------------------------

    def _summary(self, batch: str, facts: dict[str, Any]) -> BatchSummary:
        return BatchSummary(
            batch=batch, run_id=facts["run_id"], scored=facts["scored"], quarantined=facts["quarantined"],
            triage_counts=facts["triage_counts"], predictions_sha256=facts["predictions_sha256"],
            quarantine_sha256=facts["quarantine_sha256"],
            predictions_path=self._cached(batch, "predictions", facts["predictions_sha256"]),
            quarantine_path=self._cached(batch, "quarantine", facts["quarantine_sha256"]),
            written_at=datetime.fromisoformat(facts["written_at"]), use_case=self._batch_use_case(batch, facts),
        )  # fmt: skip

    def _batch_use_case(self, batch: str, facts: dict[str, Any]) -> str | None:
        """Recorded with the batch, else its first row's (a batch published before use cases were recorded)."""
        if facts.get("use_case"):
            return str(facts["use_case"])
        first = self.table.query(KeyConditionExpression=Key("pk").eq(f"ROWS#{batch}"), Limit=1).get("Items", [])
        return item_use_case(first[0]) if first else None

    def _cached(self, batch: str, name: str, sha256: str) -> Path:
        """A verified local copy of one batch file (readers of a summary open its paths); the name carries the hash,
        so a copy once verified is not fetched again."""
        path = self.cache / "files" / self._key(batch, name, sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            payload = self._fetch(batch, name, sha256)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as handle:
                handle.write(payload)
            Path(handle.name).replace(path)
        return path

    def batch_summary(self, batch: str) -> BatchSummary | None:
        item = self.table.get_item(Key={"pk": f"BATCH#{batch}", "sk": "SUMMARY"}, ConsistentRead=True).get("Item")
        return self._summary(batch, json.loads(item["facts"])) if item else None

    def batches(self, use_case: str | None = None) -> list[BatchSummary]:
        found = [self._summary(batch, facts) for batch, facts in sorted(self._summaries().items())]
        return [summary for summary in found if summary.use_case == use_case] if use_case else found

    def _by_report(self, report_id: str) -> list[dict[str, Any]]:
        return query_all(self.table, IndexName="by_report", ConsistentRead=False,
                         KeyConditionExpression=Key("report_id").eq(report_id))  # fmt: skip

    def predictions(
        self, batch: str | None = None, report_ids: Sequence[str] | None = None, use_case: str | None = None
    ) -> pd.DataFrame:
        """A whole batch comes from its Parquet file in S3 (checked); the rest from the table. Batch, intake order."""
        if isinstance(report_ids, str):
            raise TypeError("report_ids is a sequence of ids, not one id")
        if batch is not None and report_ids is None and use_case is None:
            frame = self.predictions_file(batch)
            return frame.sort_values("intake_seq", kind="stable", ignore_index=True)
        if report_ids is not None:
            items = [item for report_id in dict.fromkeys(map(str, report_ids)) for item in self._by_report(report_id)]
        else:
            items = scan_all(self.table, FilterExpression=Attr("pk").begins_with("ROWS#"))
        rows = [item_row(item) for item in items if (batch is None or item["batch"] == batch)
                and (use_case is None or item_use_case(item) == use_case)]  # fmt: skip
        rows.sort(key=lambda row: (row[INDEX["batch"]], row[INDEX["intake_seq"]]))
        return typed_frame(rows, STORED_COLUMNS)

    def find_report(self, report_id: str, use_case: str | None = None) -> pd.DataFrame:
        items = sorted((item for item in self._by_report(report_id) if not use_case or item_use_case(item) == use_case),
                       key=lambda item: item["scored_key"])  # fmt: skip
        return typed_frame([item_row(item) for item in items], STORED_COLUMNS)

    def predictions_file(self, batch: str) -> pd.DataFrame:
        summary = self.batch_summary(batch)
        if summary is None:
            return arrow_pandas(PREDICTION_SCHEMA.empty_table())
        return self._read(batch, "predictions", summary.predictions_sha256)

    def quarantined(self, batch: str) -> pd.DataFrame:
        summary = self.batch_summary(batch)
        if summary is None:
            return arrow_pandas(QUARANTINE_SCHEMA.empty_table())
        return self._read(batch, "quarantine", summary.quarantine_sha256)

    def _fetch(self, batch: str, name: str, expected: str) -> bytes:
        """One of the batch's Parquet files from S3, refused when its bytes no longer hash to what was recorded."""
        key = self._key(batch, name, expected)
        payload: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if (actual := sha256_hex(payload)) != expected:
            raise IntegrityError(f"{name} of batch '{batch}' at s3://{self.bucket}/{key} was recorded with SHA-256 "
                                 f"{expected} but its bytes hash to {actual}: it has been altered")  # fmt: skip
        return payload

    def _read(self, batch: str, name: str, expected: str) -> pd.DataFrame:
        payload = self._fetch(batch, name, expected)
        return arrow_pandas(pq.read_table(pa.BufferReader(payload), schema=SCHEMAS[name]))

    def _is_open(self, item: dict[str, Any]) -> bool:
        """The item is its report's latest scoring in its use case and nobody has adjudicated the report in that use
        case (two reads)."""
        case = item_use_case(item)
        latest = feedback.latest_scoring(self._by_report(item["report_id"]), case)
        same = latest is not None and (latest["pk"], latest["sk"]) == (item["pk"], item["sk"])
        return same and not any(feedback.counts_for(label, case)
                                for label in feedback.adjudications_of(self.table, item["report_id"]))  # fmt: skip

    def priority_queue(
        self, now: datetime, levels: Sequence[str] = ("PRIORITY",), where: QueueFilter | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> pd.DataFrame:  # fmt: skip
        """The latest unadjudicated scorings of ``levels``: walks of the sparse queue index (PRIORITY and REVIEW
        rows), stopping once the page is full; a page costs the candidates before it."""
        if now.tzinfo is None:
            raise ValueError("now must carry a time zone (UTC)")
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError("limit and offset are counts (>= 0)")
        stop = None if limit is None else offset + limit
        rows = list(itertools.islice(open_queue(self.table, self._is_open, levels, where), offset, stop))
        return with_hours_left(typed_frame(rows, STORED_COLUMNS), now)

    def queue_size(
        self, levels: Sequence[str] = ("PRIORITY",), where: QueueFilter | None = None, at_most: int | None = None
    ) -> int:
        """Reads the queue up to ``at_most`` (two reads per candidate; all of it without a cap)."""
        return sum(1 for _ in itertools.islice(open_queue(self.table, self._is_open, levels, where), at_most))

    # -- feedback and monitoring ----------------------------------------------------------------------------------

    def record_adjudications(self, frame: pd.DataFrame, use_case: str) -> int:
        return feedback.record_adjudications(self.table, frame, use_case)

    def adjudicated(self, since: datetime | None = None, use_case: str | None = None) -> pd.DataFrame:
        return feedback.adjudicated(self.table, self._by_report, since, use_case)

    def record_monitoring(
        self, kind: str, batch: str | None, model_version: str | None, alarms: list[str], evidence: dict,
        use_case: str | None = None,
    ) -> int:  # fmt: skip
        return feedback.record_monitoring(self.table, kind, batch, model_version, alarms, evidence, use_case)

    def monitoring_since(self, after_id: int, use_case: str | None = None) -> list[MonitoringEvent]:
        return feedback.monitoring_since(self.table, after_id, use_case)
