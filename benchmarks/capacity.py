"""Figure 7: the highest sustained email rate before any partition key passes
DynamoDB's per-partition limit (1,000 write units a second; 3,000 read units).

From figure 6's replayed writes: the write units each key class (the table,
each index) takes per email, the largest of the three cases. Then the model
of docs/storage.md section 11: emails of 1,000 domains with Zipf-distributed
volume (exponent 1), or of one domain alone, mapped onto partition key values
with the service's own key functions (``common.logic.keys``); a domain's emails
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
