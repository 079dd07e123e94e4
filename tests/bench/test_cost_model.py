"""The cost model: DynamoDB's rules for items and index entries, and every billed item priced."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.cost import (
    GB,
    LAMBDA_LINES_BYTES,
    CaseUsage,
    Index,
    fixed_monthly,
    item_size,
    log_bytes_per_email,
    stored_bytes,
    table_indexes,
    units,
    value_size,
    what_it_would_take,
)
from common.adapters.index_keys import KeyedJob, index_attributes
from common.models.job import JobStatus, JobType

TABLE_KEYS = ("pk",)
BY_STATUS = Index("ByStatus", ("status", "job_id"), frozenset({"subject"}))


def _item(**values: str) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in values.items()}


def test_sizes_follow_dynamodbs_rules() -> None:
    # Strings by their UTF-8 bytes, numbers by their significant digits, names count too
    assert value_size({"S": "héllo"}) == 6
    assert value_size({"N": "1000"}) == 2
    assert value_size({"N": "123456"}) == 4
    assert value_size({"L": [{"S": "ab"}, {"BOOL": True}]}) == 3 + 3 + 2
    assert item_size({"pk": {"S": "abc"}, "n": {"N": "7"}}) == 2 + 3 + 1 + 2


def test_a_write_costs_a_unit_per_started_kb() -> None:
    assert units(1) == 1
    assert units(1024) == 1
    assert units(1025) == 2


def test_an_index_entry_appearing_or_disappearing_costs_one_write() -> None:
    queued = _item(pk="J", job_id="J", status="queued", subject="s")
    keyless = _item(pk="J", job_id="J", subject="s")

    assert BY_STATUS.writes(None, queued, TABLE_KEYS) == 1
    assert BY_STATUS.writes(queued, keyless, TABLE_KEYS) == 1
    assert BY_STATUS.writes(None, keyless, TABLE_KEYS) == 0


def test_a_key_change_costs_a_delete_and_a_put_and_a_projected_change_one_write() -> None:
    queued = _item(pk="J", job_id="J", status="queued", subject="s", body="b")
    sending = {**queued, "status": {"S": "sending"}}
    renamed = {**queued, "subject": {"S": "t"}}
    other = {**queued, "body": {"S": "not projected"}}

    assert BY_STATUS.writes(queued, sending, TABLE_KEYS) == 2
    assert BY_STATUS.writes(queued, renamed, TABLE_KEYS) == 1
    assert BY_STATUS.writes(queued, other, TABLE_KEYS) == 0


def test_a_jobs_life_on_the_templates_indexes() -> None:
    # Given a job of a bulk as created, claimed and sent, with the template's indexes and the keys
    # common.adapters.index_keys gives it in each status
    job = KeyedJob("01JGQ6Z1T8W3Y5K7M9P2R4S6V8", "acme.com", JobType.MANUAL, "a@b.org", JobStatus.QUEUED, "B1")
    common = {"pk": {"S": job.job_id}, "job_id": {"S": job.job_id}, "body_text": {"S": "x" * 100}}

    def state(status: JobStatus, attempts: str, **more: dict[str, str]) -> dict[str, dict[str, str]]:
        keyed = {name: {"S": value} for name, value in index_attributes(job._replace(status=status)).items()}
        return {**common, **keyed, "attempts": {"N": attempts}, **more}

    created = state(JobStatus.QUEUED, "0", due_at={"N": "100"})
    claimed = state(JobStatus.SENDING, "1", due_at={"N": "160"})
    sent = state(JobStatus.SENT, "1", sent_at={"S": "2026-01-01T00:00:00.000Z"})
    table_keys, indexes = table_indexes()

    # When each index's writes of the three steps are added up
    by_index = {
        index.name: sum(index.writes(before, after, table_keys) for before, after in steps)
        for index in indexes
        for steps in [[(None, created), (created, claimed), (claimed, sent)]]
    }

    # Then the indexes keyed on what never changes cost 1 each, at creation only
    # (a bulk send's job is not in ByDomain: ByDomainType's manual entries hold it);
    # ByBulk (status projected) 1 per status change; the exact status indexes nothing
    immutable = ("ByDomainType", "ByScope", "ByPlatform", "ByRecipient")
    assert {name: by_index[name] for name in immutable} == dict.fromkeys(immutable, 1)
    assert by_index["ByDomain"] == 0
    assert by_index["InFlight"] == 1  # it leaves with the delivery event, not counted here
    assert by_index["ByBulk"] == 3
    assert by_index["ByDomainStatus"] == by_index["ByScopeStatus"] == 0


def test_what_dynamodb_stores_for_an_item_counts_each_index_entry_with_its_overhead() -> None:
    item = _item(pk="J", job_id="J", status="queued", subject="s", body="b")
    entry = BY_STATUS.entry(item, TABLE_KEYS)
    assert entry is not None

    # The item and its one entry, 100 bytes more each
    assert stored_bytes(item, TABLE_KEYS, [BY_STATUS]) == item_size(item) + 100 + item_size(entry) + 100
    # No entry where the index's keys are missing
    keyless = _item(pk="J", job_id="J")
    assert stored_bytes(keyless, TABLE_KEYS, [BY_STATUS]) == item_size(keyless) + 100


def _usage(**changes: float) -> CaseUsage:
    base: dict[str, Any] = {
        "name": "case",
        "emails": 1,
        "dynamodb_wru": 0.0,
        "dynamodb_rru": 0.0,
        "stored_bytes": 0.0,
        "s3_puts": 0.0,
        "s3_gets": 0.0,
        "s3_bytes": 0.0,
        "sqs_requests": 0.0,
        "lambda_requests": 0.0,
        "lambda_gb_seconds": 0.0,
        "log_bytes": 0.0,
        "eventbridge_events": 0.0,
        "secrets_calls": 0.0,
        "retention_days": 30.4375,
    }
    return CaseUsage(**{**base, **changes})


def test_each_billed_item_is_its_usage_times_its_price_per_million_emails() -> None:
    # SES alone: $100 a million, the ratio 1
    assert _usage().total == pytest.approx(100.0)
    assert _usage().ratio_to_ses == pytest.approx(1.0)
    costs = _usage(
        dynamodb_wru=10,
        dynamodb_rru=4,
        stored_bytes=GB / 1e6,  # a GB a million emails, kept a month
        s3_puts=1,
        s3_gets=1,
        s3_bytes=GB / 1e6,
        sqs_requests=5,
        lambda_requests=2,
        lambda_gb_seconds=0.1,
        log_bytes=GB / 1e6,
        eventbridge_events=1,
        secrets_calls=0.01,
    ).costs()
    assert costs["DynamoDB writes"] == pytest.approx(6.25)
    assert costs["DynamoDB reads"] == pytest.approx(0.5)
    assert costs["DynamoDB storage"] == pytest.approx(0.25)
    assert costs["DynamoDB point-in-time recovery"] == pytest.approx(0.20)
    assert costs["S3 requests"] == pytest.approx(5.0 + 0.4)
    assert costs["S3 storage"] == pytest.approx(0.023)
    assert costs["SQS"] == pytest.approx(2.0)
    assert costs["Lambda"] == pytest.approx(0.4 + 1.33334)
    assert costs["CloudWatch Logs"] == pytest.approx(0.5)
    assert costs["EventBridge"] == pytest.approx(1.0)
    assert costs["Secrets Manager"] == pytest.approx(0.05)


def test_storage_is_billed_for_as_long_as_the_email_is_kept() -> None:
    month = _usage(stored_bytes=GB / 1e6, s3_bytes=GB / 1e6).costs()
    quarter = _usage(stored_bytes=GB / 1e6, s3_bytes=GB / 1e6, retention_days=3 * 30.4375).costs()

    assert quarter["DynamoDB storage"] == pytest.approx(3 * month["DynamoDB storage"])
    assert quarter["S3 storage"] == pytest.approx(3 * month["S3 storage"])


def test_log_bytes_add_each_events_overhead_and_lambdas_own_lines() -> None:
    # 1,000 bytes in 10 lines, from 2 invocations, for 2 emails
    assert log_bytes_per_email(1000, 10, 2, 2) == pytest.approx((1000 + 10 * 26 + 2 * LAMBDA_LINES_BYTES) / 2)
    assert log_bytes_per_email(1000, 10, 2, 0) == 0.0


def test_the_monthly_items_come_from_the_templates_resources() -> None:
    template = {
        "Resources": {
            "A": {"Type": "AWS::SecretsManager::Secret"},
            "B": {"Type": "AWS::SecretsManager::Secret"},
            "K": {"Type": "AWS::KMS::Key"},
            "F": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"Q": {"Type": "SQS"}}}},
            "G": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "W": {"Type": "AWS::CloudWatch::Alarm"},
        }
    }

    fixed = {item.what: item.dollars_a_month for item in fixed_monthly(template)}

    assert fixed["Secrets Manager secrets"] == pytest.approx(0.80)
    assert fixed["KMS customer managed keys"] == pytest.approx(1.0)
    assert fixed["CloudWatch alarms"] == pytest.approx(0.10)
    assert fixed["CloudWatch dashboard"] == 0
    # One queue's 5 pollers, a receive each 20 s, all month
    month = 30.4375 * 24 * 3600
    assert fixed["SQS: the event source mappings' empty long polls"] == pytest.approx(5 * month / 20 * 0.40 / 1e6)
    # Two roles, a KMS request each 5 minutes at most
    assert fixed["KMS requests for the tables' AWS managed key"] == pytest.approx(2 * month / 300 * 0.03 / 10_000)


def test_what_it_would_take_names_every_item_beyond_ses_and_the_cut_that_would_pay_the_difference() -> None:
    # $8.75 of writes (14 WRU), $2 of SQS: $10.75 beyond SES against the goal's $10, $0.75 to shed
    case = _usage(dynamodb_wru=14, sqs_requests=5, table_wru=5)
    text = what_it_would_take(case, 1.10)
    assert "$10.75 beyond SES's $100.00 against the goal's $10.00, $0.75 to shed" in text
    assert "DynamoDB writes $8.75 (81%), SQS $2.00 (19%)" in text
    # 14 WRU less $0.75 at $0.625 a million units: 12.8 WRU, 7.8 of them the indexes'
    assert "would have to fall from 14.00 to 12.8 write units per email" in text
    assert "beside the table's own 5.00" in text and "7.8 of the indexes' 9.00" in text


def test_what_it_would_take_says_when_no_cut_of_the_writes_is_enough() -> None:
    below_table = what_it_would_take(_usage(dynamodb_wru=14, sqs_requests=20, table_wru=5), 1.10)
    assert "below the table's own 5.00" in below_table and "not reached even with no index at all" in below_table
    beyond_writes = what_it_would_take(_usage(dynamodb_wru=14, s3_puts=4), 1.10)  # $20 of PUTs
    assert "no cut of the writes alone reaches it" in beyond_writes
    within = what_it_would_take(_usage(dynamodb_wru=8), 1.10)
    assert "within the goal's $10.00" in within
