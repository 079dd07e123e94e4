"""The benchmarks, in their smallest form, so that they cannot rot.

``python -m benchmarks --smoke`` starts its own local stack in a fresh
process and runs one small case of each of the nine figures. Beyond running,
the counts it makes are held to the design's minimums: a change that adds an
AWS call to the enqueue, the bulk send or the worker fails here.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 270  # the fairness figure (8) adds about 10 s
FIGURES = (
    "1. AWS calls",
    "2. Cold start",
    "3. List cost",
    "4. Pipeline",
    "5. Priority",
    "6. Cost",
    "7. Capacity",
    "8. Cancel",
    "9. Fairness",
)
# Issue #9's three lines, exactly as make bench prints them.
PRINTED = (
    re.compile(r"^write units per email, worst case: \d+(\.\d+)?$", re.MULTILINE),
    re.compile(r"^sustainable emails/s, all domains: \d+$", re.MULTILINE),
    re.compile(r"^sustainable emails/s, one domain: \d+$", re.MULTILINE),
)


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


def test_the_smoke_run_prints_a_summary_of_all_nine_figures(smoke_run) -> None:
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
        "## 6. Write units per email, and cost",
        "## 7. Capacity: the hottest partition keys",
    ):
        assert heading in text
    assert "| machine |" in text and "| Python |" in text
    assert "$0.625 per million write request units" in text


def test_enqueue_and_bulk_send_make_exactly_the_design_minimum_of_calls(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    cases = {case["case"]: case for case in results["calls"]}
    assert {"enqueue 1", "enqueue 1, idempotency key", "enqueue 1, 100,000-character body"} <= set(cases)
    assert cases["enqueue 1, 100,000-character body"]["calls"]["s3:PutObject"] == 1
    assert any(name.startswith("bulk send") for name in cases)
    # Every payload reads its recipients' suppression entries once (up to 100 addresses)
    assert cases["enqueue 1"]["calls"]["dynamodb:BatchGetItem"] == 1
    # ... and a keyed one its keys' markers too
    assert cases["enqueue 1, idempotency key"]["calls"]["dynamodb:BatchGetItem"] == 2
    # A bulk send makes the pause check: one Query per partition of the domain's window
    bulks = [case for name, case in cases.items() if name.startswith("bulk send")]
    assert all(case["calls"]["dynamodb:Query"] == 29 for case in bulks)
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
    # Per batch, one read of its bodies and one of its recipients' suppression entries: no more.
    assert worker["calls"]["dynamodb:BatchGetItem"] == 2 * worker["calls"]["sqs:ReceiveMessage"]
    assert worker["minimum"]["dynamodb:BatchGetItem"] == 2 * worker["minimum"]["sqs:ReceiveMessage"]
    assert set(worker["calls"]) <= {
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",
        "ses:SendEmail",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessageBatch",
        "s3:GetObject",
    }
    # The one body stored in S3 (the 100,000-character case) is read from S3 once
    assert worker["calls"].get("s3:GetObject") == worker["minimum"]["s3:GetObject"] == 1


def test_each_delivery_event_costs_one_write_and_ses_s_put_events_is_counted_apart(smoke_run) -> None:
    done, page, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    # Every email the worker sent was delivered, and its event applied
    events, emails = results["ses_events"], results["worker"]["emails"]
    assert events["emails"] == emails
    # One conditional write per event; receives and deletes of a full queue go by 10
    assert events["minimum"] == {
        "dynamodb:UpdateItem": emails,
        "sqs:ReceiveMessage": math.ceil(emails / 10),
        "sqs:DeleteMessageBatch": math.ceil(emails / 10),
    }
    assert events["calls"] == events["minimum"]
    # The emulated SES's PutEvents are SES's side: shown apart, one per event
    assert events["not_ours"] == {"events:PutEvents": emails}
    # The worker's stretch holds none of them
    assert "events:PutEvents" not in results["worker"]["calls"]
    assert "| SES events, per delivered email |" in page.read_text(encoding="utf-8")


def test_the_three_lines_of_issue_9_are_printed_and_on_the_page(smoke_run) -> None:
    done, page, _ = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    text = page.read_text(encoding="utf-8")

    for line in PRINTED:
        assert line.search(done.stdout), line.pattern
        assert line.search(text), line.pattern


def test_write_units_are_counted_for_the_three_cases_step_by_step_with_the_delivery_event(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    cases = results["writes"]
    assert [case["emails"] > 1 for case in cases] == [False, False, True]
    for case in cases:
        steps = case["by_step"]
        # Created, claimed, sent and delivered, each on the table; the body written once
        for step in ("create (queued)", "queued → sending", "sending → sent", "sent → delivered"):
            assert steps[step]["table"] >= 1, (case["case"], step)
        assert steps["body item"]["table"] * case["emails"] == pytest.approx(1)
        # Leaving flight with the delivery event is one InFlight write
        assert steps["sent → delivered"]["InFlight"] == 1
        # Only the case's own jobs are written in its stretch (none left over from the figure before)
        assert "condition failed" not in steps, case["case"]
        assert case["wru_per_email"] == pytest.approx(sum(sum(row.values()) for row in steps.values()))
    # A large body goes through S3 once each way; the bulk's once for all its emails
    assert cases[0]["s3_puts"] == 0 and cases[1]["s3_puts"] == 1 and cases[1]["s3_gets"] >= 1
    assert cases[2]["s3_puts"] == 1
    worst = max(case["wru_per_email"] for case in cases)
    printed = float(results["printed"][0].rsplit(": ", 1)[1])
    assert printed == pytest.approx(worst, abs=0.005)


def test_the_capacity_model_and_the_poll_cost_are_computed_from_the_recorded_writes(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    capacity = results["capacity"]
    assert capacity["loads"]["InFlight"] == pytest.approx(2)
    assert capacity["loads"]["ByBulk"] == pytest.approx(4)
    assert capacity["all_domains"] > 0 and 0 < capacity["one_domain"] < capacity["all_domains"]
    assert capacity["poll_read_units"] > 0
    lines = results["printed"]
    assert lines[1] == f"sustainable emails/s, all domains: {capacity['all_domains']:.0f}"
    assert lines[2] == f"sustainable emails/s, one domain: {capacity['one_domain']:.0f}"


def test_every_list_combination_above_1_1_names_what_bounds_it(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    rows = json.loads(summary.read_text(encoding="utf-8"))["lists"]

    filters = {row["filters"] for row in rows}
    for new in ("recipient", "bulk_id", "created range"):
        assert any(new in f for f in filters), new
    assert {row["caller"] for row in rows} == {"one domain", "two domains", "every domain (*)"}
    for row in rows:
        if max(row["read_per_returned"], row["fetched_per_returned"]) > 1.1:
            assert row["bound"] and row["bound"] != "none identified", row
        else:
            assert row["bound"] == "", row


def test_a_bulk_poll_makes_one_getitem_and_one_query_per_shard(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    poll = json.loads(summary.read_text(encoding="utf-8"))["poll"]

    assert poll["calls"] == {"dynamodb:GetItem": 1, "dynamodb:Query": 4}


def test_cancelling_a_bulk_costs_one_conditional_write_per_job_and_is_on_the_page(smoke_run) -> None:
    done, page, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    figure = json.loads(summary.read_text(encoding="utf-8"))["cancel"]

    jobs = figure["jobs"]
    assert jobs > 0
    # A small bulk: the request cancels every job itself, within the gateway's 29 s
    assert (figure["canceled_in_request"], figure["pending"]) == (jobs, 0)
    assert 0 < figure["request_seconds"] < 29
    # The bulk's item and its cancel mark, one Query per ByBulk shard, one conditional write per job;
    # nothing queued or sent
    assert figure["calls"] == {"dynamodb:GetItem": 1, "dynamodb:Query": 4, "dynamodb:UpdateItem": 1 + jobs}
    assert f"## 8. Cancelling a bulk send of {jobs:,}" in page.read_text(encoding="utf-8")


def test_the_fairness_figure_sends_a_small_bulk_before_another_domain_s_backlog_drains(smoke_run) -> None:
    done, page, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    fairness = json.loads(summary.read_text(encoding="utf-8"))["fairness"]

    # Every loaded sample was sent while the other domain still had a backlog on the bulk queue
    assert fairness["small_bulk"] == 10
    assert fairness["loaded_ms"] and fairness["idle_ms"]
    assert all(left > 0 for left in fairness["backlog_left"])
    assert fairness["ratio"] > 0
    assert "## 9. Fairness across domains on the bulk queue" in page.read_text(encoding="utf-8")
