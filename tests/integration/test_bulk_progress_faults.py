"""GET /bulks/{bulk_id} after a bulk send that failed part-way, and a keyed
replay after a recipient was suppressed (issue #27, items 4 and 5).

``total`` is the number of the bulk's jobs that exist; ``counts`` sum to it,
whatever failed and whatever was suppressed between a failed attempt and its
replay. Failures are injected at the AWS boundary (``Faults``, a hook on the
DynamoDB client); moto does the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.adapters import aws
from common.models.job import JobStatus
from common.models.suppression import SuppressionReason
from local.template import Stack
from tests.integration.api_support import Admin, jobs_table
from tests.integration.suppression_support import listed
from tests.integration.test_api_bulk import request
from tests.integration.test_api_bulk_retry import Faults, addresses, assert_unfinished, bulk_jobs


@pytest.fixture
def admin(stack: Stack, lambda_context) -> Admin:
    return Admin(lambda_context, domains="acme.com")


@pytest.fixture
def faults(stack: Stack) -> Faults:
    injected = Faults(stack)
    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb", injected)
    return injected


def progress(admin: Admin, bulk_id: str) -> tuple[int, dict[str, int]]:
    reply = admin.bulk_progress(bulk_id)
    assert reply.status == 200, reply.body
    counts = reply.body["counts"]
    assert set(counts) == {status.value for status in JobStatus}
    assert sum(counts.values()) == reply.body["total"]
    return reply.body["total"], {status: n for status, n in counts.items() if n}


def bulk_id_of(stack: Stack) -> str:
    [bulk_id] = {job["bulk_id"] for job in bulk_jobs(stack)}
    return str(bulk_id)


def test_a_bulk_send_that_failed_part_way_counts_only_the_jobs_that_exist(
    admin: Admin, stack: Stack, faults: Faults
) -> None:
    # Given a bulk send of 60 without a key whose third BatchWriteItem fails: 49 jobs stored
    faults.fail_batch_write_number = 3
    assert_unfinished(admin.bulk(request(extra_recipients="\n".join(addresses(60)))), queued=49, total=60)
    bulk_id = bulk_id_of(stack)
    assert len(bulk_jobs(stack)) == 49

    # When the page asks for its progress, then every job is sent
    before = progress(admin, bulk_id)
    table = jobs_table()
    for job in bulk_jobs(stack):
        assert table.settle(str(job["job_id"]), JobStatus.DELIVERED)
    after = progress(admin, bulk_id)

    # Then the total is the 49 jobs that exist, and the progress completes
    assert before == (49, {"queued": 49})
    assert after == (49, {"delivered": 49})


def test_a_keyed_bulk_send_that_failed_part_way_counts_what_exists_then_what_the_replay_adds(
    admin: Admin, stack: Stack, faults: Faults
) -> None:
    # Given a keyed bulk send of 60 whose last 10 jobs could not be stored
    recipients = addresses(60)
    body = request(extra_recipients="\n".join(recipients))
    faults.fail_recipients = frozenset(recipients[50:])
    assert_unfinished(admin.bulk(body, key="k-progress"), queued=50, total=60)
    bulk_id = bulk_id_of(stack)

    # Then its progress counts the 50 jobs stored, no phantom
    assert progress(admin, bulk_id) == (50, {"queued": 50})

    # And once the replay stored the rest, all 60
    faults.heal()
    assert admin.bulk(body, key="k-progress").status == 202
    assert progress(admin, bulk_id) == (60, {"queued": 60})


def test_a_keyed_replay_keeps_the_job_of_a_recipient_suppressed_since_the_failed_attempt(
    admin: Admin, stack: Stack, faults: Faults
) -> None:
    # Given a keyed bulk send of 60 that stored 50 jobs, then failed
    recipients = addresses(60)
    body = request(extra_recipients="\n".join(recipients))
    faults.fail_recipients = frozenset(recipients[50:])
    assert_unfinished(admin.bulk(body, key="k-suppressed"), queued=50, total=60)
    faults.heal()
    # And, before the replay, an admin suppresses one recipient already stored
    # and one not stored yet
    stored, not_stored = recipients[7], recipients[55]
    for address in (stored, not_stored):
        listed("acme.com", address, SuppressionReason.MANUAL, at=datetime.now(UTC))

    # When the admin sends the same request again with the same key
    replay = admin.bulk(body, key="k-suppressed")

    # Then the job that exists stays part of the bulk send and of its answer;
    # only the recipient without a job is left out, as suppressed
    assert replay.status == 202, replay.body
    jobs = {job["recipient"]: job for job in bulk_jobs(stack)}
    assert len(jobs) == 59
    assert not_stored not in jobs
    assert jobs[stored]["status"] == "queued"
    assert replay.body["queued"] == 59
    assert sorted(replay.body["job_ids"]) == sorted(str(job["job_id"]) for job in jobs.values())
    assert [r["input"] for r in replay.body["rejected"]] == [not_stored]
    assert replay.body["rejected"][0]["reason"].startswith("suppressed")
    # And the progress counts every job that exists
    assert progress(admin, replay.body["bulk_id"]) == (59, {"queued": 59})


def test_a_keyed_replay_when_every_recipient_is_now_suppressed_answers_the_jobs_stored(
    admin: Admin, stack: Stack, faults: Faults
) -> None:
    # Given a keyed bulk send of 20 that stored 10 jobs, then every recipient suppressed
    recipients = addresses(20)
    body = request(extra_recipients="\n".join(recipients))
    faults.fail_recipients = frozenset(recipients[10:])
    assert_unfinished(admin.bulk(body, key="k-all-listed"), queued=10, total=20)
    faults.heal()
    for address in recipients:
        listed("acme.com", address, SuppressionReason.UNSUBSCRIBED, at=datetime.now(UTC))

    # When the admin sends it again
    replay = admin.bulk(body, key="k-all-listed")

    # Then the answer is the bulk send as it stands: its 10 jobs, the other 10 left out
    assert replay.status == 202, replay.body
    assert replay.body["queued"] == 10
    assert sorted(replay.body["job_ids"]) == sorted(str(job["job_id"]) for job in bulk_jobs(stack))
    assert sorted(r["input"] for r in replay.body["rejected"]) == sorted(recipients[10:])
    assert progress(admin, replay.body["bulk_id"]) == (10, {"queued": 10})
    # And without an earlier attempt the same is still a 400 that writes nothing
    fresh = admin.bulk(request(extra_recipients=recipients[0]), key="k-other")
    assert fresh.status == 400 and fresh.body["error"]["code"] == "no_recipients"
