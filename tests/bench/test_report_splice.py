"""Figure 3 measured alone (``python -m benchmarks --figure 3``) replaces only its own
rows, notes and section of docs/benchmarks.md, as figure 2 does (tests/bench/test_coldstart.py)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import listing, report
from tests.bench import fake_run


def test_figure_3_measured_alone_replaces_only_its_own_rows_section_and_notes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = "\n".join(
        [
            "# Benchmarks",
            "| 2. Cold start | import of EnqueueFunction | 280 ms | import boto3: 200 ms | 1.40x |",
            "| 3. List cost | old worst | 9.00 | 1 | 9.00x |",
            "| 3. List cost | old other | 2.00 | 1 | 2.00x |",
            "| 4. Pipeline | bulk | 10 emails/s | 20 emails/s | 0.50x |",
            "",
            "```",
            "cold start ÷ floor, worst function: 1.20",
            "list requests per page, worst combination: 400",
            "```",
            "- **Cold start**: kept",
            "- **List cost**: old words",
            "- **List pages that failed**: old failures",
            "- **Pipeline**: kept",
            "## 3. List cost",
            "old section text",
            "## 4. Pipeline",
            "pipeline text",
        ]
    )
    new_row = report.SummaryRow("3. List cost", "new worst", "4.33", "1", 4.33)
    lists: Any = object()
    monkeypatch.setattr(listing, "summary_rows", lambda _: [new_row])
    monkeypatch.setattr(listing, "notes", lambda _: ["- **List cost**: new words"])
    monkeypatch.setattr(listing, "section", lambda _: "## 3. List cost\n\nnew section text\n")
    monkeypatch.setattr(listing, "printed_line", lambda _: "list requests per page, worst combination: 18")

    lines = report.splice_list_figure(page, lists).split("\n")

    assert lines[1:4] == [
        "| 2. Cold start | import of EnqueueFunction | 280 ms | import boto3: 200 ms | 1.40x |",
        "| 3. List cost | new worst | 4.33 | 1 | 4.33x |",
        "| 4. Pipeline | bulk | 10 emails/s | 20 emails/s | 0.50x |",
    ]
    # Its printed line in the summary block replaced, the others kept
    assert lines[5:9] == [
        "```",
        "cold start ÷ floor, worst function: 1.20",
        "list requests per page, worst combination: 18",
        "```",
    ]
    assert lines[9:12] == ["- **Cold start**: kept", "- **List cost**: new words", "- **Pipeline**: kept"]
    assert lines[12:] == ["## 3. List cost", "", "new section text", "", "## 4. Pipeline", "pipeline text"]
    # With a remark (when and where it was measured), the remark follows the section
    remarked = report.splice_list_figure(page, lists, "Figure 3 was measured again alone.").split("\n")
    assert remarked[12:] == [
        "## 3. List cost",
        "",
        "new section text",
        "",
        "Figure 3 was measured again alone.",
        "",
        "## 4. Pipeline",
        "pipeline text",
    ]


def test_a_figure_the_page_does_not_hold_yet_goes_after_the_others() -> None:
    page = "\n".join(
        [
            "# Benchmarks",
            "| 9. Fairness | small | 300 ms | idle | 1.50x |",
            "",
            "```",
            "bulk drain ÷ ideal at SES's rate: not measured",
            "```",
            "- **Pipeline**: kept",
            "## 9. Fairness",
            "fairness text",
        ]
    )
    figure = fake_run.results().drain
    assert figure is not None

    lines = report.splice_drain_figure(page, figure).split("\n")

    assert lines[1] == "| 9. Fairness | small | 300 ms | idle | 1.50x |"
    assert lines[2].startswith("| 10. Drain | bulk send of 1,000 at SES's rate (20/s)")
    assert "bulk drain ÷ ideal at SES's rate: 3.60" in lines
    assert lines.index("## 9. Fairness") < lines.index("## 10. Drain at SES's rate")
    assert any(line.startswith("- **Drain**") for line in lines)
