"""How the outbox packs jobs and their body items into BatchWriteItems."""

from __future__ import annotations

from typing import Any

from common.adapters.dynamo import BATCH_WRITE_LIMIT
from common.logic.outbox import _chunks
from common.models.job import Job, JobType, new_job_id


def jobs(count: int, *, body: str | None = None) -> list[Job]:
    made = []
    for i in range(count):
        job_id, created_at = new_job_id()
        made.append(
            Job(
                job_id=job_id,
                created_at=created_at,
                domain="acme.com",
                type=JobType.MANUAL,
                recipient=f"r{i}@acme.com",
                subject="s",
                body=body or job_id,
            )
        )
    return made


def check(all_jobs: list[Job], chunks: list[tuple[list[Any], list[Job]]]) -> None:
    seen: set[str] = set()
    for bodies, chunk in chunks:
        assert 0 < len(bodies) + len(chunk) <= BATCH_WRITE_LIMIT
        seen |= {item["pk"] for item in bodies}
        # every job's body is written in its chunk or an earlier one
        assert all(job.body in seen for job in chunk)
    assert [job for _, chunk in chunks for job in chunk] == all_jobs
    assert sum(len(bodies) for bodies, _ in chunks) == len({job.body for job in all_jobs})


def test_jobs_of_their_own_take_two_requests_each_in_as_few_calls_as_that_allows() -> None:
    made = jobs(25)
    chunks = _chunks(made, {job.body: {"pk": job.body} for job in made})
    check(made, chunks)
    assert len(chunks) == 2  # 50 requests


def test_a_bulk_writes_its_body_once_with_its_first_jobs() -> None:
    made = jobs(1000, body="01JGQ6Z1T8W3Y5K7M9P2R4S6V8")
    chunks = _chunks(made, {"01JGQ6Z1T8W3Y5K7M9P2R4S6V8": {"pk": "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"}})
    check(made, chunks)
    assert len(chunks) == 41  # 1,001 requests
    assert [len(bodies) for bodies, _ in chunks] == [1] + [0] * 40
