"""Figure 3 measured alone (``python -m benchmarks --figure 3``) replaces only its own
rows, notes and section of docs/benchmarks.md, as figure 2 does (tests/bench/test_coldstart.py)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import listing, report


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

    lines = report.splice_list_figure(page, lists).split("\n")

    assert lines[1:4] == [
        "| 2. Cold start | import of EnqueueFunction | 280 ms | import boto3: 200 ms | 1.40x |",
        "| 3. List cost | new worst | 4.33 | 1 | 4.33x |",
        "| 4. Pipeline | bulk | 10 emails/s | 20 emails/s | 0.50x |",
    ]
    assert lines[5:8] == ["- **Cold start**: kept", "- **List cost**: new words", "- **Pipeline**: kept"]
    assert lines[8:] == ["## 3. List cost", "", "new section text", "", "## 4. Pipeline", "pipeline text"]
