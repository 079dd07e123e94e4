"""GET /jobs, GET /jobs/{job_id} and GET /bulks/{bulk_id} (docs/storage.md, sections 8 and 9).

A query is planned into a **source** (``plan``): index partitions (or ranges of
one: a sort key prefix), each read newest first as keys only, merged by job
id, plus checks on the entries (what an index projects) and on the jobs. The
rules, first that applies wins: ``bulk_id`` without ``recipient`` →
``ByBulk`` (after the bulk item's domain is checked); ``recipient`` →
``ByRecipient``, or ``ByRecipientStatus`` for a status of the exceptional
set, one range ``<domain>#<type>#`` per domain and type (a ``*`` caller: the
partition's groups, found by a skip scan); a status of the exceptional set →
``ByDomainStatus`` / ``ByScopeStatus``; ``queued``, ``sending``, ``sent`` of a
caller's domains → their ``InFlight`` shards (``sent`` also reads the parked
``sent`` jobs of the exact indexes); ``type`` → ``ByDomainType`` /
``ByScope``; otherwise ``ByDomain`` / ``ByScope`` (a ``*`` caller's in-flight
status too, checked on the job). ``created_after``/``created_before`` are a
sort-key range on every partition. Every partition key is derived from the
caller's own domains or checked against them before any job is fetched.

The merge is lazy: each range is read in batches of ``⌈(limit+1)/n⌉``
entries, more only from a range whose batch ran out while it might hold the
next newest row (no more than the rows still wanted from an exact source;
twice the last batch from a filtered one). A page's reads are bounded
(``PAGE_ENTRY_BUDGET``, ``PAGE_QUERY_BUDGET``): a filtered page that reaches
the budget answers what it found with a cursor below the last entry read.
The newest entries passing the entry check are fetched with one eventually
consistent ``BatchGetItem`` (≤ 100 keys), checked again (a job may have moved
since the index was read: it is dropped and the page reads on), until
``limit + 1`` jobs match, every partition is exhausted or the budget is
spent: every page is full but the last (or one cut by the budget), and the
look-ahead row makes ``next_cursor`` null exactly on the last page.

Job ids are unique and every partition is merged by id, so after a page whose
last row is ``L`` every partition has returned exactly its rows newer than
``L``: one position serves them all. Cursor v2 = base64url JSON ``{"v": 2,
"f": <fingerprint of the plan and filters>, "l": L, "x": <bitmap of exhausted
partitions>}`` and an HMAC-SHA256 signature: one altered, forged, of version
1, or made for another caller's domains or other filters is refused (400
``invalid_cursor``).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from common.adapters import index_keys
from common.adapters.bodies import BodyStore
from common.adapters.bulks import Bulks
from common.adapters.job_indexes import JobIndexes
from common.adapters.job_store import JobStore
from common.logic.signing import SignedCursors
from common.models.api import BulkNotFound, Caller, JobSummary
from common.models.errors import InvalidCursor, JobNotFound
from common.models.job import JOB_ID_RE, Job, JobStatus, JobType
from common.models.listing import BulkProgress, JobDetail, JobsPage, ListJobsQuery

CURSOR_VERSION = 2


class _CursorBody(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    v: Literal[2] = 2  # CURSOR_VERSION
    f: str  # fingerprint of the plan and the filters
    l: str = Field(pattern=JOB_ID_RE.pattern)  # noqa: E741 - the last job id returned
    x: int = Field(default=0, ge=0)  # bitmap of exhausted partitions


class Position(NamedTuple):
    """Where the next page starts: strictly below job ``last``; ``exhausted``:
    the partitions (by position in the plan) known to hold nothing more."""

    last: str
    exhausted: int = 0


class CursorCodec:
    """Signs and checks page cursors with a secret key (HMAC-SHA256)."""

    def __init__(self, secret: str) -> None:
        self._cursors = SignedCursors(secret, _CursorBody)

    def encode(self, fingerprint: str, position: Position) -> str:
        return self._cursors.encode(_CursorBody(f=fingerprint, l=position.last, x=position.exhausted))

    def decode(self, cursor: str, *, fingerprint: str) -> Position:
        """The position a cursor holds, if this service made it for this very query."""
        body = self._cursors.decode(cursor)
        if body.f != fingerprint:
            raise InvalidCursor("the cursor belongs to another query: start again without it")
        return Position(body.l, body.x)


# ------------------------------------------------------------------ the plan
class Partition(NamedTuple):
    """One index partition, or one range of it. ``prefix``: what every sort key of
    the range starts with (``InFlight``: ``<domain>#``; ``ByRecipient``:
    ``<domain>#<type>#``); the job id follows it. ``grouped``: the partition's sort
    keys are ``<group><job_id>`` with groups not known in advance (a ``*`` caller's
    recipient search): each page finds them with one one-entry Query per group,
    keeping those ending with ``suffix``, and merges them as ranges."""

    index_name: str
    key: str
    prefix: str = ""
    grouped: bool = False
    suffix: str = ""


EntryCheck = Callable[[dict[str, Any]], bool]
JobCheck = Callable[[Job], bool]


def _always(_: Any) -> bool:
    return True


class Plan(NamedTuple):
    partitions: list[Partition]
    entry_check: EntryCheck = _always
    job_check: JobCheck = _always
    describe: tuple[str, ...] = ()  # what the fingerprint covers besides the partitions
    # Whether the partitions hold jobs that do not match (a filter checked on the
    # entries or the jobs): its reads then grow faster, within the page's budget.
    filtered: bool = False


_IN_FLIGHT_LISTED = (JobStatus.QUEUED, JobStatus.SENDING, JobStatus.SENT)


def _domains(query: ListJobsQuery, caller: Caller) -> list[str] | None:
    """The domains the query covers: ``None`` for every domain (a ``*`` caller)."""
    if query.domain is not None:
        caller.require(query.domain)
        return [query.domain]
    if caller.every_domain:
        return None
    return sorted(caller.domains)


def _exact_status(status: JobStatus | None) -> bool:
    """Statuses with partitions of their own (the sparse exact indexes)."""
    return status is not None and status.exceptional


def plan(query: ListJobsQuery, caller: Caller, *, bulks: Bulks) -> Plan:
    """The source serving ``query`` for ``caller`` (docs/storage.md, section 8)."""
    domains = _domains(query, caller)
    visible: Callable[[str], bool] = (lambda _d: True) if domains is None else set(domains).__contains__
    status, job_type = query.status, query.type

    def job_matches(job: Job) -> bool:
        return (
            visible(job.domain)
            and caller.may_see(job.domain)
            and (status is None or job.status is status)
            and (job_type is None or job.type is job_type)
            and (query.recipient is None or job.recipient.lower() == query.recipient.lower())
            and (query.bulk_id is None or job.bulk_id == query.bulk_id)
        )

    bulk_entry: EntryCheck = _always
    if query.bulk_id is not None:
        bulk = bulks.get_bulk(query.bulk_id)
        if bulk is None or not visible(bulk.domain) or not caller.may_see(bulk.domain):
            return Plan([], describe=("bulk",))
        if job_type is not None and job_type is not JobType.MANUAL:
            return Plan([], describe=("bulk",))
        # A bulk's jobs are one domain's and of type manual.
        domains, job_type = [bulk.domain], JobType.MANUAL
        bulk_id = query.bulk_id

        def bulk_entry(entry: dict[str, Any]) -> bool:
            return entry.get("bulk_id") == bulk_id

        if query.recipient is None:
            partitions = [Partition("ByBulk", index_keys.bk(bulk_id, n)) for n in range(index_keys.BULK_SHARDS)]

            def bulk_status(entry: dict[str, Any]) -> bool:
                return status is None or entry.get("status") == status.value

            return Plan(partitions, bulk_status, job_matches, ("bulk",), filtered=status is not None)

    types = [job_type] if job_type is not None else list(JobType)
    if query.recipient is not None:
        # ByRecipient, or ByRecipientStatus for a status of the exact set: one range
        # per domain and type (a * caller: the groups the partition holds).
        exact = _exact_status(status)
        index, key = (
            ("ByRecipientStatus", index_keys.rek(query.recipient, status))
            if exact and status is not None
            else ("ByRecipient", index_keys.rk(query.recipient))
        )
        if domains is None:
            suffix = f"#{job_type.value}#" if job_type is not None else ""
            partitions = [Partition(index, key, grouped=True, suffix=suffix)]
        else:
            partitions = [Partition(index, key, prefix=index_keys.rs_group(d, t)) for d in domains for t in types]
        filtered = (status is not None and not exact) or query.bulk_id is not None
        return Plan(partitions, bulk_entry, job_matches, ("recipient",), filtered=filtered)

    partitions, filtered = _status_type_partitions(domains, status, job_type)
    return Plan(partitions, job_check=job_matches, describe=("index",), filtered=filtered)


def _status_type_partitions(
    domains: list[str] | None, status: JobStatus | None, job_type: JobType | None
) -> tuple[list[Partition], bool]:
    """The partitions for a status and a type, either or both absent, and whether
    the status is checked on the jobs they hold."""
    types = [job_type] if job_type is not None else list(JobType)
    if _exact_status(status) and status is not None:
        return _exact_partitions(domains, status, types), False
    if status in _IN_FLIGHT_LISTED and domains is not None:
        partitions = [
            Partition("InFlight", shard, prefix=f"{domain}#")
            for domain in domains
            for shard in index_keys.domain_inflight_keys(domain)
        ]
        if status is JobStatus.SENT:  # and the parked ones
            partitions += _exact_partitions(domains, JobStatus.SENT, types)
        return partitions, True
    # delivered, no status, or a * caller's in-flight status: the immutable
    # indexes, the status checked on the job
    filtered = status is not None
    if domains is None:
        return [
            Partition("ByScope", index_keys.tk(t, n)) for t in types for n in range(index_keys.SCOPE_SHARDS)
        ], filtered
    if job_type is not None:
        return [
            Partition("ByDomainType", index_keys.dtk(domain, job_type, n))
            for domain in domains
            for n in range(index_keys.DOMAIN_SHARDS)
        ], filtered
    return [
        Partition("ByDomain", index_keys.dk(domain, n)) for domain in domains for n in range(index_keys.DOMAIN_SHARDS)
    ], filtered


def _exact_partitions(domains: list[str] | None, status: JobStatus, types: list[JobType]) -> list[Partition]:
    if domains is None:
        return [
            Partition("ByScopeStatus", index_keys.esa(status, t, n))
            for t in types
            for n in range(index_keys.STATUS_SCOPE_SHARDS)
        ]
    return [Partition("ByDomainStatus", index_keys.esk(domain, status, t)) for domain in domains for t in types]


def _fingerprint(query: ListJobsQuery, source: Plan) -> str:
    described = json.dumps(
        {
            "p": [[p.index_name, p.key, p.prefix, p.grouped, p.suffix] for p in source.partitions],
            "d": source.describe,
            "q": [
                query.status,
                query.type,
                query.recipient.lower() if query.recipient else None,
                query.bulk_id,
                query.created_after.isoformat() if query.created_after else None,
                query.created_before.isoformat() if query.created_before else None,
            ],
        },
        separators=(",", ":"),
    )
    return hashlib.sha256(described.encode()).hexdigest()[:32]


# ------------------------------------------------------------------ the merge
# What one page of a filtered source may read, whatever the table holds
# (docs/storage.md, section 8): index entries and Queries in all, the first
# round included (every range of the plan gets its first Query even past
# them). A page that reaches either makes no more Queries: it returns the rows
# found so far and a cursor below the last entry it read, so the next page goes
# on from there. An exact source needs no budget: it reads at most
# ``limit + 1 + n * ⌈(limit + 1) / n⌉`` entries over n ranges. The budget is
# wide enough that a ``*`` caller's sparse in-flight status (80 ranges, each
# read with doubling batches) still fills its pages over a few thousand jobs;
# the function's time guard (a page stops with 10 s left) bounds it where the
# store is slow.
PAGE_ENTRY_BUDGET = 10_000
PAGE_QUERY_BUDGET = 500
MAX_QUERY_LIMIT = 1_000  # the largest batch one Query asks for


def _predecessor(job_id: str) -> str | None:
    """The largest 26-character Crockford string below ``job_id`` (None: none)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = list(job_id)
    for i in range(len(chars) - 1, -1, -1):
        digit = alphabet.index(chars[i])
        if digit > 0:
            chars[i] = alphabet[digit - 1]
            return "".join(chars)
        chars[i] = alphabet[-1]
    return None


def _never() -> bool:
    return False


class _Reads:
    """What a page has read so far, against its budget (and the function's time:
    ``out_of_time`` says when the page should stop reading, whatever it read).
    ``budgeted``: False for an exact source, bounded by its ranges: only the time applies."""

    __slots__ = ("budgeted", "entries", "out_of_time", "queries")

    def __init__(self, *, out_of_time: Callable[[], bool] = _never, budgeted: bool = True) -> None:
        self.entries = 0
        self.queries = 0
        self.out_of_time = out_of_time
        self.budgeted = budgeted

    def spent(self) -> bool:
        over = self.entries >= PAGE_ENTRY_BUDGET or self.queries >= PAGE_QUERY_BUDGET
        return (self.budgeted and over) or self.out_of_time()


class _Range(NamedTuple):
    """The sort keys of one partition a stream reads: ``prefix`` + a job id between
    ``low`` and ``high``; ``n``: the partition's position in the plan."""

    n: int
    index_name: str
    key: str
    low: str
    high: str


class _Stream:
    """One range of a partition read newest first, lazily, ``batch`` entries a
    Query. When every entry read is a row (an exact source), no Query asks for
    more than the rows still wanted, so a page reads at most ``limit + 1 + n *
    batch`` entries over ``n`` ranges; when entries are checked (a filtered
    source), each Query asks for twice the last (at most ``MAX_QUERY_LIMIT``), so
    sparse rows cost few Queries."""

    def __init__(self, indexes: JobIndexes, where: _Range, batch: int, reads: _Reads) -> None:
        self._indexes = indexes
        self.where = where
        self._batch = batch
        self._reads = reads
        self._buffer: deque[dict[str, Any]] = deque()
        self._start: Any = None
        self.done = False
        self.popped_last: str | None = None

    def _fill(self, wanted: int | None) -> None:
        size = self._batch if wanted is None else max(1, min(self._batch, wanted))
        w = self.where
        read, self._start = self._indexes.query_partition(
            w.index_name, w.key, low=w.low, high=w.high, limit=size, start=self._start
        )
        self._reads.entries += len(read)
        self._reads.queries += 1
        if wanted is None:  # a filtered source: the rows may be far apart
            self._batch = min(2 * self._batch, MAX_QUERY_LIMIT)
        self._buffer.extend(read)
        self.done = self._start is None

    def peek(self, wanted: int | None) -> str | None:
        """The newest job id left; reads when the buffer is empty (``wanted``: the
        rows still wanted when every entry is a row, else None)."""
        if not self._buffer and not self.done:
            if self._start is not None and self._reads.spent():  # a first Query is always made
                raise _BudgetSpent
            self._fill(wanted)
        return str(self._buffer[0]["pk"]) if self._buffer else None

    def pop(self) -> dict[str, Any]:
        entry = self._buffer.popleft()
        self.popped_last = str(entry["pk"])
        return entry

    def exhausted_below(self, last: str) -> bool:
        """Nothing of this range is left below ``last``."""
        return self.done and not self._buffer and (self.popped_last is None or self.popped_last >= last)


class _BudgetSpent(Exception):
    """A page reached its read budget."""


def _ranges(indexes: JobIndexes, partition: Partition) -> list[str]:
    """The sort key prefixes to read in ``partition``: its one prefix, or its groups
    (one Query of one entry per group, and one more: bounded by the groups, not
    by the jobs; outside the page's budget, which the merge then spends)."""
    if not partition.grouped:
        return [partition.prefix]
    groups = indexes.sort_key_groups(partition.index_name, partition.key, id_chars=index_keys.JOB_ID_CHARS)
    return [group for group in groups if group.endswith(partition.suffix)]


class _Merged:
    """The page so far: ``last_read``, the last entry taken from the merge;
    ``spent``, whether the page's budget ran out."""

    __slots__ = ("last_read", "matched", "spent")

    def __init__(self) -> None:
        self.matched: list[Job] = []
        self.last_read: str | None = None
        self.spent = False


def _merge(source: Plan, streams: list[_Stream], wanted: int, jobs: JobStore) -> _Merged:
    """The newest ``wanted`` matching jobs across ``streams`` (fewer if they run out,
    or the page's budget does): entries merged by job id, checked, then fetched
    with one BatchGetItem per round and checked again."""
    merged = _Merged()
    while len(merged.matched) < wanted and not merged.spent:
        candidates: list[str] = []
        drained = False
        try:
            while len(candidates) < min(wanted - len(merged.matched), 100):
                rows_left = None if source.filtered else wanted - len(merged.matched) - len(candidates)
                heads = [(head, stream) for stream in streams if (head := stream.peek(rows_left)) is not None]
                if not heads:
                    drained = True
                    break
                _head, stream = max(heads, key=lambda pair: pair[0])
                entry = stream.pop()
                merged.last_read = str(entry["pk"])
                if source.entry_check(entry):
                    candidates.append(merged.last_read)
        except _BudgetSpent:
            merged.spent = True
        if candidates:
            fetched = jobs.fetch_many(candidates)
            merged.matched += [job for job_id in candidates if (job := fetched.get(job_id)) and source.job_check(job)]
        if drained:
            break
    return merged


def list_jobs(
    query: ListJobsQuery,
    caller: Caller,
    *,
    indexes: JobIndexes,
    jobs: JobStore,
    bulks: Bulks,
    cursors: CursorCodec,
    out_of_time: Callable[[], bool] = _never,
) -> JobsPage:
    """One page of the log, newest first: ``indexes`` read, ``jobs`` fetched,
    ``bulks`` for a ``bulk_id`` filter. ``out_of_time``: whether the function
    is running out of time (the page then ends as when its budget is spent)."""
    source = plan(query, caller, bulks=bulks)
    fingerprint = _fingerprint(query, source)
    position = cursors.decode(query.cursor, fingerprint=fingerprint) if query.cursor is not None else None
    bounds = index_keys.ulid_bounds(query.created_after, query.created_before)
    if bounds is None or not source.partitions:
        return JobsPage(items=[], next_cursor=None)
    low, high = bounds
    if position is not None:
        below = _predecessor(position.last)
        if below is None or below < low:
            return JobsPage(items=[], next_cursor=None)
        high = min(high, below)

    wanted = query.limit + 1
    reads = _Reads(out_of_time=out_of_time, budgeted=source.filtered)
    live = [n for n in range(len(source.partitions)) if position is None or not position.exhausted >> n & 1]
    ranges = [
        _Range(n, p.index_name, p.key, prefix + low, prefix + high)
        for n in live
        for p in [source.partitions[n]]
        for prefix in _ranges(indexes, p)
    ]
    batch = max(1, -(-wanted // max(1, len(ranges))))
    streams = [_Stream(indexes, where, batch, reads) for where in ranges]
    merged = _merge(source, streams, wanted, jobs)

    page = merged.matched[: query.limit]
    more = len(merged.matched) > query.limit
    last = page[-1].job_id if more else merged.last_read if merged.spent else None
    next_cursor = None
    if last is not None and (more or any(not stream.exhausted_below(last) for stream in streams)):
        exhausted = position.exhausted if position is not None else 0
        for n in live:
            if all(stream.exhausted_below(last) for stream in streams if stream.where.n == n):
                exhausted |= 1 << n
        next_cursor = cursors.encode(fingerprint, Position(last, exhausted))
    return JobsPage(items=[JobSummary.model_validate(job.model_dump()) for job in page], next_cursor=next_cursor)


# ------------------------------------------------------------------ one job, one bulk
def job_detail(
    job_id: str,
    caller: Caller,
    *,
    jobs: JobStore,
    bodies: BodyStore,
    unsubscribe_url: Callable[[Job], str | None] | None = None,
) -> JobDetail:
    """One job with its body (read after the job's domain is checked) and
    attempt log; the same 404 whether it does not exist or belongs to a domain
    the caller may not see. A body no longer kept is said so (``body_kept``).
    ``unsubscribe_url``: a manual job's one-click unsubscribe URL
    (``common.logic.suppression_links``)."""
    job = jobs.get(job_id) if JOB_ID_RE.fullmatch(job_id) else None
    if job is None or not caller.may_see(job.domain):
        raise JobNotFound("no such job")
    link = unsubscribe_url(job) if unsubscribe_url else None
    found = bodies.get(job.body)
    if found is None:
        # Its item or its S3 object expired (each store deletes on its own
        # schedule, near the end of the job's retention): said, never a 500.
        return JobDetail.body_gone(job, unsubscribe_url=link)
    return JobDetail.from_job(job, found, unsubscribe_url=link)


def bulk_progress(bulk_id: str, caller: Caller, *, indexes: JobIndexes, bulks: Bulks) -> BulkProgress:
    """A bulk send's counts by status: its item (the domain check; 404 before
    reading anything more), then one Query per ``ByBulk`` shard reading the
    projected status. ``total`` is the number of its jobs that exist: those
    the index holds, or the item's ``stored`` (written after the jobs) when
    it is more, the index lagging the table by moments; the jobs it does not
    hold yet are new, so ``queued``. A bulk send that failed part-way counts
    the jobs it stored, never the recipients it meant to queue: the counts
    sum to ``total``, and the progress completes."""
    bulk = bulks.get_bulk(bulk_id) if JOB_ID_RE.fullmatch(bulk_id) else None
    if bulk is None or not caller.may_see(bulk.domain):
        raise BulkNotFound("no such bulk send")
    counts = dict.fromkeys(JobStatus, 0)
    for n in range(index_keys.BULK_SHARDS):
        start: Any = None
        while True:
            entries, start = indexes.query_partition(
                "ByBulk", index_keys.bk(bulk_id, n), low=None, high=None, limit=1000, start=start
            )
            for entry in entries:
                counts[JobStatus(entry["status"])] += 1
            if start is None:
                break
    indexed = sum(counts.values())
    total = max(bulk.stored, indexed)
    counts[JobStatus.QUEUED] += total - indexed
    return BulkProgress(
        bulk_id=bulk.bulk_id,
        domain=bulk.domain,
        subject=bulk.subject,
        created_at=bulk.created_at,
        total=total,
        counts=counts,
    )
