"""What a sweep reads (issue #27 item 8, issue #28 item 4): it grows with the
jobs that are due, not with those in flight; a ``delayed`` job leaves the
sweeper's set; no job waiting in a queue is queued again, and a backlog of
10,000 costs a sweep no read; ``sent`` jobs whose events never came are each
read when due, not by every sweep.

Every DynamoDB call the sweeper makes is counted as it comes back: Queries
with the entries they returned, BatchGetItems with the keys they asked for
(each a job read).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from ulid import ULID

from common.adapters import index_keys as keys
from common.adapters.bulks import BulkItem
from common.logic import sweeper as sweeper_module
from common.logic.sweeper import BACKLOG_LIMIT, JOBS_PER_RUN, PARK_AFTER, WRITE_CONCURRENCY
from common.models.clock import epoch_seconds
from common.models.job import Job, JobStatus, JobType, QueueMessage, QueueName
from local.template import Stack, load_template
from tests.integration.test_send_worker import BULK, PRIORITY, REGION, Harness, make_job
from tests.integration.test_sweeper import drain


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@dataclass
class Reads:
    """Every call a client makes, and what its reads brought back."""

    calls: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)  # index name -> entries Queries returned
    jobs_read: Counter[str] = field(default_factory=Counter)  # job id -> times a BatchGetItem asked for it

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.*.*", self._before)
        client.meta.events.register("after-call.dynamodb.Query", self._after_query)
        return client

    _index = ""  # the index of the Query under way (the sweeper's are one at a time)

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "Query":
            self._index = params.get("IndexName", "")
        if model.name == "BatchGetItem":
            for request in params["RequestItems"].values():
                self.jobs_read.update(key["pk"]["S"] for key in request["Keys"])

    def _after_query(self, parsed: dict[str, Any], **_: Any) -> None:
        self.entries[self._index] += int(parsed.get("Count", 0))

    def items_read(self) -> int:
        return sum(self.jobs_read.values())


def sweep(harness: Harness) -> tuple[Any, Reads]:
    """One sweep on clients whose calls are counted."""
    reads = Reads()
    dynamodb = reads.attach(boto3.client("dynamodb", region_name=REGION))
    sqs = reads.attach(boto3.client("sqs", region_name=REGION))
    return harness.sweeper(dynamodb=dynamodb, sqs=sqs).run(), reads


def sent_job(harness: Harness, *, recipient: str) -> Job:
    job = make_job(recipient=recipient)
    return job.model_copy(
        update={"status": JobStatus.SENT, "attempts": 1, "sent_at": harness.clock.now, "message_id": "ses-1"}
    )


def minutes(harness: Harness, n: float) -> None:
    harness.clock.advance(n * 60)


# ------------------------------------------------------------------ nothing due, much in flight
def test_a_sweep_with_nothing_due_reads_no_job_however_many_are_in_flight(harness: Harness) -> None:
    # Given 300 jobs in flight, none due: 100 queued (their messages lost), 100
    # sent waiting for SES's events, and a bulk send of 100 still queued
    now = epoch_seconds(harness.clock.now)
    grace = harness.settings.sweep_grace_seconds
    harness.put(*(make_job(recipient=f"q{i}@acme.com") for i in range(100)), queue=False)
    harness.table.put_new([sent_job(harness, recipient=f"s{i}@acme.com") for i in range(100)], due_at=now + grace)
    bulk_id = str(ULID())
    bulk = [make_job(job_type=JobType.MANUAL, recipient=f"b{i}@acme.com") for i in range(100)]
    harness.table.put_new([j.model_copy(update={"bulk_id": bulk_id}) for j in bulk], due_at=now + grace)
    harness.table.put_bulk(BulkItem.of(bulk_id, "acme.com", "News"), sweep_at=now + grace)

    # When the sweeper runs before any is due
    minutes(harness, 5)
    report, reads = sweep(harness)

    # Then it reads no job and no entry: one Query per shard of Due, each empty
    assert (report.found, report.queued, report.looked) == (0, 0, 0)
    assert reads.items_read() == 0
    assert reads.calls["BatchGetItem"] == 0
    assert reads.calls["Query"] == 2 * keys.DUE_SHARDS
    assert set(reads.entries) == {"Due"} and reads.entries["Due"] == 0
    # And once the grace period has passed, each is read once: the queued ones
    # (the single and the bulk's, whose messages were lost) queued again, the
    # sent ones left to look at again when they would be parked
    minutes(harness, 15)
    report, reads = sweep(harness)
    assert (report.found, report.queued, report.looked) == (200, 200, 300)
    assert reads.items_read() == 300 and set(reads.jobs_read.values()) == {1}
    drain(harness, PRIORITY)
    drain(harness, BULK)
    report, reads = sweep(harness)
    assert (report.looked, reads.items_read()) == (0, 0)


def test_a_delayed_job_leaves_the_sweepers_set_and_is_never_read_by_a_sweep(harness: Harness) -> None:
    # Given a job sent, then reported delayed by SES, whose final event never comes
    job = harness.put(make_job())[0]
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.table.settle(job.job_id, JobStatus.DELAYED)
    item = harness.dynamodb.get_item(TableName=harness.stack.names["JobsTable"], Key={"pk": {"S": job.job_id}})
    # Then it is in neither InFlight nor Due (listed as delayed through the exact indexes)
    assert not {"fk", "fs", "wk", "sweep_at"} & set(item["Item"])
    assert item["Item"]["esk"]["S"] == "acme.com#delayed#escalation#0"  # one partition: only retrying is sharded
    # And no sweep, however late, reads it
    for hours in (0.5, 24, 49, 24 * 30):
        harness.clock.advance(hours * 3600)
        report, reads = sweep(harness)
        assert reads.jobs_read[job.job_id] == 0, hours
        assert report.looked == 0


# ------------------------------------------------------------------ a backlog of 10,000
def _queue_silently(harness: Harness, monkeypatch: pytest.MonkeyPatch, messages: list[QueueMessage]) -> None:
    """Queue messages without moto recounting the queue on every send (quadratic)."""
    from moto.sqs.models import Queue

    with monkeypatch.context() as patch:
        for counter in ("", "_delayed", "_not_visible"):
            patch.setattr(Queue, f"approximate_number_of_messages{counter}", property(lambda self: 0))
        assert harness.queues.send(messages) == []


def test_jobs_waiting_their_turn_in_a_queue_past_the_grace_period_are_neither_read_nor_queued_again(
    harness: Harness,
) -> None:
    # Given 300 jobs of no bulk send (manual) queued, their messages all waiting
    # in the bulk queue, and 200 escalations waiting in the priority queue
    bulk = harness.put(*(make_job(job_type=JobType.MANUAL, recipient=f"m{i}@acme.com") for i in range(300)))
    priority = harness.put(*(make_job(recipient=f"e{i}@acme.com") for i in range(200)))

    # When the sweeper runs past their grace period, while they still wait
    minutes(harness, 20)
    report, reads = sweep(harness)

    # Then none is queued again, and none is read
    assert (report.found, report.queued) == (0, 0)
    assert reads.items_read() == 0 and reads.calls["SendMessageBatch"] == 0
    # And each was queued once
    assert sorted(drain(harness, BULK)) == sorted(j.job_id for j in bulk)
    assert sorted(drain(harness, PRIORITY)) == sorted(j.job_id for j in priority)


def test_a_backlog_of_10000_is_never_queued_again_and_costs_a_sweep_no_read(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 10 bulk sends of 1,000 queued at once, all 10,000 messages waiting in
    # the bulk queue (at SES's rate they take longer to drain than the grace period)
    start = harness.clock.now
    due = epoch_seconds(start) + harness.settings.sweep_grace_seconds
    jobs: list[Job] = []
    for b in range(10):
        bulk_id = str(ULID())
        harness.table.put_bulk(BulkItem.of(bulk_id, "acme.com", f"News {b}"), sweep_at=due)
        mine = [
            make_job(job_type=JobType.MANUAL, recipient=f"r{b}-{i}@example.org").model_copy(update={"bulk_id": bulk_id})
            for i in range(1000)
        ]
        harness.table.put_new(mine, due_at=due)
        jobs += mine
    _queue_silently(harness, monkeypatch, [QueueMessage.for_job(job) for job in jobs])

    # When the sweeper runs while they wait: past the grace period, and until
    # BACKLOG_LIMIT after it (at 14 emails/s, SES's rate in the sandbox,
    # 10,000 drain in 12 minutes)
    grace = harness.settings.sweep_grace_seconds
    for at in (grace + 60, grace + BACKLOG_LIMIT // 2, grace + BACKLOG_LIMIT - 60):
        harness.clock.now = start + timedelta(seconds=at)
        report, reads = sweep(harness)
        # Then no job is queued again, and no job or entry of the backlog is read
        assert (report.found, report.queued, report.looked, report.waiting) == (0, 0, 0, 1)
        assert reads.items_read() == 0
        assert reads.entries["Due"] == 0 and reads.entries["ByBulk"] == 0
        assert reads.calls["Query"] == 2 * keys.DUE_SHARDS  # each shard, each empty
        assert reads.calls["SendMessageBatch"] == 0

    # When the queue has drained (the workers took every message): every job
    # sent and delivered, but 5 whose messages were lost
    assert harness.queues.waiting(QueueName.BULK) == 10_000
    harness.sqs.purge_queue(QueueUrl=harness.stack.names[BULK])
    lost = jobs[::2000][:5]
    delivered = [j.model_copy(update={"status": JobStatus.DELIVERED}) for j in jobs if j not in lost]
    harness.table.put_new(delivered, due_at=0)
    report, reads = sweep(harness)

    # Then exactly the lost ones are queued again: read are the 10 bulks' index
    # entries (status projected) and the 5 jobs still in flight
    assert (report.found, report.queued, report.waiting) == (5, 5, 0)
    assert sorted(reads.jobs_read) == sorted(j.job_id for j in lost)
    assert reads.entries["Due"] == 10 and reads.entries["ByBulk"] == 10_000
    assert sorted(drain(harness, BULK)) == sorted(j.job_id for j in lost)
    # And each bulk now waits for its 5 ... and, once those are delivered, leaves Due
    for job in lost:
        assert harness.table.settle(job.job_id, JobStatus.DELIVERED)
    harness.clock.advance(harness.settings.sweep_grace_seconds + 1)
    report, reads = sweep(harness)
    assert reads.entries["Due"] == 5 and reads.items_read() == 0  # the 5 bulks with a lost job
    report, reads = sweep(harness)
    assert reads.entries["Due"] == 0


def test_a_job_lost_behind_a_backlog_that_does_not_drain_is_queued_again_backlog_limit_past_its_due_time(
    harness: Harness,
) -> None:
    # Given a job whose message was lost, behind 20 messages that keep waiting in its queue
    now = epoch_seconds(harness.clock.now)
    grace = harness.settings.sweep_grace_seconds
    [lost] = harness.put(make_job(recipient="lost@acme.com"), queue=False)
    waiting = [make_job(recipient=f"w{i}@acme.com") for i in range(20)]
    harness.table.put_new(waiting, due_at=now + grace + 600)  # queued 10 minutes later
    assert harness.queues.send([QueueMessage.for_job(job) for job in waiting]) == []

    # When the sweeper runs every 5 minutes
    queued_at = None
    for n in range(1, 20):
        minutes(harness, 5)
        report, reads = sweep(harness)
        assert report.waiting == 1
        if report.queued:
            queued_at = n * 300
            break
        assert reads.items_read() == 0  # nothing read while it may just be waiting its turn

    # Then the lost one is queued again at the first sweep BACKLOG_LIMIT past
    # its due time, and none of those waiting
    assert queued_at is not None and report.queued == 1
    assert grace + BACKLOG_LIMIT <= queued_at < grace + BACKLOG_LIMIT + 300
    assert reads.items_read() == 1 and reads.jobs_read[lost.job_id] == 1
    assert sorted(drain(harness, PRIORITY)) == sorted([lost.job_id] + [j.job_id for j in waiting])


# ------------------------------------------------------------------ sent jobs whose events never came
def in_shard(shard: int, make: Callable[[], Job]) -> Job:
    """A job (from ``make``) whose id puts it on ``Due``'s shard ``shard`` of its queue."""
    while keys.job_random((job := make()).job_id) % keys.DUE_SHARDS != shard:
        pass
    return job


def test_many_due_entries_in_one_shard_never_hide_a_lost_job_in_another(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run that may look at 40 jobs, 100 sent jobs whose events never
    # came, all on the first shard and due before a lost escalation on the last
    monkeypatch.setattr(sweeper_module, "JOBS_PER_RUN", 40)
    now = epoch_seconds(harness.clock.now)
    grace = harness.settings.sweep_grace_seconds
    sent = [in_shard(0, lambda i=i: sent_job(harness, recipient=f"s{i}@acme.com")) for i in range(100)]
    harness.table.put_new(sent, due_at=now + grace - 60)
    [lost] = harness.put(in_shard(keys.DUE_SHARDS - 1, lambda: make_job(recipient="lost@acme.com")), queue=False)

    # When the sweeper runs past both due times
    minutes(harness, 20)
    report, reads = sweep(harness)

    # Then the lost one is queued again in that run, within the run's room
    assert report.queued == 1
    assert drain(harness, PRIORITY) == [lost.job_id]
    assert report.looked <= 40 + keys.DUE_SHARDS and reads.jobs_read[lost.job_id] == 1
    # And the sent ones not reached stay due for the next runs, which reach them all
    looked = report.looked
    while looked < 101:
        report, _ = sweep(harness)
        assert report.looked > 0
        looked += report.looked
    assert sweep(harness)[0].looked == 0


def test_sent_jobs_whose_events_never_came_are_read_when_due_and_parked_not_read_by_every_sweep(
    harness: Harness,
) -> None:
    # Given SES's event publishing broken: every 5 minutes for 4 hours, 25 jobs
    # sent, whose events never come (1,200 in all)
    grace = harness.settings.sweep_grace_seconds
    start = harness.clock.now
    per_sweep: list[int] = []  # jobs read by each sweep while they are sent
    sent: list[Job] = []
    all_reads: Counter[str] = Counter()
    for n in range(48 + 2):
        if n < 48:
            batch = [sent_job(harness, recipient=f"s{len(sent) + i}@acme.com") for i in range(25)]
            harness.table.put_new(batch, due_at=epoch_seconds(harness.clock.now) + grace)
            sent += batch
        minutes(harness, 5)
        report, reads = sweep(harness)
        per_sweep.append(reads.items_read())
        all_reads.update(reads.jobs_read)
        assert report.parked == 0
    # Then from the grace period on, each sweep reads the 25 that came due since
    # the last one, however many are in flight (up to 1,200)
    assert per_sweep[:2] == [0, 0]
    assert set(per_sweep[2:]) == {25}
    # And 48 hours after each send, the sweep that finds it due parks it: each job read twice in all
    harness.clock.now = start + PARK_AFTER
    parked = 0
    for _ in range(49):
        report, reads = sweep(harness)
        parked += report.parked
        assert reads.items_read() == report.parked
        all_reads.update(reads.jobs_read)
        minutes(harness, 5)
    assert parked == 1200
    assert set(all_reads.values()) == {2}
    assert sorted(all_reads) == sorted(j.job_id for j in sent)


def test_a_sweeps_reads_do_not_grow_with_the_sent_jobs_in_flight_model_at_millions(harness: Harness) -> None:
    # Given the same table with 0, then 2,000 sent jobs waiting for events that are not due
    def calls_of_a_sweep() -> Counter[str]:
        _, reads = sweep(harness)
        return reads.calls + Counter({f"read {k}": v for k, v in reads.entries.items()})

    empty = calls_of_a_sweep()
    later = epoch_seconds(harness.clock.now) + 3600
    harness.table.put_new([sent_job(harness, recipient=f"s{i}@acme.com") for i in range(2000)], due_at=later)
    loaded = calls_of_a_sweep()

    # Then a sweep makes the same calls, reading the same nothing
    assert loaded == empty
    assert empty == Counter({"GetQueueAttributes": 2, "Query": 2 * keys.DUE_SHARDS, "read Due": 0})

    # The model (docs/storage.md, section 10): a sweep's calls are these 66 however
    # many jobs are in flight, plus, for the jobs due, a BatchGetItem per 100 and
    # a conditional write each, WRITE_CONCURRENCY at a time; a run looks at
    # JOBS_PER_RUN at most. At DynamoDB's single-digit milliseconds (taken as
    # 10 ms a call, a BatchGetItem of 100 as 30 ms), the fullest run, with
    # millions of sent jobs in flight, ends well inside the function's 120 s.
    fixed = sum(empty.values())
    seconds = fixed * 0.010 + math.ceil(JOBS_PER_RUN / 100) * 0.030 + JOBS_PER_RUN * 0.010 / WRITE_CONCURRENCY
    assert fixed == 66
    assert seconds < 60, seconds
    assert timedelta(seconds=seconds) < timedelta(seconds=120 - 30)  # the run stops reading at 30 s left


def test_template_gives_the_sweeper_due_and_bybulk_queries_and_the_queue_depth() -> None:
    statements = load_template()["Resources"]["SweeperFunction"]["Properties"]["Policies"][0]["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    assert {"dynamodb:Query", "sqs:GetQueueAttributes", "sqs:SendMessage"} <= actions
    [query] = [s for s in statements if "dynamodb:Query" in s["Action"]]
    indexes = sorted(str(r["Fn::Sub"]).rsplit("/", 1)[1] for r in query["Resource"])
    assert indexes == ["ByBulk", "Due"]
