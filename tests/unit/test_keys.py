"""The index keys of docs/storage.md, sections 4 and 5 (common.adapters.index_keys): pure functions."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from common.adapters import index_keys as keys
from common.models.job import JobStatus, JobType, QueueName

# Section 4's table, written out here rather than taken from the models.
IN_FLIGHT = {"queued", "sending", "retrying", "sent"}
EXCEPTIONAL = {"scheduled", "retrying", "delayed", "bounced", "complained", "failed", "suppressed", "canceled"}
# scheduled too: the worker's claim refuses it until the scheduler makes it queued.
PAST_SENDING = {
    *("scheduled", "sent", "delayed", "delivered", "bounced", "complained", "failed", "suppressed", "canceled")
}
SWEEPABLE = {"queued", "sending", "retrying"}
FINAL = {"bounced", "complained", "failed", "suppressed", "canceled"}

JOB_ID = str(ULID())


def job(status: JobStatus, *, bulk_id: str | None = None, parked: bool = False) -> keys.KeyedJob:
    return keys.KeyedJob(JOB_ID, "acme.com", JobType.MANUAL, "Owner@Acme.com", status, bulk_id, parked)


def test_the_status_sets_are_those_of_the_design() -> None:
    assert {s.value for s in JobStatus if s.in_flight} == IN_FLIGHT
    assert {s.value for s in JobStatus if s.exceptional} == EXCEPTIONAL
    assert {s.value for s in JobStatus if s.past_sending} == PAST_SENDING
    assert {s.value for s in JobStatus if s.sweepable} == SWEEPABLE
    assert {s.value for s in JobStatus if s.is_final} == FINAL


@pytest.mark.parametrize("of_a_bulk", [True, False])
@pytest.mark.parametrize(("old", "new"), list(itertools.product(JobStatus, JobStatus)))
def test_transition_changes_exactly_the_attributes_of_the_status_sets(
    old: JobStatus, new: JobStatus, of_a_bulk: bool
) -> None:
    bulk_id = str(ULID()) if of_a_bulk else None
    change = keys.transition(job(old, bulk_id=bulk_id), new)
    # Due holds a job of no bulk send while it is in flight (a bulk's jobs: its
    # item), and while it is scheduled, on the scheduler's shards (another wk).
    in_flight_keys = {"fk", "fs"}
    due = IN_FLIGHT | {"scheduled"}
    old_due, new_due = (not of_a_bulk and s.value in due for s in (old, new))
    expected_set = {"status"} if old is not new else set()
    if new.value in IN_FLIGHT and old.value not in IN_FLIGHT:
        expected_set |= in_flight_keys
    if new_due and (not old_due or (old is JobStatus.SCHEDULED) != (new is JobStatus.SCHEDULED)):
        expected_set |= {"wk"}
    if new.value in EXCEPTIONAL and old is not new:
        expected_set |= {"esk", "esa", "rek"}
    expected_remove = set()
    if old.value in IN_FLIGHT and new.value not in IN_FLIGHT:
        expected_remove |= in_flight_keys
    if old_due and not new_due:
        expected_remove |= {"wk", "sweep_at"}
    if old.value in EXCEPTIONAL and new.value not in EXCEPTIONAL:
        expected_remove |= {"esk", "esa", "rek"}
    assert set(change.set) == expected_set
    assert change.remove == expected_remove
    # What is set is what a job created in that status carries.
    after = keys.index_attributes(job(new, bulk_id=bulk_id))
    assert all(after[name] == value for name, value in change.set.items())


def test_a_job_carries_the_keys_of_its_indexes() -> None:
    r = keys.job_random(JOB_ID)
    bulk_id = str(ULID())
    values = keys.index_attributes(job(JobStatus.QUEUED, bulk_id=bulk_id))
    assert values == {
        "status": "queued",
        # a bulk send's job: no ByDomain entry; ByDomainType holds it apart from other manual jobs
        "dtk": f"acme.com#bulk#{r % 4}",
        "tk": f"manual#{r % 12}",
        "ak": f"all#{r % 12}",
        "rk": "owner@acme.com",
        "rs": f"acme.com#manual#{JOB_ID}",
        "fk": f"f#{(keys.domain_hash('acme.com') + r % 8) % 64}",
        "fs": f"acme.com#{JOB_ID}",
        "bk": f"{bulk_id}#{r % 4}",
    }
    alone = keys.index_attributes(job(JobStatus.QUEUED, bulk_id=None))
    assert (alone["dk"], alone["dtk"]) == (f"acme.com#{r % 4}", f"acme.com#manual#{r % 4}")
    bounced = keys.index_attributes(job(JobStatus.BOUNCED))
    assert bounced["esk"] == "acme.com#bounced#manual#0"
    assert bounced["esa"] == f"bounced#manual#{r % 3}"
    # retrying, the status of a retry storm: three partitions per domain and type
    assert keys.index_attributes(job(JobStatus.RETRYING))["esk"] == f"acme.com#retrying#manual#{r % 3}"
    assert keys.domain_status_keys("acme.com", JobStatus.RETRYING, JobType.MANUAL) == [
        f"acme.com#retrying#manual#{n}" for n in range(3)
    ]
    assert bounced["rek"] == "owner@acme.com#bounced"
    assert "fk" not in bounced and "bk" not in bounced
    # A bulk's job is looked at through its bulk's item: no Due entry of its own
    assert "wk" not in values


def test_a_job_of_no_bulk_send_is_in_due_on_its_queues_shards_while_in_flight() -> None:
    r = keys.job_random(JOB_ID)
    escalation = keys.KeyedJob(JOB_ID, "acme.com", JobType.ESCALATION, "o@acme.com", JobStatus.QUEUED)
    assert keys.index_attributes(escalation)["wk"] == f"p#{r % 32}"
    assert keys.index_attributes(job(JobStatus.SENDING))["wk"] == f"b#{r % 32}"  # manual: the bulk queue
    assert keys.index_attributes(job(JobStatus.SENT))["wk"] in keys.due_keys(QueueName.BULK)
    for status in (JobStatus.DELAYED, JobStatus.DELIVERED, JobStatus.FAILED):
        assert "wk" not in keys.index_attributes(job(status)), status
    assert "wk" not in keys.index_attributes(job(JobStatus.SENT, parked=True))
    assert keys.bulk_wk(JOB_ID) == f"b#{r % 32}"


def test_parking_moves_a_sent_job_from_in_flight_to_the_exact_indexes() -> None:
    change = keys.transition(job(JobStatus.SENT), JobStatus.SENT, parked=True)
    assert set(change.set) == {"esk", "esa", "rek"}
    assert change.set["esk"] == "acme.com#sent#manual#0"
    assert change.set["rek"] == "owner@acme.com#sent"
    assert change.remove == {"fk", "fs", "wk", "sweep_at"}
    # ... and its delivery later leaves them
    later = keys.transition(job(JobStatus.SENT, parked=True), JobStatus.DELIVERED)
    assert set(later.set) == {"status"}
    assert later.remove == {"esk", "esa", "rek"}


def test_shards_are_stable_and_spread() -> None:
    assert keys.domain_hash("acme.com") == int.from_bytes(hashlib.sha256(b"acme.com").digest()[:8], "big")
    ids = [str(ULID()) for _ in range(4000)]
    counts = [sum(1 for i in ids if keys.shard(i, 4) == n) for n in range(4)]
    assert min(counts) > 800
    assert len(keys.domain_inflight_keys("acme.com")) == 8
    assert set(keys.domain_inflight_keys("acme.com")) <= set(keys.all_inflight_keys())


def _at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_ulid_bounds_follow_the_created_range_to_the_millisecond() -> None:
    t = 1_780_000_000_000
    low, high = keys.ulid_bounds(_at(t), _at(t + 1)) or ("", "")
    inside = str(ULID.from_timestamp(t / 1000))
    before = str(ULID.from_timestamp((t - 1) / 1000))
    after = str(ULID.from_timestamp((t + 1) / 1000))
    assert keys.ulid_time_ms(inside) == t
    assert low <= inside <= high
    assert not low <= before <= high
    assert not low <= after <= high
    # A bound inside a millisecond: created_after rounds up, created_before too.
    low2, high2 = keys.ulid_bounds(_at(t) + timedelta(microseconds=500), _at(t + 1) + timedelta(microseconds=1)) or (
        "",
        "",
    )
    assert not low2 <= inside <= high2
    assert low2 <= after <= high2
    assert keys.ulid_bounds(_at(t), _at(t)) is None
    assert keys.ulid_bounds(_at(t + 5), _at(t)) is None
    assert keys.ulid_bounds(None, None) == ("0" * 26, "7" + "Z" * 25)
