"""The cost model's write units: DynamoDB's rules for items and index entries."""

from __future__ import annotations

from benchmarks.cost import Index, item_size, job_writes, units, value_size
from common.adapters.index_keys import KeyedJob, index_attributes
from common.models.job import JobStatus, JobType

TABLE_KEYS = ("pk",)
BY_STATUS = Index("ByStatus", ("status", "job_id"), frozenset({"subject"}))


def _item(**values: str) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in values.items()}


def test_sizes_follow_dynamodbs_rules() -> None:
    # Strings by their UTF-8 bytes, numbers by their significant digits, names count too
    assert value_size({"S": "héllo"}) == 6
    assert value_size({"N": "1000"}) == 2
    assert value_size({"N": "123456"}) == 4
    assert value_size({"L": [{"S": "ab"}, {"BOOL": True}]}) == 3 + 3 + 2
    assert item_size({"pk": {"S": "abc"}, "n": {"N": "7"}}) == 2 + 3 + 1 + 2


def test_a_write_costs_a_unit_per_started_kb() -> None:
    assert units(1) == 1
    assert units(1024) == 1
    assert units(1025) == 2


def test_an_index_entry_appearing_or_disappearing_costs_one_write() -> None:
    queued = _item(pk="J", job_id="J", status="queued", subject="s")
    keyless = _item(pk="J", job_id="J", subject="s")

    assert BY_STATUS.writes(None, queued, TABLE_KEYS) == 1
    assert BY_STATUS.writes(queued, keyless, TABLE_KEYS) == 1
    assert BY_STATUS.writes(None, keyless, TABLE_KEYS) == 0


def test_a_key_change_costs_a_delete_and_a_put_and_a_projected_change_one_write() -> None:
    queued = _item(pk="J", job_id="J", status="queued", subject="s", body="b")
    sending = {**queued, "status": {"S": "sending"}}
    renamed = {**queued, "subject": {"S": "t"}}
    other = {**queued, "body": {"S": "not projected"}}

    assert BY_STATUS.writes(queued, sending, TABLE_KEYS) == 2
    assert BY_STATUS.writes(queued, renamed, TABLE_KEYS) == 1
    assert BY_STATUS.writes(queued, other, TABLE_KEYS) == 0


def test_a_jobs_life_on_the_templates_indexes() -> None:
    # Given a job of a bulk as created, claimed and sent, with the template's eight
    # indexes and the keys common.adapters.index_keys gives it in each status
    job = KeyedJob("01JGQ6Z1T8W3Y5K7M9P2R4S6V8", "acme.com", JobType.MANUAL, "a@b.org", JobStatus.QUEUED, "B1")
    common = {"pk": {"S": job.job_id}, "job_id": {"S": job.job_id}, "body_text": {"S": "x" * 100}}

    def state(status: JobStatus, attempts: str, **more: dict[str, str]) -> dict[str, dict[str, str]]:
        keyed = {name: {"S": value} for name, value in index_attributes(job._replace(status=status)).items()}
        return {**common, **keyed, "attempts": {"N": attempts}, **more}

    created = state(JobStatus.QUEUED, "0", due_at={"N": "100"})
    claimed = state(JobStatus.SENDING, "1", due_at={"N": "160"})
    sent = state(JobStatus.SENT, "1", sent_at={"S": "2026-01-01T00:00:00.000Z"})

    # When its writes are worked out
    writes = job_writes(created, claimed, sent, marker=None)

    # Then the indexes keyed on what never changes cost 1 each, at creation only;
    # ByBulk (status projected) 1 per status change; the exact status indexes nothing
    by_index = writes.by_index()
    assert {name: by_index[name] for name in ("ByDomain", "ByDomainType", "ByScope", "ByRecipient")} == dict.fromkeys(
        ("ByDomain", "ByDomainType", "ByScope", "ByRecipient"), 1
    )
    assert by_index["InFlight"] == 1  # it leaves with the delivery event, not counted here
    assert by_index["ByBulk"] == 3
    assert by_index["ByDomainStatus"] == by_index["ByScopeStatus"] == 0
    assert sum(step.table for step in writes.steps) == 3
    assert writes.total() == 3 + 4 + 1 + 3
