"""Figure 1's first-principles minimum and how its headline is counted (the
measurements run in the smoke run), figure 8's summary row."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from benchmarks import calls
from benchmarks.calls import (
    BATCH_GET,
    BWI,
    DELETE,
    GET,
    PUT_EVENTS,
    QUERY,
    RECEIVE,
    SEND,
    SMB,
    UPDATE,
    EventsResult,
    ToDelivered,
    WorkerResult,
)
from benchmarks.cancel import GATEWAY_SECONDS, CancelCost, summary_row
from benchmarks.recording import Call, Observed, Segment

CALLS = Path(calls.__file__)


def test_a_bulk_of_1000_to_delivered_needs_4_563_calls_per_email_from_first_principles() -> None:
    # Given the model: 10 suppression reads, 1 read of the domain's standing, 41 BatchWriteItem of
    # 25 (1,000 jobs, the body, the bulk's record), 100 SendMessageBatch, 1 counters write; per batch
    # of 10 one read, one counters write and one PutEvents; per email a claim, a send, an outcome;
    # per event one write; per 100 events one counters write; per 10 events one PutEvents
    needs = calls.bulk_to_delivered_needs(1000)

    # Then
    sending = 10 + 1 + 41 + 100 + 1 + 100 + 1000 + 1000 + 1000 + 100 + 100
    assert calls.total(needs) == sending + 1000 + 10 + 100
    assert calls.total(needs) / 1000 == pytest.approx(4.563)


def test_the_model_amortises_by_aws_limits_only() -> None:
    # An enqueue of 100 with keys: one read of 100 suppression entries, 2 x 100 items in transactions
    # of 100, 10 SendMessageBatch; without keys: 4 BatchWriteItem of 25; and one counters write
    assert calls.total(calls.enqueue_needs(100, keyed=True)) == 1 + 2 + 10 + 1
    assert calls.total(calls.enqueue_needs(100)) == 1 + 4 + 10 + 1
    assert calls.total(calls.enqueue_needs(1)) == 4
    # A keyed bulk of 1,000 with 100 selected rows: the rows, the suppression entries, the standing,
    # the key's claim, 11 transactions of 100 conditional puts, the stored answer, 100 SendMessageBatch,
    # one counters write
    assert calls.total(calls.bulk_needs(1000, selected=100, keyed=True)) == 1 + 10 + 1 + 1 + 11 + 1 + 100 + 1
    # The worker: 203 emails in batches of 10 are 21 batch reads, 21 counters writes, 21 PutEvents
    assert calls.total(calls.worker_needs(203)) == 21 + 3 * 203 + 21 + 21


def test_the_model_reads_nothing_of_the_service() -> None:
    # A minimum taken from the implementation's own constants makes every ratio 1.00x
    tree = ast.parse(CALLS.read_text(encoding="utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not [name for name in imported if name.startswith(("common", "functions", "local"))]


def test_the_event_source_mappings_receives_and_deletes_are_not_counted() -> None:
    assert calls.counted({UPDATE: 20, SEND: 10, RECEIVE: 2, DELETE: 2, BATCH_GET: 1}) == 31


def test_the_headline_adds_the_sending_path_and_the_event_path_per_email() -> None:
    # Given a bulk of 10: its request's 14 calls, the worker's 41 (and the mapping's 2), the events' 10
    found = ToDelivered(
        "bulk send of 10",
        10,
        request={BATCH_GET: 1, QUERY: 10, BWI: 1, SMB: 1, UPDATE: 1},
        worker={UPDATE: 20, GET: 10, SEND: 10, BATCH_GET: 1, RECEIVE: 1, DELETE: 1},
        events={UPDATE: 10, RECEIVE: 1, DELETE: 1},
    )

    # Then
    assert found.sending_path == pytest.approx((14 + 41) / 10)
    assert found.event_path == pytest.approx(1.0)
    assert found.per_email == pytest.approx(6.5)
    # The minimum for 10: the request 1 + 1 + 1 + 1 + 1 (counters), the worker 1 + 10 x 3 + 1 + 1
    # (counters, PutEvents), the events 10 + 1 + 1 = 50
    assert found.minimum == pytest.approx(5.0)
    assert found.ratio == pytest.approx(6.5 / 5.0)


def test_the_printed_line_has_issue_28s_wording() -> None:
    found = ToDelivered("bulk send of 1,000", 1000, {SMB: 100}, {UPDATE: 2000, SEND: 1000}, {UPDATE: 1000})
    counts = calls.CallCounts(
        rounds=[
            calls.Round(
                cases=[calls.CaseResult(found.name, 1000, found.request, calls.bulk_needs(1000), 0, 1.0)],
                worker=WorkerResult(1000, found.worker, 0, 100),
                events=EventsResult(1000, found.events, {PUT_EVENTS: 1000}, 0),
            )
        ],
        enqueue_ms={},
    )

    assert calls.printed_line(counts) == "calls per email, bulk of 1,000 to delivered: 4.10"
    assert counts.to_delivered == found


def test_events_of_two_rounds_add_up_and_ses_s_calls_stay_apart() -> None:
    one = EventsResult(emails=3, calls={UPDATE: 3, RECEIVE: 1}, not_ours={PUT_EVENTS: 3}, empty_polls=2)
    two = EventsResult(emails=12, calls={UPDATE: 12, DELETE: 2}, not_ours={PUT_EVENTS: 12}, empty_polls=1)

    both = one + two

    assert (both.emails, both.empty_polls) == (15, 3)
    assert both.calls == {UPDATE: 15, RECEIVE: 1, DELETE: 2}
    assert both.not_ours == {PUT_EVENTS: 15}
    assert both.counted == 15
    # 15 writes, one counters transaction (of up to 100 events), 2 PutEvents of 10
    assert calls.total(both.needs) == 15 + 1 + 2


def test_figure_8_s_summary_row_sets_the_request_against_the_gateway_s_limit() -> None:
    cost = CancelCost(jobs=1000, canceled_in_request=600, pending=400, request_seconds=8.7, total_seconds=14.0)

    row = summary_row(cost)

    assert row.figure == "8. Cancel"
    assert "1,000" in row.what
    assert row.measured == "8.7 s"
    assert row.ratio == 8.7 / GATEWAY_SECONDS


def test_ses_s_own_publishing_is_set_apart_and_the_service_s_events_are_counted() -> None:
    # Given an events stretch: SES's PutEvents of a delivery, and one of the service's own
    put = Call("events", "PutEvents")
    segment = Segment()
    segment.calls[put] += 2
    segment.calls[Call("dynamodb", "UpdateItem")] += 1
    segment.requests += [
        (put, {"Entries": [{"Source": "aws.ses", "DetailType": "Email Delivered"}]}),
        (put, {"Entries": [{"Source": "privas.email-operations", "DetailType": "Email Status Changed"}]}),
    ]
    bench: Any = object()  # no DynamoDB call here names a table

    found = calls._events(bench, segment, 1, Observed(), Observed(receives_with_messages=1))

    assert found.not_ours == {PUT_EVENTS: 1}
    assert found.calls == {UPDATE: 1, PUT_EVENTS: 1, RECEIVE: 1}
    assert found.counted == 2
