"""The sweeper: no job is lost (docs/api.md).

Every job that may still need a send (``queued``, ``sending``, ``retrying``)
carries ``due_at``: when it should be done with its current step if all goes
well, plus a grace period. It is set when the job is created (queued), claimed
(lease expiry), and put back for a retry (retry time). A job still sweepable
past its ``due_at`` lost its queue message (the send after the job write
failed) or its worker (died holding the lease): the sweeper queues it again
and moves ``due_at`` on by the grace period.

It reads the 64 shards of the sparse ``InFlight`` index (Query, entries
only: the platform's in-flight set, i.e. its backlog, never a Scan), then the
jobs they name with strongly consistent ``BatchGetItem`` calls (100 keys
each, a few small attributes). Every overdue priority job (an escalation, an
invitation) is queued again before any bulk job, however large a bulk
backlog, within the batch limit. A job queued twice is harmless: the worker's
claim sends it once.

A ``sent`` job that heard no delivery event for ``PARK_AFTER`` (event
publishing broken) is parked: out of ``InFlight``, into the exact status
indexes under ``sent``, so the in-flight set stays small and ``status=sent``
still lists it (docs/storage.md, section 10).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit

from common.adapters import index_keys
from common.adapters.in_flight import InFlightJobs, SweepCandidate
from common.adapters.observability import logger, metrics
from common.adapters.queues import JobQueues
from common.models.clock import epoch_seconds, utc_now
from common.models.job import JobStatus, QueueName

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from common.models.pipeline_settings import SweeperSettings

PARK_AFTER = timedelta(hours=48)


class SweepReport(NamedTuple):
    found: int  # jobs past their due time
    queued: int  # of those, queued again
    unsent: int  # could not be queued: found again next run
    postponed: int  # due time moved on (less than queued when a worker got there first)
    parked: int = 0  # sent jobs without an event for PARK_AFTER, moved out of InFlight

    def as_dict(self) -> dict[str, int]:
        return dict(self._asdict())


def _order(candidate: SweepCandidate) -> tuple[int, int, str]:
    """Priority jobs first, then oldest due first."""
    return (0 if candidate.message.queue is QueueName.PRIORITY else 1, candidate.due_at, candidate.message.job_id)


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

    def run(self) -> SweepReport:
        moment = self._clock()
        now = epoch_seconds(moment)
        job_ids = [job_id for shard in index_keys.all_inflight_keys() for job_id in self._jobs.in_flight(shard)]
        jobs = self._jobs.in_flight_jobs(job_ids)
        overdue = sorted((c for c in jobs if c.status.sweepable and c.due_at <= now), key=_order)[: self._limit]
        parked = sum(1 for c in jobs if self._stale(c, moment) and self._jobs.park(c))
        if not overdue:
            return SweepReport(found=0, queued=0, unsent=0, postponed=0, parked=parked)
        unsent = {message.job_id for message in self._queues.send([c.message for c in overdue])}
        postponed = 0
        for candidate in overdue:
            if candidate.message.job_id in unsent:
                continue  # still due: the next run tries again
            # Conditional on the due time read: a worker that claimed the job
            # meanwhile set its own, which is left alone.
            if self._jobs.postpone_sweep(
                candidate.message.job_id, seen_due_at=candidate.due_at, new_due_at=now + self._grace
            ):
                postponed += 1
        return SweepReport(
            found=len(overdue),
            queued=len(overdue) - len(unsent),
            unsent=len(unsent),
            postponed=postponed,
            parked=parked,
        )

    @staticmethod
    def _stale(candidate: SweepCandidate, moment: datetime) -> bool:
        if candidate.status is not JobStatus.SENT or candidate.sent_at is None:
            return False
        sent_at = datetime.fromisoformat(candidate.sent_at.replace("Z", "+00:00"))
        return moment - sent_at >= PARK_AFTER


def sweep(sweeper: Sweeper) -> dict[str, int]:
    """One scheduled run: sweep, then log and count what was done."""
    report = sweeper.run()
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
