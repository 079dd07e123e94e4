"""``GET /stats``: the jobs created each day counted by their status now, read
from the statistics counters only (docs/adr/0084-statistics-counters.md):
never a Query of the log."""

from __future__ import annotations

from datetime import date, timedelta

from common.adapters.stats_counters import StatsCounters
from common.models.api import Caller
from common.models.errors import InvalidStatsRange
from common.models.stats import (
    DEFAULT_DAYS,
    MAX_DAYS,
    PLATFORM,
    STATS_TYPES,
    DayStats,
    StatsPage,
    StatsQuery,
    summed,
)


def stats_range(query: StatsQuery, today: date) -> tuple[date, date]:
    """The days asked (inclusive): ``to`` by default today, ``from`` by default 29 days before ``to``."""
    last = query.to or today
    first = query.from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidStatsRange("from must not be after to")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidStatsRange(f"a range covers at most {MAX_DAYS} days")
    return first, last


def delivery_stats(query: StatsQuery, caller: Caller, counters: StatsCounters, *, today: date) -> StatsPage:
    """The caller's statistics: one domain's (403 if not the caller's), else
    every domain of the caller summed (a ``*`` caller: the platform's counters)."""
    if query.domain is not None:
        caller.require(query.domain)
        domains = [query.domain]
    elif caller.every_domain:
        domains = [PLATFORM]
    else:
        domains = sorted(caller.domains)
    first, last = stats_range(query, today)
    found = counters.read(domains, first, last) if domains else {}
    days: list[DayStats] = []
    day = first
    while day <= last:
        total = summed(counts for key, counts in found.items() if key.day == day)
        days.append(DayStats(day=day, total=total.total, counts=total.counts))
        day += timedelta(days=1)
    types = {
        job_type: summed(counts for key, counts in found.items() if key.type.value == job_type)
        for job_type in STATS_TYPES
    }
    return StatsPage.model_validate({"from": first, "to": last, "days": days, "types": types})
