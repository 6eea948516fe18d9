"""The landing zone on aws: a file put under landing/<use_case>/<kind>/ in the landing bucket is announced on the one
Records queue by S3, and a landing sensor copies it into the mirror of the use case its key names, requests scoring
of its own use case's files once (run key = the SHA-256) and only then deletes the message; a message that is not a
landing event of a declared use case stays for the dead-letter queue."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import DagsterInstance, build_sensor_context

from gxp_assets.core.hashing import sha256_file
from gxp_assets.definitions import defs
from gxp_assets.stores import landing_zone
from gxp_assets.stores.aws_landing import announced
from gxp_assets.stores.aws_provision import TEMPLATE
from gxp_assets.stores.aws_session import AwsContext
from gxp_assets.stores.aws_template import load_template
from gxp_assets.stores.landing import ADJUDICATIONS, REPORTS, batch_key
from gxp_assets_tests.conftest import AE, ae_scope

DR = "dissolution_risk"
CSV = "report_id,document_id,source,text,received_at\nr1,d1,social_media,headache,2026-03-01T00:00:00Z\n"

landing_files = defs.resolve_sensor_def(ae_scope().name("landing_files"))


def _queued(context: AwsContext, url: str) -> int:
    attributes = context.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_file_landed_in_s3_is_scored_once_and_its_message_deleted_after_the_request(
    aws_stack: AwsContext, gxp_home: Path, dagster_instance: DagsterInstance, tmp_path: Path
) -> None:
    source = tmp_path / "batch-1.csv"
    source.write_text(CSV)
    zone = landing_zone(AE)
    assert zone.land(source) == "landing/ae_triage/reports/batch-1.csv"
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
    # another prefix, the landing/<kind>/ keys of before use cases, a use case nobody declared, a sub-folder
    for key in ("elsewhere/x", "landing/reports/x.csv", "landing/nobody/reports/x.csv", f"landing/{AE}/reports/a/b"):
        sqs.send_message(QueueUrl=records, MessageBody=json.dumps({"Records": [{"s3": {"object": {"key": key}}}]}))
    assert zone.pull() == []  # nothing to acknowledge: no message is deleted
    assert _queued(aws_stack, records) == 5
    assert announced(json.dumps({"Event": "s3:TestEvent"}), {AE}) == []
    [landed] = announced(json.dumps({"Records": [{"s3": {"object": {"key": f"landing/{AE}/reports/a+b.csv"}}}]}), {AE})
    assert (landed.use_case, landed.kind, landed.name) == (AE, REPORTS, "a b.csv")


def test_each_use_case_takes_only_its_own_files_from_the_one_records_queue(
    aws_stack: AwsContext, gxp_home: Path, dagster_instance: DagsterInstance, tmp_path: Path
) -> None:
    ae_file, dr_file, labels = tmp_path / "ae-batch.csv", tmp_path / "dr-batch.csv", tmp_path / "dr-labels.csv"
    ae_file.write_text(CSV)
    dr_file.write_text("batch_id;product\nB1;P-100\n")
    labels.write_text("report_id,label,adjudicated_at,adjudicator\nB1,1,2026-03-02T00:00:00Z,qa\n")
    ae, dr = landing_zone(AE), landing_zone(DR)
    assert dr.land(dr_file) == f"landing/{DR}/reports/dr-batch.csv"
    assert dr.land(labels, ADJUDICATIONS) == f"landing/{DR}/adjudications/dr-labels.csv"
    ae.land(ae_file)
    s3, records = aws_stack.client("s3"), aws_stack.resources.RecordsQueueUrl
    s3.put_object(Bucket=aws_stack.resources.LandingBucket, Key=f"outside/{AE}/reports/x.csv", Body=b"x")
    assert _queued(aws_stack, records) == 4  # S3's test event and the three landed files; outside/ is filtered out

    result = landing_files(build_sensor_context(instance=dagster_instance))  # ae_triage's sensor pulls the queue
    sha256 = sha256_file(ae_file)
    assert [(r.run_key, r.job_name) for r in result.run_requests] == [(sha256, ae_scope().name("score_batch"))]
    assert [file.name for file in ae.scan(REPORTS)[0]] == ["ae-batch.csv"] and ae.scan(ADJUDICATIONS)[0] == []
    # dissolution_risk's files were handed to its own mirror, where its sensor (not ae_triage's) takes them
    assert [file.name for file in dr.scan(REPORTS)[0]] == ["dr-batch.csv"]
    assert (dr.folder(ADJUDICATIONS) / "dr-labels.csv").read_bytes() == labels.read_bytes()
    assert dr.folder(REPORTS) == gxp_home / "landing" / DR / "reports"
    assert _queued(aws_stack, records) == 0 and dr.pull() == []


def test_the_template_sends_every_use_cases_landing_prefix_to_the_one_records_queue(aws_stack: AwsContext) -> None:
    """moto's CloudFormation ignores the bucket's NotificationConfiguration (the provisioner applies the template's
    rule), so the template is read as CloudFormation reads it, and the stack on moto is checked to hold that rule."""
    template = load_template(TEMPLATE)
    [config] = template["Resources"]["LandingBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Queue"] == {"Fn::GetAtt": ["RecordsQueue", "Arn"]} and config["Event"] == "s3:ObjectCreated:*"
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "landing/"}]
    queues = sorted(name for name, resource in template["Resources"].items() if resource["Type"] == "AWS::SQS::Queue")
    assert [name for name in queues if name.startswith("Records")] == ["RecordsDeadLetterQueue", "RecordsQueue"]
    text = TEMPLATE.read_text(encoding="utf-8")
    assert AE not in text and DR not in text  # declaring a use case needs no change to the stack
    found = aws_stack.client("s3").get_bucket_notification_configuration(Bucket=aws_stack.resources.LandingBucket)
    [applied] = found["QueueConfigurations"]
    rules = [(rule["Name"].lower(), rule["Value"]) for rule in applied["Filter"]["Key"]["FilterRules"]]
    assert rules == [("prefix", "landing/")]  # S3 answers the rule's name as "Prefix"
