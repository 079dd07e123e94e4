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
from common.adapters.job_claims import ClaimOutcome
from common.adapters.suppressions import suppression_pk
from common.logic.events import RANK, overridden_by
from common.logic.listing import job_detail
from common.models.api import Caller
from common.models.job import (
    AttemptLogEntry,
    AttemptOutcome,
    Bodies,
    Job,
    JobStatus,
    JobType,
    QueueMessage,
    new_job_id,
)
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


# The statuses of a job SES accepted by the service's own record.
SENT_STATUSES = frozenset(
    {JobStatus.SENT, JobStatus.DELAYED, JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED}
)

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


def _mail_timestamp(name: str) -> datetime:
    """When SES accepted the sample's email (its ``mail.timestamp``)."""
    return datetime.fromisoformat(sample(name)["detail"]["mail"]["timestamp"].replace("Z", "+00:00"))


MAIL_TIMESTAMP = {name: _mail_timestamp(name) for name in FIXTURES}


class Events:
    """The jobs table, and SesEventsFunction's handler fed SQS batches."""

    def __init__(self, stack: Stack, lambda_context: Any) -> None:
        self.stack = stack
        self.context = lambda_context
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        self.table = JobsTable(self.client, stack.names["JobsTable"])
        self.bodies = BodyStore(self.client, stack.names["JobsTable"], boto3.client("s3"), stack.names["BodiesBucket"])
        self.handler = load_function("ses_events").handler

    def job(self, status: JobStatus = JobStatus.SENT, *, recipient: str | None = None, error: str | None = None) -> Job:
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
            message_id=f"ses-{job_id}" if status in SENT_STATUSES else None,
            sent_at=created_at if status in SENT_STATUSES else None,
            error=error,
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


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_one_event_published_twice_is_one_entry(events: Events, name: str) -> None:
    # Given one SES event put on the bus twice: EventBridge's envelope differs (its id and time)
    job = events.job()
    first = events.envelope(name, job)
    again = copy.deepcopy(first)
    again["id"] = str(uuid.uuid4())
    again["time"] = "2026-12-06T10:00:00Z"
    # When both arrive, in separate batches
    assert events.deliver(first) == NO_FAILURES
    assert events.deliver(again) == NO_FAILURES
    # Then the job lists it once, dated by SES (a reject by the mail's timestamp: it has no time of its own)
    stored = events.stored(job.job_id)
    assert [e.type.value for e in stored.events] == [TYPE_OF[name]]
    assert stored.events[0].at.year < 2026
    if name == "reject":
        assert stored.events[0].at == MAIL_TIMESTAMP["reject"]


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
    # Only SES's proof of delivery (or of its failure) replaces what was never sent by our record
    never_sent = {JobStatus.CANCELED, JobStatus.SUPPRESSED, JobStatus.FAILED}
    for status in (JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED):
        assert never_sent <= overridden_by(status)
    for status in (JobStatus.DELAYED, JobStatus.FAILED):
        assert not never_sent & overridden_by(status)
    # Any event proves the send: a job still sending, queued or retrying is settled by all
    for status in {STATUS_OF[name] for name in FIXTURES}:
        assert {JobStatus.SENDING, JobStatus.QUEUED, JobStatus.RETRYING} <= overridden_by(status)


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
@pytest.mark.parametrize("name", ["delivery", "delay", "transient", "reject"])
def test_an_event_for_an_unknown_job_is_dropped_without_writing(events: Events, name: str) -> None:
    ghost = events.job()
    ghost_id, _ = new_job_id()
    event = events.envelope(name, ghost.model_copy(update={"job_id": ghost_id}))
    assert events.deliver(event) == NO_FAILURES  # acknowledged: never retried
    assert events.item(ghost_id) == {}
    for address in (ghost.recipient, "recipient@example.com"):
        assert events.suppression(ghost.domain, address) == {}


def _removed_by_retention(events: Events, name: str, recipient: str, **tags: str) -> tuple[Job, dict[str, Any]]:
    """A job's permanent bounce or complaint, its job already deleted (TTL)."""
    job = events.job(recipient=recipient)
    event = events.envelope(name, job, **tags)
    kind = "bouncedRecipients" if name == "bounce" else "complainedRecipients"
    event["detail"][name][kind][0]["emailAddress"] = recipient
    events.client.delete_item(TableName=events.stack.names["JobsTable"], Key={"pk": {"S": job.job_id}})
    return job, event


@pytest.mark.parametrize(("name", "reason"), [("bounce", "bounced"), ("complaint", "complained")])
def test_a_late_event_for_a_job_removed_by_retention_still_suppresses(events: Events, name: str, reason: str) -> None:
    # Given a complaint (or a permanent bounce) arriving after retention removed its job;
    # SES names the address with its domain in Punycode
    job, event = _removed_by_retention(events, name, "Visitor@xn--bcher-kva.de")
    # When it is applied
    assert events.deliver(event) == NO_FAILURES
    # Then no job comes back, but the address is on the domain's list, as stored addresses are
    assert events.item(job.job_id) == {}
    entry = events.suppression(job.domain, "visitor@bücher.de")
    assert {k: entry[k] for k in ("domain", "email", "reason", "job_id")} == {
        "domain": job.domain,
        "email": "visitor@bücher.de",
        "reason": reason,
        "job_id": job.job_id,
    }
    # And it is listed like any other entry
    assert entry["spk"] == job.domain


def test_the_domain_tag_is_read_in_its_tag_safe_form_too(events: Events) -> None:
    # SES allows letters, digits, "_" and "-" in a tag's value: the domain's dots written "_"
    job, event = _removed_by_retention(events, "complaint", "reader@example.org")
    event["detail"]["mail"]["tags"]["domain"] = [job.domain.replace(".", "_")]
    assert events.deliver(event) == NO_FAILURES
    assert events.suppression(job.domain, "reader@example.org")["reason"] == "complained"


@pytest.mark.parametrize("domain_tag", [None, "not a domain", "-bad-.com"])
def test_a_late_complaint_without_a_readable_domain_suppresses_nothing(events: Events, domain_tag: str | None) -> None:
    job, event = _removed_by_retention(events, "complaint", "reader@example.org")
    tags = event["detail"]["mail"]["tags"]
    if domain_tag is None:
        del tags["domain"]
    else:
        tags["domain"] = [domain_tag]
    assert events.deliver(event) == NO_FAILURES
    assert events.suppression(job.domain, "reader@example.org") == {}
    assert events.item(job.job_id) == {}


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


# ------------------------------------------------------------------ SES's word outranks ours
def _claimed(events: Events) -> tuple[Job, int]:
    """A queued job a worker has claimed (``sending``, its lease ``worker-1``); returns it and the claim's time."""
    job = events.job(JobStatus.QUEUED)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    claim = events.table.claim(QueueMessage.for_job(job), now_ms=now_ms, lease_seconds=60, token="worker-1", due_at=1)
    assert claim.outcome is ClaimOutcome.CLAIMED and claim.job is not None
    return claim.job, now_ms


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_an_event_for_a_job_still_sending_records_the_send(events: Events, name: str) -> None:
    # Given a worker holds the job: SES accepted it, and the worker's outcome write failed (or is not done)
    job, now_ms = _claimed(events)
    event = events.envelope(name, job)
    event["detail"]["mail"]["messageId"] = "ses-accepted-1"
    # When its event arrives
    assert events.deliver(event) == NO_FAILURES
    # Then the job takes the event's status, with SES's time of acceptance and message id
    stored = events.stored(job.job_id)
    assert stored.status is STATUS_OF[name]
    assert stored.sent_at == MAIL_TIMESTAMP[name]
    assert stored.message_id == "ses-accepted-1"
    assert [e.type.value for e in stored.events] == [TYPE_OF[name]]
    # The attempt is logged as SES reports it, as its worker would have
    assert [(a.outcome.value, a.at) for a in stored.attempt_log] == [("sent", MAIL_TIMESTAMP[name])]
    assert stored.attempts == 1
    item = events.item(job.job_id)
    assert not {"lease_token", "lease_until", "due_at"} & set(item)
    assert_keys_match_status(item)
    # And no claim takes it again, even once its lease has expired
    later = events.table.claim(
        QueueMessage.for_job(job), now_ms=now_ms + 3_600_000, lease_seconds=60, token="worker-2", due_at=1
    )
    assert later.outcome is ClaimOutcome.FINAL
    # And the worker still holding the old lease cannot write its outcome over SES's word
    entry = AttemptLogEntry(at=datetime.now(UTC), outcome=AttemptOutcome.SENT)
    for status in (JobStatus.SENT, JobStatus.RETRYING, JobStatus.FAILED):
        assert not events.table.record_attempt(
            job, token="worker-1", entry=entry, status=status, message_id="other", sent_at=datetime.now(UTC)
        )
    assert events.item(job.job_id) == item


# The statuses that say "never accepted" by the service's record, with the error each leaves.
NEVER_ACCEPTED = {
    JobStatus.RETRYING: "RequestTimeout: SES did not answer in time; it is tried again automatically",
    JobStatus.CANCELED: None,
    JobStatus.FAILED: "RequestTimeout: SES did not answer in time; not tried again so that it is not sent twice",
    JobStatus.SUPPRESSED: "Not sent: the address is on the domain's suppression list (unsubscribed).",
}


@pytest.mark.parametrize("status", sorted(NEVER_ACCEPTED))
@pytest.mark.parametrize("name", ["delivery", "bounce", "transient", "complaint"])
def test_ses_delivery_bounce_or_complaint_outranks_what_the_service_recorded(
    events: Events, status: JobStatus, name: str
) -> None:
    # Given a job the service recorded as not accepted, whose earlier attempt SES did accept
    job = events.job(status, error=NEVER_ACCEPTED[status])
    assert (job.sent_at, job.message_id) == (None, None)
    event = events.envelope(name, job)
    event["detail"]["mail"]["messageId"] = "ses-accepted-1"
    # When SES reports what became of it
    assert events.deliver(event) == NO_FAILURES
    # Then the job shows what SES reports, with SES's sent_at and message id, and no stale error
    stored = events.stored(job.job_id)
    assert stored.status is STATUS_OF[name]
    assert stored.sent_at == MAIL_TIMESTAMP[name]
    assert stored.message_id == "ses-accepted-1"
    assert stored.error == (stored.events[0].detail if stored.status is JobStatus.BOUNCED else None)
    # And its index keys are exactly those of its new status (out of the old status's sparse indexes)
    item = events.item(job.job_id)
    assert_keys_match_status(item)
    assert f"#{status.value}" not in str(item.get("esk", "")) + str(item.get("rek", ""))


@pytest.mark.parametrize("status", [JobStatus.CANCELED, JobStatus.SUPPRESSED, JobStatus.FAILED])
@pytest.mark.parametrize("name", ["delay", "reject"])
def test_a_delay_or_a_reject_leaves_a_job_never_sent_as_it_was_and_lists_the_event(
    events: Events, status: JobStatus, name: str
) -> None:
    job = events.job(status, error=NEVER_ACCEPTED[status])
    assert events.deliver(events.envelope(name, job)) == NO_FAILURES
    stored = events.stored(job.job_id)
    assert (stored.status, stored.error, stored.sent_at) == (status, NEVER_ACCEPTED[status], None)
    assert [e.type.value for e in stored.events] == [TYPE_OF[name]]
    assert_keys_match_status(events.item(job.job_id))


def test_a_failed_job_delivered_by_a_late_event_has_its_sent_at_and_no_stale_error(events: Events) -> None:
    # Given a job the worker failed (an ambiguous answer), then SES's reject of another copy
    job = events.job(JobStatus.FAILED, error=NEVER_ACCEPTED[JobStatus.FAILED])
    assert events.deliver(events.envelope("reject", job)) == NO_FAILURES
    assert events.stored(job.job_id).status is JobStatus.FAILED
    # When SES's delivery arrives late
    assert events.deliver(events.envelope("delivery", job)) == NO_FAILURES
    # Then it is delivered, dated by SES, with no error left from either
    stored = events.stored(job.job_id)
    assert (stored.status, stored.error, stored.sent_at) == (JobStatus.DELIVERED, None, MAIL_TIMESTAMP["delivery"])
    assert sorted(e.type.value for e in stored.events) == ["delivered", "rejected"]
    assert_keys_match_status(events.item(job.job_id))


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
