"""The one path every new job takes: stored first, then its message queued.

Used by enqueue (Privas services) and by Bulk Send (admins) alike. A job is
always written before its message is sent, so a worker never receives a
message for a job that does not exist; whatever fails after the write cannot
lose the job: it stays ``queued`` with its ``due_at`` and the sweeper queues
it again.

- Jobs without an idempotency key: 25 per BatchWriteItem. A job with one: its
  marker and itself in one transaction; a key seen before stands for the
  first job, and nothing is created.
- Messages of the jobs created: 10 per SendMessageBatch, each on its job's
  queue. Messages still unsent after retries are logged by job id and counted
  (``EmailsLeftForSweeper``): the jobs are stored and will be sent.
- When DynamoDB fails part-way, the jobs known to be written are queued at
  once and the ``StorageError`` goes on to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from common.errors import StorageError
from common.jobs import BATCH_WRITE_LIMIT, JobsTable
from common.models import Job, QueueMessage
from common.observability import logger, metrics
from common.queues import JobQueues


@dataclass
class Stored:
    created: list[Job] = field(default_factory=list)  # jobs this call wrote
    # Each job's id -> the id stored for it (another one's when its key was seen before).
    stored_id: dict[str, str] = field(default_factory=dict)
    unqueued: list[str] = field(default_factory=list)  # of the created, ids left to the sweeper


class Outbox:
    def __init__(self, jobs: JobsTable, queues: JobQueues) -> None:
        self._jobs = jobs
        self._queues = queues

    def store_and_queue(self, jobs: Sequence[Job], *, due_at: int) -> Stored:
        """Store new jobs (keys unique within ``jobs``) and queue those created.

        Raises ``StorageError`` when DynamoDB fails, after queueing the jobs
        written before that.
        """
        stored = Stored()
        unkeyed = [job for job in jobs if job.idempotency_key is None]
        try:
            for start in range(0, len(unkeyed), BATCH_WRITE_LIMIT):
                chunk = unkeyed[start : start + BATCH_WRITE_LIMIT]
                self._jobs.put_new(chunk, due_at=due_at)
                stored.created += chunk
                stored.stored_id.update((job.job_id, job.job_id) for job in chunk)
            for job in jobs:
                if job.idempotency_key is not None:
                    stored.stored_id[job.job_id] = self._jobs.put_new_idempotent(job, due_at=due_at)
                    if stored.stored_id[job.job_id] == job.job_id:
                        stored.created.append(job)
        except StorageError:
            logger.exception(
                "storing jobs failed; those stored are queued",
                extra={"requested": len(jobs), "stored": len(stored.created)},
            )
            self._queue(stored.created)
            raise
        stored.unqueued = self._queue(stored.created)
        return stored

    def _queue(self, created: Sequence[Job]) -> list[str]:
        """Queue the new jobs' messages; returns the ids of those left to the sweeper."""
        metrics.add_metric(name="EmailsQueued", unit=MetricUnit.Count, value=len(created))
        if not created:
            return []
        unsent = [m.job_id for m in self._queues.send([QueueMessage.for_job(job) for job in created])]
        if unsent:
            metrics.add_metric(name="EmailsLeftForSweeper", unit=MetricUnit.Count, value=len(unsent))
            logger.warning(
                "messages not queued; the sweeper will queue these jobs",
                extra={"job_ids": unsent, "count": len(unsent)},
            )
        return unsent
