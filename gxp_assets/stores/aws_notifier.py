"""Telling people on AWS: SES e-mail to the stack's notify address, and the message on an SQS queue for machines.

Every notification is e-mailed (PRIORITY reports with their due dates, a model that went live, alarms) and also put
on the queue its kind belongs to: retraining requests on the Train Model queue (manual, scheduled or drift-triggered,
one way in), model and training outcomes on the Training Results queue, everything else on the Results queue.
A ``dedupe_key`` is claimed with a conditional write first, so of two senders at once exactly one sends.
"""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.stores.aws_session import AwsContext
from gxp_assets.stores.notifier import Notification, notification_json

_LOG = logging.getLogger("gxp.notify")
TRAIN_MODEL_KINDS = frozenset({"retraining_requested", "training_requested"})
TRAINING_RESULT_PREFIXES = ("model_", "training_")


class AwsNotifier:
    """``Notifier`` over SES and SQS; the claim of a dedupe key lives in the stack's results table."""

    def __init__(self, context: AwsContext) -> None:
        self.resources = context.resources
        self.ses = context.client("ses")
        self.sqs = context.client("sqs")
        self.claims = context.session.resource("dynamodb").Table(context.resources.ResultsTable)

    def queue_for(self, kind: str) -> str:
        if kind in TRAIN_MODEL_KINDS:
            return self.resources.TrainModelQueueUrl
        if kind.startswith(TRAINING_RESULT_PREFIXES):
            return self.resources.TrainingResultsQueueUrl
        return self.resources.ResultsQueueUrl

    def _claim(self, key: str) -> bool:
        try:
            self.claims.put_item(
                Item={"pk": f"NOTIFIED#{sha256_hex(key.encode())}", "sk": "NOTIFIED", "dedupe_key": key},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def send(self, notification: Notification) -> str:
        if notification.dedupe_key is not None and not self._claim(notification.dedupe_key):
            _LOG.info("%s: already sent (%s)", notification.kind, notification.dedupe_key)
            return f"already sent ({notification.dedupe_key})"
        text = notification_json(notification)
        mail = self.ses.send_email(
            Source=self.resources.SenderEmail,
            Destination={"ToAddresses": [self.resources.NotifyEmail]},
            Message={
                "Subject": {"Data": f"[gxp {notification.kind}] {notification.subject}"[:900]},
                "Body": {"Text": {"Data": f"{notification.body}\n\n--\n{text}\n"}},
            },
        )
        queued = self.sqs.send_message(
            QueueUrl=self.queue_for(notification.kind),
            MessageBody=text,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": notification.kind}},
        )
        _LOG.warning("%s: %s (SES %s)", notification.kind, notification.subject, mail["MessageId"])
        return f"ses:{mail['MessageId']} sqs:{queued['MessageId']}"
