"""Cancel and retry (POST /jobs/{job_id}/cancel, POST /bulks/{bulk_id}/cancel,
POST /jobs/{job_id}/retry) through JobActionsFunction's handler on moto, with
the worker (SendWorkerFunction's logic) on the same tables and queues."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import DynamoDBBackend

from common.adapters import aws
from common.adapters import index_keys as keys
from common.adapters.queues import ActionsQueue
from common.adapters.suppressions import SuppressionStore
from common.logic.actions import CANCEL_RESERVE_MS, CANCEL_WAVE, SYNC_SECONDS, JobActions
from common.models.actions import BulkCancelMessage, get_job_actions_settings
from common.models.api import BulkCancelUnfinished, Caller
from common.models.clock import utc_now
from common.models.job import Job, JobStatus, JobType, QueueMessage
from common.models.suppression import SuppressionEntry, SuppressionReason
from local.template import Stack
from tests.helpers import load_function
from tests.integration import api_support
from tests.integration.api_support import Admin, Reply, store_jobs
from tests.integration.test_send_worker import BULK, PRIORITY, REGION, Harness
from tests.integration.test_send_worker import make_job as make_queued_job

CANCELABLE = {JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RETRYING}
RETRYABLE = {JobStatus.FAILED, JobStatus.BOUNCED, JobStatus.CANCELED}
STATUS_KEYS = ("fk", "fs", "esk", "esa", "due_at", "lease_until", "lease_token")


class Actions(Admin):
    """An admin calling the three routes, as API Gateway passes them on."""

    def _post(self, path: str, route: str, parameters: dict[str, str]) -> Reply:
        ev = self._event("job_actions", "POST", path)
        ev["routeKey"] = ev["requestContext"]["routeKey"] = route
        ev["pathParameters"] = parameters
        return self._call("job_actions", ev)

    def cancel(self, job_id: str) -> Reply:
        return self._post(f"/jobs/{job_id}/cancel", "POST /jobs/{job_id}/cancel", {"job_id": job_id})

    def cancel_bulk(self, bulk_id: str) -> Reply:
        return self._post(f"/bulks/{bulk_id}/cancel", "POST /bulks/{bulk_id}/cancel", {"bulk_id": bulk_id})

    def retry(self, job_id: str, *, key: str | None = None) -> Reply:
        ev = self._event("job_actions", "POST", f"/jobs/{job_id}/retry")
        ev["routeKey"] = ev["requestContext"]["routeKey"] = "POST /jobs/{job_id}/retry"
        ev["pathParameters"] = {"job_id": job_id}
        ev["headers"].pop("idempotency-key", None)
        if key is not None:
            ev["headers"]["idempotency-key"] = key
        return self._call("job_actions", ev)


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@pytest.fixture
def admin(stack: Stack, lambda_context: Any) -> Actions:
    return Actions(lambda_context, domains="acme.com")


@pytest.fixture
def stranger(stack: Stack, lambda_context: Any) -> Actions:
    return Actions(lambda_context, domains="other.net", sub="admin-2")


def raw_item(harness: Harness, pk: str) -> dict[str, Any]:
    item = harness.dynamodb.get_item(TableName=harness.stack.names["JobsTable"], Key={"pk": {"S": pk}})
    found: dict[str, Any] = item.get("Item") or {}
    return found


def stored_job(
    status: JobStatus,
    *,
    domain: str = "acme.com",
    job_type: JobType = JobType.AI_FOLLOWUP,
    recipient: str = "visitor@example.org",
) -> Job:
    """A job of that status, written with the keys the table layer gives it."""
    job = api_support.make_job(domain, job_type=job_type, status=status, recipient=recipient)
    store_jobs([job], due_at=1)
    return job


def assert_keys_match_status(harness: Harness, job_id: str) -> None:
    """The item's status-dependent index keys are exactly those of its status."""
    values = {k: v for k, v in raw_item(harness, job_id).items()}
    keyed = keys.KeyedJob.from_item({k: next(iter(v.values())) for k, v in values.items()})
    expected = keys.index_attributes(keyed)
    for name in ("fk", "fs", "esk", "esa", "bk", "status"):
        assert values.get(name, {}).get("S") == expected.get(name), name


# ---------------------------------------------------------------- cancel one job
@pytest.mark.parametrize("status", sorted(CANCELABLE))
def test_a_queued_or_retrying_job_is_canceled_and_leaves_flight(
    harness: Harness, admin: Actions, status: JobStatus
) -> None:
    job = stored_job(status)
    reply = admin.cancel(job.job_id)
    assert reply.status == 200
    assert reply.body["job_id"] == job.job_id
    assert reply.body["status"] == "canceled"
    assert set(reply.body) >= {"created_at", "domain", "type", "recipient", "subject", "attempts", "bulk_id"}
    assert "body_text" not in reply.body
    item = raw_item(harness, job.job_id)
    assert item["status"]["S"] == "canceled"
    # Out of InFlight (the sweeper's set), into the exact indexes under canceled; nothing to sweep or lease
    assert not {"fk", "fs", "due_at", "lease_until", "lease_token"} & set(item)
    assert item["esk"]["S"] == keys.esk("acme.com", JobStatus.CANCELED, job.type)
    assert_keys_match_status(harness, job.job_id)
    # And status=canceled lists it
    listed = admin.list_jobs(domain="acme.com", status="canceled")
    assert [row["job_id"] for row in listed.body["items"]] == [job.job_id]


@pytest.mark.parametrize("status", sorted(set(JobStatus) - CANCELABLE))
def test_every_other_status_is_not_cancelable_and_the_job_is_unchanged(
    harness: Harness, admin: Actions, status: JobStatus
) -> None:
    job = stored_job(status)
    before = raw_item(harness, job.job_id)
    reply = admin.cancel(job.job_id)
    assert (reply.status, reply.code) == (409, "not_cancelable")
    assert status.value in reply.body["error"]["message"]
    assert raw_item(harness, job.job_id) == before


def test_two_cancels_the_second_is_refused(admin: Actions) -> None:
    job = stored_job(JobStatus.QUEUED)
    assert admin.cancel(job.job_id).status == 200
    second = admin.cancel(job.job_id)
    assert (second.status, second.code) == (409, "not_cancelable")


def test_another_tenants_job_or_an_unknown_one_is_404_and_unchanged(
    harness: Harness, admin: Actions, stranger: Actions
) -> None:
    job = stored_job(JobStatus.FAILED)
    queued = stored_job(JobStatus.QUEUED)
    before = raw_item(harness, queued.job_id)
    for reply in (
        stranger.cancel(queued.job_id),
        stranger.retry(job.job_id),
        admin.cancel("01JGQ6Z1T8W3Y5K7M9P2R4S6V8"),
        admin.retry("01JGQ6Z1T8W3Y5K7M9P2R4S6V8"),
        admin.cancel("not-a-job-id"),
        admin.retry("not-a-job-id"),
    ):
        assert (reply.status, reply.code) == (404, "not_found")
    assert raw_item(harness, queued.job_id) == before
    assert harness.receive() == []  # no retry queued


# ---------------------------------------------------------------- cancel and the worker
def test_cancel_first_then_the_message_arrives_nothing_is_sent(harness: Harness, admin: Actions) -> None:
    job = harness.put(make_queued_job())[0]
    assert admin.cancel(job.job_id).status == 200
    # When the job's message arrives (and again, as SQS may deliver it twice)
    assert harness.queues.send([QueueMessage.for_job(job)]) == []
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    # Then nothing was sent and the job stays canceled, never attempted
    assert harness.sent_to("owner@acme.com") == 0
    stored = harness.job(job.job_id)
    assert (stored.status, stored.attempts) == (JobStatus.CANCELED, 0)
    # And the sweeper never queues it again
    harness.clock.advance(harness.settings.sweep_grace_seconds + 1)
    assert harness.sweeper().run().found == 0


def test_a_retrying_job_canceled_before_its_next_try_is_not_sent(harness: Harness, admin: Actions) -> None:
    job = harness.put(make_queued_job())[0]
    assert harness.table.settle(job.job_id, JobStatus.RETRYING)
    assert admin.cancel(job.job_id).status == 200
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.sent_to("owner@acme.com") == 0
    assert harness.job(job.job_id).status is JobStatus.CANCELED


def test_a_job_the_worker_holds_is_not_cancelable_and_is_sent(harness: Harness, admin: Actions) -> None:
    job = harness.put(make_queued_job())[0]
    event = harness.deliver()
    # The worker has claimed it (its claim runs before SES is called)...
    seen: list[Reply] = []
    worker = harness.worker()
    original = worker._mailer.send

    def cancel_then_send(*args: Any, **kwargs: Any) -> str:
        seen.append(admin.cancel(job.job_id))
        return original(*args, **kwargs)

    worker._mailer.send = cancel_then_send  # type: ignore[method-assign]
    assert harness.process(event, worker) == {"batchItemFailures": []}
    # ... so the cancel is refused and the job finishes: sent once
    [reply] = seen
    assert (reply.status, reply.code) == (409, "not_cancelable")
    assert "sending" in reply.body["error"]["message"]
    harness.assert_sent_once_after(job.job_id, attempts=1)


@pytest.fixture
def atomic_moto_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each conditional write to an item atomically; moto does
    not lock. Serialize its UpdateItem and TransactWriteItems (a cancel is one,
    with its audit entry) as DynamoDB does (as the worker's race test does)."""
    lock = threading.RLock()
    for name in ("update_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


@pytest.mark.usefixtures("atomic_moto_updates")
@pytest.mark.parametrize("round_", range(4))
def test_a_cancel_and_a_claim_at_the_same_moment_never_both_win(harness: Harness, admin: Actions, round_: int) -> None:
    # Given a queued job whose worker and whose cancel reach their writes together
    recipient = f"race{round_}@acme.com"
    job = harness.put(make_queued_job(recipient=recipient))[0]
    barrier = threading.Barrier(2, timeout=10)

    def meet_once(client: Any) -> None:
        first = [True]

        def meet(**_: Any) -> None:
            if first[0]:
                first[0] = False
                barrier.wait()

        # The worker's claim is an UpdateItem; the cancel, a TransactWriteItems with its audit entry.
        client.meta.events.register("before-call.dynamodb.UpdateItem", meet)
        client.meta.events.register("before-call.dynamodb.TransactWriteItems", meet)

    worker_dynamodb = boto3.client("dynamodb", region_name=REGION)
    meet_once(worker_dynamodb)
    meet_once(aws.dynamodb())
    worker = harness.worker(dynamodb=worker_dynamodb, sesv2=boto3.client("sesv2", region_name=REGION))
    event = harness.deliver()
    with ThreadPoolExecutor(max_workers=2) as pool:
        sending = pool.submit(harness.process, event, worker)
        canceling = pool.submit(admin.cancel, job.job_id)
        assert sending.result() == {"batchItemFailures": []}
        reply = canceling.result()
    # Then exactly one of them won: canceled and never sent, or sent and the cancel refused
    stored = harness.job(job.job_id)
    sent = harness.sent_to(recipient)
    if reply.status == 200:
        assert (stored.status, sent, stored.attempts) == (JobStatus.CANCELED, 0, 0)
    else:
        assert (reply.status, reply.code) == (409, "not_cancelable")
        assert (stored.status, sent) == (JobStatus.SENT, 1)
    assert_keys_match_status(harness, job.job_id)


# ---------------------------------------------------------------- bulk cancel
def bulk_of(admin: Actions, count: int) -> dict[str, Any]:
    reply = admin.bulk(
        {
            "domain": "acme.com",
            "extra_recipients": " ".join(f"r{i}@example.org" for i in range(count)),
            "subject": "Wrong subject",
            "body": "Sent by mistake.",
        }
    )
    assert reply.status == 202, reply.body
    answer: dict[str, Any] = reply.body
    return answer


def test_a_bulk_cancel_cancels_every_queued_or_retrying_job_and_counts_them(harness: Harness, admin: Actions) -> None:
    # Given a bulk of 12: 2 sent, 1 failed, 2 retrying, 1 held by a worker, 6 queued
    answer = bulk_of(admin, 12)
    ids = answer["job_ids"]
    for job_id in ids[:2]:
        assert harness.table.settle(job_id, JobStatus.SENT)
    assert harness.table.settle(ids[2], JobStatus.FAILED)
    for job_id in ids[3:5]:
        assert harness.table.settle(job_id, JobStatus.RETRYING)
    held = harness.job(ids[5])
    now_ms = int(harness.clock.now.timestamp() * 1000)
    claim = harness.table.claim(QueueMessage.for_job(held), now_ms=now_ms, lease_seconds=3600, token="live", due_at=1)
    assert claim.job is not None and claim.job.status is JobStatus.SENDING
    # When the admin cancels the bulk
    reply = admin.cancel_bulk(answer["bulk_id"])
    # Then the 8 queued or retrying are canceled, the rest untouched
    assert (reply.status, reply.body) == (200, {"canceled": 8})
    statuses = {job_id: harness.job(job_id).status for job_id in ids}
    assert [statuses[i] for i in ids[:6]] == [JobStatus.SENT] * 2 + [JobStatus.FAILED] + [JobStatus.CANCELED] * 2 + [
        JobStatus.SENDING
    ]
    assert {statuses[i] for i in ids[6:]} == {JobStatus.CANCELED}
    for job_id in ids:
        assert_keys_match_status(harness, job_id)
    progress = admin.bulk_progress(answer["bulk_id"]).body
    assert progress["counts"]["canceled"] == 8
    assert sum(progress["counts"].values()) == progress["total"] == 12
    # And again: nothing more to cancel
    assert admin.cancel_bulk(answer["bulk_id"]).body == {"canceled": 0}
    # And the queue's messages send nothing (the held job's worker will finish it)
    while (event := harness.deliver(BULK))["Records"]:
        harness.settle(event, harness.process(event), BULK)
    assert harness.sent() == []


def test_another_tenants_bulk_or_an_unknown_one_is_404_and_nothing_changes(
    harness: Harness, admin: Actions, stranger: Actions
) -> None:
    answer = bulk_of(admin, 3)
    for reply in (
        stranger.cancel_bulk(answer["bulk_id"]),
        admin.cancel_bulk("01JGQ6Z1T8W3Y5K7M9P2R4S6V8"),
        admin.cancel_bulk("nope"),
        admin.cancel_bulk(answer["job_ids"][0]),  # a job's id is not a bulk's
    ):
        assert (reply.status, reply.code) == (404, "not_found")
    assert {harness.job(job_id).status for job_id in answer["job_ids"]} == {JobStatus.QUEUED}


class Ticks:
    """A monotonic clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def actions_for(harness: Harness, **kwargs: Any) -> JobActions:
    actions = JobActions.from_settings(get_job_actions_settings(), dynamodb=harness.dynamodb, sqs=harness.sqs)
    for name, value in kwargs.items():
        setattr(actions, f"_{name}", value)
    return actions


CALLER = Caller(subject="admin-1", domains=frozenset({"acme.com"}))


def actions_messages(harness: Harness) -> list[dict[str, Any]]:
    return harness.receive("ActionsQueue")


def test_a_bulk_cancel_that_takes_too_long_hands_the_rest_on_and_it_is_finished(
    harness: Harness, admin: Actions, lambda_context: Any
) -> None:
    # Given a bulk of more jobs than one wave, and a store so slow that one wave uses the request's time
    answer = bulk_of(admin, CANCEL_WAVE + 5)
    actions = actions_for(harness, monotonic=Ticks(SYNC_SECONDS / 2 + 0.1))
    # When the admin cancels it
    result = actions.cancel_bulk(answer["bulk_id"], CALLER)
    # Then the answer says how many were canceled and how many were handed on
    assert result.model_dump() == {"canceled": CANCEL_WAVE, "pending": 5}
    statuses = [harness.job(job_id).status for job_id in answer["job_ids"]]
    assert statuses.count(JobStatus.CANCELED) == CANCEL_WAVE
    [message] = actions_messages(harness)
    assert BulkCancelMessage.model_validate_json(message["Body"]) == BulkCancelMessage(
        bulk_id=answer["bulk_id"], domain="acme.com"
    )
    # And when the actions queue's message reaches the function, the rest is canceled
    event = harness.event([message], "ActionsQueue")
    assert load_function("job_actions").handler(event, lambda_context) == {"batchItemFailures": []}
    assert {harness.job(job_id).status for job_id in answer["job_ids"]} == {JobStatus.CANCELED}
    assert actions_messages(harness) == []
    # A second delivery of the same message changes nothing
    assert load_function("job_actions").handler(event, lambda_context) == {"batchItemFailures": []}
    assert admin.bulk_progress(answer["bulk_id"]).body["counts"]["canceled"] == CANCEL_WAVE + 5
    assert harness.sent() == []


def test_no_job_left_pending_by_a_bulk_cancel_is_sent_before_the_rest_is_finished(
    harness: Harness, admin: Actions
) -> None:
    # Given a bulk cancel that ran out of time with 5 jobs still queued, its rest not finished yet
    answer = bulk_of(admin, CANCEL_WAVE + 5)
    actions = actions_for(harness, monotonic=Ticks(SYNC_SECONDS / 2 + 0.1))
    assert actions.cancel_bulk(answer["bulk_id"], CALLER).model_dump() == {"canceled": CANCEL_WAVE, "pending": 5}
    pending = [job_id for job_id in answer["job_ids"] if harness.job(job_id).status is JobStatus.QUEUED]
    assert len(pending) == 5
    # When the worker drains the bulk queue first
    while (event := harness.deliver(BULK))["Records"]:
        harness.settle(event, harness.process(event), BULK)
    # Then it sent none of them: each was canceled on its claim, no attempt counted
    assert harness.sent() == []
    for job_id in pending:
        stored = harness.job(job_id)
        assert (stored.status, stored.attempts, stored.attempt_log) == (JobStatus.CANCELED, 0, [])
        assert_keys_match_status(harness, job_id)
    assert admin.bulk_progress(answer["bulk_id"]).body["counts"]["canceled"] == CANCEL_WAVE + 5


def test_a_bulk_marked_canceled_before_the_batchs_read_is_not_sent_and_costs_no_read_per_job(
    harness: Harness, admin: Actions
) -> None:
    # Given a bulk send whose mark is written but whose jobs the cancel has not reached yet
    answer = bulk_of(admin, 3)
    assert harness.table.mark_bulk_canceled(answer["bulk_id"], now_ms=1)
    calls: list[tuple[str, dict[str, Any]]] = []
    worker_dynamodb = boto3.client("dynamodb", region_name=REGION)
    worker_dynamodb.meta.events.register(
        "provide-client-params.dynamodb", lambda params, model, **_: calls.append((model.name, params))
    )
    # When the worker takes the batch
    event = harness.deliver(BULK)
    assert harness.process(event, harness.worker(dynamodb=worker_dynamodb)) == {"batchItemFailures": []}
    # Then its one read per batch (suppressions and the bulk's mark, strongly consistent) saw the mark:
    # every job is canceled, unsent, no attempt counted, and no job's claim was followed by a read
    assert harness.sent() == []
    for job_id in answer["job_ids"]:
        stored = harness.job(job_id)
        assert (stored.status, stored.attempts) == (JobStatus.CANCELED, 0)
        assert_keys_match_status(harness, job_id)
    assert "GetItem" not in [name for name, _ in calls]
    marks = [
        wanted
        for name, params in calls
        if name == "BatchGetItem"
        for wanted in params["RequestItems"].values()
        if {"pk": {"S": f"k#{answer['bulk_id']}"}} in wanted["Keys"]
    ]
    assert len(marks) == 1 and marks[0]["ConsistentRead"] is True


def test_a_bulk_canceled_while_the_worker_holds_a_job_leaves_it_to_the_worker_and_stops_the_rest(
    harness: Harness, admin: Actions
) -> None:
    # Given a bulk send of two, each job in a batch of its own, and the admin canceling the bulk
    # right after the worker claimed the first job (after its batch's read of the mark)
    answer = bulk_of(admin, 2)
    messages = harness.receive(BULK)
    assert len(messages) == 2
    first, second = (harness.event([m], BULK) for m in messages)
    replies: list[Reply] = []
    worker_dynamodb = boto3.client("dynamodb", region_name=REGION)

    def cancel_once(**_: Any) -> None:
        if not replies:
            replies.append(admin.cancel_bulk(answer["bulk_id"]))

    worker_dynamodb.meta.events.register("after-call.dynamodb.UpdateItem", cancel_once)  # the first: a claim
    worker = harness.worker(dynamodb=worker_dynamodb)
    # When the worker finishes the first batch, then takes the second
    assert harness.process(first, worker) == {"batchItemFailures": []}
    assert harness.process(second, worker) == {"batchItemFailures": []}
    # Then the cancel found one job held by the worker and canceled the other
    assert [(r.status, r.body) for r in replies] == [(200, {"canceled": 1})]
    # and the worker finished the job it held (docs/adr/0075-cancel-mark-read-per-batch.md), sending nothing else:
    # no job is both canceled and sent
    statuses = sorted(harness.job(job_id).status.value for job_id in answer["job_ids"])
    assert statuses == ["canceled", "sent"]
    assert len(harness.sent()) == 1


def test_a_bulk_not_canceled_is_sent_and_a_replayed_bulk_item_keeps_its_mark(harness: Harness, admin: Actions) -> None:
    answer = bulk_of(admin, 2)
    event = harness.deliver(BULK)
    harness.settle(event, harness.process(event), BULK)
    assert {harness.job(job_id).status for job_id in answer["job_ids"]} == {JobStatus.SENT}
    assert len(harness.sent()) == 2
    assert not harness.table.bulk_canceled(answer["bulk_id"])
    # A cancel marks it; the bulk's item written again (a replay) keeps the mark
    assert admin.cancel_bulk(answer["bulk_id"]).body == {"canceled": 0}
    bulk = harness.table.get_bulk(answer["bulk_id"])
    assert bulk is not None
    harness.table.put_bulk(bulk)
    assert harness.table.bulk_canceled(answer["bulk_id"])
    assert harness.table.get_bulk(answer["bulk_id"]) == bulk
    assert not harness.table.mark_bulk_canceled("01JGQ6Z1T8W3Y5K7M9P2R4S6V8", now_ms=1)


def test_the_rest_of_a_bulk_cancel_out_of_time_is_handed_on_again(harness: Harness, admin: Actions) -> None:
    answer = bulk_of(admin, CANCEL_WAVE + 5)
    message = BulkCancelMessage(bulk_id=answer["bulk_id"], domain="acme.com")
    left = iter([CANCEL_RESERVE_MS + 1, CANCEL_RESERVE_MS - 1])
    assert actions_for(harness).finish_bulk_cancel(message, time_left_ms=lambda: next(left)) == CANCEL_WAVE
    [again] = actions_messages(harness)
    assert BulkCancelMessage.model_validate_json(again["Body"]) == message
    assert actions_for(harness).finish_bulk_cancel(message) == 5


def test_a_bulk_cancel_that_cannot_hand_on_says_how_many_and_a_second_call_finishes(
    harness: Harness, admin: Actions
) -> None:
    answer = bulk_of(admin, CANCEL_WAVE + 5)
    actions = actions_for(harness, monotonic=Ticks(SYNC_SECONDS / 2 + 0.1))
    broken = boto3.client("sqs", region_name=REGION, endpoint_url="http://127.0.0.1:9")
    actions._actions_queue = ActionsQueue(broken, url="http://127.0.0.1:9/queue/none")
    with pytest.raises(BulkCancelUnfinished) as stopped:
        actions.cancel_bulk(answer["bulk_id"], CALLER)
    assert stopped.value.canceled == CANCEL_WAVE
    assert f"{CANCEL_WAVE} jobs" in str(stopped.value)
    # When the same request comes again, it cancels the rest
    assert actions_for(harness).cancel_bulk(answer["bulk_id"], CALLER).model_dump() == {"canceled": 5}
    assert {harness.job(job_id).status for job_id in answer["job_ids"]} == {JobStatus.CANCELED}


def test_an_actions_message_for_no_such_bulk_or_not_a_bulk_cancel_is_dropped(
    harness: Harness, admin: Actions, lambda_context: Any
) -> None:
    answer = bulk_of(admin, 2)
    bodies = [
        BulkCancelMessage(bulk_id=answer["bulk_id"], domain="other.net").model_dump_json(),
        BulkCancelMessage(bulk_id="01JGQ6Z1T8W3Y5K7M9P2R4S6V8", domain="acme.com").model_dump_json(),
        '{"hello": "world"}',
    ]
    for body in bodies:
        harness.sqs.send_message(QueueUrl=harness.stack.names["ActionsQueue"], MessageBody=body)
    while messages := actions_messages(harness):
        event = harness.event(messages, "ActionsQueue")
        assert load_function("job_actions").handler(event, lambda_context) == {"batchItemFailures": []}
        harness.settle(event, {"batchItemFailures": []}, "ActionsQueue")
    assert {harness.job(job_id).status for job_id in answer["job_ids"]} == {JobStatus.QUEUED}


def test_a_bulk_cancel_waits_briefly_for_jobs_the_index_does_not_hold_yet(harness: Harness, admin: Actions) -> None:
    answer = bulk_of(admin, 3)
    # The bulk's item says 5 jobs are stored: two are not in ByBulk (yet)
    item = raw_item(harness, f"k#{answer['bulk_id']}")
    item["stored"] = {"N": "5"}
    harness.dynamodb.put_item(TableName=harness.stack.names["JobsTable"], Item=item)
    naps: list[float] = []
    assert actions_for(harness, sleep=naps.append).cancel_bulk(answer["bulk_id"], CALLER).canceled == 3
    assert len(naps) == 3 and sum(naps) <= 2


# ---------------------------------------------------------------- retry
@pytest.mark.parametrize("status", sorted(set(JobStatus) - RETRYABLE))
def test_every_other_status_is_not_retryable(harness: Harness, admin: Actions, status: JobStatus) -> None:
    job = stored_job(status)
    before = raw_item(harness, job.job_id)
    reply = admin.retry(job.job_id)
    assert (reply.status, reply.code) == (409, "not_retryable")
    assert raw_item(harness, job.job_id) == before
    assert harness.receive() == []


def put_suppression(harness: Harness, domain: str, email: str) -> None:
    entry = SuppressionEntry(domain=domain, email=email, reason=SuppressionReason.MANUAL, created_at=utc_now())
    SuppressionStore(harness.dynamodb, harness.stack.names["JobsTable"]).add(entry)


def test_a_suppressed_recipient_is_not_retried(harness: Harness, admin: Actions) -> None:
    job = stored_job(JobStatus.BOUNCED)
    put_suppression(harness, "acme.com", job.recipient.upper())
    reply = admin.retry(job.job_id)
    assert (reply.status, reply.code) == (409, "suppressed")
    assert job.recipient.lower() not in reply.body["error"]["message"].lower()
    assert harness.receive() == []
    # Another domain's list, or another address, does not count
    other = stored_job(JobStatus.BOUNCED, recipient="someone@example.org")
    put_suppression(harness, "beta.io", other.recipient)
    assert admin.retry(other.job_id).status == 202


@pytest.mark.parametrize("status", sorted(RETRYABLE))
def test_a_retry_is_a_new_linked_job_that_is_sent_and_the_old_is_unchanged(
    harness: Harness, admin: Actions, status: JobStatus
) -> None:
    # Given a job that went wrong, with an HTML part and a reply-to
    job = make_queued_job(body_html="<p>Join us.</p>", reply_to="support@acme.com")
    harness.put(job, queue=False)
    assert harness.table.settle(job.job_id, status, error="the mailbox was full")
    old = raw_item(harness, job.job_id)
    body_before = raw_item(harness, f"b#{job.body}")
    # When the admin retries it
    reply = admin.retry(job.job_id)
    assert reply.status == 202
    new_id = reply.body["job_id"]
    assert set(reply.body) == {"job_id"} and new_id != job.job_id
    # Then the old job is unchanged
    assert raw_item(harness, job.job_id) == old
    # And the new one is the same email, queued, linked, with no attempt yet
    detail = admin.get(new_id).body
    assert detail["retry_of"] == job.job_id
    assert detail["status"] == "queued" and detail["attempts"] == 0 and detail["error"] is None
    for field in ("domain", "type", "recipient", "subject", "reply_to", "body_text", "body_html"):
        assert detail[field] == admin.get(job.job_id).body[field], field
    assert detail["bulk_id"] is None
    assert admin.get(job.job_id).body["retry_of"] is None
    assert_keys_match_status(harness, new_id)
    # Its body is a copy of its own, living as long as the new job; the old one is untouched
    assert raw_item(harness, new_id)["body"]["S"] == new_id
    copy = raw_item(harness, f"b#{new_id}")
    assert {k: v for k, v in copy.items() if k not in ("pk", "expires_at")} == {
        k: v for k, v in body_before.items() if k not in ("pk", "expires_at")
    }
    assert copy["expires_at"] == raw_item(harness, new_id)["expires_at"]
    assert raw_item(harness, f"b#{job.body}") == body_before
    # And the worker sends it, from its type's queue, once
    event = harness.deliver(PRIORITY)
    assert [QueueMessage.model_validate_json(r["body"]) for r in event["Records"]] == [
        QueueMessage.for_job(harness.job(new_id))
    ]
    assert harness.process(event) == {"batchItemFailures": []}
    harness.assert_sent_once_after(new_id, attempts=1)
    assert harness.job(job.job_id).status is status


def test_a_bulk_job_is_retried_on_the_bulk_queue_outside_its_bulk(harness: Harness, admin: Actions) -> None:
    answer = bulk_of(admin, 2)
    failed = answer["job_ids"][0]
    assert harness.table.settle(failed, JobStatus.FAILED)
    reply = admin.retry(failed)
    assert reply.status == 202
    new = harness.job(reply.body["job_id"])
    assert (new.type, new.bulk_id, new.retry_of) == (JobType.MANUAL, None, failed)
    messages = harness.receive(BULK)
    assert reply.body["job_id"] in {QueueMessage.model_validate_json(m["Body"]).job_id for m in messages}
    assert harness.receive(PRIORITY) == []
    # The bulk's progress still counts the jobs the bulk send created
    progress = admin.bulk_progress(answer["bulk_id"]).body
    assert progress["total"] == 2 and progress["counts"]["failed"] == 1 and progress["counts"]["queued"] == 1


def test_cancel_then_retry_then_cancel_the_retry(harness: Harness, admin: Actions) -> None:
    job = harness.put(make_queued_job())[0]
    # A queued job cannot be retried; canceled, it can
    assert admin.retry(job.job_id).code == "not_retryable"
    assert admin.cancel(job.job_id).status == 200
    retried = admin.retry(job.job_id)
    assert retried.status == 202
    # The retry is queued: it can be canceled in turn, and the old job stays canceled
    assert admin.cancel(retried.body["job_id"]).status == 200
    assert admin.cancel(job.job_id).code == "not_cancelable"
    # Nothing is sent from either message
    while (event := harness.deliver())["Records"]:
        harness.settle(event, harness.process(event))
    assert harness.sent_to("owner@acme.com") == 0
    assert {harness.job(j).status for j in (job.job_id, retried.body["job_id"])} == {JobStatus.CANCELED}


def test_a_retry_and_a_cancel_of_the_same_queued_job_at_once(harness: Harness, admin: Actions) -> None:
    # A queued job: retry refuses it whatever the cancel does; the cancel wins.
    # Lambda runs one invocation per process at a time, so the cancel races the
    # retry's handler from the logic layer (a second handler in another thread
    # would share the first one's resolver, which no deployment does).
    job = harness.put(make_queued_job())[0]
    actions = JobActions.from_settings(get_job_actions_settings(), dynamodb=harness.dynamodb, sqs=harness.sqs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        retry = pool.submit(admin.retry, job.job_id)
        cancel = pool.submit(actions.cancel, job.job_id, CALLER)
        retried, canceled = retry.result(), cancel.result()
    assert canceled.status is JobStatus.CANCELED
    # The retry read the job either before the cancel (queued: refused) or after (canceled: a new job)
    assert retried.status in (202, 409)
    if retried.status == 409:
        assert retried.code == "not_retryable"
    assert harness.job(job.job_id).status is JobStatus.CANCELED


def test_a_retry_whose_body_is_gone_is_refused(harness: Harness, admin: Actions) -> None:
    job = stored_job(JobStatus.FAILED)
    harness.dynamodb.delete_item(TableName=harness.stack.names["JobsTable"], Key={"pk": {"S": f"b#{job.body}"}})
    reply = admin.retry(job.job_id)
    assert (reply.status, reply.code) == (409, "not_retryable")
    assert "body" in reply.body["error"]["message"]
    assert harness.receive() == []


# ------------------------------------------------------- retry with an Idempotency-Key
def _retries_of(harness: Harness, job_id: str) -> list[str]:
    """Every stored job whose retry_of is ``job_id`` (a scan: the test's table is small)."""
    scanned = harness.dynamodb.scan(
        TableName=harness.stack.names["JobsTable"],
        FilterExpression="retry_of = :old",
        ExpressionAttributeValues={":old": {"S": job_id}},
    )
    return sorted(item["pk"]["S"] for item in scanned["Items"])


def test_a_retry_sent_twice_with_one_idempotency_key_makes_one_job_and_sends_once(
    harness: Harness, admin: Actions
) -> None:
    job = stored_job(JobStatus.FAILED, recipient="owner@acme.com")
    first = admin.retry(job.job_id, key="retry-1")
    again = admin.retry(job.job_id, key="retry-1")
    assert (first.status, again.status) == (202, 202)
    assert again.body == first.body
    assert _retries_of(harness, job.job_id) == [first.body["job_id"]]
    # One message, one email
    event = harness.deliver(PRIORITY)
    assert [QueueMessage.model_validate_json(r["body"]).job_id for r in event["Records"]] == [first.body["job_id"]]
    assert harness.process(event) == {"batchItemFailures": []}
    assert harness.deliver(PRIORITY)["Records"] == []
    harness.assert_sent_once_after(first.body["job_id"], attempts=1)
    # A third call after it was sent still answers the same job, and sends nothing more
    assert admin.retry(job.job_id, key="retry-1").body == first.body
    assert harness.receive(PRIORITY) == []
    assert harness.sent_to("owner@acme.com") == 1


def test_a_keyed_retry_repeated_after_its_recipient_was_suppressed_answers_the_first_retrys_job(
    harness: Harness, admin: Actions
) -> None:
    # The first retry is made, then its recipient lands on the list (the retry bounced, say)
    job = stored_job(JobStatus.FAILED, recipient="owner@acme.com")
    first = admin.retry(job.job_id, key="after-bounce")
    assert first.status == 202
    put_suppression(harness, "acme.com", "owner@acme.com")
    queued = harness.receive(PRIORITY)
    # The repeat is answered as the first call was: that job, nothing new made or queued
    again = admin.retry(job.job_id, key="after-bounce")
    assert (again.status, again.body) == (202, first.body)
    assert _retries_of(harness, job.job_id) == [first.body["job_id"]]
    assert len(queued) == 1
    assert harness.receive(PRIORITY) == []
    # A new key is a new request: refused for the suppressed recipient
    assert (admin.retry(job.job_id, key="later").status, admin.retry(job.job_id, key="later").code) == (
        409,
        "suppressed",
    )
    # The same key for another job of the domain is still refused
    other = stored_job(JobStatus.FAILED, recipient="someone@acme.com")
    reused = admin.retry(other.job_id, key="after-bounce")
    assert (reused.status, reused.code) == (409, "idempotency_key_reused")
    assert _retries_of(harness, other.job_id) == []


def test_retries_at_once_with_one_idempotency_key_make_one_job(
    harness: Harness, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = stored_job(JobStatus.BOUNCED)
    # DynamoDB runs each transaction atomically; moto applies one by copying the
    # table and swapping it in, so two at once in threads may lose one's writes.
    # One at a time, as DynamoDB orders them: the race left is the retries'.
    lock = threading.Lock()
    transact = harness.dynamodb.transact_write_items

    def one_at_a_time(**kwargs: Any) -> Any:
        with lock:
            return transact(**kwargs)

    monkeypatch.setattr(harness.dynamodb, "transact_write_items", one_at_a_time)
    actions = JobActions.from_settings(get_job_actions_settings(), dynamodb=harness.dynamodb, sqs=harness.sqs)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: actions.retry(job.job_id, CALLER, idempotency_key="once"), range(4)))
    assert len({answer.job_id for answer in answers}) == 1
    assert _retries_of(harness, job.job_id) == [answers[0].job_id]
    assert len(harness.receive(PRIORITY)) == 1


def test_without_a_key_or_with_another_key_each_retry_is_a_new_job(harness: Harness, admin: Actions) -> None:
    job = stored_job(JobStatus.CANCELED)
    made = {
        admin.retry(job.job_id).body["job_id"],
        admin.retry(job.job_id).body["job_id"],
        admin.retry(job.job_id, key="a").body["job_id"],
        admin.retry(job.job_id, key="b").body["job_id"],
    }
    assert len(made) == 4
    assert _retries_of(harness, job.job_id) == sorted(made)


def test_a_key_already_standing_for_another_request_of_the_domain_is_refused(
    harness: Harness, admin: Actions, lambda_context: Any
) -> None:
    one, other = stored_job(JobStatus.FAILED), stored_job(JobStatus.FAILED, recipient="another@example.org")
    assert admin.retry(one.job_id, key="shared").status == 202
    # The same key for another job's retry
    reused = admin.retry(other.job_id, key="shared")
    assert (reused.status, reused.code) == (409, "idempotency_key_reused")
    assert "another@example.org" not in str(reused.body)
    assert _retries_of(harness, other.job_id) == []
    # A key an enqueued email of the domain holds (one namespace per domain)
    enqueue = load_function("enqueue")
    request = {"type": "escalation", "domain": "acme.com", "to": "owner@acme.com", "subject": "Bell"}
    enqueued = enqueue.handler(
        {"jobs": [{**request, "body_text": "Hi", "idempotency_key": "enqueued-key"}]}, lambda_context
    )
    assert len(enqueued["job_ids"]) == 1
    refused = admin.retry(other.job_id, key="enqueued-key")
    assert (refused.status, refused.code) == (409, "idempotency_key_reused")
    assert _retries_of(harness, other.job_id) == []


def test_a_key_is_scoped_to_its_domain(harness: Harness, stack: Stack, lambda_context: Any) -> None:
    acme = Actions(lambda_context, domains="acme.com")
    beta = Actions(lambda_context, domains="beta.io", sub="admin-2")
    mine, theirs = stored_job(JobStatus.FAILED), stored_job(JobStatus.FAILED, domain="beta.io")
    ours, others = acme.retry(mine.job_id, key="k"), beta.retry(theirs.job_id, key="k")
    assert (ours.status, others.status) == (202, 202)
    assert _retries_of(harness, mine.job_id) == [ours.body["job_id"]]
    assert _retries_of(harness, theirs.job_id) == [others.body["job_id"]]


@pytest.mark.parametrize("key", ["", "x" * 129, "with space", "caf\u00e9"])
def test_a_bad_idempotency_key_is_a_400_and_makes_nothing(harness: Harness, admin: Actions, key: str) -> None:
    job = stored_job(JobStatus.FAILED)
    reply = admin.retry(job.job_id, key=key)
    assert (reply.status, reply.code) == (400, "invalid_request")
    assert "Idempotency-Key" in reply.body["error"]["message"]
    assert _retries_of(harness, job.job_id) == []
