"""Scheduled sends: a job waits ``scheduled`` until its ``send_at``, then is
``queued`` and sent as any queued job (docs/adr/0081-scheduled-sends-from-the-due-index.md).

``SchedulerFunction`` runs once a minute. A run reads the scheduled part of
``Due`` up to ``window`` seconds ahead (the priority queue's 32 shards, then
the bulk queue's: keys only), then waits inside the run for each entry's time
and releases it then, reading again every ``REREAD_SECONDS`` while anything
is pending (so an entry made meanwhile is seen too); it ends when a read
finds nothing left to wait for, or ``OVERLAP_SECONDS`` past its window, when
the next run has started and read what is left. It releases: a job of no bulk send, or every job of a
due bulk send still ``scheduled`` (its ``ByBulk`` shards), made ``queued``
with one conditional write each (a cancel that came first wins), and its
message sent to its queue at once. So a job is released within about a second
of its ``send_at``, its status is ``scheduled`` until then, and the run costs
nothing but its reads when nothing is due.

Escalations first: at every step, the priority queue's due entries are
released before any of the bulk queue's, and a bulk send is released in
waves of ``WAVE`` jobs between which the priority entries come due meanwhile
go first; the two queues are apart in SQS, so 10,000 bulk jobs released at
once never stand before an escalation.

A job created less than a run's period before its ``send_at``, while no run
is waiting, is released by the next run: at most one period late. A run
that cannot release everything before its time is up leaves the rest due:
the next run releases them at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit

from common.adapters import index_keys
from common.adapters.in_flight import DueEntry
from common.adapters.observability import logger, metrics
from common.adapters.queues import JobQueues
from common.adapters.schedules import Release, ScheduledJobs
from common.logic.changes import Changes, counts_only
from common.logic.threads import map_in_context
from common.models.clock import utc_now
from common.models.job import QueueName

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from common.models.pipeline_settings import SchedulerSettings

WAVE = 500  # jobs of a bulk queue's entries released between two looks at the priority queue's
WRITE_CONCURRENCY = 16  # conditional writes in flight at once
STOP_MS = 10_000  # a run waits for no entry past the time it has left less this
REREAD_SECONDS = 10  # while anything is pending, the scheduled part of Due is read again this often
OVERLAP_SECONDS = 10  # a run waits this long past its window, for the next run's start to come
ENTRIES_PER_RUN = 200_000  # entries a run reads at most (the rest: the next run)


class ScheduleReport(NamedTuple):
    read: int  # Due entries read (jobs' and bulks')
    released: int  # jobs made queued
    queued: int  # of those, whose message was sent (the rest: the sweeper's)
    late_max: float  # seconds past its send_at of the latest release
    left: int  # entries not reached (the next run's)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._asdict())


@dataclass
class _Run:
    pending: dict[QueueName, list[DueEntry]]
    taken: set[str] = field(default_factory=set)  # entries this run released (or found gone)
    read: int = 0
    released: int = 0
    queued: int = 0
    late: list[float] = field(default_factory=list)


class Scheduler:
    def __init__(
        self,
        jobs: ScheduledJobs,
        queues: JobQueues,
        *,
        grace_seconds: int,
        window_seconds: int,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        changes: Changes | None = None,
    ) -> None:
        """``changes``: where each release (``scheduled`` to ``queued``) is
        counted for the statistics (``None``: nowhere)."""
        self._changes = changes
        self._jobs = jobs
        self._queues = queues
        self._grace = grace_seconds
        self._window = window_seconds
        self._clock = clock
        self._sleep = sleep

    def _now(self) -> float:
        return self._clock().timestamp()

    def run(self, *, time_left_ms: Callable[[], int] | None = None) -> ScheduleReport:
        """Read what comes due within the window, release each entry at its
        time, and read again every ``REREAD_SECONDS`` while anything is
        pending (entries made meanwhile); end when a read finds nothing left,
        or ``OVERLAP_SECONDS`` past the window (the next run's)."""
        run = _Run(pending={QueueName.PRIORITY: [], QueueName.BULK: []})
        last_read = -float(REREAD_SECONDS)
        # The next run (a minute on) takes over; the overlap covers its start's jitter.
        until = self._now() + self._window + OVERLAP_SECONDS
        while True:
            now = self._now()
            if now >= until:
                break  # what is left is the next run's: it reads it again
            if now - last_read >= REREAD_SECONDS or not any(run.pending.values()):
                self._read_into(run, int(now) + self._window)
                last_read = now
                if not any(run.pending.values()):
                    break
            step = self._due(run, QueueName.PRIORITY, now, limit=None) or self._due(run, QueueName.BULK, now, limit=1)
            if step:
                self._release_entries(step, run)
                continue
            soonest = min(entry.sweep_at for entries in run.pending.values() for entry in entries)
            wait = max(0.0, min(soonest, last_read + REREAD_SECONDS, until) - now)
            if time_left_ms is not None and time_left_ms() - wait * 1000 < STOP_MS:
                break  # the next run reads them again
            self._sleep(wait)
        left = sum(len(entries) for entries in run.pending.values())
        return ScheduleReport(
            read=run.read,
            released=run.released,
            queued=run.queued,
            late_max=round(max(run.late, default=0.0), 3),
            left=left,
        )

    def _read_into(self, run: _Run, upto: int) -> None:
        """Every scheduled entry due by ``upto`` that the run has not taken yet
        (an entry it released may still show: the index lags by moments)."""
        for queue in (QueueName.PRIORITY, QueueName.BULK):
            known = {entry.pk for entry in run.pending[queue]} | run.taken
            fresh = [entry for entry in self._read(queue, upto) if entry.pk not in known]
            run.read += len(fresh)
            run.pending[queue] = sorted([*run.pending[queue], *fresh], key=lambda e: (e.sweep_at, e.pk))

    def _read(self, queue: QueueName, upto: int) -> list[DueEntry]:
        """Every scheduled entry of a queue due by ``upto``."""
        found: list[DueEntry] = []
        for key in index_keys.scheduled_due_keys(queue):
            start: Any = None
            while len(found) < ENTRIES_PER_RUN:
                page, start = self._jobs.due(key, upto=upto, start=start)
                found += page
                if start is None:
                    break
        return found

    @staticmethod
    def _due(run: _Run, queue: QueueName, now: float, *, limit: int | None) -> list[DueEntry]:
        """The queue's entries whose time has come (all, or the first ``limit``
        of them), taken out of what the run waits for. A job's entries are
        taken together (up to 100: one read), a bulk's one at a time."""
        entries = run.pending[queue]
        due = [entry for entry in entries if entry.sweep_at <= now]
        if limit is not None and due:
            first = due[0]
            due = [first] if first.bulk_id is not None else [entry for entry in due if entry.bulk_id is None][:100]
        taken = {entry.pk for entry in due}
        run.pending[queue] = [entry for entry in entries if entry.pk not in taken]
        run.taken |= taken
        return due

    def _release_entries(self, entries: list[DueEntry], run: _Run) -> None:
        jobs = [entry for entry in entries if entry.bulk_id is None]
        if jobs:
            found = self._jobs.scheduled_jobs([entry.pk for entry in jobs])
            self._release(found, {entry.pk: entry.sweep_at for entry in jobs}, run)
            still = {release.keyed.job_id for release in found}
            for entry in jobs:
                if entry.pk not in still:
                    # Canceled (or released by another run) since the index was read:
                    # its own write took the entry out, or will; an entry left behind goes.
                    self._jobs.leave(entry.pk, seen=entry.sweep_at)
        for entry in entries:
            if entry.bulk_id is not None:
                self._release_bulk(entry, run)

    def _release_bulk(self, entry: DueEntry, run: _Run) -> None:
        """A due bulk send: its jobs still scheduled, in waves (the priority
        queue's due entries between them), then its item handed to the sweeper."""
        bulk_id = entry.bulk_id or ""
        found = self._jobs.bulk_scheduled_jobs(bulk_id)
        due = dict.fromkeys([release.keyed.job_id for release in found], entry.sweep_at)
        for start in range(0, len(found), WAVE):
            if start:
                urgent = self._due(run, QueueName.PRIORITY, self._now(), limit=None)
                if urgent:
                    self._release_entries(urgent, run)
            self._release(found[start : start + WAVE], due, run)
        due_at = int(self._now()) + self._grace
        if found:
            self._jobs.hand_bulk_to_sweeper(bulk_id, seen=entry.sweep_at, due_at=due_at)
        else:
            # Canceled while scheduled: nothing of it is left to send or sweep.
            self._jobs.leave(entry.pk, seen=entry.sweep_at)

    def _release(self, found: list[Release], due: dict[str, int], run: _Run) -> None:
        """Make each job ``queued`` (one conditional write each), then send the
        messages of those this run made so."""
        if not found:
            return
        due_at = int(self._now()) + self._grace
        with ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY) as pool:
            made = list(map_in_context(pool, lambda r: self._jobs.release(r.keyed, due_at=due_at), found))
        released = [release for release, ok in zip(found, made, strict=True) if ok]
        if not released:
            return
        if self._changes is not None:
            self._changes.released((r.keyed.job_id, r.keyed.domain, r.keyed.type) for r in released)
            self._changes.flush()
        unsent = self._queues.send([release.message for release in released])
        now = self._now()
        run.released += len(released)
        run.queued += len(released) - len(unsent)
        run.late += [max(0.0, now - due[release.keyed.job_id]) for release in released]


def schedule(scheduler: Scheduler, *, time_left_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """One scheduled run: release what is due, then log and count it."""
    report = scheduler.run(time_left_ms=time_left_ms)
    metrics.add_metric(name="EmailsReleased", unit=MetricUnit.Count, value=report.released)
    if report.released != report.queued:
        metrics.add_metric(name="EmailsLeftForSweeper", unit=MetricUnit.Count, value=report.released - report.queued)
        logger.warning("some released jobs could not be queued; the sweeper will", extra=report.as_dict())
    else:
        logger.info("schedule run done", extra=report.as_dict())
    return report.as_dict()


def scheduler_from_settings(
    settings: SchedulerSettings,
    *,
    dynamodb: DynamoDBClient,
    sqs: SQSClient,
    clock: Callable[[], datetime] = utc_now,
) -> Scheduler:
    return Scheduler(
        ScheduledJobs(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
        JobQueues(sqs, priority_url=settings.priority_queue_url, bulk_url=settings.bulk_queue_url),
        grace_seconds=settings.sweep_grace_seconds,
        window_seconds=settings.schedule_window_seconds,
        clock=clock,
        # A release is counted (scheduled to queued), never a status event.
        changes=counts_only(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
    )
