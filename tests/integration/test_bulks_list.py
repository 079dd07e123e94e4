"""GET /bulks (a domain's bulk sends, newest first) and the fields version 3
adds to GET /bulks/{bulk_id}: created_by, send_at, canceled. Through
ListJobsFunction's handler as API Gateway passes it on, on moto."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from common.adapters import aws
from common.models.job import JobStatus
from local.template import Stack
from tests.integration.suppression_support import Reply, call

ACME = "acme.com"


def bulk_send(recipients: str, *, subject: str = "News", sub: str = "alice", domain: str = ACME) -> str:
    body = {"domain": domain, "extra_recipients": recipients, "subject": subject, "body": "Hello."}
    reply = call("bulk_queue", "POST", "/jobs/bulk", "/jobs/bulk", body=json.dumps(body).encode(), sub=sub, domains="*")
    assert reply.status == 202, reply.text
    return str(reply.json["bulk_id"])


def bulks(*, domains: str | None = ACME, **query: Any) -> Reply:
    return call("list_jobs", "GET", "/bulks", "/bulks", query=urlencode(query), domains=domains)


def progress(bulk_id: str) -> Reply:
    return call("list_jobs", "GET", f"/bulks/{bulk_id}", "/bulks/{bulk_id}", params={"bulk_id": bulk_id})


def test_a_domains_bulk_sends_newest_first_each_as_get_bulk_answers_it(stack: Stack) -> None:
    # Given three bulk sends of acme.com by two admins, and one of another domain
    older = bulk_send("a@example.org, b@example.org", subject="First", sub="alice")
    middle = bulk_send("c@example.org", subject="Second", sub="bob")
    newest = bulk_send("d@example.org, e@example.org, f@example.org", subject="Third", sub="alice")
    bulk_send("g@example.org", domain="beta.io")
    # and the middle one canceled
    canceled = call(
        "job_actions", "POST", f"/bulks/{middle}/cancel", "/bulks/{bulk_id}/cancel", params={"bulk_id": middle}
    )
    assert canceled.status == 200, canceled.text

    reply = bulks(domain=ACME)
    assert reply.status == 200, reply.text
    items = reply.json["items"]
    assert [i["bulk_id"] for i in items] == [newest, middle, older]
    assert reply.json["next_cursor"] is None
    # each item is GET /bulks/{bulk_id}'s body, with who sent it, when it is due, and whether it was canceled
    for item in items:
        assert item == progress(item["bulk_id"]).json
        assert set(item["counts"]) == {s.value for s in JobStatus}
        assert sum(item["counts"].values()) == item["total"]
        assert item["send_at"] is None
    assert [(i["subject"], i["created_by"], i["total"], i["canceled"]) for i in items] == [
        ("Third", "alice", 3, False),
        ("Second", "bob", 1, True),
        ("First", "alice", 2, False),
    ]
    assert items[1]["counts"]["canceled"] == 1


def test_send_at_is_read_from_the_bulk_item(stack: Stack) -> None:
    bulk_id = bulk_send("a@example.org")
    # Whoever schedules a bulk send writes its item's send_at (RFC 3339)
    aws.dynamodb().update_item(
        TableName=stack.names["JobsTable"],
        Key={"pk": {"S": f"k#{bulk_id}"}},
        UpdateExpression="SET send_at = :t",
        ExpressionAttributeValues={":t": {"S": "2026-12-24T09:00:00.000Z"}},
    )
    assert progress(bulk_id).json["send_at"] == "2026-12-24T09:00:00.000Z"
    assert bulks(domain=ACME).json["items"][0]["send_at"] == "2026-12-24T09:00:00.000Z"


def test_only_the_callers_domains(stack: Stack) -> None:
    bulk_id = bulk_send("a@example.org", domain="beta.io")
    assert (bulks(domain="beta.io").status, bulks(domain="beta.io").code) == (403, "forbidden")
    assert [i["bulk_id"] for i in bulks(domain="beta.io", domains="*").json["items"]] == [bulk_id]
    assert bulks(domain=ACME, domains="*").json == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query", [{}, {"domain": ACME, "limit": 0}, {"domain": ACME, "limit": 101}, {"domain": "bad domain"}]
)
def test_a_domain_is_required_and_the_limit_is_1_to_100(stack: Stack, query: dict[str, Any]) -> None:
    reply = bulks(**query)
    assert (reply.status, reply.code) == (400, "invalid_request")


def test_pages_follow_signed_cursors_and_each_page_costs_its_bulks_counts(stack: Stack) -> None:
    made = [bulk_send(f"r{n}@example.org") for n in range(5)]
    queries: list[dict[str, Any]] = []
    aws.dynamodb().meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queries.append(params)
    )
    first = bulks(domain=ACME, limit=2)
    # One Query of ByDomainRecord, then four ByBulk Queries per bulk listed
    assert sorted(q["IndexName"] for q in queries) == ["ByBulk"] * 8 + ["ByDomainRecord"]
    seen = [i["bulk_id"] for i in first.json["items"]]
    cursor = first.json["next_cursor"]
    while cursor:
        page = bulks(domain=ACME, limit=2, cursor=cursor)
        seen += [i["bulk_id"] for i in page.json["items"]]
        cursor = page.json["next_cursor"]
    assert seen == list(reversed(made))
    assert bulks(domain=ACME).json["next_cursor"] is None  # default limit 20
    cursor = first.json["next_cursor"]
    assert bulks(domain=ACME, cursor=cursor[:-3] + "AAA").code == "invalid_cursor"
    assert bulks(domain="beta.io", cursor=cursor, domains="*").code == "invalid_cursor"
    # an audit trail's cursor is not a bulk list's
    audit_cursor = call("list_jobs", "GET", "/audit", "/audit", query=urlencode({"domain": ACME, "limit": 1})).json[
        "next_cursor"
    ]
    assert bulks(domain=ACME, cursor=audit_cursor).code == "invalid_cursor"
