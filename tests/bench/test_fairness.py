"""Figure 9's arithmetic and rendering, on given samples (the measurement itself runs in the smoke run)."""

from __future__ import annotations

from benchmarks.fairness import TARGET_RATIO, Fairness, Sample, section, summary_row


def figure(idle: list[float], loaded: list[float]) -> Fairness:
    return Fairness([Sample(ms, 0) for ms in idle], [Sample(ms, 4000) for ms in loaded], backlog=5000)


def test_the_ratio_is_the_loaded_median_over_the_idle_median() -> None:
    f = figure([100, 300, 200], [500, 300, 400])
    assert (f.idle_ms, f.loaded_ms, f.ratio) == (200, 400, 2.0)
    row = summary_row(f)
    assert row.figure == "9. Fairness"
    assert row.ratio == 2.0
    assert "5,000" in row.what
    assert f.as_dict()["backlog_left"] == [4000, 4000, 4000]


def test_the_section_says_whether_the_target_is_met() -> None:
    assert f"target ≤ {TARGET_RATIO:.0f}x: met." in section(figure([100], [150]))
    assert "**not met**" in section(figure([100], [250]))
    assert "| while 5,000 of another domain drain | 1 | 250 ms | 4,000 |" in section(figure([100], [250]))


def test_the_fifo_estimate_is_the_backlog_ahead_at_the_rate_it_drained() -> None:
    # 20 of the 100 ahead drained in 2 s: 10 a second, so 10 s for the 100, plus its own 0.5 s
    sample = Sample(500, backlog_left=80, backlog_before=100, seconds=2.0)
    assert sample.fifo_estimate_ms == 10_500
    assert Sample(500, backlog_left=100, backlog_before=100, seconds=2.0).fifo_estimate_ms is None
    f = Fairness([Sample(100, 0)], [sample], backlog=100)
    assert "| the same, one first-in-first-out queue" in section(f)
    assert "10,500 ms" in section(f)
