"""The audit trail (GET /audit): one entry per admin action that changed
something, with the JWT sub, written by the action's own request (in its own
write where the action is one write); none for a refused request, a no-op or
a replay. Every request goes through its function's handler as API Gateway
passes it on, on moto, under the function's role."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from common.adapters import aws
from common.adapters.audit_trail import AuditTrail
from common.adapters.bodies import BodyStore
from common.adapters.idempotency_markers import IdempotencyMarkers
from common.adapters.job_store import JobStore
from common.adapters.queues import JobQueues
from common.logic.audit import record_test_send
from common.logic.outbox import Outbox
from common.models.api import Caller
from common.models.job import Bodies, JobStatus, JobType
from local.template import Stack
from tests.integration.api_support import make_job
from tests.integration.suppression_support import Reply, call, delete, put, unsubscribe

ACME = "acme.com"
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def bulk_send(recipients: str, *, key: str | None = None, sub: str = "admin-1", domain: str = ACME) -> Reply:
    body = {"domain": domain, "extra_recipients": recipients, "subject": "Spring news", "body": "Hello."}
    headers = (("idempotency-key", key),) if key else ()
    return call(
        "bulk_queue", "POST", "/jobs/bulk", "/jobs/bulk", body=json.dumps(body).encode(), headers=headers, sub=sub
    )


def action(path: str, route: str, params: dict[str, str], *, key: str | None = None, sub: str = "admin-1") -> Reply:
    headers = (("idempotency-key", key),) if key else ()
    return call("job_actions", "POST", path, route, params=params, headers=headers, sub=sub)


def cancel(job_id: str, **more: Any) -> Reply:
    return action(f"/jobs/{job_id}/cancel", "/jobs/{job_id}/cancel", {"job_id": job_id}, **more)


def cancel_bulk(bulk_id: str, **more: Any) -> Reply:
    return action(f"/bulks/{bulk_id}/cancel", "/bulks/{bulk_id}/cancel", {"bulk_id": bulk_id}, **more)


def retry(job_id: str, **more: Any) -> Reply:
    return action(f"/jobs/{job_id}/retry", "/jobs/{job_id}/retry", {"job_id": job_id}, **more)


def audit(*, domains: str | None = ACME, **query: Any) -> Reply:
    return call("list_jobs", "GET", "/audit", "/audit", query=urlencode(query), domains=domains)


def entries(domain: str = ACME) -> list[dict[str, Any]]:
    reply = audit(domain=domain, limit=100, domains="*")
    assert reply.status == 200, reply.text
    found: list[dict[str, Any]] = reply.json["items"]
    return found


def token_of(job_id: str) -> str:
    reply = call("list_jobs", "GET", f"/jobs/{job_id}", "/jobs/{job_id}", params={"job_id": job_id})
    assert reply.status == 200, reply.text
    return str(reply.json["unsubscribe_url"]).rsplit("/unsubscribe/", 1)[1]


# ------------------------------------------------------------------ one entry per action
def test_each_admin_action_writes_one_entry_with_the_callers_sub(stack: Stack) -> None:
    # Given a bulk send to three recipients by alice
    sent = bulk_send("a@example.org, b@example.org, c@example.org", sub="alice")
    assert sent.status == 202, sent.text
    bulk_id, (first, second, third) = sent.json["bulk_id"], sent.json["job_ids"]
    # When bob cancels one of its jobs, then the rest of the bulk send, and retries the first
    assert cancel(first, sub="bob").status == 200
    assert cancel_bulk(bulk_id, sub="bob").json["canceled"] == 2
    retried = retry(first, sub="carol")
    assert retried.status == 202, retried.text
    # and dave suppresses an address by hand, then removes it; and a recipient unsubscribes
    assert put(ACME, "Z@Example.org", sub="dave").status == 200
    assert delete(ACME, "z@example.org", sub="dave").status == 204
    assert unsubscribe("POST", token_of(second), body=ONE_CLICK, content_type=FORM).status == 200

    # Then the domain's trail holds one entry per action, newest first
    found = entries()
    assert [(e["action"], e["actor"], e["target"]) for e in found] == [
        ("unsubscribe", "recipient", "b@example.org"),
        ("suppression_remove", "dave", "z@example.org"),
        ("suppression_add", "dave", "z@example.org"),
        ("job_retry", "carol", first),
        ("bulk_cancel", "bob", bulk_id),
        ("job_cancel", "bob", first),
        ("bulk_send", "alice", bulk_id),
    ]
    # each with a time and a sentence for a person; a retry names the new job
    assert all(e["at"].endswith("Z") and e["detail"] for e in found)
    assert retried.json["job_id"] in found[3]["detail"]
    assert "3 recipients" in found[-1]["detail"] and "2 unsent" in found[-3]["detail"]
    assert third  # the bulk cancel's two jobs
    # and the entries live as long as the jobs (RetentionDays), keyed for ByDomainRecord
    table = stack.names["JobsTable"]
    item = aws.dynamodb().get_item(TableName=table, Key={"pk": {"S": f"audit#{bulk_id}"}})["Item"]
    assert item["lk"]["S"] == f"a#{ACME}" and item["ls"]["S"] == bulk_id
    job = aws.dynamodb().get_item(TableName=table, Key={"pk": {"S": first}})["Item"]
    assert item["expires_at"]["N"] == job["expires_at"]["N"]


def test_refused_requests_no_ops_and_replays_write_no_entry(stack: Stack) -> None:
    sent = bulk_send("a@example.org, b@example.org", key="spring")
    bulk_id, (first, second) = sent.json["bulk_id"], sent.json["job_ids"]
    assert cancel(first).status == 200
    assert retry(first, key="again").status == 202
    assert put(ACME, "z@example.org").status == 200
    assert unsubscribe("POST", token_of(second), body=ONE_CLICK, content_type=FORM).status == 200
    before = entries()
    assert len(before) == 5

    # A replay of an Idempotency-Key: the bulk send, the retry
    assert bulk_send("a@example.org, b@example.org", key="spring").json["bulk_id"] == bulk_id
    assert retry(first, key="again").status == 202
    # No-ops: a PUT of a listed address, a second unsubscribe, a bulk cancel of nothing left
    assert put(ACME, "Z@example.org").status == 200
    assert unsubscribe("POST", token_of(second), body=ONE_CLICK, content_type=FORM).status == 200
    assert cancel_bulk(bulk_id).status == 200  # b@ is suppressed but its job still queued: one canceled
    assert len(entries()) == 6
    assert cancel_bulk(bulk_id).json["canceled"] == 0
    # Refused: a cancel of a canceled job (409), a DELETE of an unlisted address (404),
    # another tenant's domain (403), a bulk send with no valid recipient (400)
    assert cancel(first).status == 409
    assert delete(ACME, "nobody@example.org").status == 404
    assert put(ACME, "y@example.org", domains="other.net").status == 403
    assert bulk_send("not-an-address").status == 400
    assert cancel(first, sub="mallory").status == 409

    assert [e["action"] for e in entries()] == ["bulk_cancel", *[e["action"] for e in before]]


# ------------------------------------------------------------------ atomicity
def fail_audit_put(stack: Stack) -> None:
    """DynamoDB refusing the entry's Put (its condition made to fail on the way
    out, at the AWS boundary): the transaction it is part of is canceled whole."""

    def refuse(params: dict[str, Any], **_: Any) -> None:
        for item in params["TransactItems"]:
            if "Put" in item and item["Put"]["Item"]["pk"]["S"].startswith("audit#"):
                item["Put"]["ConditionExpression"] = "attribute_exists(pk)"

    aws.dynamodb().meta.events.register("provide-client-params.dynamodb.TransactWriteItems", refuse)


def test_a_failed_entry_leaves_the_action_undone(stack: Stack) -> None:
    sent = bulk_send("a@example.org")
    (job_id,) = sent.json["job_ids"]
    before = entries()
    fail_audit_put(stack)

    # A cancel whose entry DynamoDB refuses is a 500, and the job is still queued
    reply = cancel(job_id)
    assert (reply.status, reply.code) == (500, "internal_error")
    got = call("list_jobs", "GET", f"/jobs/{job_id}", "/jobs/{job_id}", params={"job_id": job_id})
    assert got.json["status"] == "queued"
    # so is a suppression: nothing listed
    assert put(ACME, "x@example.org").status == 500
    assert call("suppressions", "GET", "/suppressions", "/suppressions", query="domain=acme.com").json["items"] == []
    # and a bulk send: its item is not written, and no job either
    failed = bulk_send("b@example.org")
    assert (failed.status, failed.code) == (500, "bulk_send_unfinished")
    assert entries() == before


def test_without_the_transaction_the_action_would_be_written_alone(stack: Stack) -> None:
    """The fault above is real: the same refused Put, alone, fails on its own."""
    with pytest.raises(ClientError) as refused:
        aws.dynamodb().put_item(
            TableName=stack.names["JobsTable"],
            Item={"pk": {"S": "audit#01J00000000000000000000000"}},
            ConditionExpression="attribute_exists(pk)",
        )
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


# ------------------------------------------------------------------ GET /audit
def test_the_trail_is_the_callers_domains_only(stack: Stack) -> None:
    assert bulk_send("a@example.org").status == 202
    assert bulk_send("a@example.org", domain="other.net", sub="x").status == 403
    assert (audit(domain="other.net").status, audit(domain="other.net").code) == (403, "forbidden")
    assert [e["action"] for e in audit(domain=ACME).json["items"]] == ["bulk_send"]
    assert [e["action"] for e in audit(domain=ACME, domains="*").json["items"]] == ["bulk_send"]
    assert audit(domain="other.net", domains="*").json == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query", [{}, {"domain": ACME, "limit": 0}, {"domain": ACME, "limit": 101}, {"domain": "not a host"}]
)
def test_a_domain_is_required_and_the_limit_is_1_to_100(stack: Stack, query: dict[str, Any]) -> None:
    reply = audit(**query)
    assert (reply.status, reply.code) == (400, "invalid_request")


def test_pages_are_newest_first_with_signed_cursors_of_their_domain(stack: Stack) -> None:
    for n in range(5):
        assert put(ACME, f"p{n}@example.org").status == 200
    first = audit(domain=ACME, limit=2)
    assert first.status == 200
    targets = [e["target"] for e in first.json["items"]]
    cursor = first.json["next_cursor"]
    while cursor:
        page = audit(domain=ACME, limit=2, cursor=cursor)
        targets += [e["target"] for e in page.json["items"]]
        cursor = page.json["next_cursor"]
    assert targets == [f"p{n}@example.org" for n in reversed(range(5))]
    assert audit(domain=ACME, limit=5).json["next_cursor"] is None  # a full last page: no empty one follows
    # A cursor altered, or used for another domain, is 400 invalid_cursor
    cursor = first.json["next_cursor"]
    altered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert audit(domain=ACME, cursor=altered).code == "invalid_cursor"
    assert audit(domain="beta.io", cursor=cursor, domains="*").code == "invalid_cursor"
    assert audit(domain=ACME, cursor="garbage").code == "invalid_cursor"


# ------------------------------------------------------------------ a test send's entry
def test_a_test_sends_entry_is_written_with_its_job_in_one_call(stack: Stack) -> None:
    """POST /jobs/test stores its job through the outbox; its entry rides in the same write."""
    table = stack.names["JobsTable"]
    outbox = Outbox(
        JobStore(aws.dynamodb(), table),
        IdempotencyMarkers(aws.dynamodb(), table),
        JobQueues(aws.sqs(), priority_url=stack.names["PriorityQueue"], bulk_url=stack.names["BulkQueue"]),
        BodyStore(aws.dynamodb(), table, aws.s3(), stack.names["BodiesBucket"]),
    )
    job = make_job(ACME, job_type=JobType.MANUAL, status=JobStatus.QUEUED, recipient="me@acme.com")
    writes: list[dict[str, Any]] = []
    aws.dynamodb().meta.events.register(
        "provide-client-params.dynamodb.BatchWriteItem", lambda params, **_: writes.append(params)
    )
    caller = Caller(subject="erin", domains=frozenset({ACME}))
    item = record_test_send(AuditTrail(aws.dynamodb(), table), caller, job)

    outbox.store_and_queue([job], due_at=0, bodies={job.body: Bodies(text="Hi")}, with_jobs={job.job_id: item})

    (write,) = writes  # the body, the entry and the job: one BatchWriteItem
    assert len(write["RequestItems"][table]) == 3
    [found] = entries()
    assert (found["action"], found["actor"], found["target"]) == ("test_send", "erin", job.job_id)
    assert "me@acme.com" in found["detail"]
