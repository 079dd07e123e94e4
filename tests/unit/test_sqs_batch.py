"""The worker's partial batch response (common.adapters.sqs_batch): what
Powertools' BatchProcessor answered for SQS, without its import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.adapters.sqs_batch import SqsRecord, process_partial_response

EVENTS = Path(__file__).resolve().parent.parent / "events"


def record(message_id: str, body: str = "{}", receive_count: str | None = "1") -> dict[str, object]:
    attributes = {} if receive_count is None else {"ApproximateReceiveCount": receive_count}
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": attributes,
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:priority",
    }


def test_only_the_records_whose_handler_raised_are_reported_in_order() -> None:
    seen: list[str] = []

    def handler(r: SqsRecord) -> str:
        seen.append(r.message_id)
        if r.body == "bad":
            raise ValueError("no")
        return "ok"

    event = {"Records": [record("a"), record("b", "bad"), record("c"), record("d", "bad")]}
    assert process_partial_response(event, handler) == {
        "batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "d"}]
    }
    assert seen == ["a", "b", "c", "d"]


def test_a_batch_that_all_failed_is_reported_record_by_record_not_raised() -> None:
    def handler(r: SqsRecord) -> None:
        raise RuntimeError("down")

    event = {"Records": [record("a"), record("b")]}
    assert process_partial_response(event, handler) == {
        "batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]
    }


def test_a_batch_that_all_succeeded_reports_nothing() -> None:
    assert process_partial_response({"Records": [record("a")]}, lambda r: None) == {"batchItemFailures": []}
    assert process_partial_response({"Records": []}, lambda r: None) == {"batchItemFailures": []}


def test_the_record_carries_what_the_worker_reads() -> None:
    made: list[SqsRecord] = []
    process_partial_response({"Records": [record("a", '{"job_id": "x"}', "7")]}, made.append)
    assert made == [
        SqsRecord(
            message_id="a",
            body='{"job_id": "x"}',
            receipt_handle="handle-a",
            event_source_arn="arn:aws:sqs:us-east-1:123456789012:priority",
            approximate_receive_count=7,
        )
    ]


@pytest.mark.parametrize("count", [None, ""])
def test_a_record_without_a_receive_count_counts_as_its_first_receive(count: str | None) -> None:
    made: list[SqsRecord] = []
    process_partial_response({"Records": [record("a", receive_count=count)]}, made.append)
    assert made[0].approximate_receive_count == 1


def test_the_shared_sample_event_parses() -> None:
    event = json.loads((EVENTS / "sqs_send_worker.json").read_text(encoding="utf-8"))
    made: list[SqsRecord] = []
    process_partial_response(event, made.append)
    assert [r.message_id for r in made] == [raw["messageId"] for raw in event["Records"]]
    assert all(r.event_source_arn.startswith("arn:aws:sqs:") for r in made)
