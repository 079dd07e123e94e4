"""EnqueueFunction (docs/api.md) through its handler, against moto.

Moto accepts what AWS refuses (a 100-item BatchWriteItem, 11 SQS entries) and
never fails: the limits are asserted by a hook that sees every call, and
failures are injected at the client with botocore's own events.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from common.adapters import aws
from common.adapters import index_keys as keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.bodies import BodyStore
from common.adapters.idempotency_markers import idempotency_pk
from common.logic.plaintext import SHORTENED_NOTE
from common.models.clock import epoch_seconds, utc_now
from common.models.job import JobType, QueueName, new_job_id
from common.models.pipeline_settings import get_enqueue_settings
from local.template import Stack
from tests.helpers import load_function
from tests.unit.test_enqueue_payload import INVALID_REQUESTS, valid_request

EVENTS = Path(__file__).resolve().parent.parent / "events"
SQS_BATCH_LIMIT = 10  # AWS: entries per SendMessageBatch
BATCH_GET_LIMIT = 100  # AWS: keys per BatchGetItem
BATCH_WRITE_LIMIT = 25  # AWS: requests per BatchWriteItem
TRANSACT_LIMIT = 100  # AWS: actions per TransactWriteItems

handler = load_function("enqueue").handler


# ------------------------------------------------------------------ helpers
def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def stored_items(stack: Stack) -> list[dict[str, Any]]:
    """Every item of the jobs table, deserialized (jobs and idempotency markers)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=stack.names["JobsTable"], ConsistentRead=True):
        items += [deserialize(item) for item in page["Items"]]
    return items


def stored_jobs(stack: Stack) -> dict[str, dict[str, Any]]:
    """The stored jobs by id, each with its body (stored apart) as ``body_text`` and ``body_html``."""
    store = BodyStore(
        boto3.client("dynamodb", region_name="us-east-1"),
        stack.names["JobsTable"],
        boto3.client("s3", region_name="us-east-1"),
        stack.names["BodiesBucket"],
    )
    jobs = {item["job_id"]: item for item in stored_items(stack) if "job_id" in item}
    for job in jobs.values():
        bodies = store.get(job["body"])
        assert bodies is not None
        job.update(body_text=bodies.text, body_html=bodies.html)
    return jobs


def drain(stack: Stack, logical: str) -> list[dict[str, Any]]:
    """Every message waiting on a queue (bodies parsed)."""
    client = boto3.client("sqs", region_name="us-east-1")
    bodies: list[dict[str, Any]] = []
    while True:
        response = client.receive_message(QueueUrl=stack.names[logical], MaxNumberOfMessages=10)
        messages = response.get("Messages", [])
        if not messages:
            return bodies
        bodies += [json.loads(m["Body"]) for m in messages]


def queued_ids(stack: Stack) -> dict[str, list[str]]:
    return {q: [m["job_id"] for m in drain(stack, q)] for q in ("PriorityQueue", "BulkQueue")}


def assert_nothing_written_or_queued(stack: Stack) -> None:
    assert stored_items(stack) == []
    assert queued_ids(stack) == {"PriorityQueue": [], "BulkQueue": []}


def http(status: int) -> AWSResponse:
    return AWSResponse("https://aws.invalid/", status, HTTPHeaders(), None)


class CallLog:
    """Counts the API calls of the handler's clients by operation and checks
    AWS's own limits on each (moto would accept oversize batches)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.violations: list[str] = []

    def attach(self) -> CallLog:
        aws.dynamodb().meta.events.register("before-parameter-build.dynamodb", self._record)
        aws.sqs().meta.events.register("before-parameter-build.sqs", self._record)
        return self

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "SendMessageBatch" and not 1 <= len(params["Entries"]) <= SQS_BATCH_LIMIT:
            self.violations.append(f"SendMessageBatch with {len(params['Entries'])} entries")
        if model.name == "BatchWriteItem":
            size = sum(len(requests) for requests in params["RequestItems"].values())
            if not 1 <= size <= BATCH_WRITE_LIMIT:
                self.violations.append(f"BatchWriteItem with {size} requests")
        if model.name == "TransactWriteItems" and len(params["TransactItems"]) > TRANSACT_LIMIT:
            self.violations.append(f"TransactWriteItems with {len(params['TransactItems'])} actions")
        if model.name == "BatchGetItem":
            size = sum(len(request["Keys"]) for request in params["RequestItems"].values())
            if not 1 <= size <= BATCH_GET_LIMIT:
                self.violations.append(f"BatchGetItem with {size} keys")

    def count(self, *operations: str) -> int:
        return sum(self.calls[o] for o in operations)


class FailingEntries:
    """SendMessageBatch where the entries of some jobs fail (``times`` times each,
    or always) as SQS reports a failed entry; the others are really sent."""

    def __init__(self, failing: set[str], times: int | None = None) -> None:
        self.failing = failing
        self.times = times
        self.failures: Counter[str] = Counter()
        self._real = boto3.client("sqs", region_name="us-east-1")
        events: Any = aws.sqs().meta.events  # the stubs expect handlers to return None; these answer calls
        events.register("before-parameter-build.sqs.SendMessageBatch", self._keep_params)
        events.register("before-call.sqs.SendMessageBatch", self._answer)

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test_params"] = copy.deepcopy(params)

    def _answer(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context["test_params"]
        good, bad = [], []
        for entry in params["Entries"]:
            job_id = json.loads(entry["MessageBody"])["job_id"]
            if job_id in self.failing and (self.times is None or self.failures[job_id] < self.times):
                self.failures[job_id] += 1
                bad.append(entry)
            else:
                good.append(entry)
        successful = (
            self._real.send_message_batch(QueueUrl=params["QueueUrl"], Entries=good)["Successful"] if good else []
        )
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in bad]
        return http(200), {"Successful": successful, "Failed": failed, "ResponseMetadata": {"HTTPStatusCode": 200}}


def fail_calls(client: Any, service: str, operation: str, code: str, *, after: int = 0) -> None:
    """Every ``operation`` call after the first ``after`` fails with ``code``
    (as if botocore's own retries had been used up)."""
    seen = Counter[str]()

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        seen[operation] += 1
        if seen[operation] <= after:
            return None
        return http(500), {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 500}}

    client.meta.events.register(f"before-call.{service}.{operation}", answer)


@pytest.fixture
def calls(stack: Stack) -> CallLog:
    return CallLog().attach()


@pytest.fixture
def grace(stack: Stack) -> int:
    return get_enqueue_settings().sweep_grace_seconds


def requests(n: int, *, keyed: bool, job_type: str = "escalation", domain: str = "acme.com") -> list[dict[str, Any]]:
    return [
        valid_request(
            type=job_type,
            domain=domain,
            to=f"user{i}@example.com",
            **({"idempotency_key": f"conv-{i}-{job_type}"} if keyed else {}),
        )
        for i in range(n)
    ]


# ------------------------------------------------------------------ success
def test_single_request_is_stored_queued_and_on_the_priority_queue(
    stack: Stack, lambda_context: Any, grace: int
) -> None:
    # Given the contract's example request
    payload = event("enqueue_single.json")
    before = utc_now()
    # When a Privas service invokes the function with it
    result = handler(payload, lambda_context)
    after = utc_now()
    # Then it gets exactly one job id back
    assert list(result) == ["job_ids"]
    [job_id] = result["job_ids"]
    # And the job is stored as queued, with nothing attempted yet
    [job] = stored_jobs(stack).values()
    assert job["job_id"] == job_id
    assert (job["status"], job["attempts"], job["attempt_log"]) == ("queued", 0, [])
    assert (job["domain"], job["type"], job["recipient"]) == ("acme.com", "escalation", "owner@acme.com")
    assert job["subject"] == payload["subject"]
    assert job["body_text"] == payload["body_text"]
    assert job["created_at"].endswith("Z")
    # And the sweeper will find it if its message is lost: it is in flight, in one of its domain's shards
    assert job["fk"] in keys.domain_inflight_keys("acme.com")
    assert job["fs"] == f"acme.com#{job_id}"
    assert epoch_seconds(before) + grace <= job["due_at"] <= epoch_seconds(after + timedelta(seconds=grace))
    # ... and in Due, on its queue's shards, first looked at when it is due
    assert job["wk"] in keys.due_keys(QueueName.PRIORITY)
    assert job["sweep_at"] == job["due_at"]
    # And its message (ids and the recipient, no body; its body id is its own) is on the priority queue
    assert drain(stack, "PriorityQueue") == [
        {"job_id": job_id, "domain": "acme.com", "type": "escalation", "body": job_id, "recipient": "owner@acme.com"}
    ]
    assert drain(stack, "BulkQueue") == []


def test_batch_returns_ids_in_request_order(stack: Stack, lambda_context: Any) -> None:
    payload = event("enqueue_batch.json")
    result = handler(payload, lambda_context)
    ids = result["job_ids"]
    assert len(ids) == len(set(ids)) == 3
    jobs = stored_jobs(stack)
    assert [jobs[i]["recipient"] for i in ids] == [r["to"] for r in payload["jobs"]]
    assert [jobs[i]["type"] for i in ids] == ["ai_followup", "invitation", "manual"]
    assert jobs[ids[0]]["body_html"] == payload["jobs"][0]["body_html"]
    assert jobs[ids[0]]["reply_to"] == "support@acme.com"
    assert jobs[ids[1]]["body_html"] is None
    assert queued_ids(stack) == {"PriorityQueue": ids[:2], "BulkQueue": ids[2:]}


@pytest.mark.parametrize("job_type", [t for t in JobType if t is not JobType.MANUAL])
def test_system_emails_go_on_the_priority_queue(stack: Stack, lambda_context: Any, job_type: JobType) -> None:
    [job_id] = handler(valid_request(type=job_type.value), lambda_context)["job_ids"]
    assert queued_ids(stack) == {"PriorityQueue": [job_id], "BulkQueue": []}


def test_manual_emails_go_on_the_bulk_queue_and_never_ahead_of_escalations(stack: Stack, lambda_context: Any) -> None:
    # Given a large admin send followed by one escalation
    bulk = handler({"jobs": requests(100, keyed=False, job_type="manual")}, lambda_context)["job_ids"]
    [bell] = handler(valid_request(type="escalation"), lambda_context)["job_ids"]
    # Then the escalation waits on the priority queue alone
    queues = queued_ids(stack)
    assert queues["PriorityQueue"] == [bell]
    assert sorted(queues["BulkQueue"]) == sorted(bulk)


def test_emails_queued_metric_counts_new_jobs(
    stack: Stack, lambda_context: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    handler({"jobs": requests(3, keyed=True)}, lambda_context)
    handler({"jobs": requests(4, keyed=True)}, lambda_context)  # 3 of these were seen already
    values = []
    for line in capfd.readouterr().out.splitlines():
        if line.startswith("{") and "EmailsQueued" in line:
            value = json.loads(line)["EmailsQueued"]
            values.append(sum(value) if isinstance(value, list) else value)
    assert values == [3, 1]


def test_logs_name_ids_never_addresses_subjects_or_bodies(
    stack: Stack, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a private email, enqueued, then sent again in a rejected batch
    secret = valid_request(to="private.person@example.com", subject="Your test results", body_text="Code 4711")
    [job_id] = handler(secret, lambda_context)["job_ids"]
    handler({"jobs": [secret, valid_request(subject="")]}, lambda_context)
    # Then the log records (message and structured keys) name the job by id
    out = json.dumps([record.__dict__ for record in caplog.records], default=str)
    assert job_id in out
    # And never the address, the subject or the body
    for private in ("private.person", "Your test results", "Code 4711"):
        assert private not in out


# ------------------------------------------------------------------ validation
def test_every_invalid_request_writes_and_queues_nothing(stack: Stack, lambda_context: Any) -> None:
    for case, bad, field in INVALID_REQUESTS:
        # Given a batch whose last request breaks one rule
        payload = {"jobs": [valid_request(), valid_request(type="manual", idempotency_key="k-1"), bad]}
        # When it is invoked
        result = handler(payload, lambda_context)
        # Then the whole payload is rejected, naming the request and field
        assert result["error"]["code"] == "validation_error", case
        assert result["error"]["message"], case
        assert {"index": 2, "field": field} in [
            {"index": d.get("index"), "field": d.get("field")} for d in result["error"]["details"]
        ], case
        # And nothing of it was written or queued
        assert_nothing_written_or_queued(stack)


@pytest.mark.parametrize(
    "payload",
    [
        {"jobs": []},
        {"jobs": [valid_request() for _ in range(101)]},
        [valid_request()],
        "owner@acme.com",
        None,
        {**valid_request(), "cc": "boss@acme.com"},
        {"jobs": [valid_request()], "dry_run": True},
    ],
    ids=["0 jobs", "101 jobs", "a list", "a string", "null", "unknown field", "unknown field beside jobs"],
)
def test_malformed_payload_writes_and_queues_nothing(stack: Stack, lambda_context: Any, payload: object) -> None:
    result = handler(payload, lambda_context)
    assert set(result) == {"error"}
    assert result["error"]["code"] == "validation_error"
    assert result["error"]["details"]
    assert all(set(d) <= {"index", "field", "message"} for d in result["error"]["details"])
    assert_nothing_written_or_queued(stack)


def test_validation_error_lists_each_problem_by_index_and_field(stack: Stack, lambda_context: Any) -> None:
    payload = {"jobs": [valid_request(), valid_request(subject="x" * 201), valid_request(to="nobody")]}
    result = handler(payload, lambda_context)
    details = result["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == [(1, "subject"), (2, "to")]
    assert "x" * 201 not in json.dumps(result)


# ------------------------------------------------------------------ idempotency
def test_same_key_twice_is_one_job_and_one_message(stack: Stack, lambda_context: Any, calls: CallLog) -> None:
    # Given a request with an idempotency key, invoked once
    request = valid_request(idempotency_key="conv-123-bell")
    [first] = handler(request, lambda_context)["job_ids"]
    sqs_calls, writes = calls.count("SendMessageBatch"), calls.count("TransactWriteItems", "BatchWriteItem")
    # When the same request comes again (its addresses spelled in another case)
    [again] = handler({**request, "to": "Owner@ACME.COM", "domain": "Acme.com"}, lambda_context)["job_ids"]
    # Then it gets the same job id, and nothing more is stored or queued: the marker's read said so
    assert again == first
    assert list(stored_jobs(stack)) == [first]
    assert calls.count("SendMessageBatch") == sqs_calls
    assert calls.count("TransactWriteItems", "BatchWriteItem") == writes
    assert queued_ids(stack)["PriorityQueue"] == [first]


def test_same_key_in_another_domain_is_a_new_job(stack: Stack, lambda_context: Any) -> None:
    [acme] = handler(valid_request(idempotency_key="invite-1"), lambda_context)["job_ids"]
    [beta] = handler(valid_request(domain="beta.io", idempotency_key="invite-1"), lambda_context)["job_ids"]
    assert acme != beta
    assert set(stored_jobs(stack)) == {acme, beta}
    assert sorted(queued_ids(stack)["PriorityQueue"]) == sorted([acme, beta])


def test_same_key_inside_one_payload_is_one_job(stack: Stack, lambda_context: Any) -> None:
    # Given a payload naming one key twice for one request (the domain in another case)
    payload = {
        "jobs": [
            valid_request(idempotency_key="conv-9", body_text="first"),
            valid_request(to="other@acme.com"),
            valid_request(domain="ACME.com", idempotency_key="conv-9", body_text="first"),
        ]
    }
    # When it is invoked
    ids = handler(payload, lambda_context)["job_ids"]
    # Then both requests stand for the first one's job
    assert ids[0] == ids[2] != ids[1]
    jobs = stored_jobs(stack)
    assert set(jobs) == {ids[0], ids[1]}
    assert jobs[ids[0]]["body_text"] == "first"
    assert sorted(queued_ids(stack)["PriorityQueue"]) == sorted([ids[0], ids[1]])


def test_same_key_for_two_requests_inside_one_payload_is_reused(stack: Stack, lambda_context: Any) -> None:
    # Given a payload naming one key for two different requests
    payload = {
        "jobs": [
            valid_request(idempotency_key="conv-9", body_text="first"),
            valid_request(to="other@acme.com"),
            valid_request(domain="ACME.com", idempotency_key="conv-9", body_text="second"),
        ]
    }
    # When it is invoked
    result = handler(payload, lambda_context)
    # Then the whole payload is refused, naming the request that reused the key
    assert result["error"]["code"] == "idempotency_key_reused"
    assert [(d["index"], d["field"]) for d in result["error"]["details"]] == [(2, "idempotency_key")]
    # And nothing of it was written or queued
    assert_nothing_written_or_queued(stack)


def test_seen_key_in_a_batch_queues_only_the_new_jobs(stack: Stack, lambda_context: Any) -> None:
    [seen] = handler(valid_request(idempotency_key="a"), lambda_context)["job_ids"]
    drain(stack, "PriorityQueue")
    ids = handler(
        {"jobs": [valid_request(idempotency_key="b"), valid_request(idempotency_key="a"), valid_request()]},
        lambda_context,
    )["job_ids"]
    assert ids[1] == seen
    assert sorted(queued_ids(stack)["PriorityQueue"]) == sorted([ids[0], ids[2]])
    assert len(stored_jobs(stack)) == 3


# ------------------------------------------------------------------ a key reused for another request
def marker_of(stack: Stack, domain: str, key: str) -> dict[str, Any] | None:
    return next((i for i in stored_items(stack) if i["pk"] == idempotency_pk(domain, key)), None)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "invitation"},
        {"to": "someone.else@acme.com"},
        {"subject": "Another subject"},
        {"body_text": "Another body."},
        {"body_html": "<p>Please join the conversation.</p>"},
        {"reply_to": "help@acme.com"},
    ],
    ids=["type", "recipient", "subject", "body_text", "body_html", "reply_to"],
)
def test_same_key_with_a_different_request_is_refused(
    stack: Stack, lambda_context: Any, calls: CallLog, change: dict[str, Any]
) -> None:
    # Given a request with a key, enqueued once
    [first] = handler(valid_request(idempotency_key="conv-1"), lambda_context)["job_ids"]
    drain(stack, "PriorityQueue")
    writes = calls.count("TransactWriteItems", "BatchWriteItem")
    # When the same key comes with a different request
    result = handler(valid_request(idempotency_key="conv-1", **change), lambda_context)
    # Then it is refused with the contract's code, naming the field
    assert set(result) == {"error"}
    assert result["error"]["code"] == "idempotency_key_reused"
    assert result["error"]["message"].startswith("Nothing was queued: idempotency_key: ")
    assert [(d.get("index"), d["field"]) for d in result["error"]["details"]] == [(None, "idempotency_key")]
    # And nothing more was written or queued
    assert calls.count("TransactWriteItems", "BatchWriteItem") == writes
    assert list(stored_jobs(stack)) == [first]
    assert queued_ids(stack) == {"PriorityQueue": [], "BulkQueue": []}


def test_a_batch_whose_seventh_request_reuses_a_key_writes_nothing(
    stack: Stack, lambda_context: Any, calls: CallLog
) -> None:
    # Given a key already used for one request
    handler(valid_request(idempotency_key="conv-6", subject="The first"), lambda_context)
    drain(stack, "PriorityQueue")
    before = stored_items(stack)
    writes = calls.count("TransactWriteItems", "BatchWriteItem")
    reads = calls.count("BatchGetItem")
    # When a batch of 100 (keyed and not) reuses it for another request in its 7th
    jobs = requests(60, keyed=True) + requests(40, keyed=False, job_type="manual")
    jobs[6] = valid_request(idempotency_key="conv-6", subject="Another")
    result = handler({"jobs": jobs}, lambda_context)
    # Then the whole batch is refused, naming the 7th request
    assert result["error"]["code"] == "idempotency_key_reused"
    assert [(d["index"], d["field"]) for d in result["error"]["details"]] == [(6, "idempotency_key")]
    # And none of it was written or queued: the markers were read first, in one call
    assert calls.count("TransactWriteItems", "BatchWriteItem") == writes
    assert calls.count("BatchGetItem") == reads + 1  # the markers only: refused before the suppression list is read
    assert stored_items(stack) == before
    assert queued_ids(stack) == {"PriorityQueue": [], "BulkQueue": []}
    assert not calls.violations


def test_marker_keeps_the_requests_fingerprint_not_its_body(stack: Stack, lambda_context: Any) -> None:
    handler(valid_request(idempotency_key="conv-2", body_text="The door code is 4711"), lambda_context)
    marker = marker_of(stack, "acme.com", "conv-2")
    assert marker is not None
    assert marker["fingerprint"].startswith("v1:")
    assert "4711" not in json.dumps(marker, default=str)
    assert set(marker) == {"pk", "target_job_id", "fingerprint", "expires_at"}


def put_marker(stack: Stack, key: str, *, fingerprint: str | None) -> str:
    """A marker written by someone else (another invocation, or version 1 without a fingerprint)."""
    target, _ = new_job_id()
    values = {"pk": idempotency_pk("acme.com", key), "target_job_id": target, "fingerprint": fingerprint}
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=stack.names["JobsTable"], Item=serialize(values)
    )
    return target


def test_a_marker_from_before_fingerprints_stands_for_its_job(stack: Stack, lambda_context: Any) -> None:
    # Given a key's marker written by version 1 (no fingerprint)
    target = put_marker(stack, "conv-old", fingerprint=None)
    # When a request comes with that key
    result = handler(valid_request(idempotency_key="conv-old"), lambda_context)
    # Then it stands for that job, as in version 1, and nothing is written or queued
    assert result == {"job_ids": [target]}
    assert stored_jobs(stack) == {}
    assert queued_ids(stack) == {"PriorityQueue": [], "BulkQueue": []}


def test_a_key_taken_meanwhile_by_another_request_is_refused(
    stack: Stack, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given another invocation takes key "k-2" for a different request right
    # after this one has read the markers (and found none)
    def take_the_key(**_: Any) -> None:
        put_marker(stack, "k-2", fingerprint="v1:" + "0" * 64)

    aws.dynamodb().meta.events.register("after-call.dynamodb.BatchGetItem", take_the_key)
    payload = {
        "jobs": [
            *requests(2, keyed=False),
            valid_request(idempotency_key="k-1"),
            valid_request(idempotency_key="k-2", body_text="The door code is 4711"),
        ]
    }
    # When the payload is invoked
    result = handler(payload, lambda_context)
    # Then the write's condition catches it: the request is refused with the contract's code
    assert set(result) == {"error"}
    assert result["error"]["code"] == "idempotency_key_reused"
    assert [(d["index"], d["field"]) for d in result["error"]["details"]] == [(3, "idempotency_key")]
    assert "at the same moment" in result["error"]["message"]
    assert "4711" not in json.dumps(result)
    # And the request's own job was not written; those written before it wait for the sweeper
    jobs = stored_jobs(stack)
    assert len(jobs) == 3
    assert {j.get("idempotency_key") for j in jobs.values()} == {None, "k-1"}
    assert {(j["status"], "fk" in j) for j in jobs.values()} == {("queued", True)}
    assert queued_ids(stack) == {"PriorityQueue": [], "BulkQueue": []}
    assert "4711" not in caplog.text


# ------------------------------------------------------------------ HTML-only and addresses
def test_html_only_email_is_stored_with_a_text_made_from_its_html(stack: Stack, lambda_context: Any) -> None:
    # Given an HTML-only invitation (to an internationalised domain)
    payload = event("enqueue_html_only.json")
    # When it is enqueued
    [job_id] = handler(payload, lambda_context)["job_ids"]
    # Then the job keeps the HTML and carries the text a person reads in it
    job = stored_jobs(stack)[job_id]
    assert job["body_html"] == payload["body_html"]
    assert job["body_text"] == (
        "You are invited\n\nJoin the acme.com workspace: [accept the invitation](https://app.example.com/invite/abc)."
    )
    assert job["recipient"] == "new.collaborator@bücher.de"
    # And it is queued like any other
    assert queued_ids(stack) == {"PriorityQueue": [job_id], "BulkQueue": []}
    # And the same request again is the same job
    assert handler(payload, lambda_context)["job_ids"] == [job_id]


def test_html_only_text_is_cut_to_the_item_limit(stack: Stack, lambda_context: Any) -> None:
    html = "<p>" + "€" * 99_000 + "</p>"
    [job_id] = handler({**valid_request(body_html=html), "body_text": None}, lambda_context)["job_ids"]
    job = stored_jobs(stack)[job_id]
    assert len(job["body_text"].encode()) + len(job["body_html"].encode()) <= 300_000
    assert job["body_text"].endswith(SHORTENED_NOTE)


@pytest.mark.parametrize("field", ["to", "reply_to"])
def test_a_non_ascii_local_part_is_refused_naming_its_field(stack: Stack, lambda_context: Any, field: str) -> None:
    result = handler(valid_request(**{field: "jürgen@acme.com"}), lambda_context)
    assert result["error"]["code"] == "validation_error"
    [detail] = result["error"]["details"]
    assert detail["field"] == field
    assert "ASCII" in detail["message"]
    assert_nothing_written_or_queued(stack)


# ------------------------------------------------------------------ failures
def test_message_that_cannot_be_queued_leaves_the_job_for_the_sweeper(
    stack: Stack, lambda_context: Any, grace: int
) -> None:
    # Given a batch whose second job's message SQS keeps failing
    payload = {"jobs": requests(3, keyed=False)}
    stuck: set[str] = set()
    original_put = aws.dynamodb().meta.events

    def pick_second(params: dict[str, Any], **_: Any) -> None:
        [requests_] = params["RequestItems"].values()
        jobs = [r for r in requests_ if "job_id" in r["PutRequest"]["Item"]]  # not the body items
        stuck.add(jobs[1]["PutRequest"]["Item"]["job_id"]["S"])

    original_put.register("before-parameter-build.dynamodb.BatchWriteItem", pick_second)
    failing = FailingEntries(stuck)
    before = utc_now()
    # When it is invoked
    ids = handler(payload, lambda_context)["job_ids"]
    # Then the caller still gets every id, in order
    [stuck_id] = stuck
    assert len(ids) == 3
    assert ids[1] == stuck_id
    assert failing.failures[stuck_id] >= 2  # the failed entry was tried again
    # And the other two are queued, the stuck one is not
    assert sorted(queued_ids(stack)["PriorityQueue"]) == sorted([ids[0], ids[2]])
    # And the stuck job is stored queued, due for the sweeper
    job = stored_jobs(stack)[stuck_id]
    assert job["status"] == "queued"
    assert "fk" in job
    assert job["due_at"] >= epoch_seconds(before) + grace


def test_failed_entry_is_retried_once_and_queued_once(stack: Stack, lambda_context: Any) -> None:
    stuck: set[str] = set()

    def pick_first(params: dict[str, Any], **_: Any) -> None:
        [requests_] = params["RequestItems"].values()
        jobs = [r for r in requests_ if "job_id" in r["PutRequest"]["Item"]]  # not the body items
        stuck.add(jobs[0]["PutRequest"]["Item"]["job_id"]["S"])

    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", pick_first)
    failing = FailingEntries(stuck, times=1)
    ids = handler({"jobs": requests(12, keyed=False)}, lambda_context)["job_ids"]
    assert sum(failing.failures.values()) == 1
    assert sorted(queued_ids(stack)["PriorityQueue"]) == sorted(ids)


def test_sqs_down_leaves_every_job_for_the_sweeper(stack: Stack, lambda_context: Any) -> None:
    # Given SQS refuses every SendMessageBatch (after botocore's retries)
    fail_calls(aws.sqs(), "sqs", "SendMessageBatch", "ServiceUnavailable")
    # When a batch is invoked
    ids = handler({"jobs": requests(3, keyed=False) + requests(2, keyed=True, job_type="manual")}, lambda_context)[
        "job_ids"
    ]
    # Then the ids are returned, the jobs are stored queued and due for the sweeper
    assert len(ids) == 5
    jobs = stored_jobs(stack)
    assert set(jobs) == set(ids)
    assert {(j["status"], j["type"], "fk" in j) for j in jobs.values()} == {
        ("queued", "escalation", True),
        ("queued", "manual", True),
    }


def test_unprocessed_items_are_written_again(stack: Stack, lambda_context: Any, calls: CallLog) -> None:
    # Given DynamoDB processes only part of the first BatchWriteItem
    table = stack.names["JobsTable"]
    sizes: list[int] = []
    held: list[Any] = []

    def process_part(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        items = params["RequestItems"][table]
        sizes.append(len(items))
        if not held:
            held.extend(items[-7:])
            params["RequestItems"] = {table: items[:-7]}
            context["test_unprocessed"] = held

    def report_unprocessed(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "test_unprocessed" in context:
            parsed["UnprocessedItems"] = {table: context["test_unprocessed"]}

    events = aws.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb.BatchWriteItem", process_part)
    events.register("after-call.dynamodb.BatchWriteItem", report_unprocessed)
    # When 25 jobs are enqueued
    ids = handler({"jobs": requests(25, keyed=False)}, lambda_context)["job_ids"]
    # Then the unprocessed ones were sent again, alone, and every job is stored and queued
    # (25 jobs and their 25 bodies: 25 + 25 requests)
    assert sizes == [25, 7, 25]
    assert set(stored_jobs(stack)) == set(ids)
    assert sorted(queued_ids(stack)["PriorityQueue"]) == sorted(ids)
    assert not calls.violations


def test_storage_failure_part_way_queues_what_was_stored(stack: Stack, lambda_context: Any) -> None:
    # Given DynamoDB fails the second keyed write (after botocore's retries)
    fail_calls(aws.dynamodb(), "dynamodb", "TransactWriteItems", "InternalServerError", after=1)
    secret = "The door code is 4711"
    payload = {
        "jobs": [
            *requests(3, keyed=False),
            valid_request(idempotency_key="k-1"),
            valid_request(idempotency_key="k-2", body_text=secret),
        ]
    }
    # When the batch is invoked
    result = handler(payload, lambda_context)
    # Then the caller gets an internal error, with no trace and no body
    assert set(result) == {"error"}
    assert result["error"]["code"] == "internal_error"
    assert result["error"]["message"]
    assert "Traceback" not in json.dumps(result)
    assert secret not in json.dumps(result)
    # And the four jobs that were stored are queued; the fifth was never stored
    jobs = stored_jobs(stack)
    assert len(jobs) == 4
    assert {j.get("idempotency_key") for j in jobs.values()} == {None, "k-1"}
    assert sorted(queued_ids(stack)["PriorityQueue"]) == sorted(jobs)


def test_storage_down_stores_and_queues_nothing(stack: Stack, lambda_context: Any) -> None:
    fail_calls(aws.dynamodb(), "dynamodb", "BatchWriteItem", "InternalServerError")
    result = handler({"jobs": requests(3, keyed=False)}, lambda_context)
    assert result["error"]["code"] == "internal_error"
    assert_nothing_written_or_queued(stack)


# ------------------------------------------------------------------ cost per email
@pytest.mark.parametrize("keyed", [False, True], ids=["no keys", "keys"])
@pytest.mark.parametrize("n", [1, 10, 25, 26, 100])
def test_calls_per_enqueue_are_the_minimum(
    stack: Stack, lambda_context: Any, calls: CallLog, n: int, keyed: bool
) -> None:
    # When n jobs of one type are enqueued in one call
    ids = handler({"jobs": requests(n, keyed=keyed)}, lambda_context)["job_ids"]
    # Then every one is stored and queued
    assert len(set(ids)) == n
    assert len(stored_jobs(stack)) == n
    assert len(queued_ids(stack)["PriorityQueue"]) == n
    # And no call broke an AWS limit
    assert not calls.violations
    # And SQS cost ceil(n/10) calls; DynamoDB ceil(2n/25) batch writes (each
    # job and its body), or one transaction per job (marker, job, body) where
    # an idempotency key needs a conditional write, after one read of the
    # recipients' suppression entries and one of the keys' markers (100 per BatchGetItem)
    # And one transaction adds the new jobs to the statistics counters
    # (docs/adr/0084-statistics-counters.md)
    assert calls.count("SendMessageBatch") == math.ceil(n / SQS_BATCH_LIMIT)
    writes = n if keyed else math.ceil(2 * n / BATCH_WRITE_LIMIT)
    counters = 1
    if keyed:
        assert calls.count("TransactWriteItems") == writes + counters
    else:
        assert calls.count("BatchWriteItem") == writes
        assert calls.count("TransactWriteItems") == counters
    reads = math.ceil(n / BATCH_GET_LIMIT) * (2 if keyed else 1)
    assert calls.count("BatchGetItem") == reads
    # And nothing else was called
    assert sum(calls.calls.values()) == math.ceil(n / SQS_BATCH_LIMIT) + writes + reads + counters


def test_calls_for_a_mixed_batch_stay_within_the_bound(stack: Stack, lambda_context: Any, calls: CallLog) -> None:
    # Given 100 jobs: priority and bulk, with and without keys
    jobs = (
        requests(33, keyed=False)
        + requests(27, keyed=True, job_type="invitation")
        + requests(40, keyed=False, job_type="manual")
    )
    n = len(jobs)
    ids = handler({"jobs": jobs}, lambda_context)["job_ids"]
    assert len(set(ids)) == n
    assert not calls.violations
    # SQS: at most one partly filled batch per queue beyond ceil(n/10)
    assert calls.count("SendMessageBatch") <= math.ceil(n / SQS_BATCH_LIMIT) + 1
    # DynamoDB: one transaction per keyed job, the rest with their bodies 25 requests per call
    assert calls.count("TransactWriteItems") == 27 + 1  # and one of the statistics counters
    assert calls.count("BatchWriteItem") == math.ceil(2 * 73 / BATCH_WRITE_LIMIT)
    assert calls.count("TransactWriteItems", "BatchWriteItem") <= n


@pytest.fixture(autouse=True)
def _no_leftover_metrics() -> Iterator[None]:
    yield
    from common.adapters.observability import metrics

    metrics.clear_metrics()
