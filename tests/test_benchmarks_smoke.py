"""The benchmarks, in their smallest form, so that they cannot rot.

``python -m benchmarks --smoke`` starts its own local stack in a fresh
process and runs one small case of each of the ten figures (figure 10 on
stacks of its own, in processes of their own). Beyond running, what it counts
is held to what any correct pipeline must do (never below figure 1's
first-principles minimum, each email sent once, each event applied) and its
printed lines to the page and the JSON summary, without pinning how many
calls today's code makes: the figures are there to show that change.
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
TIMEOUT_SECONDS = 600  # about 2 to 3 minutes on two idle cores; figure 10 starts two stacks of its own
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
    "10. Drain",
)
# Issues #9 and #28's lines, exactly as make bench prints them, in their order.
PRINTED = (
    r"calls per email, bulk of 1,000 to delivered: \d+\.\d\d",
    r"cost ÷ SES, worst case: \d+\.\d\d",
    r"cold start ÷ floor, worst function: \d+\.\d\d",
    r"bulk drain ÷ ideal at SES's rate: \d+\.\d\d",
    r"list requests per page, worst combination: \d+",
    r"scheduled send lateness, p99 seconds: \d+(\.\d+)?",
    r"write units per email, worst case: \d+(\.\d+)?",
    r"sustainable emails/s, all domains: \d+",
    r"sustainable emails/s, one domain: \d+",
    r"emails/s at default account quotas: \d+",
)


_EVENT_SOURCE = {"sqs:ReceiveMessage", "sqs:DeleteMessageBatch"}  # the event source mapping's: not counted


def _value(lines: list[str], start: str) -> float:
    (line,) = [line for line in lines if line.startswith(start + ": ")]
    return float(line.rsplit(": ", 1)[1])


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


def test_the_smoke_run_prints_a_summary_of_all_ten_figures(smoke_run) -> None:
    # Given / When: the smoke run
    done, _, _ = smoke_run

    # Then it succeeds and prints one table with a row of each figure
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for figure in FIGURES:
        assert any(line.startswith(f"| {figure} |") for line in table), figure


def test_the_summary_block_prints_issue_28_s_lines_in_order_on_stdout_and_the_page(smoke_run) -> None:
    done, page, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    printed = json.loads(summary.read_text(encoding="utf-8"))["printed"]
    text = page.read_text(encoding="utf-8")

    assert len(printed) == len(PRINTED)
    for line, pattern in zip(printed, PRINTED, strict=True):
        assert re.fullmatch(pattern, line), line
        assert line in done.stdout.splitlines()
        assert line in text.splitlines()


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
        "### What a million emails cost, every billed item",
        "## 7. Capacity: the hottest partition keys",
        "### Beside them, an account's default quotas",
        "## 10. Drain at SES's rate",
    ):
        assert heading in text
    assert "| machine |" in text and "| Python |" in text
    assert "$0.625 per million write request units" in text


def test_no_case_makes_fewer_calls_than_the_first_principles_minimum(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    cases = {case["case"]: case for case in results["calls"]}
    assert {"enqueue 1", "enqueue 1, idempotency key", "enqueue 1, 100,000-character body"} <= set(cases)
    assert any(name.startswith("bulk send") for name in cases)
    for name, case in cases.items():
        # A count below what any correct design must do means the count (or the model) is wrong
        assert case["counted"] >= case["minimum"] > 0, name
        assert case["counted"] == sum(n for k, n in case["calls"].items() if k not in _EVENT_SOURCE), name
    for stretch in ("worker", "ses_events"):
        assert results[stretch]["counted"] >= results[stretch]["minimum"] > 0, stretch


def test_a_bulk_send_is_sent_through_to_delivered_and_counted_as_issue_28_counts_it(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))
    found = results["to_delivered"]

    emails = found["emails"]
    assert emails > 0
    # Each email sent once and each delivery event applied, in its own stretches
    assert found["worker"]["ses:SendEmail"] == emails
    assert found["events"].get("dynamodb:UpdateItem", 0) >= emails

    # The sending path (the request and the worker) and the event path, the event source mapping's
    # receives and deletes and SES's own publishing left out
    def counted(calls: dict[str, int]) -> int:
        return sum(n for k, n in calls.items() if k not in _EVENT_SOURCE)

    # The service's own status events are counted (PutEvents of 10), SES's publishing is not
    assert 0 < found["events"].get("events:PutEvents", 0) <= math.ceil(emails / 10) + 1
    assert found["sending_path"] == pytest.approx((counted(found["request"]) + counted(found["worker"])) / emails)
    assert found["event_path"] == pytest.approx(counted(found["events"]) / emails)
    assert found["per_email"] >= found["minimum"]
    assert _value(results["printed"], "calls per email, bulk of 1,000 to delivered") == pytest.approx(
        found["per_email"], abs=0.005
    )


def test_the_worker_claims_sends_and_records_each_email_once(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    worker = json.loads(summary.read_text(encoding="utf-8"))["worker"]

    emails = worker["emails"]
    assert emails > 0
    assert worker["calls"]["ses:SendEmail"] == emails
    # A claim and an outcome each, at least
    assert worker["calls"]["dynamodb:UpdateItem"] >= 2 * emails
    # Receives and deletes go by batch: never more than one each per email.
    assert 0 < worker["calls"]["sqs:ReceiveMessage"] <= emails
    assert 0 < worker["calls"]["sqs:DeleteMessageBatch"] <= emails
    # The one body stored in S3 (the 100,000-character case) is read from S3 at least once
    assert worker["calls"].get("s3:GetObject", 0) >= 1


def test_each_delivery_event_is_applied_and_ses_s_put_events_is_counted_apart(smoke_run) -> None:
    done, page, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    # Every email the worker sent was delivered, and its event applied
    events, emails = results["ses_events"], results["worker"]["emails"]
    assert events["emails"] == emails
    # One write per event, one counters transaction per 100, one PutEvents of status events per 10
    assert events["minimum"] == emails + math.ceil(emails / 100) + math.ceil(emails / 10)
    assert events["calls"]["dynamodb:UpdateItem"] >= emails
    # Receives and deletes of a full queue go by 10
    assert events["calls"]["sqs:ReceiveMessage"] <= math.ceil(emails / 10) + 1
    # The emulated SES's PutEvents are SES's side: shown apart, one per event
    assert events["not_ours"] == {"events:PutEvents": emails}
    # The worker's own PutEvents are its status events (`sent`), one per batch at most
    assert results["worker"]["calls"].get("events:PutEvents", 0) <= emails
    assert "| SES events, per delivered email |" in page.read_text(encoding="utf-8")


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
    assert _value(results["printed"], "write units per email, worst case") == pytest.approx(worst, abs=0.005)


def test_every_billed_item_of_every_case_is_priced_from_what_the_case_used(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    for case in results["cost"]:
        costs, usage = case["costs"], case["usage"]
        assert set(costs) >= {
            "SES",
            "DynamoDB writes",
            "DynamoDB reads",
            "DynamoDB storage",
            "DynamoDB point-in-time recovery",
            "SQS",
            "S3 requests",
            "S3 storage",
            "Lambda",
            "CloudWatch Logs",
            "EventBridge",
            "Secrets Manager",
        }
        assert costs["SES"] == pytest.approx(100.0)
        # Each email: a message queued, received, deleted; its event put on the events queue,
        # received and deleted (the bulk's by batches): more than one SQS request per email
        assert usage["sqs_requests"] > 1, case["case"]
        assert usage["eventbridge_events"] >= 1  # SES's delivery event
        assert usage["lambda_gb_seconds"] > 0 and usage["lambda_requests"] > 0
        assert usage["log_bytes"] > 0 and usage["stored_bytes"] > 0
        assert case["ratio_to_ses"] == pytest.approx(sum(costs.values()) / costs["SES"])
    worst = max(case["ratio_to_ses"] for case in results["cost"])
    assert _value(results["printed"], "cost ÷ SES, worst case") == pytest.approx(worst, abs=0.005)
    # The large body's bytes are stored in S3, the bulk's worker paid for its waits at SES's rate
    assert results["cost"][1]["usage"]["s3_bytes"] > 0


def test_the_capacity_model_sets_the_hot_keys_beside_the_default_quotas(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    capacity = results["capacity"]
    assert capacity["loads"]["InFlight"] == pytest.approx(2)
    assert capacity["all_domains"] > 0 and 0 < capacity["one_domain"] < capacity["all_domains"]
    assert capacity["poll_read_units"] > 0
    ceilings = [c["emails_per_second"] for c in capacity["quota_ceilings"]]
    assert ceilings == sorted(ceilings) and capacity["at_default_quotas"] == ceilings[0]
    assert capacity["at_default_quotas"] <= capacity["all_domains"]
    assert capacity["retry_attempts_per_second"] > 0
    lines = results["printed"]
    assert _value(lines, "sustainable emails/s, all domains") == round(capacity["all_domains"])
    assert _value(lines, "sustainable emails/s, one domain") == round(capacity["one_domain"])
    assert _value(lines, "emails/s at default account quotas") == round(capacity["at_default_quotas"])


def test_every_page_filter_is_measured_in_requests_per_page_for_both_callers(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))
    rows = results["lists"]

    assert {row["caller"] for row in rows} == {"one domain", "every domain (*)"}
    filters = {row["filters"] for row in rows}
    for new in ("recipient", "bulk_id", "created range", "status=canceled", "type=manual"):
        assert any(new in f for f in filters), new
    for row in rows:
        # Every page read something from DynamoDB, or failed and says so
        assert row["error"] or row["most_requests"] > 0, row
        assert row["requests"] >= row["most_requests"]
    worst = max(row["most_requests"] for row in rows)
    assert _value(results["printed"], "list requests per page, worst combination") == worst


def test_a_cold_start_is_set_against_import_boto3_and_the_same_clients(smoke_run) -> None:
    done, _, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(summary.read_text(encoding="utf-8"))

    (enqueue,) = results["cold"]
    assert enqueue["function"] == "EnqueueFunction" and not enqueue["error"]
    # Its first invocation wrote a job and queued its message: those clients at least
    assert {"dynamodb", "sqs"} <= set(enqueue["clients"])
    assert enqueue["import_ms"] > 0 and enqueue["invoke_ms"] > 0 and enqueue["floor_ms"] > 0
    assert _value(results["printed"], "cold start ÷ floor, worst function") == pytest.approx(
        enqueue["ratio_to_floor"], abs=0.005
    )


def test_a_bulk_send_is_drained_at_a_rate_set_and_read_back(smoke_run) -> None:
    done, _page, summary = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]

    figure = json.loads(summary.read_text(encoding="utf-8"))["drain"]

    drain = figure["drain"]
    assert drain["emails"] == 20 and drain["rate"] == 20
    # The rate is the local stack's own, set explicitly and read back with GetAccount, as the workers read it
    assert drain["reported_rate"] == 20
    # No faster than SES's rate allows (a second's burst aside)
    assert drain["seconds"] >= (drain["emails"] - drain["rate"]) / drain["rate"]
    assert drain["worker_invocations"] > 0 and drain["worker_seconds"] > 0
    backlog = figure["backlog"]
    assert backlog["drained"] and backlog["sent"] == backlog["emails"] == 20
    ratio = drain["seconds"] / (drain["emails"] / drain["rate"])
    printed = json.loads(summary.read_text(encoding="utf-8"))["printed"]
    assert _value(printed, "bulk drain ÷ ideal at SES's rate") == pytest.approx(ratio, abs=0.005)


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
    # The bulk's item and its cancel mark, one Query per ByBulk shard, one conditional write per job,
    # and the cancel's audit entry; nothing queued or sent
    assert figure["calls"] == {
        "dynamodb:GetItem": 1,
        "dynamodb:Query": 4,
        "dynamodb:UpdateItem": 1 + jobs,
        "dynamodb:PutItem": 1,
        # ...and the wave's statistics counters and its `canceled` status events
        "dynamodb:TransactWriteItems": 1,
        "events:PutEvents": math.ceil(jobs / 10),
    }
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
