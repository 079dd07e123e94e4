"""SendWorkerFunction's failure paths (issue #27, and item 3 of issue #25): a
job's record bounded however long it waits, a longest wait and the end of
its retention, suppression that fails closed, a send SES accepted whose
outcome write fails, an unreadable unsubscribe key, and the outcome of an
attempt that is unknown.

Same harness as ``test_send_worker.py`` (moto from template.yaml). What moto
cannot produce is made at the client: SES's throttling with ``Stubber``;
DynamoDB refusing one kind of request (a throttled read, an oversize write)
with a client that passes every other call to moto.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber

from common.adapters import aws
from common.adapters.attribute_values import serialize
from common.adapters.suppressions import SuppressionStore
from common.logic.sending import LONGEST_WAIT_SECONDS, RETENTION_MARGIN_SECONDS, Delivery, Outcome
from common.models.clock import epoch_seconds, to_rfc3339, utc_now
from common.models.job import OUTCOME_SETTLE_SECONDS, AttemptOutcome, JobStatus, JobType, QueueMessage
from common.models.suppression import SuppressionEntry, SuppressionReason
from tests.integration.test_send_worker import (
    BULK,
    PRIORITY,
    REGION,
    CallLog,
    Harness,
    RaisingSes,
    failed_ids,
    harness,
    make_job,
)
from tests.integration.test_send_worker_faults import ENDPOINT, run_until_done, ses_script

__all__ = ["harness"]  # the fixture, shared

THROTTLED = ("TooManyRequestsException", 429)
PAUSED = ("SendingPausedException", 400)


# ---------------------------------------------------------------- helpers
def dynamodb_size(value: Any) -> int:
    """An attribute value's size by DynamoDB's rules (Developer Guide, "Item
    sizes and formats"): strings and binaries their bytes, a number about one
    byte per two significant digits plus one, null and boolean 1 byte, a list
    or map 3 bytes plus 1 per element (and, in a map, each name's bytes)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        digits = Decimal(inner).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "L":
        return 3 + sum(dynamodb_size(member) + 1 for member in inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + dynamodb_size(member) + 1 for name, member in inner.items())
    if kind == "SS":
        return sum(len(member.encode()) for member in inner)
    if kind == "NS":
        return sum(dynamodb_size({"N": member}) for member in inner)
    raise AssertionError(f"no size rule for {kind}")


def item_size(harness: Harness, job_id: str) -> int:
    """The job's item as stored, measured as DynamoDB measures it against its 400 KB."""
    item = harness.dynamodb.get_item(TableName=harness.stack.names["JobsTable"], Key={"pk": {"S": job_id}})["Item"]
    return sum(len(name.encode()) + dynamodb_size(value) for name, value in item.items())


def to_millis(moment: datetime) -> datetime:
    """A time as the job stores it: to the millisecond."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def set_attributes(harness: Harness, job_id: str, **values: Any) -> None:
    """Set attributes of a job's item directly (what another writer, or time, made of it)."""
    names = {f"#a{n}": name for n, name in enumerate(values)}
    harness.dynamodb.update_item(
        TableName=harness.stack.names["JobsTable"],
        Key={"pk": {"S": job_id}},
        UpdateExpression="SET " + ", ".join(f"#a{n} = :a{n}" for n in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=serialize({f":a{n}": value for n, value in enumerate(values.values())}),
    )


class UnseenQueue:
    """An SQS client for a record the test hands back itself: its delay changes nothing."""

    def change_message_visibility(self, **_: Any) -> None:
        return None


class RefusingDynamoDB:
    """The moto DynamoDB client, except for the calls ``refuses(operation, params)``
    picks: those fail as DynamoDB would answer them (``code``), unsent."""

    def __init__(self, real: Any, refuses: Any, code: str, status: int = 400) -> None:
        self._real = real
        self._refuses = refuses
        self._code = code
        self._status = status
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._real, name)
        if not callable(real) or name.startswith("_") or name == "meta":
            return real

        def call(**params: Any) -> Any:
            if self._refuses(name, params):
                self.refused += 1
                answer: Any = {
                    "Error": {"Code": self._code, "Message": "refused by the test"},
                    "ResponseMetadata": {"HTTPStatusCode": self._status},
                }
                raise ClientError(answer, name)
            return real(**params)

        return call


# ---------------------------------------------------------------- issue #25, item 3: a bounded record
def test_ten_thousand_waits_keep_the_job_small_uncounted_and_send_it_once(harness: Harness) -> None:
    # Given SES throttles one escalation 10,000 times in a row, then accepts it
    waits = 10_000
    ses, stubber = ses_script(*[THROTTLED] * waits, None)
    job = harness.put(make_job())[0]
    (message,) = harness.receive()
    delivery = Delivery(message["Body"], harness.stack.arns[PRIORITY], message["ReceiptHandle"])
    # (the record's delays are not waited for: each wait, it is simply processed again)
    worker = harness.worker(sesv2=ses, sqs=UnseenQueue())
    # When its message comes back after each wait (a second apart: well within the longest wait)
    for _ in range(waits):
        assert worker.process(delivery).outcome is Outcome.RETRY
        harness.clock.advance(1)
    waited = harness.job(job.job_id)
    size_waiting = item_size(harness, job.job_id)
    sent = worker.process(delivery)
    again = worker.process(delivery)
    # Then the item stays far under DynamoDB's 400 KB (as small as a job with one attempt)
    assert size_waiting < 2_000
    # And no wait was an attempt, and the waits are one entry of the log
    assert waited.status is JobStatus.RETRYING
    assert waited.attempts == 0
    assert [(e.outcome, e.repeated) for e in waited.attempt_log] == [(AttemptOutcome.RETRY, waits)]
    assert waited.attempt_log[0].at == to_millis(harness.clock.now - timedelta(seconds=1))  # the last wait's time
    # And SES accepted it once, after one attempt; the message once more sends nothing
    assert (sent.outcome, again.outcome) == (Outcome.SENT, Outcome.DUPLICATE)
    stubber.assert_no_pending_responses()  # 10,001 SendEmail calls, no more
    stored = harness.job(job.job_id)
    assert (stored.status, stored.message_id) == (JobStatus.SENT, "ses-message-1")
    assert stored.attempts == 1
    assert [(e.outcome, e.repeated) for e in stored.attempt_log] == [
        (AttemptOutcome.RETRY, waits),
        (AttemptOutcome.SENT, None),
    ]
    assert item_size(harness, job.job_id) < 2_000


def test_waits_apart_are_entries_apart_and_each_run_restarts_the_doubling(harness: Harness) -> None:
    # Given SES throttles twice, fails once (5xx), then throttles twice more
    ses, stubber = ses_script(THROTTLED, THROTTLED, ("InternalFailure", 500), THROTTLED, THROTTLED)
    worker_sqs = boto3.client("sqs", region_name=REGION)
    visibility = CallLog()
    visibility.attach(worker_sqs)
    job = harness.put(make_job())[0]
    # When the message is delivered five times
    run_until_done(harness, harness.worker(sesv2=ses, sqs=worker_sqs), rounds=5)
    # Then the log has a run of two waits, the attempt, and another run of two
    stubber.assert_no_pending_responses()
    stored = harness.job(job.job_id)
    assert stored.attempts == 1
    assert [(e.outcome, e.repeated) for e in stored.attempt_log] == [
        (AttemptOutcome.RETRY, 2),
        (AttemptOutcome.RETRY, None),
        (AttemptOutcome.RETRY, 2),
    ]
    # And each run's waits start again from SES's hint (5 s), the attempt's backoff between them
    delays = [p["VisibilityTimeout"] for p in visibility.params("ChangeMessageVisibility")]
    assert delays == [5, 10, 30, 5, 10]


# ---------------------------------------------------------------- issue #27, item 7: no endless wait
@pytest.mark.parametrize("answer", [THROTTLED, PAUSED])
def test_a_job_that_waited_the_longest_wait_fails_saying_so(harness: Harness, answer: tuple[str, int]) -> None:
    # Given SES pushes back at a job's first try, and again just before the longest wait is over
    ses, _ = ses_script(answer, answer, answer)
    worker = harness.worker(sesv2=ses)
    job = harness.put(make_job())[0]
    first = harness.clock.now
    assert failed_ids(come_back(harness, worker))
    harness.clock.advance(LONGEST_WAIT_SECONDS - 1)
    assert failed_ids(come_back(harness, worker))
    assert harness.job(job.job_id).status is JobStatus.RETRYING
    # When SES still pushes back once the longest wait is over
    harness.clock.advance(1)
    response = come_back(harness, worker)
    # Then the job failed, never sent, with an error that says how long it waited, why, and what to do
    assert response == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert harness.sent_to("owner@acme.com") == 0
    assert stored.error is not None
    assert f"gave up after waiting {LONGEST_WAIT_SECONDS // 3600} hours (since {to_rfc3339(first)})" in stored.error
    assert answer[0] in stored.error
    assert "send it again with Retry" in stored.error
    assert [(e.outcome, e.repeated) for e in stored.attempt_log] == [
        (AttemptOutcome.RETRY, 2),
        (AttemptOutcome.FAILED, None),
    ]
    assert stored.attempts == 0  # SES never answered about the email itself


def come_back(harness: Harness, worker: Any) -> dict[str, Any]:
    """The job's message once more (as after its delay, or from the sweeper): its one
    record processed, then taken off the queue, whatever the answer."""
    event = harness.deliver()
    assert len(event["Records"]) == 1
    response = harness.process(event, worker)
    harness.settle(event, {"batchItemFailures": []})
    for job_id in {QueueMessage.model_validate_json(r["body"]).job_id for r in event["Records"]}:
        if harness.job(job_id).status is JobStatus.RETRYING:
            assert harness.queues.send([QueueMessage.for_job(harness.job(job_id))]) == []
    return response


def _redeliver(harness: Harness, job_id: str) -> dict[str, Any]:
    """The job's message as the sweeper brings it back."""
    assert harness.queues.send([QueueMessage.for_job(harness.job(job_id))]) == []
    return harness.deliver()


def test_a_job_still_waiting_near_the_end_of_its_retention_fails_before_its_ttl(harness: Harness) -> None:
    # Given a job whose retention (its TTL) ends soon, as with RetentionDays 1 late in its day,
    # and SES throttling every try
    job = harness.put(make_job())[0]
    margin = RETENTION_MARGIN_SECONDS + harness.settings.sweep_grace_seconds
    expires_at = epoch_seconds(harness.clock.now) + margin + 600
    set_attributes(harness, job.job_id, expires_at=expires_at)
    ses, _ = ses_script(*[THROTTLED] * 40)
    worker_sqs = boto3.client("sqs", region_name=REGION)
    visibility = CallLog()
    visibility.attach(worker_sqs)
    worker = harness.worker(sesv2=ses, sqs=worker_sqs)
    # When its message comes back after each wait, time moving on by that wait
    for _ in range(40):
        event = harness.deliver()
        if not event["Records"]:
            break
        response = harness.process(event, worker)
        harness.settle(event, response)
        if not failed_ids(response):
            break
        harness.clock.advance(visibility.params("ChangeMessageVisibility")[-1]["VisibilityTimeout"])
        harness.release(event)
    # Then it failed before its TTL passed, unsent, saying why
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert epoch_seconds(harness.clock.now) < expires_at
    assert harness.sent_to("owner@acme.com") == 0
    assert stored.error is not None and "end of its retention" in stored.error
    assert "TooManyRequestsException" in stored.error  # the last error, kept
    assert "Retry" in stored.error
    assert stored.attempts == 0


# ---------------------------------------------------------------- issue #27, item 1: suppression fails closed
def test_an_unreadable_suppression_list_holds_the_batch_unsent(harness: Harness) -> None:
    # Given a queued bulk email whose recipient unsubscribed after it was queued
    job = harness.put(make_job(job_type=JobType.MANUAL, recipient="gone@example.org"))[0]
    SuppressionStore(harness.dynamodb, harness.stack.names["JobsTable"]).add(
        SuppressionEntry(
            domain="acme.com", email="gone@example.org", reason=SuppressionReason.UNSUBSCRIBED, created_at=utc_now()
        )
    )
    # And a moment when the suppression list cannot be read (DynamoDB throttles its read)
    throttled = RefusingDynamoDB(
        harness.dynamodb,
        lambda op, params: (
            op == "batch_get_item"
            and any(k["pk"]["S"].startswith("sup#") for r in params["RequestItems"].values() for k in r["Keys"])
        ),
        "ProvisionedThroughputExceededException",
    )
    worker_sqs = boto3.client("sqs", region_name=REGION)
    visibility = CallLog()
    visibility.attach(worker_sqs)
    # When the worker gets its batch then
    event = harness.deliver(BULK)
    response = harness.process(event, harness.worker(dynamodb=throttled, sqs=worker_sqs))
    # Then nothing is sent: the record goes back, delayed, and the job is untouched (no attempt)
    assert throttled.refused == 1
    assert harness.sent_to("gone@example.org") == 0
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    assert [p["VisibilityTimeout"] for p in visibility.params("ChangeMessageVisibility")] == [5]
    held = harness.job(job.job_id)
    assert (held.status, held.attempts, held.attempt_log) == (JobStatus.QUEUED, 0, [])
    # And once the list can be read again, the job is suppressed, never sent
    harness.release(event, BULK)
    assert harness.process(harness.deliver(BULK)) == {"batchItemFailures": []}
    assert harness.job(job.job_id).status is JobStatus.SUPPRESSED
    assert harness.sent_to("gone@example.org") == 0


# ---------------------------------------------------------------- issue #27, item 2: a send SES accepted is kept
def test_an_outcome_write_that_fails_after_the_send_is_recorded_minimally(harness: Harness) -> None:
    # Given DynamoDB refuses the worker's outcome write after SES accepted the email
    # (as it refuses an item grown past 400 KB; moto neither measures as DynamoDB nor leaves a refused write undone)
    job = harness.put(make_job())[0]
    oversize = RefusingDynamoDB(
        harness.dynamodb,
        lambda op, params: op == "update_item" and "list_append(attempt_log" in params["UpdateExpression"],
        "ValidationException",
    )
    before = item_size(harness, job.job_id)
    # When the worker sends it, and later the job's message comes back (its lease would have expired)
    event = harness.deliver()
    response = harness.process(event, harness.worker(dynamodb=oversize))
    harness.settle(event, response)
    harness.clock.advance(harness.settings.lease_seconds + 1)
    later = harness.process(_redeliver(harness, job.job_id))
    # Then the email went out once
    assert oversize.refused == 1
    assert harness.sent_to("owner@acme.com") == 1
    assert response == later == {"batchItemFailures": []}
    # And the send is recorded, by a write that did not grow the item
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.message_id == harness.sent()[0].id
    assert stored.sent_at is not None and stored.sent_at < harness.clock.now
    assert stored.error is None
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.SENT]
    assert item_size(harness, job.job_id) < before + 300


class EventMeanwhile:
    """SES whose event about an earlier attempt is recorded while the worker
    holds the job (the events' path writes ``delivered`` on a ``sending`` job),
    and which then throttles this attempt."""

    def __init__(self, harness: Harness, job_id: str) -> None:
        self._harness = harness
        self._job_id = job_id

    def send_email(self, **_: Any) -> dict[str, Any]:
        set_attributes(self._harness, self._job_id, status="delivered", sent_at=to_rfc3339(utc_now()))
        answer: Any = {
            "Error": {"Code": "TooManyRequestsException", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 429},
        }
        raise ClientError(answer, "SendEmail")


def test_an_event_recorded_while_the_worker_holds_the_job_is_not_overwritten(harness: Harness) -> None:
    job = harness.put(make_job())[0]
    response = harness.process(harness.deliver(), harness.worker(sesv2=EventMeanwhile(harness, job.job_id)))
    # SES's word stands: the worker's wait is not written over it, and the record is done with
    assert response == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.DELIVERED
    assert stored.attempt_log == []


# ---------------------------------------------------------------- issue #27, item 11: the unsubscribe key
def test_an_unreadable_unsubscribe_key_is_waited_out_not_counted(harness: Harness) -> None:
    # Given Secrets Manager fails more often than MaxAttempts while a bulk email's link is signed
    fails = harness.settings.max_attempts + 3
    secrets = Stubber(aws.secretsmanager())
    for _ in range(fails):
        secrets.add_client_error("get_secret_value", "InternalServiceError", "down", 500)
    secrets.add_response("get_secret_value", {"SecretString": "k" * 32, "Name": "unsubscribe"})
    secrets.activate()
    job = harness.put(make_job(job_type=JobType.MANUAL))[0]
    # When the message is delivered until the worker is done with it
    run_until_done(harness, harness.worker(), rounds=fails + 3, queue=BULK)
    # Then the email went out once, with its link, after one attempt; the waits are one entry
    secrets.assert_no_pending_responses()
    assert harness.sent_to("owner@acme.com") == 1
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.attempts == 1
    assert [(e.outcome, e.repeated) for e in stored.attempt_log] == [
        (AttemptOutcome.RETRY, fails),
        (AttemptOutcome.SENT, None),
    ]
    assert "unsubscribe link could not be signed" in (stored.attempt_log[0].error or "")


# ---------------------------------------------------------------- issue #27, item 3: an unknown outcome
def timing_out() -> RaisingSes:
    """SES that takes the email and never answers: the read times out."""
    return RaisingSes(lambda: ReadTimeoutError(endpoint_url=ENDPOINT))


@pytest.mark.parametrize(
    ("job_type", "status"), [(JobType.ESCALATION, JobStatus.RETRYING), (JobType.MANUAL, JobStatus.FAILED)]
)
def test_a_read_timeout_records_that_the_outcome_is_unknown(
    harness: Harness, job_type: JobType, status: JobStatus
) -> None:
    job = harness.put(make_job(job_type=job_type))[0]
    queue = BULK if job_type is JobType.MANUAL else PRIORITY
    harness.process(harness.deliver(queue), harness.worker(sesv2=timing_out()))
    stored = harness.job(job.job_id)
    assert stored.status is status
    assert stored.outcome_unknown_at == stored.attempt_log[-1].at
    assert stored.outcome_unknown_until == stored.attempt_log[-1].at + timedelta(seconds=OUTCOME_SETTLE_SECONDS)


def test_an_accepted_attempt_after_an_unknown_one_clears_it(harness: Harness) -> None:
    job = harness.put(make_job())[0]
    event = harness.deliver()
    harness.process(event, harness.worker(sesv2=timing_out()))
    harness.release(event)
    assert harness.job(job.job_id).outcome_unknown_at is not None
    run_until_done(harness, harness.worker(), rounds=3)
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.outcome_unknown_at is None


def test_a_later_refused_attempt_does_not_clear_an_unknown_one(harness: Harness) -> None:
    # A 5xx after a read timeout says nothing about the attempt that timed out
    job = harness.put(make_job())[0]
    event = harness.deliver()
    harness.process(event, harness.worker(sesv2=timing_out()))
    harness.release(event)
    unknown_at = harness.job(job.job_id).outcome_unknown_at
    ses, _ = ses_script(*[("InternalFailure", 500)] * 10)
    run_until_done(harness, harness.worker(sesv2=ses), rounds=10)
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.outcome_unknown_at == unknown_at
