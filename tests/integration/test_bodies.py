"""Bodies stored once, apart from the jobs (common.adapters.bodies; docs/storage.md section 3 "Body").

Sizes are DynamoDB's (``benchmarks.cost.item_size``), measured on the items
the code sends to DynamoDB, caught with a botocore event hook on the client.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Mapping
from typing import Any

import boto3
import pytest

from benchmarks.cost import item_size
from common.adapters import aws
from common.adapters.bodies import S3_THRESHOLD, BodyCache, BodyStore, Parts, body_pk, compress, decompress
from common.adapters.dynamo import BATCH_GET_LIMIT, BATCH_WRITE_LIMIT
from common.logic.bulk import BulkSender, bulk_key_hash
from common.models.api import Caller
from common.models.bulk_send import BulkSendRequest, get_bulk_queue_settings
from common.models.job import Bodies, JobStatus, JobType, QueueMessage
from local.jobs_table import JobsTable
from local.template import Stack
from tests.helpers import load_function
from tests.integration import test_send_worker
from tests.integration.api_support import BODIES, Admin, make_job, quick_queue_counts, store_jobs
from tests.integration.test_send_worker import BULK, Harness

KB = 1024
REGION = "us-east-1"


# ------------------------------------------------------------------ helpers
def prose(chars: int, seed: int = 9) -> str:
    """Realistic text: random words of a 3,000-word vocabulary, ``chars`` long."""
    rng = random.Random(seed)
    syllables = ["ka", "to", "ri", "men", "sa", "lo", "ver", "di", "na", "pe"]
    syllables += ["tri", "ul", "os", "an", "bre", "co", "fi", "gu", "ha", "je"]
    words = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(6000)})[:3000]
    out: list[str] = []
    length = 0
    while length < chars:
        out.append(rng.choice(words))
        length += len(out[-1]) + 1
    return " ".join(out)[:chars]


def size(item: Mapping[str, Any]) -> int:
    """DynamoDB's size of an item as sent (raw bytes in binary attributes)."""
    wire = {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value and isinstance(value["B"], bytes) else value
        for name, value in item.items()
    }
    return item_size(wire)


class Requests:
    """Every DynamoDB and S3 request a client makes: (operation, params)."""

    def __init__(self, *clients: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        for client in clients:
            client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    def written_items(self) -> list[Mapping[str, Any]]:
        """Every item put, by BatchWriteItem, PutItem or TransactWriteItems."""
        items = [
            r["PutRequest"]["Item"] for w in self.of("BatchWriteItem") for rs in w["RequestItems"].values() for r in rs
        ]
        items += [p["Item"] for p in self.of("PutItem")]
        items += [t["Put"]["Item"] for p in self.of("TransactWriteItems") for t in p["TransactItems"] if "Put" in t]
        return items

    def body_writes(self) -> list[Mapping[str, Any]]:
        return [item for item in self.written_items() if str(item["pk"]["S"]).startswith("b#")]

    def writes(self) -> int:
        return len([name for name, _ in self.calls if name in WRITES])


WRITES = {"BatchWriteItem", "PutItem", "TransactWriteItems", "UpdateItem", "DeleteItem", "PutObject"}


def store(stack: Stack) -> BodyStore:
    client = boto3.client("dynamodb", region_name=REGION)
    return BodyStore(
        client, stack.names["JobsTable"], boto3.client("s3", region_name=REGION), stack.names["BodiesBucket"]
    )


def raw_item(stack: Stack, pk: str) -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name=REGION)
    item: dict[str, Any] = client.get_item(TableName=stack.names["JobsTable"], Key={"pk": {"S": pk}})["Item"]
    return item


def bucket_keys(stack: Stack) -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=stack.names["BodiesBucket"]).get("Contents", [])]


# ------------------------------------------------------------------ the parts
def test_compressed_parts_come_back_identical() -> None:
    bodies = Bodies(text="Grüße, " + prose(3000), html="<p>€ " + prose(2000, seed=3) + "</p>")
    parts = compress(bodies)
    assert decompress(parts) == bodies
    assert decompress(Parts.unpack(parts.pack())) == bodies
    assert decompress(Parts.unpack(compress(Bodies(text="x")).pack())) == Bodies(text="x")


def test_a_2_kb_body_item_is_at_most_1_kb(stack: Stack) -> None:
    # Given 2,000 characters of prose with no HTML
    bodies = Bodies(text=prose(2000))
    # When its item is made
    item = store(stack).item("01JGQ6Z1T8W3Y5K7M9P2R4S6V8", "acme.com", bodies, expires_at=1_900_000_000)
    # Then it holds the compressed text itself, in at most 1 KB (one write unit)
    assert "zt" in item and "s3" not in item
    assert size(item) <= KB
    assert bucket_keys(stack) == []


def test_the_body_cache_keeps_the_most_recent_within_its_bound() -> None:
    cache = BodyCache(max_bytes=25)
    cache.put("a", Bodies(text="a" * 10))
    cache.put("b", Bodies(text="b" * 10))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", Bodies(text="c" * 10))  # 30 bytes: the least recent (b) goes
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    assert cache.bytes == 20
    cache.put("big", Bodies(text="x" * 26))  # larger than the whole cache: not kept
    assert "big" not in cache and len(cache) == 2


# ------------------------------------------------------------------ creating
def test_a_100000_character_body_goes_to_s3_and_comes_back_identical(stack: Stack, lambda_context: Any) -> None:
    # Given an email of 100,000 characters of prose, and HTML
    text, html = prose(100_000), "<div>" + prose(60_000, seed=4) + "</div>"
    requests = Requests(aws.dynamodb(), aws.s3())
    # When it is enqueued
    enqueue = load_function("enqueue").handler
    request = {"type": "invitation", "domain": "acme.com", "to": "a@example.org", "subject": "Big", "body_text": text}
    [job_id] = enqueue(request | {"body_html": html}, lambda_context)["job_ids"]
    # Then its compressed parts are one S3 object under <domain>/<job id>, PUT before any item
    assert bucket_keys(stack) == [f"acme.com/{job_id}"]
    names = [name for name, _ in requests.calls]
    assert names.index("PutObject") < names.index("BatchWriteItem")
    # And the body item only points at it, and the job item stays small
    body = raw_item(stack, body_pk(job_id))
    assert body["s3"]["S"] == f"acme.com/{job_id}" and "zt" not in body
    assert size(body) < 100
    (job_item,) = [i for i in requests.written_items() if i["pk"]["S"] == job_id]
    assert size(job_item) < KB
    # And it comes back identical
    assert store(stack).get(job_id) == Bodies(text=text, html=html)
    assert store(stack).get_many([job_id, "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"]) == {job_id: Bodies(text=text, html=html)}


def test_a_keyed_enqueue_writes_marker_job_and_body_in_one_transaction_and_a_replay_nothing(
    stack: Stack, lambda_context: Any
) -> None:
    enqueue = load_function("enqueue").handler
    request = {
        "type": "escalation",
        "domain": "acme.com",
        "to": "a@example.org",
        "subject": "Help",
        "body_text": prose(20_000),  # large: to S3
        "idempotency_key": "conv-1",
    }
    requests = Requests(aws.dynamodb(), aws.s3())
    # When it is enqueued
    [job_id] = enqueue(request, lambda_context)["job_ids"]
    # Then one transaction wrote marker, job and body, after the S3 PUT
    # (and then one of the statistics counters: the domain's and the platform's)
    transaction, counters = requests.of("TransactWriteItems")
    assert [t["Update"]["Key"]["pk"]["S"][:3] for t in counters["TransactItems"]] == ["st#", "st#"]
    assert [t["Put"]["Item"]["pk"]["S"] for t in transaction["TransactItems"]] == [
        "idem#acme.com#conv-1",
        job_id,
        body_pk(job_id),
    ]
    assert len(requests.of("PutObject")) == 1
    # When the same request is enqueued again
    before = requests.writes()
    assert enqueue(request, lambda_context)["job_ids"] == [job_id]
    # Then nothing more is written: no item, no object
    assert requests.writes() == before
    assert bucket_keys(stack) == [f"acme.com/{job_id}"]


def test_a_bulk_of_1000_writes_its_body_once(
    stack: Stack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick_queue_counts(monkeypatch)
    admin = Admin(lambda_context, domains="acme.com")
    text = prose(3500)  # compresses below the S3 threshold: one item in the table
    recipients = "\n".join(f"reader{i}@example.org" for i in range(1000))
    requests = Requests(aws.dynamodb(), aws.s3())
    # When an admin sends it to 1,000 recipients
    reply = admin.bulk({"domain": "acme.com", "subject": "News", "body": text, "extra_recipients": recipients})
    assert reply.status == 202, reply.body
    # Then the body is written once, under the bulk id, with the first jobs
    bodies = requests.body_writes()
    assert [b["pk"]["S"] for b in bodies] == [body_pk(reply.body["bulk_id"])]
    assert len(compress(Bodies(text=text)).text) <= S3_THRESHOLD
    # And each of the 1,000 job items names it and stays under 1 KB: the
    # bytes written are the jobs' and one body's, not 1,000 bodies'
    jobs = [i for i in requests.written_items() if "#" not in str(i["pk"]["S"])]  # not b#<body>, k#<bulk>
    assert len(jobs) == 1000
    assert {j["body"]["S"] for j in jobs} == {reply.body["bulk_id"]}
    assert max(size(j) for j in jobs) < KB
    total = sum(size(i) for i in requests.written_items())
    # the bulk's own item, for GET /bulks/{bulk_id}: one update (it keeps a cancel's mark; in one
    # TransactWriteItems with the bulk send's audit entry), and one more after the jobs, for how many are stored
    bulk_writes = [u for u in requests.of("UpdateItem") if str(u["Key"]["pk"]["S"]).startswith("k#")]
    bulk_writes += [
        t["Update"]
        for p in requests.of("TransactWriteItems")
        for t in p["TransactItems"]
        if "Update" in t and str(t["Update"]["Key"]["pk"]["S"]).startswith("k#")
    ]
    assert len(bulk_writes) == 2
    audit = [i for i in requests.written_items() if str(i["pk"]["S"]).startswith("audit#")]
    assert len(audit) == 1
    assert not [i for i in requests.written_items() if str(i["pk"]["S"]).startswith("k#")]
    bulk_bytes = sum(size(u["ExpressionAttributeValues"]) for u in bulk_writes)
    assert total < 1000 * KB + size(bodies[0]) + bulk_bytes + size(audit[0])
    assert total < 1000 * len(text)  # what a body per job would have cost at least
    # And within AWS's limit per BatchWriteItem
    assert all(len(rs) <= BATCH_WRITE_LIMIT for w in requests.of("BatchWriteItem") for rs in w["RequestItems"].values())
    assert store(stack).get(reply.body["bulk_id"]) == Bodies(text=text)


def test_a_retried_keyed_bulk_does_not_write_its_body_again(stack: Stack) -> None:
    # Given a keyed bulk send with a large body, sent once
    sender = BulkSender.from_settings(get_bulk_queue_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs(), s3=aws.s3())
    caller = Caller(subject="admin-1", domains=frozenset({"acme.com"}))
    request = BulkSendRequest(
        domain="acme.com", subject="News", body=prose(30_000), extra_recipients="a@x.org\nb@x.org"
    )
    key_hash = bulk_key_hash(caller, "k-1")
    requests = Requests(aws.dynamodb(), aws.s3())
    first = sender.queue(request, key_hash=key_hash)
    body_puts = [p for p in requests.of("PutItem") if p["Item"]["pk"]["S"].startswith("b#")]
    assert len(body_puts) == 1 and body_puts[0]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert len(requests.of("PutObject")) == 1
    # When it is retried with the same key
    again = sender.queue(request, key_hash=key_hash)
    # Then it is the same bulk, and neither the body item nor its object is written again
    assert again.bulk_id == first.bulk_id
    assert len([p for p in requests.of("PutItem") if p["Item"]["pk"]["S"].startswith("b#")]) == 1
    assert len(requests.of("PutObject")) == 1
    assert store(stack).get(first.bulk_id) == Bodies(text=request.body)


# ------------------------------------------------------------------ the worker
def test_the_worker_reads_a_bulks_body_once_for_several_batches(stack: Stack) -> None:
    harness = Harness(stack)
    jobs = [make_job_with_body(f"r{i}@acme.com", bulk=True) for i in range(25)]
    harness.put(*jobs)
    requests = Requests(harness.dynamodb, harness.s3)
    worker = harness.worker()  # one execution environment: one cache
    # When three batches of its messages are processed
    for _ in range(3):
        assert harness.process(harness.deliver(BULK), worker=worker) == {"batchItemFailures": []}
    # Then all 25 are sent, and the body was read once: one BatchGetItem, one S3 GET
    # (each batch also reads its recipients' suppression entries)
    assert all(harness.job(job.job_id).status is JobStatus.SENT for job in jobs)
    body_reads = [
        p
        for p in requests.of("BatchGetItem")
        if not any(k["pk"]["S"].startswith("sup#") for r in p["RequestItems"].values() for k in r["Keys"])
    ]
    assert len(body_reads) == 1
    assert len(requests.of("GetObject")) == 1
    assert all(
        len(k["Keys"]) <= BATCH_GET_LIMIT for p in requests.of("BatchGetItem") for k in p["RequestItems"].values()
    )
    # And SES got the body
    assert all(m.body == BULK_BODY for m in harness.sent())


BULK_BODY = prose(40_000, seed=5)
BULK_ID = "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"


def make_job_with_body(recipient: str, *, bulk: bool = False) -> Any:
    job = test_send_worker.make_job(recipient=recipient, job_type=JobType.MANUAL if bulk else JobType.ESCALATION)
    if not bulk:
        return job
    test_send_worker.BODIES[BULK_ID] = Bodies(text=BULK_BODY)
    return job.model_copy(update={"body": BULK_ID, "bulk_id": BULK_ID})


def test_no_status_change_rewrites_the_body_and_the_job_stays_under_1_kb(stack: Stack) -> None:
    harness = Harness(stack)
    [job] = harness.put(make_job_with_body("owner@acme.com"))
    body_before = raw_item(stack, body_pk(job.body))
    assert size(raw_item(stack, job.job_id)) < KB
    requests = Requests(harness.dynamodb)
    # When it is claimed and sent
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    # Then every write touched the job alone, and the job item stays under 1 KB
    updates = requests.of("UpdateItem")
    assert len(updates) == 2
    assert {u["Key"]["pk"]["S"] for u in updates} == {job.job_id}
    assert not requests.body_writes()
    stored = raw_item(stack, job.job_id)
    assert stored["status"]["S"] == JobStatus.SENT
    assert size(stored) < KB
    assert raw_item(stack, body_pk(job.body)) == body_before


def test_a_message_without_a_body_id_is_still_sent(stack: Stack) -> None:
    # Given a message queued before messages named the body
    harness = Harness(stack)
    [job] = harness.put(make_job_with_body("owner@acme.com"), queue=False)
    old = QueueMessage.for_job(job).model_dump(mode="json", exclude={"body"})
    harness.sqs.send_message(QueueUrl=stack.names["PriorityQueue"], MessageBody=json.dumps(old))
    # When the worker gets it, its body is read after the claim, and it is sent
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.job(job.job_id).status is JobStatus.SENT
    assert harness.sent()[0].body == body_text(job)


def body_text(job: Any) -> str:
    """The text stored for a job made by ``make_job_with_body``."""
    return test_send_worker.BODIES[job.body].text


def test_a_job_whose_body_is_not_stored_fails_without_a_send(stack: Stack) -> None:
    harness = Harness(stack)
    job = make_job_with_body("owner@acme.com")
    harness.table.put_new([job], due_at=0)  # no body item
    harness.queues.send([QueueMessage.for_job(job)])
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.error == "the email's body is not stored"
    assert harness.sent() == []


# ------------------------------------------------------------------ GET /jobs/{job_id}
def test_the_detail_returns_both_bodies_also_from_s3(stack: Stack, lambda_context: Any) -> None:
    admin = Admin(lambda_context, domains="acme.com")
    small, large = make_job(), make_job()
    BODIES[small.body] = Bodies(text="Hello,\n\nthe text.", html="<p>Hello, the <b>HTML</b>.</p>")
    BODIES[large.body] = Bodies(text=prose(100_000), html="<p>" + prose(50_000, seed=2) + "</p>")
    store_jobs([small, large])
    assert bucket_keys(stack) == [f"acme.com/{large.body}"]
    for job in (small, large):
        reply = admin.get(job.job_id)
        assert reply.status == 200
        assert (reply.body["body_text"], reply.body["body_html"]) == (BODIES[job.body].text, BODIES[job.body].html)
        assert "body" not in reply.body


def test_body_keys_left_unprocessed_are_read_again(stack: Stack) -> None:
    # Given two bodies stored, and DynamoDB leaves every key of the first BatchGetItem unprocessed
    bodies = {"01JGQ6Z1T8W3Y5K7M9P2R4S6V8": Bodies(text="one"), "01JGQ6Z1T8W3Y5K7M9P2R4S6V9": Bodies(text="two")}
    client = boto3.client("dynamodb", region_name=REGION)
    table = JobsTable(client, stack.names["JobsTable"])
    bodies_store = BodyStore(client, stack.names["JobsTable"], None, None)
    items = [bodies_store.item(i, "acme.com", b, expires_at=1_900_000_000) for i, b in bodies.items()]
    table.put_new([], due_at=0, bodies=items)
    sizes: list[int] = []

    def hold(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        [request] = params["RequestItems"].values()
        sizes.append(len(request["Keys"]))
        if len(sizes) == 1:
            context["held"] = request

    def unprocessed(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "held" in context:
            parsed["Responses"] = {}
            parsed["UnprocessedKeys"] = {stack.names["JobsTable"]: context["held"]}

    client.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", hold)
    client.meta.events.register("after-call.dynamodb.BatchGetItem", unprocessed)
    # When both are read
    found = bodies_store.get_many(list(bodies))
    # Then the keys were asked for again, and both came back
    assert sizes == [2, 2]
    assert found == bodies


def test_more_than_100_bodies_are_read_100_keys_at_a_time(stack: Stack) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    bodies_store = BodyStore(client, stack.names["JobsTable"], None, None)
    requests = Requests(client)
    ids = [make_job().job_id for _ in range(150)]
    assert bodies_store.get_many(ids) == {}
    assert [len(k["Keys"]) for p in requests.of("BatchGetItem") for k in p["RequestItems"].values()] == [100, 50]
