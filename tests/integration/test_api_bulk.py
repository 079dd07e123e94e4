"""POST /jobs/bulk through BulkQueueFunction's handler, on moto."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from common.adapters import aws
from common.adapters import index_keys as keys
from common.logic.bulk import BulkSender
from common.models.job import Bodies, Job, JobStatus, JobType, QueueMessage, QueueName
from local.template import Stack
from tests.integration.api_support import (
    Admin,
    body_store,
    jobs_table,
    make_job,
    quick_queue_counts,
    spread,
    store_jobs,
)

SUBJECT = "Our opening hours over the holidays"
BODY = "Hello,\n\nWe are open every day from 9 to 17.\n\nThe Acme team"


@pytest.fixture
def admin(stack: Stack, lambda_context) -> Admin:
    return Admin(lambda_context, domains="acme.com beta.io")


def request(**fields: Any) -> dict[str, Any]:
    return {"domain": "acme.com", "subject": SUBJECT, "body": BODY} | fields


def queued_messages(stack: Stack, queue: str = "BulkQueue") -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=stack.names[queue], MaxNumberOfMessages=10, VisibilityTimeout=300)
        if not got.get("Messages"):
            return messages
        messages += [json.loads(m["Body"]) for m in got["Messages"]]


def assert_error(reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == code
    assert reply.body["error"]["message"]


# ------------------------------------------------------------------ the happy path
def test_selected_rows_and_typed_addresses_become_queued_manual_jobs(admin: Admin, stack: Stack) -> None:
    # Given two rows of acme.com selected
    rows = [make_job(recipient="ann@example.org"), make_job(recipient="bob@example.org")]
    store_jobs(rows)
    # When the admin sends to them and to three typed-in addresses
    reply = admin.bulk(
        request(
            job_ids=[row.job_id for row in rows],
            extra_recipients="cid@example.org, dee@example.net\neve@example.com",
        )
    )
    # Then five jobs are queued, one per recipient, on the bulk queue
    assert reply.status == 202, reply.body
    assert set(reply.body) == {"bulk_id", "queued", "job_ids", "rejected", "rejected_total", "duplicates"}
    assert reply.body["queued"] == 5
    assert reply.body["rejected"] == []
    assert reply.body["rejected_total"] == 0
    assert reply.body["duplicates"] == 0
    assert len(set(reply.body["job_ids"])) == 5
    stored = [jobs_table().get(job_id) for job_id in reply.body["job_ids"]]
    assert [job.recipient for job in stored if job] == [
        "ann@example.org",
        "bob@example.org",
        "cid@example.org",
        "dee@example.net",
        "eve@example.com",
    ]
    for job in stored:
        assert isinstance(job, Job)
        assert (job.domain, job.type, job.status, job.attempts) == ("acme.com", JobType.MANUAL, JobStatus.QUEUED, 0)
        assert (job.subject, job.body, job.bulk_id) == (SUBJECT, reply.body["bulk_id"], reply.body["bulk_id"])
    # And their one body, stored once under the bulk id, is the request's
    assert body_store().get(reply.body["bulk_id"]) == Bodies(text=BODY)
    messages = queued_messages(stack)
    assert sorted(m["job_id"] for m in messages) == sorted(reply.body["job_ids"])
    assert all(QueueMessage.model_validate(m).type is JobType.MANUAL for m in messages)
    assert queued_messages(stack, "PriorityQueue") == []


def test_a_bulk_send_is_in_the_sweepers_due_index_by_its_item_not_by_each_job(admin: Admin) -> None:
    # When an admin sends to three addresses
    reply = admin.bulk(request(extra_recipients="ann@example.org, bob@example.org, cid@example.org"))
    assert reply.status == 202, reply.body
    # Then the bulk's item is in Due, on the bulk queue's shards, due when its jobs are
    table = jobs_table()
    due = {
        entry.pk: entry for key in keys.due_keys(QueueName.BULK) for entry in table.due(key, now=2**40, limit=1000)[0]
    }
    bulk_id = reply.body["bulk_id"]
    assert f"k#{bulk_id}" in due
    [job] = table.in_flight_jobs(reply.body["job_ids"][:1])
    assert due[f"k#{bulk_id}"].sweep_at == job.due_at
    assert not set(reply.body["job_ids"]) & set(due)  # its jobs: through it, never one entry each


def test_the_bulk_send_is_in_the_log(admin: Admin) -> None:
    reply = admin.bulk(request(extra_recipients="ann@example.org"))
    listed = admin.list_jobs(domain="acme.com", type="manual", status="queued")
    assert [item["job_id"] for item in listed.body["items"]] == reply.body["job_ids"]


def test_the_emails_queued_metric_counts_the_jobs(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    admin.bulk(request(extra_recipients="a@example.org b@example.org c@example.org"))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [blob["EmailsQueued"] for blob in emitted if "EmailsQueued" in blob] == [[3.0]]


def test_other_ids_are_rejected_alike_and_the_rest_still_sent(admin: Admin) -> None:
    mine = make_job(recipient="ann@example.org")
    theirs = make_job("other.net", recipient="spy@example.org")
    sibling = make_job("beta.io", recipient="beta@example.org")  # the caller's, but not this domain
    store_jobs([mine, theirs, sibling])
    unknown = "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"
    reply = admin.bulk(request(job_ids=[mine.job_id, theirs.job_id, sibling.job_id, unknown, "nonsense"]))
    assert reply.status == 202
    assert reply.body["queued"] == 1
    assert [r["input"] for r in reply.body["rejected"]] == [theirs.job_id, sibling.job_id, unknown, "nonsense"]
    # The same reason for each: whether a job exists elsewhere is not told.
    assert len({r["reason"] for r in reply.body["rejected"]}) == 1
    [job_id] = reply.body["job_ids"]
    stored = jobs_table().get(job_id)
    assert stored is not None
    assert stored.recipient == "ann@example.org"


def test_duplicates_are_dropped_case_insensitively_across_rows_and_typed(admin: Admin) -> None:
    rows = [make_job(recipient="Ann@Example.org"), make_job(recipient="ann@example.org")]
    store_jobs(rows)
    reply = admin.bulk(
        request(
            job_ids=[rows[0].job_id, rows[1].job_id, rows[0].job_id],
            extra_recipients="ANN@example.org; bob@example.org BOB@EXAMPLE.ORG bad@ bad@",
        )
    )
    assert reply.status == 202
    assert reply.body["queued"] == 2
    assert reply.body["duplicates"] == 4
    assert reply.body["rejected"] == [{"input": "bad@", "reason": reply.body["rejected"][0]["reason"]}]
    recipients = [jobs_table().get(i).recipient for i in reply.body["job_ids"]]  # type: ignore[union-attr]
    assert recipients == ["Ann@example.org", "bob@example.org"]


# ------------------------------------------------------------------ limits
def test_no_valid_recipient_is_400(admin: Admin, stack: Stack) -> None:
    for body in (
        request(),
        request(job_ids=[], extra_recipients=""),
        request(extra_recipients="not-an-address, also@not@one"),
        request(job_ids=["01JGQ6Z1T8W3Y5K7M9P2R4S6V8"]),
    ):
        assert_error(admin.bulk(body), 400, "no_recipients")
    assert queued_messages(stack) == []


def test_1000_recipients_are_accepted_and_1001_are_413(
    admin: Admin, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick_queue_counts(monkeypatch)
    addresses = [f"user{i}@example.org" for i in range(1001)]
    too_many = admin.bulk(request(extra_recipients="\n".join(addresses)))
    assert_error(too_many, 413, "too_many_recipients")
    assert queued_messages(stack) == []
    # Duplicates do not count against the limit.
    reply = admin.bulk(request(extra_recipients="\n".join(addresses[:1000] + [a.upper() for a in addresses[:50]])))
    assert reply.status == 202
    assert (reply.body["queued"], reply.body["duplicates"]) == (1000, 50)


def test_more_selected_rows_than_allowed_is_413(admin: Admin) -> None:
    assert_error(admin.bulk(request(job_ids=["01JGQ6Z1T8W3Y5K7M9P2R4S6V8"] * 5001)), 413, "too_many_recipients")


def test_the_recipient_limit_counts_after_de_duplication_of_selected_rows(
    admin: Admin, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 1,200 selected rows that name only three recipients (each emailed many times)
    quick_queue_counts(monkeypatch)
    rows = [make_job(recipient=f"visitor{i % 3}@example.org") for i in range(1200)]
    store_jobs(rows)
    reply = admin.bulk(request(job_ids=[row.job_id for row in rows]))
    # Then three emails are queued: the limit of 1,000 counts recipients, not rows
    assert reply.status == 202, reply.body
    assert (reply.body["queued"], reply.body["duplicates"], reply.body["rejected"]) == (3, 1197, [])
    assert len(queued_messages(stack)) == 3


def test_many_selected_rows_none_of_the_domain_is_400_no_recipients(admin: Admin, stack: Stack) -> None:
    unknown = [f"01JGQ6Z1T8W3Y5K7M9P{i:07d}" for i in range(5000)]
    reply = admin.bulk(request(job_ids=unknown))
    assert_error(reply, 400, "no_recipients")
    assert queued_messages(stack) == []


def test_an_oversized_address_list_is_413(admin: Admin) -> None:
    assert_error(admin.bulk(request(extra_recipients=" " * 200_001)), 413, "too_many_recipients")


@pytest.mark.parametrize(
    ("subject", "status"),
    [("", 400), ("x" * 201, 400), ("Line\nbreak", 400), ("Carriage\rreturn", 400), ("x" * 200, 202), ("x", 202)],
)
def test_subject_limits(admin: Admin, subject: str, status: int) -> None:
    reply = admin.bulk(request(subject=subject, extra_recipients="ann@example.org"))
    assert reply.status == status, reply.body
    if status == 400:
        assert_error(reply, 400, "invalid_request")
        assert "subject" in reply.body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("", 400, "invalid_request"),
        ("x" * 100_000, 202, None),
        ("x" * 100_001, 413, "body_too_large"),
        ("\N{EURO SIGN}" * 100_000, 202, None),  # 300,000 bytes: exactly what an item holds
        ("\N{GRINNING FACE}" * 80_000, 413, "body_too_large"),  # 320,000 bytes
    ],
)
def test_body_limits(admin: Admin, body: str, status: int, code: str | None) -> None:
    reply = admin.bulk(request(body=body, extra_recipients="ann@example.org"))
    assert reply.status == status, reply.body
    if code:
        assert_error(reply, status, code)


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '"a string"',
        json.dumps({"subject": SUBJECT, "body": BODY, "extra_recipients": "a@example.org"}),  # no domain
        json.dumps(request(extra_recipients="a@example.org", cc="b@example.org")),  # unknown field
        json.dumps(request(job_ids="01JGQ6Z1T8W3Y5K7M9P2R4S6V8")),  # not a list
        json.dumps(request(job_ids=[1, 2])),
        json.dumps(request(domain="not a domain", extra_recipients="a@example.org")),
        json.dumps({"domain": "acme.com", "extra_recipients": "a@example.org", "body": BODY}),  # no subject
    ],
)
def test_malformed_requests_are_400_invalid_request(admin: Admin, stack: Stack, body: str) -> None:
    assert_error(admin.bulk(body), 400, "invalid_request")
    assert queued_messages(stack) == []


def test_a_domain_not_among_the_callers_is_403_and_nothing_is_queued(admin: Admin, stack: Stack) -> None:
    assert_error(admin.bulk(request(domain="other.net", extra_recipients="a@example.org")), 403, "forbidden")
    assert queued_messages(stack) == []


def test_no_authorizer_context_is_401(stack: Stack, lambda_context) -> None:
    reply = Admin(lambda_context, authorizer=False).bulk(request(extra_recipients="a@example.org"))
    assert_error(reply, 401, "unauthorized")


# ------------------------------------------------------------------ idempotency
def test_the_same_key_returns_the_first_response_and_queues_nothing_more(admin: Admin, stack: Stack) -> None:
    body = request(extra_recipients="ann@example.org bob@example.org")
    first = admin.bulk(body, key="hours-2026")
    again = admin.bulk(body, key="hours-2026")
    assert first.status == again.status == 202
    assert again.body == first.body
    assert len(queued_messages(stack)) == 2
    # A new key is a new send.
    other = admin.bulk(body, key="hours-2026-b")
    assert other.status == 202
    assert other.body["bulk_id"] != first.body["bulk_id"]


def test_the_same_key_with_a_different_request_is_409(admin: Admin, stack: Stack) -> None:
    admin.bulk(request(extra_recipients="ann@example.org"), key="k-1")
    changed = admin.bulk(request(extra_recipients="ann@example.org", subject="Another subject"), key="k-1")
    assert_error(changed, 409, "idempotency_key_reused")
    assert len(queued_messages(stack)) == 1


def test_keys_are_per_caller(stack: Stack, lambda_context) -> None:
    body = request(extra_recipients="ann@example.org")
    first = Admin(lambda_context, sub="admin-1").bulk(body, key="shared")
    second = Admin(lambda_context, sub="admin-2").bulk(body, key="shared")
    assert first.status == second.status == 202
    assert first.body["bulk_id"] != second.body["bulk_id"]


def test_a_refused_request_does_not_use_up_its_key(admin: Admin) -> None:
    assert_error(admin.bulk(request(extra_recipients="bad@"), key="retry-me"), 400, "no_recipients")
    fixed = admin.bulk(request(extra_recipients="ann@example.org"), key="retry-me")
    assert fixed.status == 202


def test_a_key_whose_first_request_is_still_running_is_409(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a first request that, while it queues, sees a second one with its key
    seen: list[Any] = []
    original = BulkSender.queue

    def queue_and_meanwhile(self, request_model, **kwargs):
        if not seen:
            seen.append(admin.bulk(request(extra_recipients="ann@example.org"), key="slow"))
        return original(self, request_model, **kwargs)

    monkeypatch.setattr(BulkSender, "queue", queue_and_meanwhile)
    first = admin.bulk(request(extra_recipients="ann@example.org"), key="slow")
    # Then the second got 409 and the first went through. (Only the first's body
    # is checked: the nested call shares the resolver's per-request state, so
    # the first's status code here is an artefact of running both in one process.)
    assert_error(seen[0], 409, "idempotency_in_progress")
    assert first.body["queued"] == 1
    again = admin.bulk(request(extra_recipients="ann@example.org"), key="slow")
    assert again.status == 202
    assert again.body == first.body


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "ünïcode"])
def test_an_invalid_idempotency_key_is_400(admin: Admin, key: str) -> None:
    reply = admin.bulk(request(extra_recipients="ann@example.org"), key=key)
    assert_error(reply, 400, "invalid_request")
    assert "Idempotency-Key" in reply.body["error"]["message"]


# ------------------------------------------------------------------ AWS limits
class CallLog:
    """Every AWS call a client makes, with its parameters (moto accepts oversize batches: we count)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, params))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


def test_a_1000_recipient_bulk_send_stays_within_aws_limits(
    admin: Admin, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick_queue_counts(monkeypatch)
    # Given 250 selected rows and 750 typed-in addresses
    rows = [make_job(recipient=f"row{i}@example.org", at=t) for i, t in enumerate(spread(250))]
    store_jobs(rows)
    typed = "\n".join(f"typed{i}@example.org" for i in range(750))
    log = CallLog()
    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb", log)
    aws.sqs().meta.events.register("before-parameter-build.sqs", log)
    # When the admin sends to all of them
    reply = admin.bulk(request(job_ids=[row.job_id for row in rows], extra_recipients=typed))
    # Then 1,000 jobs are queued...
    assert reply.status == 202, reply.body
    assert reply.body["queued"] == 1000
    # ...with at most 41 BatchWriteItem of at most 25 items each: 1,000 jobs and their one body
    writes = log.of("BatchWriteItem")
    assert 0 < len(writes) <= 41
    assert all(len(items) <= 25 for w in writes for items in w["RequestItems"].values())
    assert sum(len(items) for w in writes for items in w["RequestItems"].values()) == 1001
    # ...at most 100 SendMessageBatch of at most 10 entries, all on the bulk queue
    batches = log.of("SendMessageBatch")
    assert 0 < len(batches) <= 100
    assert all(len(b["Entries"]) <= 10 for b in batches)
    assert {b["QueueUrl"] for b in batches} == {stack.names["BulkQueue"]}
    assert sum(len(b["Entries"]) for b in batches) == 1000
    # ...rows read 100 keys per BatchGetItem at most, never a Scan; the suppression list likewise (10 for 1,000)
    gets = log.of("BatchGetItem")
    suppressions = [
        g for g in gets if all(k["pk"]["S"].startswith("sup#") for r in g["RequestItems"].values() for k in r["Keys"])
    ]
    # (the pause check reads its candidates' status and sent_at, 100 per call)
    facts = [g for g in gets if "sent_at" in str(next(iter(g["RequestItems"].values())).get("ProjectionExpression"))]
    assert (len(gets) - len(suppressions) - len(facts), len(suppressions)) == (3, 10)
    assert all(len(request["Keys"]) <= 100 for g in gets for request in g["RequestItems"].values())
    assert not log.of("Scan")
    # ...and the pause check's 8 small Queries of the domain's index partitions
    queries = log.of("Query")
    assert len(queries) <= 8
    assert {q["IndexName"] for q in queries} <= {"ByDomain", "ByDomainType"}
    # ...and the bulk's item written with its audit entry, in one TransactWriteItems
    # ...and, after the jobs, one TransactWriteItems adds the 1,000 jobs to the statistics counters (the
    # domain's and the platform's: docs/adr/0084-statistics-counters.md)
    transaction, counters = log.of("TransactWriteItems")
    assert [next(iter(item)) for item in transaction["TransactItems"]] == ["Update", "Put"]
    assert [item["Update"]["Key"]["pk"]["S"][:3] for item in counters["TransactItems"]] == ["st#", "st#"]
    assert Counter(name for name, _ in log.calls).keys() <= {
        "Query",
        "BatchGetItem",
        "BatchWriteItem",
        "SendMessageBatch",
        "PutItem",
        "UpdateItem",
        "GetItem",
        "DeleteItem",
        "TransactWriteItems",
    }
    assert len(queued_messages(stack)) == 1000
