"""SQS fair queues: the bulk queue's group ids, and the embedded SQS handing
grouped messages out fairly across tenants (local/motofix.py, patch 5)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from common.adapters import aws
from common.adapters.queues import MAX_GROUP_ID_CHARS, JobQueues, Visibility, group_id
from common.logic.sending import process_batch, worker_from_settings
from common.models.job import JobType, QueueMessage
from common.models.worker_settings import get_worker_settings
from local import motofix
from local.events import sqs_event
from local.motofix import FairOrder
from local.template import Stack
from tests.integration.api_support import Admin, make_job

# AWS: MessageGroupId is 1-128 of letters, digits and punctuation.
_GROUP_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")
A = "alpha.example"
B = "beta.example"


@pytest.fixture
def fair(stack: Stack) -> Stack:
    motofix.apply()
    return stack


def _sqs() -> Any:
    return boto3.client("sqs", region_name="us-east-1")


def _receive(url: str, n: int = 10) -> list[dict[str, Any]]:
    got = _sqs().receive_message(
        QueueUrl=url, MaxNumberOfMessages=n, VisibilityTimeout=180, MessageSystemAttributeNames=["All"]
    )
    return list(got.get("Messages", []))


def _send(url: str, group: str | None, n: int) -> None:
    for start in range(0, n, 10):
        entries: list[dict[str, Any]] = []
        for i in range(start, min(n, start + 10)):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": json.dumps({"group": group, "n": i})}
            if group is not None:
                entry["MessageGroupId"] = group
            entries.append(entry)
        assert not _sqs().send_message_batch(QueueUrl=url, Entries=entries).get("Failed")


# ------------------------------------------------------------------ group ids
def test_a_domain_is_its_own_group_id_and_a_long_one_is_cut_with_a_hash() -> None:
    assert group_id(A) == A
    long_one = ("a" * 60 + ".") * 3 + "example"
    other = ("a" * 60 + ".") * 3 + "example2"
    assert len(long_one) > MAX_GROUP_ID_CHARS
    assert len(group_id(long_one)) == MAX_GROUP_ID_CHARS
    assert group_id(long_one) != group_id(other)
    for value in (A, group_id(long_one), group_id(other)):
        assert _GROUP_ID.fullmatch(value)


def test_every_bulk_queue_message_carries_its_domain_as_group_id_and_priority_ones_none(stack: Stack) -> None:
    # Given a bulk send of each of two domains, and a manual and a system email enqueued
    queues = JobQueues(_sqs(), priority_url=stack.names["PriorityQueue"], bulk_url=stack.names["BulkQueue"])
    jobs = [make_job(domain=A, job_type=JobType.MANUAL) for _ in range(12)]
    jobs += [make_job(domain=B, job_type=JobType.MANUAL), make_job(domain=B, job_type=JobType.ESCALATION)]
    sent: list[dict[str, Any]] = []
    queues._client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: sent.append(params)
    )

    # When they are queued
    assert queues.send([QueueMessage.for_job(job) for job in jobs]) == []

    # Then every bulk-queue entry's MessageGroupId is its domain, checked against AWS's format
    bulk = [e for call in sent if call["QueueUrl"] == stack.names["BulkQueue"] for e in call["Entries"]]
    assert len(bulk) == 13
    for entry in bulk:
        assert entry["MessageGroupId"] == json.loads(entry["MessageBody"])["domain"]
        assert _GROUP_ID.fullmatch(entry["MessageGroupId"])
    assert all(len(call["Entries"]) <= 10 for call in sent)
    # and the priority queue's carry none
    priority = [e for call in sent if call["QueueUrl"] == stack.names["PriorityQueue"] for e in call["Entries"]]
    assert len(priority) == 1
    assert "MessageGroupId" not in priority[0]
    # and the embedded SQS keeps the group on the message
    received = {m["Attributes"].get("MessageGroupId") for m in _receive(stack.names["BulkQueue"])}
    assert received <= {A, B}


def test_a_fresh_copy_on_the_bulk_queue_keeps_its_group_and_one_on_the_priority_queue_has_none(stack: Stack) -> None:
    bulk_arn, priority_arn = stack.arns["BulkQueue"], stack.arns["PriorityQueue"]
    visibility = Visibility(
        _sqs(),
        queue_urls={bulk_arn: stack.names["BulkQueue"], priority_arn: stack.names["PriorityQueue"]},
        grouped_arns=frozenset({bulk_arn}),
    )
    job = make_job(domain=B, job_type=JobType.MANUAL)
    body = QueueMessage.for_job(job).model_dump_json()

    visibility.requeue(bulk_arn, body, 0)
    visibility.requeue(bulk_arn, "not a job message", 0)
    visibility.requeue(priority_arn, body, 0)

    groups = sorted(str(m["Attributes"].get("MessageGroupId")) for m in _receive(stack.names["BulkQueue"]))
    assert groups == ["None", B]
    (priority,) = _receive(stack.names["PriorityQueue"])
    assert "MessageGroupId" not in priority["Attributes"]


# ------------------------------------------------------------------ the order
@dataclass
class FakeMessage:
    group_id: str | None
    visible_at: float = 0.0
    delayed_until: float = 0.0


def test_the_order_serves_the_lightest_group_first_then_alternates() -> None:
    order = FairOrder(window_seconds=60)
    now = 1_000_000.0
    a = [FakeMessage(A) for _ in range(6)]
    b = [FakeMessage(B) for _ in range(3)]
    loose = FakeMessage(None)
    # A: 4 received within the window; 2 more in flight (not visible); B: none
    order.received([A] * 50, now - 120)  # out of the window: forgotten
    order.received([A] * 4, now - 10)
    in_flight = [FakeMessage(A, visible_at=now * 1000 + 60_000) for _ in range(2)]
    delayed = FakeMessage(B, delayed_until=now * 1000 + 5_000)

    ranked = order.order([*a, *in_flight, delayed, *b, loose], now * 1000)

    # B (load 0) and the ungrouped message come before A (load 4); then they alternate
    assert ranked[:4] == [b[0], loose, b[1], b[2]]
    assert ranked[4:] == a
    assert delayed not in ranked and not set(map(id, in_flight)) & set(map(id, ranked))
    assert order.recent(now) == {A: 4}


def test_without_group_ids_the_order_is_the_order_sent() -> None:
    messages = [FakeMessage(None) for _ in range(5)]
    assert FairOrder().order(messages, 1.0) == messages


def test_the_patched_receive_hands_a_new_tenant_its_messages_before_a_backlog(fair: Stack) -> None:
    url = fair.names["BulkQueue"]
    # Given tenant A's backlog of 100, one batch of it already received
    _send(url, A, 100)
    first = _receive(url)
    assert {m["Attributes"]["MessageGroupId"] for m in first} == {A}
    for m in first:
        _sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    # When tenant B queues 10 behind it
    _send(url, B, 10)

    # Then the next receive hands out B's 10 first, then A's again
    assert [m["Attributes"]["MessageGroupId"] for m in _receive(url)] == [B] * 10
    assert {m["Attributes"]["MessageGroupId"] for m in _receive(url)} == {A}


def test_two_tenants_with_backlogs_alternate(fair: Stack) -> None:
    url = fair.names["BulkQueue"]
    _send(url, A, 40)
    _send(url, B, 40)
    groups = [m["Attributes"]["MessageGroupId"] for _ in range(4) for m in _receive(url)]
    assert groups.count(A) == groups.count(B) == 20


def test_a_queue_without_group_ids_keeps_moto_s_order(fair: Stack) -> None:
    url = fair.names["PriorityQueue"]
    _send(url, None, 15)
    bodies = [json.loads(m["Body"])["n"] for m in _receive(url)]
    assert bodies == list(range(10))


# ------------------------------------------------------------------ the behaviour
def test_a_small_bulk_of_b_is_sent_before_a_s_backlog_drains(fair: Stack, lambda_context, monkeypatch) -> None:
    # Given domain A's bulk send of 300 draining through the worker, batch by batch as Lambda polls
    admin = Admin(lambda_context, domains=f"{A} {B}")
    url, arn = fair.names["BulkQueue"], fair.arns["BulkQueue"]
    worker = worker_from_settings(
        get_worker_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs(), sesv2=aws.sesv2(), s3=aws.s3()
    )

    def drain_one_batch() -> int:
        messages = _receive(url)
        if messages:
            answer = process_batch(sqs_event(messages, queue_arn=arn, region="us-east-1"), worker, lambda_context)
            assert not answer.get("batchItemFailures")
            for m in messages:
                _sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def bulk(domain: str, n: int) -> str:
        extra = " ".join(f"r{i}@{domain}" for i in range(n))
        reply = admin.bulk({"domain": domain, "subject": "News", "body": "Hello", "extra_recipients": extra})
        assert reply.status == 202, reply.body
        return str(reply.body["bulk_id"])

    def sent(bulk_id: str) -> int:
        return int(admin.bulk_progress(bulk_id).body["counts"]["sent"])

    big = bulk(A, 300)
    for _ in range(3):
        assert drain_one_batch() == 10

    # When domain B posts a bulk send of 10
    small = bulk(B, 10)

    # Then B's 10 are all sent while A's backlog is still queued
    batches = 0
    while sent(small) < 10:
        assert drain_one_batch() > 0
        batches += 1
    assert batches <= 2
    assert sent(big) <= 300 - 250
    assert admin.bulk_progress(big).body["counts"]["queued"] >= 250
