"""deploy/gxp_stack.yaml and `gxp aws provision`.

moto's CloudFormation (measured) ignores bucket versioning, Object Lock, public-access blocks, bucket notifications,
DynamoDB SSE and point-in-time recovery, and skips AWS::SQS::QueuePolicy and AWS::SES::EmailIdentity. So the controls
are checked twice: on the template itself (what real CloudFormation applies), and after provisioning with the services'
own get_* / describe_* calls, where the provisioner applied what the endpoint did not keep (and says so). A table's
KMS encryption cannot be set after creation and moto does not keep it: it is checked on the template only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from gxp_assets.stores.aws_provision import TEMPLATE, load_template, provision
from gxp_assets.stores.aws_session import AwsContext, AwsSetupError, StackResources, problem
from gxp_assets.stores.aws_template import resolve
from gxp_assets_tests.conftest import PROJECT_ROOT


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body["Properties"] for name, body in template["Resources"].items() if body["Type"] == kind}


def test_the_template_declares_every_control() -> None:
    template = load_template()
    buckets = _of_type(template, "AWS::S3::Bucket")
    assert set(buckets) == {"ArtifactBucket", "LandingBucket", "AccessLogBucket"}
    for name, properties in buckets.items():
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        if name == "AccessLogBucket":  # S3 delivers server access logs only to SSE-S3 buckets
            assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
            continue
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {
            "Fn::GetAtt": ["Key", "Arn"]}}  # fmt: skip
        assert properties["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    locked = buckets["ArtifactBucket"]
    assert locked["ObjectLockEnabled"] is True
    assert locked["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    notified = buckets["LandingBucket"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notified[0]["Queue"] == {"Fn::GetAtt": ["RecordsQueue", "Arn"]}
    tables = _of_type(template, "AWS::DynamoDB::Table")
    assert len(tables) == 4
    for properties in tables.values():
        sse = {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "Key"}}
        assert properties["SSESpecification"] == sse
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    queues = _of_type(template, "AWS::SQS::Queue")
    assert all(properties["KmsMasterKeyId"] == {"Ref": "Key"} for properties in queues.values())
    working = {name for name in queues if not name.endswith("DeadLetterQueue")}
    assert working == {"RecordsQueue", "TrainModelQueue", "ResultsQueue", "TrainingResultsQueue"}
    assert all("deadLetterTargetArn" in queues[name]["RedrivePolicy"] for name in working)
    assert template["Resources"]["Key"]["Properties"]["EnableKeyRotation"] is True
    assert {field.name for field in fields(StackResources)} <= set(template["Outputs"])


def test_the_template_is_cfn_lint_clean() -> None:
    """cfn-lint is not a dependency of the project: the one on PATH is used, or the test is skipped."""
    command = shutil.which("cfn-lint")
    if command is None:
        pytest.skip("cfn-lint is not on PATH")
    linter = subprocess.run([command, str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert linter.returncode == 0, linter.stdout + linter.stderr


def test_provisioning_leaves_every_control_in_place_where_the_services_report_it(aws_env: dict[str, str]) -> None:
    result = provision("gxp-controls")
    assert result.problems == []
    resources = StackResources.from_outputs("gxp-controls", result.outputs)
    s3, dynamodb, sqs = (boto3.client(name) for name in ("s3", "dynamodb", "sqs"))
    for bucket in (resources.ArtifactBucket, resources.LandingBucket):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert set(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()) == {True}
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    lock = s3.get_object_lock_configuration(Bucket=resources.ArtifactBucket)["ObjectLockConfiguration"]
    assert (lock["Rule"]["DefaultRetention"]["Mode"], lock["Rule"]["DefaultRetention"]["Days"]) == ("COMPLIANCE", 3650)
    records_arn = sqs.get_queue_attributes(QueueUrl=resources.RecordsQueueUrl, AttributeNames=["All"])["Attributes"]
    notified = s3.get_bucket_notification_configuration(Bucket=resources.LandingBucket)["QueueConfigurations"]
    assert [config["QueueArn"] for config in notified] == [records_arn["QueueArn"]]
    assert "s3.amazonaws.com" in json.loads(records_arn["Policy"])["Statement"][0]["Principal"]["Service"]
    assert json.loads(records_arn["RedrivePolicy"])["maxReceiveCount"] == 5
    for table in (resources.ArtifactIndexTable, resources.RegistryTable, resources.AuditTable, resources.ResultsTable):
        backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert resources.SenderEmail in boto3.client("ses").list_identities()["Identities"]
    # Every resource exists with a physical id, or was skipped by the endpoint and its effect checked above.
    assert sorted(line.split(" ")[0] for line in result.template_only if "(AWS::" in line) == [
        "AccessLogBucketPolicy", "ArtifactBucketPolicy", "LandingBucketPolicy", "RecordsQueuePolicy",
        "SenderIdentity"]  # fmt: skip
    access_logs = result.outputs["AccessLogBucket"]
    # moto's endpoint is plain HTTP, which the TLS-only statement would rightly refuse: checked on the template and,
    # for its effect, by test_the_tls_only_statement_refuses_plain_http below; the log-delivery grant is applied.
    assert sorted(line for line in result.template_only if line.startswith("TLS-only")) == sorted(
        f"TLS-only policy of bucket {bucket} (the local endpoint is plain HTTP)"
        for bucket in (resources.ArtifactBucket, resources.LandingBucket, access_logs))  # fmt: skip
    delivery = json.loads(s3.get_bucket_policy(Bucket=access_logs)["Policy"])["Statement"]
    assert [(statement["Sid"], statement["Principal"]) for statement in delivery] == [
        ("S3DeliversAccessLogs", {"Service": "logging.s3.amazonaws.com"})]  # fmt: skip
    for bucket, prefix in ((resources.ArtifactBucket, "artifact/"), (resources.LandingBucket, "landing/")):
        assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"] == {"TargetBucket": access_logs,
                                                                          "TargetPrefix": prefix}  # fmt: skip

    again = provision("gxp-controls")  # an update with nothing to change is not an error, and changes nothing
    assert again.problems == [] and again.applied == [] and again.outputs == result.outputs


def test_a_missing_or_half_created_stack_is_one_line_naming_it(aws_env: dict[str, str]) -> None:
    with pytest.raises(AwsSetupError, match=r"stack nowhere does not exist in region eu-west-1"):
        AwsContext("nowhere")
    cloudformation = boto3.client("cloudformation")
    half = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {"RecordsQueueUrl": {"Value": {"Ref": "Q"}}}}  # fmt: skip
    cloudformation.create_stack(StackName="half", TemplateBody=json.dumps(half))
    with pytest.raises(AwsSetupError, match=r"stack half has no output KmsKeyArn .*half-created") as raised:
        AwsContext("half")
    assert "\n" not in str(raised.value)


def test_an_aws_error_names_the_resource_and_the_permission(aws_stack: AwsContext) -> None:
    with pytest.raises(ClientError) as raised:
        aws_stack.client("s3").get_object(Bucket="gxp-no-such-bucket", Key="x")
    message = problem(raised.value, "bucket gxp-no-such-bucket")
    assert message.startswith("bucket gxp-no-such-bucket: NoSuchBucket on s3:GetObject")
    assert "check the permission s3:GetObject" in message and "\n" not in message


def _gxp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gxp_assets.cli", *args], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=300)  # fmt: skip


def test_gxp_aws_provision_prints_the_outputs_and_bad_setups_fail_in_one_line(
    aws_env: dict[str, str], tmp_path: Any
) -> None:
    env = {**os.environ, **aws_env, "GXP_HOME": str(tmp_path)}
    done = _gxp(env, "aws", "provision", "--stack", "cli-stack", "--parameter", "NotifyEmail=pv@example.org")
    assert done.returncode == 0, done.stderr
    assert "NotifyEmail                  pv@example.org" in done.stdout and "GXP_AWS_STACK=cli-stack" in done.stdout

    missing = _gxp({**env, "GXP_ENV": "aws", "GXP_AWS_STACK": "no-such-stack"}, "registry", "list")
    unset = _gxp({**env, "GXP_ENV": "aws"}, "audit", "verify")
    for failed in (missing, unset):
        assert failed.returncode == 1 and "Traceback" not in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1
    assert "stack no-such-stack does not exist in region eu-west-1" in missing.stderr
    assert "GXP_AWS_STACK" in unset.stderr
    no_region = {name: value for name, value in env.items() if name not in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    denied = _gxp({**no_region, "AWS_CONFIG_FILE": str(tmp_path / "none")}, "aws", "provision", "--stack", "x")
    assert denied.returncode == 1 and "Traceback" not in denied.stderr and "region" in denied.stderr


def test_the_tls_only_statement_refuses_plain_http(aws_env: dict[str, str]) -> None:
    """The template's TlsOnly statement, resolved for a bucket, denies what moto receives over plain HTTP (moto
    evaluates bucket policies with aws:SecureTransport), and nothing else changed for the bucket."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gxp-tls-only", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="gxp-tls-only", Key="before", Body=b"x")
    declared = load_template()["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    arn = "arn:aws:s3:::gxp-tls-only"
    s3.put_bucket_policy(Bucket="gxp-tls-only", Policy=json.dumps(resolve(declared, {
        "ArtifactBucket.Arn": arn, "ArtifactBucket": "gxp-tls-only"})))  # fmt: skip
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="gxp-tls-only", Key="after", Body=b"x")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
