"""The jobs table adapter against moto, on the table template.yaml defines."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from common.adapters import index_keys as keys
from common.adapters.job_claims import ClaimOutcome
from common.models.clock import utc_now
from common.models.errors import StorageError
from common.models.job import (
    AttemptLogEntry,
    AttemptOutcome,
    Job,
    JobStatus,
    JobType,
    QueueMessage,
    QueueName,
    new_job_id,
)
from local.jobs_table import JobsTable
from local.template import Stack


def make_job(domain: str = "acme.com", job_type: JobType = JobType.ESCALATION, key: str | None = None) -> Job:
    job_id, created_at = new_job_id()
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain=domain,
        type=job_type,
        recipient="owner@acme.com",
        subject="A visitor asks for a human",
        body=job_id,
        idempotency_key=key,
    )


@pytest.fixture
def table(stack: Stack) -> JobsTable:
    return JobsTable(boto3.client("dynamodb", region_name="us-east-1"), stack.names["JobsTable"])


def test_new_job_reads_back_equal(table: JobsTable) -> None:
    # Given a new job
    job = make_job()
    # When it is written and read back
    table.put_new([job], due_at=0)
    # Then the stored job equals it
    assert table.get(job.job_id) == job


def test_same_idempotency_key_returns_the_first_job(table: JobsTable) -> None:
    first, second = make_job(key="conv-1-bell"), make_job(key="conv-1-bell")
    assert table.put_new_idempotent(first, due_at=0) == first.job_id
    assert table.put_new_idempotent(second, due_at=0) == first.job_id
    assert table.get(second.job_id) is None


def test_same_key_in_another_domain_is_another_job(table: JobsTable) -> None:
    first, other = make_job(key="k"), make_job(domain="beta.io", key="k")
    table.put_new_idempotent(first, due_at=0)
    assert table.put_new_idempotent(other, due_at=0) == other.job_id


def test_claim_then_record_sent_then_claim_again_sends_nothing(table: JobsTable) -> None:
    job = make_job()
    table.put_new([job], due_at=0)
    message = QueueMessage.for_job(job)

    claim = table.claim(message, now_ms=1_000, lease_seconds=60, token="t1", due_at=100)
    assert claim.outcome is ClaimOutcome.CLAIMED
    assert claim.job is not None
    assert claim.job.status is JobStatus.SENDING
    assert claim.job.attempts == 1

    # A second delivery while the lease is live finds the job busy.
    assert table.claim(message, now_ms=2_000, lease_seconds=60, token="t2", due_at=100).outcome is ClaimOutcome.BUSY

    now = utc_now()
    entry = AttemptLogEntry(at=now, outcome=AttemptOutcome.SENT)
    assert table.record_attempt(
        claim.job, token="t1", entry=entry, status=JobStatus.SENT, message_id="m-1", sent_at=now
    )

    stored = table.get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.SENT
    assert stored.message_id == "m-1"
    assert stored.attempt_log == [entry]
    assert table.claim(message, now_ms=10**13, lease_seconds=60, token="t3", due_at=100).outcome is ClaimOutcome.FINAL


def test_expired_lease_can_be_claimed_and_the_old_holder_cannot_record(table: JobsTable) -> None:
    job = make_job()
    table.put_new([job], due_at=0)
    message = QueueMessage.for_job(job)
    first = table.claim(message, now_ms=1_000, lease_seconds=60, token="old", due_at=100)
    assert first.job is not None
    second = table.claim(message, now_ms=1_000 + 61_000, lease_seconds=60, token="new", due_at=100)
    assert second.outcome is ClaimOutcome.CLAIMED
    assert second.job is not None and second.job.attempts == 2
    entry = AttemptLogEntry(at=utc_now(), outcome=AttemptOutcome.SENT)
    assert not table.record_attempt(first.job, token="old", entry=entry, status=JobStatus.SENT)


def test_unknown_job_or_wrong_domain_is_missing(table: JobsTable) -> None:
    job = make_job()
    table.put_new([job], due_at=0)
    ghost = QueueMessage(job_id=new_job_id()[0], domain="acme.com", type=JobType.ESCALATION)
    forged = QueueMessage(job_id=job.job_id, domain="beta.io", type=JobType.ESCALATION)
    assert table.claim(ghost, now_ms=0, lease_seconds=60, token="t", due_at=0).outcome is ClaimOutcome.MISSING
    assert table.claim(forged, now_ms=0, lease_seconds=60, token="t", due_at=0).outcome is ClaimOutcome.MISSING


def _due(table: JobsTable, now: int) -> dict[str, int]:
    """Every Due entry of the priority queue's shards with sweep_at <= now: pk -> sweep_at."""
    found: dict[str, int] = {}
    for shard in keys.due_keys(QueueName.PRIORITY):
        entries, _ = table.due(shard, now=now, limit=1000)
        found |= {entry.pk: entry.sweep_at for entry in entries}
    return found


def test_due_lists_what_is_due_and_the_sweepers_writes_move_it(table: JobsTable) -> None:
    due, done, later = make_job(), make_job(), make_job()
    table.put_new([due, done], due_at=100)
    table.put_new([later], due_at=5_000)
    assert table.settle(done.job_id, JobStatus.CANCELED)
    # Only what is due, and nothing settled
    assert _due(table, now=1_000) == {due.job_id: 100}
    assert _due(table, now=5_000) == {due.job_id: 100, later.job_id: 5_000}
    [candidate] = table.in_flight_jobs([due.job_id])
    assert candidate.due_at == 100 and candidate.status is JobStatus.QUEUED
    # Queued again: due_at and its entry move on together, once
    assert table.postpone_sweep(due.job_id, seen_due_at=100, new_due_at=20_000, entry=True)
    assert not table.postpone_sweep(due.job_id, seen_due_at=100, new_due_at=30_000, entry=True)
    assert _due(table, now=19_999) == {later.job_id: 5_000}
    # A job past sending has no due time to move.
    assert not table.postpone_sweep(done.job_id, seen_due_at=100, new_due_at=30_000, entry=True)
    # Looked at, an entry moves to its next time only from the time read
    assert table.look_again(later.job_id, seen=5_000, at=9_000)
    assert not table.look_again(later.job_id, seen=5_000, at=9_500)
    assert _due(table, now=8_999) == {}
    # And a settled job's entry cannot be brought back
    assert not table.look_again(done.job_id, seen=100, at=9_000)


class _Unreachable:
    """A DynamoDB client whose every call fails as botocore does when the network is down."""

    def __getattr__(self, operation: str):
        def call(**_: object) -> None:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

        return call


@pytest.mark.parametrize(
    "operation",
    [
        lambda t, job: t.put_new([job], due_at=0),
        lambda t, job: t.put_new_idempotent(job.model_copy(update={"idempotency_key": "k"}), due_at=0),
        lambda t, job: t.get(job.job_id),
        lambda t, job: t.claim(QueueMessage.for_job(job), now_ms=0, lease_seconds=60, token="t", due_at=0),
        lambda t, job: t.record_attempt(
            job, token="t", entry=AttemptLogEntry(at=utc_now(), outcome=AttemptOutcome.SENT), status=JobStatus.SENT
        ),
        lambda t, job: t.due("p#0", now=0, limit=10),
        lambda t, job: t.postpone_sweep(job.job_id, seen_due_at=0, new_due_at=1, entry=True),
        lambda t, job: t.settle(job.job_id, JobStatus.DELIVERED),
        lambda t, job: t.fetch_many([job.job_id]),
        lambda t, job: t.get_bulk(job.job_id),
    ],
    ids=[
        "put_new",
        "put_new_idempotent",
        "get",
        "claim",
        "record_attempt",
        "due",
        "postpone_sweep",
        "settle",
        "fetch_many",
        "get_bulk",
    ],
)
def test_an_unreachable_dynamodb_is_a_storage_error(operation) -> None:
    # Given DynamoDB cannot be reached, when the adapter is called, then it says so in its own terms
    table = JobsTable(_Unreachable(), "jobs")  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="EndpointConnectionError"):
        operation(table, make_job())
