"""SES's events on the failure paths (issue #27): the worker, the admin's
actions and SES's events on the same moto stack made from template.yaml.

- an event for a job still ``sending`` is proof of the send: the job is
  settled by it, and neither the worker still holding the lease nor a later
  claim can send it again or undo it (item 2, the events' half);
- a delivery reported for a job the service shows ``canceled`` or
  ``suppressed`` (an earlier attempt whose answer was lost was accepted)
  shows what SES reports, and Retry then sends no second copy (item 3);
- events that could not be applied during a long outage end in the events'
  dead-letter queue and, redriven however late, are applied once each, a
  complaint whose job retention removed meanwhile included (item 11).

What moto cannot produce (a lost answer, a DynamoDB outage) is made at the
client: a wrapper raising botocore's own errors, or a ``before-call`` hook
answering 500 as a stubbed client does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from common.adapters import aws
from common.adapters.suppressions import SuppressionStore
from common.models.clock import to_rfc3339
from common.models.job import AttemptOutcome, Job, JobStatus
from common.models.suppression import SuppressionEntry, SuppressionReason
from local.template import Stack
from tests.integration.test_job_actions import Actions
from tests.integration.test_send_worker import REGION, Harness, make_job
from tests.integration.test_ses_events import NO_FAILURES, Events, assert_keys_match_status

RECIPIENT = "owner@acme.com"
ENDPOINT = "https://email.us-east-1.amazonaws.com"


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@pytest.fixture
def events(stack: Stack, lambda_context: Any) -> Events:
    return Events(stack, lambda_context)


class AcceptingSes:
    """The worker's SES: moto's accepts the email, then ``after`` runs (an event
    arriving, an outage beginning) and the answer is returned, or lost
    (``lose_answer``: a read timeout, after SES accepted)."""

    def __init__(self, real: Any, after: Callable[[str], None], *, lose_answer: bool = False) -> None:
        self._real = real
        self._after = after
        self._lose_answer = lose_answer
        self.accepted: list[str] = []

    def send_email(self, **request: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self._real.send_email(**request)
        self.accepted.append(answer["MessageId"])
        self._after(answer["MessageId"])
        if self._lose_answer:
            raise ReadTimeoutError(endpoint_url=ENDPOINT)
        return answer


class DynamoDbOutage:
    """The worker's DynamoDB client: every call fails with a 500 while ``down``."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                error: Any = {
                    "Error": {"Code": "InternalServerError", "Message": "Internal server error"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                }
                raise ClientError(error, name)
            return attribute(*args, **kwargs)

        return call


def to_millis(moment: datetime) -> datetime:
    """A time as SES writes it (to the millisecond)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def delivery_for(events: Events, job: Job, message_id: str, accepted_at: datetime) -> dict[str, Any]:
    """SES's Delivery event for the email it accepted as ``message_id`` at ``accepted_at``."""
    event = events.envelope("delivery", job.model_copy(update={"message_id": message_id}))
    event["detail"]["mail"]["timestamp"] = to_rfc3339(accepted_at)
    return event


# ---------------------------------------------------------------- item 2: an event proves the send
def test_a_send_whose_outcome_write_failed_is_settled_by_its_event_and_never_sent_again(
    harness: Harness, events: Events
) -> None:
    # Given SES accepts an escalation, and DynamoDB fails from that moment: the worker cannot write `sent`
    job = harness.put(make_job())[0]
    outage = DynamoDbOutage(harness.dynamodb)
    accepted_at = to_millis(harness.clock.now)

    def outage_begins(_: str) -> None:
        outage.down = True

    ses = AcceptingSes(harness.sesv2, outage_begins)
    first = harness.deliver()
    harness.process(first, harness.worker(sesv2=ses, dynamodb=outage))
    assert harness.sent_to(RECIPIENT) == 1
    assert harness.job(job.job_id).status is JobStatus.SENDING
    # When DynamoDB is back, SES's Delivery event arrives while the job still shows `sending`
    applied = events.deliver(delivery_for(events, job, ses.accepted[0], accepted_at))
    # And the lease expires and the message is delivered again
    harness.clock.advance(180)
    harness.release(first)
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    # Then the email was sent once, and the job records SES's word
    assert harness.sent_to(RECIPIENT) == 1
    assert applied == NO_FAILURES
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.DELIVERED
    assert (stored.message_id, stored.sent_at, stored.error) == (ses.accepted[0], accepted_at, None)
    assert [(a.outcome, a.at) for a in stored.attempt_log] == [(AttemptOutcome.SENT, accepted_at)]
    assert stored.attempts == 1
    assert_keys_match_status(events.item(job.job_id))


@pytest.mark.parametrize("lose_answer", [False, True], ids=["answered", "answer-lost"])
def test_the_worker_holding_the_lease_cannot_undo_the_event(
    harness: Harness, events: Events, lose_answer: bool
) -> None:
    # Given SES accepts an email and its Delivery event is applied before the worker writes its outcome
    job = harness.put(make_job())[0]
    accepted_at = to_millis(harness.clock.now)
    results: list[dict[str, Any]] = []

    def event_arrives(message_id: str) -> None:
        results.append(events.deliver(delivery_for(events, job, message_id, accepted_at)))

    ses = AcceptingSes(harness.sesv2, event_arrives, lose_answer=lose_answer)
    harness.clock.advance(2)  # the worker's own time differs from SES's
    # When the worker writes its outcome (sent; or a retry, the answer lost)
    first = harness.deliver()
    response = harness.process(first, harness.worker(sesv2=ses))
    # Then its write is refused (its lease is gone), cleanly: the record is done, nothing goes back
    assert results == [NO_FAILURES]
    assert response == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.DELIVERED
    assert (stored.message_id, stored.sent_at, stored.error) == (ses.accepted[0], accepted_at, None)
    assert [(a.outcome, a.at) for a in stored.attempt_log] == [(AttemptOutcome.SENT, accepted_at)]
    assert_keys_match_status(events.item(job.job_id))
    # And nothing sends it again, however often its message comes back
    harness.clock.advance(180)
    harness.release(first)
    harness.process(harness.deliver())
    assert harness.sent_to(RECIPIENT) == 1
    assert harness.job(job.job_id).status is JobStatus.DELIVERED


# ---------------------------------------------------------------- item 3: SES's word outranks ours
def _mark_suppressed(harness: Harness, job: Job) -> None:
    """The recipient unsubscribes; the worker then takes the job's message and marks it `suppressed`."""
    store = SuppressionStore(harness.dynamodb, harness.stack.names["JobsTable"])
    entry = SuppressionEntry(
        domain=job.domain,
        email=job.recipient,
        reason=SuppressionReason.UNSUBSCRIBED,
        created_at=harness.clock.now,
        job_id=None,
    )
    store.add(entry)
    harness.clock.advance(600)
    harness.process(harness.deliver())


@pytest.mark.parametrize("then", ["canceled by an admin", "suppressed by the worker"])
def test_a_delivery_after_a_lost_answer_shows_delivered_and_retry_sends_no_second_copy(
    harness: Harness, events: Events, lambda_context: Any, then: str
) -> None:
    # Given SES accepts an escalation but its answer is lost (a read timeout): the job is `retrying`
    job = harness.put(make_job())[0]
    accepted_at = to_millis(harness.clock.now)
    ses = AcceptingSes(harness.sesv2, lambda _: None, lose_answer=True)
    first = harness.deliver()
    harness.process(first, harness.worker(sesv2=ses))
    assert harness.job(job.job_id).status is JobStatus.RETRYING
    harness.release(first)
    # And the job is then canceled by an admin, or marked suppressed by the worker
    admin = Actions(lambda_context, domains="acme.com")
    if then == "canceled by an admin":
        assert admin.cancel(job.job_id).status == 200
        expected = JobStatus.CANCELED
    else:
        _mark_suppressed(harness, job)
        expected = JobStatus.SUPPRESSED
    stale = harness.job(job.job_id)
    assert stale.status is expected
    # When SES reports the first attempt delivered
    assert events.deliver(delivery_for(events, job, ses.accepted[0], accepted_at)) == NO_FAILURES
    # Then the job shows what SES reports, with SES's sent_at and no stale error
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.DELIVERED
    assert (stored.sent_at, stored.message_id, stored.error) == (accepted_at, ses.accepted[0], None)
    assert_keys_match_status(events.item(job.job_id))
    # And Retry refuses it: no second copy is ever sent
    reply = admin.retry(job.job_id)
    assert (reply.status, reply.code) == (409, "not_retryable")
    harness.clock.advance(600)
    harness.process(harness.deliver())
    assert harness.sent_to(RECIPIENT) == 1


# ---------------------------------------------------------------- item 11: parked during an outage, redriven
@contextmanager
def dynamodb_down(client: Any) -> Iterator[None]:
    """Every call of ``client`` answers 500, as a stubbed client does (before any request is made)."""

    class Http:
        status_code = 500

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        return Http(), {
            "Error": {"Code": "InternalServerError", "Message": "Internal server error"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }

    client.meta.events.register_first("before-call.dynamodb.*", answer, unique_id="outage")
    try:
        yield
    finally:
        client.meta.events.unregister("before-call.dynamodb.*", unique_id="outage")


def _put_on_the_bus(event: dict[str, Any]) -> None:
    """What SES does: the event on EventBridge's default bus (the stack's rule takes it to the queue)."""
    answer = boto3.client("events", region_name=REGION).put_events(
        Entries=[{"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}]
    )
    assert answer["FailedEntryCount"] == 0


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"])
    messages: list[dict[str, Any]] = got.get("Messages", [])
    return messages


def test_events_parked_during_an_outage_are_applied_once_when_redriven_however_late(events: Events) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue, parked = events.stack.names["SesEventsQueue"], events.stack.names["SesEventsDeadLetterQueue"]
    # Given a delivery and a complaint for two sent jobs, on the bus while DynamoDB is down
    delivered, complained = events.job(), events.job(recipient="reader@example.org")
    complaint = events.envelope("complaint", complained)
    complaint["detail"]["complaint"]["complainedRecipients"][0]["emailAddress"] = "reader@example.org"
    for event in (events.envelope("delivery", delivered), complaint):
        _put_on_the_bus(event)
    # When every receive fails (the function returns every record), SQS parks them after maxReceiveCount
    receives = 0
    with dynamodb_down(aws.dynamodb()):
        while batch := _receive(sqs, queue):
            receives += 1
            bodies = [m["Body"] for m in batch]
            assert len(events.deliver(*bodies)["batchItemFailures"]) == len(bodies)
    assert receives == 10  # SesEventsQueue's maxReceiveCount
    # And the alarmed dead-letter queue holds both
    held = _receive(sqs, parked)
    assert len(held) == 2
    # And, before anyone redrives them, retention removes the complained job
    events.client.delete_item(TableName=events.stack.names["JobsTable"], Key={"pk": {"S": complained.job_id}})
    # When an operator redrives them to SesEventsQueue (what StartMessageMoveTask does), and
    # SQS delivers one of them twice
    for message in held:
        sqs.send_message(QueueUrl=queue, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=parked, ReceiptHandle=message["ReceiptHandle"])
    redriven = [m["Body"] for m in _receive(sqs, queue)]
    assert events.deliver(*redriven) == NO_FAILURES
    assert events.deliver(redriven[0], redriven[1]) == NO_FAILURES
    # Then the delivery is applied once, and the complaint still suppresses its recipient
    stored = events.stored(delivered.job_id)
    assert (stored.status, [e.type.value for e in stored.events]) == (JobStatus.DELIVERED, ["delivered"])
    entry = events.suppression(complained.domain, "reader@example.org")
    assert (entry["reason"], entry["job_id"]) == ("complained", complained.job_id)
    assert events.item(complained.job_id) == {}
    assert _receive(sqs, parked) == []
