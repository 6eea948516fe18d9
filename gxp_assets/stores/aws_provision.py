"""Making or updating the gxp stack from deploy/gxp_stack.yaml, then checking its controls where they really are.

CloudFormation saying "complete" is not evidence: after the stack settles every resource must have a physical id,
and every control the template declares is read back with the service's own ``get_*`` / ``describe_*`` call
(versioning, Object Lock, encryption, public-access block, bucket notification, point-in-time recovery, table
encryption, queue encryption and dead-letter queue, the SES identity). A control that is missing is applied with the
template's value and reported, so drift is visible; one that cannot be applied after creation (a table's encryption)
is a problem, except on a local endpoint (``AWS_ENDPOINT_URL``) that is known not to keep it, where it is reported as
checked on the template only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

from gxp_assets.stores.aws_session import RETRIES, AwsSetupError, StackResources, name_the_service, problem
from gxp_assets.stores.aws_template import load_template as read_template
from gxp_assets.stores.aws_template import resolve

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "gxp_stack.yaml"
#: Resource types whose effect the control checks below establish when an endpoint's CloudFormation skips them.
CHECKED_BY_CONTROLS = frozenset({"AWS::SQS::QueuePolicy", "AWS::SES::EmailIdentity", "AWS::S3::BucketPolicy"})
PUBLIC_ACCESS_BLOCK = dict.fromkeys(
    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
)


@dataclass
class Provisioned:
    stack: str
    outputs: dict[str, str]
    applied: list[str] = field(default_factory=list)  # controls the stack did not hold, applied with its values
    template_only: list[str] = field(default_factory=list)  # controls a local endpoint cannot hold
    problems: list[str] = field(default_factory=list)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def deploy_stack(cloudformation: Any, stack: str, template: str, parameters: dict[str, str]) -> None:
    """Create the stack, or update it when it exists (no change is not an error); wait until it settles."""
    args: dict[str, Any] = {
        "StackName": stack,
        "TemplateBody": template,
        "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    }
    try:
        cloudformation.describe_stacks(StackName=stack)
        exists = True
    except ClientError as error:
        if "does not exist" not in error.response.get("Error", {}).get("Message", ""):
            raise AwsSetupError(problem(error, f"stack {stack}")) from None
        exists = False
    try:
        if exists:
            cloudformation.update_stack(**args)
        else:
            cloudformation.create_stack(**args)
        cloudformation.get_waiter("stack_update_complete" if exists else "stack_create_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 5, "MaxAttempts": 360}
        )
    except ClientError as error:
        if "No updates are to be performed" not in error.response.get("Error", {}).get("Message", ""):
            raise AwsSetupError(problem(error, f"stack {stack}")) from None
    except WaiterError as error:
        raise AwsSetupError(f"stack {stack} did not settle: {error}; see its events in CloudFormation") from None


class ControlCheck:
    """Reads each control back from its service; applies a missing one where the service allows."""

    def __init__(self, session: boto3.Session, result: Provisioned, resources: StackResources) -> None:
        self.s3 = session.client("s3", config=RETRIES)
        self.dynamodb = session.client("dynamodb", config=RETRIES)
        self.sqs = session.client("sqs", config=RETRIES)
        self.ses = session.client("ses", config=RETRIES)
        self.result, self.resources = result, resources
        self.local_endpoint = bool(os.environ.get("AWS_ENDPOINT_URL"))
        self.plain_http = os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://")

    def _applied(self, what: str) -> None:
        self.result.applied.append(what)

    def bucket(self, name: str, locked: bool, encryption: str = "aws:kms") -> None:
        if self.s3.get_bucket_versioning(Bucket=name).get("Status") != "Enabled":
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            self._applied(f"versioning of bucket {name}")
        try:
            block = self.s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as error:
            if _code(error) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
        if block != PUBLIC_ACCESS_BLOCK:
            self.s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
            self._applied(f"public-access block of bucket {name}")
        rules = self.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        if rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] != encryption:
            self.result.problems.append(f"bucket {name} is not encrypted with {encryption} by default")
        if locked:
            self.object_lock(name)

    def object_lock(self, name: str) -> None:
        retention = {"Mode": "COMPLIANCE", "Days": int(self.resources.RetentionDays)}
        wanted = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}}
        try:
            found = self.s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
        except ClientError as error:
            if _code(error) != "ObjectLockConfigurationNotFoundError":
                raise
            found = {}
        held = found.get("Rule", {}).get("DefaultRetention", {})
        if found.get("ObjectLockEnabled") != "Enabled" or (held.get("Mode"), held.get("Days")) != (
            retention["Mode"], retention["Days"]
        ):
            try:
                self.s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=wanted)
            except ClientError as error:
                self.result.problems.append(problem(error, f"Object Lock of bucket {name}"))
                return
            self._applied(f"Object Lock (COMPLIANCE, {wanted['Rule']['DefaultRetention']['Days']} days) of {name}")

    def notification(self) -> None:
        """The landing bucket announces created objects on the Records queue, filtered by the template's rules
        (``landing/``: every use case's prefix)."""
        name, queue_arn = self.resources.LandingBucket, self.queue_arn(self.resources.RecordsQueueUrl)
        found = self.s3.get_bucket_notification_configuration(Bucket=name).get("QueueConfigurations", [])
        if not any(config["QueueArn"] == queue_arn for config in found):
            [declared] = self.template["Resources"]["LandingBucket"]["Properties"]["NotificationConfiguration"][
                "QueueConfigurations"]  # fmt: skip
            rule = {"FilterRules": declared["Filter"]["S3Key"]["Rules"]}
            self.s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration={"QueueConfigurations": [
                    {"QueueArn": queue_arn, "Events": [declared["Event"]], "Filter": {"Key": rule}}]},
            )  # fmt: skip
            self._applied(f"event notification of bucket {name} to the Records queue")

    def table(self, name: str) -> None:
        backups = self.dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        if backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") != "ENABLED":
            self.dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
            self._applied(f"point-in-time recovery of table {name}")
        sse = self.dynamodb.describe_table(TableName=name)["Table"].get("SSEDescription", {})
        if sse.get("SSEType") != "KMS" or sse.get("Status") not in ("ENABLED", "ENABLING"):
            message = f"KMS encryption of table {name}"
            if self.local_endpoint:
                self.result.template_only.append(message)
            else:
                self.result.problems.append(f"{message} is missing")

    def queue_arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    @cached_property
    def template(self) -> dict[str, Any]:
        """The stack template, parsed once for all the controls read from it."""
        return load_template()

    @cached_property
    def template_values(self) -> dict[str, str]:
        """What the policies of the template refer to, as this stack resolved it (account and partition from an ARN
        the stack made)."""
        outputs, arn = self.result.outputs, self.queue_arn(self.resources.RecordsQueueUrl)
        partition, account = arn.split(":")[1], arn.split(":")[4]
        values = {"AWS::AccountId": account, "AWS::Partition": partition, "RecordsQueue.Arn": arn}
        for bucket in ("ArtifactBucket", "LandingBucket", "AccessLogBucket"):
            values[bucket] = outputs[bucket]
            values[f"{bucket}.Arn"] = f"arn:{partition}:s3:::{outputs[bucket]}"
        return values

    def queue_policy(self) -> None:
        """The Records queue accepts the landing bucket's notifications: the template's statement, resolved."""
        url = self.resources.RecordsQueueUrl
        found = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
        if "s3.amazonaws.com" in found.get("Policy", ""):
            return
        declared = self.template["Resources"]["RecordsQueuePolicy"]["Properties"]["PolicyDocument"]
        values = self.template_values
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(resolve(declared, values))})
        self._applied(f"policy of the Records queue letting S3 notify it (account {values['AWS::AccountId']})")

    def bucket_policy(self, logical: str) -> None:
        """Each bucket holds its template policy (TLS only; log delivery for the access-log bucket): statements the
        bucket lacks are applied with the template's values, resolved. A plain-HTTP local endpoint would rightly deny
        every request under the TLS-only statement, so there it is reported as checked on the template only."""
        name = self.result.outputs[logical]
        declared = self.template["Resources"][f"{logical}Policy"]["Properties"]["PolicyDocument"]
        declared = resolve(declared, self.template_values)
        if self.plain_http:
            declared["Statement"] = [statement for statement in declared["Statement"] if statement["Sid"] != "TlsOnly"]
            self.result.template_only.append(f"TLS-only policy of bucket {name} (the local endpoint is plain HTTP)")
        try:
            found = json.loads(self.s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
        except ClientError as error:
            if _code(error) != "NoSuchBucketPolicy":
                raise
            found = []
        if {statement["Sid"] for statement in declared["Statement"]} <= {statement.get("Sid") for statement in found}:
            return
        if declared["Statement"]:
            self.s3.put_bucket_policy(Bucket=name, Policy=json.dumps(declared))
            self._applied(f"policy of bucket {name} ({', '.join(s['Sid'] for s in declared['Statement'])})")

    def access_logging(self, logical: str) -> None:
        """Server access logs of the bucket go to the access-log bucket under the template's prefix."""
        name, target = self.result.outputs[logical], self.result.outputs["AccessLogBucket"]
        declared = self.template["Resources"][logical]["Properties"]["LoggingConfiguration"]
        enabled = self.s3.get_bucket_logging(Bucket=name).get("LoggingEnabled", {})
        if (enabled.get("TargetBucket"), enabled.get("TargetPrefix")) != (target, declared["LogFilePrefix"]):
            self.s3.put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": target, "TargetPrefix": declared["LogFilePrefix"]}})  # fmt: skip
            self._applied(f"access logging of bucket {name} to {target}")

    def queue(self, url: str, dead_letter_url: str | None) -> None:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if not attributes.get("KmsMasterKeyId"):
            self.result.problems.append(f"queue {url} is not encrypted with the stack's KMS key")
        if dead_letter_url is not None:
            redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
            if redrive.get("deadLetterTargetArn") != self.queue_arn(dead_letter_url):
                self.result.problems.append(f"queue {url} has no dead-letter queue {dead_letter_url}")

    def sender(self) -> None:
        identity = self.resources.SenderEmail
        if identity not in self.ses.list_identities(IdentityType="EmailAddress")["Identities"]:
            self.ses.verify_email_identity(EmailAddress=identity)
            self._applied(f"SES identity {identity} (verification requested)")

    def all(self) -> None:
        resources = self.resources
        self.bucket(resources.ArtifactBucket, locked=True)
        self.bucket(resources.LandingBucket, locked=False)
        self.bucket(self.result.outputs["AccessLogBucket"], locked=False, encryption="AES256")
        for logical in ("AccessLogBucket", "ArtifactBucket", "LandingBucket"):
            self.bucket_policy(logical)
        for logical in ("ArtifactBucket", "LandingBucket"):
            self.access_logging(logical)
        self.notification()
        for table in (resources.ArtifactIndexTable, resources.RegistryTable, resources.AuditTable,
                      resources.ResultsTable):  # fmt: skip
            self.table(table)
        self.queue(resources.RecordsQueueUrl, resources.RecordsDeadLetterQueueUrl)
        self.queue_policy()
        self.queue(resources.TrainModelQueueUrl, None)
        self.queue(resources.ResultsQueueUrl, None)
        self.queue(resources.TrainingResultsQueueUrl, None)
        self.sender()


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The stack template as data (what the tests check the controls on, where an endpoint ignores them)."""
    return read_template(path)


def missing_physical_ids(cloudformation: Any, stack: str, result: Provisioned) -> None:
    """Every resource of the template must exist in the stack with a physical id; a skipped one is a problem unless
    its effect is established and checked by ControlCheck (then it is reported as template-only)."""
    template = load_template()
    found = {
        resource.get("LogicalResourceId"): resource.get("PhysicalResourceId")
        for resource in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    }
    for logical, declared in template["Resources"].items():
        if found.get(logical):
            continue
        if declared["Type"] in CHECKED_BY_CONTROLS:
            result.template_only.append(f"{logical} ({declared['Type']}): skipped by the endpoint, effect checked")
        else:
            result.problems.append(f"stack resource {logical} ({declared['Type']}) has no physical id")


def provision(
    stack: str, parameters: dict[str, str] | None = None, session: boto3.Session | None = None
) -> Provisioned:
    """Create or update ``stack`` from the template, check every resource and control, return its outputs."""
    session = session or boto3.Session()
    session.events.register("after-call", name_the_service)
    cloudformation = session.client("cloudformation", config=RETRIES)
    deploy_stack(cloudformation, stack, TEMPLATE.read_text(encoding="utf-8"), parameters or {})
    try:
        description = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}
        result = Provisioned(stack, outputs)
        missing_physical_ids(cloudformation, stack, result)
        ControlCheck(session, result, StackResources.from_outputs(stack, outputs)).all()
    except ClientError as error:
        raise AwsSetupError(problem(error, f"stack {stack}")) from None
    return result
