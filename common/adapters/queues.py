"""SQS: the only code that sends to, or changes messages of, the queues."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from common.adapters.botocore_errors import error_name
from common.models.errors import QueueError
from common.models.job import QueueMessage, QueueName

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SEND_BATCH_LIMIT = 10  # AWS: at most 10 entries per SendMessageBatch
MAX_VISIBILITY_SECONDS = 43_200  # AWS: 12 hours
MAX_DELAY_SECONDS = 900  # AWS: a message may be delayed 15 minutes at most
_FAILED_ENTRY_RETRIES = 3
MAX_GROUP_ID_CHARS = 128  # AWS: MessageGroupId is 1-128 characters


def group_id(domain: str) -> str:
    """The ``MessageGroupId`` of a domain's bulk-queue messages: the tenant of
    SQS fair queues (docs/adr/0029-fair-bulk-queue.md).

    A domain (a lower-case host name: letters, digits, '-' and '.') is a valid
    group id as it is up to 128 characters; a longer one keeps its first 111
    characters and a hash of the whole, so two domains never share a group.
    """
    if len(domain) <= MAX_GROUP_ID_CHARS:
        return domain
    digest = hashlib.sha256(domain.encode()).hexdigest()[:16]
    return f"{domain[: MAX_GROUP_ID_CHARS - 17]}~{digest}"


class JobQueues:
    """The priority and the bulk queue.

    Every bulk-queue message carries its domain as ``MessageGroupId`` (a
    standard queue with group ids is an SQS fair queue): one domain's large
    backlog does not hold back another domain's bulk send. Priority-queue
    messages carry none: that queue is never a bulk send's.
    """

    def __init__(self, client: SQSClient, *, priority_url: str, bulk_url: str) -> None:
        self._client = client
        self._urls = {QueueName.PRIORITY: priority_url, QueueName.BULK: bulk_url}

    def send(self, messages: Sequence[QueueMessage]) -> list[QueueMessage]:
        """Queue each message on its job's queue, 10 per SendMessageBatch.

        Failed entries are tried again; returns the messages that still could
        not be queued (their jobs stay ``queued`` and the sweeper finds them).
        """
        unsent: list[QueueMessage] = []
        for queue in QueueName:
            mine = [m for m in messages if m.queue is queue]
            for start in range(0, len(mine), SEND_BATCH_LIMIT):
                unsent += self._send_batch(
                    self._urls[queue], mine[start : start + SEND_BATCH_LIMIT], grouped=queue is QueueName.BULK
                )
        return unsent

    def waiting(self, queue: QueueName) -> int:
        """How many messages wait to be received on ``queue``: SQS's
        ``ApproximateNumberOfMessages`` (neither held by a consumer nor
        delayed; approximate, and a moment behind). One GetQueueAttributes."""
        try:
            response = self._client.get_queue_attributes(
                QueueUrl=self._urls[queue], AttributeNames=["ApproximateNumberOfMessages"]
            )
        except (ClientError, BotoCoreError) as exc:
            raise QueueError(f"GetQueueAttributes failed: {error_name(exc)}") from exc
        return int(response.get("Attributes", {}).get("ApproximateNumberOfMessages", "0"))

    @staticmethod
    def _entry(entry_id: str, message: QueueMessage, *, grouped: bool) -> SendMessageBatchRequestEntryTypeDef:
        entry: SendMessageBatchRequestEntryTypeDef = {"Id": entry_id, "MessageBody": message.model_dump_json()}
        if grouped:
            entry["MessageGroupId"] = group_id(message.domain)
        return entry

    def _send_batch(self, url: str, batch: Sequence[QueueMessage], *, grouped: bool) -> list[QueueMessage]:
        pending = {str(i): message for i, message in enumerate(batch)}
        for attempt in range(_FAILED_ENTRY_RETRIES):
            try:
                response = self._client.send_message_batch(
                    QueueUrl=url,
                    Entries=[self._entry(i, m, grouped=grouped) for i, m in pending.items()],
                )
            except (ClientError, BotoCoreError):
                # botocore already retried throttling, 5xx and connection
                # errors; what is left is reported as unsent, not raised: the
                # jobs are safely stored.
                return list(pending.values())
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {i: m for i, m in pending.items() if i in failed}
            if not pending:
                return []
            time.sleep(min(0.05 * (2**attempt), 1.0))
        return list(pending.values())


class DeadLetters:
    """Moves a message that can never be processed to its queue's dead-letter queue."""

    def __init__(self, client: SQSClient, *, dlq_urls: dict[str, str]) -> None:
        """``dlq_urls``: source queue ARN -> its dead-letter queue URL."""
        self._client = client
        self._dlq_urls = dlq_urls

    def park(self, source_arn: str, body: str, reason: str) -> None:
        url = self._dlq_urls.get(source_arn)
        if url is None:
            raise QueueError("no dead-letter queue for this source queue")
        attributes: dict[str, Any] = {"reason": {"DataType": "String", "StringValue": reason[:256]}}
        try:
            self._client.send_message(QueueUrl=url, MessageBody=body or json.dumps(None), MessageAttributes=attributes)
        except ClientError as exc:
            raise QueueError(f"SendMessage (dead letter) failed: {error_name(exc)}") from exc


class Visibility:
    """Delays a received message's next delivery (the retry backoff), or replaces it with a fresh copy."""

    def __init__(
        self, client: SQSClient, *, queue_urls: dict[str, str], grouped_arns: frozenset[str] = frozenset()
    ) -> None:
        """``queue_urls``: queue ARN -> queue URL; ``grouped_arns``: the queues
        whose messages carry their domain as ``MessageGroupId`` (the bulk queue)."""
        self._client = client
        self._urls = queue_urls
        self._grouped = grouped_arns

    def delay(self, source_arn: str, receipt_handle: str, seconds: int) -> None:
        url = self._urls.get(source_arn)
        if url is None:
            raise QueueError("unknown source queue")
        try:
            self._client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=min(seconds, MAX_VISIBILITY_SECONDS)
            )
        except (ClientError, BotoCoreError) as exc:
            code = error_name(exc)
            raise QueueError(f"ChangeMessageVisibility failed: {code}") from exc

    def requeue(self, source_arn: str, body: str, delay_seconds: int) -> None:
        """A fresh copy of a received message on its own queue, delivered after
        ``delay_seconds`` (at most SQS's 900): its receive count starts again."""
        url = self._urls.get(source_arn)
        if url is None:
            raise QueueError("unknown source queue")
        request: dict[str, Any] = {
            "QueueUrl": url,
            "MessageBody": body,
            "DelaySeconds": max(0, min(delay_seconds, MAX_DELAY_SECONDS)),
        }
        if source_arn in self._grouped:
            # A body that is not a job message goes back as it came, in no group.
            with contextlib.suppress(ValidationError):
                request["MessageGroupId"] = group_id(QueueMessage.model_validate_json(body).domain)
        try:
            self._client.send_message(**request)
        except (ClientError, BotoCoreError) as exc:
            code = error_name(exc)
            raise QueueError(f"SendMessage (requeue) failed: {code}") from exc


class ActionsQueue:
    """The actions queue: work an admin's request hands on to finish in the
    background (the rest of a bulk cancel)."""

    def __init__(self, client: SQSClient, *, url: str) -> None:
        self._client = client
        self._url = url

    def send(self, body: str) -> None:
        try:
            self._client.send_message(QueueUrl=self._url, MessageBody=body)
        except (ClientError, BotoCoreError) as exc:
            code = error_name(exc)
            raise QueueError(f"SendMessage (actions) failed: {code}") from exc
