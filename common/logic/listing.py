"""GET /jobs, GET /jobs/{job_id} and GET /bulks/{bulk_id} (docs/storage.md, sections 8 and 9).

A query is planned into a **source** (``plan``): index partitions (or ranges of
one: a sort key prefix), each read newest first, merged by job id, with a
check on every row. The rules, first that applies wins (docs/storage.md,
section 8, has the table and each one's cost):

- ``bulk_id`` without ``recipient``: ``ByBulk`` (after the bulk item's domain
  is checked);
- ``recipient``: ``ByRecipient``, or ``ByRecipientStatus`` for a status of the
  exceptional set, one range ``<domain>#<type>#`` per domain and type (a ``*``
  caller: the partition's groups, found as they are read);
- a status of the exceptional set: ``ByDomainStatus`` / ``ByScopeStatus``;
- ``queued``, ``sending``, ``sent`` of a caller's domains: their ``InFlight``
  shards (``sent`` also reads the parked ``sent`` jobs of the exact indexes);
  a ``*`` caller's: as without a status, the status checked on the job
  (``InFlight``'s sort keys begin with the domain: no shard is in time order);
- ``type``: ``ByDomainType`` / ``ByScope``;
- otherwise: ``ByDomain`` (the jobs of no bulk send) and ``ByDomainType``'s
  ``<domain>#bulk#`` partitions (a bulk send's jobs) / ``ByPlatform``.

``created_after``/``created_before`` are a sort-key range on every partition.
Every partition key is derived from the caller's own domains or checked
against them before any row is read.

Rows come from the entries where the index projects them
(``index_keys.PROJECTED``: the exact status indexes, ``ByBulk``); otherwise
the entries passing their check are fetched with one eventually consistent
``BatchGetItem`` (≤ 100 keys) per round. Every row is checked against every
filter and the caller's domains (a job may have moved since the index was
read: it is dropped and the page reads on), until ``limit + 1`` rows match,
every partition is exhausted or the page's budget is spent: every page is
full but the last (or one cut by the budget), and the look-ahead row makes
``next_cursor`` null exactly on the last page.

The merge is lazy: each range's first Query asks for ``⌈(limit+1)/n⌉``
entries (one more with four ranges or more), a range is read again only when
its batch ran out while it might hold the next newest row, and each Query of
a range asks for twice its last (an exact source: no more than the rows still
wanted; a filtered one: at most ``MAX_QUERY_LIMIT``). A filtered page's reads
are bounded (``PAGE_ENTRY_BUDGET``, ``PAGE_QUERY_BUDGET``): a page that
reaches the budget answers what it found with a cursor below the last entry
read.

Job ids are unique and every partition is merged by id, so after a page whose
last row is ``L`` every partition has returned exactly its rows newer than
``L``: one position serves them all. Cursor v2 = base64url JSON ``{"v": 2,
"f": <fingerprint of the plan and filters>, "l": L, "x": <bitmap of exhausted
partitions>, "g": <a grouped partition's groups>}`` and an HMAC-SHA256
signature: one altered, forged, of version 1, or made for another caller's
domains or other filters is refused (400 ``invalid_cursor``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.adapters import index_keys
from common.adapters.bodies import BodyStore
from common.adapters.bulks import BulkItem, Bulks
from common.adapters.job_indexes import GroupHead, JobIndexes
from common.adapters.job_store import JobStore
from common.logic.signing import SignedCursors
from common.models.api import BulkNotFound, Caller, JobSummary
from common.models.clock import utc_now
from common.models.errors import InvalidCursor, JobNotFound
from common.models.job import JOB_ID_RE, Job, JobStatus, JobType
from common.models.listing import BulkProgress, JobDetail, JobsPage, ListJobsQuery

CURSOR_VERSION = 2
# A grouped partition's groups ride in the cursor while they are this short in
# all (a * caller's recipient search: its domains and types); longer, each page
# finds them again.
MAX_CURSOR_GROUPS_CHARS = 1_500


class _CursorBody(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    v: Literal[2] = 2  # CURSOR_VERSION
    f: str  # fingerprint of the plan and the filters
    l: str = Field(pattern=JOB_ID_RE.pattern)  # noqa: E741 - the last job id returned
    x: int = Field(default=0, ge=0)  # bitmap of exhausted partitions (or groups)
    g: list[str] | None = None  # a grouped partition's groups, as the first page found them


class Position(NamedTuple):
    """Where the next page starts: strictly below job ``last``; ``exhausted``:
    the partitions (by position in the plan; a grouped plan: its groups, by
    position in ``groups``) known to hold nothing more."""

    last: str
    exhausted: int = 0
    groups: tuple[str, ...] | None = None


class CursorCodec:
    """Signs and checks page cursors with a secret key (HMAC-SHA256)."""

    def __init__(self, secret: str) -> None:
        self._cursors = SignedCursors(secret, _CursorBody)

    def encode(self, fingerprint: str, position: Position) -> str:
        groups = list(position.groups) if position.groups is not None else None
        return self._cursors.encode(_CursorBody(f=fingerprint, l=position.last, x=position.exhausted, g=groups))

    def decode(self, cursor: str, *, fingerprint: str) -> Position:
        """The position a cursor holds, if this service made it for this very query."""
        body = self._cursors.decode(cursor)
        if body.f != fingerprint:
            raise InvalidCursor("the cursor belongs to another query: start again without it")
        return Position(body.l, body.x, tuple(body.g) if body.g is not None else None)


# ------------------------------------------------------------------ the plan
class Partition(NamedTuple):
    """One index partition, or one range of it. ``prefix``: what every sort key of
    the range starts with (``InFlight``: ``<domain>#``; ``ByRecipient``:
    ``<domain>#<type>#``); the job id follows it. ``grouped``: the partition's sort
    keys are ``<group><job_id>`` with groups not known in advance (a ``*`` caller's
    recipient search): a page finds them as it reads them (``JobIndexes.group_heads``),
    keeping those ending with ``suffix``, and merges them as ranges; with a
    ``suffix`` (a type), it finds each domain with one one-entry Query and reads
    that domain's range of the type."""

    index_name: str
    key: str
    prefix: str = ""
    grouped: bool = False
    suffix: str = ""

    @property
    def projected(self) -> bool:
        """Its entries are whole rows (``index_keys.LISTED``): no job to fetch."""
        return self.index_name in index_keys.PROJECTED


EntryCheck = Callable[[dict[str, Any]], bool]
RowCheck = Callable[[JobSummary], bool]


def _always(_: Any) -> bool:
    return True


class Plan(NamedTuple):
    partitions: list[Partition]
    entry_check: EntryCheck = _always  # on an entry that is not a row (what it projects), before the fetch
    row_check: RowCheck = _always
    describe: tuple[str, ...] = ()  # what the fingerprint covers besides the partitions
    # Whether the partitions hold jobs that do not match (a filter checked on the
    # rows): its reads then grow faster, within the page's budget.
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

    def row_matches(row: JobSummary) -> bool:
        return (
            visible(row.domain)
            and caller.may_see(row.domain)
            and (status is None or row.status is status)
            and (job_type is None or row.type is job_type)
            and (query.recipient is None or row.recipient.lower() == query.recipient.lower())
            and (query.bulk_id is None or row.bulk_id == query.bulk_id)
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
            return Plan(partitions, row_check=row_matches, describe=("bulk",), filtered=status is not None)

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
        return Plan(partitions, bulk_entry, row_matches, ("recipient",), filtered=filtered)

    partitions, filtered = _status_type_partitions(domains, status, job_type)
    return Plan(partitions, row_check=row_matches, describe=("index",), filtered=filtered)


def _status_type_partitions(
    domains: list[str] | None, status: JobStatus | None, job_type: JobType | None
) -> tuple[list[Partition], bool]:
    """The partitions for a status and a type, either or both absent, and whether
    the status is checked on the rows they hold."""
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
    # delivered, no status, or a * caller's in-flight status (InFlight's 64 shards
    # sort by domain first: none is in time order across domains): the immutable
    # indexes, the status checked on the job
    filtered = status is not None
    if domains is None:
        if job_type is not None:
            return [Partition("ByScope", index_keys.tk(job_type, n)) for n in range(index_keys.SCOPE_SHARDS)], filtered
        return [Partition("ByPlatform", index_keys.ak(n)) for n in range(index_keys.PLATFORM_SHARDS)], filtered
    # A domain's bulk sends' jobs (all manual) are ByDomainType's <domain>#bulk# partitions
    bulk_sends = [
        Partition("ByDomainType", index_keys.dtk(domain, JobType.MANUAL, n, bulk=True))
        for domain in domains
        for n in range(index_keys.DOMAIN_SHARDS)
    ]
    if job_type is not None:
        of_type = [
            Partition("ByDomainType", index_keys.dtk(domain, job_type, n))
            for domain in domains
            for n in range(index_keys.DOMAIN_SHARDS)
        ]
        return of_type + (bulk_sends if job_type is JobType.MANUAL else []), filtered
    # A domain's jobs of no bulk send, and its bulk sends'
    mine = [
        Partition("ByDomain", index_keys.dk(domain, n)) for domain in domains for n in range(index_keys.DOMAIN_SHARDS)
    ]
    return mine + bulk_sends, filtered


def _exact_partitions(domains: list[str] | None, status: JobStatus, types: list[JobType]) -> list[Partition]:
    if domains is None:
        return [
            Partition("ByScopeStatus", index_keys.esa(status, t, n))
            for t in types
            for n in range(index_keys.esa_shards(status))
        ]
    return [
        Partition("ByDomainStatus", key)
        for domain in domains
        for t in types
        for key in index_keys.domain_status_keys(domain, status, t)
    ]


def _fingerprint(query: ListJobsQuery, source: Plan) -> str:
    described = json.dumps(
        {
            "p": [list(p) for p in source.partitions],
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
# (docs/storage.md, section 8): index entries, and DynamoDB requests (Queries,
# BatchGetItems) in all, the first round included (every range of the plan
# gets its first Query even past them). A page that reaches either makes no
# more requests: it returns the rows found so far and a cursor below the last
# entry it read, so the next page goes on from there. The budget is wide, so
# that pages stay full (the contract) wherever matches are not very sparse: a
# filtered page that finds its rows among the newest jobs makes far fewer
# requests. An exact source needs no budget: no Query of it asks for more than
# the rows still wanted, and its ranges are few (docs/storage.md, section 8,
# counts them). The function's time guard (a page stops with 10 s left)
# bounds every page where the store is slow.
PAGE_ENTRY_BUDGET = 10_000
PAGE_REQUEST_BUDGET = 500
FETCH_KEYS = 100  # the keys of one BatchGetItem
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
    ``budgeted``: False for an exact source, bounded by its ranges: only the time
    applies. ``fetches``: whether its rows need a ``BatchGetItem`` (a Query then
    leaves room for one)."""

    __slots__ = ("budgeted", "entries", "fetches", "out_of_time", "requests")

    def __init__(
        self, *, out_of_time: Callable[[], bool] = _never, budgeted: bool = True, fetches: bool = True
    ) -> None:
        self.entries = 0
        self.requests = 0
        self.out_of_time = out_of_time
        self.budgeted = budgeted
        self.fetches = fetches

    def spent(self) -> bool:
        """No further Query: the budget (less a fetch to come) or the time is spent."""
        reserve = 1 if self.fetches else 0
        over = self.entries >= PAGE_ENTRY_BUDGET or self.requests + reserve >= PAGE_REQUEST_BUDGET
        return (self.budgeted and over) or self.out_of_time()

    def fetch_spent(self) -> bool:
        """No further round of fetches: the budget is spent."""
        return self.budgeted and self.requests >= PAGE_REQUEST_BUDGET


class _Range(NamedTuple):
    """The sort keys of one partition a stream reads: ``prefix`` + a job id between
    ``low`` and ``high``; ``n``: the partition's position in the plan (a grouped
    plan: the group's position in its groups); ``partition``: the plan's."""

    n: int
    partition: Partition
    key_low: str
    key_high: str
    low: str
    high: str


class _Stream:
    """One range of a partition read newest first, lazily. Its first Query asks
    for ``batch`` entries and each later one for twice the last: when every
    entry read is a row (an exact source), never more than its share of the
    rows still wanted (``_share``), so a page reads few entries more than its
    rows; when rows are checked (a filtered source), at most
    ``MAX_QUERY_LIMIT``, so sparse rows cost few Queries."""

    def __init__(
        self,
        indexes: JobIndexes,
        where: _Range,
        batch: int,
        reads: _Reads,
        *,
        buffer: Sequence[dict[str, Any]] = (),
        done: bool = False,
    ) -> None:
        self._indexes = indexes
        self.where = where
        self._batch = batch
        self._reads = reads
        self._buffer: deque[dict[str, Any]] = deque(buffer)
        self._start: Any = None
        self._filled = bool(buffer) or done
        self.done = done
        self.popped_last: str | None = None

    def _fill(self, wanted: int | None) -> None:
        w = self.where
        size = self._batch if wanted is None else max(1, min(self._batch, wanted))
        read, self._start = self._indexes.query_partition(
            w.partition.index_name, w.partition.key, low=w.key_low, high=w.key_high, limit=size, start=self._start
        )
        self._reads.entries += len(read)
        self._reads.requests += 1
        self._batch = min(2 * self._batch, MAX_QUERY_LIMIT)
        self._buffer.extend(read)
        self._filled = True
        self.done = self._start is None

    def peek(self, wanted: int | None) -> str | None:
        """The newest job id left; reads when the buffer is empty (``wanted``: the
        range's share of the rows still wanted when every entry is a row, else None)."""
        if not self._buffer and not self.done:
            if self._filled and self._reads.spent():  # a first Query is always made
                raise _BudgetSpent
            self._fill(wanted)
        return str(self._buffer[0]["pk"]) if self._buffer else None

    def pop(self) -> dict[str, Any]:
        entry = self._buffer.popleft()
        self.popped_last = str(entry["pk"])
        return entry

    @property
    def open(self) -> bool:
        """It may still hold entries: some buffered, or more to read."""
        return bool(self._buffer) or not self.done

    def exhausted_below(self, last: str) -> bool:
        """Nothing of this range is left below ``last``."""
        return self.done and not self._buffer and (self.popped_last is None or self.popped_last >= last)


class _BudgetSpent(Exception):
    """A page reached its read budget."""


def _row(entry: dict[str, Any]) -> JobSummary | None:
    """A row from an entry of an index projecting ``index_keys.LISTED`` (None: an
    entry that does not hold one, which no job's entry is)."""
    try:
        return JobSummary.model_validate({name: entry.get(name) for name in index_keys.LISTED})
    except ValidationError:
        return None


class _Merged:
    """The page so far: ``last_read``, the last entry taken from the merge;
    ``spent``, whether the page's budget ran out."""

    __slots__ = ("last_read", "matched", "spent")

    def __init__(self) -> None:
        self.matched: list[JobSummary] = []
        self.last_read: str | None = None
        self.spent = False


def _merge(source: Plan, streams: list[_Stream], wanted: int, jobs: JobStore, reads: _Reads) -> _Merged:
    """The newest ``wanted`` matching rows across ``streams`` (fewer if they run
    out, or the page's budget does): entries merged by job id; rows taken from
    projected entries, the others' jobs fetched with one BatchGetItem per round
    (≤ 100 keys; a filtered source's rounds within the page's budget); every
    row checked."""
    merged = _Merged()
    passed, fetched = 1, 1  # how many fetched jobs matched, of how many: a round fetches for what it expects
    while len(merged.matched) < wanted and not merged.spent:
        if reads.fetch_spent():
            merged.spent = True
            break
        slots: list[JobSummary | str] = []  # in id order: rows, and ids of jobs to fetch
        pending = 0
        drained = False
        need = wanted - len(merged.matched)
        # A filtered source fetches what it expects to need (≤ 100 keys a round).
        fetch_cap = min(FETCH_KEYS, max(need, -(-need * fetched // passed))) if source.filtered else need
        try:
            while len(slots) - pending + (pending * passed) // fetched < need and pending < fetch_cap:
                # An exact source's range asks for its share of the rows still wanted (and one more)
                rows_left = None if source.filtered else _share(need - len(slots), streams)
                heads = [(head, stream) for stream in streams if (head := stream.peek(rows_left)) is not None]
                if not heads:
                    drained = True
                    break
                _head, stream = max(heads, key=lambda pair: pair[0])
                entry = stream.pop()
                merged.last_read = str(entry["pk"])
                partition = stream.where.partition
                if partition.projected:
                    row = _row(entry)
                    if row is not None and source.row_check(row):
                        slots.append(row)
                elif source.entry_check(entry):
                    slots.append(merged.last_read)
                    pending += 1
        except _BudgetSpent:
            merged.spent = True
        ids = [slot for slot in slots if isinstance(slot, str)]
        found = jobs.fetch_many(ids) if ids else {}
        reads.requests += -(-len(ids) // FETCH_KEYS)
        for slot in slots:
            if isinstance(slot, JobSummary):
                merged.matched.append(slot)
                continue
            job = found.get(slot)
            row = JobSummary.model_validate(job.model_dump()) if job is not None else None
            fetched += 1
            if row is not None and source.row_check(row):
                merged.matched.append(row)
                passed += 1
        if drained:
            break
    return merged


def _share(rows: int, streams: list[_Stream]) -> int:
    """A range's share of ``rows`` among the streams that may still hold some, and one more."""
    live = sum(1 for stream in streams if stream.open)
    return -(-rows // max(1, live)) + 1


def _first_batch(wanted: int, ranges: int) -> int:
    """A range's first Query: its share of the page, ``s = ⌈wanted / ranges⌉``, and
    with four ranges or more about one standard deviation less one more,
    ``⌊√(s - 1)⌋`` (a range's share of the newest rows varies: so that few
    ranges need a second Query, without reading many entries no row needs)."""
    share = -(-wanted // max(1, ranges))
    return share + (math.isqrt(share - 1) if ranges >= 4 else 0)


def _streams(
    source: Plan,
    indexes: JobIndexes,
    *,
    position: Position | None,
    low: str,
    high: str,
    wanted: int,
    reads: _Reads,
) -> tuple[list[_Stream], tuple[str, ...] | None]:
    """The page's streams over the plan's live partitions (a grouped plan: its
    groups, from the cursor or found now), and the groups (a grouped plan)."""
    exhausted = position.exhausted if position is not None else 0
    grouped = [p for p in source.partitions if p.grouped]
    if not grouped:
        live = [(n, p) for n, p in enumerate(source.partitions) if not exhausted >> n & 1]
        batch = _first_batch(wanted, len(live))
        streams = [_Stream(indexes, _range(n, p, p.prefix, low, high), batch, reads) for n, p in live]
        return streams, None
    (partition,) = grouped  # a grouped plan is one partition (a * caller's recipient search)
    if position is not None and position.groups is not None:
        groups = position.groups
        live_groups = [(n, g) for n, g in enumerate(groups) if not exhausted >> n & 1]
        batch = _first_batch(wanted, len(live_groups))
        streams = [_Stream(indexes, _range(n, partition, g, low, high), batch, reads) for n, g in live_groups]
        return streams, groups
    found = _find_groups(indexes, partition, low, high, wanted, fresh=position is None, reads=reads)
    groups = tuple(prefix for prefix, _ in found)
    batch = _first_batch(wanted, len(found))
    streams = []
    for n, (prefix, head) in enumerate(found):
        where = _range(n, partition, prefix, low, high)
        if head is None:  # found, not read: its range from the top
            streams.append(_Stream(indexes, where, batch, reads))
            continue
        if not head.complete and head.read_below is not None:  # read on below the last entry read
            below = _predecessor(head.read_below)
            upper = min(high, below) if below is not None else low
            where = where._replace(key_high=prefix + upper, high=upper)
        streams.append(_Stream(indexes, where, batch, reads, buffer=head.entries, done=head.complete))
    return streams, groups


def _range(n: int, partition: Partition, prefix: str, low: str, high: str) -> _Range:
    return _Range(n, partition, prefix + low, prefix + high, low, high)


def _find_groups(
    indexes: JobIndexes, partition: Partition, low: str, high: str, wanted: int, *, fresh: bool, reads: _Reads
) -> list[tuple[str, GroupHead | None]]:
    """A grouped partition's ranges, greatest first, each with what was read of
    it (``None``: found, not read). Without a type (``suffix``): each group
    found with its newest entries on a first page (``JobIndexes.group_heads``),
    found one entry each on a later one; with a type: the domains, one entry
    each, then each domain's range of that type. Its Queries count in ``reads``
    (every group gets its first Query, as every range of a plan does)."""
    id_chars = index_keys.JOB_ID_CHARS
    if partition.suffix:
        heads, queries = indexes.group_heads(
            partition.index_name, partition.key, id_chars=id_chars, per_group=1, skip=_domain_of
        )
        reads.requests += queries
        return [(_domain_of(head.prefix) + partition.suffix[1:], None) for head in heads]
    if not fresh:
        heads, queries = indexes.group_heads(partition.index_name, partition.key, id_chars=id_chars, per_group=1)
        reads.requests += queries
        return [(head.prefix, None) for head in heads]
    per_group = max(2, -(-wanted // 4))
    heads, queries = indexes.group_heads(
        partition.index_name, partition.key, id_chars=id_chars, per_group=per_group, low=low, high=high
    )
    reads.requests += queries
    reads.entries += sum(len(head.entries) for head in heads)
    return [(head.prefix, head) for head in heads]


def _domain_of(group: str) -> str:
    """``<domain>#`` of a ``ByRecipient`` group ``<domain>#<type>#``: what every
    sort key of the domain starts with."""
    return group.rsplit("#", 2)[0] + "#"


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
    fetches = not all(partition.projected for partition in source.partitions)
    reads = _Reads(out_of_time=out_of_time, budgeted=source.filtered, fetches=fetches)
    streams, groups = _streams(source, indexes, position=position, low=low, high=high, wanted=wanted, reads=reads)
    merged = _merge(source, streams, wanted, jobs, reads)

    page = merged.matched[: query.limit]
    more = len(merged.matched) > query.limit
    last = page[-1].job_id if more else merged.last_read if merged.spent else None
    next_cursor = None
    if last is not None and (more or any(not stream.exhausted_below(last) for stream in streams)):
        exhausted = position.exhausted if position is not None and (groups is None or position.groups) else 0
        for n in {stream.where.n for stream in streams}:
            if all(stream.exhausted_below(last) for stream in streams if stream.where.n == n):
                exhausted |= 1 << n
        carried = groups if groups is not None and sum(len(g) for g in groups) <= MAX_CURSOR_GROUPS_CHARS else None
        if carried is None:
            exhausted = 0 if groups is not None else exhausted  # groups found again: none known exhausted
        next_cursor = cursors.encode(fingerprint, Position(last, exhausted, carried))
    return JobsPage(items=page, next_cursor=next_cursor)


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
    reading anything more), then ``progress_of``."""
    bulk = bulks.get_bulk(bulk_id) if JOB_ID_RE.fullmatch(bulk_id) else None
    if bulk is None or not caller.may_see(bulk.domain):
        raise BulkNotFound("no such bulk send")
    return progress_of(bulk, indexes)


def progress_of(bulk: BulkItem, indexes: JobIndexes) -> BulkProgress:
    """A bulk send's item with its jobs counted by status: one Query per
    ``ByBulk`` shard reading the projected status (more only for a shard of
    over 1,000 jobs). ``total`` is the number of its jobs that exist: those
    the index holds, or the item's ``stored`` (written after the jobs) when
    it is more, the index lagging the table by moments; the jobs it does not
    hold yet are new, so ``queued``. A bulk send that failed part-way counts
    the jobs it stored, never the recipients it meant to queue: the counts
    sum to ``total``, and the progress completes."""
    counts = dict.fromkeys(JobStatus, 0)
    for n in range(index_keys.BULK_SHARDS):
        start: Any = None
        while True:
            entries, start = indexes.query_partition(
                "ByBulk", index_keys.bk(bulk.bulk_id, n), low=None, high=None, limit=1000, start=start
            )
            for entry in entries:
                counts[JobStatus(entry["status"])] += 1
            if start is None:
                break
    indexed = sum(counts.values())
    total = max(bulk.stored, indexed)
    # Jobs stored but not indexed yet are new: scheduled until the bulk's send_at, else queued.
    waiting = bulk.send_at is not None and bulk.send_at > utc_now()
    counts[JobStatus.SCHEDULED if waiting else JobStatus.QUEUED] += total - indexed
    return BulkProgress(
        bulk_id=bulk.bulk_id,
        domain=bulk.domain,
        subject=bulk.subject,
        created_at=bulk.created_at,
        total=total,
        counts=counts,
        created_by=bulk.created_by,
        send_at=bulk.send_at,
        canceled=bulk.canceled,
    )
