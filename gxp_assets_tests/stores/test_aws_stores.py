"""What only the aws backend promises, against a moto server on loopback with a stack provisioned from deploy/:
encryption and Object Lock on every kept object, multipart upload of large files, the audit head extended only under
a condition (a lost race is chained again, never forked), a state change and its audit entry in one transaction,
S3 Object Lock checkpoints that expose a rewritten tail, notifications routed to their queues, and the landing
bucket notifying the Records queue."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from gxp_assets import stores
from gxp_assets.governance.registry import State
from gxp_assets.stores import aws_artifacts
from gxp_assets.stores.aws_audit import ENTRY, HEAD, AuditConflict, AwsAuditTrail
from gxp_assets.stores.aws_registry import AwsRegistry
from gxp_assets.stores.aws_session import RETRIES, AwsContext
from gxp_assets.stores.notifier import Notification


def _object(context: AwsContext, uri: str) -> dict:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return dict(context.client("s3").head_object(Bucket=bucket, Key=key), Bucket=bucket, Key=key)


def test_every_artifact_is_kms_encrypted_and_locked_in_compliance_mode(aws_stack: AwsContext) -> None:
    ref = stores.artifact_store().put("model_card", None, b"{}", ".json", "run")
    head = _object(aws_stack, ref.uri)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws_stack.resources.KmsKeyArn
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = (head["ObjectLockRetainUntilDate"] - datetime.now(UTC)).days
    assert days >= int(aws_stack.resources.RetentionDays) - 1
    with pytest.raises(ClientError, match="AccessDenied"):  # a locked version cannot be deleted
        aws_stack.client("s3").delete_object(Bucket=head["Bucket"], Key=head["Key"], VersionId=head["VersionId"])


@pytest.fixture
def own_server_stack(aws_stack: AwsContext, moto_endpoint: str) -> Iterator[AwsContext]:
    """A stack whose server state is reset afterwards: after a multipart upload moto's /moto-api/data.json fails
    (an upload part's ``status`` looks up a bucket it has no name of), which would break the SES read-back of later
    tests. Every test provisions its own stack, so a reset between tests takes nothing from another."""
    yield aws_stack
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=30)


def test_a_large_file_goes_up_in_parts_and_reads_back_verified(
    own_server_stack: AwsContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_stack = own_server_stack
    part = 5 * 1024 * 1024  # S3's smallest part
    monkeypatch.setattr(aws_artifacts, "MULTIPART", TransferConfig(multipart_threshold=part, multipart_chunksize=part))
    source = tmp_path / "features.npz"
    source.write_bytes(bytes(range(256)) * (part // 256 * 2 + 7))
    store = stores.artifact_store()
    before = aws_stack.calls["s3:CreateMultipartUpload"]
    ref = store.put_file("report_features", None, source, ".npz", "run")
    assert aws_stack.calls["s3:CreateMultipartUpload"] == before + 1
    assert _object(aws_stack, ref.uri)["ObjectLockMode"] == "COMPLIANCE"
    assert store.local_path(ref).read_bytes() == source.read_bytes()


def test_clients_retry_throttling_with_botocores_standard_mode(aws_stack: AwsContext) -> None:
    for service in ("s3", "dynamodb", "sqs", "ses"):
        assert aws_stack.client(service).meta.config.retries["mode"] == RETRIES.retries["mode"] == "standard"


def test_an_append_that_loses_the_head_is_chained_again_on_the_new_head(
    aws_stack: AwsContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow, fast = AwsAuditTrail(aws_stack), AwsAuditTrail(aws_stack)
    slow.append("system", "alarm", "start", {})
    read_head = slow.head
    raced: list[bool] = []

    def stale_head() -> object:
        head = read_head()
        if not raced:  # another writer extends the chain between our read and our write
            raced.append(True)
            fast.append("bob", "alarm", "race", {"writer": "fast"})
        return head

    monkeypatch.setattr(slow, "head", stale_head)
    before = aws_stack.calls["dynamodb:TransactWriteItems"]
    entry = slow.append("alice", "alarm", "race", {"writer": "slow"})
    assert aws_stack.calls["dynamodb:TransactWriteItems"] == before + 3  # fast's, slow's refused, slow's again
    entries = fast.entries()
    assert [(e.seq, e.details.get("writer")) for e in entries] == [(1, None), (2, "fast"), (3, "slow")]
    assert entry.prev_hash == entries[1].entry_hash and fast.verify() == []


def test_a_state_change_and_its_audit_entry_commit_together_or_not_at_all(aws_stack: AwsContext) -> None:
    registry, trail = AwsRegistry(aws_stack), AwsAuditTrail(aws_stack)
    registry.register("v1", "uc", {"use_case": "uc"}, "alice")
    before = aws_stack.calls["dynamodb:TransactWriteItems"]
    stores.open_governance()._transition("v1", State.PENDING_APPROVAL, "alice", "criteria met")
    assert aws_stack.calls["dynamodb:TransactWriteItems"] == before + 1  # one transaction for both
    assert trail.head().details == {"from": "CANDIDATE", "to": "PENDING_APPROVAL", "reason": "criteria met"}

    items, _ = registry._plan("v1", State.APPROVED, "quinn", "signed")
    registry.transition("v1", State.REJECTED, "mallory", "changed meanwhile")  # the state moves under the plan
    head = trail.head()
    with pytest.raises(AuditConflict, match="nothing was written"):
        trail.append_all([("quinn", "transition", "v1", {"to": "APPROVED"})], extra=items)
    assert trail.head() == head and registry.get("v1").state == State.REJECTED


def test_a_rewritten_tail_is_exposed_by_the_object_lock_checkpoints(aws_stack: AwsContext) -> None:
    trail = AwsAuditTrail(aws_stack)
    for i in range(3):
        trail.append("system", "alarm", "drift", {"i": i})
    assert len(trail.locked_checkpoints()) == 3 and trail.verify() == []
    # Someone with write access deletes the last entry and points the head at the one before: a clean chain.
    trail.table.delete_item(Key={"part": ENTRY, "seq": 3})
    second = trail.entries()[-1]
    trail.table.put_item(Item={"part": HEAD, "seq": 0, "head_seq": 2, "head_hash": second.entry_hash})
    assert any("seq 3" in problem for problem in trail.verify())
    key = next(k for k in aws_stack.client("s3").list_objects_v2(Bucket=trail.bucket, Prefix="audit-checkpoints/")
               ["Contents"] if k["Key"].startswith("audit-checkpoints/000000000003"))["Key"]  # fmt: skip
    assert _object(aws_stack, f"s3://{trail.bucket}/{key}")["ObjectLockMode"] == "COMPLIANCE"


def test_an_edited_entry_or_a_head_out_of_step_is_reported(aws_stack: AwsContext) -> None:
    trail = AwsAuditTrail(aws_stack)
    trail.append("alice", "signature", "v1", {"meaning": "approval"})
    trail.append("system", "alarm", "drift", {})
    item = trail.table.get_item(Key={"part": ENTRY, "seq": 1})["Item"]
    trail.table.put_item(Item={**item, "details": json.dumps({"meaning": "review"})})
    assert any("edited" in problem for problem in trail.verify())
    trail.table.put_item(Item={"part": HEAD, "seq": 0, "head_seq": 9, "head_hash": "f" * 64})
    assert any("head item" in problem for problem in trail.verify())


def test_notifications_go_to_the_queue_of_their_kind(aws_stack: AwsContext) -> None:
    notifier, sqs = stores.notifier(), aws_stack.client("sqs")
    notifier.send(Notification(kind="retraining_requested", subject="drift on batch 7", body="psi 0.31"))
    notifier.send(Notification(kind="model_activated", subject="model v2 is live", body="ACTIVE"))
    for url, kind in ((aws_stack.resources.TrainModelQueueUrl, "retraining_requested"),
                      (aws_stack.resources.TrainingResultsQueueUrl, "model_activated")):  # fmt: skip
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
        assert [json.loads(message["Body"])["kind"] for message in messages] == [kind]


def test_a_file_landed_in_the_bucket_is_announced_on_the_records_queue(aws_stack: AwsContext) -> None:
    resources, sqs = aws_stack.resources, aws_stack.client("sqs")
    key = "landing/ae_triage/reports/b1.csv"
    aws_stack.client("s3").put_object(Bucket=resources.LandingBucket, Key=key, Body=b"a,b\n")
    messages = sqs.receive_message(QueueUrl=resources.RecordsQueueUrl, MaxNumberOfMessages=10)["Messages"]
    records = [record for message in messages for record in json.loads(message["Body"]).get("Records", [])]
    assert [unquote_plus(record["s3"]["object"]["key"]) for record in records] == [key]


def test_a_batch_being_published_by_another_run_is_refused_without_a_trace(aws_stack: AwsContext) -> None:
    import pandas as pd

    from gxp_assets_tests.stores.test_results_local import scored

    store = stores.results_store()
    lease = {"pk": "LEASE#b", "sk": "LEASE", "token": "other-run", "expires": "9999-01-01T00:00:00+00:00"}
    store.table.put_item(Item=lease)
    with pytest.raises(RuntimeError, match="being published by another run"), store.writer("b", "run-2") as writer:
        writer.add(scored("b", 0, 5), pd.DataFrame())
    assert store.batch_summary("b") is None and store.find_report("r1").empty
    store.table.put_item(Item={**lease, "expires": "2000-01-01T00:00:00+00:00"})  # lapsed: taken over
    with store.writer("b", "run-3") as writer:
        writer.add(scored("b", 0, 5), pd.DataFrame())
    assert store.batch_summary("b").run_id == "run-3"
    assert "Item" not in store.table.get_item(Key={"pk": "LEASE#b", "sk": "LEASE"})  # released
