"""Figure 3's combinations and its goal (the pages are measured in the smoke run)."""

from __future__ import annotations

from benchmarks import listing
from benchmarks.listing import FREQUENT, LIST_DOMAINS, ListCost, ListCosts
from common.models.job import JobStatus, JobType


def _row(caller: str, filters: str, most: int, read: int, returned: int, *, error: str = "") -> ListCost:
    return ListCost(caller, filters, 1, most, most, read, returned, 1.0, "ByDomain x1", error)


def test_every_status_type_and_recipient_filter_is_measured_for_a_star_and_a_one_domain_caller() -> None:
    combos = listing.combinations()

    for caller in ("one domain", "every domain (*)"):
        mine = [c for c in combos if c.caller == caller and not c.bulk and not c.window]
        for status in [None, *JobStatus]:
            for job_type in (None, JobType.MANUAL):
                for recipient in (None, FREQUENT):
                    assert any((c.status, c.job_type, c.recipient) == (status, job_type, recipient) for c in mine), (
                        caller,
                        status,
                        job_type,
                        recipient,
                    )
    # A one-domain caller's page has its domain chosen; a * caller's none, and once a domain typed in
    assert all(c.domain == LIST_DOMAINS[0] for c in combos if c.caller == "one domain")
    star = [c for c in combos if c.caller == "every domain (*)"]
    assert [c.domain for c in star].count(LIST_DOMAINS[0]) == 1
    # What only the API offers, for both callers
    assert {c.caller for c in combos if c.bulk} == {c.caller for c in combos if c.window} == set(listing.CALLERS)


def test_a_combination_is_within_the_goal_at_20_requests_and_2_items_per_row() -> None:
    assert _row("one domain", "a", 20, 100, 50).within
    assert not _row("one domain", "b", 21, 100, 50).within
    assert not _row("one domain", "c", 5, 101, 50).within
    # No row returned: the items read count whole
    assert _row("one domain", "d", 3, 2, 0).items_per_row == 2.0
    assert not _row("one domain", "e", 1, 1, 1, error="the page failed: 500").within


def test_the_printed_line_is_the_worst_page_in_requests() -> None:
    lists = ListCosts(
        jobs=10,
        failed=0,
        limit=5,
        rows=[_row("one domain", "a", 4, 5, 5), _row("every domain (*)", "status=sent", 130, 900, 5)],
        statuses={"sent": 10},
        bulk_size=0,
    )

    assert listing.printed_line(lists) == "list requests per page, worst combination: 130"
    (requests, items) = listing.summary_rows(lists)
    assert requests.ratio == 130 / 20 and "status=sent" in requests.what
    assert items.measured == "180.00"
    assert "**not met**" in listing.section(lists)


def test_figure_3_says_whether_it_was_measured_alone_or_after_figure_1() -> None:
    def lists(*, alone: bool) -> ListCosts:
        row = _row("one domain", "domain=a.example", 4, 5, 5)
        return ListCosts(jobs=10, failed=0, limit=5, rows=[row], statuses={"sent": 10}, bulk_size=0, alone=alone)

    assert "measured alone (`python -m benchmarks --figure 3`), on a table of its own jobs" in listing.section(
        lists(alone=True)
    )
    assert "after figure 1" not in listing.section(lists(alone=True))
    assert "Figure 3 runs second, after figure 1" in listing.section(lists(alone=False))


def test_the_notes_group_the_combinations_over_the_goal_by_what_stops_them() -> None:
    lists = ListCosts(
        jobs=10,
        failed=0,
        limit=5,
        rows=[
            _row("one domain", "domain=a, status=failed", 5, 5, 5),  # within
            _row("every domain (*)", "status=sending", 147, 900, 5),
            _row("one domain", "domain=a, status=delivered, type=manual", 18, 30, 5),
            _row("one domain", "domain=a", 15, 13, 5),
            _row("every domain (*)", "status=queued, bulk_id", 9, 20, 5),
        ],
        statuses={"sent": 10},
        bulk_size=0,
    )

    groups = dict(listing.over_by_cause(lists))
    assert [r.filters for r in groups["checked"]] == ["status=sending", "domain=a, status=delivered, type=manual"]
    assert [r.filters for r in groups["keys"]] == ["domain=a"]
    assert [r.filters for r in groups["bulk"]] == ["status=queued, bulk_id"]
    (note,) = listing.notes(lists)
    assert "checked on fetched jobs: 2 (worst 147 requests, every domain (*), status=sending; up to 180.00" in note
    assert "with the merge's over-read: 1 (worst 15 requests, one domain, domain=a; up to 2.60 items a row)" in note
    assert "docs/storage.md, section 13" in note
