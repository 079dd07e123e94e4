"""What the sweeper reads and moves (docs/storage.md, sections 5 and 10): the
``Due`` index's entries whose time has come, a due bulk's jobs in flight
(``ByBulk``), what it needs of each job (never a body), a ``sent`` job that
heard no event parked out of flight, and the times it moves on.

``Due`` (``wk`` = ``<queue initial>#<shard>``, sort key ``sweep_at``, keys
only) holds a job of no bulk send while it is in flight, and a bulk send's
item while any of its jobs may be: the sweeper Queries ``sweep_at <= now``
per shard, so it reads what is due and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters import index_keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.dynamo import BATCH_GET_LIMIT, TableAdapter, conditionally, storage_error
from common.adapters.job_indexes import query_partition
from common.adapters.job_store import batch_get_jobs
from common.adapters.status_moves import move_status
from common.models.job import JobStatus, QueueMessage

_SWEEP_PROJECTION = "pk, job_id, #domain, #type, recipient, #status, bulk_id, due_at, sent_at, esk, body, test_send"
# Entries a Query of Due reads at most (a page; the sweeper asks for the next).
DUE_PAGE = 1_000


class DueEntry(NamedTuple):
    """One entry of ``Due``: a job's (``pk`` its id) or a bulk's (``pk`` = ``k#<bulk_id>``)."""

    pk: str
    sweep_at: int

    @property
    def bulk_id(self) -> str | None:
        return self.pk[2:] if self.pk.startswith("k#") else None


class SweepCandidate(NamedTuple):
    message: QueueMessage
    due_at: int
    status: JobStatus = JobStatus.QUEUED
    sent_at: str | None = None
    keyed: index_keys.KeyedJob | None = None


def due_page(
    client: Any, table: str, wk: str, *, upto: int, limit: int, start: Any, operation: str
) -> tuple[list[DueEntry], Any]:
    """One page of a ``Due`` shard's entries with ``sweep_at <= upto``,
    soonest first (eventually consistent, keys only), and where to go on
    (``None``: nothing more is due there). The sweeper's and the scheduler's
    shards alike; ``operation`` names the read in an error."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": "Due",
        "KeyConditionExpression": "wk = :wk AND sweep_at <= :upto",
        "ExpressionAttributeValues": serialize({":wk": wk, ":upto": upto}),
        "Limit": limit,
    }
    if start:
        kwargs["ExclusiveStartKey"] = start
    try:
        response = client.query(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise storage_error(operation, exc) from exc
    entries = [deserialize(item) for item in response.get("Items", [])]
    found = [DueEntry(str(e["pk"]), int(e[index_keys.SWEEP_AT])) for e in entries]
    return found, response.get("LastEvaluatedKey") or None


def bulk_rows(client: Any, table: str, bulk_id: str) -> Iterator[dict[str, Any]]:
    """Every row of a bulk send's four ``ByBulk`` shards (the keys and what the
    index projects: status, recipient, domain, type), every page."""
    for n in range(index_keys.BULK_SHARDS):
        start: Any = None
        while True:
            entries, start = query_partition(
                client, table, "ByBulk", index_keys.bk(bulk_id, n), low=None, high=None, limit=1000, start=start
            )
            yield from entries
            if start is None:
                break


def leave_due(client: Any, table: str, pk: str, *, seen: int, wk_prefix: str | None = None) -> bool:
    """Take ``pk``'s entry out of ``Due`` unless its time moved since it was read
    at ``seen`` (and, with ``wk_prefix``, unless it left those shards). One
    conditional ``UpdateItem``; returns whether it did."""
    condition = f"{index_keys.SWEEP_AT} = :seen"
    values: dict[str, Any] = {":seen": seen}
    if wk_prefix is not None:
        condition += " AND begins_with(wk, :s)"
        values[":s"] = wk_prefix
    return conditionally(
        "UpdateItem (leave Due)",
        lambda: client.update_item(
            TableName=table,
            Key={"pk": {"S": pk}},
            UpdateExpression=f"REMOVE wk, {index_keys.SWEEP_AT}",
            ConditionExpression=condition,
            ExpressionAttributeValues=serialize(values),
        ),
    )


class InFlightJobs(TableAdapter):
    """The sweeper's reads and writes."""

    def due(self, wk: str, *, now: int, limit: int, start: Any = None) -> tuple[list[DueEntry], Any]:
        """One page of a ``Due`` shard's entries with ``sweep_at <= now``,
        oldest first, and where to go on (``None``: nothing more is due there)."""
        return due_page(self._client, self._table, wk, upto=now, limit=limit, start=start, operation="Query (Due)")

    def bulk_jobs_in_flight(self, bulk_id: str) -> list[str]:
        """The ids of a bulk send's jobs whose indexed status is in flight."""
        return [
            str(row["pk"])
            for row in bulk_rows(self._client, self._table, bulk_id)
            if JobStatus(row["status"]).in_flight
        ]

    def _sweep_items(self, job_ids: Sequence[str]) -> list[dict[str, Any]]:
        """What the sweeper needs of those jobs (strongly consistent): their
        keys' sources, status, ``due_at``, ``sent_at`` and the body's id, never a body."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(job_ids))
        for begin in range(0, len(unique), BATCH_GET_LIMIT):
            chunk = [{"pk": {"S": job_id}} for job_id in unique[begin : begin + BATCH_GET_LIMIT]]
            raws = batch_get_jobs(self._client, self._table, chunk, consistent=True, projection=_SWEEP_PROJECTION)
            found += [deserialize(raw) for raw in raws if "job_id" in raw]
        return found

    def in_flight_jobs(self, job_ids: Sequence[str]) -> list[SweepCandidate]:
        """What the sweeper needs of those jobs (strongly consistent BatchGetItem)."""
        found: list[SweepCandidate] = []
        for values in self._sweep_items(job_ids):
            job = index_keys.KeyedJob.from_item(values)
            found.append(
                SweepCandidate(
                    # The body id rides along, so the worker reads the body before its claim.
                    QueueMessage(
                        job_id=job.job_id,
                        domain=job.domain,
                        type=job.type,
                        body=values.get("body"),
                        recipient=job.recipient,
                        # A test send is queued again on the priority queue.
                        test_send=job.test_send or None,
                    ),
                    int(values.get("due_at", 0)),
                    status=job.status,
                    sent_at=values.get("sent_at"),
                    keyed=job,
                )
            )
        return found

    def park(self, candidate: SweepCandidate) -> bool:
        """Move a ``sent`` job that heard no event out of flight (``InFlight``
        and ``Due``) into the exact status indexes under ``sent``
        (``status=sent`` still lists it)."""
        if candidate.keyed is None or candidate.status is not JobStatus.SENT or candidate.keyed.parked:
            return False
        return move_status(self._client, self._table, candidate.keyed, JobStatus.SENT, parked=True)

    def postpone_sweep(self, job_id: str, *, seen_due_at: int, new_due_at: int, entry: bool) -> bool:
        """A job queued again: its ``due_at`` moved on (and, ``entry``: its own
        ``Due`` entry with it), unless it changed since it was read (a worker
        claimed it meanwhile and set its own)."""
        expression = "SET due_at = :new" + (f", {index_keys.SWEEP_AT} = :new" if entry else "")
        return conditionally(
            "UpdateItem (sweep)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job_id}},
                UpdateExpression=expression,
                # A job past sending has no due_at; a claimed one has a new one.
                ConditionExpression="attribute_exists(fk) AND due_at = :seen",
                ExpressionAttributeValues=serialize({":new": new_due_at, ":seen": seen_due_at}),
            ),
        )

    def look_again(self, pk: str, *, seen: int, at: int) -> bool:
        """Move a ``Due`` entry (a job's or a bulk's item: ``pk``) to ``at``,
        unless it moved or left since it was read. One conditional ``UpdateItem``."""
        return conditionally(
            "UpdateItem (sweep_at)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}},
                UpdateExpression=f"SET {index_keys.SWEEP_AT} = :at",
                ConditionExpression=f"attribute_exists(wk) AND {index_keys.SWEEP_AT} = :seen",
                ExpressionAttributeValues=serialize({":at": at, ":seen": seen}),
            ),
        )

    def leave_due(self, pk: str, *, seen: int) -> bool:
        """Take an item out of ``Due``: a bulk's item none of whose jobs is in
        flight any more, or a settled job's entry that stayed. Conditional on
        the time read (a replay of a bulk send that added jobs meanwhile set a
        new one; a settled job's own write removed it)."""
        return leave_due(self._client, self._table, pk, seen=seen)
