"""Figure 7: the highest sustained email rate before any partition key passes
DynamoDB's per-partition limit (1,000 write units a second; 3,000 read units),
and beside it the rate an account's default quotas allow (SES's sending rate,
DynamoDB's table-level write throughput), each with how to raise it, and what
one domain's retry storm may reach on its ``retrying`` index key.

From figure 6's replayed writes: the write units each key class (the table,
each index) takes per email, the largest of the three cases. Then the model
of docs/storage.md section 11: emails of 1,000 domains with Zipf-distributed
volume (exponent 1), or of one domain alone, mapped onto partition key values
with the service's own key functions (``common.adapters.index_keys``); a domain's emails
spread evenly over its shards (the shard is the job id's random part). Worst
cases are assumed where the key depends on more than the domain: all of a
domain's mail of one type (``ByDomainType``, ``ByDomainStatus``), all the
platform's mail of one type (``ByScope``, ``ByScopeStatus``; ``ByPlatform``
holds all of it), all of a
domain's mail in one bulk send at a time (``ByBulk``, the bulk's item).

Three kinds of key bound something other than the platform's or a domain's
rate, and are reported apart: ``ByRecipient`` (one address's emails), a bulk
send's own keys (its ``ByBulk`` shards, its item and body: how fast one bulk
may drain, which the bulk queue's concurrency and the account's SES rate keep
far lower, docs/storage.md section 11), and a job's own items (a handful of
writes in its life, never a rate).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.cost import table_indexes
from benchmarks.ledger import TABLE, Ledger, index_keys
from benchmarks.page import SummaryRow, table
from common.adapters import index_keys as keys
from common.models.job import JobStatus, JobType, queue_for

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
# An account's default quotas. DynamoDB, on-demand: 40,000 write request units a second
# per table (the quotas page's "Per table" row; the on-demand maximum throughput page: each
# table and each of its global secondary indexes is bounded by it).
TABLE_QUOTA_WRU = 40_000.0
DYNAMODB_QUOTAS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
# SES: a sending rate per account and Region. A sandboxed account has 1 email a second; out of
# the sandbox SES sets it by use case (its quotas page publishes no fixed figure): 14 a second is
# a common starting rate. The workers read the account's own with GetAccount and pace to it.
SES_DEFAULT_RATE = 14.0
SES_SANDBOX_RATE = 1.0
SES_QUOTAS = "https://docs.aws.amazon.com/ses/latest/dg/quotas.html"
RETRY_SAMPLE = 4_000  # job ids of one domain's retry storm spread over the keys (seeded)


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
    if index == "ByPlatform":  # every domain's jobs on the same shards
        return _spread(keys.ak, keys.PLATFORM_SHARDS)
    if index == "InFlight":
        return _spread(lambda s: keys.fk(keys.inflight_shard(domain, s)), keys.DOMAIN_INFLIGHT_SHARDS)
    if index == "ByBulk":
        return _spread(lambda s: keys.bk(f"{_BULK}-{domain}", s), keys.BULK_SHARDS)
    if index == "Due":  # the platform's keys: the 32 shards of the queue, shared by every domain
        return _spread(lambda s: keys.wk(queue_for(_TYPE), s), keys.DUE_SHARDS)
    if index == "ByDomainStatus":
        shards = keys.domain_status_keys(domain, _STATUS, _TYPE)
        return [(key, 1 / len(shards)) for key in shards]
    if index == "ByScopeStatus":
        return _spread(lambda s: keys.esa(_STATUS, _TYPE, s), keys.STATUS_SCOPE_SHARDS)
    if index == "ByDomainRecord":  # a domain's bulk items and audit entries (GET /bulks, GET /audit)
        return [(f"k#{domain}", 1.0)]
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


def object_loads(cases: Sequence[tuple[str, Ledger, int]]) -> list[ClassLoad]:
    """Write units per email on the table (every item) and on each index, the largest of the
    cases: what DynamoDB's table-level quota counts, the table and each index apiece."""
    best: dict[str, ClassLoad] = {}
    for name, ledger, emails in cases:
        per: dict[str, float] = defaultdict(float)
        for w in ledger.writes:
            per[TABLE] += w.table_units / emails
            for index, n in w.index_units.items():
                per[index] += n / emails
        for where, n in per.items():
            if n > 0 and (where not in best or n > best[where].units):
                best[where] = ClassLoad(where, n, name)
    return sorted(best.values(), key=lambda c: (-c.units, c.index))


@dataclass(frozen=True)
class RetryStorm:
    """One domain's jobs retrying as fast as DynamoDB lets them: the write units one
    attempt (``sending → retrying → sending``) puts on the hottest key, from the
    service's key functions (``common.adapters.index_keys``) and the template's indexes."""

    index: str
    key: str
    units_per_attempt: float

    @property
    def attempts_per_second(self) -> float:
        return WRITE_LIMIT / self.units_per_attempt if self.units_per_attempt else float("inf")


def retry_storm(domain: str = "acme.com", job_type: JobType = _TYPE, sample: int = RETRY_SAMPLE) -> RetryStorm:
    """Every attempt of ``sample`` jobs of one domain and type (seeded ids) goes to
    ``retrying`` and back: the key with most units per attempt (a job's own item aside)."""
    rng = random.Random(20261206)
    table_keys, indexes = table_indexes()
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    per_key: dict[tuple[str, str], float] = defaultdict(float)
    for i in range(sample):
        job_id = "01JGQ7" + "".join(rng.choice(crockford) for _ in range(20))
        job = keys.KeyedJob(job_id, domain, job_type, f"r{i}@example.org", JobStatus.SENDING)

        def item(status: JobStatus, j: keys.KeyedJob = job) -> dict[str, dict[str, str]]:
            values = keys.index_attributes(j._replace(status=status))
            return {"pk": {"S": j.job_id}, "job_id": {"S": j.job_id}, **{k: {"S": v} for k, v in values.items()}}

        sending, retrying = item(JobStatus.SENDING), item(JobStatus.RETRYING)
        for before, after in ((sending, retrying), (retrying, sending)):
            for index in indexes:
                for entry in index_keys(index, before, after, table_keys):
                    per_key[(entry.index, entry.key)] += entry.units
    if not per_key:
        return RetryStorm("none", "", 0.0)
    (hottest, key), units = max(per_key.items(), key=lambda kv: kv[1])
    return RetryStorm(hottest, key, units / sample)


@dataclass(frozen=True)
class Ceiling:
    """A rate limit of the platform's sending, what sets it and how to raise it."""

    what: str
    emails_per_second: float
    basis: str
    raise_it: str


@dataclass(frozen=True)
class CapacityModel:
    loads: list[ClassLoad]
    platform: Capacity
    one_domain: Capacity
    per_address: float
    per_bulk: Capacity  # one bulk send's own keys: how fast it may drain
    poll_read_units: float | None
    polls_per_second: float | None
    objects: list[ClassLoad]  # write units per email on the table and each index
    retry: RetryStorm
    ses_rate: float = SES_DEFAULT_RATE

    @property
    def quota_ceilings(self) -> list[Ceiling]:
        """The rates an account's default quotas allow, lowest first."""
        found = [
            Ceiling(
                "SES's sending rate",
                self.ses_rate,
                f"{self.ses_rate:g} emails a second, a common starting rate"
                f" out of the sandbox ({SES_SANDBOX_RATE:g} a second in it; SES sets it per account by use case,"
                f" {SES_QUOTAS})",
                "ask SES for a higher sending quota (the SES console's account dashboard, or Service Quotas);"
                " the workers read the new rate with `GetAccount` within 10 minutes, nothing to redeploy",
            )
        ]
        if self.objects:
            top = self.objects[0]
            found.append(
                Ceiling(
                    "DynamoDB's table-level write throughput",
                    TABLE_QUOTA_WRU / top.units,
                    f"{TABLE_QUOTA_WRU:,.0f} write units a second per table or index, on-demand ({DYNAMODB_QUOTAS});"
                    f" the busiest is {'the table' if top.index == TABLE else top.index}, {top.units:.2f} units per"
                    f" email ({top.case})",
                    "request a higher table-level write throughput quota (Service Quotas, DynamoDB)",
                )
            )
        found.append(
            Ceiling(
                "the hottest partition key, all domains",
                self.platform.emails_per_second,
                f"{WRITE_LIMIT:,.0f} write units a second per partition key value (above)",
                "more shards on the hottest index (`common.adapters.index_keys`)",
            )
        )
        return sorted(found, key=lambda c: c.emails_per_second)

    @property
    def at_default_quotas(self) -> float:
        return self.quota_ceilings[0].emails_per_second


def model(
    cases: Sequence[tuple[str, Ledger, int]],
    *,
    poll_read_units: float | None = None,
    ses_rate: float = SES_DEFAULT_RATE,
) -> CapacityModel:
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
        objects=object_loads(cases),
        retry=retry_storm(),
        ses_rate=ses_rate,
    )


def printed_lines(worst_wru: float, m: CapacityModel) -> list[str]:
    """The lines ``make bench`` prints for figures 6 and 7 (issues #9 and #28's exact wording)."""
    worst = f"{worst_wru:.0f}" if float(worst_wru).is_integer() else f"{worst_wru:.2f}"
    return [
        f"write units per email, worst case: {worst}",
        f"sustainable emails/s, all domains: {m.platform.emails_per_second:.0f}",
        f"sustainable emails/s, one domain: {m.one_domain.emails_per_second:.0f}",
        f"emails/s at default account quotas: {m.at_default_quotas:.0f}",
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
        SummaryRow(
            "7. Capacity",
            "emails/s at an account's default quotas",
            f"{m.at_default_quotas:,.0f}",
            f"set by {m.quota_ceilings[0].what}",
            None,
        ),
        SummaryRow(
            "7. Capacity",
            "retry attempts/s, one domain's retry storm",
            f"{m.retry.attempts_per_second:,.0f}",
            f"{m.retry.index} `{m.retry.key}`",
            None,
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


def _retry_text(r: RetryStorm) -> str:
    if not r.units_per_attempt:
        return "A retry attempt writes no index key a domain's attempts share."
    return (
        f"A retry storm: every attempt of one domain's jobs of one type going to `retrying` and back (throttling,"
        f" SES's 5xx) writes {r.units_per_attempt:.2f} units per attempt on its hottest key, {r.index} `{r.key}`"
        f" (the service's key functions, {RETRY_SAMPLE:,} seeded job ids): at most"
        f" {r.attempts_per_second:,.0f} attempts a second for that domain before the key is throttled (throttled"
        " writes are retried, never lost; more shards on that key raise it)."
    )


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
            (
                f"`ByRecipient` is keyed by the address: {m.per_address:,.0f} emails a second to one address."
                if m.per_address != float("inf")
                else "No write of `ByRecipient` was measured."
            ),
            f"One bulk send may drain at {m.per_bulk.emails_per_second:,.0f} emails a second before one of its",
            "own keys passes the limit; the bulk queue drains at most at SES's sending rate (figure 10), so a",
            "domain sending several bulks at once is bound by the rates above. A job's own items are written a",
            "handful of times in its life, never at a rate.",
            "",
            poll,
            "",
            _retry_text(m.retry),
            "",
            "### Beside them, an account's default quotas",
            "",
            "The hot-key rates above are what the table's keys allow. An account at its default quotas is bound",
            "lower: by SES's sending rate, and by DynamoDB's table-level write throughput (the write units per",
            "email on the table and on each index, from figure 6's replay, the largest of the three cases):",
            "",
            table(
                ["write units per email on", "units", "measured in"],
                [["the table" if o.index == TABLE else o.index, f"{o.units:.3f}", o.case] for o in m.objects],
            ),
            "",
            table(
                ["ceiling", "emails/s", "what sets it", "how to raise it"],
                [[c.what, f"{c.emails_per_second:,.0f}", c.basis, c.raise_it] for c in m.quota_ceilings],
            ),
            "",
            f"At default quotas the platform sends at most {m.at_default_quotas:,.0f} emails a second, set by"
            f" {m.quota_ceilings[0].what}.",
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
