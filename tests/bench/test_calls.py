"""Figure 1's minimums, figure 3's setting, figure 8's summary row (the measurements run in the smoke run)."""

from __future__ import annotations

from benchmarks.calls import BATCH_GET, DELETE, PUT_EVENTS, RECEIVE, SEND, UPDATE, EventsResult, WorkerResult
from benchmarks.cancel import GATEWAY_SECONDS, CancelCost, summary_row
from benchmarks.listing import ListCost, ListCosts
from benchmarks.listing import section as list_section


def test_the_worker_reads_bodies_and_suppression_entries_once_per_batch_of_ten() -> None:
    worker = WorkerResult(emails=203, calls={}, empty_polls=0, invocations=21)

    assert worker.minimum == {UPDATE: 406, SEND: 203, RECEIVE: 21, DELETE: 21, BATCH_GET: 42}


def test_a_delivery_event_costs_one_write_and_its_queue_goes_by_ten() -> None:
    events = EventsResult(emails=203, calls={UPDATE: 203}, not_ours={PUT_EVENTS: 203}, empty_polls=0)

    assert events.minimum == {UPDATE: 203, RECEIVE: 21, DELETE: 21}


def test_events_of_two_rounds_add_up_and_ses_s_calls_stay_apart() -> None:
    one = EventsResult(emails=3, calls={UPDATE: 3, RECEIVE: 1}, not_ours={PUT_EVENTS: 3}, empty_polls=2)
    two = EventsResult(emails=12, calls={UPDATE: 12, DELETE: 2}, not_ours={PUT_EVENTS: 12}, empty_polls=1)

    both = one + two

    assert (both.emails, both.empty_polls) == (15, 3)
    assert both.calls == {UPDATE: 15, RECEIVE: 1, DELETE: 2}
    assert both.not_ours == {PUT_EVENTS: 15}
    assert both.minimum == {UPDATE: 15, RECEIVE: 2, DELETE: 2}


def test_figure_8_s_summary_row_sets_the_request_against_the_gateway_s_limit() -> None:
    cost = CancelCost(jobs=1000, canceled_in_request=600, pending=400, request_seconds=8.7, total_seconds=14.0)

    row = summary_row(cost)

    assert row.figure == "8. Cancel"
    assert "1,000" in row.what
    assert row.measured == "8.7 s"
    assert row.ratio == 8.7 / GATEWAY_SECONDS


def test_figure_3_says_whether_it_was_measured_alone_or_after_figure_1() -> None:
    def lists(*, alone: bool) -> ListCosts:
        row = ListCost("one domain", "domain=a.example", "ByDomain", 4, 1, 4, 5, 5, 5, 2.0, "")
        return ListCosts(jobs=10, failed=0, limit=5, rows=[row], statuses={"sent": 10}, bulk_size=0, alone=alone)

    assert "measured alone (`python -m benchmarks --figure 3`), on a table of its own jobs" in list_section(
        lists(alone=True)
    )
    assert "after figure 1" not in list_section(lists(alone=True))
    assert "Figure 3 runs second, after figure 1" in list_section(lists(alone=False))
