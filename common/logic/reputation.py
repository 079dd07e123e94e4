"""A domain's recent bounce and complaint rates, and the pause of its bulk sends
(contract: ``409 domain_paused`` on ``POST /jobs/bulk``; docs/adr/0030-paused-domains.md).

**The window**: the domain's jobs created in the last ``WINDOW_HOURS`` (24),
but at most its newest ``MAX_SAMPLE`` (10,000) jobs; both are read from the
indexes that exist (docs/storage.md, sections 4-5), when a bulk send is
posted, never kept as counters:

- the domain's jobs in the window: its four ``ByDomain`` partitions (its jobs
  of no bulk send) and its four ``ByDomainType`` partitions
  ``<domain>#bulk#<shard>`` (its bulk sends' jobs), merged newest
  first back to the window's start or to the ``MAX_SAMPLE``-th job, whichever
  comes first: the window's first job;
- its jobs ``bounced``, ``complained``, ``failed``, ``suppressed`` and
  ``canceled`` in the window: the ``ByDomainStatus`` partitions
  ``<domain>#<status>#<type>#0`` (5 statuses x 5 types), each entry counted
  only if it is not older than the window's first job.

**Sends** are the jobs in the window less those never handed to SES
(``failed``, ``suppressed``, ``canceled``); jobs still queued count as sends
(they are about to be). **Bounce rate** = ``bounced`` / sends; **complaint
rate** = ``complained`` / sends (a job keeps its strongest status, so a
complained job is not also counted as bounced).

**Cost of one check** (eventually consistent Queries, 0.5 read units per 4 KB
read, at least 0.5 per Query): 33 Queries; the window's entries read are
at most 10,000 and a page of each partition, of about 90 bytes (≤ 125 read
units), the status entries as
many as the window holds of those statuses (few: they are what pauses a
domain). A domain sending 1,000 emails a day costs ≈ 16 read units
($0.000002) per bulk send; the largest, ≈ 125 ($0.000016).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from common.adapters import index_keys
from common.adapters.job_indexes import JobIndexes
from common.models.api import DomainPaused
from common.models.clock import epoch_millis, utc_now
from common.models.job import JobStatus, JobType

WINDOW_HOURS = 24
MAX_SAMPLE = 10_000
_PER_SHARD = MAX_SAMPLE // (2 * index_keys.DOMAIN_SHARDS)  # a window partition's first read: its share of the sample
_PAGE = 1_000
NEVER_SENT = (JobStatus.FAILED, JobStatus.SUPPRESSED, JobStatus.CANCELED)
COUNTED = (JobStatus.BOUNCED, JobStatus.COMPLAINED, *NEVER_SENT)
# Queries of one check while no partition holds more than a page of the window.
CHECK_QUERIES = 2 * index_keys.DOMAIN_SHARDS + len(COUNTED) * len(JobType)


class Thresholds(NamedTuple):
    """From the template's parameters (``PauseBounceRate`` … ``PauseExemptDomains``)."""

    bounce_rate: float  # a fraction: 0.05 = 5%
    complaint_rate: float  # 0.001 = 0.1%
    minimum_sends: int  # fewer sends in the window: never paused
    exempt: frozenset[str] = frozenset()  # the operator's override


class Reputation(NamedTuple):
    domain: str
    sends: int
    bounced: int
    complained: int
    window_start: datetime  # the oldest moment the figures cover
    sampled: bool  # True when MAX_SAMPLE, not the 24 hours, bounded the window

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sends if self.sends else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sends if self.sends else 0.0


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def verdict(reputation: Reputation, thresholds: Thresholds) -> str | None:
    """Why the domain's bulk sends are paused (a sentence for its admin), or ``None``."""
    if reputation.domain in thresholds.exempt or reputation.sends < thresholds.minimum_sends:
        return None
    which = "the past 24 hours" if not reputation.sampled else f"its newest {MAX_SAMPLE:,} emails"
    of = f"of the {reputation.sends:,} emails {reputation.domain} sent in {which}"
    if reputation.complaint_rate >= thresholds.complaint_rate:
        reason = (
            f"{_percent(reputation.complaint_rate)} {of} were marked as spam by their recipients "
            f"(the limit is {_percent(thresholds.complaint_rate)})"
        )
    elif reputation.bounce_rate >= thresholds.bounce_rate:
        reason = f"{_percent(reputation.bounce_rate)} {of} bounced (the limit is {_percent(thresholds.bounce_rate)})"
    else:
        return None
    return (
        f"Bulk sends of {reputation.domain} are paused: {reason}. Its system emails still go out. "
        "To resume: send only to recipients who asked for these emails (addresses that bounced or complained "
        "are already on the domain's suppression list and are skipped); the rate falls as the window moves "
        "on and as good emails are sent; or ask the operator to exempt the domain (PauseExemptDomains)."
    )


class ReputationCheck:
    def __init__(self, indexes: JobIndexes, thresholds: Thresholds, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._indexes = indexes
        self._thresholds = thresholds
        self._clock = clock

    def require_good(self, domain: str) -> Reputation | None:
        """Raise ``DomainPaused`` when the domain's rates passed a threshold.
        An exempt domain is not measured (``None``)."""
        if domain in self._thresholds.exempt:
            return None
        reputation = self.measure(domain)
        reason = verdict(reputation, self._thresholds)
        if reason is not None:
            raise DomainPaused(reason, reputation=reputation)
        return reputation

    def measure(self, domain: str) -> Reputation:
        now = self._clock()
        start = now - timedelta(hours=WINDOW_HOURS)
        low = index_keys.ulid_bound_low(max(0, epoch_millis(start)))
        high = index_keys.ulid_bound_high(index_keys.ULID_MAX_MS)
        created, earliest = self._window(domain, low, high)
        counts = dict.fromkeys(COUNTED, 0)
        for status in COUNTED:
            for job_type in JobType:
                for key in index_keys.domain_status_keys(domain, status, job_type):
                    counts[status] += len(self._read("ByDomainStatus", key, earliest, high))
        sampled = earliest > low
        return Reputation(
            domain=domain,
            sends=max(0, created - sum(counts[s] for s in NEVER_SENT)),
            bounced=counts[JobStatus.BOUNCED],
            complained=counts[JobStatus.COMPLAINED],
            window_start=datetime.fromtimestamp(index_keys.ulid_time_ms(earliest) / 1000, tz=now.tzinfo)
            if sampled
            else start,
            sampled=sampled,
        )

    def _window(self, domain: str, low: str, high: str) -> tuple[int, str]:
        """How many of the domain's jobs the window holds, and its first job id:
        its partitions merged newest first down to ``low`` or the
        ``MAX_SAMPLE``-th job."""
        streams = [
            _Ids(self._indexes, "ByDomain", index_keys.dk(domain, n), low, high)
            for n in range(index_keys.DOMAIN_SHARDS)
        ]
        streams += [
            _Ids(self._indexes, "ByDomainType", index_keys.dtk(domain, JobType.MANUAL, n, bulk=True), low, high)
            for n in range(index_keys.DOMAIN_SHARDS)
        ]
        taken = 0
        while True:
            heads = [(head, stream) for stream in streams if (head := stream.peek()) is not None]
            if not heads:
                return taken, low
            head, stream = max(heads, key=lambda pair: pair[0])
            stream.pop()
            taken += 1
            if taken >= MAX_SAMPLE:
                return taken, head

    def _read(self, index: str, key: str, low: str, high: str) -> list[str]:
        """Job ids of one partition between ``low`` and ``high``, newest first."""
        found: list[str] = []
        start: Any = None
        while True:
            entries, start = self._indexes.query_partition(index, key, low=low, high=high, limit=_PAGE, start=start)
            found += [str(entry["pk"]) for entry in entries]
            if start is None:
                return found


class _Ids:
    """One window partition's job ids, newest first, read a page at a time
    (the first: ``_PER_SHARD``)."""

    def __init__(self, indexes: JobIndexes, index: str, key: str, low: str, high: str) -> None:
        self._indexes = indexes
        self._where = (index, key, low, high)
        self._ids: deque[str] = deque()
        self._start: Any = None
        self._read = False

    def peek(self) -> str | None:
        while not self._ids and (not self._read or self._start is not None):
            index, key, low, high = self._where
            limit = _PAGE if self._read else _PER_SHARD
            entries, self._start = self._indexes.query_partition(
                index, key, low=low, high=high, limit=limit, start=self._start
            )
            self._read = True
            self._ids.extend(str(e["pk"]) for e in entries)
        return self._ids[0] if self._ids else None

    def pop(self) -> str:
        return self._ids.popleft()
