"""GET /jobs with the filters of version 2 (recipient, bulk_id, created range) and
every status, and GET /bulks/{bulk_id}, through ListJobsFunction's handler on
moto, over index shards and two domains (docs/storage.md, sections 8 and 9).

The world of jobs is written once for the module (``world``); the tests that
write jobs of their own use domains of their own, so the world stays as built."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from common.adapters import aws
from common.adapters.bulks import BulkItem
from common.adapters.secrets import read_secret
from common.models.job import Job, JobStatus, JobType, new_job_id
from common.models.listing import get_list_jobs_settings
from common.models.settings import reset_settings
from local.template import Stack, create_stack
from tests.helpers import enforced
from tests.integration.api_support import Admin, Reply, jobs_table, make_job, page_ids

MINE = ("acme.com", "beta.io")
OTHER = "other.net"
RECIPIENTS = ("Ann@Example.org", "bob@example.org", "carl@example.org")
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at_ms(ms: int) -> datetime:
    return START + timedelta(milliseconds=ms)


def bulk_job(bulk_id: str, domain: str, status: JobStatus, recipient: str, created: datetime) -> Job:
    job = make_job(domain, job_type=JobType.MANUAL, status=status, recipient=recipient, at=created)
    return job.model_copy(update={"bulk_id": bulk_id})


@pytest.fixture(scope="module")
def module_stack() -> Iterator[Stack]:
    """One moto AWS for the module, built from template.yaml."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(key, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        created = create_stack(boto3.Session(region_name="us-east-1"))
        for key, value in created.function_environment("ListJobsFunction").items():
            patch.setenv(key, value)
        aws.reset_clients()
        reset_settings()
        with enforced(created):
            yield created


@pytest.fixture
def stack(module_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The module's AWS, with the list function's environment, for each test."""
    for logical in module_stack.functions():
        for key, value in module_stack.function_environment(logical).items():
            monkeypatch.setenv(key, value)
    aws.reset_clients()
    reset_settings()
    return module_stack


@pytest.fixture
def admin(stack: Stack, lambda_context: Any) -> Admin:
    return Admin(lambda_context, domains=" ".join(MINE))


@pytest.fixture
def world(stack: Stack) -> dict[str, Any]:
    return _world(stack)


_WORLDS: dict[int, dict[str, Any]] = {}


def _world(stack: Stack) -> dict[str, Any]:
    """Jobs of every status over three domains (two of them the caller's), three
    recipients, two bulks (one of another tenant), 3 ms apart; some share a
    millisecond. Written with their statuses as the table layer writes them,
    once per module's AWS."""
    if id(stack) in _WORLDS:
        return _WORLDS[id(stack)]
    rng = random.Random(9)
    jobs: list[Job] = []
    statuses = list(JobStatus)
    ms = 0
    for i in range(150):
        domain = (*MINE, OTHER)[i % 3]
        status = statuses[rng.randrange(len(statuses))]
        job_type = list(JobType)[rng.randrange(len(JobType))]
        recipient = RECIPIENTS[rng.randrange(len(RECIPIENTS))]
        ms += rng.choice((0, 3, 3, 7))
        jobs.append(make_job(domain, job_type=job_type, status=status, recipient=recipient, at=at_ms(ms)))
    bulk_id, bulk_at = new_job_id(at_ms(ms + 5))
    other_bulk, _ = new_job_id(at_ms(ms + 6))
    bulk_statuses = [JobStatus.QUEUED] * 7 + [JobStatus.SENT] * 5 + [JobStatus.FAILED] * 2 + [JobStatus.BOUNCED]
    bulk_jobs = [
        bulk_job(
            bulk_id, "acme.com", status, RECIPIENTS[n % 3].replace("@", f"+{n}@") if n > 2 else RECIPIENTS[n], bulk_at
        )
        for n, status in enumerate(bulk_statuses)
    ]
    other_jobs = [bulk_job(other_bulk, OTHER, JobStatus.QUEUED, RECIPIENTS[0], at_ms(ms + 6)) for _ in range(3)]
    table = jobs_table()
    table.put_new(jobs + bulk_jobs + other_jobs, due_at=0)
    table.put_bulk(BulkItem.of(bulk_id, "acme.com", "News"))
    table.put_bulk(BulkItem.of(other_bulk, OTHER, "Theirs"))
    built = {"jobs": jobs + bulk_jobs + other_jobs, "bulk_id": bulk_id, "other_bulk": other_bulk, "end_ms": ms}
    _WORLDS[id(stack)] = built
    return built


def expected(world: dict[str, Any], query: dict[str, str], domains: tuple[str, ...] = MINE) -> list[str]:
    after = datetime.fromisoformat(query["created_after"]) if "created_after" in query else None
    before = datetime.fromisoformat(query["created_before"]) if "created_before" in query else None
    return sorted(
        (
            job.job_id
            for job in world["jobs"]
            if job.domain in domains
            and job.domain == query.get("domain", job.domain)
            and job.status.value == query.get("status", job.status.value)
            and job.type.value == query.get("type", job.type.value)
            and job.recipient.lower() == query.get("recipient", job.recipient).lower()
            and job.bulk_id == query.get("bulk_id", job.bulk_id)
            and (after is None or job.created_at >= after)
            and (before is None or job.created_at < before)
        ),
        reverse=True,
    )


def assert_paged(replies: list[Reply], limit: int, wanted: list[str], query: Any = None) -> None:
    assert all(reply.status == 200 for reply in replies), (query, replies[-1].body)
    assert page_ids(replies) == wanted, query  # each job once, newest first
    assert all(len(reply.body["items"]) == limit for reply in replies[:-1]), query  # full but the last
    assert replies[-1].body["next_cursor"] is None
    assert len(replies) == max(1, -(-len(wanted) // limit)), query  # no empty page after the last


def _range(world: dict[str, Any]) -> dict[str, str]:
    end = world["end_ms"]
    return {"created_after": at_ms(end // 4).isoformat(), "created_before": at_ms(3 * end // 4).isoformat()}


FILTERS: dict[str, Any] = {
    "domain": {"domain": "beta.io"},
    "type": {"type": "escalation"},
    "recipient": {"recipient": "ANN@example.ORG"},
    "bulk": "bulk",
    "range": "range",
}
STATUSES = [None, "queued", "sending", "sent", "delivered", "failed", "bounced", "canceled", "retrying", "delayed"]


def _cases() -> list[tuple[str, ...]]:
    names = list(FILTERS)
    return [combo for size in range(len(names) + 1) for combo in itertools.combinations(names, size)]


def test_every_filter_combination_with_every_status_pages_exactly(admin: Admin, world: dict[str, Any]) -> None:
    # One world for every combination (each is paged through to its end).
    for combo, status in itertools.product(_cases(), STATUSES):
        query: dict[str, str] = {}
        for name in combo:
            value = FILTERS[name]
            if value == "bulk":
                query["bulk_id"] = world["bulk_id"]
            elif value == "range":
                query |= _range(world)
            else:
                query |= value
        if status:
            query["status"] = status
        wanted = expected(world, query)
        limit = max(2, -(-len(wanted) // 3))  # about three pages each: paged, every page but the last full
        assert_paged(admin.pages(limit=limit, **query), limit, wanted, query)


@pytest.mark.parametrize("query", [{}, {"status": "queued"}, {"status": "sent"}, {"recipient": "bob@example.org"}])
def test_a_caller_of_every_domain_pages_the_platform(
    stack: Stack, lambda_context: Any, world: dict[str, Any], query: dict[str, str]
) -> None:
    everyone = Admin(lambda_context, domains="*")
    assert_paged(everyone.pages(limit=7, **query), 7, expected(world, query, (*MINE, OTHER)), query)


def test_the_created_range_holds_at_the_millisecond_edges(stack: Stack, lambda_context: Any) -> None:
    admin = Admin(lambda_context, domains="edges.example")  # a domain of its own: the world stays as built
    jobs = [make_job("edges.example", at=at_ms(ms)) for ms in (0, 1, 1, 2, 3)]
    jobs_table().put_new(jobs, due_at=0)

    def listed(**query: str) -> set[str]:
        return set(page_ids(admin.pages(**query)))

    ids = [job.job_id for job in jobs]
    assert listed(created_after=at_ms(1).isoformat(), created_before=at_ms(3).isoformat()) == set(ids[1:4])
    # created_after is inclusive to the microsecond, created_before exclusive
    half = at_ms(1) + timedelta(microseconds=500)
    assert listed(created_after=half.isoformat()) == set(ids[3:])
    assert listed(created_before=half.isoformat()) == set(ids[:3])
    assert listed(created_after=at_ms(2).isoformat(), created_before=at_ms(2).isoformat()) == set()
    assert listed(created_after=at_ms(3).isoformat(), created_before=at_ms(1).isoformat()) == set()
    # another zone, the same moment
    plus_two = (at_ms(3) + timedelta(hours=2)).replace(tzinfo=None).isoformat(timespec="milliseconds") + "+02:00"
    assert listed(created_after=plus_two) == {ids[4]}


def test_another_tenants_bulk_is_an_empty_page_and_a_404(admin: Admin, world: dict[str, Any]) -> None:
    reply = admin.list_jobs(bulk_id=world["other_bulk"])
    assert (reply.status, reply.body) == (200, {"items": [], "next_cursor": None})
    unknown = admin.bulk_progress(new_job_id()[0])
    theirs = admin.bulk_progress(world["other_bulk"])
    malformed = admin.bulk_progress("not-a-bulk")
    for answer in (unknown, theirs, malformed):
        assert answer.status == 404
        assert answer.body == unknown.body
    assert unknown.body["error"]["code"] == "not_found"


def test_a_bulks_progress_counts_every_status_and_sums_to_total(stack: Stack, lambda_context: Any) -> None:
    admin = Admin(lambda_context, domains="progress.example")  # its jobs change: a domain of its own
    bulk_id, bulk_at = new_job_id(at_ms(1_000))
    statuses = [JobStatus.QUEUED] * 7 + [JobStatus.SENT] * 5 + [JobStatus.FAILED] * 2 + [JobStatus.BOUNCED]
    jobs = [bulk_job(bulk_id, "progress.example", s, f"r{n}@example.org", bulk_at) for n, s in enumerate(statuses)]
    jobs_table().put_new(jobs, due_at=0)
    jobs_table().put_bulk(BulkItem.of(bulk_id, "progress.example", "News"))
    reply = admin.bulk_progress(bulk_id)
    assert reply.status == 200, reply.body
    body = reply.body
    assert set(body) == {
        "bulk_id",
        "domain",
        "subject",
        "created_at",
        "total",
        "counts",
        "created_by",
        "send_at",
        "canceled",
    }
    assert body["send_at"] is None  # sent at once
    assert (body["bulk_id"], body["domain"], body["subject"], body["total"]) == (
        bulk_id,
        "progress.example",
        "News",
        15,
    )
    assert body["created_at"].endswith("Z")
    assert set(body["counts"]) == {status.value for status in JobStatus}
    assert body["counts"] == {status.value: 0 for status in JobStatus} | {
        "queued": 7,
        "sent": 5,
        "failed": 2,
        "bounced": 1,
    }
    # The status follows the jobs
    some = next(j for j in jobs if j.status is JobStatus.SENT)
    assert jobs_table().settle(some.job_id, JobStatus.DELIVERED)
    counts = admin.bulk_progress(bulk_id).body["counts"]
    assert (counts["sent"], counts["delivered"]) == (4, 1)
    assert sum(counts.values()) == 15


def test_jobs_not_yet_in_the_index_count_as_queued(stack: Stack, lambda_context: Any) -> None:
    # Given a bulk send that stored 3 jobs, of which the index holds one so far
    admin = Admin(lambda_context, domains="progress.example")
    bulk_id, created = new_job_id()
    jobs_table().put_bulk(BulkItem.of(bulk_id, "progress.example", "News"))
    assert jobs_table().record_stored(bulk_id, 3)
    jobs_table().put_new([bulk_job(bulk_id, "progress.example", JobStatus.SENT, "a@example.org", created)], due_at=0)
    counts = admin.bulk_progress(bulk_id).body["counts"]
    assert (counts["sent"], counts["queued"], sum(counts.values())) == (1, 2, 3)


@pytest.mark.parametrize(
    "query",
    [
        {"recipient": "not-an-address"},
        {"recipient": ""},
        {"bulk_id": "bulk-1"},
        {"bulk_id": "01JGQ6Z1T8W3Y5K7M9P2R4S6V"},
        {"created_after": "2026-12-01"},
        {"created_after": "2026-12-01T09:30:00"},
        {"created_after": "1764581400"},
        {"created_before": "yesterday"},
        {"created_before": "1969-12-31T23:59:59Z"},
        {"created_before": "2026-13-01T00:00:00Z"},
        {"status": "lost"},
        {"type": "newsletter"},
    ],
    ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()),
)
def test_bad_filter_values_are_400(admin: Admin, query: dict[str, str]) -> None:
    reply = admin.list_jobs(**query)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["code"] == "invalid_request"
    assert next(iter(query)) in reply.body["error"]["message"]


def test_a_version_1_cursor_is_400(admin: Admin, world: dict[str, Any]) -> None:
    settings = get_list_jobs_settings()
    secret = read_secret(settings.cursor_secret_id, max_age=0, min_length=16)
    raw = json.dumps({"v": 1, "f": "0" * 32, "p": [world["jobs"][0].job_id]}).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    reply = admin.list_jobs(cursor=f"{b64(raw)}.{b64(signature)}")
    assert reply.status == 400
    assert reply.body["error"]["code"] == "invalid_cursor"
