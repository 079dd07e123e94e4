"""Paused domains: POST /jobs/bulk answers 409 domain_paused past the bounce or
complaint threshold over the domain's recent sends (common/logic/reputation.py),
while its system emails still flow. Jobs with delivery statuses are written
directly, as the event path would leave them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from common.logic import reputation
from common.logic.reputation import ReputationCheck, Thresholds, verdict
from common.models.clock import utc_now
from common.models.job import JobStatus, JobType, new_job_id
from common.models.settings import reset_settings
from local.template import Stack
from tests.helpers import load_function
from tests.integration.api_support import Admin, jobs_table, make_job, store_jobs

ACME = "acme.com"
BETA = "beta.io"


@pytest.fixture
def admin(stack: Stack, lambda_context) -> Admin:
    return Admin(lambda_context, domains=f"{ACME} {BETA}")


# The statuses of a job SES accepted: it has a sent_at.
ACCEPTED = {JobStatus.SENT, JobStatus.DELAYED, JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED}


def history(
    domain: str = ACME,
    *,
    hours_ago: float = 1,
    sent_hours_ago: float | None = None,
    transient: bool = False,
    **statuses: int,
) -> list[str]:
    """``statuses``: how many jobs of the domain in each status, created
    ``hours_ago`` and, those SES accepted, sent ``sent_hours_ago`` (default:
    when created), as the worker and the event path leave them: a bounce is
    permanent (``permanent_bounce``) unless ``transient``. Returns their ids."""
    at = utc_now() - timedelta(hours=hours_ago)
    sent_at = utc_now() - timedelta(hours=sent_hours_ago) if sent_hours_ago is not None else None
    jobs = []
    for status, count in statuses.items():
        for i in range(count):
            job = make_job(
                domain,
                status=JobStatus(status),
                job_type=list(JobType)[i % len(JobType)],
                at=at + timedelta(milliseconds=i),
            )
            if job.status in ACCEPTED:
                job = job.model_copy(update={"sent_at": (sent_at or job.created_at) + timedelta(milliseconds=i)})
            jobs.append(job)
    store_jobs(jobs)
    client = boto3.client("dynamodb", region_name="us-east-1")
    table = jobs_table()._table
    for job in jobs:
        if job.status is JobStatus.BOUNCED and not transient:
            client.update_item(
                TableName=table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression="SET permanent_bounce = :t",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
    return [job.job_id for job in jobs]


def post(admin: Admin, domain: str = ACME) -> Any:
    return admin.bulk({"domain": domain, "subject": "News", "body": "Hello", "extra_recipients": "a@example.org"})


def bulk_queue_depth(stack: Stack) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    got = sqs.receive_message(QueueUrl=stack.names["BulkQueue"], MaxNumberOfMessages=10)
    return len(got.get("Messages", []))


def manual_jobs(domain: str = ACME) -> int:
    entries = 0
    for shard in range(4):
        found, _ = jobs_table().query_partition(
            "ByDomainType", f"{domain}#manual#{shard}", low=None, high=None, limit=1000
        )
        entries += len(found)
    return entries


def assert_paused(reply: Any, *words: str) -> str:
    assert reply.status == 409, reply.body
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == "domain_paused"
    message = str(reply.body["error"]["message"])
    for word in ("%", "To resume", "PauseExemptDomains", *words):
        assert word in message
    return message


# ------------------------------------------------------------------ paused
def test_past_the_bounce_rate_a_bulk_send_is_409_and_nothing_is_written_or_queued(admin: Admin, stack: Stack) -> None:
    # Given acme.com's last day: 100 sent or delivered, 6 bounced (5.7%, the limit 5%)
    history(sent=60, delivered=40, bounced=6)
    manual_before = manual_jobs()

    # When its admin posts a bulk send
    reply = post(admin)

    # Then 409 domain_paused says the rate, the limit and how to resume
    message = assert_paused(reply, "5.66%", "bounced", "the limit is 5%", "106 emails")
    assert "acme.com" in message
    # and nothing was written or queued
    assert manual_jobs() == manual_before
    assert bulk_queue_depth(stack) == 0


def test_past_the_complaint_rate_a_bulk_send_is_409(admin: Admin) -> None:
    history(delivered=199, complained=1)  # 0.5%, the limit 0.1%
    assert_paused(post(admin), "0.5%", "marked as spam", "the limit is 0.1%")


def test_never_sent_jobs_do_not_dilute_the_rate(admin: Admin) -> None:
    # 6 bounced of 106 sent: 5.7%; the 100 suppressed, failed and canceled were never sent
    history(sent=100, bounced=6, suppressed=60, failed=30, canceled=10)
    assert_paused(post(admin), "5.66%")


def test_a_paused_domain_s_system_emails_still_flow(admin: Admin, stack: Stack, lambda_context) -> None:
    history(sent=100, bounced=10)
    assert post(admin).status == 409
    enqueue = load_function("enqueue").handler
    answer = enqueue(
        {"type": "escalation", "domain": ACME, "to": "owner@acme.com", "subject": "Bell", "body_text": "Hi"},
        lambda_context,
    )
    (job_id,) = answer["job_ids"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    got = sqs.receive_message(QueueUrl=stack.names["PriorityQueue"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["job_id"] for m in got["Messages"]] == [job_id]


# ------------------------------------------------------------------ not paused
def test_below_the_thresholds_the_bulk_send_is_queued(admin: Admin) -> None:
    history(sent=100, bounced=4)  # 3.8%
    assert post(admin).status == 202


def test_too_few_sends_to_judge_are_never_paused(admin: Admin) -> None:
    history(sent=40, bounced=40)  # 50%, but 80 sends < PauseMinimumSends (100)
    assert post(admin).status == 202


def test_bounces_older_than_the_window_do_not_count(admin: Admin) -> None:
    history(hours_ago=25, bounced=50)
    history(sent=100)
    assert post(admin).status == 202


def test_another_domain_s_bounces_never_pause_this_one(admin: Admin) -> None:
    history(BETA, sent=100, bounced=50)
    history(ACME, sent=100)
    assert post(admin, ACME).status == 202
    assert post(admin, BETA).status == 409


def test_an_exempt_domain_is_not_paused(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    history(sent=100, bounced=50)
    monkeypatch.setenv("PAUSE_EXEMPT_DOMAINS", f"other.example, {ACME.upper()}")
    reset_settings()
    assert post(admin).status == 202


def test_the_thresholds_come_from_the_template_s_parameters(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    history(sent=20, bounced=2)  # 9.1% of 22
    monkeypatch.setenv("PAUSE_MINIMUM_SENDS", "20")
    monkeypatch.setenv("PAUSE_BOUNCE_RATE", "10")
    reset_settings()
    assert post(admin).status == 202  # one more job, queued: not sent, so still 2 of 22
    monkeypatch.setenv("PAUSE_BOUNCE_RATE", "9")
    reset_settings()
    assert_paused(post(admin), "9.09%", "the limit is 9%")


def test_the_template_passes_the_thresholds_to_the_bulk_function(stack: Stack) -> None:
    environment = stack.function_environment("BulkQueueFunction")
    assert environment["PAUSE_BOUNCE_RATE"] == "5"
    assert environment["PAUSE_COMPLAINT_RATE"] == "0.1"
    assert environment["PAUSE_MINIMUM_SENDS"] == "100"
    assert environment["PAUSE_EXEMPT_DOMAINS"] == ""


# ------------------------------------------------------------------ the window and its cost
def check(thresholds: Thresholds | None = None) -> ReputationCheck:
    table = jobs_table()
    return ReputationCheck(table, thresholds or Thresholds(0.05, 0.001, 100), jobs=table)


def test_the_window_is_the_jobs_sent_in_the_last_24_hours(stack: Stack) -> None:
    # Given jobs created 30 hours ago but sent (after a wait) 2 hours ago: in the window
    history(hours_ago=30, sent_hours_ago=2, delivered=50, bounced=5)
    # and jobs created and sent 26 hours ago: out of it, bounces and all
    history(hours_ago=26, delivered=50, bounced=40)
    # and jobs created an hour ago, still queued or never sent: not sends
    history(queued=10, failed=10, suppressed=10, canceled=10)
    measured = check().measure(ACME)
    assert (measured.sends, measured.bounced, measured.complained) == (55, 5, 0)


def test_a_transient_bounce_is_a_send_but_not_counted_as_bounced(stack: Stack) -> None:
    history(delivered=100)
    history(bounced=20, transient=True)
    history(bounced=3)
    measured = check().measure(ACME)
    assert (measured.sends, measured.bounced) == (123, 3)


def test_the_window_is_at_most_the_newest_sample(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 30 bounced jobs two hours ago, then 200 sent jobs
    history(hours_ago=2, bounced=30)
    history(sent=200)
    thresholds = Thresholds(bounce_rate=0.05, complaint_rate=0.001, minimum_sends=100)

    # Over the whole day the rate is 13%
    whole = check(thresholds).measure(ACME)
    assert (whole.sends, whole.bounced, whole.sampled) == (230, 30, False)
    assert verdict(whole, thresholds) is not None

    # With a sample of the newest 120 jobs (15 a shard first), the old bounces fall out of it
    monkeypatch.setattr(reputation, "MAX_SAMPLE", 120)
    monkeypatch.setattr(reputation, "_PER_SHARD", 15)
    sampled = check(thresholds).measure(ACME)
    assert sampled.sampled
    assert sampled.sends == 120
    assert sampled.bounced == 0
    assert verdict(sampled, thresholds) is None


def test_one_check_is_8_queries_of_keys_and_a_batch_get_per_100_jobs(stack: Stack) -> None:
    history(sent=250, bounced=3)
    table = jobs_table()
    calls: list[tuple[str, dict[str, Any]]] = []
    for operation in ("Query", "BatchGetItem"):
        table._client.meta.events.register(
            f"before-parameter-build.dynamodb.{operation}",
            lambda params, operation=operation, **_: calls.append((operation, params)),
        )

    ReputationCheck(table, Thresholds(0.05, 0.001, 100), jobs=table).measure(ACME)

    queries = [params for operation, params in calls if operation == "Query"]
    gets = [params for operation, params in calls if operation == "BatchGetItem"]
    # ByDomain (jobs of no bulk send) and ByDomainType's bulk shards (a bulk send's), keys only
    assert len(queries) == reputation.CHECK_QUERIES == 4 + 4
    assert {q["IndexName"] for q in queries} == {"ByDomain", "ByDomainType"}
    assert all(q["Limit"] <= 1250 for q in queries)
    assert all(q["ExpressionAttributeValues"][":p"]["S"].startswith(f"{ACME}#") for q in queries)
    # then the 253 jobs' status and sent_at: 3 BatchGetItem of at most 100 keys, eventually consistent
    assert sorted(len(g["RequestItems"][table._table]["Keys"]) for g in gets) == [53, 100, 100]
    assert all(g["RequestItems"][table._table]["ConsistentRead"] is False for g in gets)


def test_a_bulk_sends_jobs_are_in_the_window(stack: Stack) -> None:
    """A bulk send's jobs are not in ByDomain: the window reads them from
    ByDomainType's <domain>#bulk# partitions."""
    history(sent=100, bounced=3)
    bulk_id = new_job_id()[0]
    bulk = [make_job(ACME, job_type=JobType.MANUAL).model_copy(update={"bulk_id": bulk_id}) for _ in range(20)]
    jobs_table().put_new(bulk, due_at=0)
    measured = check().measure(ACME)
    assert (measured.sends, measured.bounced) == (123, 3)


def test_a_paused_refusal_does_not_use_an_idempotency_key_up(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    history(sent=100, bounced=50)
    body = {"domain": ACME, "subject": "News", "body": "Hello", "extra_recipients": "a@example.org"}
    assert_paused(admin.bulk(body, key="spring-news"))
    monkeypatch.setenv("PAUSE_EXEMPT_DOMAINS", ACME)
    reset_settings()
    reply = admin.bulk(body, key="spring-news")
    assert reply.status == 202, reply.body
    assert reply.body["queued"] == 1
