"""Jobs as items of the jobs table: written new, read back (docs/storage.md, sections 3 to 5).

A job (``pk`` = ``job_id``) holds the job's own fields (``common.models.job.Job``;
``None`` is stored as absent) and the index keys of ``common.adapters.index_keys``,
each present only while its index should hold the job
(``index_keys.index_attributes``; every status change writes exactly
``index_keys.transition``). Every index is sorted by job id (a ULID), so newest
first is a descending Query. Its email's content is not among its fields:
``body`` names a body item (``pk`` = ``b#<body id>``, ``common.adapters.bodies``),
written once with the job (``put_new``, ``IdempotencyMarkers.put_new_idempotent``,
``BodyStore.put_body_if_absent``) and never rewritten, so every status change
rewrites a small item. A job also carries:

- ``due_at`` while the job may be swept (queued, sending, retrying): when the
  sweeper should consider it stuck; not indexed, so a claim or a retry that
  moves it costs no index write;
- ``sweep_at`` with ``wk`` (a job of no bulk send, in flight): the sort key of
  ``Due``, when the sweeper next looks at it; set at creation, moved by the
  sweeper only (``common.adapters.in_flight``);
- ``lease_until`` (epoch ms) and ``lease_token`` while a worker holds it
  (``common.adapters.job_claims``);
- ``expires_at``: DynamoDB's TTL.

This module writes jobs and reads them; the other adapters of the table
(``common.adapters.dynamo`` lists them) move them through their lives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from common.adapters import index_keys
from common.adapters.attribute_values import Item, deserialize, serialize
from common.adapters.dynamo import (
    BATCH_GET_LIMIT,
    BATCH_WRITE_LIMIT,
    TableAdapter,
    batch_get,
    batch_write,
    conditionally,
    storage_error,
)
from common.models.job import JOB_ID_RE, Job, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def to_item(job: Job, *, due_at: int, expires_at: int) -> Item:
    """A job's item: its fields, its TTL and the index keys of its status
    (``due_at`` while it may be swept; ``sweep_at``, ``Due``'s sort key, with
    ``wk``: when the sweeper first looks at it, its ``due_at``)."""
    values = job.model_dump(mode="json")
    keys = index_keys.index_attributes(index_keys.KeyedJob.of(job))
    values.update(pk=job.job_id, expires_at=expires_at, **keys)
    if job.status.sweepable:
        values.update(due_at=due_at)
    if "wk" in keys:
        # A scheduled job's entry is the scheduler's, at its send_at (docs/adr/0100).
        scheduled = job.status is JobStatus.SCHEDULED and job.send_at is not None
        values[index_keys.SWEEP_AT] = math.ceil(job.send_at.timestamp()) if scheduled and job.send_at else due_at
    return serialize(values)


def from_item(item: Mapping[str, Any]) -> Job:
    """Items read back are validated again: a malformed one fails loudly here."""
    return Job.model_validate(deserialize(item))


def batch_get_jobs(
    client: DynamoDBClient, table: str, keys: list[Any], *, consistent: bool, projection: str | None = None
) -> list[Item]:
    """The raw items of up to 100 jobs' keys that exist (``dynamo.batch_get``);
    a ``projection`` may name ``#domain``, ``#type`` and ``#status``."""
    return batch_get(
        client,
        table,
        keys,
        operation="BatchGetItem (jobs)",
        consistent=consistent,
        projection=projection,
        names={"#domain": "domain", "#type": "type", "#status": "status"} if projection is not None else None,
    )


class JobRecipient(BaseModel):
    """Who a job was for: what a bulk send reads of a selected row."""

    model_config = ConfigDict(defer_build=True)

    job_id: str = Field(pattern=JOB_ID_RE.pattern)
    domain: str
    recipient: str


class SendFact(NamedTuple):
    """What a domain's bounce and complaint rates read of a job."""

    job_id: str
    status: str
    sent_at: str | None  # RFC 3339, as stored; None: SES never accepted it
    permanent_bounce: bool


class JobStore(TableAdapter):
    """Jobs written new and read back whole (or the few attributes a caller needs)."""

    def put_new(self, jobs: Sequence[Job], *, due_at: int, bodies: Sequence[Item] = ()) -> None:
        """Write new jobs and body items (``common.adapters.bodies``), 25 requests per
        BatchWriteItem (bodies first), retrying what comes back unprocessed."""
        requests = [{"PutRequest": {"Item": item}} for item in bodies]
        requests += [
            {"PutRequest": {"Item": to_item(job, due_at=due_at, expires_at=self.expires_at(job.created_at))}}
            for job in jobs
        ]
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            batch_write(self._client, self._table, requests[start : start + BATCH_WRITE_LIMIT])

    def put_if_absent(self, job: Job, *, due_at: int) -> bool:
        """Write a new job unless an item with its id exists (one conditional
        PutItem). Returns whether this call wrote it."""
        return conditionally(
            "PutItem (job)",
            lambda: self._client.put_item(
                TableName=self._table,
                Item=to_item(job, due_at=due_at, expires_at=self.expires_at(job.created_at)),
                ConditionExpression="attribute_not_exists(pk)",
            ),
        )

    def existing_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Which of ``job_ids`` (unique) are stored: strongly consistent
        BatchGetItem, 100 keys per call, reading the key only."""
        found: set[str] = set()
        for start in range(0, len(job_ids), BATCH_GET_LIMIT):
            keys_ = [{"pk": {"S": job_id}} for job_id in job_ids[start : start + BATCH_GET_LIMIT]]
            operation = "BatchGetItem (existing jobs)"
            raws = batch_get(self._client, self._table, keys_, operation=operation, projection="pk")
            found.update(str(raw["pk"]["S"]) for raw in raws)
        return found

    def get(self, job_id: str) -> Job | None:
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem", exc) from exc
        item = response.get("Item")
        if item is None or "job_id" not in item:
            return None
        return from_item(item)

    def fetch_many(self, job_ids: Sequence[str], *, consistent: bool = False) -> dict[str, Job]:
        """The jobs among ``job_ids`` that exist, by id: 100 keys per BatchGetItem
        (DynamoDB's limit), retrying what comes back unprocessed. Eventually
        consistent unless asked (a page of the log), as the indexes are."""
        found: dict[str, Job] = {}
        unique = list(dict.fromkeys(job_ids))
        for begin in range(0, len(unique), BATCH_GET_LIMIT):
            chunk = [{"pk": {"S": job_id}} for job_id in unique[begin : begin + BATCH_GET_LIMIT]]
            for raw in batch_get_jobs(self._client, self._table, chunk, consistent=consistent):
                if "job_id" in raw:
                    job = from_item(raw)
                    found[job.job_id] = job
        return found

    def send_facts(self, job_ids: Sequence[str]) -> list[SendFact]:
        """Status, ``sent_at`` and ``permanent_bounce`` of up to 100 jobs (one
        eventually consistent BatchGetItem, unprocessed keys retried)."""
        keys_ = [{"pk": {"S": job_id}} for job_id in job_ids]
        raws = batch_get(
            self._client,
            self._table,
            keys_,
            operation="BatchGetItem (send facts)",
            consistent=False,
            projection="pk, #status, sent_at, permanent_bounce",
            names={"#status": "status"},
        )
        facts = []
        for raw in raws:
            item = deserialize(raw)
            sent_at = item.get("sent_at")
            facts.append(
                SendFact(
                    job_id=str(item["pk"]),
                    status=str(item.get("status", "")),
                    sent_at=str(sent_at) if sent_at else None,
                    permanent_bounce=bool(item.get("permanent_bounce", False)),
                )
            )
        return facts

    def recipients_of(self, job_ids: Sequence[str]) -> list[JobRecipient]:
        """Domain and recipient of each existing job among ``job_ids`` (unique ids),
        100 keys per BatchGetItem, retrying what comes back unprocessed. Reads
        only those three attributes: never the bodies."""
        found: list[JobRecipient] = []
        for start in range(0, len(job_ids), BATCH_GET_LIMIT):
            chunk = job_ids[start : start + BATCH_GET_LIMIT]
            found += self._batch_get([{"pk": {"S": job_id}} for job_id in chunk])
        return found

    def _batch_get(self, keys: list[Any]) -> list[JobRecipient]:
        raws = batch_get(
            self._client,
            self._table,
            keys,
            operation="BatchGetItem",
            consistent=False,
            projection="job_id, #domain, recipient",
            names={"#domain": "domain"},
        )
        return [JobRecipient.model_validate(deserialize(raw)) for raw in raws if "job_id" in raw]
