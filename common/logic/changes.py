"""Every status change, told to the statistics counters and to Privas services
(docs/adr/0084-statistics-counters.md, docs/adr/0085-status-events.md).

Each path that creates a job or changes its status (enqueue, Bulk Send,
retry, the worker, SES's events, cancel) records what it did here, after its
own write succeeded; ``flush`` then writes the batch's counts in one
transaction of ``ADD`` updates and puts its status events, 10 a request. A
worker flushes at the end of its batch, and sooner when a change has waited
``FLUSH_AFTER_SECONDS``, so the counts follow ``GET /jobs`` within 10 seconds.
Neither write can fail the path: a failure is logged and counted
(``StatsWriteFailures``, ``StatusEventsFailed``), never raised.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from common.adapters.observability import logger, metrics
from common.adapters.stats_counters import StatsCounters
from common.adapters.status_events import PutEventsClient, StatusEventBus
from common.models.clock import utc_now
from common.models.errors import StorageError
from common.models.job import Job, JobStatus, JobType
from common.models.stats import EVENT_STATUSES, StatusEventDetail, StatusTally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The longest a recorded change waits for its flush while a batch goes on.
FLUSH_AFTER_SECONDS = 5.0


class Changes:
    """A batch's status changes, until ``flush`` writes them."""

    def __init__(
        self,
        counters: StatsCounters | None,
        bus: StatusEventBus | None,
        *,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counters = counters
        self._bus = bus
        self._clock = clock
        self._monotonic = monotonic
        self._tally = StatusTally()
        self._events: list[StatusEventDetail] = []
        self._since: float | None = None

    def _touched(self) -> None:
        if self._since is None:
            self._since = self._monotonic()

    def created(self, jobs: Iterable[Job]) -> None:
        """Jobs just stored (each counted in its status; a ``suppressed`` one is also an event)."""
        for job in jobs:
            self._tally.created(job)
            if job.status in EVENT_STATUSES:
                self._events.append(StatusEventDetail.of(job, job.status, job.created_at, error=job.error))
            self._touched()

    def moved(
        self, job: Job, old: JobStatus, new: JobStatus, *, at: datetime | None = None, error: str | None = None
    ) -> None:
        """``job`` (its fields as the change left them, or as before it) moved from ``old`` to ``new``."""
        if old is new:
            return
        self._tally.moved(job, old, new)
        if new in EVENT_STATUSES:
            self._events.append(StatusEventDetail.of(job, new, at or self._clock(), error=error))
        self._touched()

    def released(self, jobs: Iterable[tuple[str, str, JobType]]) -> None:
        """Scheduled jobs made ``queued`` (``(job_id, domain, type)`` each: the
        scheduler reads no job; a job id is a ULID, its time the job's
        ``created_at``). ``queued`` is no event status: counted only."""
        from ulid import ULID  # noqa: PLC0415  (the scheduler alone releases)

        for job_id, domain, job_type in jobs:
            created_at = ULID.from_str(job_id).datetime
            self._tally.moved_of(domain, created_at, job_type, JobStatus.SCHEDULED, JobStatus.QUEUED)
            self._touched()

    @property
    def pending(self) -> bool:
        return self._since is not None

    def flush_if_due(self) -> None:
        """Flush when the oldest change has waited ``FLUSH_AFTER_SECONDS``."""
        if self._since is not None and self._monotonic() - self._since >= FLUSH_AFTER_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the counts and put the events recorded since the last flush."""
        tally, events = self._tally, self._events
        self._tally, self._events, self._since = StatusTally(), [], None
        if tally and self._counters is not None:
            try:
                self._counters.add(tally, salt=secrets.token_hex(16))
            except StorageError as exc:
                # The statuses are written; only the counts miss this batch
                # (docs/adr/0084-statistics-counters.md: the drift and its bound).
                changed = sum(abs(n) for _, counts in tally.deltas() for n in counts.values())
                logger.error("statistics counters not written", extra={"reason": str(exc), "changes": changed})
                metrics.add_metric(name="StatsWriteFailures", unit=MetricUnit.Count, value=1)
        if events and self._bus is not None:
            published = self._bus.publish(events)
            if published.put:
                metrics.add_metric(name="StatusEventsPublished", unit=MetricUnit.Count, value=published.put)
            if published.failed:
                logger.error(
                    "status events not put",
                    extra={"failed": published.failed, "reason": published.reason},
                )
                metrics.add_metric(name="StatusEventsFailed", unit=MetricUnit.Count, value=published.failed)


def changes_for(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    retention_days: int,
    bus: str,
    events: Callable[[], PutEventsClient],
    clock: Callable[[], datetime] = utc_now,
) -> Changes:
    """A function's recorder: the counters in the jobs table, the events on ``bus``."""
    return Changes(
        StatsCounters(dynamodb, table, retention_days=retention_days),
        StatusEventBus(events, bus),
        clock=clock,
    )


def counts_only(dynamodb: DynamoDBClient, table: str, *, retention_days: int) -> Changes:
    """A recorder of counts and no status events: for paths whose changes are
    never events (jobs created ``queued`` or ``scheduled``, a scheduled job
    released to ``queued``)."""
    return Changes(StatsCounters(dynamodb, table, retention_days=retention_days), None)
