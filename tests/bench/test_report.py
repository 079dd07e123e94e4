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
    "## 2. Cold start",
    "## 3. List cost",
    "## 4. Pipeline",
    "## 5. Priority under load",
    "## 6. Write units per email, and cost",
    "### The measured paths, for Lambda and SQS",
    "## 7. Capacity: the hottest partition keys",
    "## 8. Cancelling a bulk send of 1,000",
    "## 9. Fairness across domains on the bulk queue",
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
]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_figure_measured_again_with_the_same_results_leaves_the_page_as_a_full_run_wrote_it(name: str) -> None:
    # Given the page a full run writes
    r = RUNS[name]
    page = report.render(r)

    # When figures 2 and 3 are spliced into it from the same measurements
    # Then nothing moves: their rows, notes and sections go back where render put them
    assert report.splice_cold_figure(page, r.cold) == page
    assert report.splice_list_figure(page, r.lists) == page


def test_the_page_holds_every_figure_s_section_once_in_order_after_the_summary_and_its_notes() -> None:
    page = report.render(RUNS["full"])

    headings = [line for line in page.split("\n") if line.startswith("#")]

    assert headings == ["# Benchmarks", "## Summary", "## Far from the minimum, and why", *HEADINGS]
    figures = [row.split(" | ")[0].removeprefix("| ") for row in page.split("\n") if re.match(r"\| \d\. ", row)]
    assert sorted(set(figures)) == [f"{n}. {name}" for n, name in SUMMARY_NAMES]
    assert figures == sorted(figures, key=lambda figure: int(figure[0]))  # grouped, in the figures' order
    notes = [line.split("**")[1] for line in page.split("\n") if line.startswith("- **")]
    assert notes == [
        "AWS calls",
        "Cold start",
        "List pages that failed",
        "List cost",
        "Pipeline",
        "Priority",
        "Write units",
        "Cost",
        "Cost",
    ]


def test_figures_8_and_9_are_left_out_when_they_were_not_measured() -> None:
    page = report.render(RUNS["met"])

    assert "## 8." not in page and "| 8. Cancel |" not in page
    assert "## 9." not in page and "| 9. Fairness |" not in page
    assert page.rstrip("\n").endswith(report.printed_lines(RUNS["met"])[-1] + "\n```")
