"""Delivery statistics and status events: what ``GET /stats`` takes and answers,
the counts kept per (domain, created day, type) as statuses change, and the
``Email Status Changed`` event of each change Privas services may react to
(docs/adr/0084-statistics-counters.md, docs/adr/0085-status-events.md).
"""

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from common.models.clock import to_rfc3339
from common.models.job import Domain, Job, JobStatus, JobType

# ------------------------------------------------------------------ GET /stats
# Every status of the contract's section 2, in its order: ``scheduled`` is a key
# of ``counts`` whether or not this version makes scheduled jobs.
STATS_STATUSES: tuple[str, ...] = ("scheduled", *(s.value for s in JobStatus if s.value != "scheduled"))
STATS_TYPES: tuple[str, ...] = tuple(t.value for t in JobType)
DEFAULT_DAYS = 30
MAX_DAYS = 92
# The counters of every domain together, for a ``*`` caller's sums (never a host name).
PLATFORM = "*"


class StatsQuery(BaseModel):
    model_config = ConfigDict(defer_build=True, populate_by_name=True)

    domain: Domain | None = Field(default=None, description="one of your domains; without it, all of them summed")
    from_: date | None = Field(
        default=None,
        alias="from",
        description="the first day (UTC, YYYY-MM-DD, inclusive); default: 29 days before `to`",
    )
    to: date | None = Field(default=None, description="the last day (UTC, YYYY-MM-DD, inclusive); default: today")


class StatusCounts(BaseModel):
    model_config = ConfigDict(defer_build=True)

    total: int = Field(description="the jobs counted: the sum of counts")
    counts: dict[str, int] = Field(description="every status of a job, 0 where none; they sum to total")


class DayStats(BaseModel):
    model_config = ConfigDict(defer_build=True)

    day: date = Field(description="the UTC day the jobs were created")
    total: int = Field(description="the jobs counted: the sum of counts")
    counts: dict[str, int] = Field(description="every status of a job, 0 where none; they sum to total")


class StatsPage(BaseModel):
    model_config = ConfigDict(defer_build=True, populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    days: list[DayStats] = Field(description="one entry per day of the range, oldest first, zeros included")
    types: dict[str, StatusCounts] = Field(description="the whole range per type, every type a key")


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(STATS_STATUSES, 0)


# ------------------------------------------------------------------ the counts kept
class CounterKey(NamedTuple):
    """What one counter item counts: the jobs of a domain (or ``PLATFORM``)
    created on a UTC day, of one type."""

    domain: str
    day: date
    type: JobType


def created_day(job_id_time: datetime) -> date:
    """The UTC day a job was created (its ``created_at``, the ULID's time)."""
    return job_id_time.date()


class StatusTally:
    """The changes of a batch to the counts, netted: each job created adds one to
    its status, each move takes one from the old status and adds one to the
    new. Nothing here is written; ``common.adapters.stats_counters`` writes a
    tally's non-zero deltas, one update per counter."""

    def __init__(self) -> None:
        self._deltas: dict[CounterKey, dict[str, int]] = {}

    def _add(self, key: CounterKey, status: str, n: int) -> None:
        counts = self._deltas.setdefault(key, {})
        counts[status] = counts.get(status, 0) + n

    def created(self, job: Job) -> None:
        key = CounterKey(job.domain, created_day(job.created_at), job.type)
        self._add(key, job.status.value, 1)

    def moved(self, job: Job, old: JobStatus | str, new: JobStatus | str) -> None:
        self.moved_of(job.domain, job.created_at, job.type, old, new)

    def moved_of(
        self, domain: str, created_at: datetime, job_type: JobType, old: JobStatus | str, new: JobStatus | str
    ) -> None:
        """A move of a job known by its keys alone (the scheduler's release reads no job)."""
        old_value, new_value = str(old), str(new)
        if old_value == new_value:
            return
        key = CounterKey(domain, created_day(created_at), job_type)
        self._add(key, old_value, -1)
        self._add(key, new_value, 1)

    def merge(self, other: "StatusTally") -> None:
        for key, counts in other.deltas():
            for status, n in counts.items():
                self._add(key, status, n)

    def deltas(self) -> Iterator[tuple[CounterKey, dict[str, int]]]:
        """Each counter with its non-zero changes (a batch's moves often cancel out)."""
        for key, counts in self._deltas.items():
            changed = {status: n for status, n in counts.items() if n}
            if changed:
                yield key, changed

    def __bool__(self) -> bool:
        return any(True for _ in self.deltas())

    def clear(self) -> None:
        self._deltas.clear()


def summed(rows: Iterable[dict[str, int]]) -> StatusCounts:
    counts = empty_counts()
    for row in rows:
        for status, n in row.items():
            if status in counts:
                counts[status] += n
    return StatusCounts(total=sum(counts.values()), counts=counts)


# ------------------------------------------------------------------ status events
EVENT_SOURCE = "privas.email-operations"
EVENT_DETAIL_TYPE = "Email Status Changed"
# The statuses whose every change is published (the contract's section 9).
EVENT_STATUSES = frozenset(
    {
        JobStatus.SENT,
        JobStatus.DELIVERED,
        JobStatus.BOUNCED,
        JobStatus.COMPLAINED,
        JobStatus.FAILED,
        JobStatus.SUPPRESSED,
        JobStatus.CANCELED,
    }
)


class StatusEventDetail(BaseModel):
    """The ``detail`` of an ``Email Status Changed`` event: exactly these ten fields."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    job_id: str
    domain: str
    type: str
    recipient: str
    status: str
    at: str
    bulk_id: str | None
    retry_of: str | None
    idempotency_key: str | None
    error: Annotated[str | None, Field(description="the job's error, or null")]

    @classmethod
    def of(cls, job: Job, status: JobStatus, at: datetime, *, error: str | None = None) -> "StatusEventDetail":
        return cls(
            job_id=job.job_id,
            domain=job.domain,
            type=job.type.value,
            recipient=job.recipient,
            status=status.value,
            at=to_rfc3339(at),
            bulk_id=job.bulk_id,
            retry_of=job.retry_of,
            idempotency_key=job.idempotency_key,
            error=error,
        )

    def as_detail(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
