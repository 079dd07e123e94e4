"""The sweeper: no job is lost (CONTRACT.md section 5).

Every job that is not final carries ``due_at``: when it should be done with
its current step if all goes well, plus a grace period. It is set when the job
is created (queued), claimed (lease expiry), and put back for a retry (retry
time). A job still not final past its ``due_at`` lost its queue message (the
send after the job write failed) or its worker (died holding the lease): the
sweeper queues it again and moves ``due_at`` on by the grace period.

It reads the sparse ``BySweepDue`` index with a Query (never a Scan), the
priority partition before the bulk one: within its batch limit every overdue
priority job (an escalation, an invitation) is queued again before any bulk
job, however large a bulk backlog. A job queued twice is harmless: the
worker's claim sends it once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from common.clock import epoch_seconds, utc_now
from common.jobs import JobsTable
from common.observability import logger, metrics
from common.queues import JobQueues

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from common.settings import SweeperSettings


@dataclass(frozen=True)
class SweepReport:
    found: int  # jobs past their due time
    queued: int  # of those, queued again
    unsent: int  # could not be queued: found again next run
    postponed: int  # due time moved on (less than queued when a worker got there first)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Sweeper:
    def __init__(
        self,
        jobs: JobsTable,
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
        now = epoch_seconds(self._clock())
        candidates = list(self._jobs.due_for_sweep(now=now, limit=self._limit))
        if not candidates:
            return SweepReport(found=0, queued=0, unsent=0, postponed=0)
        unsent = {message.job_id for message in self._queues.send([c.message for c in candidates])}
        postponed = 0
        for candidate in candidates:
            if candidate.message.job_id in unsent:
                continue  # still due: the next run tries again
            # Conditional on the due time read: a worker that claimed the job
            # meanwhile set its own, which is left alone.
            if self._jobs.postpone_sweep(
                candidate.message.job_id, seen_due_at=candidate.due_at, new_due_at=now + self._grace
            ):
                postponed += 1
        return SweepReport(
            found=len(candidates), queued=len(candidates) - len(unsent), unsent=len(unsent), postponed=postponed
        )


def sweep(sweeper: Sweeper) -> dict[str, int]:
    """One scheduled run: sweep, then log and count what was done."""
    report = sweeper.run()
    metrics.add_metric(name="JobsSwept", unit=MetricUnit.Count, value=report.queued)
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
        JobsTable(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
        JobQueues(sqs, priority_url=settings.priority_queue_url, bulk_url=settings.bulk_queue_url),
        grace_seconds=settings.sweep_grace_seconds,
        batch_limit=settings.sweep_batch_limit,
        clock=clock,
    )
