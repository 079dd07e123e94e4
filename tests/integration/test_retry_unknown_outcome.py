"""Retry of a job SES may have accepted (issue #27, item 3): a read timeout on
SendEmail leaves the job's outcome unknown; an admin cancels it; Retry
refuses it (409 ``not_retryable``) until SES's event or the longest wait
for one settles it. Through JobActionsFunction's and ListJobsFunction's
handlers and the worker, on moto (template.yaml)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError, ReadTimeoutError

from common.models.clock import to_rfc3339, utc_now
from common.models.job import OUTCOME_SETTLE_SECONDS, EventType, JobStatus, JobType
from local.template import Stack
from tests.integration.test_job_actions import Actions
from tests.integration.test_send_worker import BULK, Harness, RaisingSes, make_job
from tests.integration.test_send_worker_failure_paths import set_attributes
from tests.integration.test_send_worker_faults import ENDPOINT


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@pytest.fixture
def admin(stack: Stack, lambda_context: Any) -> Actions:
    return Actions(lambda_context, domains="acme.com")


def timed_out(harness: Harness, *, job_type: JobType = JobType.ESCALATION) -> str:
    """A job whose one attempt SES may have accepted: the read timed out."""
    job = harness.put(make_job(job_type=job_type))[0]
    event = harness.deliver(BULK if job_type is JobType.MANUAL else "PriorityQueue")
    harness.process(event, harness.worker(sesv2=RaisingSes(lambda: ReadTimeoutError(endpoint_url=ENDPOINT))))
    return job.job_id


def test_a_canceled_job_whose_send_timed_out_is_not_retried_while_ses_may_have_it(
    harness: Harness, admin: Actions
) -> None:
    # Given an escalation whose send timed out (retrying), then canceled by an admin
    job_id = timed_out(harness)
    assert harness.job(job_id).status is JobStatus.RETRYING
    assert admin.cancel(job_id).status == 200
    attempted_at = harness.job(job_id).attempt_log[-1].at
    # When the admin asks to send it again
    reply = admin.retry(job_id)
    # Then it is refused, saying why and until when, and nothing is queued or written
    assert (reply.status, reply.code) == (409, "not_retryable")
    message = reply.body["error"]["message"]
    until = attempted_at + timedelta(seconds=OUTCOME_SETTLE_SECONDS)
    assert "SES may have accepted" in message
    assert to_rfc3339(until) in message
    assert admin.list_jobs(domain="acme.com").body["items"][0]["job_id"] == job_id  # no new job
    # And the job's detail says until when its outcome is unknown (what the page shows)
    detail = admin.get(job_id).body
    assert detail["outcome_unknown_until"] == to_rfc3339(until)


def test_a_bulk_email_failed_after_a_timeout_is_not_retried_while_ses_may_have_it(
    harness: Harness, admin: Actions
) -> None:
    job_id = timed_out(harness, job_type=JobType.MANUAL)
    assert harness.job(job_id).status is JobStatus.FAILED
    reply = admin.retry(job_id)
    assert (reply.status, reply.code) == (409, "not_retryable")


def test_after_the_longest_wait_for_ses_the_job_can_be_sent_again(harness: Harness, admin: Actions) -> None:
    # Given a canceled job whose send timed out more than 24 hours ago, and no event from SES since
    job_id = timed_out(harness)
    assert admin.cancel(job_id).status == 200
    long_ago = utc_now() - timedelta(seconds=OUTCOME_SETTLE_SECONDS + 60)
    set_attributes(harness, job_id, outcome_unknown_at=to_rfc3339(long_ago))
    # When the admin retries it, then it is queued again
    reply = admin.retry(job_id)
    assert reply.status == 202
    assert reply.body["job_id"] != job_id


@pytest.mark.parametrize("event_type", [EventType.BOUNCED, EventType.REJECTED])
def test_an_event_from_ses_settles_the_unknown_outcome_at_once(
    harness: Harness, admin: Actions, event_type: EventType
) -> None:
    # Given a failed bulk email whose send timed out, then SES's word on it (a bounce, a reject)
    job_id = timed_out(harness, job_type=JobType.MANUAL)
    event = {"at": to_rfc3339(utc_now()), "type": event_type.value, "detail": "what SES reported"}
    set_attributes(harness, job_id, events=[event])
    # Then it can be sent again at once, and its detail no longer shows an unknown outcome
    assert admin.get(job_id).body["outcome_unknown_until"] is None
    assert admin.retry(job_id).status == 202


def test_a_delay_event_does_not_settle_it(harness: Harness, admin: Actions) -> None:
    # SES reporting a delivery delay means it accepted the email and is still trying
    job_id = timed_out(harness, job_type=JobType.MANUAL)
    event = {"at": to_rfc3339(utc_now()), "type": EventType.DELAYED.value, "detail": "delayed"}
    set_attributes(harness, job_id, events=[event])
    assert (admin.retry(job_id).status, admin.retry(job_id).code) == (409, "not_retryable")


def test_a_job_whose_outcomes_were_all_known_is_retried_as_before(harness: Harness, admin: Actions) -> None:
    job = harness.put(make_job(job_type=JobType.MANUAL))[0]
    harness.process(
        harness.deliver(BULK),
        harness.worker(sesv2=RaisingSes(lambda: ParamValidationError(report="invalid"))),
    )
    assert harness.job(job.job_id).status is JobStatus.FAILED
    assert admin.get(job.job_id).body["outcome_unknown_until"] is None
    assert admin.retry(job.job_id).status == 202
