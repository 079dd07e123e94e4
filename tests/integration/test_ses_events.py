"""SES's events become statuses: SesEventsFunction's handler on moto, with the
jobs table made from template.yaml.

The fixtures ``tests/events/ses_*.json`` are AWS's documented sample records
("Examples of event data that Amazon SES publishes to Amazon SNS": Bounce,
Complaint, Delivery, Reject, DeliveryDelay) wrapped in the EventBridge envelope
SES uses (``source`` ``aws.ses``, ``detail-type`` "Email Bounced", ...). The
documentation has no transient bounce: ``ses_bounce_transient.json`` is its
bounce sample with ``bounceType`` Transient, subtype MailboxFull and a 4.2.2
status. Each test tags a sample as the worker tags its emails (``job_id``,
``domain``, ``type``) for a job of its own.
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from common.adapters import index_keys as keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.bodies import BodyStore
from common.adapters.suppressions import suppression_pk
from common.logic.events import RANK, overridden_by
from common.logic.listing import job_detail
from common.models.api import Caller
from common.models.job import Bodies, Job, JobStatus, JobType, new_job_id
from local.jobs_table import JobsTable
from local.template import Stack
from tests.helpers import load_function, put_with_bodies

EVENTS = Path(__file__).resolve().parents[1] / "events"
FIXTURES = {
    "delivery": "ses_delivery.json",
    "delay": "ses_delivery_delay.json",
    "bounce": "ses_bounce_permanent.json",
    "transient": "ses_bounce_transient.json",
    "complaint": "ses_complaint.json",
    "reject": "ses_reject.json",
}
STATUS_OF = {
    "delivery": JobStatus.DELIVERED,
    "delay": JobStatus.DELAYED,
    "bounce": JobStatus.BOUNCED,
    "transient": JobStatus.BOUNCED,
    "complaint": JobStatus.COMPLAINED,
    "reject": JobStatus.FAILED,
}

TYPE_OF = {
    "delivery": "delivered",
    "delay": "delayed",
    "bounce": "bounced",
    "transient": "bounced",
    "complaint": "complained",
    "reject": "rejected",
}


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / FIXTURES[name]).read_text())


class Events:
    """The jobs table, and SesEventsFunction's handler fed SQS batches."""

    def __init__(self, stack: Stack, lambda_context: Any) -> None:
        self.stack = stack
        self.context = lambda_context
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        self.table = JobsTable(self.client, stack.names["JobsTable"])
        self.bodies = BodyStore(self.client, stack.names["JobsTable"], boto3.client("s3"), stack.names["BodiesBucket"])
        self.handler = load_function("ses_events").handler

    def job(self, status: JobStatus = JobStatus.SENT, *, recipient: str | None = None) -> Job:
        domain = f"d{uuid.uuid4().hex[:10]}.com"
        job_id, created_at = new_job_id()
        job = Job(
            job_id=job_id,
            created_at=created_at,
            domain=domain,
            type=JobType.ESCALATION,
            recipient=recipient or f"Owner@{domain}",
            subject="A visitor asks for a human",
            body=job_id,
            status=status,
            attempts=1 if status.past_sending else 0,
            message_id=f"ses-{job_id}" if status.past_sending else None,
        )
        put_with_bodies(self.table, self.bodies, [job], {job_id: Bodies(text="hello")}, due_at=0)
        return job

    def envelope(self, name: str, job: Job, *, configuration_set: str | None = None, **tags: str) -> dict[str, Any]:
        event = copy.deepcopy(sample(name))
        mail = event["detail"]["mail"]
        mail["messageId"] = job.message_id or "ses-message"
        mail["tags"] = {
            "ses:configuration-set": [configuration_set or self.stack.names["ConfigurationSet"]],
            "job_id": [job.job_id],
            "domain": [job.domain],
            "type": [job.type.value],
        } | {k: [v] for k, v in tags.items()}
        return event

    def deliver(self, *bodies: dict[str, Any] | str) -> dict[str, Any]:
        records = [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": self.stack.arns["SesEventsQueue"],
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
        result = self.handler({"Records": records}, self.context)
        self.last_ids = [r["messageId"] for r in records]
        return dict(result)

    def item(self, job_id: str) -> dict[str, Any]:
        found = self.client.get_item(TableName=self.stack.names["JobsTable"], Key={"pk": {"S": job_id}})
        return deserialize(found.get("Item") or {})

    def stored(self, job_id: str) -> Job:
        found = self.table.get(job_id)
        assert found is not None
        return found

    def suppression(self, domain: str, email: str) -> dict[str, Any]:
        return self.item(suppression_pk(domain, email))


@pytest.fixture
def events(stack: Stack, lambda_context: Any) -> Events:
    return Events(stack, lambda_context)


def assert_keys_match_status(item: dict[str, Any]) -> None:
    """The status-dependent index keys are exactly those of the job's status."""
    expected = keys.index_attributes(keys.KeyedJob.from_item(item))
    for name in keys.STATUS_ATTRIBUTES:
        assert item.get(name) == expected.get(name), name


NO_FAILURES: dict[str, Any] = {"batchItemFailures": []}


# ------------------------------------------------------------------ each sample
@pytest.mark.parametrize(
    ("name", "event_type", "words", "error"),
    [
        ("delivery", "delivered", ["accepted it", "250 2.6.0 Message received"], False),
        ("delay", "delayed", ["temporary communication failure", "4.4.1", "Unable to connect"], False),
        ("bounce", "bounced", ["Permanent", "5.1.1", "550 5.1.1 user unknown", "suppression list"], True),
        ("transient", "bounced", ["Transient", "mailbox is full", "4.2.2", "retry"], True),
        ("complaint", "complained", ["the recipient marked this email as spam", "suppression list"], False),
        ("reject", "rejected", ["Bad content", "virus"], True),
    ],
)
def test_each_documented_event_sets_its_status_and_an_actionable_entry(
    events: Events, name: str, event_type: str, words: list[str], error: bool
) -> None:
    job = events.job()
    assert events.deliver(events.envelope(name, job)) == NO_FAILURES
    stored = events.stored(job.job_id)
    assert stored.status is STATUS_OF[name]
    assert [e.type.value for e in stored.events] == [event_type]
    detail = stored.events[0].detail
    for word in words:
        assert word in detail
    assert len(detail) <= 300
    # An admin-facing sentence: no account id, no ARN
    assert "123456789012" not in detail and "arn:" not in detail
    # The error is the event's detail for a bounce or a reject, else untouched
    assert (stored.error == detail) is error
    assert_keys_match_status(events.item(job.job_id))


def test_the_entry_is_dated_by_ses_and_shown_in_the_job_detail(events: Events) -> None:
    job = events.job()
    # Delivered first, the delay (dated later in the samples) afterwards: still oldest first by "at"
    complaint = events.envelope("complaint", job)
    delivery = events.envelope("delivery", job)
    assert events.deliver(complaint, delivery) == NO_FAILURES
    detail = job_detail(
        job.job_id, Caller(subject="admin", domains=frozenset({job.domain})), jobs=events.table, bodies=events.bodies
    )
    assert [e.type.value for e in detail.events] == ["delivered", "complained"]
    assert detail.events[0].at == datetime(2016, 10, 19, 23, 21, 4, 133000, tzinfo=UTC)
    assert detail.status is JobStatus.COMPLAINED
    body = detail.model_dump(mode="json")
    assert body["events"][0] == {
        "at": "2016-10-19T23:21:04.133Z",
        "type": "delivered",
        "detail": detail.events[0].detail,
    }


# ------------------------------------------------------------------ duplicates
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_an_event_applied_twice_leaves_one_entry(events: Events, name: str) -> None:
    job = events.job()
    event = events.envelope(name, job)
    # Twice in one batch, then once more in another (SQS and EventBridge deliver at least once)
    assert events.deliver(event, event) == NO_FAILURES
    assert events.deliver(event) == NO_FAILURES
    stored = events.stored(job.job_id)
    assert len(stored.events) == 1
    assert stored.status is STATUS_OF[name]


def test_a_second_event_of_the_same_type_is_a_distinct_entry(events: Events) -> None:
    job = events.job()
    first = events.envelope("delay", job)
    second = copy.deepcopy(first)
    second["detail"]["deliveryDelay"]["timestamp"] = "2020-06-16T01:25:40.095Z"
    assert events.deliver(first, second) == NO_FAILURES
    assert len(events.stored(job.job_id).events) == 2


# ------------------------------------------------------------------ order
PAIRS = list(itertools.permutations(sorted(FIXTURES), 2))


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_every_pair_of_events_in_either_order_ends_in_the_strongest_status(
    events: Events, first: str, second: str
) -> None:
    job = events.job()
    assert events.deliver(events.envelope(first, job)) == NO_FAILURES
    assert events.deliver(events.envelope(second, job)) == NO_FAILURES
    stored = events.stored(job.job_id)
    strongest = max(STATUS_OF[first], STATUS_OF[second], key=RANK.__getitem__)
    assert stored.status is strongest
    assert sorted(e.type.value for e in stored.events) == sorted([TYPE_OF[first], TYPE_OF[second]])
    assert_keys_match_status(events.item(job.job_id))


def test_statuses_never_move_back(events: Events) -> None:
    for status in RANK:
        assert status not in overridden_by(status)
        assert all(RANK[weaker] < RANK[status] for weaker in overridden_by(status))
    assert JobStatus.SENDING not in set().union(*(overridden_by(s) for s in RANK))
    assert JobStatus.CANCELED not in set().union(*(overridden_by(s) for s in RANK))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_parked_sent_job_takes_its_late_event_and_leaves_the_parked_index(events: Events, name: str) -> None:
    job = events.job()
    candidates = events.table.in_flight_jobs([job.job_id])
    assert events.table.park(candidates[0])
    assert "esk" in events.item(job.job_id)
    assert events.deliver(events.envelope(name, job)) == NO_FAILURES
    item = events.item(job.job_id)
    assert item["status"] == STATUS_OF[name].value
    assert_keys_match_status(item)


# ------------------------------------------------------------------ jobs not (or not yet) there
def test_an_event_for_an_unknown_job_is_dropped_without_writing(events: Events) -> None:
    ghost = events.job()
    ghost_id, _ = new_job_id()
    event = events.envelope("bounce", ghost.model_copy(update={"job_id": ghost_id}))
    assert events.deliver(event) == NO_FAILURES  # acknowledged: never retried
    assert events.item(ghost_id) == {}
    assert events.suppression(ghost.domain, ghost.recipient) == {}


def test_an_event_without_a_job_tag_is_acknowledged_and_ignored(events: Events) -> None:
    job = events.job()
    event = events.envelope("delivery", job)
    del event["detail"]["mail"]["tags"]["job_id"]
    assert events.deliver(event) == NO_FAILURES
    assert events.stored(job.job_id).status is JobStatus.SENT


def test_a_record_that_is_not_an_ses_event_goes_back_to_the_queue(events: Events) -> None:
    job = events.job()
    good = events.envelope("delivery", job)
    result = events.deliver("not json", {"source": "aws.ec2", "detail-type": "x", "detail": {}}, good)
    assert result == {"batchItemFailures": [{"itemIdentifier": i} for i in events.last_ids[:2]]}
    assert events.stored(job.job_id).status is JobStatus.DELIVERED


def test_an_event_for_a_job_still_sending_waits_for_the_worker(events: Events) -> None:
    job = events.job(JobStatus.SENDING)
    result = events.deliver(events.envelope("delivery", job))
    assert result == {"batchItemFailures": [{"itemIdentifier": events.last_ids[0]}]}
    stored = events.stored(job.job_id)
    assert (stored.status, stored.events) == (JobStatus.SENDING, [])


@pytest.mark.parametrize("status", [JobStatus.CANCELED, JobStatus.SUPPRESSED])
def test_a_job_never_sent_keeps_its_status_and_lists_the_event(events: Events, status: JobStatus) -> None:
    job = events.job(status)
    assert events.deliver(events.envelope("delivery", job)) == NO_FAILURES
    stored = events.stored(job.job_id)
    assert stored.status is status
    assert [e.type.value for e in stored.events] == ["delivered"]


def test_an_accepted_send_the_worker_took_for_a_retry_is_settled_by_ses(events: Events) -> None:
    job = events.job(JobStatus.RETRYING)
    assert events.deliver(events.envelope("delivery", job)) == NO_FAILURES
    item = events.item(job.job_id)
    assert item["status"] == "delivered"
    assert "due_at" not in item
    assert_keys_match_status(item)


def test_tags_without_domain_and_type_still_find_the_job(events: Events) -> None:
    job = events.job()
    event = events.envelope("bounce", job)
    tags = event["detail"]["mail"]["tags"]
    del tags["domain"], tags["type"]
    assert events.deliver(event) == NO_FAILURES
    assert events.stored(job.job_id).status is JobStatus.BOUNCED
    assert_keys_match_status(events.item(job.job_id))


def test_tags_naming_another_domain_do_not_misplace_the_keys(events: Events) -> None:
    job = events.job()
    event = events.envelope("bounce", job, domain="other.example")
    assert events.deliver(event) == NO_FAILURES
    item = events.item(job.job_id)
    assert item["status"] == "bounced"
    assert item["esk"].startswith(f"{job.domain}#")
    assert_keys_match_status(item)


# ------------------------------------------------------------------ suppression
@pytest.mark.parametrize(("name", "reason"), [("bounce", "bounced"), ("complaint", "complained")])
def test_a_permanent_bounce_or_a_complaint_suppresses_the_recipient(events: Events, name: str, reason: str) -> None:
    job = events.job(recipient="Visitor.One@Example.org")
    assert events.deliver(events.envelope(name, job)) == NO_FAILURES
    entry = events.suppression(job.domain, "visitor.one@example.org")
    assert entry["pk"] == f"sup#{job.domain}#visitor.one@example.org"
    assert {k: entry[k] for k in ("domain", "email", "reason", "job_id")} == {
        "domain": job.domain,
        "email": "visitor.one@example.org",
        "reason": reason,
        "job_id": job.job_id,
    }
    assert entry["created_at"].endswith("Z")
    # Nothing of the entry shows in a job listing: it carries no job index key
    assert not set(entry) & {"dk", "dtk", "tk", "rk", "fk", "bk", "esk", "esa"}


@pytest.mark.parametrize("name", ["transient", "delivery", "delay", "reject"])
def test_other_events_suppress_nothing(events: Events, name: str) -> None:
    job = events.job()
    assert events.deliver(events.envelope(name, job)) == NO_FAILURES
    assert events.suppression(job.domain, job.recipient) == {}


def test_an_address_already_suppressed_keeps_its_entry(events: Events) -> None:
    job = events.job()
    first = {"pk": suppression_pk(job.domain, job.recipient), "domain": job.domain, "email": job.recipient.lower()}
    first |= {"reason": "manual", "created_at": "2026-01-01T00:00:00.000Z"}
    events.client.put_item(TableName=events.stack.names["JobsTable"], Item=serialize(first))
    assert events.deliver(events.envelope("complaint", job)) == NO_FAILURES
    assert events.suppression(job.domain, job.recipient)["reason"] == "manual"
    assert events.stored(job.job_id).status is JobStatus.COMPLAINED


def test_suppression_is_per_domain(events: Events) -> None:
    job = events.job(recipient="shared@example.org")
    other = events.job(recipient="shared@example.org")
    assert events.deliver(events.envelope("bounce", job)) == NO_FAILURES
    assert events.suppression(job.domain, "shared@example.org")["job_id"] == job.job_id
    assert events.suppression(other.domain, "shared@example.org") == {}


# ------------------------------------------------------------------ the rule
def _queued_events(stack: Stack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    got = sqs.receive_message(QueueUrl=stack.names["SesEventsQueue"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def _put(stack: Stack, event: dict[str, Any]) -> None:
    client = boto3.client("events", region_name="us-east-1")
    answer = client.put_events(
        Entries=[{"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}]
    )
    assert answer["FailedEntryCount"] == 0


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_the_rule_takes_ses_events_of_this_configuration_set_to_the_queue(events: Events, name: str) -> None:
    job = events.job()
    event = events.envelope(name, job)
    _put(events.stack, event)
    queued = _queued_events(events.stack)
    assert [q["detail"]["mail"]["tags"]["job_id"] for q in queued] == [[job.job_id]]
    assert queued[0]["source"] == "aws.ses" and queued[0]["detail-type"] == event["detail-type"]
    # What the queue holds is what the handler reads
    assert events.deliver(queued[0]) == NO_FAILURES
    assert events.stored(job.job_id).status is STATUS_OF[name]


def test_the_rule_leaves_other_configuration_sets_and_other_events_alone(events: Events) -> None:
    job = events.job()
    _put(events.stack, events.envelope("bounce", job, configuration_set="someone-elses-set"))
    sent = events.envelope("delivery", job)
    sent["detail-type"] = "Email Sent"
    _put(events.stack, sent)
    opened = events.envelope("delivery", job)
    opened["source"] = "my.app"
    _put(events.stack, opened)
    assert _queued_events(events.stack) == []
