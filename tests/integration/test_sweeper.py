"""SweeperFunction against moto: no job is lost when a queue send fails or a worker dies."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from common.adapters import index_keys as keys
from common.adapters.queues import JobQueues
from common.models.job import JobStatus, JobType, QueueMessage
from common.models.pipeline_settings import get_sweeper_settings
from common.models.settings import reset_settings
from local.template import Stack, load_template
from tests.helpers import load_function
from tests.integration.test_send_worker import (
    BULK,
    PRIORITY,
    REGION,
    CallLog,
    Harness,
    RaisingSes,
    WorkerDied,
    make_job,
    ses_errors,
)

sweeper_handler = load_function("sweeper").handler


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


def failing_sqs(times: int = 1) -> Any:
    """An SQS client whose SendMessageBatch fails (after botocore's own retries)."""
    client = boto3.client("sqs", region_name=REGION)
    stubber = Stubber(client)
    for _ in range(times):
        stubber.add_client_error("send_message_batch", service_error_code="ServiceUnavailable", http_status_code=503)
    stubber.activate()
    return client


class SendsFail:
    """The moto SQS client, but SendMessageBatch fails as botocore reports a 503 its retries did not cure."""

    def __init__(self) -> None:
        self._client = boto3.client("sqs", region_name=REGION)

    def send_message_batch(self, **_: Any) -> Any:
        error = {"Code": "ServiceUnavailable", "Message": "unavailable"}
        raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}}, "SendMessageBatch")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def drain(harness: Harness, queue: str = PRIORITY) -> list[str]:
    """Receive and delete every message of a queue, as workers do: the job ids they named."""
    ids: list[str] = []
    while messages := harness.receive(queue):
        for message in messages:
            ids.append(QueueMessage.model_validate_json(message["Body"]).job_id)
            harness.sqs.delete_message(QueueUrl=harness.stack.names[queue], ReceiptHandle=message["ReceiptHandle"])
    return ids


def past_grace(harness: Harness) -> None:
    harness.clock.advance(harness.settings.sweep_grace_seconds + 1)


def test_job_whose_queue_send_failed_is_found_by_the_sweeper_then_sent(harness: Harness) -> None:
    # Given a job written, whose queue send then failed
    job = harness.put(make_job(), queue=False)[0]
    broken = JobQueues(failing_sqs(), priority_url=harness.stack.names[PRIORITY], bulk_url=harness.stack.names[BULK])
    assert broken.send([QueueMessage.for_job(job)]) == [QueueMessage.for_job(job)]
    assert harness.receive() == []
    # When the sweeper runs before the job is due, nothing happens
    assert harness.sweeper().run().found == 0
    # When it runs once the grace period has passed
    past_grace(harness)
    report = harness.sweeper().run()
    # Then it queued the job again, and the worker sends it
    assert (report.found, report.queued, report.unsent, report.postponed) == (1, 1, 0, 1)
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.sent_to("owner@acme.com") == 1
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.attempts == 1
    # And a later run finds nothing more
    past_grace(harness)
    assert harness.sweeper().run().found == 0


def test_job_of_a_dead_worker_whose_message_is_gone_is_swept_and_sent_once(harness: Harness) -> None:
    # Given a worker died between its claim and the send, and the message is gone
    job = harness.put(make_job())[0]
    event = harness.deliver()
    with pytest.raises(WorkerDied):
        harness.process(event, harness.worker(sesv2=RaisingSes(WorkerDied)))
    harness.settle(event, {"batchItemFailures": []})
    assert harness.job(job.job_id).status is JobStatus.SENDING
    # When the sweeper runs while the lease (plus grace) holds, it leaves the job alone
    harness.clock.advance(harness.settings.lease_seconds + 1)
    assert harness.sweeper().run().found == 0
    # When it runs after that
    past_grace(harness)
    assert harness.sweeper().run().queued == 1
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    # Then the job is sent exactly once, both attempts counted
    harness.assert_sent_once_after(job.job_id, attempts=2)


def test_swept_copy_and_redelivered_message_together_send_once(harness: Harness) -> None:
    # Given a dead worker's message is still in the queue when the sweeper queues a copy
    job = harness.put(make_job())[0]
    event = harness.deliver()
    with pytest.raises(WorkerDied):
        harness.process(event, harness.worker(sesv2=RaisingSes(WorkerDied)))
    harness.clock.advance(harness.settings.lease_seconds)
    past_grace(harness)
    assert harness.sweeper().run().queued == 1
    harness.release(event)
    # When both are delivered in one batch
    both = harness.deliver()
    assert len(both["Records"]) == 2
    assert harness.process(both) == {"batchItemFailures": []}
    # Then one email
    assert harness.sent_to("owner@acme.com") == 1
    assert harness.job(job.job_id).status is JobStatus.SENT


def test_sweeper_leaves_jobs_that_are_on_their_way_alone(harness: Harness) -> None:
    # Given a queued job not yet due, a sent job, a job held by a live worker,
    # and a job waiting for its retry
    harness.put(make_job(recipient="queued@acme.com"), queue=False)
    sent = harness.put(make_job(recipient="sent@acme.com"))[0]
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.job(sent.job_id).status is JobStatus.SENT
    held = harness.put(make_job(recipient="held@acme.com"), queue=False)[0]
    now_ms = int(harness.clock.now.timestamp() * 1000)
    due = int(harness.clock.now.timestamp()) + harness.settings.lease_seconds + harness.settings.sweep_grace_seconds
    claim = harness.table.claim(QueueMessage.for_job(held), now_ms=now_ms, lease_seconds=60, token="t", due_at=due)
    assert claim.job is not None
    retrying = harness.put(make_job(recipient="retry@acme.com"))[0]
    ses, _ = ses_errors("TooManyRequestsException", 429, 1, then_succeed=False)
    harness.process(harness.deliver(), harness.worker(sesv2=ses))
    assert harness.job(retrying.job_id).status is JobStatus.RETRYING
    # When the sweeper runs a little later
    harness.clock.advance(harness.settings.lease_seconds + harness.settings.backoff_base_seconds)
    report = harness.sweeper().run()
    # Then it finds nothing to do
    assert report.found == 0


def test_sweeper_queries_never_scans_and_sends_at_most_10_per_batch(harness: Harness) -> None:
    # Given 15 priority and 8 bulk jobs whose messages were never queued
    priority = harness.put(*(make_job(recipient=f"p{i}@acme.com") for i in range(15)), queue=False)
    bulk = harness.put(*(make_job(job_type=JobType.MANUAL, recipient=f"b{i}@acme.com") for i in range(8)), queue=False)
    past_grace(harness)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    calls = CallLog()
    calls.attach(dynamodb)
    calls.attach(sqs)
    # When the sweeper runs
    report = harness.sweeper(dynamodb=dynamodb, sqs=sqs).run()
    # Then every job is queued on its own queue, in batches AWS accepts, found by a Query
    assert (report.found, report.queued, report.postponed) == (23, 23, 23)
    names = calls.names()
    assert "Scan" not in names
    assert names["Query"] >= 1
    assert all(q["IndexName"] == "Due" for q in calls.params("Query"))
    assert len(calls.params("Query")) == 2 * keys.DUE_SHARDS  # each shard of each queue, once
    assert all(
        len(k) <= 100 for b in calls.params("BatchGetItem") for r in b["RequestItems"].values() for k in [r["Keys"]]
    )
    batches = calls.params("SendMessageBatch")
    assert all(1 <= len(b["Entries"]) <= 10 for b in batches)
    assert len(batches) == 2 + 1  # 15 priority = 10 + 5, 8 bulk = 8
    assert set(drain(harness, PRIORITY)) == {j.job_id for j in priority}
    assert set(drain(harness, BULK)) == {j.job_id for j in bulk}
    # And the next run, right after, queues nothing again
    assert harness.sweeper().run().found == 0


def test_jobs_the_sweeper_could_not_queue_stay_due(harness: Harness) -> None:
    job = harness.put(make_job(), queue=False)[0]
    past_grace(harness)
    report = harness.sweeper(sqs=SendsFail()).run()
    assert (report.found, report.queued, report.unsent, report.postponed) == (1, 0, 1, 0)
    # The next run, with SQS back, queues it
    assert harness.sweeper().run().queued == 1
    assert [QueueMessage.model_validate_json(m["Body"]).job_id for m in harness.receive()] == [job.job_id]


def test_sweeper_takes_at_most_its_batch_limit_per_run(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_BATCH_LIMIT", "5")
    reset_settings()
    harness.put(*(make_job(recipient=f"r{i}@acme.com") for i in range(7)), queue=False)
    past_grace(harness)
    assert harness.sweeper().run().queued == 5
    # While those 5 messages wait in the queue, the rest waits too
    assert harness.sweeper().run().waiting == 1
    assert len(drain(harness)) == 5
    assert harness.sweeper().run().queued == 2


def test_a_lost_escalation_is_queued_again_in_the_first_run_despite_a_bulk_backlog(harness: Harness) -> None:
    # Given 1,000 bulk jobs overdue for long, as many as one run takes,
    now = int(harness.clock.now.timestamp())
    limit = get_sweeper_settings().sweep_batch_limit
    assert limit == 1000
    backlog = [make_job(job_type=JobType.MANUAL, recipient=f"b{i}@acme.com") for i in range(limit)]
    harness.table.put_new(backlog, due_at=now - 3600)
    # and one escalation whose message was lost, overdue by a second only
    escalation = make_job()
    harness.table.put_new([escalation], due_at=now - 1)
    # When the sweeper runs once
    report = harness.sweeper().run()
    # Then the escalation is queued again in that run; the bulk jobs fill the rest of it
    assert report.queued == limit
    assert drain(harness, PRIORITY) == [escalation.job_id]
    # And the bulk job left over is queued by a run once the bulk queue has caught up
    assert len(drain(harness, BULK)) == limit - 1
    assert harness.sweeper().run().queued == 1


def test_a_sent_job_without_an_event_for_48_hours_is_parked_out_of_in_flight(harness: Harness) -> None:
    # Given a job sent, and one sent whose delivery event came
    parked, delivered = harness.put(make_job(recipient="a@acme.com"), make_job(recipient="b@acme.com"))
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.table.settle(delivered.job_id, JobStatus.DELIVERED)
    # When the sweeper runs within 48 hours, nothing is parked
    assert harness.sweeper().run().parked == 0
    # When it runs 48 hours later
    harness.clock.advance(48 * 3600)
    report = harness.sweeper().run()
    # Then the sent job left InFlight and Due (once), still sent, and nothing was queued again
    assert (report.parked, report.found) == (1, 0)
    item = harness.dynamodb.get_item(TableName=harness.stack.names["JobsTable"], Key={"pk": {"S": parked.job_id}})
    assert not {"fk", "fs", "wk", "sweep_at"} & set(item["Item"])
    assert harness.job(parked.job_id).status is JobStatus.SENT
    assert harness.sweeper().run().parked == 0
    # And its delivery event, late, still settles it
    assert harness.table.settle(parked.job_id, JobStatus.DELIVERED)
    assert harness.job(parked.job_id).status is JobStatus.DELIVERED
    assert harness.sent_to("a@acme.com") == 1


def test_handler_sweeps_on_schedule(harness: Harness, lambda_context: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a job whose message was lost long ago
    job = make_job()
    harness.table.put_new([job], due_at=int(harness.clock.now.timestamp()) - 1)
    # When the scheduled handler runs (EventBridge Scheduler sends no payload it needs)
    report = sweeper_handler({}, lambda_context)
    # Then the job is queued again, and the run is counted
    assert report == {"found": 1, "queued": 1, "unsent": 0, "postponed": 1, "parked": 0, "looked": 1, "waiting": 0}
    assert [QueueMessage.model_validate_json(m["Body"]).job_id for m in harness.receive()] == [job.job_id]
    assert '"JobsSwept"' in capsys.readouterr().out


def test_template_schedules_the_sweeper_and_lets_it_query_only_its_index() -> None:
    sweeper = load_template()["Resources"]["SweeperFunction"]["Properties"]
    assert [e["Type"] for e in sweeper["Events"].values()] == ["ScheduleV2"]
    actions = [a for s in sweeper["Policies"][0]["Statement"] for a in s["Action"]]
    assert "dynamodb:Scan" not in actions
    assert "dynamodb:Query" in actions
