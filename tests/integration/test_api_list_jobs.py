"""GET /jobs and GET /jobs/{job_id} through ListJobsFunction's handler, on moto."""

from __future__ import annotations

import base64
import json

import boto3
import pytest

from common.models.job import AttemptLogEntry, AttemptOutcome, JobStatus, JobType
from local.template import Stack
from tests.integration.api_support import ORIGIN, Admin, make_job, page_ids, spread, store_jobs

SUMMARY_FIELDS = {
    "job_id",
    "created_at",
    "domain",
    "type",
    "recipient",
    "subject",
    "status",
    "attempts",
    "sent_at",
    "error",
    "bulk_id",
    "send_at",
}
DETAIL_FIELDS = SUMMARY_FIELDS | {
    *("body_text", "body_html", "reply_to", "message_id", "attempt_log", "events", "unsubscribe_url", "retry_of"),
    "outcome_unknown_until",
    "body_kept",
}


@pytest.fixture
def admin(stack: Stack, lambda_context) -> Admin:
    return Admin(lambda_context, domains="acme.com beta.io gamma.org")


def write(*jobs):
    store_jobs(list(jobs))
    return list(jobs)


def newest_first(jobs) -> list[str]:
    return sorted((job.job_id for job in jobs), reverse=True)


def assert_error(reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error"}
    assert set(reply.body["error"]) == {"code", "message"}
    assert reply.body["error"]["code"] == code
    assert reply.body["error"]["message"]
    assert "Traceback" not in reply.body["error"]["message"]


# ------------------------------------------------------------------ the log
def test_the_log_is_newest_first_with_summary_fields_only(admin: Admin) -> None:
    # Given jobs created one after another (written out of order)
    times = spread(5)
    jobs = write(*[make_job(at=t, body="SECRET BODY") for t in reversed(times)])
    # When the admin reads the log
    reply = admin.list_jobs()
    # Then they come newest first, each a summary without its body
    assert reply.status == 200
    assert [item["job_id"] for item in reply.body["items"]] == newest_first(jobs)
    assert reply.body["next_cursor"] is None
    created = [item["created_at"] for item in reply.body["items"]]
    assert created == sorted(created, reverse=True)
    for item in reply.body["items"]:
        assert set(item) == SUMMARY_FIELDS
        assert item["created_at"].endswith("Z")
        assert item["sent_at"].endswith("Z")
    assert "SECRET BODY" not in json.dumps(reply.body)


def test_jobs_created_in_the_same_millisecond_are_ordered_by_id(admin: Admin) -> None:
    [moment] = spread(1)
    jobs = write(*[make_job(at=moment, recipient=f"r{i}@example.org") for i in range(6)])
    reply = admin.list_jobs(limit=4)
    following = admin.list_jobs(limit=4, cursor=reply.body["next_cursor"])
    assert page_ids([reply, following]) == newest_first(jobs)


def test_an_empty_log_is_one_empty_page(admin: Admin) -> None:
    reply = admin.list_jobs()
    assert reply.status == 200
    assert reply.body == {"items": [], "next_cursor": None}


def test_default_page_size_is_50(admin: Admin) -> None:
    jobs = write(*[make_job(at=t) for t in spread(60)])
    first = admin.list_jobs()
    assert len(first.body["items"]) == 50
    second = admin.list_jobs(cursor=first.body["next_cursor"])
    assert len(second.body["items"]) == 10
    assert second.body["next_cursor"] is None
    assert page_ids([first, second]) == newest_first(jobs)


@pytest.mark.parametrize("limit", [1, 3, 4, 5, 10, 11, 100])
def test_paging_returns_every_job_once_in_full_pages_without_an_empty_last_one(admin: Admin, limit: int) -> None:
    # Given 20 jobs spread over three of the caller's domains, interleaved in time
    domains = ["acme.com", "beta.io", "gamma.org"]
    jobs = write(*[make_job(domains[i % 3] if i % 4 else "acme.com", at=t) for i, t in enumerate(spread(20))])
    # When the admin pages through the merged log
    pages = admin.pages(limit=limit)
    # Then every job comes once, newest first; every page but the last is full;
    # the last has no cursor and is not empty
    assert all(page.status == 200 for page in pages)
    assert page_ids(pages) == newest_first(jobs)
    assert all(len(page.body["items"]) == limit for page in pages[:-1])
    assert 0 < len(pages[-1].body["items"]) <= limit
    assert pages[-1].body["next_cursor"] is None
    assert len(pages) == -(-20 // limit)


def test_the_limit_may_change_between_pages(admin: Admin) -> None:
    jobs = write(*[make_job(at=t) for t in spread(9)])
    first = admin.list_jobs(limit=2)
    rest = admin.list_jobs(limit=7, cursor=first.body["next_cursor"])
    assert page_ids([first, rest]) == newest_first(jobs)
    assert rest.body["next_cursor"] is None


# ------------------------------------------------------------------ filters
@pytest.fixture
def mixed(admin: Admin):
    """Jobs of every status and type in three domains (and one the caller does not have)."""
    jobs = []
    times = iter(spread(4 * len(JobStatus) * len(JobType)))
    for domain in ("acme.com", "beta.io", "gamma.org", "other.net"):
        for status in JobStatus:
            for job_type in JobType:
                jobs.append(make_job(domain, job_type=job_type, status=status, at=next(times)))
    return write(*jobs)


FILTERS = [
    {},
    {"status": "failed"},
    {"type": "escalation"},
    {"status": "queued", "type": "manual"},
    {"domain": "beta.io"},
    {"domain": "beta.io", "status": "sent"},
    {"domain": "beta.io", "type": "invitation"},
    {"domain": "gamma.org", "status": "retrying", "type": "visitor_capture"},
]


@pytest.mark.parametrize("query", FILTERS, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "none")
def test_filters_return_exactly_the_matching_jobs_of_the_callers_domains(admin: Admin, mixed, query) -> None:
    mine = {"acme.com", "beta.io", "gamma.org"}
    expected = [
        job
        for job in mixed
        if job.domain in mine
        and job.domain == query.get("domain", job.domain)
        and job.status.value == query.get("status", job.status.value)
        and job.type.value == query.get("type", job.type.value)
    ]
    pages = admin.pages(limit=7, **query)
    assert page_ids(pages) == newest_first(expected)


@pytest.mark.parametrize("query", FILTERS, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "none")
def test_a_caller_of_every_domain_sees_every_domain(stack: Stack, lambda_context, mixed, query) -> None:
    everyone = Admin(lambda_context, domains="*")
    expected = [
        job
        for job in mixed
        if job.domain == query.get("domain", job.domain)
        and job.status.value == query.get("status", job.status.value)
        and job.type.value == query.get("type", job.type.value)
    ]
    assert page_ids(everyone.pages(limit=9, **query)) == newest_first(expected)


def test_domain_not_among_the_callers_is_403(admin: Admin, mixed) -> None:
    assert_error(admin.list_jobs(domain="other.net"), 403, "forbidden")


@pytest.mark.parametrize(
    "query",
    [
        {"status": "bogus"},
        {"status": "SENT"},
        {"type": "newsletter"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"domain": "not a domain"},
        {"domain": "*"},
        {"domain": ""},
        {"cursor": ""},
        {"status": "sent,failed"},
    ],
)
def test_unknown_or_invalid_query_values_are_400(admin: Admin, query) -> None:
    reply = admin.list_jobs(**query)
    assert_error(reply, 400, "invalid_request")
    assert next(iter(query)) in reply.body["error"]["message"]


def test_limit_bounds_are_accepted(admin: Admin) -> None:
    write(*[make_job(at=t) for t in spread(3)])
    assert len(admin.list_jobs(limit=1).body["items"]) == 1
    assert len(admin.list_jobs(limit=100).body["items"]) == 3


# ------------------------------------------------------------------ cursors
def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_altered_or_forged_cursors_are_400_invalid_cursor(admin: Admin) -> None:
    write(*[make_job(at=t) for t in spread(5)])
    cursor = admin.list_jobs(limit=2).body["next_cursor"]
    payload, signature = cursor.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["l"] = "7" + "Z" * 25  # back to the start: but unsigned
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=") + "." + signature
    for bad in [
        _flip(cursor, 5),
        _flip(cursor, len(cursor) - 3),
        cursor[:-4],
        cursor.replace(".", ""),
        forged,
        "not-a-cursor",
        "e30.e30",
        cursor + "." + signature,
    ]:
        assert_error(admin.list_jobs(limit=2, cursor=bad), 400, "invalid_cursor")


def test_a_cursor_for_other_filters_is_400(admin: Admin) -> None:
    write(*[make_job(at=t, status=JobStatus.FAILED) for t in spread(5)])
    cursor = admin.list_jobs(limit=2, status="failed").body["next_cursor"]
    assert admin.list_jobs(limit=2, status="failed", cursor=cursor).status == 200
    assert_error(admin.list_jobs(limit=2, cursor=cursor), 400, "invalid_cursor")
    assert_error(admin.list_jobs(limit=2, status="sent", cursor=cursor), 400, "invalid_cursor")
    assert_error(admin.list_jobs(limit=2, status="failed", type="manual", cursor=cursor), 400, "invalid_cursor")
    assert_error(admin.list_jobs(limit=2, status="failed", domain="acme.com", cursor=cursor), 400, "invalid_cursor")


# ------------------------------------------------------------------ one job
def test_one_job_with_its_body_and_attempt_log(admin: Admin) -> None:
    job = make_job("beta.io", status=JobStatus.SENT, body="Hello,\n\nthe full body.")
    job.attempt_log = [AttemptLogEntry(at=job.created_at, outcome=AttemptOutcome.SENT)]
    write(job)
    reply = admin.get(job.job_id)
    assert reply.status == 200
    assert set(reply.body) == DETAIL_FIELDS
    assert reply.body["job_id"] == job.job_id
    assert reply.body["body_text"] == "Hello,\n\nthe full body."
    assert reply.body["message_id"] == "ses-1"
    assert reply.body["attempt_log"] == [{"at": reply.body["created_at"], "outcome": "sent", "error": None}]
    assert reply.body["events"] == []  # no SES event yet


@pytest.mark.parametrize("job_id", ["01JGQ6Z1T8W3Y5K7M9P2R4S6V8", "not-a-ulid", "bulk", "01jgq6z1t8w3y5k7m9p2r4s6v8"])
def test_an_unknown_job_is_404(admin: Admin, job_id: str) -> None:
    assert_error(admin.get(job_id), 404, "not_found")


def test_another_tenants_job_is_404_exactly_like_an_unknown_one(admin: Admin) -> None:
    theirs = write(make_job("other.net"))[0]
    unknown = admin.get("01JGQ6Z1T8W3Y5K7M9P2R4S6V8")
    hidden = admin.get(theirs.job_id)
    assert_error(hidden, 404, "not_found")
    assert hidden.body == unknown.body


# ------------------------------------------------------------------ the edges
def test_no_authorizer_context_is_401(stack: Stack, lambda_context) -> None:
    anonymous = Admin(lambda_context, authorizer=False)
    assert_error(anonymous.list_jobs(), 401, "unauthorized")
    assert_error(anonymous.get("01JGQ6Z1T8W3Y5K7M9P2R4S6V8"), 401, "unauthorized")


@pytest.mark.parametrize("claims", [{"sub": "x"}, {"sub": "x", "domains": ""}, {"sub": "x", "domains": "  "}])
def test_a_token_naming_no_domain_is_403(stack: Stack, lambda_context, claims) -> None:
    assert_error(Admin(lambda_context, claims=claims).list_jobs(), 403, "forbidden")


@pytest.mark.parametrize("domains", ['["acme.com", "beta.io"]', "[acme.com beta.io]", ["acme.com", "beta.io"]])
def test_list_claims_in_any_rendering_name_the_same_domains(stack: Stack, lambda_context, domains) -> None:
    jobs = write(make_job("acme.com"), make_job("beta.io"), make_job("other.net"))
    reply = Admin(lambda_context, domains=domains).list_jobs()
    assert sorted(item["job_id"] for item in reply.body["items"]) == sorted(j.job_id for j in jobs[:2])


def test_unknown_route_is_404_in_the_envelope(admin: Admin) -> None:
    reply = admin._call("list_jobs", admin._event("list_jobs", "GET", "/nowhere"))
    assert_error(reply, 404, "not_found")


def test_cors_headers_for_the_dashboards_origin_only(stack: Stack, lambda_context) -> None:
    allowed = Admin(lambda_context).list_jobs()
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Idempotency-Key" in allowed.headers["Access-Control-Allow-Headers"]
    other = Admin(lambda_context, origin="https://evil.example").list_jobs()
    assert "Access-Control-Allow-Origin" not in other.headers
    refused = Admin(lambda_context, domains="acme.com").list_jobs(domain="beta.io")
    assert refused.status == 403
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_preflight_request_is_answered(admin: Admin) -> None:
    ev = admin._event("list_jobs", "OPTIONS", "/jobs")
    ev["headers"]["access-control-request-method"] = "GET"
    reply = admin._call("list_jobs", ev)
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "GET" in reply.headers["Access-Control-Allow-Methods"]


def test_a_storage_failure_is_500_without_internals(admin: Admin, stack: Stack) -> None:
    # The function's own table gone (DynamoDB answers ResourceNotFoundException). Another
    # table's name would not do: the role allows this table only, so AWS would deny it first.
    table = stack.names["JobsTable"]
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=table)
    for reply in (admin.list_jobs(), admin.get("01JGQ6Z1T8W3Y5K7M9P2R4S6V8")):
        assert_error(reply, 500, "internal_error")
        assert table not in reply.body["error"]["message"]
        assert "ResourceNotFound" not in reply.body["error"]["message"]
