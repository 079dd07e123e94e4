"""Figure 3: what a page of the log costs, for every filter combination.

Jobs are written straight into the jobs table (through ``local.jobs_table``, as
the service writes them, index keys by status included) with a realistic mix
of statuses (docs/storage.md section 12: 96% delivered, 2% bounced, 1%
failed, 0.1% complained, the rest spread over the other statuses), one
recipient who gets 2% of the mail, and a bulk send of its own still draining;
then the log is read through the HTTP API, page by page. Entries read are the
``ScannedCount`` of every Query the list function makes on a listing index,
jobs fetched the job items its ``BatchGetItem`` returned, read units those
two priced (seen in its SDK client's responses); items returned are the rows
of the pages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from benchmarks.harness import BenchError, BenchStack
from benchmarks.page import SummaryRow, number, table
from common.adapters.bulks import BulkItem
from common.logic.listing import PAGE_ENTRY_BUDGET, PAGE_QUERY_BUDGET, Partition, plan
from common.models.api import Caller
from common.models.clock import utc_now
from common.models.job import AttemptLogEntry, AttemptOutcome, Job, JobStatus, JobType, new_job_id
from common.models.listing import ListJobsQuery
from local.jobs_table import JobsTable

LIST_DOMAINS = ("list-a.example", "list-b.example")
FREQUENT = "frequent@example.org"  # the recipient of 2% of the mail
FREQUENT_SHARE = 0.02
_SEED = 20261123
# docs/storage.md section 12's mix; what is left (0.9%) is spread over the other statuses.
MIX = (
    (JobStatus.DELIVERED, 0.96),
    (JobStatus.BOUNCED, 0.02),
    (JobStatus.FAILED, 0.01),
    (JobStatus.COMPLAINED, 0.001),
)
REST = (
    JobStatus.QUEUED,
    JobStatus.SENDING,
    JobStatus.RETRYING,
    JobStatus.SENT,
    JobStatus.DELAYED,
    JobStatus.SUPPRESSED,
    JobStatus.CANCELED,
)
# A bulk send draining: most of it still queued.
BULK_MIX = ((JobStatus.DELIVERED, 0.40), (JobStatus.SENT, 0.10), (JobStatus.SENDING, 0.05), (JobStatus.QUEUED, 0.45))
NEAR = 1.1  # a ratio up to this needs no bound named


@dataclass(frozen=True)
class ListCost:
    caller: str
    filters: str
    indexes: str
    partitions: int
    pages: int
    queries: int
    items_read: int
    jobs_fetched: int
    items_returned: int
    read_units: float
    bound: str

    @property
    def ratio(self) -> float:
        return self.items_read / self.items_returned if self.items_returned else 0.0

    @property
    def fetch_ratio(self) -> float:
        return self.jobs_fetched / self.items_returned if self.items_returned else 0.0


@dataclass(frozen=True)
class ListCosts:
    jobs: int
    failed: int
    limit: int
    rows: list[ListCost]
    statuses: dict[str, int]
    bulk_size: int
    alone: bool = True  # False: after figure 1, whose jobs share the table


@dataclass(frozen=True)
class Seeded:
    total: int
    statuses: dict[str, int]
    bulk_id: str
    bulk_size: int
    window: tuple[datetime, datetime]  # a created range holding about a third of the jobs


def _pick(rng: random.Random, mix: tuple[tuple[JobStatus, float], ...], rest: tuple[JobStatus, ...]) -> JobStatus:
    roll = rng.random()
    for status, share in mix:
        if roll < share:
            return status
        roll -= share
    return rng.choice(rest) if rest else mix[-1][0]


def _job(
    rng: random.Random,
    created: datetime,
    i: int,
    *,
    domain: str,
    job_type: JobType,
    status: JobStatus,
    bulk: str | None,
) -> Job:
    job_id, created_at = new_job_id(created)
    failed = status in (JobStatus.FAILED, JobStatus.SUPPRESSED)
    error = "MessageRejected: SES rejected the message" if failed else None
    tried = status not in (JobStatus.QUEUED, JobStatus.SUPPRESSED, JobStatus.CANCELED)
    sent = tried and status not in (JobStatus.SENDING, JobStatus.RETRYING, JobStatus.FAILED)
    outcome = AttemptOutcome.FAILED if failed else AttemptOutcome.SENT
    recipient = FREQUENT if rng.random() < FREQUENT_SHARE else f"reader{i}@example.org"
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain=domain,
        type=job_type,
        recipient=recipient,
        subject=f"Message {i}",
        status=status,
        attempts=1 if tried else 0,
        sent_at=created_at + timedelta(seconds=1) if sent else None,
        error=error,
        body=bulk or job_id,  # listing reads no body: none is stored
        bulk_id=bulk,
        attempt_log=[AttemptLogEntry(at=created_at + timedelta(seconds=1), outcome=outcome, error=error)]
        if tried
        else [],
    )


def seed(bench: BenchStack, total: int) -> Seeded:
    """``total`` jobs over the two list domains and every type in the mix, a tenth of
    them (at most 1,000) a bulk send of the first domain still draining."""
    rng = random.Random(_SEED)
    table = JobsTable(bench.dynamodb, bench.jobs_table)
    # Created up to now: newer than the other figures' jobs (all `sent`), as a live log's newest are.
    start = utc_now() - timedelta(milliseconds=7 * total + 1000)
    bulk_size = min(1000, total // 10)
    bulk_id, _ = new_job_id(start + timedelta(milliseconds=7 * total // 2))
    table.put_bulk(BulkItem.of(bulk_id, LIST_DOMAINS[0], "Our summer newsletter"))
    bulk_every = total // bulk_size if bulk_size else 0
    statuses: dict[str, int] = {}
    chunk: list[Job] = []
    in_bulk = 0
    for i in range(total):
        created = start + timedelta(milliseconds=7 * i)
        if bulk_every and i % bulk_every == 0 and in_bulk < bulk_size:
            in_bulk += 1
            job = _job(
                rng,
                created,
                i,
                domain=LIST_DOMAINS[0],
                job_type=JobType.MANUAL,
                status=_pick(rng, BULK_MIX, ()),
                bulk=bulk_id,
            )
        else:
            job = _job(
                rng,
                created,
                i,
                domain=rng.choice(LIST_DOMAINS),
                job_type=rng.choice(list(JobType)),
                status=_pick(rng, MIX, REST),
                bulk=None,
            )
        statuses[job.status.value] = statuses.get(job.status.value, 0) + 1
        chunk.append(job)
        if len(chunk) == 500:
            table.put_new(chunk, due_at=0)
            chunk = []
    if chunk:
        table.put_new(chunk, due_at=0)
    third = timedelta(milliseconds=7 * total // 3)
    return Seeded(total, statuses, bulk_id, bulk_size, (start + third, start + 2 * third))


@dataclass(frozen=True)
class Combination:
    caller: str
    domain: str | None = None
    status: JobStatus | None = None
    job_type: JobType | None = None
    recipient: str | None = None
    bulk: bool = False
    window: bool = False


CALLERS = ("one domain", "two domains", "every domain (*)")


def combinations() -> list[Combination]:
    """Every filter combination for each caller: no status, each status class (exceptional,
    in flight, delivered), type, recipient, bulk_id, a created range, and their pairs."""
    statuses: tuple[JobStatus | None, ...] = (
        None,
        JobStatus.FAILED,
        JobStatus.QUEUED,
        JobStatus.SENT,
        JobStatus.DELIVERED,
    )
    combos: list[Combination] = []
    for caller in CALLERS:
        domain = LIST_DOMAINS[0] if caller == "one domain" else None
        for window in (False, True):
            for status in statuses:
                for job_type in (None, JobType.MANUAL):
                    combos.append(Combination(caller, domain, status, job_type, window=window))
            for status in (None, JobStatus.DELIVERED, JobStatus.BOUNCED):
                combos.append(Combination(caller, domain, status, recipient=FREQUENT, window=window))
            combos.append(Combination(caller, domain, job_type=JobType.ESCALATION, recipient=FREQUENT, window=window))
            for status in (None, JobStatus.QUEUED, JobStatus.DELIVERED):
                combos.append(Combination(caller, domain, status, bulk=True, window=window))
    return combos


IN_FLIGHT_LISTED = (JobStatus.QUEUED, JobStatus.SENDING, JobStatus.SENT)
BUDGET = f"the page's budget ({PAGE_ENTRY_BUDGET:,} entries, {PAGE_QUERY_BUDGET} Queries)"


def bound(partitions: list[Partition], combo: Combination, ratio: float, fetch_ratio: float) -> str:
    """What bounds a combination's reads per row when they are above ``NEAR``."""
    if max(ratio, fetch_ratio) <= NEAR:
        return ""
    reasons = []
    n = len(partitions)
    if any(p.grouped for p in partitions):
        reasons.append("merge of the recipient's domains and types, each found by a one-entry Query")
    elif n > 1:
        what = "ranges" if combo.recipient else "partitions"
        reasons.append(f"merge of {n} {what}: ≤ limit + 1 + {n} x ⌈(limit + 1) ÷ {n}⌉ entries a page")
    exact = combo.status is not None and combo.status.exceptional
    if combo.bulk and combo.status is not None and not combo.recipient:
        reasons.append("status checked on ByBulk's projected status: ≤ the bulk send's jobs (≤ 1,000)")
    elif combo.recipient and combo.status is not None and not exact:
        reasons.append(f"status checked within the recipient's jobs of those domains, and ≤ {BUDGET}")
    elif combo.status in IN_FLIGHT_LISTED:
        where = "ByScope (every job)" if combo.caller == "every domain (*)" else "InFlight (the domain's backlog)"
        reasons.append(f"status checked on the jobs of {where}: ≤ {BUDGET}")
    elif combo.status is JobStatus.DELIVERED:
        reasons.append(f"delivered checked on the job: ≈ 1 ÷ its share among the newest jobs, ≤ {BUDGET}")
    return "; ".join(reasons) or "none identified"


def _describe(combo: Combination, seeded: Seeded) -> tuple[dict[str, str], ListJobsQuery, str]:
    params: dict[str, str] = {}
    parts = []
    if combo.domain:
        params["domain"] = combo.domain
        parts.append(f"domain={combo.domain}")
    if combo.status:
        params["status"] = combo.status.value
        parts.append(f"status={combo.status.value}")
    if combo.job_type:
        params["type"] = combo.job_type.value
        parts.append(f"type={combo.job_type.value}")
    if combo.recipient:
        params["recipient"] = combo.recipient
        parts.append("recipient")
    if combo.bulk:
        params["bulk_id"] = seeded.bulk_id
        parts.append("bulk_id")
    after, before = seeded.window
    if combo.window:
        params["created_after"] = after.isoformat()
        params["created_before"] = before.isoformat()
        parts.append("created range")
    query = ListJobsQuery(
        domain=combo.domain,
        status=combo.status,
        type=combo.job_type,
        recipient=combo.recipient,
        bulk_id=seeded.bulk_id if combo.bulk else None,
        created_after=params.get("created_after"),
        created_before=params.get("created_before"),
    )
    return params, query, ", ".join(parts) or "none"


def measure(bench: BenchStack, *, total: int, limit: int, pages: int, alone: bool = True) -> ListCosts:
    seeded = seed(bench, total)
    tokens = {
        "one domain": bench.token([LIST_DOMAINS[0]]),
        "two domains": bench.token(list(LIST_DOMAINS)),
        "every domain (*)": bench.token(["*"]),
    }
    callers = {
        "one domain": Caller(subject="bench", domains=frozenset({LIST_DOMAINS[0]})),
        "two domains": Caller(subject="bench", domains=frozenset(LIST_DOMAINS)),
        "every domain (*)": Caller(subject="bench", every_domain=True),
    }
    table = JobsTable(bench.dynamodb, bench.jobs_table)
    rows: list[ListCost] = []
    for combo in combinations():
        params, query, filters = _describe(combo, seeded)
        params["limit"] = str(limit)
        partitions = plan(query, callers[combo.caller], bulks=table).partitions
        before = bench.observer.snapshot()
        returned, read_pages = 0, 0
        error = ""
        for _ in range(pages):
            try:
                page = bench.list_page(tokens[combo.caller], params)
            except BenchError as exc:  # shown in the figure, not the end of the run
                error = f"the page failed: {str(exc)[:80]}"
                break
            returned += len(page["items"])
            read_pages += 1
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        after = bench.observer.snapshot()
        items_read = after.items_read - before.items_read
        fetched = after.jobs_fetched - before.jobs_fetched
        ratio = items_read / returned if returned else 0.0
        fetch_ratio = fetched / returned if returned else 0.0
        rows.append(
            ListCost(
                caller=combo.caller,
                filters=filters,
                indexes=" + ".join(sorted({p.index_name for p in partitions})) or "none (nothing to read)",
                partitions=len(partitions),
                pages=read_pages,
                queries=after.queries - before.queries,
                items_read=items_read,
                jobs_fetched=fetched,
                items_returned=returned,
                read_units=after.read_units - before.read_units,
                bound=error or bound(partitions, combo, ratio, fetch_ratio),
            )
        )
    failed = seeded.statuses.get(JobStatus.FAILED.value, 0)
    return ListCosts(
        jobs=total,
        failed=failed,
        limit=limit,
        rows=rows,
        statuses=seeded.statuses,
        bulk_size=seeded.bulk_size,
        alone=alone,
    )


# ---------------------------------------------------------------- its part of the page
def summary_rows(lists: ListCosts) -> list[SummaryRow]:
    """Figure 3's rows of the summary: the worst ratio of one partition and of a merge."""
    rows: list[SummaryRow] = []
    single = [row for row in lists.rows if row.partitions == 1]
    merged = [row for row in lists.rows if row.partitions > 1]
    for label, group in (("one index partition", single), ("several partitions, merged", merged)):
        if group:
            worst = max(group, key=lambda row: row.ratio)
            rows.append(
                SummaryRow(
                    "3. List cost",
                    f"items read ÷ returned, {label} (worst: {worst.caller}, {worst.filters})",
                    f"{worst.ratio:.2f}",
                    "1",
                    worst.ratio,
                )
            )
    return rows


def notes(lists: ListCosts) -> list[str]:
    """Figure 3's notes of "Far from the minimum, and why"."""
    found: list[str] = []
    failed_lists = [row for row in lists.rows if row.bound.startswith("the page failed")]
    if failed_lists:
        found.append(
            "- **List pages that failed**: "
            + "; ".join(f"{row.caller}, {row.filters}: {row.bound}" for row in failed_lists)
            + " (figure 3)."
        )
    far_lists = [row for row in lists.rows if row.ratio > NEAR]
    single = [row for row in far_lists if row.partitions == 1]
    if far_lists:
        worst = max(far_lists, key=lambda row: row.ratio)
        found.append(
            f"- **List cost**: {len(far_lists)} of {len(lists.rows)} filter combinations read more than 1.1"
            f" entries per row returned ({len(single)} of them from one partition); the worst, {worst.ratio:.2f}"
            f" ({worst.caller}, {worst.filters}), is bounded by: {worst.bound}. Each figure's bound is in figure 3."
        )
    return found


def section(lists: ListCosts) -> str:
    rows = [
        [
            row.caller,
            row.filters,
            f"{row.indexes} x{row.partitions}",
            number(row.pages),
            number(row.queries),
            number(row.items_read),
            number(row.jobs_fetched),
            number(row.items_returned),
            f"**{row.ratio:.2f}**" if row.ratio > NEAR else f"{row.ratio:.2f}",
            f"{row.fetch_ratio:.2f}",
            f"{row.read_units / row.pages:.1f}" if row.pages else "—",
            row.bound,
        ]
        for row in lists.rows
    ]
    limit = lists.limit
    mix = ", ".join(f"{status} {n:,}" for status, n in sorted(lists.statuses.items(), key=lambda kv: -kv[1]))
    near = sum(1 for row in lists.rows if max(row.ratio, row.fetch_ratio) <= NEAR)
    unbounded = [row for row in lists.rows if row.bound == "none identified"]
    return "\n".join(
        [
            "## 3. List cost",
            "",
            f"{lists.jobs:,} jobs over two domains and every type ({mix}; docs/storage.md section 12's mix),",
            f"one recipient receiving 2% of them, and a bulk send of {lists.bulk_size:,} still draining (45%",
            f"`queued`), read through `GET /jobs` with `limit={limit}`, up to"
            f" {max(row.pages for row in lists.rows)} pages per combination. Entries read are the",
            "`ScannedCount` of each Query the list function made on a listing index; jobs fetched, the job items",
            "its `BatchGetItem` returned; read units, both priced (a Query per started 4 KB of what it read, a",
            "fetched item per 4 KB, halved: eventually consistent), per page. The request log holds requests,",
            "not responses, so these come from the function's SDK client.",
            (
                "Figure 3 was measured alone (`python -m benchmarks --figure 3`), on a table of its own jobs"
                if lists.alone
                else "Figure 3 runs second, after figure 1 (whose jobs, of `acme.com`, share the table: only the"
                " every-domain rows can read them; `python -m benchmarks --figure 3` measures it alone)"
            )
            + " (moto's Query reads its whole table, so the other figures' jobs would only slow it down).",
            "The index column names the plan's partitions or ranges (`common.logic.listing.plan`).",
            "",
            table(
                [
                    "caller",
                    "filters",
                    "index x partitions",
                    "pages",
                    "Query calls",
                    "entries read",
                    "jobs fetched",
                    "returned",
                    "read ÷ returned",
                    "fetched ÷ returned",
                    "RRU / page",
                    "bound (above 1.1)",
                ],
                rows,
            ),
            "",
            f"{near} of {len(lists.rows)} combinations read at most 1.1 entries and fetch at most 1.1 jobs per",
            "row returned. A page reads one entry more than it returns (the look-ahead that makes the last",
            "page's `next_cursor` null). What bounds the others, as the last column says (docs/storage.md,",
            "section 8): a merge over n ranges (a caller's domains, a domain's 4 or 8 shards, the 5 types of a",
            "recipient's or of an exact status's partitions, `*`'s 16 shards per type) reads ⌈(limit + 1) ÷ n⌉",
            "entries from each, then no more than the rows still wanted from those that may hold the next row:",
            "at most limit + 1 + n x ⌈(limit + 1) ÷ n⌉ a page, whatever the table holds. A status that has no",
            "partition of its own (`queued`, `sending`, `sent` over the domain's `InFlight` shards; `delivered`,",
            "and a `*` caller's in-flight statuses, over the immutable indexes) is checked on the job, its reads",
            "doubling from Query to Query, within the page's budget: a page that reaches it returns what it found",
            "and a cursor below the last entry read. `status` with `bulk_id` is checked on `ByBulk`'s projected",
            "status, within the bulk's ≤ 1,000 entries."
            + (
                " Above 1.1 with no bound named: "
                + "; ".join(f"{row.caller}, {row.filters} ({row.ratio:.2f})" for row in unbounded)
                + "."
                if unbounded
                else ""
            ),
            "",
        ]
    )
