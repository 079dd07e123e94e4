"""An SQS event's records, handled one by one, answered as a partial batch
response (``ReportBatchItemFailures``): the records whose handler raised go
back to the queue, the others are deleted by the event source mapping.

What Powertools' ``BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)``
with ``process_partial_response`` does for this service, without its import:
``aws_lambda_powertools.utilities.batch`` loads every event data class and,
once pydantic is loaded, builds the parser's models of every event source
(Kafka, Kinesis, DynamoDB streams...): most of the worker's cold start above
``import boto3`` (docs/adr/0033-cold-starts.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypedDict

from common.adapters.observability import logger


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class PartialItemFailureResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class SqsRecord(NamedTuple):
    """The fields of one SQS record the handlers read."""

    message_id: str
    body: str
    receipt_handle: str
    event_source_arn: str
    approximate_receive_count: int

    @classmethod
    def from_event(cls, raw: Mapping[str, Any]) -> SqsRecord:
        attributes = raw.get("attributes") or {}
        return cls(
            message_id=str(raw["messageId"]),
            body=str(raw.get("body") or ""),
            receipt_handle=str(raw.get("receiptHandle") or ""),
            event_source_arn=str(raw.get("eventSourceARN") or ""),
            approximate_receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
        )


def process_partial_response(
    event: Mapping[str, Any], handler: Callable[[SqsRecord], object]
) -> PartialItemFailureResponse:
    """Every record, in order; a record whose handler raises is reported failed
    (even when all are: each goes back to the queue on its own)."""
    failures: list[BatchItemFailure] = []
    for raw in event.get("Records") or []:
        try:
            handler(SqsRecord.from_event(raw))
        except Exception as exc:  # noqa: BLE001 - any failure: the record goes back to the queue
            # The handler logs what it knows; the type only here (a message may quote the record).
            logger.debug("record reported failed", extra={"error_type": type(exc).__name__})
            failures.append({"itemIdentifier": str(raw.get("messageId", ""))})
    return {"batchItemFailures": failures}
