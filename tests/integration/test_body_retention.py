"""A body lives as long as the newest job that uses it, and a body that is
gone is never a 500 (issue #27, item 6).

The bucket's lifecycle expires an object ``RetentionDays`` after its creation,
and DynamoDB's TTL deletes a body item on its own schedule; moto runs
neither, so a test deletes what they would have deleted.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from common.adapters.bodies import S3_THRESHOLD, compress, s3_key
from common.models.job import Bodies, JobStatus
from common.models.listing import BODY_GONE
from local.template import Stack, load_template
from tests.integration.test_job_actions import Actions, raw_item
from tests.integration.test_send_worker import BODIES, PRIORITY, Harness, make_job


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@pytest.fixture
def admin(stack: Stack, lambda_context: Any) -> Actions:
    return Actions(lambda_context, domains="acme.com")


def large_body() -> Bodies:
    """A body whose compressed parts pass the S3 threshold (random text barely compresses)."""
    bodies = Bodies(text=secrets.token_hex(6_000), html=f"<p>{secrets.token_hex(2_000)}</p>")
    assert compress(bodies).size > S3_THRESHOLD
    return bodies


def failed_job_with_a_large_body(harness: Harness) -> tuple[str, Bodies]:
    job = make_job()
    BODIES[job.body] = large_body()
    harness.put(job, queue=False)
    assert raw_item(harness, f"b#{job.body}")["s3"]["S"] == s3_key("acme.com", job.body)
    assert harness.table.settle(job.job_id, JobStatus.FAILED, error="the mailbox was full")
    return job.job_id, BODIES[job.body]


def expire_object(harness: Harness, key: str) -> None:
    """What the bucket's lifecycle does RetentionDays after the object was made."""
    harness.s3.delete_object(Bucket=harness.stack.names["BodiesBucket"], Key=key)


def test_a_retried_job_keeps_its_large_body_when_the_originals_object_expires(harness: Harness, admin: Actions) -> None:
    # Given a failed job whose large body is in S3, retried
    old_id, bodies = failed_job_with_a_large_body(harness)
    reply = admin.retry(old_id)
    assert reply.status == 202, reply.body
    new_id = reply.body["job_id"]

    # When the bucket's lifecycle deletes the original's object (it expires with the old job)
    expire_object(harness, s3_key("acme.com", old_id))

    # Then the retried job still shows its body
    detail = admin.get(new_id)
    assert detail.status == 200, detail.body
    assert (detail.body["body_text"], detail.body["body_html"]) == (bodies.text, bodies.html)
    assert detail.body["body_kept"] is True
    # And the worker sends it, with that body
    assert harness.process(harness.deliver(PRIORITY)) == {"batchItemFailures": []}
    harness.assert_sent_once_after(new_id, attempts=1)
    # While the old job, whose retention the object followed, says its body is no longer kept
    old = admin.get(old_id)
    assert old.status == 200 and old.body["body_kept"] is False


def test_a_retry_gets_a_body_of_its_own_that_lives_as_long_as_it(harness: Harness, admin: Actions) -> None:
    old_id, _ = failed_job_with_a_large_body(harness)
    old_body = raw_item(harness, f"b#{old_id}")

    new_id = admin.retry(old_id).body["job_id"]

    # The new job names a body item of its own, pointing at an object made now
    new = raw_item(harness, new_id)
    assert new["body"]["S"] == new_id
    copy = raw_item(harness, f"b#{new_id}")
    assert copy["s3"]["S"] == s3_key("acme.com", new_id)
    assert copy["expires_at"] == new["expires_at"]
    # The old body is untouched: nothing ever updates a body item
    assert raw_item(harness, f"b#{old_id}") == old_body


def test_a_retry_whose_large_bodys_object_is_gone_is_refused_as_no_longer_kept(
    harness: Harness, admin: Actions
) -> None:
    old_id, _ = failed_job_with_a_large_body(harness)
    expire_object(harness, s3_key("acme.com", old_id))

    reply = admin.retry(old_id)

    assert (reply.status, reply.code) == (409, "not_retryable")
    assert "no longer" in reply.body["error"]["message"]
    assert harness.receive() == []


@pytest.mark.parametrize("where", ["s3 object", "body item"])
def test_a_job_whose_body_is_gone_answers_its_detail_saying_so(harness: Harness, admin: Actions, where: str) -> None:
    # Given a job near the end of its retention whose body expired before the job did
    job = make_job()
    if where == "s3 object":
        BODIES[job.body] = large_body()
    harness.put(job, queue=False)
    assert harness.table.settle(job.job_id, JobStatus.FAILED)
    if where == "s3 object":
        expire_object(harness, s3_key("acme.com", job.body))
    else:
        harness.dynamodb.delete_item(TableName=harness.stack.names["JobsTable"], Key={"pk": {"S": f"b#{job.body}"}})

    # When an admin opens it
    reply = admin.get(job.job_id)

    # Then it is the job's detail, saying its body is no longer kept: never a 500
    assert reply.status == 200, reply.body
    assert reply.body["job_id"] == job.job_id and reply.body["status"] == "failed"
    assert (reply.body["body_kept"], reply.body["body_text"], reply.body["body_html"]) == (False, BODY_GONE, None)


def test_a_queued_job_whose_body_is_gone_fails_saying_so_and_its_batch_goes_on(harness: Harness) -> None:
    # Given two queued jobs in one batch, one of whose large body expired
    gone, fine = make_job(recipient="gone@acme.com"), make_job(recipient="fine@acme.com")
    BODIES[gone.body] = large_body()
    harness.put(gone, fine)
    expire_object(harness, s3_key("acme.com", gone.body))

    # When the worker takes the batch
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}

    # Then the other job is sent, and the one without a body fails, saying why
    assert harness.job(fine.job_id).status is JobStatus.SENT
    failed = harness.job(gone.job_id)
    assert failed.status is JobStatus.FAILED and failed.error is not None and "body" in failed.error


def test_the_readers_of_large_bodies_may_list_the_bucket_so_a_gone_object_is_a_404() -> None:
    # Without s3:ListBucket, S3 answers a missing object with 403 AccessDenied, not 404 NoSuchKey
    resources = load_template()["Resources"]
    for function in ("ListJobsFunction", "SendWorkerFunction", "JobActionsFunction"):
        statements = resources[function]["Properties"]["Policies"][0]["Statement"]
        listing = [s for s in statements if "s3:ListBucket" in s["Action"]]
        assert listing, function
        assert all(s["Resource"] == {"Fn::GetAtt": ["BodiesBucket", "Arn"]} for s in listing), function
