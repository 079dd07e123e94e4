"""The statistics counters and the status events against moto, and what moto
cannot produce at the AWS boundary (``Stubber``): a PutEvents partly refused,
EventBridge down, a counter write refused or conflicting."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from common.adapters.stats_counters import SHARDS, StatsCounters, counter_pk
from common.adapters.status_events import PUT_EVENTS_ENTRIES, PUT_ROUNDS, StatusEventBus, chunks, entry_size
from common.logic.changes import Changes
from common.logic.sending import worker_from_settings
from common.models.job import JobStatus, JobType
from common.models.stats import PLATFORM, StatusEventDetail, StatusTally
from local.template import Stack
from tests.integration.test_send_worker import REGION, CallLog, Harness, failed_ids, make_job

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


def detail(n: int = 0, *, error: str | None = None) -> StatusEventDetail:
    return StatusEventDetail(
        job_id=f"01JB{n:022d}",
        domain="acme.com",
        type="escalation",
        recipient="owner@acme.com",
        status="sent",
        at="2026-12-06T10:00:00.000Z",
        bulk_id=None,
        retry_of=None,
        idempotency_key=None,
        error=error,
    )


def events_client() -> Any:
    return boto3.client("events", region_name=REGION)


# ---------------------------------------------------------------- PutEvents
def test_entries_a_put_refuses_are_put_again_and_only_they() -> None:
    client = events_client()
    bus = StatusEventBus(lambda: client, "default", pause_seconds=0)
    first, second = bus.entry(detail(1)), bus.entry(detail(2))
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"EventId": "e-1"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
            },
            {"Entries": [first, second]},
        )
        stubber.add_response(
            "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-2"}]}, {"Entries": [second]}
        )
        published = bus.publish([detail(1), detail(2)])
        stubber.assert_no_pending_responses()
    assert (published.put, published.failed, published.calls) == (2, 0, 2)


def test_an_entry_refused_every_time_is_given_up_counted_not_raised() -> None:
    client = events_client()
    bus = StatusEventBus(lambda: client, "default", pause_seconds=0)
    with Stubber(client) as stubber:
        for _ in range(PUT_ROUNDS):
            stubber.add_client_error("put_events", "ServiceUnavailable", http_status_code=503)
        published = bus.publish([detail(1)])
        stubber.assert_no_pending_responses()
    assert (published.put, published.failed, published.reason) == (0, 1, "ServiceUnavailable")


def test_puts_hold_at_most_10_entries_and_256_kb() -> None:
    bus = StatusEventBus(events_client, "default")
    small = [bus.entry(detail(n)) for n in range(25)]
    assert [len(c) for c in chunks(small)] == [10, 10, 5]
    large = [bus.entry(detail(n, error="x" * 60_000)) for n in range(9)]
    split = chunks(large)
    assert all(sum(entry_size(e) for e in c) <= 256 * 1024 for c in split)
    assert all(len(c) <= PUT_EVENTS_ENTRIES for c in split)
    assert [len(c) for c in split] == [4, 4, 1]


# ---------------------------------------------------------------- the worker
def test_a_batch_writes_its_counts_once_and_puts_its_sent_events_in_one_call(harness: Harness) -> None:
    jobs = harness.put(make_job(), make_job(job_type=JobType.INVITATION), make_job())
    log, events_log = CallLog(), CallLog()
    log.attach(harness.dynamodb)
    client = events_client()
    events_log.attach(client)
    worker = worker_from_settings(
        harness.settings,
        dynamodb=harness.dynamodb,
        sqs=harness.sqs,
        sesv2=harness.sesv2,
        s3=harness.s3,
        clock=harness.clock,
        jitter=lambda delay: 0,
        events=lambda: client,
    )
    response = harness.process(harness.deliver(), worker)
    assert failed_ids(response) == []
    # One transaction of counters for the batch: per (domain, day, type), the domain's and the platform's.
    (transaction,) = log.params("TransactWriteItems")
    assert len(transaction["TransactItems"]) == 4
    (put,) = events_log.params("PutEvents")
    sent = [json.loads(e["Detail"]) for e in put["Entries"]]
    assert sorted(d["job_id"] for d in sent) == sorted(j.job_id for j in jobs)
    assert {d["status"] for d in sent} == {"sent"}
    day = jobs[0].created_at.date()
    counts = StatsCounters(harness.dynamodb, harness.stack.names["JobsTable"]).read(["acme.com", PLATFORM], day, day)
    # The jobs were written straight to the table (not counted at creation): the batch moved them.
    by = {(k.domain, k.type): v for k, v in counts.items()}
    assert by[("acme.com", JobType.ESCALATION)] == {"queued": -2, "sent": 2}
    assert by[(PLATFORM, JobType.INVITATION)] == {"queued": -1, "sent": 1}


def test_an_eventbridge_outage_fails_no_send(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    job, other = harness.put(make_job(), make_job())
    client = events_client()
    stubber = Stubber(client)
    for _ in range(PUT_ROUNDS):
        stubber.add_client_error("put_events", "ServiceUnavailable", http_status_code=503)
    stubber.activate()
    worker = worker_from_settings(
        harness.settings,
        dynamodb=harness.dynamodb,
        sqs=harness.sqs,
        sesv2=harness.sesv2,
        s3=harness.s3,
        clock=harness.clock,
        jitter=lambda delay: 0,
        events=lambda: client,
    )
    response = harness.process(harness.deliver(), worker)
    stubber.assert_no_pending_responses()
    assert failed_ids(response) == []
    assert harness.job(job.job_id).status is JobStatus.SENT
    assert harness.job(other.job_id).status is JobStatus.SENT
    assert any(r.getMessage() == "status events not put" for r in caplog.records)


def test_a_counter_write_refused_fails_no_send(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    (job,) = harness.put(make_job())

    def refuse(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    harness.dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", refuse)
    try:
        response = harness.process(harness.deliver())
    finally:
        harness.dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", refuse)
    assert failed_ids(response) == []
    assert harness.job(job.job_id).status is JobStatus.SENT
    assert any(r.getMessage() == "statistics counters not written" for r in caplog.records)


# ---------------------------------------------------------------- the counters
def test_a_conflicting_counter_write_is_tried_again_with_the_same_token(stack: Stack) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    tokens: list[str] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: tokens.append(params["ClientRequestToken"]),
    )
    counters = StatsCounters(client, stack.names["JobsTable"])
    tally = StatusTally()
    tally.moved(make_job(), JobStatus.QUEUED, JobStatus.SENT)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "transact_write_items",
            "TransactionCanceledException",
            service_message="conflict",
            response_meta={},
            modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
        )
        stubber.add_response("transact_write_items", {})
        assert counters.add(tally, salt="batch-1") == 1
        stubber.assert_no_pending_responses()
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    # Another batch with the very same changes is another request.
    with Stubber(client) as stubber:
        stubber.add_response("transact_write_items", {})
        counters.add(tally, salt="batch-2")
    assert tokens[2] != tokens[0]


def test_counters_sum_their_shards_on_read(stack: Stack) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    counters = StatsCounters(client, stack.names["JobsTable"])
    job = make_job()
    for n in range(12):  # a dozen batches land on the shards their changes pick
        tally = StatusTally()
        tally.created(job)
        counters.add(tally, salt=f"batch-{n}")
    day = job.created_at.date()
    shards = [
        client.get_item(
            TableName=stack.names["JobsTable"], Key={"pk": {"S": counter_pk("acme.com", day, "escalation", s)}}
        )
        for s in range(SHARDS)
    ]
    assert sum(1 for s in shards if "Item" in s) > 1  # spread over shards
    (counts,) = counters.read(["acme.com"], day, day).values()
    assert counts == {"queued": 12}
    assert counters.read(["acme.com"], date(2020, 1, 1), date(2020, 1, 2)) == {}


def test_a_tally_nets_a_batch_and_drops_what_cancels_out() -> None:
    job = make_job()
    tally = StatusTally()
    tally.moved(job, JobStatus.QUEUED, JobStatus.SENDING)
    tally.moved(job, JobStatus.SENDING, JobStatus.SENT)
    ((_, counts),) = list(tally.deltas())
    assert counts == {"queued": -1, "sent": 1}
    tally.moved(job, JobStatus.SENT, JobStatus.QUEUED)
    assert not tally


def test_changes_flush_after_five_seconds_while_a_batch_goes_on(stack: Stack) -> None:
    now = [0.0]
    writes: list[int] = []

    class Counting(StatsCounters):
        def add(self, tally: StatusTally, *, salt: str = "") -> int:
            writes.append(1)
            return super().add(tally, salt=salt)

    changes = Changes(
        Counting(boto3.client("dynamodb", region_name=REGION), stack.names["JobsTable"]), None, monotonic=lambda: now[0]
    )
    changes.moved(make_job(), JobStatus.QUEUED, JobStatus.SENDING)
    now[0] = 4.9
    changes.flush_if_due()
    assert writes == []
    now[0] = 5.0
    changes.flush_if_due()
    assert writes == [1] and not changes.pending
