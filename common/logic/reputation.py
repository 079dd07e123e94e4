"""A domain's recent bounce and complaint rates, and the pause of its bulk sends
(contract: ``409 domain_paused`` on ``POST /jobs/bulk`` and
``GET /domains/{domain}/health``; docs/adr/0030-paused-domains.md).

One code path decides both: ``ReputationCheck.assess`` measures the domain
and ``verdict`` says whether (and why) its bulk sends are paused; the bulk
send refuses with that very sentence, and the health route answers it.

**The window**: the domain's jobs *sent* (``sent_at``, SES's acceptance) in
the last ``WINDOW_HOURS`` (24). A job is sent after it is created, at most
``LOOKBACK_HOURS`` later (the longest wait, 72 hours, and an hour: docs/adr/
0070-longest-wait-and-retention.md), so the candidates are the domain's jobs
created in the last 24 + 73 hours, at most its newest ``MAX_SAMPLE`` (10,000),
read from the indexes that exist (docs/storage.md, sections 4-5), never kept
as counters:

- the candidates: its four ``ByDomain`` partitions (its jobs of no bulk
  send) and its four ``ByDomainType`` partitions ``<domain>#bulk#<shard>``
  (its bulk sends' jobs), merged newest first back to the lookback's start or
  to the ``MAX_SAMPLE``-th job, whichever comes first (keys only);
- each candidate's ``status``, ``sent_at`` and ``permanent_bounce`` (set by a
  permanent bounce's event), 100 per eventually consistent ``BatchGetItem``,
  ``FETCH_CONCURRENCY`` at a time.

**Sent** = the candidates whose ``sent_at`` is in the window; **bounced** =
of those, the ones ``bounced`` permanently; **complained** = of those, the
ones ``complained`` (a job keeps its strongest status, so a complained job is
not also counted as bounced). **Bounce rate** = bounced / sent, **complaint
rate** = complained / sent (0 when nothing was sent).

**Cost of one check** (eventually consistent, 0.5 read units per 4 KB,
at least 0.5 per Query): 8 Queries of keys (≈ 90 bytes an entry) and one
BatchGetItem per 100 candidates (0.5 read units each: a job item is under
4 KB). A domain sending 1,000 emails a day has ≈ 4,000 candidates: 8 + 40
calls, ≈ 2,000 read units ($0.0005) per check; the largest (10,000): 8 + 100
calls, ≈ 5,000 read units ($0.00125). Nothing is written.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from common.adapters import index_keys
from common.adapters.dynamo import BATCH_GET_LIMIT
from common.adapters.job_indexes import JobIndexes
from common.adapters.job_store import JobStore, SendFact
from common.logic.threads import map_in_context
from common.models.api import DomainPaused
from common.models.clock import epoch_millis, to_rfc3339, utc_now
from common.models.job import JobStatus, JobType
from common.models.settings import PauseSettings

WINDOW_HOURS = 24
# The longest a job waits between its creation and SES's acceptance (72 hours: ADR 0070), and an hour.
LOOKBACK_HOURS = 73
MAX_SAMPLE = 10_000
_PER_SHARD = MAX_SAMPLE // (2 * index_keys.DOMAIN_SHARDS)  # a window partition's first read: its share of the sample
_PAGE = 1_000
FETCH_CONCURRENCY = 8
# Queries of one check while no partition holds more than its first read of the candidates.
CHECK_QUERIES = 2 * index_keys.DOMAIN_SHARDS


class Thresholds(NamedTuple):
    """From the template's parameters (``PauseBounceRate`` … ``PauseExemptDomains``)."""

    bounce_rate: float  # a fraction: 0.05 = 5%
    complaint_rate: float  # 0.001 = 0.1%
    minimum_sends: int  # fewer sends in the window: never paused
    exempt: frozenset[str] = frozenset()  # the operator's override


def thresholds_of(settings: PauseSettings) -> Thresholds:
    """The thresholds of the template's parameters (percentages there, fractions here)."""
    return Thresholds(
        bounce_rate=settings.pause_bounce_rate / 100,
        complaint_rate=settings.pause_complaint_rate / 100,
        minimum_sends=settings.pause_minimum_sends,
        exempt=settings.exempt_domains,
    )


class Reputation(NamedTuple):
    domain: str
    sends: int
    bounced: int
    complained: int
    window_start: datetime  # the start of the 24 hours
    sampled: bool  # True when MAX_SAMPLE, not the lookback, bounded the candidates

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
    which = "the past 24 hours" + (f" (of its newest {MAX_SAMPLE:,} emails)" if reputation.sampled else "")
    of = f"of the {reputation.sends:,} emails {reputation.domain} sent in {which}"
    if reputation.complaint_rate >= thresholds.complaint_rate:
        reason = (
            f"{_percent(reputation.complaint_rate)} {of} were marked as spam by their recipients "
            f"(the limit is {_percent(thresholds.complaint_rate)})"
        )
    elif reputation.bounce_rate >= thresholds.bounce_rate:
        limit = _percent(thresholds.bounce_rate)
        reason = f"{_percent(reputation.bounce_rate)} {of} bounced for good (the limit is {limit})"
    else:
        return None
    return (
        f"Bulk sends of {reputation.domain} are paused: {reason}. Its system emails still go out. "
        "To resume: send only to recipients who asked for these emails (addresses that bounced or complained "
        "are already on the domain's suppression list and are skipped); the rate falls as the window moves "
        "on and as good emails are sent; or ask the operator to exempt the domain (PauseExemptDomains)."
    )


class Assessment(NamedTuple):
    reputation: Reputation
    paused: str | None  # why its bulk sends are paused (``verdict``), or None


class ReputationCheck:
    def __init__(
        self,
        indexes: JobIndexes,
        thresholds: Thresholds,
        *,
        jobs: JobStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._indexes = indexes
        self._jobs = jobs
        self._thresholds = thresholds
        self._clock = clock

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    def assess(self, domain: str) -> Assessment:
        """The domain measured, and whether a bulk send would be refused now (the health route)."""
        reputation = self.measure(domain)
        return Assessment(reputation, verdict(reputation, self._thresholds))

    def require_good(self, domain: str) -> Reputation | None:
        """Raise ``DomainPaused`` when the domain's rates passed a threshold
        (``verdict``'s sentence). An exempt domain, which ``verdict`` never
        pauses, is not measured (``None``)."""
        if domain in self._thresholds.exempt:
            return None
        reputation, reason = self.assess(domain)
        if reason is not None:
            raise DomainPaused(reason, reputation=reputation)
        return reputation

    def measure(self, domain: str) -> Reputation:
        now = self._clock()
        start = now - timedelta(hours=WINDOW_HOURS)
        low = index_keys.ulid_bound_low(max(0, epoch_millis(start - timedelta(hours=LOOKBACK_HOURS))))
        high = index_keys.ulid_bound_high(index_keys.ULID_MAX_MS)
        candidates, sampled = self._candidates(domain, low, high)
        first, last = to_rfc3339(start), to_rfc3339(now)
        sent = [f for f in self._facts(candidates) if f.sent_at is not None and first <= f.sent_at <= last]
        return Reputation(
            domain=domain,
            sends=len(sent),
            bounced=sum(1 for f in sent if f.status == JobStatus.BOUNCED.value and f.permanent_bounce),
            complained=sum(1 for f in sent if f.status == JobStatus.COMPLAINED.value),
            window_start=start,
            sampled=sampled,
        )

    def _facts(self, job_ids: list[str]) -> list[SendFact]:
        chunks = [job_ids[n : n + BATCH_GET_LIMIT] for n in range(0, len(job_ids), BATCH_GET_LIMIT)]
        if len(chunks) <= 1:
            return self._jobs.send_facts(chunks[0]) if chunks else []
        with ThreadPoolExecutor(max_workers=FETCH_CONCURRENCY) as pool:
            return [fact for facts in map_in_context(pool, self._jobs.send_facts, chunks) for fact in facts]

    def _candidates(self, domain: str, low: str, high: str) -> tuple[list[str], bool]:
        """The domain's job ids created from ``low`` on, newest first, at most
        ``MAX_SAMPLE`` of them; and whether that bound cut them short: its
        partitions merged newest first."""
        streams = [
            _Ids(self._indexes, "ByDomain", index_keys.dk(domain, n), low, high)
            for n in range(index_keys.DOMAIN_SHARDS)
        ]
        streams += [
            _Ids(self._indexes, "ByDomainType", index_keys.dtk(domain, JobType.MANUAL, n, bulk=True), low, high)
            for n in range(index_keys.DOMAIN_SHARDS)
        ]
        taken: list[str] = []
        while True:
            heads = [(head, stream) for stream in streams if (head := stream.peek()) is not None]
            if not heads:
                return taken, False
            head, stream = max(heads, key=lambda pair: pair[0])
            stream.pop()
            taken.append(head)
            if len(taken) >= MAX_SAMPLE:
                return taken, True


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
