"""Figure 7: the highest sustained email rate before any partition key passes
DynamoDB's per-partition limit (1,000 write units a second; 3,000 read units).

From figure 6's replayed writes: the write units each key class (the table,
each index) takes per email, the largest of the three cases. Then the model
of docs/storage.md section 11: emails of 1,000 domains with Zipf-distributed
volume (exponent 1), or of one domain alone, mapped onto partition key values
with the service's own key functions (``common.adapters.index_keys``); a domain's emails
spread evenly over its shards (the shard is the job id's random part). Worst
cases are assumed where the key depends on more than the domain: all of a
domain's mail of one type (``ByDomainType``, ``ByDomainStatus``), all the
platform's mail of one type (``ByScope``, ``ByScopeStatus``), all of a
domain's mail in one bulk send at a time (``ByBulk``, the bulk's item).

Three kinds of key bound something other than the platform's or a domain's
rate, and are reported apart: ``ByRecipient`` (one address's emails), a bulk
send's own keys (its ``ByBulk`` shards, its item and body: how fast one bulk
may drain, which the bulk queue's concurrency and the account's SES rate keep
far lower, docs/storage.md section 11), and a job's own items (a handful of
writes in its life, never a rate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.ledger import TABLE, Ledger
from benchmarks.page import SummaryRow, table
from common.adapters import index_keys as keys
from common.models.job import JobStatus, JobType

WRITE_LIMIT = 1_000.0  # write units a second per partition key value
READ_LIMIT = 3_000.0  # read units a second per partition key value
DOMAINS = 1_000
ZIPF_EXPONENT = 1.0
_TYPE = JobType.MANUAL  # the one type assumed for the worst cases
_STATUS = JobStatus.FAILED  # the exact status indexes' worst case: every send of a domain failing
_BULK = "bulk"  # a domain's one bulk send at a time (its key's name only)
PER_ADDRESS = "ByRecipient"
PER_BULK = frozenset({"ByBulk", TABLE})
# Issue #9's goals
GOAL_PLATFORM = 10_000.0  # emails/s, 1,000 Zipf domains
GOAL_ONE_DOMAIN = 500.0  # emails/s, one domain alone


def zipf_domains(n: int = DOMAINS, exponent: float = ZIPF_EXPONENT) -> list[tuple[str, float]]:
    """``n`` domains ``d0.example`` … with Zipf shares of the platform's emails (summing to 1)."""
    weights = [1 / (i + 1) ** exponent for i in range(n)]
    total = sum(weights)
    return [(f"d{i}.example", w / total) for i, w in enumerate(weights)]


def _spread(builder: Callable[[int], str], shards: int) -> list[tuple[str, float]]:
    return [(builder(s), 1 / shards) for s in range(shards)]


def key_shares(index: str, domain: str) -> list[tuple[str, float]]:
    """The partition key values a domain's emails put ``index``'s writes on, with each one's share."""
    if index == "ByDomain":
        return _spread(lambda s: keys.dk(domain, s), keys.DOMAIN_SHARDS)
    if index == "ByDomainType":
        return _spread(lambda s: keys.dtk(domain, _TYPE, s), keys.DOMAIN_SHARDS)
    if index == "ByScope":
        return _spread(lambda s: keys.tk(_TYPE, s), keys.SCOPE_SHARDS)
    if index == "InFlight":
        return _spread(lambda s: keys.fk(keys.inflight_shard(domain, s)), keys.DOMAIN_INFLIGHT_SHARDS)
    if index == "ByBulk":
        return _spread(lambda s: keys.bk(f"{_BULK}-{domain}", s), keys.BULK_SHARDS)
    if index == "ByDomainStatus":
        return [(keys.esk(domain, _STATUS, _TYPE), 1.0)]
    if index == "ByScopeStatus":
        return _spread(lambda s: keys.esa(_STATUS, _TYPE, s), keys.STATUS_SCOPE_SHARDS)
    if index == TABLE:  # the items a domain's emails share: its bulk send's item and body
        return [(f"k#{_BULK}-{domain}", 1.0)]
    raise KeyError(index)


@dataclass(frozen=True)
class ClassLoad:
    """Write units per email on one key class, the worst of the cases, and which case."""

    index: str
    units: float
    case: str


def class_loads(cases: Sequence[tuple[str, Ledger, int]]) -> list[ClassLoad]:
    """Per key class, the largest units per email over ``(case name, ledger, emails)``.
    For the table, only what several emails share (an item written by more than
    one job's writes: a bulk send's item and body), per email of the case."""
    best: dict[str, ClassLoad] = {}
    for name, ledger, emails in cases:
        per_class: dict[str, float] = defaultdict(float)
        table_keys: dict[str, float] = defaultdict(float)
        for (index, _), n in ledger.by_key().items():
            if index != TABLE:
                per_class[index] += n / emails
        for w in ledger.writes:
            if w.item_kind in ("bulk", "body"):
                for k in w.keys:
                    if k.index == TABLE:
                        table_keys[k.key] += k.units
        if table_keys and emails > 1:
            per_class[TABLE] = max(table_keys.values()) / emails
        for index, units_ in per_class.items():
            if index not in best or units_ > best[index].units:
                best[index] = ClassLoad(index, units_, name)
    return sorted(best.values(), key=lambda c: c.index)


@dataclass(frozen=True)
class Capacity:
    emails_per_second: float
    hottest: list[tuple[str, str, float]]  # (index, key, units per email of the whole load)


def capacity(loads: Sequence[ClassLoad], domains: Sequence[tuple[str, float]]) -> Capacity:
    """The rate at which the hottest key reaches ``WRITE_LIMIT``, for ``domains``' shares."""
    per_key: dict[tuple[str, str], float] = defaultdict(float)
    for load in loads:
        if load.units <= 0:
            continue
        for domain, share in domains:
            for key, part in key_shares(load.index, domain):
                per_key[(load.index, key)] += share * load.units * part
    ranked = sorted(per_key.items(), key=lambda kv: -kv[1])
    top = ranked[0][1] if ranked else 0.0
    return Capacity(
        emails_per_second=WRITE_LIMIT / top if top else float("inf"),
        hottest=[(index, key, n) for (index, key), n in ranked[:3]],
    )


def per_address_limit(loads: Sequence[ClassLoad]) -> float:
    load = next((c for c in loads if c.index == PER_ADDRESS), None)
    return WRITE_LIMIT / load.units if load and load.units else float("inf")


def polls_per_second(read_units_per_poll: float, shards: int = keys.BULK_SHARDS) -> float:
    """``GET /bulks`` polls of one bulk a second before a ``ByBulk`` shard passes ``READ_LIMIT``."""
    per_shard = read_units_per_poll / shards
    return READ_LIMIT / per_shard if per_shard else float("inf")


@dataclass(frozen=True)
class CapacityModel:
    loads: list[ClassLoad]
    platform: Capacity
    one_domain: Capacity
    per_address: float
    per_bulk: Capacity  # one bulk send's own keys: how fast it may drain
    poll_read_units: float | None
    polls_per_second: float | None


def model(cases: Sequence[tuple[str, Ledger, int]], *, poll_read_units: float | None = None) -> CapacityModel:
    loads = class_loads(cases)
    rated = [c for c in loads if c.index != PER_ADDRESS and c.index not in PER_BULK]
    return CapacityModel(
        loads=loads,
        platform=capacity(rated, zipf_domains()),
        one_domain=capacity(rated, [("acme.com", 1.0)]),
        per_address=per_address_limit(loads),
        per_bulk=capacity([c for c in loads if c.index in PER_BULK], [("acme.com", 1.0)]),
        poll_read_units=poll_read_units,
        polls_per_second=polls_per_second(poll_read_units) if poll_read_units else None,
    )


def printed_lines(worst_wru: float, m: CapacityModel) -> list[str]:
    """The three lines ``make bench`` prints (issue #9's exact wording)."""
    worst = f"{worst_wru:.0f}" if float(worst_wru).is_integer() else f"{worst_wru:.2f}"
    return [
        f"write units per email, worst case: {worst}",
        f"sustainable emails/s, all domains: {m.platform.emails_per_second:.0f}",
        f"sustainable emails/s, one domain: {m.one_domain.emails_per_second:.0f}",
    ]


# ---------------------------------------------------------------- its part of the page
def summary_rows(m: CapacityModel) -> list[SummaryRow]:
    return [
        SummaryRow(
            "7. Capacity",
            "sustainable emails/s, 1,000 domains (Zipf 1)",
            f"{m.platform.emails_per_second:,.0f}",
            f"goal ≥ {GOAL_PLATFORM:,.0f}",
            m.platform.emails_per_second / GOAL_PLATFORM,
        ),
        SummaryRow(
            "7. Capacity",
            "sustainable emails/s, one domain alone",
            f"{m.one_domain.emails_per_second:,.0f}",
            f"goal ≥ {GOAL_ONE_DOMAIN:,.0f}",
            m.one_domain.emails_per_second / GOAL_ONE_DOMAIN,
        ),
    ]


def notes(m: CapacityModel) -> list[str]:
    """Figure 7's note of "Far from the minimum, and why": only when a goal is missed."""
    if m.platform.emails_per_second < GOAL_PLATFORM or m.one_domain.emails_per_second < GOAL_ONE_DOMAIN:
        index, key, _ = m.platform.hottest[0]
        return [
            f"- **Capacity**: {m.platform.emails_per_second:,.0f} emails/s for 1,000 domains (goal"
            f" {GOAL_PLATFORM:,.0f}), {m.one_domain.emails_per_second:,.0f} for one (goal {GOAL_ONE_DOMAIN:,.0f});"
            f" the hottest key is {index} `{key}` (figure 7)."
        ]
    return []


def section(m: CapacityModel, *, worst_wru: float) -> str:
    """``worst_wru``: figure 6's worst write units per email, for the printed lines."""
    load_rows = [[c.index, f"{c.units:.3f}", c.case] for c in m.loads]
    hot = [
        [label, index, key, f"{units:.4f}", f"{WRITE_LIMIT / units:,.0f}" if units else "—"]
        for label, cap in (("1,000 domains", m.platform), ("one domain", m.one_domain), ("one bulk send", m.per_bulk))
        for index, key, units in cap.hottest
    ]
    poll = (
        f"One `GET /bulks/{{bulk_id}}` poll of the bulk send of figure 6 (all its jobs delivered) read "
        f"{m.poll_read_units:.1f} read units over its {4} `ByBulk` shards: one bulk may be polled "
        f"{m.polls_per_second:,.0f} times a second before a shard passes {READ_LIMIT:,.0f} read units a second "
        f"(1,000 open pages polling every 3 s make {1000 / 3:,.0f})."
        if m.poll_read_units and m.polls_per_second
        else "No `GET /bulks` poll was measured."
    )
    return "\n".join(
        [
            "## 7. Capacity: the hottest partition keys",
            "",
            "From figure 6's replayed writes, the write units each key class takes per email (the largest of",
            "the three cases; for the table, only the items several emails share: a bulk send's item and",
            "body). Then docs/storage.md section 11's model: 1,000 domains `d0.example` … `d999.example` with",
            "Zipf volume (exponent 1: the largest sends 13.4% of all mail), or one domain alone, mapped onto",
            "partition key values with the service's key functions (`common.adapters.index_keys`);",
            "a domain's emails spread evenly over its shards. Worst cases where a key depends on more than",
            "the domain: all of a",
            "domain's mail of one type and in one bulk send at a time, all the platform's mail of one type,",
            "and the exact status indexes as if every email took their measured units (none on this happy",
            "path: an incident puts 1 to 3 units per email on a domain's `ByDomainStatus` key, throttled",
            "writes, never lost ones, docs/storage.md section 11). The rate is the one at which the hottest",
            f"key value reaches {WRITE_LIMIT:,.0f} write units a second. A bulk send's own keys (its `ByBulk`",
            "shards, its item and body) bound how fast that one bulk may drain, not the platform's or a",
            'domain\'s rate: they are shown apart ("one bulk send"), as is `ByRecipient` (one address).',
            "",
            table(["key class", "write units per email", "measured in"], load_rows),
            "",
            table(["model", "index", "hottest keys", "units per email", "emails/s at 1,000 WRU/s"], hot),
            "",
            f"`ByRecipient` is keyed by the address: {m.per_address:,.0f} emails a second to one address.",
            f"One bulk send may drain at {m.per_bulk.emails_per_second:,.0f} emails a second before one of its",
            "own keys passes the limit; the bulk queue drains far slower (`BulkMaximumConcurrency` workers, each",
            "paced to its share of `MaxSendRate`), so a domain sending several bulks at once is bound by the",
            "rates above. A job's own items are written a handful of times in its life, never at a rate.",
            "",
            poll,
            "",
            f"Goals: ≥ {GOAL_PLATFORM:,.0f} emails/s for the platform, ≥ {GOAL_ONE_DOMAIN:,.0f} for one domain:",
            f"{m.platform.emails_per_second:,.0f} and {m.one_domain.emails_per_second:,.0f}, "
            + (
                "**met**."
                if m.platform.emails_per_second >= GOAL_PLATFORM and m.one_domain.emails_per_second >= GOAL_ONE_DOMAIN
                else "**not met**."
            ),
            "",
            "```",
            *printed_lines(worst_wru, m),
            "```",
            "",
        ]
    )
