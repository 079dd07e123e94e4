"""Tenant isolation as a matrix: a caller of domain B against domain A's jobs,
ids, cursors and bulk sends. Nothing of A is ever shown, counted or reached;
a job of A is "not found", never "forbidden"."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from common.models.job import JobStatus, JobType
from local.template import Stack
from tests.integration.api_support import Admin, Reply, jobs_table, make_job, page_ids, spread, store_jobs

A, B = "acme.com", "beta.io"
UNKNOWN_ID = "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"


@dataclass
class World:
    alice: Admin  # of acme.com
    bob: Admin  # of beta.io
    a_jobs: list[Any]
    b_jobs: list[Any]
    a_cursors: dict[str, str]  # alice's cursors, by the query that made them


@pytest.fixture
def world(stack: Stack, lambda_context) -> World:
    times = iter(spread(40))
    a_jobs, b_jobs = [], []
    for status in (JobStatus.SENT, JobStatus.FAILED, JobStatus.QUEUED):
        for job_type in (JobType.ESCALATION, JobType.MANUAL):
            for _ in range(3):
                a_jobs.append(make_job(A, job_type=job_type, status=status, at=next(times), recipient="a@acme.com"))
                b_jobs.append(make_job(B, job_type=job_type, status=status, at=next(times), recipient="b@beta.io"))
    store_jobs(a_jobs + b_jobs)
    alice = Admin(lambda_context, domains=A, sub="alice")
    bob = Admin(lambda_context, domains=B, sub="bob")
    a_cursors = {
        "none": alice.list_jobs(limit=2).body["next_cursor"],
        "domain": alice.list_jobs(limit=2, domain=A).body["next_cursor"],
        "failed": alice.list_jobs(limit=2, status="failed").body["next_cursor"],
        "manual": alice.list_jobs(limit=2, type="manual").body["next_cursor"],
    }
    assert all(a_cursors.values())
    return World(alice, bob, a_jobs, b_jobs, a_cursors)


def ids(jobs) -> set[str]:
    return {job.job_id for job in jobs}


def assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert reply.body["error"]["code"] == code


# ------------------------------------------------------------------ the matrix
QUERIES = [{}, {"status": "failed"}, {"type": "manual"}, {"status": "queued", "type": "escalation"}]


@pytest.mark.parametrize("query", QUERIES)
def test_b_naming_domain_a_in_the_log_is_403(world: World, query) -> None:
    assert_error(world.bob.list_jobs(domain=A, **query), 403, "forbidden")


@pytest.mark.parametrize("query", QUERIES)
def test_bs_log_never_holds_a_job_of_a(world: World, query) -> None:
    for listing in ({}, {"domain": B}):
        seen = set(page_ids(world.bob.pages(limit=4, **listing, **query)))
        assert seen
        assert not seen & ids(world.a_jobs)
        assert seen <= ids(world.b_jobs)


def test_b_reading_as_job_of_a_gets_the_same_404_as_for_no_job(world: World) -> None:
    unknown = world.bob.get(UNKNOWN_ID)
    assert_error(unknown, 404, "not_found")
    for job in world.a_jobs:
        hidden = world.bob.get(job.job_id)
        assert (hidden.status, hidden.body) == (unknown.status, unknown.body)
    # while A reads them
    assert world.alice.get(world.a_jobs[0].job_id).status == 200


CURSOR_USES: list[tuple[str, dict[str, str]]] = [
    ("none", {}),
    ("none", {"domain": B}),
    ("domain", {}),
    ("domain", {"domain": B}),
    ("failed", {"status": "failed"}),
    ("failed", {"status": "failed", "domain": B}),
    ("manual", {"type": "manual"}),
]


@pytest.mark.parametrize(("made_for", "query"), CURSOR_USES)
def test_b_using_as_cursor_is_400_and_leaks_nothing(world: World, made_for: str, query) -> None:
    reply = world.bob.list_jobs(limit=2, cursor=world.a_cursors[made_for], **query)
    assert_error(reply, 400, "invalid_cursor")
    assert not set(json.dumps(reply.body).split('"')) & ids(world.a_jobs)


def test_b_using_as_cursor_for_domain_a_is_still_403(world: World) -> None:
    assert_error(world.bob.list_jobs(limit=2, domain=A, cursor=world.a_cursors["domain"]), 403, "forbidden")


BULK: dict[str, Callable[[World], dict[str, Any]]] = {
    "domain A": lambda w: {"domain": A, "extra_recipients": "x@example.org"},
    "domain A with A's rows": lambda w: {"domain": A, "job_ids": [w.a_jobs[0].job_id]},
}


@pytest.mark.parametrize("make", BULK.values(), ids=BULK.keys())
def test_b_bulk_sending_to_domain_a_is_403_and_queues_nothing(world: World, make) -> None:
    before = page_ids(world.alice.pages(limit=100))
    reply = world.bob.bulk({"subject": "Hi", "body": "Hello"} | make(world))
    assert_error(reply, 403, "forbidden")
    assert page_ids(world.alice.pages(limit=100)) == before


def test_b_selecting_as_rows_in_its_own_bulk_send_reaches_none_of_as_recipients(world: World) -> None:
    a_ids = [job.job_id for job in world.a_jobs[:5]]
    only_a = world.bob.bulk({"domain": B, "subject": "Hi", "body": "Hello", "job_ids": a_ids})
    assert_error(only_a, 400, "no_recipients")
    mixed = world.bob.bulk({"domain": B, "subject": "Hi", "body": "Hello", "job_ids": [*a_ids, world.b_jobs[0].job_id]})
    assert mixed.status == 202
    assert mixed.body["queued"] == 1
    assert [r["input"] for r in mixed.body["rejected"]] == a_ids
    [created] = mixed.body["job_ids"]
    stored = jobs_table().get(created)
    assert stored is not None
    assert (stored.domain, stored.recipient) == (B, "b@beta.io")


def test_the_same_idempotency_key_from_a_and_b_are_two_sends(world: World) -> None:
    a = world.alice.bulk({"domain": A, "subject": "Hi", "body": "Hello", "extra_recipients": "x@example.org"}, key="k")
    b = world.bob.bulk({"domain": B, "subject": "Hi", "body": "Hello", "extra_recipients": "x@example.org"}, key="k")
    assert a.status == b.status == 202
    assert a.body["bulk_id"] != b.body["bulk_id"]
    assert jobs_table().get(b.body["job_ids"][0]).domain == B  # type: ignore[union-attr]


def test_a_caller_of_both_sees_both_and_a_caller_of_every_domain_too(world: World, lambda_context) -> None:
    everything = ids(world.a_jobs) | ids(world.b_jobs)
    both = Admin(lambda_context, domains=f"{A} {B}")
    assert set(page_ids(both.pages(limit=7))) == everything
    star = Admin(lambda_context, domains="*")
    assert set(page_ids(star.pages(limit=7))) == everything
