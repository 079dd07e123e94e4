"""The jobs in flight, as the sweeper reads and moves them: the ``InFlight``
index's shards, what it needs of each job (never a body), a ``sent`` job that
heard no event parked out of ``InFlight``, a swept job's ``due_at`` moved on
(docs/storage.md, section 11)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from common.adapters import index_keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.dynamo import BATCH_GET_LIMIT, TableAdapter, conditionally
from common.adapters.job_indexes import query_partition
from common.adapters.job_store import batch_get_jobs
from common.adapters.status_moves import move_status
from common.models.job import JobStatus, QueueMessage

_SWEEP_PROJECTION = "pk, job_id, #domain, #type, recipient, #status, bulk_id, due_at, sent_at, esk, body"


class SweepCandidate(NamedTuple):
    message: QueueMessage
    due_at: int
    status: JobStatus = JobStatus.QUEUED
    sent_at: str | None = None
    keyed: index_keys.KeyedJob | None = None


class InFlightJobs(TableAdapter):
    """The sweeper's reads and writes."""

    def in_flight(self, shard: str) -> list[str]:
        """The job ids of one ``InFlight`` shard (``fk`` value), every page read."""
        found: list[str] = []
        start: Any = None
        while True:
            entries, start = query_partition(
                self._client, self._table, "InFlight", shard, low=None, high=None, limit=1000, start=start
            )
            found += [str(entry["pk"]) for entry in entries]
            if start is None:
                return found

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
                    ),
                    int(values.get("due_at", 0)),
                    status=job.status,
                    sent_at=values.get("sent_at"),
                    keyed=job,
                )
            )
        return found

    def park(self, candidate: SweepCandidate) -> bool:
        """Move a ``sent`` job that heard no event out of ``InFlight`` into the
        exact status indexes under ``sent`` (``status=sent`` still lists it)."""
        if candidate.keyed is None or candidate.status is not JobStatus.SENT or candidate.keyed.parked:
            return False
        return move_status(self._client, self._table, candidate.keyed, JobStatus.SENT, parked=True)

    def postpone_sweep(self, job_id: str, *, seen_due_at: int, new_due_at: int) -> bool:
        """Move a swept job's ``due_at`` on, unless it changed since it was read."""
        return conditionally(
            "UpdateItem (sweep)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job_id}},
                UpdateExpression="SET due_at = :new",
                # A job past sending has no due_at; a claimed one has a new one.
                ConditionExpression="attribute_exists(fk) AND due_at = :seen",
                ExpressionAttributeValues=serialize({":new": new_due_at, ":seen": seen_due_at}),
            ),
        )
