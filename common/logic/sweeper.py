"""The sweeper: no job is lost (docs/api.md, docs/storage.md section 10).

Every job that may still need a send (``queued``, ``sending``, ``retrying``)
carries ``due_at``: when it should be done with its current step if all goes
well, plus a grace period. It is set when the job is created (queued), claimed
(lease expiry), and put back for a retry (retry time). A job still sweepable
past its ``due_at`` lost its queue message (the send after the job write
failed) or its worker (died holding the lease): the sweeper queues it again
and moves ``due_at`` on by the grace period.

**What it reads grows with what is due, not with what is in flight.** The
sparse ``Due`` index holds, sorted by ``sweep_at`` (when to look next), each
job of no bulk send while it is in flight and each bulk send's item while any
of its jobs may be. A run Queries ``sweep_at <= now`` in each of a queue's 32
shards (a page of 1,000 at a time), then reads what it needs of those jobs
(strongly consistent ``BatchGetItem``, a few small attributes), and of a due
bulk its jobs in flight (its four ``ByBulk`` shards, the status projected).
A job, or a bulk, whose time has not come costs nothing; one looked at is
moved to its next time (``due_at`` for a job on its way, the end of
``PARK_AFTER`` for a ``sent`` one), so it is read again only then.

**No message waiting in a queue is duplicated.** Before it looks at a
queue's part of ``Due``, the run asks SQS how many messages wait there to be
received (``ApproximateNumberOfMessages``). While any do, the queue is behind:
a job past its ``due_at`` may simply be waiting its turn, so the run reads
and queues again only what has been due for longer than ``BACKLOG_LIMIT``
(``waiting`` counts those queues); the rest stays due and is read once the
queue has caught up, by when the jobs that were only waiting are sent and
out of ``Due``. A lost job behind a backlog is queued again once the backlog
has drained, or ``BACKLOG_LIMIT`` past its due time, whichever comes first:
well inside the hour a job keeps before its retention ends (docs/adr/0070).
A job whose message a worker holds at that moment (at most a batch per
worker), or that has waited behind a backlog for longer than
``BACKLOG_LIMIT``, may be queued twice, which sends it once.

Priority jobs are queued again before any bulk job (the priority queue's part
is swept first), within the batch limit. A job queued twice is harmless: the
worker's claim sends it once. A run stops reading once it has looked at
``JOBS_PER_RUN`` jobs or has under ``STOP_READING_MS`` left; what it did not
reach stays due for the next run. It reads a queue's shards in rounds, a
page of each at a time, so many due entries in one shard (a burst of ``sent``
jobs whose events never came) never hide a lost job in another.

A ``sent`` job that heard no delivery event for ``PARK_AFTER`` (event
publishing broken) is parked: out of ``InFlight`` and ``Due``, into the exact
status indexes under ``sent``, so the in-flight set stays small and
``status=sent`` still lists it. A bulk item none of whose jobs is in flight
any more leaves ``Due``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit

from common.adapters import index_keys
from common.adapters.in_flight import DUE_PAGE, DueEntry, InFlightJobs, SweepCandidate
from common.adapters.observability import logger, metrics
from common.adapters.queues import JobQueues
from common.models.clock import epoch_seconds, utc_now
from common.models.job import JobStatus, QueueName

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from common.models.pipeline_settings import SweeperSettings

PARK_AFTER = timedelta(hours=48)
JOBS_PER_RUN = 20_000  # jobs (a job's entry, or one of a due bulk's) a run looks at, at most
BACKLOG_LIMIT = 30 * 60  # seconds past its due time a job may wait behind a backlog before it is queued again
STOP_READING_MS = 30_000  # a run reads no more once its invocation has less left
WRITE_CONCURRENCY = 8  # the run's conditional writes in flight at once
ROUNDS = 4  # a full run reads each shard in at least this many pages (a page: JOBS_PER_RUN / ROUNDS / 32)


class SweepReport(NamedTuple):
    found: int  # jobs past their due time
    queued: int  # of those, queued again
    unsent: int  # could not be queued: found again next run
    postponed: int  # due time moved on (less than queued when a worker got there first)
    parked: int = 0  # sent jobs without an event for PARK_AFTER, moved out of flight
    looked: int = 0  # jobs looked at: due entries of jobs, and the jobs in flight of due bulks
    waiting: int = 0  # queues behind (messages wait in them): only what is due for BACKLOG_LIMIT is read

    def as_dict(self) -> dict[str, int]:
        return dict(self._asdict())


class _Next(NamedTuple):
    """What a run decides for one job: nothing more (``None``), or when to look
    again; ``requeue``: queue it again now; ``park``: move it out of flight."""

    at: int | None
    requeue: bool = False
    park: bool = False


@dataclass
class _Run:
    now: int
    moment: datetime
    requeue_room: int
    out_of_time: Callable[[], bool]
    cutoff: int = 0  # what has been due since then is queued again: now, or BACKLOG_LIMIT before it
    looked: int = 0
    found: int = 0
    queued: int = 0
    unsent: int = 0
    postponed: int = 0
    parked: int = 0
    waiting: int = 0
    requeued: set[str] = field(default_factory=set)

    def room(self) -> bool:
        return self.looked < JOBS_PER_RUN and not self.out_of_time()

    def report(self) -> SweepReport:
        return SweepReport(
            found=self.found,
            queued=self.queued,
            unsent=self.unsent,
            postponed=self.postponed,
            parked=self.parked,
            looked=self.looked,
            waiting=self.waiting,
        )


def _never() -> bool:
    return False


_Write = Callable[[], str | None]


class Sweeper:
    def __init__(
        self,
        jobs: InFlightJobs,
        queues: JobQueues,
        *,
        grace_seconds: int,
        batch_limit: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._jobs = jobs
        self._queues = queues
        self._grace = grace_seconds
        self._limit = batch_limit
        self._clock = clock

    def run(self, *, time_left_ms: Callable[[], int] | None = None) -> SweepReport:
        """One sweep: the priority queue's part of ``Due``, then the bulk
        queue's; of a queue that is behind, only what is due for ``BACKLOG_LIMIT``."""
        moment = self._clock()
        out_of_time = _never if time_left_ms is None else (lambda: time_left_ms() < STOP_READING_MS)
        run = _Run(now=epoch_seconds(moment), moment=moment, requeue_room=self._limit, out_of_time=out_of_time)
        for queue in (QueueName.PRIORITY, QueueName.BULK):
            run.cutoff = run.now
            if self._queues.waiting(queue) > 0:
                run.waiting += 1
                run.cutoff = run.now - BACKLOG_LIMIT
            self._sweep_queue(queue, run)
        return run.report()

    # ------------------------------------------------------------ reading
    def _sweep_queue(self, queue: QueueName, run: _Run) -> None:
        """Every due entry of a queue's shards, within the run's room, read in
        rounds of one page per shard, so that a shard with many due entries
        never keeps the others' from being read; a due bulk stands for its
        jobs in flight. Then one pass over them all."""
        entries: list[DueEntry] = []
        members: dict[str, list[str]] = {}
        shards = index_keys.due_keys(queue)
        page_size = max(1, min(DUE_PAGE, JOBS_PER_RUN // (ROUNDS * len(shards))))
        starts: dict[str, Any] = dict.fromkeys(shards)
        while starts and run.room():
            for key in list(starts):
                if not run.room():
                    break
                page, start = self._jobs.due(key, now=run.cutoff, limit=page_size, start=starts[key])
                for entry in page:
                    if entry.bulk_id is None:
                        run.looked += 1
                    else:
                        members[entry.pk] = self._jobs.bulk_jobs_in_flight(entry.bulk_id)
                        run.looked += len(members[entry.pk])
                entries += page
                if start is None:
                    del starts[key]  # nothing more is due there
                else:
                    starts[key] = start
        if entries:
            self._handle(entries, members, run)

    def _handle(self, entries: list[DueEntry], members: dict[str, list[str]], run: _Run) -> None:
        """Due entries: read their jobs, decide, queue again, write."""
        ids = [e.pk for e in entries if e.bulk_id is None] + [j for group in members.values() for j in group]
        candidates = {c.message.job_id: c for c in self._jobs.in_flight_jobs(ids)}
        decided = {job_id: self._decide(c, run) for job_id, c in candidates.items()}
        self._requeue(candidates, decided, run)
        writes: list[_Write] = []
        for entry in entries:
            if entry.bulk_id is None:
                writes += self._job_writes(entry, candidates.get(entry.pk), decided.get(entry.pk), run)
            else:
                writes += self._bulk_writes(entry, members[entry.pk], candidates, decided, run)
        if writes:
            with ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY) as pool:
                done = list(pool.map(lambda write: write(), writes))
            run.parked += done.count("parked")
            run.postponed += done.count("postponed")

    # ------------------------------------------------------------ deciding
    def _decide(self, candidate: SweepCandidate, run: _Run) -> _Next:
        if candidate.status is JobStatus.SENT and not (candidate.keyed is not None and candidate.keyed.parked):
            stale_at = _stale_at(candidate)
            return _Next(None, park=True) if stale_at is None or stale_at <= run.now else _Next(stale_at)
        if not candidate.status.sweepable:
            return _Next(None)  # settled since the index was read: its entry is leaving
        if candidate.due_at > run.cutoff:
            # On its way (claimed, or waiting for its retry), or waiting its
            # turn in a queue that is behind: looked at again at its due time
            return _Next(candidate.due_at)
        return _Next(run.now, requeue=True)

    def _requeue(self, candidates: dict[str, SweepCandidate], decided: dict[str, _Next], run: _Run) -> None:
        """Queue the overdue jobs again, oldest due first, as many as the run may."""
        overdue = sorted(
            (c for job_id, c in candidates.items() if decided[job_id].requeue),
            key=lambda c: (c.due_at, c.message.job_id),
        )
        run.found += len(overdue)
        taken = overdue[: run.requeue_room]
        run.requeue_room -= len(taken)
        if not taken:
            return
        unsent = {message.job_id for message in self._queues.send([c.message for c in taken])}
        run.unsent += len(unsent)
        run.queued += len(taken) - len(unsent)
        run.requeued.update(c.message.job_id for c in taken if c.message.job_id not in unsent)

    # ------------------------------------------------------------ writing
    def _job_writes(
        self, entry: DueEntry, candidate: SweepCandidate | None, decided: _Next | None, run: _Run
    ) -> list[_Write]:
        """A job's own entry: queued again (its ``due_at`` and entry moved on),
        parked, moved to when it is next worth a look, or, settled, taken out."""
        if candidate is None or decided is None:
            return []  # gone with its item
        if decided.park:
            return [lambda: self._park(candidate)]
        if decided.requeue:
            if entry.pk in run.requeued:
                return [lambda: self._postpone(candidate, run.now, entry=True)]
            return []  # not queued this run: still due
        if decided.at is None:
            # Settled, and its entry still there: a writer that missed it (the
            # index lags by moments, and then the condition finds it gone).
            return [lambda: self._end_entry(entry)]
        if decided.at != entry.sweep_at:
            at = decided.at
            return [lambda: self._look_again(entry.pk, entry.sweep_at, at)]
        return []

    def _bulk_writes(
        self,
        entry: DueEntry,
        members: list[str],
        candidates: dict[str, SweepCandidate],
        decided: dict[str, _Next],
        run: _Run,
    ) -> list[_Write]:
        """A bulk's jobs in flight, each queued again, parked or left; then the
        bulk's entry moved to its soonest next look, or out of ``Due`` when
        none of its jobs is in flight any more."""
        writes: list[_Write] = []
        soonest: int | None = None
        for job_id in members:
            candidate, next_ = candidates.get(job_id), decided.get(job_id)
            if candidate is None or next_ is None:
                continue
            at = next_.at
            if next_.park:
                writes.append(partial(self._park, candidate))
            elif next_.requeue and job_id in run.requeued:
                writes.append(partial(self._postpone, candidate, run.now, entry=False))
                at = run.now + self._grace
            if at is not None:
                soonest = at if soonest is None else min(soonest, at)
        bulk_id = entry.bulk_id or ""
        if soonest is None:
            writes.append(lambda: self._settle_bulk(bulk_id, entry.sweep_at))
        elif soonest > run.cutoff and soonest != entry.sweep_at:
            writes.append(lambda: self._look_again(entry.pk, entry.sweep_at, soonest))
        # else: a job of it is still due (not queued this run): the bulk stays due
        return writes

    # Each write runs on the pool and says what it did, counted by the run.
    def _park(self, candidate: SweepCandidate) -> str | None:
        return "parked" if self._jobs.park(candidate) else None

    def _postpone(self, candidate: SweepCandidate, now: int, *, entry: bool) -> str | None:
        # Conditional on the due time read: a worker that claimed the job
        # meanwhile set its own, which is left alone.
        moved = self._jobs.postpone_sweep(
            candidate.message.job_id, seen_due_at=candidate.due_at, new_due_at=now + self._grace, entry=entry
        )
        return "postponed" if moved else None

    def _look_again(self, pk: str, seen: int, at: int) -> str | None:
        self._jobs.look_again(pk, seen=seen, at=at)
        return None

    def _end_entry(self, entry: DueEntry) -> str | None:
        self._jobs.leave_due(entry.pk, seen=entry.sweep_at)
        return None

    def _settle_bulk(self, bulk_id: str, seen: int) -> str | None:
        self._jobs.leave_due(f"k#{bulk_id}", seen=seen)
        return None


def _stale_at(candidate: SweepCandidate) -> int | None:
    """When a ``sent`` job that heard no event is parked (``None``: no ``sent_at``)."""
    if candidate.sent_at is None:
        return None
    sent_at = datetime.fromisoformat(candidate.sent_at.replace("Z", "+00:00"))
    return epoch_seconds(sent_at + PARK_AFTER)


def sweep(sweeper: Sweeper, *, time_left_ms: Callable[[], int] | None = None) -> dict[str, int]:
    """One scheduled run: sweep, then log and count what was done."""
    report = sweeper.run(time_left_ms=time_left_ms)
    metrics.add_metric(name="JobsSwept", unit=MetricUnit.Count, value=report.queued)
    if report.parked:
        metrics.add_metric(name="JobsParked", unit=MetricUnit.Count, value=report.parked)
    if report.unsent:
        metrics.add_metric(name="SweepUnsent", unit=MetricUnit.Count, value=report.unsent)
        logger.warning("some stuck jobs could not be queued again", extra=report.as_dict())
    else:
        logger.info("sweep done", extra=report.as_dict())
    return report.as_dict()


def sweeper_from_settings(
    settings: SweeperSettings,
    *,
    dynamodb: DynamoDBClient,
    sqs: SQSClient,
    clock: Callable[[], datetime] = utc_now,
) -> Sweeper:
    return Sweeper(
        InFlightJobs(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
        JobQueues(sqs, priority_url=settings.priority_queue_url, bulk_url=settings.bulk_queue_url),
        grace_seconds=settings.sweep_grace_seconds,
        batch_limit=settings.sweep_batch_limit,
        clock=clock,
    )
