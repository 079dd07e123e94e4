"""What the scheduler reads and moves (docs/storage.md, sections 5 and 10;
docs/adr/0081-scheduled-sends-from-the-due-index.md): the scheduled part of
``Due``, a scheduled job made ``queued``, and a scheduled bulk's item handed
to the sweeper.

A scheduled job of no bulk send has its own ``Due`` entry on the scheduler's
shards (``wk`` = ``sp#<n>`` or ``sb#<n>``, ``sweep_at`` = its ``send_at``
rounded up to the second); a scheduled bulk send's item stands for its jobs
there (``sb#<n>``), as it does for the sweeper once they are queued. Releasing
a job is one ``UpdateItem`` conditional on ``scheduled``: its index keys move
as for any status change (``index_keys.transition``: out of the exact status
indexes, into ``InFlight``; a job of no bulk send's ``Due`` entry moves to the
sweeper's shard with its ``due_at``), so a cancel that came first wins, and
two runs that both see a job release it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from common.adapters import index_keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.dynamo import BATCH_GET_LIMIT, TableAdapter, conditionally
from common.adapters.in_flight import DUE_PAGE, DueEntry, bulk_rows, due_page, leave_due
from common.adapters.job_store import batch_get_jobs
from common.models.job import JobStatus, QueueMessage

_PROJECTION = "pk, job_id, #domain, #type, recipient, #status, bulk_id, body, test_send"


class Release(NamedTuple):
    """A scheduled job to make ``queued``: its keys' sources and its message."""

    keyed: index_keys.KeyedJob
    message: QueueMessage


class ScheduledJobs(TableAdapter):
    """The scheduler's reads and writes."""

    def due(self, wk: str, *, upto: int, limit: int = DUE_PAGE, start: Any = None) -> tuple[list[DueEntry], Any]:
        """One page of a scheduled ``Due`` shard's entries with ``sweep_at <=
        upto``, soonest first, and where to go on (``None``: nothing more is due there)."""
        return due_page(
            self._client, self._table, wk, upto=upto, limit=limit, start=start, operation="Query (Due, scheduled)"
        )

    def scheduled_jobs(self, job_ids: Sequence[str]) -> list[Release]:
        """Those of ``job_ids`` still ``scheduled`` (strongly consistent
        ``BatchGetItem``, a few small attributes, never a body)."""
        found: list[Release] = []
        unique = list(dict.fromkeys(job_ids))
        for begin in range(0, len(unique), BATCH_GET_LIMIT):
            chunk = [{"pk": {"S": job_id}} for job_id in unique[begin : begin + BATCH_GET_LIMIT]]
            raws = batch_get_jobs(self._client, self._table, chunk, consistent=True, projection=_PROJECTION)
            for values in (deserialize(raw) for raw in raws if "job_id" in raw):
                if values.get("status") == JobStatus.SCHEDULED.value:
                    found.append(_release(values))
        return found

    def bulk_scheduled_jobs(self, bulk_id: str) -> list[Release]:
        """A bulk send's jobs whose indexed status is ``scheduled`` (``ByBulk``
        projects the row)."""
        rows = bulk_rows(self._client, self._table, bulk_id)
        return [_release(row | {"body": bulk_id}) for row in rows if row.get("status") == JobStatus.SCHEDULED.value]

    def release(self, job: index_keys.KeyedJob, *, due_at: int) -> bool:
        """Make a scheduled job ``queued``, due for the sweeper at ``due_at``
        (a job of no bulk send: its ``Due`` entry moved to the sweeper's shard
        at that time). One ``UpdateItem`` conditional on ``scheduled``;
        returns whether this call made it."""
        change = index_keys.transition(job._replace(status=JobStatus.SCHEDULED), JobStatus.QUEUED)
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {":scheduled": JobStatus.SCHEDULED.value, ":due": due_at}
        sets = ["due_at = :due"]
        for n, (name, value) in enumerate(sorted(change.set.items())):
            placeholder = "#status" if name == "status" else f"#k{n}"
            names[placeholder] = name
            values[f":k{n}"] = value
            sets.append(f"{placeholder} = :k{n}")
        if "wk" in change.set:
            sets.append(f"{index_keys.SWEEP_AT} = :due")
        removes = sorted(change.remove - {index_keys.SWEEP_AT} if "wk" in change.set else change.remove)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return conditionally(
            "UpdateItem (release)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression=expression,
                ConditionExpression="#status = :scheduled",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            ),
        )

    def hand_bulk_to_sweeper(self, bulk_id: str, *, seen: int, due_at: int) -> bool:
        """A scheduled bulk's jobs released: its item's ``Due`` entry moves to
        the sweeper's shard at ``due_at`` (the sweeper looks at its jobs from
        then on), unless it moved since it was read."""
        return conditionally(
            "UpdateItem (bulk to the sweeper)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"k#{bulk_id}"}},
                UpdateExpression=f"SET wk = :wk, {index_keys.SWEEP_AT} = :due",
                ConditionExpression=f"{index_keys.SWEEP_AT} = :seen AND wk = :swk",
                ExpressionAttributeValues=serialize(
                    {
                        ":wk": index_keys.bulk_wk(bulk_id),
                        ":due": due_at,
                        ":seen": seen,
                        ":swk": index_keys.scheduled_bulk_wk(bulk_id),
                    }
                ),
            ),
        )

    def leave(self, pk: str, *, seen: int) -> bool:
        """Take an entry none of whose jobs is scheduled any more (a bulk
        canceled while scheduled, a job whose cancel's write the index had not
        shown yet) out of ``Due``, unless it moved since it was read."""
        return leave_due(self._client, self._table, pk, seen=seen, wk_prefix=index_keys.SCHEDULED_PREFIX)


def _release(values: dict[str, Any]) -> Release:
    job = index_keys.KeyedJob.from_item(values | {"pk": values.get("pk", values.get("job_id"))})
    message = QueueMessage(
        job_id=job.job_id,
        domain=job.domain,
        type=job.type,
        body=values.get("body"),
        recipient=job.recipient,
        test_send=job.test_send or None,
    )
    return Release(job, message)
