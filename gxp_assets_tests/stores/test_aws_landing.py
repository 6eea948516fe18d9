"""The landing zone on aws: a file put under landing/ in the landing bucket is announced on the Records queue by S3,
and the landing sensor copies it into the zone's folder, requests its scoring once (run key = its SHA-256) and only
then deletes the message; a message that is not a landing event stays for the dead-letter queue."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import DagsterInstance, build_sensor_context

from gxp_assets.core.hashing import sha256_file
from gxp_assets.definitions import defs
from gxp_assets.stores import landing_zone
from gxp_assets.stores.aws_landing import announced
from gxp_assets.stores.aws_session import AwsContext
from gxp_assets.stores.landing import REPORTS, batch_key
from gxp_assets_tests.conftest import AE, ae_scope

landing_files = defs.resolve_sensor_def(ae_scope().name("landing_files"))


def _queued(context: AwsContext, url: str) -> int:
    attributes = context.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_file_landed_in_s3_is_scored_once_and_its_message_deleted_after_the_request(
    aws_stack: AwsContext, gxp_home: Path, dagster_instance: DagsterInstance, tmp_path: Path
) -> None:
    source = tmp_path / "batch-1.csv"
    source.write_text("report_id,document_id,source,text,received_at\nr1,d1,social_media,headache,2026-03-01T00:00:00Z\n")
    zone = landing_zone(AE)
    assert zone.land(source) == "landing/reports/batch-1.csv"
    records = aws_stack.resources.RecordsQueueUrl
    assert _queued(aws_stack, records) == 2  # S3's test event (sent when the notification was set) and the file

    result = landing_files(build_sensor_context(instance=dagster_instance))
    sha256 = sha256_file(source)
    assert [(r.run_key, r.partition_key) for r in result.run_requests] == [(sha256, batch_key("batch-1.csv", sha256))]
    assert (zone.folder(REPORTS) / "batch-1.csv").read_bytes() == source.read_bytes()
    assert _queued(aws_stack, records) == 0  # deleted once the request was made

    zone.land(source)  # the same content announced again: taken once
    again = landing_files(build_sensor_context(instance=dagster_instance, cursor=result.cursor))
    assert again.run_requests == [] and _queued(aws_stack, records) == 0


def test_a_poison_message_is_left_for_the_dead_letter_queue(aws_stack: AwsContext, gxp_home: Path) -> None:
    sqs, records = aws_stack.client("sqs"), aws_stack.resources.RecordsQueueUrl
    zone = landing_zone(AE)
    zone.acknowledge(zone.pull())  # S3's test event is a landing event with nothing in it: deleted
    assert _queued(aws_stack, records) == 0
    sqs.send_message(QueueUrl=records, MessageBody="not an S3 event")
    outside = {"Records": [{"s3": {"object": {"key": "elsewhere/x"}}}]}
    sqs.send_message(QueueUrl=records, MessageBody=json.dumps(outside))
    assert zone.pull() == []  # nothing to acknowledge: neither message is deleted
    assert _queued(aws_stack, records) == 2
    assert announced(json.dumps({"Event": "s3:TestEvent"})) == []
    assert announced(json.dumps({"Records": [{"s3": {"object": {"key": "landing/reports/a+b.csv"}}}]}))[0].name == (
        "a b.csv")  # fmt: skip
