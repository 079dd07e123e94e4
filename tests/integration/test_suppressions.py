"""Suppression lists: the store, the routes, and every send path's check (moto, template.yaml)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.adapters import aws
from common.adapters.bulks import BulkItem, Bulks
from common.adapters.dynamo import BATCH_GET_LIMIT
from common.adapters.suppressions import SuppressionStore, suppression_item
from common.models.clock import utc_now
from common.models.job import JobStatus
from common.models.listing import get_list_jobs_settings
from common.models.suppression import SuppressionEntry, SuppressionReason
from local.jobs_table import JobsTable
from local.template import Stack
from tests.conftest import FakeLambdaContext
from tests.helpers import load_function
from tests.integration.suppression_support import call, delete, deliver, listed, listing, put, receive_all, store


def jobs() -> JobsTable:
    return JobsTable(aws.dynamodb(), get_list_jobs_settings().jobs_table)


class Calls:
    """The DynamoDB requests a client makes: (operation, params)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        aws.dynamodb().meta.events.register("before-parameter-build.dynamodb.*", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


def entry(email: str, *, reason: SuppressionReason = SuppressionReason.BOUNCED, minutes: int = 0) -> SuppressionEntry:
    return SuppressionEntry(
        domain="acme.com",
        email=email,
        reason=reason,
        created_at=utc_now() - timedelta(minutes=minutes),
        job_id=None,
    )


# ---------------------------------------------------------------- the store
def test_an_address_already_listed_keeps_its_entry_whatever_its_case(stack: Stack) -> None:
    first, created = store().add(entry("Visitor@Example.org", reason=SuppressionReason.BOUNCED, minutes=5))
    assert created and first.email == "visitor@example.org"
    again, created = store().add(entry("VISITOR@example.ORG", reason=SuppressionReason.MANUAL))
    assert not created
    assert again == first
    assert store().get("acme.com", "visitor@EXAMPLE.org") == first


def test_the_item_has_the_listing_keys_and_no_null_job_id(stack: Stack) -> None:
    item = suppression_item(entry("a@example.org"))
    assert item["pk"] == {"S": "sup#acme.com#a@example.org"}
    assert item["spk"] == {"S": "acme.com"}
    assert item["ssk"]["S"].endswith("Z#a@example.org")
    assert "job_id" not in item
    # Nothing of a job: it is in no job index
    assert not {"dk", "dtk", "tk", "rk", "fk", "bk", "esk", "esa"} & set(item)


def test_remove_says_whether_the_address_was_listed(stack: Stack) -> None:
    store().add(entry("gone@example.org"))
    assert store().remove("acme.com", "GONE@example.org") is True
    assert store().remove("acme.com", "gone@example.org") is False
    assert store().get("acme.com", "gone@example.org") is None


def test_get_many_reads_at_most_100_keys_per_call_and_1000_in_10(stack: Stack) -> None:
    addresses = [f"r{n}@example.org" for n in range(1000)]
    for n in range(0, 1000, 97):
        store().add(entry(addresses[n]))
    calls = Calls()
    found = store().get_many(("acme.com", a.upper()) for a in addresses)
    batches = calls.of("BatchGetItem")
    assert len(batches) == 10
    assert all(len(b["RequestItems"][get_list_jobs_settings().jobs_table]["Keys"]) <= BATCH_GET_LIMIT for b in batches)
    assert set(found) == {("acme.com", addresses[n]) for n in range(0, 1000, 97)}


def test_the_workers_batch_read_finds_entries_and_bulk_cancel_marks_in_one_consistent_call(stack: Stack) -> None:
    # Given a listed address, a canceled bulk send and one not canceled
    store().add(entry("gone@example.org"))
    bulks = Bulks(aws.dynamodb(), get_list_jobs_settings().jobs_table, retention_days=90)
    canceled, live = "01JGQ6Z1T8W3Y5K7M9P2R4S6V8", "01JGQ6Z1T8W3Y5K7M9P2R4S6V9"
    for bulk_id in (canceled, live):
        bulks.put_bulk(BulkItem.of(bulk_id, "acme.com", "S"))
    assert bulks.mark_bulk_canceled(canceled, now_ms=1)
    calls = Calls()
    # When the worker's read asks for both addresses and all three bulk ids (one never written)
    pairs = [("acme.com", "GONE@example.org"), ("acme.com", "kept@example.org"), ("beta.io", "gone@example.org")]
    found = store().get_many_with_bulk_marks(pairs, [canceled, live, "01JGQ6Z1T8W3Y5K7M9P2R4S6VA"])
    # Then one strongly consistent BatchGetItem answers both
    [read] = calls.of("BatchGetItem")
    assert next(iter(read["RequestItems"].values()))["ConsistentRead"] is True
    assert set(found.suppressed) == {("acme.com", "gone@example.org")}
    assert found.canceled_bulks == {canceled}
    assert found.bulks_read == {canceled, live, "01JGQ6Z1T8W3Y5K7M9P2R4S6VA"}
    # and without a bulk to read, the read stays eventually consistent (half the read units)
    calls = Calls()
    assert set(store().get_many_with_bulk_marks(pairs, []).suppressed) == {("acme.com", "gone@example.org")}
    [read] = calls.of("BatchGetItem")
    assert next(iter(read["RequestItems"].values()))["ConsistentRead"] is False


def test_another_domains_entries_are_not_found(stack: Stack) -> None:
    store().add(entry("shared@example.org"))
    assert store().get_many([("beta.io", "shared@example.org")]) == {}


def test_pages_are_newest_first_full_but_the_last_and_end_without_an_empty_page(stack: Stack) -> None:
    for n in range(7):
        store().add(entry(f"p{n}@example.org", minutes=10 - n))  # p6 newest
    store().add(SuppressionEntry(domain="beta.io", email="x@example.org", reason="manual", created_at=utc_now()))
    seen: list[str] = []
    page, after = store().page("acme.com", limit=3)
    seen += [e.email for e in page]
    assert len(page) == 3 and after is not None
    page, after = store().page("acme.com", limit=3, after=after)
    seen += [e.email for e in page]
    assert len(page) == 3 and after is not None
    page, after = store().page("acme.com", limit=3, after=after)
    seen += [e.email for e in page]
    assert len(page) == 1 and after is None
    assert seen == [f"p{n}@example.org" for n in reversed(range(7))]


def test_a_full_last_page_has_no_next_position(stack: Stack) -> None:
    for n in range(4):
        store().add(entry(f"q{n}@example.org", minutes=n))
    page, after = store().page("acme.com", limit=4)
    assert len(page) == 4 and after is None


# ---------------------------------------------------------------- the routes
def test_put_adds_a_manual_entry_and_a_second_put_keeps_the_first(stack: Stack) -> None:
    reply = put("acme.com", "Visitor@Example.org")
    assert reply.status == 200, reply.text
    body = reply.json
    assert (body["domain"], body["email"], body["reason"], body["job_id"]) == (
        "acme.com",
        "visitor@example.org",
        "manual",
        None,
    )
    assert body["created_at"].endswith("Z")
    again = put("acme.com", "visitor@example.org")
    assert again.status == 200 and again.json == body


def test_put_keeps_an_entry_an_event_made(stack: Stack) -> None:
    listed(
        "acme.com", "bounced@example.org", SuppressionReason.BOUNCED, at=utc_now(), job_id="01JDZZZZZZZZZZZZZZZZZZZZZZ"
    )
    reply = put("acme.com", "bounced@example.org")
    assert reply.status == 200
    assert (reply.json["reason"], reply.json["job_id"]) == ("bounced", "01JDZZZZZZZZZZZZZZZZZZZZZZ")


def test_delete_removes_then_answers_404(stack: Stack) -> None:
    assert put("acme.com", "Leaving@Example.org").status == 200
    reply = delete("acme.com", "leaving@EXAMPLE.org")
    assert reply.status == 204 and reply.text == ""
    again = delete("acme.com", "leaving@example.org")
    assert (again.status, again.code) == (404, "not_found")
    assert store().get("acme.com", "leaving@example.org") is None


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_another_tenants_domain_is_403_and_changes_nothing(stack: Stack, method: str) -> None:
    store().add(SuppressionEntry(domain="beta.io", email="x@example.org", reason="bounced", created_at=utc_now()))
    reply = (put if method == "PUT" else delete)("beta.io", "x@example.org", domains="acme.com")
    assert (reply.status, reply.code) == (403, "forbidden")
    assert store().get("beta.io", "x@example.org") is not None
    assert put("beta.io", "new@example.org", domains="acme.com").status == 403
    assert store().get("beta.io", "new@example.org") is None


def test_listing_another_tenants_domain_is_403(stack: Stack) -> None:
    reply = listing(domain="beta.io", domains="acme.com")
    assert (reply.status, reply.code) == (403, "forbidden")
    assert listing(domain="beta.io", domains="*").status == 200


@pytest.mark.parametrize(
    ("domain", "email"),
    [
        ("acme.com", "not-an-address"),
        ("acme.com", "a@b@c.com"),
        ("acme.com", "é@example.org"),
        ("acme", "a@example.org"),
    ],
)
def test_bad_addresses_and_domains_are_400_and_write_nothing(stack: Stack, domain: str, email: str) -> None:
    for reply in (put(domain, email), delete(domain, email)):
        assert (reply.status, reply.code) == (400, "invalid_request"), reply.text
        assert "error" in reply.json and "Traceback" not in reply.text
    assert store().page("acme.com", limit=10)[0] == []


@pytest.mark.parametrize(
    "query", [{}, {"domain": ""}, {"domain": "acme.com", "limit": 0}, {"domain": "acme.com", "limit": 101}]
)
def test_listing_needs_a_domain_and_a_limit_of_1_to_100(stack: Stack, query: dict[str, Any]) -> None:
    reply = listing(**query)
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.text


def test_listing_pages_newest_first_with_signed_cursors(stack: Stack) -> None:
    for n in range(5):
        store().add(entry(f"l{n}@example.org", minutes=10 - n))
    first = listing(domain="acme.com", limit=2)
    assert first.status == 200
    emails = [item["email"] for item in first.json["items"]]
    cursor = first.json["next_cursor"]
    pages = 1
    while cursor:
        reply = listing(domain="acme.com", limit=2, cursor=cursor)
        assert reply.status == 200
        emails += [item["email"] for item in reply.json["items"]]
        cursor = reply.json["next_cursor"]
        pages += 1
    assert emails == [f"l{n}@example.org" for n in reversed(range(5))]
    assert pages == 3
    assert set(first.json["items"][0]) == {"domain", "email", "reason", "created_at", "job_id"}


def test_a_cursor_of_another_domain_or_altered_is_400(stack: Stack) -> None:
    for n in range(3):
        store().add(entry(f"c{n}@example.org", minutes=n))
    cursor = listing(domain="acme.com", limit=1).json["next_cursor"]
    other = listing(domain="beta.io", limit=1, cursor=cursor, domains="acme.com beta.io")
    assert (other.status, other.code) == (400, "invalid_cursor")
    altered = listing(domain="acme.com", limit=1, cursor=cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"))
    assert (altered.status, altered.code) == (400, "invalid_cursor")


# ---------------------------------------------------------------- enqueue
def request(to: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "escalation",
        "domain": "acme.com",
        "to": to,
        "subject": "A visitor rang the bell",
        "body_text": "Someone is waiting.",
        **more,
    }


def test_enqueue_writes_a_suppressed_recipients_job_suppressed_and_queues_nothing_for_it(stack: Stack) -> None:
    listed("acme.com", "dead@example.org", SuppressionReason.BOUNCED, at=utc_now())
    calls = Calls()
    result = load_function("enqueue").handler(
        {"jobs": [request("Dead@Example.org"), request("alive@example.org")]}, FakeLambdaContext()
    )
    dead_id, alive_id = result["job_ids"]
    dead, alive = jobs().get(dead_id), jobs().get(alive_id)
    assert dead is not None and alive is not None
    assert dead.status is JobStatus.SUPPRESSED and dead.attempts == 0
    assert dead.error is not None
    assert "acme.com's suppression list" in dead.error and "bounced on" in dead.error
    assert "remove it under Suppressions" in dead.error
    assert alive.status is JobStatus.QUEUED and alive.error is None
    queued = [json.loads(m["Body"])["job_id"] for m in receive_all(stack, "PriorityQueue")]
    assert queued == [alive_id]
    # One batched read of the suppression list for the payload
    reads = [
        b
        for b in calls.of("BatchGetItem")
        if any("sup#" in k["pk"]["S"] for t in b["RequestItems"].values() for k in t["Keys"])
    ]
    assert len(reads) == 1


def test_another_domains_list_does_not_suppress(stack: Stack) -> None:
    listed("beta.io", "someone@example.org", SuppressionReason.COMPLAINED, at=utc_now())
    [job_id] = load_function("enqueue").handler(request("someone@example.org"), FakeLambdaContext())["job_ids"]
    job = jobs().get(job_id)
    assert job is not None and job.status is JobStatus.QUEUED


def test_a_removed_address_is_sent_to_again(stack: Stack) -> None:
    assert put("acme.com", "back@example.org").status == 200
    [first] = load_function("enqueue").handler(request("back@example.org"), FakeLambdaContext())["job_ids"]
    assert delete("acme.com", "back@example.org").status == 204
    [second] = load_function("enqueue").handler(request("back@example.org"), FakeLambdaContext())["job_ids"]
    assert jobs().get(first).status is JobStatus.SUPPRESSED  # type: ignore[union-attr]
    assert jobs().get(second).status is JobStatus.QUEUED  # type: ignore[union-attr]


# ---------------------------------------------------------------- bulk send
def bulk(body: dict[str, Any]) -> dict[str, Any]:
    reply = call("bulk_queue", "POST", "/jobs/bulk", "/jobs/bulk", body=json.dumps(body).encode())
    return {"status": reply.status, **(reply.json or {})}


def test_bulk_send_leaves_suppressed_addresses_out_with_their_reason(stack: Stack) -> None:
    listed("acme.com", "bounced@example.org", SuppressionReason.BOUNCED, at=utc_now())
    listed("acme.com", "left@example.org", SuppressionReason.UNSUBSCRIBED, at=utc_now())
    answer = bulk(
        {
            "domain": "acme.com",
            "extra_recipients": "a@example.org, Bounced@Example.org; left@example.org b@example.org",
            "subject": "Holiday hours",
            "body": "We are open.",
        }
    )
    assert answer["status"] == 202
    assert answer["queued"] == 2
    reasons = {r["input"].lower(): r["reason"] for r in answer["rejected"]}
    assert reasons == {"bounced@example.org": "suppressed: bounced", "left@example.org": "suppressed: unsubscribed"}
    queued = [json.loads(m["Body"]) for m in receive_all(stack, "BulkQueue")]
    assert sorted(m["recipient"] for m in queued) == ["a@example.org", "b@example.org"]
    assert sorted(m["job_id"] for m in queued) == sorted(answer["job_ids"])


def test_bulk_send_with_only_suppressed_addresses_is_400_no_recipients(stack: Stack) -> None:
    listed("acme.com", "bounced@example.org", SuppressionReason.BOUNCED, at=utc_now())
    answer = bulk({"domain": "acme.com", "extra_recipients": "bounced@example.org", "subject": "S", "body": "B"})
    assert (answer["status"], answer["error"]["code"]) == (400, "no_recipients")
    assert receive_all(stack, "BulkQueue") == []


def test_bulk_send_of_1000_reads_the_list_in_at_most_10_calls(stack: Stack) -> None:
    addresses = [f"r{n}@example.org" for n in range(1000)]
    calls = Calls()
    answer = bulk({"domain": "acme.com", "extra_recipients": " ".join(addresses), "subject": "S", "body": "B"})
    assert answer["status"] == 202 and answer["queued"] == 1000
    reads = [
        b
        for b in calls.of("BatchGetItem")
        if any("sup#" in k["pk"]["S"] for t in b["RequestItems"].values() for k in t["Keys"])
    ]
    assert 1 <= len(reads) <= 10
    assert all(len(k) <= 100 for b in reads for k in [next(iter(b["RequestItems"].values()))["Keys"]])


# ---------------------------------------------------------------- the worker
def test_an_address_suppressed_after_enqueue_is_not_sent(stack: Stack) -> None:
    [job_id] = load_function("enqueue").handler(request("late@example.org"), FakeLambdaContext())["job_ids"]
    assert put("acme.com", "late@example.org").status == 200
    sends: list[dict[str, Any]] = []
    aws.sesv2().meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: sends.append(params))
    result = load_function("send_worker").handler(deliver(stack, "PriorityQueue"), FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    assert sends == []
    job = jobs().get(job_id)
    assert job is not None and job.status is JobStatus.SUPPRESSED and job.attempts == 0 and job.attempt_log == []
    assert job.error is not None and "was added by an admin on" in job.error


def test_a_job_already_sent_is_never_marked_suppressed(stack: Stack) -> None:
    [job_id] = load_function("enqueue").handler(request("once@example.org"), FakeLambdaContext())["job_ids"]
    event = deliver(stack, "PriorityQueue")
    assert load_function("send_worker").handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert put("acme.com", "once@example.org").status == 200
    # The same message delivered again: nothing changes
    assert load_function("send_worker").handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    job = jobs().get(job_id)
    assert job is not None and job.status is JobStatus.SENT


def test_the_store_refuses_more_than_100_keys_in_one_call(stack: Stack) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        SuppressionStore(aws.dynamodb(), get_list_jobs_settings().jobs_table)._batch_get(
            [f"sup#acme.com#{n}@x.org" for n in range(101)], consistent=False
        )


def test_a_storage_failure_is_a_500_without_details(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "InternalServerError", "Message": "arn:aws:dynamodb:x"}}, "TransactWriteItems"
        )

    # The entry is written with its audit entry, in one TransactWriteItems.
    monkeypatch.setattr(aws.dynamodb(), "transact_write_items", refuse)
    reply = put("acme.com", "x@example.org")
    assert (reply.status, reply.code) == (500, "internal_error")
    assert "arn:" not in reply.text
