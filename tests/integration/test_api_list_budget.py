"""A page's work is bounded whatever the table holds (docs/storage.md, section 8).

Listings whose partitions hold jobs that do not match (``queued``, ``sending``,
``sent`` over ``InFlight``; ``delivered``; a ``*`` caller's in-flight statuses)
read on until the page is full, within ``PAGE_ENTRY_BUDGET`` index entries and
``PAGE_REQUEST_BUDGET`` DynamoDB requests (Queries and BatchGetItems); a
page that reaches the budget returns what it found and a cursor below the last
entry read, and paging on still returns every matching job once, newest first.
Here the entry budget is made small, so that a few hundred jobs stand for the
millions it is meant for.
"""

from __future__ import annotations

from typing import Any

import pytest

from common.logic import listing
from common.models.job import Job, JobStatus, JobType
from local.template import Stack
from tests.integration.api_support import Admin, jobs_table, make_job, page_ids, spread

BUDGET = 60  # index entries per page, for this test
LIMIT = 10


class Counted:
    """The DynamoDB requests of the list function's client, and the entries its Queries read."""

    def __init__(self) -> None:
        self.requests = 0
        self.entries = 0

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests += 1
        if model.name == "Query":
            self.entries += int(parsed.get("ScannedCount", 0))

    def take(self) -> tuple[int, int]:
        taken = (self.requests, self.entries)
        self.requests = self.entries = 0
        return taken


@pytest.fixture
def counted(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Counted:
    from common.adapters import aws

    monkeypatch.setattr(listing, "PAGE_ENTRY_BUDGET", BUDGET)
    counter = Counted()
    aws.dynamodb().meta.events.register("after-call.dynamodb", counter.after)
    return counter


@pytest.fixture
def crowded(stack: Stack) -> list[Job]:
    """200 sent jobs of acme.com awaiting their delivery events (in flight), with
    four queued ones among them, and 30 delivered jobs of beta.io."""
    times = spread(234)
    jobs = []
    for i, at in enumerate(times[:204]):
        status = JobStatus.QUEUED if i % 51 == 7 else JobStatus.SENT
        jobs.append(make_job("acme.com", job_type=JobType.ESCALATION, status=status, at=at))
    jobs += [make_job("beta.io", status=JobStatus.DELIVERED, at=at) for at in times[204:]]
    jobs_table().put_new(jobs, due_at=0)
    return jobs


def newest_first(jobs: list[Job], status: JobStatus) -> list[str]:
    return sorted((job.job_id for job in jobs if job.status is status), reverse=True)


@pytest.mark.parametrize(
    ("domains", "query"),
    [
        ("acme.com", {"domain": "acme.com", "status": "queued"}),  # InFlight, the status checked
        ("*", {"status": "queued"}),  # a * caller's in-flight status
        ("*", {"status": "queued", "type": "escalation"}),
    ],
    ids=["domain-queued", "every-domain-queued", "every-domain-queued-escalation"],
)
def test_a_sparse_status_is_paged_within_the_budget(
    lambda_context: Any, crowded: list[Job], counted: Counted, domains: str, query: dict[str, str]
) -> None:
    admin = Admin(lambda_context, domains=domains)
    replies = [admin.list_jobs(limit=LIMIT, **query)]
    reads = [counted.take()]
    while replies[-1].body["next_cursor"]:
        assert len(replies) < 40, "paging does not end"
        replies.append(admin.list_jobs(limit=LIMIT, cursor=replies[-1].body["next_cursor"], **query))
        reads.append(counted.take())
    assert all(reply.status == 200 for reply in replies)
    # Every queued job once, newest first, though 200 sent jobs lie among them.
    assert page_ids(replies) == newest_first(crowded, JobStatus.QUEUED)
    # No page made more requests than the budget, nor read more entries than the
    # budget and the last Query's batch past it.
    for requests, entries in reads:
        assert requests <= listing.PAGE_REQUEST_BUDGET
        assert entries <= 80 + 3 * BUDGET  # the batches double from a few entries: far below MAX_QUERY_LIMIT
    assert len(replies) > 1  # the budget was reached: the 200 jobs are more than a page may read


def test_an_exact_listing_is_never_cut_short(lambda_context: Any, crowded: list[Job], counted: Counted) -> None:
    """Every entry of an exact source is a row: a page of ``limit`` reads about
    ``limit + 1`` entries, so the budget never cuts it; pages are full but the last."""
    admin = Admin(lambda_context, domains="beta.io")
    replies = admin.pages(limit=LIMIT, domain="beta.io")
    assert [len(reply.body["items"]) for reply in replies] == [10, 10, 10]
    assert page_ids(replies) == newest_first(crowded, JobStatus.DELIVERED)


class HurriedContext:
    """A Lambda context with 5 s left: less than a page keeps in hand."""

    function_name = "ListJobsFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:list"
    aws_request_id = "hurried"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 5_000


def test_a_page_short_of_time_stops_after_its_first_round(stack: Stack, crowded: list[Job]) -> None:
    """Past the first Query of each range a page reads nothing more once the
    function runs short of time; paging on still returns every job once."""
    admin = Admin(HurriedContext(), domains="acme.com")
    replies = admin.pages(limit=LIMIT, domain="acme.com", status="queued")
    assert all(reply.status == 200 for reply in replies)
    assert page_ids(replies) == newest_first(crowded, JobStatus.QUEUED)
    assert len(replies) > 2  # 8 ranges of 2 entries a page, 200 in-flight jobs: many pages
