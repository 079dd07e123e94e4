"""Figure 11's logic (benchmarks/schedule.py): the percentile, its printed line, and
its splice into a page a full run wrote before figure 11 existed."""

from __future__ import annotations

import dataclasses

from benchmarks import report, schedule
from tests.bench.fake_run import results


def test_the_p99_is_the_nearest_rank_of_the_lateness() -> None:
    assert schedule.percentile([], 99) == 0.0
    assert schedule.percentile([3.0, 1.0, 2.0], 50) == 2.0
    values = [float(n) for n in range(1, 101)]
    assert schedule.percentile(values, 99) == 99.0
    assert schedule.percentile([*values, 500.0], 99) == 100.0  # one outlier of 101 is past the 99th


def test_the_printed_line_is_issue_29s_wording() -> None:
    figure = schedule.Schedules([0.5, 1.25], (70.0, 150.0), 0, [], None, 60)
    assert schedule.printed_line(figure) == "scheduled send lateness, p99 seconds: 1.2"


def test_over_the_60_seconds_promised_is_a_note() -> None:
    late = schedule.Schedules([5.0, 75.0], (70.0, 150.0), 1000, [2.0], 90.0, 60)
    assert schedule.notes(late)[0].startswith("- **Scheduled sends**: p99 75.0 s")
    assert schedule.notes(dataclasses.replace(late, lateness=[5.0])) == []


def test_a_page_written_before_figure_11_gets_its_rows_line_and_section() -> None:
    full = results()
    assert full.schedule is not None
    older = report.render(dataclasses.replace(full, schedule=None)).replace(
        "scheduled send lateness, p99 seconds: not measured\n", ""
    )
    assert "scheduled send lateness" not in older

    page = report.splice_schedule_figure(older, full.schedule)

    # The same page a full run with figure 11 writes
    assert page == report.render(full)
