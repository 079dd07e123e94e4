"""Figure 2's measurement: CPU time of each import, each handler run paired
with a run of ``import boto3``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from benchmarks import coldstart


def test_each_import_is_timed_in_cpu_time() -> None:
    # Wall time grows with other processes' load; an import's CPU time does not.
    assert "time.process_time()" in coldstart._TIMED_IMPORT
    assert "perf_counter" not in coldstart._TIMED_IMPORT


def test_a_handlers_ratio_is_over_the_boto3_runs_paired_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine gets twice as busy between the two functions: boto3's runs
    # double too, and each ratio stays that of its own window.
    busy = {"factor": 1.0}
    calls: list[str] = []

    def fake_run(
        module: str, path: list[Path], env: Mapping[str, str], *, importtime: bool = False
    ) -> tuple[float, str]:
        function = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        calls.append(module if module == "boto3" else function)
        if module == "boto3":
            return 0.100 * busy["factor"], ""
        seconds = {"EnqueueFunction": 0.140, "SweeperFunction": 0.120}[function] * busy["factor"]
        if importtime and function == "EnqueueFunction":
            busy["factor"] = 2.0
        return seconds, ""

    monkeypatch.setattr(coldstart, "_run", fake_run)
    result = coldstart.measure(
        runs=3, site=Path("."), environments={}, functions=["EnqueueFunction", "SweeperFunction"]
    )
    ratios = {f.function: round(f.ratio_to_boto3, 6) for f in result.functions}
    assert ratios == {"EnqueueFunction": 1.4, "SweeperFunction": 1.2}
    # boto3, then the handler, run after run (after one warm-up of each)
    enqueue = [c for c in calls[2:8]]
    assert enqueue == ["boto3", "EnqueueFunction"] * 3
    assert result.runs == 3


def test_figure_2_measured_alone_replaces_only_its_own_rows_section_and_note() -> None:
    from benchmarks import report

    page = "\n".join(
        [
            "# Benchmarks",
            "| 1. AWS calls | enqueue 1 | 2 | 2 | 1.00x |",
            "| 2. Cold start | import of EnqueueFunction | 500 ms | import boto3: 200 ms | 2.50x |",
            "| 2. Cold start | import of GoneFunction | 500 ms | import boto3: 200 ms | 2.50x |",
            "| 3. List cost | worst | 4.33 | 1 | 4.33x |",
            "",
            "- **Cold start**: 2.5x to 2.5x, old words",
            "- **List cost**: kept",
            "- **Pipeline**: kept",
            "## 2. Cold start",
            "old section text",
            "## 3. List cost",
            "list text",
        ]
    )
    cold = coldstart.ColdStarts(
        boto3_ms=200.0,
        runs=7,
        functions=[
            coldstart.ColdStart("EnqueueFunction", 280.0, 7, 1.4, [], []),
            coldstart.ColdStart("PageFunction", 80.0, 7, 0.4, [], []),
        ],
    )
    spliced = report.splice_cold_figure(page, cold, "Measured alone.")
    lines = spliced.split("\n")
    cold_rows = [line for line in lines if line.startswith("| 2. Cold start |")]
    assert cold_rows == [
        "| 2. Cold start | import of EnqueueFunction | 280 ms | import boto3: 200 ms | 1.40x |",
        "| 2. Cold start | import of PageFunction | 80 ms | import boto3: 200 ms | 0.40x |",
    ]
    # In the summary's place, between figures 1 and 3
    assert lines.index(cold_rows[0]) == 2 and lines[4].startswith("| 3. List cost |")
    # Every function within the goal: no "far from the minimum" note
    assert not any(line.startswith("- **Cold start**") for line in lines)
    assert "- **List cost**: kept" in lines and "- **Pipeline**: kept" in lines
    assert "old section text" not in spliced and "Measured alone." in spliced
    assert spliced.index("## 2. Cold start") < spliced.index("Measured alone.") < spliced.index("## 3. List cost")
    assert spliced.endswith("## 3. List cost\nlist text")
