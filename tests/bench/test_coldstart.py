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
