"""End to end: cancel and retry through the local stack's HTTP API, the worker
and the embedded SES, driven only from outside (jobs are written into the
embedded AWS's table as the service writes them, so that their status is
known before the worker could reach them)."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest
import requests

from common.adapters.bodies import BodyStore
from common.adapters.bulks import BulkItem
from common.models.job import Bodies, Job, JobStatus, JobType, QueueMessage, new_job_id
from local.jobs_table import JobsTable
from tests.e2e.test_local_stack import auth, job, new_domain, ses_messages, wait_sent

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

FAR = 10**10  # a due_at the sweeper never reaches


def client(stack, service: str):
    return boto3.client(
        service,
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def table(stack) -> JobsTable:
    dynamodb = client(stack, "dynamodb")
    (name,) = [n for n in dynamodb.list_tables()["TableNames"] if n.endswith("-JobsTable")]
    return JobsTable(dynamodb, name)


def write_jobs(stack, domain: str, count: int, *, status: JobStatus, bulk_id: str | None = None) -> list[Job]:
    """Jobs as the service stores them (with their body), no queue message sent."""
    jobs = table(stack)
    body_id = bulk_id or new_job_id()[0]
    made = []
    for i in range(count):
        job_id, created_at = new_job_id()
        made.append(
            Job(
                job_id=job_id,
                created_at=created_at,
                domain=domain,
                type=JobType.MANUAL if bulk_id else JobType.INVITATION,
                recipient=f"person{i}-{uuid.uuid4().hex[:6]}@{domain}",
                subject="You are invited",
                status=status,
                body=body_id,
                bulk_id=bulk_id,
                error="MessageRejected: the sender was not verified" if status is JobStatus.FAILED else None,
            )
        )
    body = BodyStore(jobs._client, jobs._table, None, None).item(
        body_id, domain, Bodies(text="Join us."), expires_at=jobs.expires_at(made[0].created_at)
    )
    jobs.put_new(made, due_at=FAR, bodies=[body])
    return made


def sent_to(stack, address: str) -> int:
    return sum(1 for m in ses_messages(stack) if m["destinations"]["ToAddresses"] == [address])


def test_a_failed_job_retried_over_http_is_sent_as_a_new_linked_job(local_stack):
    domain = new_domain()
    [failed] = write_jobs(local_stack, domain, 1, status=JobStatus.FAILED)
    response = requests.post(f"{local_stack.api}/jobs/{failed.job_id}/retry", headers=auth(domain), timeout=30)
    assert response.status_code == 202, response.text
    new_id = response.json()["job_id"]
    detail = wait_sent(local_stack, new_id, domain)
    assert detail["retry_of"] == failed.job_id
    assert (detail["recipient"], detail["body_text"]) == (failed.recipient, "Join us.")
    old = job(local_stack, failed.job_id, domain).json()
    assert (old["status"], old["retry_of"]) == ("failed", None)
    # Another tenant cannot retry it
    other = requests.post(f"{local_stack.api}/jobs/{failed.job_id}/retry", headers=auth(new_domain()), timeout=30)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")


def test_a_retry_repeated_with_its_idempotency_key_over_http_sends_once(local_stack):
    domain = new_domain()
    [failed] = write_jobs(local_stack, domain, 1, status=JobStatus.FAILED)
    headers = {**auth(domain), "Idempotency-Key": "retry-once"}
    url = f"{local_stack.api}/jobs/{failed.job_id}/retry"
    first = requests.post(url, headers=headers, timeout=30)
    assert first.status_code == 202, first.text
    wait_sent(local_stack, first.json()["job_id"], domain)
    again = requests.post(url, headers=headers, timeout=30)
    assert (again.status_code, again.json()) == (202, first.json())
    assert sent_to(local_stack, failed.recipient) == 1


def test_a_canceled_job_is_never_sent_when_its_message_arrives(local_stack):
    domain = new_domain()
    [queued] = write_jobs(local_stack, domain, 1, status=JobStatus.QUEUED)
    response = requests.post(f"{local_stack.api}/jobs/{queued.job_id}/cancel", headers=auth(domain), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    again = requests.post(f"{local_stack.api}/jobs/{queued.job_id}/cancel", headers=auth(domain), timeout=30)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_cancelable")
    # When its message reaches the worker
    sqs = client(local_stack, "sqs")
    url = sqs.get_queue_url(QueueName="emailops-PriorityQueue")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=QueueMessage.for_job(queued).model_dump_json())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    ):
        time.sleep(0.2)
    time.sleep(2)
    # Then nothing was sent and it stays canceled
    assert sent_to(local_stack, queued.recipient) == 0
    assert job(local_stack, queued.job_id, domain).json()["status"] == "canceled"


def test_a_bulk_cancel_over_http_cancels_and_counts_its_queued_jobs(local_stack):
    domain = new_domain()
    bulk_id = new_job_id()[0]
    jobs = write_jobs(local_stack, domain, 5, status=JobStatus.QUEUED, bulk_id=bulk_id)
    table(local_stack).put_bulk(BulkItem.of(bulk_id, domain, "You are invited"))
    table(local_stack).record_stored(bulk_id, len(jobs))  # as Bulk Send does once its jobs are written
    other = requests.post(f"{local_stack.api}/bulks/{bulk_id}/cancel", headers=auth(new_domain()), timeout=30)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")
    response = requests.post(f"{local_stack.api}/bulks/{bulk_id}/cancel", headers=auth(domain), timeout=60)
    assert (response.status_code, response.json()) == (200, {"canceled": 5})
    progress = requests.get(f"{local_stack.api}/bulks/{bulk_id}", headers=auth(domain), timeout=30).json()
    assert progress["counts"]["canceled"] == progress["total"] == 5
