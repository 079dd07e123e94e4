"""The one path every new job takes: stored first, then its message queued.

Used by enqueue (Privas services) and by Bulk Send (admins) alike. A job is
always written before its message is sent, so a worker never receives a
message for a job that does not exist; whatever fails after the write cannot
lose the job: it stays ``queued`` with its ``due_at`` and the sweeper queues
it again.

- Bodies (``common.adapters.bodies``) are written with their jobs: a large body's S3
  object first, before any item; then each body item in the same
  BatchWriteItem as its first job (or an earlier one), so a job is never
  stored without its body. Jobs sharing a body (a bulk send) share one item.
- Jobs without an idempotency key: with their body items, 25 requests per
  BatchWriteItem. A job with one: its marker, itself and its body in one
  transaction; a key seen before stands for the first job, and nothing is
  created.
- Messages of the jobs created: 10 per SendMessageBatch, each on its job's
  queue. Messages still unsent after retries are logged by job id and counted
  (``EmailsLeftForSweeper``): the jobs are stored and will be sent.
- When DynamoDB fails part-way, the jobs known to be written are queued at
  once and ``PartlyStored`` (a ``StorageError`` saying how many are stored)
  goes on to the caller.

A bulk send with an ``Idempotency-Key`` derives its job ids from what the
jobs are, so its retry finds the jobs already stored: ``store_once_and_queue``
writes its body and each job with one conditional PutItem (never over one
that exists) and queues only the jobs it wrote.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.metrics import MetricUnit

from common.adapters.attribute_values import Item
from common.adapters.bodies import BodyStore, body_pk
from common.adapters.dynamo import BATCH_WRITE_LIMIT
from common.adapters.idempotency_markers import IdempotencyMarkers
from common.adapters.job_store import JobStore
from common.adapters.observability import logger, metrics
from common.adapters.queues import JobQueues
from common.logic.threads import map_in_context
from common.models.errors import StorageError
from common.models.job import Bodies, Job, JobStatus, QueueMessage

# Conditional PutItems in flight at once (botocore keeps 10 connections per
# client), and how many jobs are stored before their messages are queued.
PUT_CONCURRENCY = 8
PUT_WAVE = 100


class Stored:
    def __init__(self) -> None:
        self.created: list[Job] = []  # jobs this call wrote
        # Each job's id -> the id stored for it (another one's when its key was seen before).
        self.stored_id: dict[str, str] = {}
        self.unqueued: list[str] = []  # of the created, ids left to the sweeper
        self.found: list[str] = []  # ids already stored before this call


class PartlyStored(StorageError):
    """DynamoDB failed part-way through storing new jobs; those stored were queued.

    ``stored``: how many of the ``requested`` jobs are known to be stored
    (``None``: the failure came before it could be told).
    """

    def __init__(self, cause: StorageError, *, stored: int | None, requested: int) -> None:
        super().__init__(str(cause))
        self.stored = stored
        self.requested = requested


def _chunks(
    jobs: Sequence[Job], bodies: Mapping[str, Item], extras: Mapping[str, Item] | None = None
) -> list[tuple[list[Item], list[Job]]]:
    """Jobs and the body items they use, 25 requests a chunk: each body item
    just before its first job, so it is written in the same chunk or an
    earlier one, and the chunks are as few as the requests allow. ``extras``
    (by job id: a retry's audit entry) go just before their job too."""
    sequence: list[Item | Job] = []
    written: set[str] = set()
    for job in jobs:
        if job.body not in written:
            sequence.append(bodies[job.body])
            written.add(job.body)
        if extras and job.job_id in extras:
            sequence.append(extras[job.job_id])
        sequence.append(job)
    chunks: list[tuple[list[Item], list[Job]]] = []
    for start in range(0, len(sequence), BATCH_WRITE_LIMIT):
        part = sequence[start : start + BATCH_WRITE_LIMIT]
        chunks.append(([r for r in part if not isinstance(r, Job)], [r for r in part if isinstance(r, Job)]))
    return chunks


class Outbox:
    def __init__(self, jobs: JobStore, markers: IdempotencyMarkers, queues: JobQueues, bodies: BodyStore) -> None:
        self._jobs = jobs
        self._markers = markers
        self._queues = queues
        self._bodies = bodies

    def _body_items(self, jobs: Sequence[Job], bodies: Mapping[str, Bodies]) -> dict[str, Item]:
        """One item per body the jobs use (S3 PUTs of the large ones done), living as long as its last job."""
        expires: dict[str, int] = {}
        domains: dict[str, str] = {}
        for job in jobs:
            expires[job.body] = max(expires.get(job.body, 0), self._jobs.expires_at(job.created_at))
            domains.setdefault(job.body, job.domain)
        return {
            body_id: self._bodies.item(body_id, domains[body_id], bodies[body_id], expires_at=expires[body_id])
            for body_id in expires
        }

    def store_and_queue(
        self,
        jobs: Sequence[Job],
        *,
        due_at: int,
        bodies: Mapping[str, Bodies],
        with_jobs: Mapping[str, Item] | None = None,
    ) -> Stored:
        """Store new jobs (keys unique within ``jobs``) with their bodies
        (``bodies``: by body id) and queue those created. ``with_jobs`` (by
        job id: a test send's audit entry, ``common.logic.audit.record_test_send``):
        an item written in the same write as that job.

        Raises ``StorageError`` when DynamoDB or S3 fails, after queueing the
        jobs written before that.
        """
        stored = Stored()
        unkeyed = [job for job in jobs if job.idempotency_key is None]
        try:
            items = self._body_items(jobs, bodies)
            extras = with_jobs or {}
            for body_items, chunk in _chunks(unkeyed, items, extras):
                self._jobs.put_new(chunk, due_at=due_at, bodies=body_items)
                stored.created += chunk
                stored.stored_id.update((job.job_id, job.job_id) for job in chunk)
            for job in jobs:
                if job.idempotency_key is not None:
                    self._put_keyed(stored, job, due_at=due_at, body=items[job.body], also=extras.get(job.job_id))
        except StorageError as exc:
            logger.exception(
                "storing jobs failed; those stored are queued",
                extra={"requested": len(jobs), "stored": len(stored.created)},
            )
            self._queue(stored.created)
            raise PartlyStored(exc, stored=len(stored.stored_id), requested=len(jobs)) from exc
        stored.unqueued = self._queue(stored.created)
        return stored

    def store_once_and_queue(
        self, jobs: Sequence[Job], *, due_at: int, found: Collection[str], bodies: Mapping[str, Bodies]
    ) -> Stored:
        """Store each job (ids unique) unless its id is stored already; queue those this call stored.

        ``found``: the ids (jobs', and ``b#<body id>`` of bodies) an earlier
        attempt is known to have stored (its caller read them: empty on a
        first attempt). They are left alone: the attempt that stored a job
        queued it, and a message that was lost is the sweeper's to replace,
        as for any job. The bodies the jobs use (``bodies``: by body id) not
        in ``found`` are written first, each with one PutItem conditional on
        being new (and its S3 object before it): a retry never writes a body
        again.

        Every other job is one PutItem conditional on its id being new,
        ``PUT_CONCURRENCY`` at a time; each wave of ``PUT_WAVE`` is queued as
        soon as it is stored. A put that finds its job there (botocore retried
        a write whose answer was lost) queues it too: a second message for a
        job sends nothing more (the worker's claim lets one through).

        Raises ``PartlyStored`` when DynamoDB fails, after queueing what was stored.
        """
        stored = Stored()
        new_bodies = [job for job in jobs if body_pk(job.body) not in found]
        try:
            for item in self._body_items(new_bodies, bodies).values():
                self._bodies.put_body_if_absent(item)
        except StorageError as exc:
            logger.exception("storing the body failed; no job written", extra={"requested": len(jobs)})
            known = len([job for job in jobs if job.job_id in found])
            raise PartlyStored(exc, stored=known, requested=len(jobs)) from exc
        stored.found = [job.job_id for job in jobs if job.job_id in found]
        missing = [job for job in jobs if job.job_id not in found]
        failure: StorageError | None = None
        with ThreadPoolExecutor(max_workers=PUT_CONCURRENCY) as pool:
            for start in range(0, len(missing), PUT_WAVE):
                wave = missing[start : start + PUT_WAVE]
                outcomes = list(map_in_context(pool, lambda job: self._put(job, due_at), wave))
                written = [job for job, error in zip(wave, outcomes, strict=True) if error is None]
                stored.created += written
                stored.stored_id.update((job.job_id, job.job_id) for job in written)
                stored.unqueued += self._send(written)
                failure = next((error for error in outcomes if error is not None), None)
                if failure is not None:
                    break
        metrics.add_metric(name="EmailsQueued", unit=MetricUnit.Count, value=len(stored.created))
        if failure is not None:
            known = len(stored.found) + len(stored.created)
            logger.error(
                "storing jobs failed; those stored are queued",
                extra={"requested": len(jobs), "stored": known, "error": str(failure)},
            )
            raise PartlyStored(failure, stored=known, requested=len(jobs)) from failure
        return stored

    def store_and_queue_with_items(
        self,
        jobs: Sequence[Job],
        *,
        due_at: int,
        body_items: Mapping[str, Item],
        with_jobs: Mapping[str, Item] | None = None,
    ) -> Stored:
        """Store new jobs with body items made already (``body_items``, by body
        id: a retry's copy of its job's body, ``BodyStore.copy_for``), each in
        the same write as its first job, 25 requests per BatchWriteItem, and
        queue them. A job with an idempotency key is one transaction with its
        key's marker and its body instead: when the key stands for a job
        already, nothing is written or queued, and ``stored_id`` maps the
        job's id to that one's. Raises ``StorageError`` after queueing those
        written before DynamoDB failed. ``with_jobs`` (by job id: a retry's
        audit entry): an item written in the same write as that job (in the
        keyed job's transaction: not written when the key was seen)."""
        stored = Stored()
        unkeyed = [job for job in jobs if job.idempotency_key is None]
        extras = with_jobs or {}
        try:
            for items, chunk in _chunks(unkeyed, body_items, extras):
                self._jobs.put_new(chunk, due_at=due_at, bodies=items)
                stored.created += chunk
                stored.stored_id.update((job.job_id, job.job_id) for job in chunk)
            for job in jobs:
                if job.idempotency_key is not None:
                    self._put_keyed(stored, job, due_at=due_at, body=body_items[job.body], also=extras.get(job.job_id))
        except StorageError as exc:
            logger.exception("storing jobs failed; those stored are queued", extra={"requested": len(jobs)})
            self._queue(stored.created)
            raise PartlyStored(exc, stored=len(stored.created), requested=len(jobs)) from exc
        stored.unqueued = self._queue(stored.created)
        return stored

    def _put_keyed(
        self, stored: Stored, job: Job, *, due_at: int, body: Item | None = None, also: Item | None = None
    ) -> None:
        """Store a job with an idempotency key and its marker (``body``: its body
        item too, in the same transaction); ``stored`` learns which job the key
        stands for, and counts this one as created when it is that job."""
        stored.stored_id[job.job_id] = self._markers.put_new_idempotent(job, due_at=due_at, body=body, also=also)
        if stored.stored_id[job.job_id] == job.job_id:
            stored.created.append(job)

    def _put(self, job: Job, due_at: int) -> StorageError | None:
        try:
            self._jobs.put_if_absent(job, due_at=due_at)
        except StorageError as exc:
            return exc
        return None

    def _queue(self, created: Sequence[Job]) -> list[str]:
        """Queue the new jobs' messages; returns the ids of those left to the sweeper."""
        queued = [job for job in created if job.status is JobStatus.QUEUED]
        metrics.add_metric(name="EmailsQueued", unit=MetricUnit.Count, value=len(queued))
        return self._send(queued)

    def _send(self, created: Sequence[Job]) -> list[str]:
        """Queue the messages of those jobs that are ``queued`` (a job stored
        ``suppressed`` is never queued)."""
        created = [job for job in created if job.status is JobStatus.QUEUED]
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
