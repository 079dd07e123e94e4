"""The page put together from the figures' own parts (``benchmarks.report``), on a
made-up run (tests/bench/fake_run.py): every figure in its place, and a figure
measured again alone (``python -m benchmarks --figure N``) lands where a full
run puts it."""

from __future__ import annotations

import re

import pytest

from benchmarks import report
from tests.bench import fake_run

RUNS = fake_run.variants()
HEADINGS = [
    "## 1. AWS calls per email",
    "### A bulk send of 20, to delivered",
    "### Every case",
    "## 2. Cold start",
    "## 3. List cost",
    "## 4. Pipeline",
    "## 5. Priority under load",
    "## 6. Write units per email, and cost",
    "### What a million emails cost, every billed item",
    "## 7. Capacity: the hottest partition keys",
    "### Beside them, an account's default quotas",
    "## 8. Cancelling a bulk send of 1,000",
    "## 9. Fairness across domains on the bulk queue",
    "## 10. Drain at SES's rate",
    "### A backlog, and the sweeper",
    "## 11. Scheduled sends",
]
SUMMARY_NAMES = [
    (1, "AWS calls"),
    (2, "Cold start"),
    (3, "List cost"),
    (4, "Pipeline"),
    (5, "Priority"),
    (6, "Cost"),
    (7, "Capacity"),
    (8, "Cancel"),
    (9, "Fairness"),
    (10, "Drain"),
    (11, "Scheduled sends"),
]
PRINTED = [
    r"calls per email, bulk of 1,000 to delivered: \d+\.\d\d",
    r"cost ÷ SES, worst case: \d+\.\d\d",
    r"cold start ÷ floor, worst function: \d+\.\d\d",
    r"bulk drain ÷ ideal at SES's rate: \d+\.\d\d",
    r"list requests per page, worst combination: \d+",
    r"scheduled send lateness, p99 seconds: \d+\.\d",
    r"write units per email, worst case: \d+(\.\d+)?",
    r"sustainable emails/s, all domains: \d+",
    r"sustainable emails/s, one domain: \d+",
    r"emails/s at default account quotas: \d+",
]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_figure_measured_again_with_the_same_results_leaves_the_page_as_a_full_run_wrote_it(name: str) -> None:
    # Given the page a full run writes
    r = RUNS[name]
    page = report.render(r)

    # When figures 2 and 3 are spliced into it from the same measurements
    # Then nothing moves: their rows, printed lines, notes and sections go back where render put them
    assert report.splice_cold_figure(page, r.cold) == page
    assert report.splice_list_figure(page, r.lists) == page
    if r.drain is not None:
        assert report.splice_drain_figure(page, r.drain) == page
    if r.schedule is not None:
        assert report.splice_schedule_figure(page, r.schedule) == page


def test_the_page_holds_every_figure_s_section_once_in_order_after_the_summary_and_its_notes() -> None:
    page = report.render(RUNS["full"])

    headings = [line for line in page.split("\n") if line.startswith("#")]

    assert headings == ["# Benchmarks", "## Summary", "## Far from the minimum, and why", *HEADINGS]
    figures = [row.split(" | ")[0].removeprefix("| ") for row in page.split("\n") if re.match(r"\| \d+\. ", row)]
    assert sorted(set(figures), key=lambda f: int(f.split(".")[0])) == [f"{n}. {name}" for n, name in SUMMARY_NAMES]
    number = [int(figure.split(".")[0]) for figure in figures]
    assert number == sorted(number)  # grouped, in the figures' order
    far = page.split(report.FAR_HEADING + "\n\n", 1)[1].split("\n\n", 1)[0]
    notes = [line.split("**")[1] for line in far.split("\n") if line.startswith("- **")]
    assert notes == [
        "AWS calls",
        "Cold start",
        "Cold start, first invocations that failed",
        "List pages that failed",
        "List cost",
        "Pipeline",
        "Priority",
        "Write units",
        "Cost",
        "Cost",
        "Cost",
        "Drain",
        "Sweeper",
    ]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_summary_block_prints_each_figure_s_line_in_issue_28_s_order_and_wording(name: str) -> None:
    lines = report.printed_lines(RUNS[name])
    page = report.render(RUNS[name])

    measured = [line for line in lines if not line.endswith(": not measured")]
    assert len(lines) == len(PRINTED)
    for line, pattern in zip(lines, PRINTED, strict=True):
        assert line.endswith(": not measured") or re.fullmatch(pattern, line), line
    block = page.split("```\n", 1)[1].split("\n```", 1)[0].split("\n")
    assert block == lines
    assert measured


def test_figures_8_9_and_10_are_left_out_when_they_were_not_measured() -> None:
    page = report.render(RUNS["met"])

    assert "## 8." not in page and "| 8. Cancel |" not in page
    assert "## 9." not in page and "| 9. Fairness |" not in page
    assert "## 10." not in page and "| 10. Drain |" not in page
    assert "bulk drain ÷ ideal at SES's rate: not measured" in page
    assert page.rstrip("\n").endswith(report.printed_lines(RUNS["met"])[-1] + "\n```")
