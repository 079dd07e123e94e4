"""Scheduled sends (send_at, status scheduled) and test sends (POST /jobs/test)
through the functions' handlers on moto: EnqueueFunction, BulkQueueFunction,
ListJobsFunction, JobActionsFunction and the scheduler (SchedulerFunction,
its calls checked against its role)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from common.adapters import aws
from common.adapters import index_keys as keys
from common.adapters.attribute_values import deserialize
from common.adapters.suppressions import SuppressionStore
from common.logic.scheduler import Scheduler, ScheduleReport, scheduler_from_settings
from common.models.clock import to_rfc3339, utc_now
from common.models.pipeline_settings import get_scheduler_settings
from common.models.suppression import SuppressionEntry, SuppressionReason
from local import iam
from local.template import Stack
from tests.helpers import enforced, load_function, without
from tests.integration.api_support import Admin, Reply
from tests.integration.test_domain_paused import history
from tests.integration.test_job_actions import Actions
from tests.integration.test_send_worker import FakeClock

REGION = "us-east-1"
enqueue = load_function("enqueue").handler
SUBJECT = "Our opening hours over the holidays"
BODY = "We are open every day from 9 to 17."


@pytest.fixture
def admin(stack: Stack, lambda_context: Any) -> Actions:
    return Actions(lambda_context, domains="acme.com beta.io")


class Sleeper:
    """The scheduler's clock and sleep: a sleep moves the clock on, nothing waits."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)


def scheduler(clock: FakeClock) -> Scheduler:
    # The functions' own clients: their calls are checked against the role they run as.
    made = scheduler_from_settings(get_scheduler_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs(), clock=clock)
    made._sleep = Sleeper(clock)
    return made


def run_scheduler(clock: FakeClock) -> ScheduleReport:
    """One run, its AWS calls made as SchedulerFunction (checked against its role)."""
    with iam.running_as("SchedulerFunction"):
        return scheduler(clock).run(time_left_ms=lambda: 110_000)


def item(stack: Stack, pk: str) -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name=REGION)
    raw = client.get_item(TableName=stack.names["JobsTable"], Key={"pk": {"S": pk}}, ConsistentRead=True)
    return deserialize(raw.get("Item") or {})


def messages(stack: Stack, queue: str) -> list[dict[str, Any]]:
    client = boto3.client("sqs", region_name=REGION)
    found: list[dict[str, Any]] = []
    while batch := client.receive_message(QueueUrl=stack.names[queue], MaxNumberOfMessages=10).get("Messages", []):
        found += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            client.delete_message(QueueUrl=stack.names[queue], ReceiptHandle=m["ReceiptHandle"])
    return found


def email(send_at: Any, **fields: Any) -> dict[str, Any]:
    return {
        "type": "escalation",
        "domain": "acme.com",
        "to": "owner@acme.com",
        "subject": "A visitor rang the bell",
        "body_text": "Someone is waiting in the chat.",
        "send_at": send_at,
    } | fields


def at(moment: datetime) -> str:
    return to_rfc3339(moment)


# ------------------------------------------------------------------ enqueue
def test_a_job_sent_at_a_time_ahead_waits_scheduled_then_is_queued_at_that_time(
    stack: Stack, admin: Actions, lambda_context: Any
) -> None:
    # Given an escalation enqueued for five minutes from now
    now = utc_now()
    send_at = now + timedelta(minutes=5)
    [job_id] = enqueue(email(at(send_at)), lambda_context)["job_ids"]

    # Then it is scheduled, listed under that status with its send_at, and not queued
    shown = admin.get(job_id).body
    assert (shown["status"], shown["send_at"]) == ("scheduled", at(send_at))
    listed = admin.list_jobs(domain="acme.com", status="scheduled").body["items"]
    assert [(j["job_id"], j["send_at"]) for j in listed] == [(job_id, at(send_at))]
    assert [j["job_id"] for j in admin.list_jobs(status="scheduled").body["items"]] == [job_id]  # all domains
    assert messages(stack, "PriorityQueue") == []
    assert item(stack, job_id)["wk"].startswith("sp#")

    # When the scheduler runs a minute before: nothing is due in its window
    clock = FakeClock(send_at - timedelta(seconds=90))
    report = run_scheduler(clock)
    assert (report.read, report.released) == (0, 0)
    assert admin.get(job_id).body["status"] == "scheduled"

    # When it runs 30 s before: it reads the job, waits for its time, releases it then
    clock = FakeClock(send_at - timedelta(seconds=30))
    report = run_scheduler(clock)
    assert (report.read, report.released, report.queued, report.left) == (1, 1, 1, 0)
    assert clock.now >= send_at and report.late_max <= 1.0
    # ... queued, on the priority queue (an escalation), now the sweeper's
    assert admin.get(job_id).body["status"] == "queued"
    assert [m["job_id"] for m in messages(stack, "PriorityQueue")] == [job_id]
    stored = item(stack, job_id)
    assert stored["wk"].startswith("p#") and stored["sweep_at"] == stored["due_at"]
    assert "esk" not in stored and "fk" in stored
    # ... and a second run releases nothing more
    assert run_scheduler(clock).released == 0


def test_a_time_past_or_within_a_second_sends_at_once(stack: Stack, admin: Actions, lambda_context: Any) -> None:
    now = utc_now()
    ids = enqueue(
        {"jobs": [email(at(now - timedelta(days=2))), email(at(now + timedelta(milliseconds=500)))]}, lambda_context
    )["job_ids"]
    for job_id in ids:
        shown = admin.get(job_id).body
        assert (shown["status"], shown["send_at"]) == ("queued", None)
    assert sorted(m["job_id"] for m in messages(stack, "PriorityQueue")) == sorted(ids)


@pytest.mark.parametrize(
    "send_at",
    [
        "tomorrow",
        "2026-13-01T09:00:00Z",
        "2026-12-24T09:00:00",  # no zone
        "2026-12-24",
        1767000000,
        "later-than-thirty-days",
    ],
)
def test_a_send_at_not_a_time_or_over_30_days_ahead_is_a_validation_error(
    stack: Stack, lambda_context: Any, send_at: Any
) -> None:
    if send_at == "later-than-thirty-days":
        send_at = at(utc_now() + timedelta(days=30, minutes=5))
    answer = enqueue({"jobs": [email(at(utc_now())), email(send_at)]}, lambda_context)
    assert answer["error"]["code"] == "validation_error"
    assert [(d["index"], d["field"]) for d in answer["error"]["details"]] == [(1, "send_at")]
    assert messages(stack, "PriorityQueue") == []
    scan = boto3.client("dynamodb", region_name=REGION).scan(TableName=stack.names["JobsTable"])
    assert scan["Items"] == []  # nothing of the payload written


def test_thirty_days_ahead_is_accepted(stack: Stack, admin: Actions, lambda_context: Any) -> None:
    send_at = utc_now() + timedelta(days=29, hours=23)
    [job_id] = enqueue(email(send_at.isoformat()), lambda_context)["job_ids"]  # an offset, +00:00
    assert admin.get(job_id).body["send_at"] == at(send_at)


def test_a_job_canceled_while_scheduled_is_never_sent(stack: Stack, admin: Actions, lambda_context: Any) -> None:
    send_at = utc_now() + timedelta(minutes=2)
    [job_id] = enqueue(email(at(send_at)), lambda_context)["job_ids"]
    # When an admin cancels it while it waits
    reply = admin.cancel(job_id)
    assert (reply.status, reply.body["status"]) == (200, "canceled")
    # Then its schedule goes with it (its Due entry is out), and the scheduler sends nothing
    assert "wk" not in item(stack, job_id) and "sweep_at" not in item(stack, job_id)
    report = run_scheduler(FakeClock(send_at - timedelta(seconds=10)))
    assert report.released == 0
    assert messages(stack, "PriorityQueue") == []
    assert admin.get(job_id).body["status"] == "canceled"


def test_a_cancel_the_index_did_not_show_yet_releases_nothing_and_the_entry_goes(
    stack: Stack, admin: Actions, lambda_context: Any
) -> None:
    """The scheduler read the entry before the cancel: its conditional release is refused."""
    send_at = utc_now() + timedelta(minutes=2)
    [job_id] = enqueue(email(at(send_at)), lambda_context)["job_ids"]
    clock = FakeClock(send_at - timedelta(seconds=20))
    made = scheduler(clock)
    sleep = made._sleep

    def cancel_then_sleep(seconds: float) -> None:
        admin.cancel(job_id)  # while the run waits for the job's time
        made._sleep = sleep
        sleep(seconds)

    made._sleep = cancel_then_sleep
    with iam.running_as("SchedulerFunction"):
        report = made.run(time_left_ms=lambda: 110_000)
    assert (report.read, report.released) == (1, 0)
    assert messages(stack, "PriorityQueue") == []
    assert admin.get(job_id).body["status"] == "canceled"


# ------------------------------------------------------------------ bulk sends
def bulk(admin: Admin, **fields: Any) -> Reply:
    return admin.bulk(
        {"domain": "acme.com", "subject": SUBJECT, "body": BODY, "extra_recipients": "a@x.org, b@y.org, c@z.org"}
        | fields
    )


def test_a_scheduled_bulk_waits_then_its_jobs_are_queued_at_its_time(stack: Stack, admin: Actions) -> None:
    send_at = utc_now() + timedelta(hours=3)
    reply = bulk(admin, send_at=at(send_at))
    assert reply.status == 202 and reply.body["queued"] == 3
    bulk_id = reply.body["bulk_id"]
    progress = admin.bulk_progress(bulk_id).body
    assert progress["send_at"] == at(send_at)
    assert progress["counts"]["scheduled"] == 3 and progress["total"] == 3
    assert {j["status"] for j in admin.list_jobs(bulk_id=bulk_id).body["items"]} == {"scheduled"}
    assert {j["send_at"] for j in admin.list_jobs(bulk_id=bulk_id).body["items"]} == {at(send_at)}
    assert messages(stack, "BulkQueue") == []
    assert item(stack, f"k#{bulk_id}")["wk"].startswith("sb#")

    report = run_scheduler(FakeClock(send_at - timedelta(seconds=5)))
    assert (report.read, report.released, report.queued) == (1, 3, 3)
    assert sorted(m["job_id"] for m in messages(stack, "BulkQueue")) == sorted(reply.body["job_ids"])
    assert admin.bulk_progress(bulk_id).body["counts"]["queued"] == 3
    # the bulk's item is the sweeper's from now on
    assert item(stack, f"k#{bulk_id}")["wk"] == keys.bulk_wk(bulk_id)


def test_a_bulk_scheduled_then_canceled_sends_nothing(stack: Stack, admin: Actions) -> None:
    send_at = utc_now() + timedelta(minutes=10)
    reply = bulk(admin, send_at=at(send_at))
    bulk_id = reply.body["bulk_id"]
    canceled = admin.cancel_bulk(bulk_id)
    assert (canceled.status, canceled.body["canceled"]) == (200, 3)
    assert admin.bulk_progress(bulk_id).body["counts"]["canceled"] == 3

    report = run_scheduler(FakeClock(send_at - timedelta(seconds=5)))
    assert (report.read, report.released) == (1, 0)
    assert messages(stack, "BulkQueue") == []
    assert "wk" not in item(stack, f"k#{bulk_id}")  # its schedule left Due


@pytest.mark.parametrize(
    ("send_at", "code"),
    [("not a time", "invalid_send_at"), ("2026-12-24T09:00:00", "invalid_send_at"), ("far", "invalid_send_at")],
)
def test_a_bulk_with_a_bad_send_at_is_400_invalid_send_at(
    stack: Stack, admin: Actions, send_at: str, code: str
) -> None:
    if send_at == "far":
        send_at = at(utc_now() + timedelta(days=31))
    reply = bulk(admin, send_at=send_at)
    assert (reply.status, reply.code) == (400, code)
    assert "send_at" in reply.body["error"]["message"]
    assert messages(stack, "BulkQueue") == []


def test_a_bulk_sent_at_a_time_past_is_queued_at_once(stack: Stack, admin: Actions) -> None:
    reply = bulk(admin, send_at=at(utc_now() - timedelta(minutes=1)))
    assert reply.status == 202
    assert admin.bulk_progress(reply.body["bulk_id"]).body["send_at"] is None
    assert len(messages(stack, "BulkQueue")) == 3


def test_escalations_due_with_a_large_bulk_are_released_first(
    stack: Stack, admin: Actions, lambda_context: Any
) -> None:
    """A scheduled bulk of 1,000 and an escalation due the same second: the escalation is queued first."""
    send_at = utc_now() + timedelta(minutes=30)
    addresses = ", ".join(f"r{n}@example.org" for n in range(1000))
    bulk_reply = admin.bulk(
        {"domain": "acme.com", "subject": SUBJECT, "body": BODY, "extra_recipients": addresses, "send_at": at(send_at)}
    )
    assert bulk_reply.status == 202
    [job_id] = enqueue(email(at(send_at)), lambda_context)["job_ids"]
    order: list[str] = []
    sqs = aws.sqs()

    def note(params: dict[str, Any], **_: Any) -> None:
        order.append("priority" if params["QueueUrl"] == stack.names["PriorityQueue"] else "bulk")

    made = scheduler(FakeClock(send_at - timedelta(seconds=1)))
    made._queues._client = sqs
    sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", note)
    with iam.running_as("SchedulerFunction"):
        report = made.run(time_left_ms=lambda: 110_000)
    assert report.released == 1001
    assert order[0] == "priority" and order.count("priority") == 1
    assert [m["job_id"] for m in messages(stack, "PriorityQueue")] == [job_id]


# ------------------------------------------------------------------ the scheduler's role
def test_the_scheduler_is_refused_what_its_role_does_not_allow(
    stack: Stack, lambda_context: Any, tmp_path: Path
) -> None:
    send_at = utc_now() + timedelta(seconds=30)
    enqueue(email(at(send_at)), lambda_context)
    recorder = iam.Recorder(tmp_path / "calls.jsonl", "copy")
    with enforced(stack, without("SchedulerFunction", "sqs:SendMessage", "PriorityQueue"), recorder=recorder):
        report = run_scheduler(FakeClock(send_at))
    # The job was made queued, its message refused: the sweeper's to queue (nothing lost)
    assert (report.released, report.queued) == (1, 0)
    refused = [c for c in recorder.denied if c.function == "SchedulerFunction"]
    assert refused and refused[0].action.lower() == "sqs:sendmessage"


def test_the_scheduler_handler_waits_for_a_job_due_in_its_window(stack: Stack, lambda_context: Any) -> None:
    # Given a job due in two seconds
    send_at = utc_now() + timedelta(seconds=2)
    [job_id] = enqueue(email(at(send_at)), lambda_context)["job_ids"]
    assert item(stack, job_id)["status"] == "scheduled"
    # When SchedulerFunction runs (its role enforced): it waits, then releases the job
    answer = load_function("scheduler").handler({}, lambda_context)
    assert (answer["read"], answer["released"], answer["queued"]) == (1, 1, 1)
    assert utc_now() >= send_at and answer["late_max"] < 1.5
    assert item(stack, job_id)["status"] == "queued"


# ------------------------------------------------------------------ POST /jobs/test
class TestSender(Actions):
    __test__ = False  # a caller, not a test class

    def test_send(self, body: Any) -> Reply:
        ev = self._event("bulk_queue", "POST", "/jobs/test")
        ev["routeKey"] = ev["requestContext"]["routeKey"] = "POST /jobs/test"
        ev["body"] = json.dumps(body)
        ev["headers"].pop("idempotency-key", None)
        return self._call("bulk_queue", ev)


def test_a_test_email_is_one_manual_job_on_the_priority_queue(stack: Stack, lambda_context: Any) -> None:
    tester = TestSender(lambda_context, domains="acme.com")
    reply = tester.test_send({"domain": "acme.com", "to": "Me@Example.org", "subject": SUBJECT, "body": BODY})
    assert reply.status == 202
    job_id = reply.body["job_id"]
    shown = tester.get(job_id).body
    assert (shown["type"], shown["bulk_id"], shown["status"], shown["recipient"]) == (
        "manual",
        None,
        "queued",
        "Me@example.org",
    )
    assert [m["job_id"] for m in messages(stack, "PriorityQueue")] == [job_id]
    assert messages(stack, "BulkQueue") == []
    # Its Due entry is the priority queue's: the sweeper queues it there again
    assert item(stack, job_id)["wk"].startswith("p#")
    # Retried (once canceled), it is a test email still: the priority queue
    stored = tester.cancel(job_id)
    assert stored.status == 200
    retried = tester.retry(job_id)
    assert retried.status == 202
    assert [m["job_id"] for m in messages(stack, "PriorityQueue")] == [retried.body["job_id"]]


def test_a_test_email_to_a_suppressed_address_is_409_and_writes_nothing(stack: Stack, lambda_context: Any) -> None:
    SuppressionStore(boto3.client("dynamodb", region_name=REGION), stack.names["JobsTable"]).add(
        SuppressionEntry(
            domain="acme.com", email="me@example.org", reason=SuppressionReason.BOUNCED, created_at=utc_now()
        )
    )
    tester = TestSender(lambda_context, domains="acme.com")
    reply = tester.test_send({"domain": "acme.com", "to": "me@example.org", "subject": SUBJECT, "body": BODY})
    assert (reply.status, reply.code) == (409, "suppressed")
    assert messages(stack, "PriorityQueue") == []
    assert tester.list_jobs(domain="acme.com").body["items"] == []


def test_a_test_email_needs_the_callers_domain_and_bulk_sends_limits(stack: Stack, lambda_context: Any) -> None:
    tester = TestSender(lambda_context, domains="acme.com")
    assert tester.test_send({"domain": "beta.io", "to": "a@b.org", "subject": SUBJECT, "body": BODY}).status == 403
    assert tester.test_send({"domain": "acme.com", "to": "nope", "subject": SUBJECT, "body": BODY}).status == 400
    assert tester.test_send({"domain": "acme.com", "to": "a@b.org", "subject": "x" * 201, "body": BODY}).status == 400
    big = tester.test_send({"domain": "acme.com", "to": "a@b.org", "subject": SUBJECT, "body": "x" * 100_001})
    assert (big.status, big.code) == (413, "body_too_large")
    assert messages(stack, "PriorityQueue") == []


def test_a_paused_domain_may_still_send_tests(stack: Stack, lambda_context: Any) -> None:
    # Given acme.com's last day past the bounce rate: its bulk sends are held
    history(sent=60, delivered=40, bounced=6)
    tester = TestSender(lambda_context, domains="acme.com")
    held = bulk(tester)
    assert (held.status, held.code) == (409, "domain_paused")
    # Then a test email still goes, on the priority queue
    reply = tester.test_send({"domain": "acme.com", "to": "me@example.org", "subject": SUBJECT, "body": BODY})
    assert reply.status == 202
    assert [m["job_id"] for m in messages(stack, "PriorityQueue")] == [reply.body["job_id"]]
