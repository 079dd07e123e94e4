"""The index keys of a job (docs/storage.md, sections 4 and 5): pure functions, no AWS.

They say how a job is stored, so they sit with the adapters that write it
(``common.adapters.job_store`` and the other adapters of the jobs table); the
logic above them plans its Queries with the same functions
(docs/adr/0046-key-formats-and-clock-below-the-logic.md).

Shards come from the job id's random part, so they are uniform and fixed for
the job's life; ``domain_hash`` is stable across processes (never Python's
``hash``). Which attributes a job carries is a function of its identity and
its status only (``index_attributes``), and what a status change writes is
the difference of two such sets (``transition``), so every write path moves
the indexes the same way.

Shard counts are fixed here: changing one re-keys existing index entries (a
backfill once data is deployed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from common.models.job import JobStatus, JobType, QueueName, queue_for

DOMAIN_SHARDS = 4  # ByDomain, ByDomainType
SCOPE_SHARDS = 12  # ByScope, per type
PLATFORM_SHARDS = 12  # ByPlatform
INFLIGHT_SHARDS = 64  # InFlight, for the whole platform
DOMAIN_INFLIGHT_SHARDS = 8  # of those, the ones one domain's jobs use
BULK_SHARDS = 4  # ByBulk
STATUS_SCOPE_SHARDS = 3  # ByScopeStatus, per status and type
# ByDomainStatus, per domain, status and type: one partition, but three for
# ``retrying``, which a job enters and leaves at every attempt of a retry storm
# (2 write units an attempt: three keys take 1,500 attempts a second).
DOMAIN_RETRY_SHARDS = 3
# ``scheduled``: a bulk send of 1,000 enters it in about 0.4 s and the
# scheduler takes it out as fast (2 write units a job on each of those
# indexes' keys): 4 keys per domain and type (``ByDomainStatus``) and per type
# (``ByScopeStatus``) keep each under 1,000 WRU a second, as ``dk`` does.
SCHEDULED_SHARDS = 4
DUE_SHARDS = 32  # Due, per queue

# Index name -> (partition key attribute, sort key attribute), as template.yaml has them.
INDEXES: dict[str, tuple[str, str]] = {
    "ByDomain": ("dk", "pk"),
    "ByDomainType": ("dtk", "pk"),
    "ByScope": ("tk", "pk"),
    "ByPlatform": ("ak", "pk"),
    "ByRecipient": ("rk", "rs"),
    "ByRecipientStatus": ("rek", "rs"),
    "InFlight": ("fk", "fs"),
    "ByBulk": ("bk", "pk"),
    "ByDomainStatus": ("esk", "pk"),
    "ByScopeStatus": ("esa", "pk"),
    "Due": ("wk", "sweep_at"),
}
# The indexes whose entries carry a log row's every field (``LISTED``): a page
# reads its rows from them without fetching the jobs. Each is sparse or
# changes with the status anyway, so projecting the row costs no extra write
# on a happy job's path (docs/storage.md, section 5).
PROJECTED = frozenset({"ByBulk", "ByDomainStatus", "ByScopeStatus", "ByRecipientStatus"})
# A row of the log: what those indexes project (``common.models.api.JobSummary``).
LISTED = (
    "job_id",
    "created_at",
    "domain",
    "type",
    "recipient",
    "subject",
    "status",
    "attempts",
    "sent_at",
    "error",
    "bulk_id",
    "send_at",
)
# The attributes that depend on the status: everything a status change may write.
STATUS_ATTRIBUTES = ("status", "fk", "fs", "esk", "esa", "rek", "wk")
# The time in Due's sort key: set when a job is created (its due_at) and moved
# by the sweeper only, never by a status change; removed with ``wk``.
SWEEP_AT = "sweep_at"
# Every sort key that is not the job id itself ends with it: ``<group>#<job_id>``.
JOB_ID_CHARS = 26

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUE = {c: i for i, c in enumerate(_CROCKFORD)}
ULID_MAX_MS = 2**48 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RANDOM_CHARS = 16  # 80 random bits after 10 characters of time


# ------------------------------------------------------------------ shards
def job_random(job_id: str) -> int:
    """``r(job)``: the last 5 characters of the ULID (25 random bits) as an integer."""
    value = 0
    for char in job_id[-5:]:
        value = value * 32 + _CROCKFORD_VALUE[char]
    return value


def shard(job_id: str, n: int) -> int:
    return job_random(job_id) % n


def domain_hash(domain: str) -> int:
    """``H(domain)``: the first 8 bytes of SHA-256 of the domain."""
    return int.from_bytes(hashlib.sha256(domain.encode()).digest()[:8], "big")


# ------------------------------------------------------------------ key builders
def dk(domain: str, shard_no: int) -> str:
    """``ByDomain``: a domain's jobs of no bulk send (a bulk send's are in
    ``ByDomainType`` under ``<domain>#bulk#<shard>``)."""
    return f"{domain}#{shard_no}"


BULK_GROUP = "bulk"  # ByDomainType's group of a domain's bulk sends' jobs (never a type's name)


def dtk(domain: str, job_type: JobType, shard_no: int, *, bulk: bool = False) -> str:
    """``ByDomainType``: a domain's jobs of one type, those of its bulk sends
    (all ``manual``) apart: ``<domain>#bulk#<shard>``, so that ``ByDomain``
    and those partitions hold a domain's every job exactly once."""
    return f"{domain}#{BULK_GROUP if bulk else job_type.value}#{shard_no}"


def tk(job_type: JobType, shard_no: int) -> str:
    return f"{job_type.value}#{shard_no}"


def ak(shard_no: int) -> str:
    """``ByPlatform``: every job of the platform, in one of 12 shards."""
    return f"all#{shard_no}"


def rk(recipient: str) -> str:
    """The recipient as stored (already normalised), lower-cased whole."""
    return recipient.lower()


def rs_group(domain: str, job_type: JobType) -> str:
    """The part of ``rs`` before the job id: one domain's jobs of one type."""
    return f"{domain}#{job_type.value}#"


def rs(domain: str, job_type: JobType, job_id: str) -> str:
    """``ByRecipient``'s and ``ByRecipientStatus``'s sort key: a recipient's jobs of one
    domain and type are one range, newest first by job id."""
    return rs_group(domain, job_type) + job_id


def rek(recipient: str, status: JobStatus) -> str:
    """``ByRecipientStatus``: a recipient's jobs in one status of the exceptional set."""
    return f"{rk(recipient)}#{status.value}"


def inflight_shard(domain: str, domain_shard: int) -> int:
    """One of the 64 ``InFlight`` shards: a domain uses 8 of them."""
    return (domain_hash(domain) + domain_shard) % INFLIGHT_SHARDS


def fk(shard_no: int) -> str:
    return f"f#{shard_no}"


def fs(domain: str, job_id: str) -> str:
    return f"{domain}#{job_id}"


def domain_inflight_keys(domain: str) -> list[str]:
    """The ``fk`` values a domain's jobs may carry (its 8 shards, distinct)."""
    return sorted({fk(inflight_shard(domain, n)) for n in range(DOMAIN_INFLIGHT_SHARDS)})


def all_inflight_keys() -> list[str]:
    return [fk(n) for n in range(INFLIGHT_SHARDS)]


def wk(queue: QueueName, shard_no: int) -> str:
    """``Due``'s partition key: one of a queue's 32 shards (``p#<n>``, ``b#<n>``)."""
    return f"{queue.value[0]}#{shard_no}"


def due_keys(queue: QueueName) -> list[str]:
    """Every ``wk`` value of a queue's part of ``Due``."""
    return [wk(queue, n) for n in range(DUE_SHARDS)]


def bulk_wk(bulk_id: str) -> str:
    """A bulk item's ``wk`` (its jobs are the bulk queue's)."""
    return wk(QueueName.BULK, shard(bulk_id, DUE_SHARDS))


SCHEDULED_PREFIX = "s"  # Due's partitions of what waits for its send_at: ``sp#<n>``, ``sb#<n>``


def scheduled_wk(queue: QueueName, shard_no: int) -> str:
    """``Due``'s partition key of a scheduled job (or a scheduled bulk's item):
    one of a queue's 32 shards of what waits for its ``send_at``, apart from
    the sweeper's (``sp#<n>``, ``sb#<n>``): the scheduler reads these only."""
    return SCHEDULED_PREFIX + wk(queue, shard_no)


def scheduled_due_keys(queue: QueueName) -> list[str]:
    """Every ``wk`` value of a queue's scheduled part of ``Due``."""
    return [scheduled_wk(queue, n) for n in range(DUE_SHARDS)]


def scheduled_bulk_wk(bulk_id: str) -> str:
    """A scheduled bulk's item's ``wk`` until its send_at."""
    return scheduled_wk(QueueName.BULK, shard(bulk_id, DUE_SHARDS))


def bk(bulk_id: str, shard_no: int) -> str:
    return f"{bulk_id}#{shard_no}"


def esk_shards(status: JobStatus) -> int:
    """How many ``ByDomainStatus`` partitions a domain's jobs of one status and type use."""
    if status is JobStatus.SCHEDULED:
        return SCHEDULED_SHARDS
    return DOMAIN_RETRY_SHARDS if status is JobStatus.RETRYING else 1


def esa_shards(status: JobStatus) -> int:
    """How many ``ByScopeStatus`` partitions the platform's jobs of one status and type use."""
    return SCHEDULED_SHARDS if status is JobStatus.SCHEDULED else STATUS_SCOPE_SHARDS


def esk(domain: str, status: JobStatus, job_type: JobType, shard_no: int = 0) -> str:
    return f"{domain}#{status.value}#{job_type.value}#{shard_no}"


def domain_status_keys(domain: str, status: JobStatus, job_type: JobType) -> list[str]:
    """The ``esk`` values of a domain's jobs of one status and type."""
    return [esk(domain, status, job_type, n) for n in range(esk_shards(status))]


def esa(status: JobStatus, job_type: JobType, shard_no: int) -> str:
    return f"{status.value}#{job_type.value}#{shard_no}"


# ------------------------------------------------------------------ a job's keys
class KeyedJob(NamedTuple):
    """What a job's index keys depend on. ``parked``: a ``sent`` job the sweeper
    moved out of ``InFlight`` into the exact status indexes (no event came)."""

    job_id: str
    domain: str
    type: JobType
    recipient: str
    status: JobStatus
    bulk_id: str | None = None
    parked: bool = False
    test_send: bool = False  # a test send: the priority queue's, though manual

    @classmethod
    def of(cls, job: Any, *, parked: bool = False) -> KeyedJob:
        """From anything with those attributes (``common.models.job.Job``)."""
        return cls(
            job_id=job.job_id,
            domain=job.domain,
            type=JobType(job.type),
            recipient=job.recipient,
            status=JobStatus(job.status),
            bulk_id=job.bulk_id,
            parked=parked,
            test_send=bool(getattr(job, "test_send", False)),
        )

    @classmethod
    def from_item(cls, values: Mapping[str, Any]) -> KeyedJob:
        """From a deserialized job item (parked when it is ``sent`` with an ``esk``)."""
        status = JobStatus(values["status"])
        return cls(
            job_id=str(values["pk"]),
            domain=str(values["domain"]),
            type=JobType(values["type"]),
            recipient=str(values["recipient"]),
            status=status,
            bulk_id=values.get("bulk_id"),
            parked=status is JobStatus.SENT and "esk" in values,
            test_send=bool(values.get("test_send")),
        )


def _in_exact_indexes(job: KeyedJob) -> bool:
    return job.status.exceptional or (job.parked and job.status is JobStatus.SENT)


def _in_flight(job: KeyedJob) -> bool:
    return job.status.in_flight and not (job.parked and job.status is JobStatus.SENT)


def _due_entry(job: KeyedJob) -> bool:
    """In ``Due`` on its own: in flight (or scheduled) and of no bulk send (a
    bulk's jobs are looked at through their bulk's item, which is in ``Due``
    instead)."""
    return (_in_flight(job) or job.status is JobStatus.SCHEDULED) and job.bulk_id is None


def index_attributes(job: KeyedJob) -> dict[str, str]:
    """Every index key a job in its status carries (and ``status``)."""
    r = job_random(job.job_id)
    values = {
        "status": job.status.value,
        "dtk": dtk(job.domain, job.type, r % DOMAIN_SHARDS, bulk=job.bulk_id is not None),
        "tk": tk(job.type, r % SCOPE_SHARDS),
        "ak": ak(r % PLATFORM_SHARDS),
        "rk": rk(job.recipient),
        "rs": rs(job.domain, job.type, job.job_id),
    }
    if job.bulk_id is None:
        values["dk"] = dk(job.domain, r % DOMAIN_SHARDS)
    if _in_flight(job):
        values["fk"] = fk(inflight_shard(job.domain, r % DOMAIN_INFLIGHT_SHARDS))
        values["fs"] = fs(job.domain, job.job_id)
    if _due_entry(job):
        queue = queue_for(job.type, test=job.test_send)
        scheduled = job.status is JobStatus.SCHEDULED
        values["wk"] = (scheduled_wk if scheduled else wk)(queue, r % DUE_SHARDS)
    if job.bulk_id is not None:
        values["bk"] = bk(job.bulk_id, r % BULK_SHARDS)
    if _in_exact_indexes(job):
        values["esk"] = esk(job.domain, job.status, job.type, r % esk_shards(job.status))
        values["esa"] = esa(job.status, job.type, r % esa_shards(job.status))
        values["rek"] = rek(job.recipient, job.status)
    return values


class Transition(NamedTuple):
    """What an ``UpdateItem`` sets and removes for a status change: exactly the
    attributes that change."""

    set: dict[str, str]
    remove: frozenset[str]


def transition(job: KeyedJob, new_status: JobStatus, *, parked: bool = False) -> Transition:
    """From ``job`` (in its current status) to ``new_status`` (``parked``: the
    sweeper's parking of a ``sent`` job)."""
    return transition_from(job, [job], new_status, parked=parked)


def transition_from(
    job: KeyedJob, olds: Iterable[KeyedJob], new_status: JobStatus, *, parked: bool = False
) -> Transition:
    """One update valid from any of ``olds`` (the states a condition allows): sets
    what differs from at least one of them, removes what any of them has that
    the new state has not (removing an absent attribute is a no-op)."""
    after = index_attributes(job._replace(status=new_status, parked=parked))
    befores = [index_attributes(old) for old in olds]
    sets = {k: v for k, v in after.items() if any(before.get(k) != v for before in befores)}
    removes = {k for before in befores for k in before if k not in after}
    if "wk" in removes:  # out of Due: its sort key goes too
        removes.add(SWEEP_AT)
    return Transition(sets, frozenset(removes))


# ------------------------------------------------------------------ created range
def _ceil_ms(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    whole, rest = divmod(delta, timedelta(milliseconds=1))
    return whole + (1 if rest else 0)


def _encode_time(ms: int) -> str:
    chars = []
    for _ in range(10):
        ms, digit = divmod(ms, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def ulid_time_ms(job_id: str) -> int:
    value = 0
    for char in job_id[:10]:
        value = value * 32 + _CROCKFORD_VALUE[char]
    return value


def ulid_bound_low(ms: int) -> str:
    """The smallest ULID of that millisecond."""
    return _encode_time(ms) + "0" * _RANDOM_CHARS


def ulid_bound_high(ms: int) -> str:
    """The largest ULID of that millisecond."""
    return _encode_time(ms) + "Z" * _RANDOM_CHARS


def ulid_bounds(created_after: datetime | None, created_before: datetime | None) -> tuple[str, str] | None:
    """The job ids with ``created_after ≤ created_at < created_before`` as an
    inclusive range ``(low, high)``, or ``None`` when it is empty. ``created_at``
    is the ULID's millisecond, so the bounds are ``ceil(after)`` and
    ``ceil(before) - 1``."""
    low_ms = 0 if created_after is None else _ceil_ms(created_after)
    high_ms = ULID_MAX_MS if created_before is None else _ceil_ms(created_before) - 1
    low_ms = max(low_ms, 0)
    high_ms = min(high_ms, ULID_MAX_MS)
    if low_ms > high_ms:
        return None
    return ulid_bound_low(low_ms), ulid_bound_high(high_ms)
