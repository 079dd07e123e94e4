"""Figure 3: what a page of the log costs, for every filter combination.

Jobs are written straight into the jobs table (through ``common.jobs``, as
the service writes them) with 1% of them ``failed``; then the log is read
through the HTTP API, page by page. Items read are the ``ScannedCount`` of
every Query the list function makes on a listing index (seen in its SDK
client's responses); items returned are the rows of the page.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from benchmarks.harness import BenchStack
from common.api_models import Caller, ListJobsQuery
from common.clock import utc_now
from common.jobs import JobsTable
from common.listing import plan
from common.models import AttemptLogEntry, AttemptOutcome, Job, JobStatus, JobType, new_job_id

LIST_DOMAINS = ("list-a.example", "list-b.example")
FAILED_SHARE = 0.01
_SEED = 20261123


@dataclass(frozen=True)
class ListCost:
    caller: str
    filters: str
    indexes: str
    pages: int
    queries: int
    items_read: int
    items_returned: int

    @property
    def ratio(self) -> float:
        return self.items_read / self.items_returned if self.items_returned else 0.0


@dataclass(frozen=True)
class ListCosts:
    jobs: int
    failed: int
    limit: int
    rows: list[ListCost]


def seed(bench: BenchStack, total: int) -> int:
    """``total`` finished jobs over the two list domains and every type; returns how many failed."""
    rng = random.Random(_SEED)
    table = JobsTable(bench.dynamodb, bench.jobs_table)
    start = utc_now() - timedelta(days=1)
    failed = 0
    chunk: list[Job] = []
    for i in range(total):
        created = start + timedelta(milliseconds=7 * i)
        job_id, created_at = new_job_id(created)
        is_failed = rng.random() < FAILED_SHARE
        failed += is_failed
        outcome = AttemptOutcome.FAILED if is_failed else AttemptOutcome.SENT
        error = "MessageRejected: SES rejected the message" if is_failed else None
        chunk.append(
            Job(
                job_id=job_id,
                created_at=created_at,
                domain=rng.choice(LIST_DOMAINS),
                type=rng.choice(list(JobType)),
                recipient=f"reader{i}@example.org",
                subject=f"Message {i}",
                status=JobStatus.FAILED if is_failed else JobStatus.SENT,
                attempts=1,
                sent_at=None if is_failed else created_at + timedelta(seconds=1),
                error=error,
                body=job_id,  # listing reads no body: none is stored
                attempt_log=[AttemptLogEntry(at=created_at + timedelta(seconds=1), outcome=outcome, error=error)],
            )
        )
        if len(chunk) == 500:
            table.put_new(chunk, due_at=0)
            chunk = []
    if chunk:
        table.put_new(chunk, due_at=0)
    return failed


def _combinations() -> list[tuple[str, str | None, JobStatus | None, JobType | None]]:
    """(caller, domain filter, status, type): every filter combination, for a
    caller of one domain, of two domains (merged), and of every domain."""
    combos: list[tuple[str, str | None, JobStatus | None, JobType | None]] = []
    for status in (None, JobStatus.FAILED):
        for job_type in (None, JobType.ESCALATION):
            combos.append(("two domains", LIST_DOMAINS[0], status, job_type))
            combos.append(("two domains", None, status, job_type))
            combos.append(("every domain (*)", None, status, job_type))
    return combos


def measure(bench: BenchStack, *, total: int, limit: int, pages: int) -> ListCosts:
    failed = seed(bench, total)
    tokens = {"two domains": bench.token(list(LIST_DOMAINS)), "every domain (*)": bench.token(["*"])}
    rows: list[ListCost] = []
    for caller, domain, status, job_type in _combinations():
        params = {"limit": str(limit)}
        if domain:
            params["domain"] = domain
        if status:
            params["status"] = status.value
        if job_type:
            params["type"] = job_type.value
        who = (
            Caller(subject="bench", every_domain=True)
            if caller == "every domain (*)"
            else Caller(subject="bench", domains=frozenset(LIST_DOMAINS))
        )
        query = ListJobsQuery(domain=domain, status=status, type=job_type)
        partitions = plan(query, who, jobs=JobsTable(bench.dynamodb, bench.jobs_table)).partitions
        before = bench.observer.snapshot()
        returned, read_pages = 0, 0
        for _ in range(pages):
            page = bench.list_page(tokens[caller], params)
            returned += len(page["items"])
            read_pages += 1
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        after = bench.observer.snapshot()
        filters = ", ".join(
            part
            for part in (
                f"domain={domain}" if domain else "all the caller's domains",
                f"status={status.value}" if status else "",
                f"type={job_type.value}" if job_type else "",
            )
            if part
        )
        rows.append(
            ListCost(
                caller=caller,
                filters=filters,
                indexes=" + ".join(sorted({p.index for p in partitions})) + f" x{len(partitions)}",
                pages=read_pages,
                queries=after.queries - before.queries,
                items_read=after.items_read - before.items_read,
                items_returned=returned,
            )
        )
    return ListCosts(jobs=total, failed=failed, limit=limit, rows=rows)
