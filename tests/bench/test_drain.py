"""Figure 10's arithmetic: the goal at SES's rate, the scaled backlog, the rate set and read back
(the drain itself runs in the smoke run, on a stack of its own)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from benchmarks import drain
from benchmarks.harness import BenchError
from tests.bench import fake_run


def test_the_goal_is_1_2_times_the_ideal_plus_a_minute_over_the_ideal() -> None:
    # 1,000 at 20 a second: ideal 50 s, goal 1.2 x 50 + 60 = 120 s, 2.4x the ideal
    assert drain.goal_ratio(1000, 20) == pytest.approx(2.4)
    # 1,000 at 14 a second: ideal 71.4 s, goal 145.7 s
    assert drain.goal_ratio(1000, 14) == pytest.approx((1.2 * 1000 / 14 + 60) / (1000 / 14))
    figure = fake_run.results().drain
    assert figure is not None
    assert figure.drain.ideal == pytest.approx(50) and figure.drain.ratio == pytest.approx(3.6)
    assert drain.printed_line(figure) == "bulk drain ÷ ideal at SES's rate: 3.60"
    assert figure.drain.worker_seconds_per_email == pytest.approx(0.17)


def test_the_backlog_keeps_10000_at_14_a_second_to_a_900_s_grace_in_proportion() -> None:
    # 10,000 / (14 x 900) = N / (rate x 60)
    assert drain.scaled_backlog(20) == 952
    assert drain.scaled_backlog(14) == 667
    assert drain.SCALED_SWEEP == 20  # 300 s of a 900 s grace is 20 s of a 60 s one


def test_the_backlog_counts_every_message_the_sweeper_sent_as_a_duplicate() -> None:
    sweeps = [drain.Sweep(900, 0, 0, 70, 900), drain.Sweep(800, 300, 250, 75, 1200), drain.Sweep(10, 5, 5, 3, 5)]
    backlog = drain.Backlog(emails=1000, rate=20, seconds=60, drained=True, sent=1000, sweeps=sweeps)

    assert backlog.duplicates == 255
    assert backlog.duplicates_per_email == pytest.approx(0.255)


def test_a_child_s_result_reads_back_as_it_was_written() -> None:
    figure = fake_run.results().drain
    assert figure is not None

    written = {"drain": dataclasses.asdict(figure.drain), "backlog": dataclasses.asdict(figure.backlog)}

    assert drain.from_json(written) == figure
    assert drain.from_json({"drain": written["drain"]}).backlog is None


class _Bench:
    def __init__(self, reported: float | None) -> None:
        self.reported = reported

    def reported_send_rate(self) -> float | None:
        return self.reported


def test_the_rate_is_read_back_as_the_workers_read_it() -> None:
    bench: Any = _Bench(20.0)

    assert drain._rate(bench, 20.0) == 20.0


@pytest.mark.parametrize("reported", [None, 1000.0])
def test_a_rate_not_read_back_as_set_stops_the_figure(reported: float | None) -> None:
    bench: Any = _Bench(reported)

    with pytest.raises(BenchError, match="not the 20 set"):
        drain._rate(bench, 20.0)


def test_the_page_says_where_the_rate_came_from_and_whether_the_goal_was_met() -> None:
    figure = fake_run.results().drain
    assert figure is not None
    met = dataclasses.replace(figure.drain, seconds=100.0)

    page = drain.section(drain.DrainFigure(met, figure.backlog))

    assert "read back with `GetAccount` (20)" in page
    assert "2.40x: **met**" in page
    assert "**0.32 duplicate messages per email**" in page
    assert "not met" in drain.section(figure)
    assert drain.notes(drain.DrainFigure(met)) == []
