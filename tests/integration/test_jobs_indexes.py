"""The v2 layout in moto, on the table template.yaml defines: which index holds a
job in which status, what each index projects, the claim's refusals, settle,
fetch_many and the bulk item (docs/storage.md, sections 3 to 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from ulid import ULID

from common.adapters import index_keys as keys
from common.adapters.bulks import BulkItem
from common.adapters.job_claims import ClaimOutcome
from common.models.clock import utc_now
from common.models.job import AttemptLogEntry, AttemptOutcome, Job, JobStatus, JobType, QueueMessage, new_job_id
from local.jobs_table import JobsTable
from local.template import Stack, load_template

# Every job index of JobsTable, as template.yaml defines them (name -> key attributes).
# BySuppression holds suppression entries only, ByDomainRecord audit entries and
# bulk items only: never a job (common/adapters/suppressions.py, domain_records.py).
SUPPRESSION_INDEXES = {"BySuppression", "ByDomainRecord"}
_GSIS = [
    gsi
    for gsi in load_template()["Resources"]["JobsTable"]["Properties"]["GlobalSecondaryIndexes"]
    if gsi["IndexName"] not in SUPPRESSION_INDEXES
]
ALL_INDEXES = tuple(gsi["IndexName"] for gsi in _GSIS)
EVERY_JOB = {"ByDomainType", "ByScope", "ByPlatform", "ByRecipient"}  # and ByDomain, for a job of no bulk send
EXACT = {"ByDomainStatus", "ByScopeStatus", "ByRecipientStatus"}  # the sparse indexes of the exceptional statuses


def test_the_service_knows_every_index_of_the_template_by_its_keys() -> None:
    """``keys.INDEXES`` (what the service queries: Lambda has no template.yaml) is the
    template's list of indexes, with the same partition and sort key attributes."""
    from_template = {gsi["IndexName"]: tuple(k["AttributeName"] for k in gsi["KeySchema"]) for gsi in _GSIS}
    assert from_template == keys.INDEXES


def make_job(*, bulk_id: str | None = None, job_type: JobType = JobType.MANUAL) -> Job:
    job_id, created_at = new_job_id()
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain="acme.com",
        type=job_type,
        recipient="Owner@Acme.com",
        subject="News",
        body=bulk_id or job_id,
        bulk_id=bulk_id,
    )


@pytest.fixture
def client(stack: Stack) -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def table(stack: Stack, client: Any) -> JobsTable:
    return JobsTable(client, stack.names["JobsTable"])


def entries(client: Any, table_name: str, job: Job) -> dict[str, dict[str, Any]]:
    """Each index's entry for ``job`` (found by its keys as stored), by index name."""
    item = client.get_item(TableName=table_name, Key={"pk": {"S": job.job_id}})["Item"]
    found: dict[str, dict[str, Any]] = {}
    for index in ALL_INDEXES:
        partition_attr, _sort = keys.INDEXES[index]
        if partition_attr not in item:
            continue
        response = client.query(
            TableName=table_name,
            IndexName=index,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": partition_attr},
            ExpressionAttributeValues={":p": item[partition_attr]},
        )
        for entry in response["Items"]:
            if entry["pk"]["S"] == job.job_id:
                found[index] = entry
    return found


def test_a_created_job_is_in_exactly_the_designed_indexes_with_their_projections(
    table: JobsTable, client: Any, stack: Stack
) -> None:
    plain, bulk = make_job(job_type=JobType.ESCALATION), make_job(bulk_id=str(ULID()))
    table.put_new([plain, bulk], due_at=0)
    name = stack.names["JobsTable"]

    found = entries(client, name, plain)
    assert set(found) == EVERY_JOB | {"ByDomain", "InFlight", "Due"}
    # KEYS_ONLY: the table key and the index key, nothing else
    assert set(found["ByDomain"]) == {"pk", "dk"}
    assert set(found["ByScope"]) == {"pk", "tk"}
    assert set(found["ByPlatform"]) == {"pk", "ak"}
    assert set(found["ByDomainType"]) == {"pk", "dtk"}
    assert set(found["InFlight"]) == {"pk", "fk", "fs"}
    assert set(found["Due"]) == {"pk", "wk", "sweep_at"}
    assert found["Due"]["sweep_at"]["N"] == "0"  # its due_at: when the sweeper first looks
    assert set(found["ByRecipient"]) == {"pk", "rk", "rs"}  # bulk_id absent: not projected empty
    assert found["ByRecipient"]["rk"]["S"] == "owner@acme.com"
    # sorted by domain, type, then job id: one domain's (and type's) jobs are one range
    assert found["ByRecipient"]["rs"]["S"] == f"acme.com#escalation#{plain.job_id}"

    # A bulk's job: no Due entry of its own (its bulk's item has one)
    found = entries(client, name, bulk)
    # a bulk send's job is not in ByDomain: its domain's log reads ByDomainType's <domain>#bulk# partitions
    assert set(found) == EVERY_JOB | {"InFlight", "ByBulk"}
    assert found["ByDomainType"]["dtk"]["S"].startswith("acme.com#bulk#")
    # ByBulk: a whole row (status for GET /bulks/{bulk_id}, recipient for a bulk cancel's keys)
    # (sent_at, error and send_at absent: not projected empty)
    assert set(found["ByBulk"]) == {"pk", "bk", *keys.LISTED} - {"sent_at", "error", "send_at"}
    assert set(found["ByRecipient"]) == {"pk", "rk", "rs", "bulk_id"}


@pytest.mark.parametrize(
    ("status", "indexes"),
    [
        (JobStatus.SENT, EVERY_JOB | {"InFlight", "ByBulk"}),
        (JobStatus.DELAYED, EVERY_JOB | {"ByBulk", *EXACT}),  # out of flight: SES decides what follows
        (JobStatus.DELIVERED, EVERY_JOB | {"ByBulk"}),
        (JobStatus.BOUNCED, EVERY_JOB | {"ByBulk", *EXACT}),
        (JobStatus.CANCELED, EVERY_JOB | {"ByBulk", *EXACT}),
    ],
)
def test_settle_moves_the_sparse_indexes(
    table: JobsTable, client: Any, stack: Stack, status: JobStatus, indexes: set[str]
) -> None:
    job = make_job(bulk_id=str(ULID()))
    table.put_new([job], due_at=0)
    assert table.settle(job.job_id, status)
    found = entries(client, stack.names["JobsTable"], job)
    assert set(found) == indexes
    assert found["ByBulk"]["status"]["S"] == status.value
    if "ByDomainStatus" in found:
        # a whole row of the log: a page reads it without fetching the job
        row = {"pk", *keys.LISTED} - {"sent_at", "error", "send_at"}  # absent: not projected empty
        assert set(found["ByDomainStatus"]) == {"esk", *row}
        assert set(found["ByScopeStatus"]) == {"esa", *row}
        assert set(found["ByRecipientStatus"]) == {"rek", "rs", *row}
        assert found["ByRecipientStatus"]["rek"]["S"] == f"owner@acme.com#{status.value}"
    stored = table.get(job.job_id)
    assert stored is not None and stored.status is status


def test_a_scheduled_job_is_in_the_exact_indexes_and_the_schedulers_part_of_due(
    table: JobsTable, client: Any, stack: Stack
) -> None:
    send_at = datetime(2030, 1, 2, 9, 0, 0, 500_000, tzinfo=UTC)
    plain = make_job(job_type=JobType.ESCALATION).model_copy(update={"status": JobStatus.SCHEDULED, "send_at": send_at})
    bulk = make_job(bulk_id=str(ULID())).model_copy(update={"status": JobStatus.SCHEDULED, "send_at": send_at})
    table.put_new([plain, bulk], due_at=0)
    row = {"pk", *keys.LISTED} - {"sent_at", "error"}  # send_at projected: the log shows it
    found = entries(client, stack.names["JobsTable"], plain)
    # not in flight (no InFlight entry); Due on the scheduler's shard at its send_at, rounded up
    assert set(found) == EVERY_JOB | {"ByDomain", "Due", *EXACT}
    assert found["Due"]["wk"]["S"].startswith("sp#")
    assert found["Due"]["sweep_at"]["N"] == str(int(send_at.timestamp()) + 1)
    assert set(found["ByDomainStatus"]) == {"esk", *row} - {"bulk_id"}  # of no bulk send
    assert found["ByDomainStatus"]["send_at"]["S"] == "2030-01-02T09:00:00.500Z"
    # a bulk's scheduled job: its bulk's item stands for it in Due
    found = entries(client, stack.names["JobsTable"], bulk)
    assert set(found) == EVERY_JOB | {"ByBulk", *EXACT}
    assert set(found["ByBulk"]) == {"pk", "bk", *row}


def test_the_claim_refuses_every_status_past_sending(table: JobsTable) -> None:
    # (sending is a worker's: claimed again only past its lease, tested with the lease)
    for status in [s for s in JobStatus if s is not JobStatus.SENDING]:
        job = make_job()
        table.put_new([job], due_at=0)
        if status is not JobStatus.QUEUED:
            assert table.settle(job.job_id, status)
        claim = table.claim(QueueMessage.for_job(job), now_ms=10**13, lease_seconds=60, token="t", due_at=0)
        if status.past_sending:
            assert claim.outcome is ClaimOutcome.FINAL, status
            stored = table.get(job.job_id)
            assert stored is not None and stored.status is status and stored.attempts == 0
        else:
            assert claim.outcome is ClaimOutcome.CLAIMED, status


def test_a_retrying_job_claimed_leaves_the_exact_indexes(table: JobsTable, client: Any, stack: Stack) -> None:
    job = make_job()
    table.put_new([job], due_at=0)
    message = QueueMessage.for_job(job)
    claim = table.claim(message, now_ms=1_000, lease_seconds=60, token="t1", due_at=0)
    assert claim.job is not None
    entry = AttemptLogEntry(at=utc_now(), outcome=AttemptOutcome.RETRY, error="throttled")
    assert table.record_attempt(claim.job, token="t1", entry=entry, status=JobStatus.RETRYING, due_at=5)
    assert set(entries(client, stack.names["JobsTable"], job)) == EVERY_JOB | {"ByDomain", "InFlight", "Due"} | EXACT
    again = table.claim(message, now_ms=2_000, lease_seconds=60, token="t2", due_at=0)
    assert again.outcome is ClaimOutcome.CLAIMED
    assert set(entries(client, stack.names["JobsTable"], job)) == EVERY_JOB | {"ByDomain", "InFlight", "Due"}
    assert again.job is not None
    failed = AttemptLogEntry(at=utc_now(), outcome=AttemptOutcome.FAILED, error="rejected")
    assert table.record_attempt(again.job, token="t2", entry=failed, status=JobStatus.FAILED)
    item = client.get_item(TableName=stack.names["JobsTable"], Key={"pk": {"S": job.job_id}})["Item"]
    assert "due_at" not in item and "fk" not in item and item["esk"]["S"] == "acme.com#failed#manual#0"
    assert "wk" not in item and "sweep_at" not in item


def test_settle_from_a_known_status_is_one_call(table: JobsTable, client: Any) -> None:
    """A caller that knows the job's keys and status (an event path) settles it with
    one conditional UpdateItem, no read; a wrong status known is refused."""
    job = make_job()
    table.put_new([job], due_at=0)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    known = keys.KeyedJob.of(job)
    assert not table.settle(job.job_id, JobStatus.DELIVERED, current=known._replace(status=JobStatus.SENT))
    assert table.settle(job.job_id, JobStatus.CANCELED, current=known)
    assert calls == ["UpdateItem", "UpdateItem"]
    stored = table.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.CANCELED


def test_settle_is_conditional_on_the_status_read(table: JobsTable) -> None:
    assert not table.settle(new_job_id()[0], JobStatus.DELIVERED)  # no such job
    job = make_job()
    table.put_new([job], due_at=0)
    assert table.settle(job.job_id, JobStatus.SENT)
    assert table.settle(job.job_id, JobStatus.DELIVERED)
    assert table.settle(job.job_id, JobStatus.COMPLAINED)
    stored = table.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLAINED


def test_fetch_many_asks_at_most_100_keys_per_call(table: JobsTable, client: Any) -> None:
    jobs = [make_job() for _ in range(230)]
    table.put_new(jobs, due_at=0)
    sizes: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        sizes.extend(len(request["Keys"]) for request in params["RequestItems"].values())

    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)
    wanted = [job.job_id for job in jobs] + [new_job_id()[0]]
    found = table.fetch_many(wanted)
    assert set(found) == {job.job_id for job in jobs}
    assert found[jobs[7].job_id] == jobs[7]
    assert sizes == [100, 100, 31]


def test_a_bulk_item_reads_back_and_shows_in_no_index(table: JobsTable, client: Any, stack: Stack) -> None:
    bulk_id, created_at = new_job_id()
    bulk = BulkItem(bulk_id=bulk_id, domain="acme.com", subject="News", created_at=created_at, total=3)
    table.put_bulk(bulk)
    assert table.get_bulk(bulk_id) == bulk
    assert table.get_bulk(new_job_id()[0]) is None
    item = client.get_item(TableName=stack.names["JobsTable"], Key={"pk": {"S": f"k#{bulk_id}"}})["Item"]
    assert not set(item) & {attribute for attribute, _sort in keys.INDEXES.values()}
