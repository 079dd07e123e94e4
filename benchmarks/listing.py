"""Figure 3: what a page of the log costs the user who waits for it, for every
filter combination the page offers, for a caller of every domain (``*``) and
a caller of one domain.

Jobs are written straight into the jobs table (through ``local.jobs_table``, as
the service writes them, index keys by status included) with a realistic mix
of statuses (docs/storage.md section 12: 96% delivered, 2% bounced, 1%
failed, 0.1% complained, the rest spread over the other statuses), one
recipient who gets 2% of the mail, and a bulk send of its own still draining;
then the log is read through the HTTP API, page by page. For each page: the
DynamoDB requests the list function made (every one, whatever its kind, seen
in its SDK client's responses) and the items they read (a Query's scanned
items, a get's returned ones); items returned are the rows of the pages.
Nothing here reads the service's query plan: a page is measured as the user
gets it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from benchmarks.harness import BenchError, BenchStack
from benchmarks.page import SummaryRow, number, table
from common.adapters.bulks import BulkItem
from common.models.clock import utc_now
from common.models.job import AttemptLogEntry, AttemptOutcome, Job, JobStatus, JobType, new_job_id
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
REST = tuple(status for status in JobStatus if status not in {s for s, _ in MIX})
# A bulk send draining: most of it still queued.
BULK_MIX = ((JobStatus.DELIVERED, 0.40), (JobStatus.SENT, 0.10), (JobStatus.SENDING, 0.05), (JobStatus.QUEUED, 0.45))
GOAL_REQUESTS = 20  # DynamoDB requests per page (issue #28)
GOAL_ITEMS_PER_ROW = 2.0  # items read per row returned
HEADLINE = "list requests per page, worst combination"


@dataclass(frozen=True)
class ListCost:
    caller: str
    filters: str
    pages: int
    requests: int  # DynamoDB requests, all pages
    most_requests: int  # DynamoDB requests of the page that made most
    items_read: int  # items those requests read
    items_returned: int
    read_units: float
    indexes: str  # the indexes its Queries read, with how many Queries each
    error: str = ""

    @property
    def items_per_row(self) -> float:
        """Items read per row returned (with no row returned: the items read)."""
        return self.items_read / self.items_returned if self.items_returned else float(self.items_read)

    @property
    def within(self) -> bool:
        return not self.error and self.most_requests <= GOAL_REQUESTS and self.items_per_row <= GOAL_ITEMS_PER_ROW


@dataclass(frozen=True)
class ListCosts:
    jobs: int
    failed: int
    limit: int
    rows: list[ListCost]
    statuses: dict[str, int]
    bulk_size: int
    alone: bool = True  # False: after figure 1, whose jobs share the table

    @property
    def worst(self) -> ListCost | None:
        return max(self.rows, key=lambda row: (row.most_requests, row.items_per_row), default=None)

    @property
    def worst_items(self) -> ListCost | None:
        return max(self.rows, key=lambda row: row.items_per_row, default=None)


# Statuses no index holds exactly: a page of one checks it on fetched jobs (docs/storage.md, section 8).
CHECKED_ON_JOBS = frozenset({JobStatus.QUEUED, JobStatus.SENDING, JobStatus.SENT, JobStatus.DELIVERED})
_STATUS = re.compile(r"\bstatus=(\w+)")
CAUSES = {
    "checked": "a status no index holds exactly (queued, sending, sent, delivered), checked on fetched jobs",
    "bulk": "a status checked on a bulk send's projected entries",
    "keys": "rows from keys-only indexes, each an entry and a fetched job, with the merge's over-read",
}


def cause(row: ListCost) -> str:
    """Why a combination's page reads what it reads: a key of ``CAUSES``."""
    found = _STATUS.search(row.filters)
    if found and "bulk_id" in row.filters:
        return "bulk"
    if found and JobStatus(found.group(1)) in CHECKED_ON_JOBS:
        return "checked"
    return "keys"


def over_by_cause(lists: ListCosts) -> list[tuple[str, list[ListCost]]]:
    """The combinations over the goal, grouped by ``cause``, in ``CAUSES``' order, each group worst first."""
    groups: dict[str, list[ListCost]] = {}
    for row in lists.rows:
        if not row.within and not row.error:
            groups.setdefault(cause(row), []).append(row)
    return [
        (key, sorted(groups[key], key=lambda r: (-r.most_requests, -r.items_per_row)))
        for key in CAUSES
        if key in groups
    ]


def printed_line(lists: ListCosts) -> str:
    """``list requests per page, worst combination: N`` (issue #28's wording)."""
    worst = lists.worst
    return f"{HEADLINE}: {worst.most_requests if worst else 0}"


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


CALLERS = ("one domain", "every domain (*)")


def combinations() -> list[Combination]:
    """For each caller, every combination of the page's filters: each status (or none), a
    type (or none), a recipient (or none); a one-domain caller's page has its domain chosen,
    a ``*`` caller's none, and once the domain typed in. Then what only the API offers:
    ``bulk_id`` and a created range."""
    statuses: list[JobStatus | None] = [None, *JobStatus]
    combos: list[Combination] = []
    for caller in CALLERS:
        domain = LIST_DOMAINS[0] if caller == "one domain" else None
        for status in statuses:
            for job_type in (None, JobType.MANUAL):
                for recipient in (None, FREQUENT):
                    combos.append(Combination(caller, domain, status, job_type, recipient))
    combos.append(Combination("every domain (*)", LIST_DOMAINS[0]))
    for caller in CALLERS:
        domain = LIST_DOMAINS[0] if caller == "one domain" else None
        for status in (None, JobStatus.QUEUED):
            combos.append(Combination(caller, domain, status, bulk=True))
        for status in (None, JobStatus.DELIVERED):
            combos.append(Combination(caller, domain, status, window=True))
    return combos


def _describe(combo: Combination, seeded: Seeded) -> tuple[dict[str, str], str]:
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
    return params, ", ".join(parts) or "none"


def _indexes(used: Counter[str]) -> str:
    return ", ".join(f"{name or 'table'} x{n}" for name, n in sorted(used.items())) or "—"


def measure(bench: BenchStack, *, total: int, limit: int, pages: int, alone: bool = True) -> ListCosts:
    seeded = seed(bench, total)
    tokens = {"one domain": bench.token([LIST_DOMAINS[0]]), "every domain (*)": bench.token(["*"])}
    observer = bench.observer
    rows: list[ListCost] = []
    for combo in combinations():
        params, filters = _describe(combo, seeded)
        params["limit"] = str(limit)
        first, indexes_before = observer.snapshot(), observer.indexes()
        returned, read_pages, most = 0, 0, 0
        error = ""
        for _ in range(pages):
            before = observer.snapshot()
            try:
                page = bench.list_page(tokens[combo.caller], params)
            except BenchError as exc:  # shown in the figure, not the end of the run
                error = f"the page failed: {str(exc)[:80]}"
                break
            most = max(most, observer.snapshot().dynamodb_requests - before.dynamodb_requests)
            returned += len(page["items"])
            read_pages += 1
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        last = observer.snapshot()
        rows.append(
            ListCost(
                caller=combo.caller,
                filters=filters,
                pages=read_pages,
                requests=last.dynamodb_requests - first.dynamodb_requests,
                most_requests=most,
                items_read=last.dynamodb_items - first.dynamodb_items,
                items_returned=returned,
                read_units=last.read_units - first.read_units,
                indexes=_indexes(observer.indexes() - indexes_before),
                error=error,
            )
        )
    return ListCosts(
        jobs=total,
        failed=seeded.statuses.get(JobStatus.FAILED.value, 0),
        limit=limit,
        rows=rows,
        statuses=seeded.statuses,
        bulk_size=seeded.bulk_size,
        alone=alone,
    )


# ---------------------------------------------------------------- its part of the page
def summary_rows(lists: ListCosts) -> list[SummaryRow]:
    """Figure 3's rows of the summary: the worst page in requests, and in items read per row."""
    rows: list[SummaryRow] = []
    worst, items = lists.worst, lists.worst_items
    if worst is not None:
        rows.append(
            SummaryRow(
                "3. List cost",
                f"DynamoDB requests of a page, worst ({worst.caller}, {worst.filters})",
                number(worst.most_requests),
                f"goal ≤ {GOAL_REQUESTS}",
                worst.most_requests / GOAL_REQUESTS,
            )
        )
    if items is not None:
        rows.append(
            SummaryRow(
                "3. List cost",
                f"items read per row returned, worst ({items.caller}, {items.filters})",
                f"{items.items_per_row:.2f}",
                f"goal ≤ {GOAL_ITEMS_PER_ROW:.0f}",
                items.items_per_row / GOAL_ITEMS_PER_ROW,
            )
        )
    return rows


def notes(lists: ListCosts) -> list[str]:
    """Figure 3's notes of "Far from the minimum, and why"."""
    found: list[str] = []
    failed_lists = [row for row in lists.rows if row.error]
    if failed_lists:
        found.append(
            "- **List pages that failed**: "
            + "; ".join(f"{row.caller}, {row.filters}: {row.error}" for row in failed_lists)
            + " (figure 3)."
        )
    over = [row for row in lists.rows if not row.within and not row.error]
    if over:
        worst = lists.worst
        assert worst is not None
        found.append(
            f"- **List cost**: {len(over)} of {len(lists.rows)} filter combinations need more than {GOAL_REQUESTS}"
            f" DynamoDB requests for a page or read more than {GOAL_ITEMS_PER_ROW:.0f} items per row returned; the"
            f" worst page made {worst.most_requests} requests ({worst.caller}, {worst.filters}), reading"
            f" {worst.items_per_row:.1f} items per row. What stops them: "
            + "; ".join(
                f"{CAUSES[key]}: {len(rows)} (worst {rows[0].most_requests} requests, {rows[0].caller},"
                f" {rows[0].filters}; up to {max(r.items_per_row for r in rows):.2f} items a row)"
                for key, rows in over_by_cause(lists)
            )
            + ". What meeting the goal would cost in write units is in docs/storage.md, section 13."
            " Each combination is in figure 3."
        )
    return found


def section(lists: ListCosts) -> str:
    rows = [
        [
            row.caller,
            row.filters,
            number(row.pages),
            f"**{row.most_requests}**" if row.most_requests > GOAL_REQUESTS else str(row.most_requests),
            number(row.requests),
            number(row.items_read),
            number(row.items_returned),
            f"**{row.items_per_row:.2f}**" if row.items_per_row > GOAL_ITEMS_PER_ROW else f"{row.items_per_row:.2f}",
            f"{row.read_units / row.pages:.1f}" if row.pages else "—",
            row.indexes,
            row.error,
        ]
        for row in lists.rows
    ]
    limit = lists.limit
    mix = ", ".join(f"{status} {n:,}" for status, n in sorted(lists.statuses.items(), key=lambda kv: -kv[1]))
    within = sum(1 for row in lists.rows if row.within)
    worst = lists.worst
    met = within == len(lists.rows)
    verdict = (
        f"Goal: every combination answers a page in at most {GOAL_REQUESTS} DynamoDB requests, reading at most"
        f" {GOAL_ITEMS_PER_ROW:.0f} items per row returned: {within} of {len(lists.rows)} do, "
        + ("**met**." if met else "**not met**.")
    )
    return "\n".join(
        [
            "## 3. List cost",
            "",
            f"{lists.jobs:,} jobs over two domains and every type ({mix}; docs/storage.md section 12's mix),",
            f"one recipient receiving 2% of them, and a bulk send of {lists.bulk_size:,} still draining (45%",
            f"`queued`), read through `GET /jobs` with `limit={limit}` (the page's own), up to"
            f" {max((row.pages for row in lists.rows), default=0)} pages per combination, by a caller of one domain",
            "and a caller of every domain (`*`). The combinations are the page's filters (Domain; Status, each",
            "status or none; Type, one type or none; Recipient, an address or none), the `*` caller once with a",
            "domain typed in, and what only the API offers (`bulk_id`, a created range). For each page: the DynamoDB",
            "requests the list function made, all of them (Queries, gets, whatever the code makes), and the",
            "items they read (each Query's scanned items, each get's returned items); read units price them (a",
            "Query per started 4 KB of what it read, a fetched item per 4 KB, halved: eventually consistent).",
            "They come from the function's SDK client's responses; nothing reads the service's query plan. A",
            "page that returns fewer rows than asked still counts: the user waited for it. The last column names",
            "the indexes each combination's Queries read (docs/storage.md, section 8, has each plan): the exact",
            "status indexes and `ByBulk` hold the rows themselves, the others keys, whose jobs a `BatchGetItem`",
            "then reads; a status checked on the jobs (`queued`, `sending`, `sent`, `delivered`) reads about",
            "1 ÷ its share among the jobs it passes.",
            (
                "Figure 3 was measured alone (`python -m benchmarks --figure 3`), on a table of its own jobs"
                if lists.alone
                else "Figure 3 runs second, after figure 1 (whose jobs, of `acme.com`, share the table: only the"
                " every-domain rows can read them; `python -m benchmarks --figure 3` measures it alone)"
            )
            + " (moto's Query reads its whole table, so the other figures' jobs would only slow it down).",
            "",
            table(
                [
                    "caller",
                    "filters",
                    "pages",
                    "requests, worst page",
                    "requests, all pages",
                    "items read",
                    "rows returned",
                    "items read ÷ rows",
                    "RRU / page",
                    "Queries by index",
                    "failed",
                ],
                rows,
            ),
            "",
            verdict
            + (
                f" The worst page: {worst.most_requests} requests ({worst.caller}, {worst.filters})."
                if worst is not None
                else ""
            ),
            "",
            "```",
            printed_line(lists),
            "```",
            "",
        ]
    )
