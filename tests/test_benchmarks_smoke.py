"""The benchmarks, in their smallest form, so that they cannot rot.

``python -m benchmarks --smoke`` starts its own local stack in a fresh
process and runs one small case of each of the six figures. Beyond running,
the counts it makes are held to the design's minimums: a change that adds an
AWS call to the enqueue, the bulk send or the worker fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 240
FIGURES = ("1. AWS calls", "2. Cold start", "3. List cost", "4. Pipeline", "5. Priority", "6. Cost")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    out = tmp_path_factory.mktemp("bench")
    page, summary = out / "benchmarks.md", out / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "MOTO_"))}
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(page), "--json", str(summary)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    return done, page, summary


def test_the_smoke_run_prints_a_summary_of_all_six_figures(smoke_run) -> None:
    # Given / When: the smoke run
    done, _, _ = smoke_run

    # Then it succeeds and prints one table with a row of each figure
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for figure in FIGURES:
        assert any(line.startswith(f"| {figure} |") for line in table), figure


def test_the_page_explains_each_figure_and_names_the_machine(smoke_run) -> None:
    done, page, _ = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    text = page.read_text(encoding="utf-8")

    for heading in (
        "## 1. AWS calls per email",
        "## 2. Cold start",
        "## 3. List cost",
        "## 4. Pipeline",
        "## 5. Priority under load",
        "## 6. Cost model",
    ):
        assert heading in text
    assert "| machine |" in text and "| Python |" in text
    assert "$0.625 per million write request units" in text


def test_enqueue_and_bulk_send_make_exactly_the_design_minimum_of_calls(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    cases = {case["case"]: case for case in results["calls"]}
    assert {"enqueue 1", "enqueue 1, idempotency key"} <= set(cases)
    assert any(name.startswith("bulk send") for name in cases)
    for name, case in cases.items():
        assert case["calls"] == case["minimum"], name


def test_the_worker_claims_sends_and_records_each_email_once(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    worker = json.loads(summary.read_text(encoding="utf-8"))["worker"]

    emails = worker["emails"]
    assert emails > 0
    assert worker["calls"]["dynamodb:UpdateItem"] == 2 * emails
    assert worker["calls"]["ses:SendEmail"] == emails
    # Receives and deletes go by batch: never more than one each per email.
    assert 0 < worker["calls"]["sqs:ReceiveMessage"] <= emails
    assert 0 < worker["calls"]["sqs:DeleteMessageBatch"] <= emails
    # Bodies: at most one read per batch.
    assert worker["calls"].get("dynamodb:BatchGetItem", 0) <= worker["calls"]["sqs:ReceiveMessage"]
    assert set(worker["calls"]) <= {
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",
        "ses:SendEmail",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessageBatch",
    }
