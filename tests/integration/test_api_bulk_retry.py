"""POST /jobs/bulk when storage fails part-way, and the answer kept for replays.

Failures are injected at the AWS boundary: a hook on the DynamoDB client
raises botocore's ``ClientError`` (what botocore raises once its own retries
are spent) for the writes a test names; moto does everything else.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ulid import ULID

from common.adapters import aws
from common.models.api import MAX_EXTRA_RECIPIENTS_CHARS
from common.models.bulk_send import MAX_REJECTED_CHARS, MAX_REJECTED_LISTED
from local.template import Stack
from tests.conftest import FakeLambdaContext
from tests.integration.api_support import Admin, quick_queue_counts
from tests.integration.test_api_bulk import CallLog, assert_error, queued_messages, request

ITEM_LIMIT_BYTES = 400 * 1024  # DynamoDB's largest item, measured here rather than left to moto


@pytest.fixture
def admin(stack: Stack, lambda_context) -> Admin:
    return Admin(lambda_context, domains="acme.com beta.io")


def addresses(count: int, tag: str = "reader") -> list[str]:
    return [f"{tag}{i}@example.org" for i in range(count)]


# ------------------------------------------------------------------ injecting failures
def _items_written(operation: str, params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, item) of every item a write request would put."""
    if operation == "PutItem":
        yield params["TableName"], params["Item"]
    elif operation == "BatchWriteItem":
        for table, requests in params["RequestItems"].items():
            for entry in requests:
                if "PutRequest" in entry:
                    yield table, entry["PutRequest"]["Item"]
    elif operation == "TransactWriteItems":
        for action in params["TransactItems"]:
            if "Put" in action:
                yield action["Put"]["TableName"], action["Put"]["Item"]


@dataclass
class Faults:
    """Makes chosen DynamoDB calls fail, as botocore reports a failure its retries did not cure."""

    stack: Stack
    fail_recipients: frozenset[str] = frozenset()  # any write of a job for one of these
    fail_bulk_record: bool = False  # the bulk send's record
    fail_existence_read: bool = False  # a consistent BatchGetItem of the jobs table
    fail_batch_write_number: int | None = None  # the n-th BatchWriteItem (1-based)
    fail_idempotency_save: bool = False  # Powertools' UpdateItem that keeps the 202
    batch_writes: int = 0

    def heal(self) -> None:
        self.fail_recipients = frozenset()
        self.fail_bulk_record = self.fail_existence_read = self.fail_idempotency_save = False
        self.fail_batch_write_number = None

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        jobs_table = self.stack.names["JobsTable"]
        if operation == "BatchWriteItem":
            self.batch_writes += 1
            if self.batch_writes == self.fail_batch_write_number:
                self._fail(operation)
        for table, item in _items_written(operation, params):
            if table != jobs_table:
                continue
            if item.get("recipient", {}).get("S") in self.fail_recipients:
                self._fail(operation)
            if self.fail_bulk_record and item["pk"]["S"].startswith("bulk#"):
                self._fail(operation)
        reads_jobs = operation == "BatchGetItem" and params["RequestItems"].get(jobs_table, {}).get("ConsistentRead")
        if reads_jobs and self.fail_existence_read:
            self._fail(operation)
        keeps_answer = operation == "UpdateItem" and params["TableName"] == self.stack.names["IdempotencyTable"]
        if keeps_answer and self.fail_idempotency_save:
            self._fail(operation)

    @staticmethod
    def _fail(operation: str) -> None:
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "throughput exceeded"}
        raise ClientError({"Error": error}, operation)


@pytest.fixture
def faults(stack: Stack) -> Faults:
    injected = Faults(stack)
    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb", injected)
    return injected


# ------------------------------------------------------------------ reading back
def bulk_jobs(stack: Stack, domain: str = "acme.com") -> list[dict[str, Any]]:
    """Every manual job of the domain in the table (a test may scan)."""
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    table = dynamodb.Table(stack.names["JobsTable"])
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items += [i for i in page["Items"] if i.get("type") == "manual" and i.get("domain") == domain]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def assert_each_recipient_once(stack: Stack, recipients: list[str], reply_body: dict[str, Any]) -> None:
    """One job per recipient, all of one bulk send, and one queue message per job."""
    jobs = bulk_jobs(stack)
    assert sorted(job["recipient"] for job in jobs) == sorted(recipients)
    assert {job["bulk_id"] for job in jobs} == {reply_body["bulk_id"]}
    assert sorted(job["job_id"] for job in jobs) == sorted(reply_body["job_ids"])
    messages = Counter(m["job_id"] for m in queued_messages(stack))
    assert messages == Counter(reply_body["job_ids"])
    # Job ids stay ULIDs whose time is the job's created_at, the bulk id's time.
    bulk_time = ULID.from_str(reply_body["bulk_id"]).milliseconds
    for job in jobs:
        assert ULID.from_str(job["job_id"]).milliseconds == bulk_time
        assert ULID.from_str(job["job_id"]).datetime.isoformat(timespec="milliseconds")[:23] == job["created_at"][:23]


def assert_unfinished(reply, *, queued: int | None, total: int) -> None:
    assert_error(reply, 500, "bulk_send_unfinished")
    message = reply.body["error"]["message"]
    if queued is not None:
        assert f"{queued} of the {total} emails" in message
    assert "@" not in message  # never an address


# ------------------------------------------------------------------ item 1: a retry after a failure part-way
def test_a_retry_with_the_same_key_after_a_failure_part_way_queues_each_recipient_once(
    admin: Admin, stack: Stack, faults: Faults
) -> None:
    # Given 60 recipients, and storage that fails for the last 10 of them
    # (with 25 jobs per BatchWriteItem, that is the third batch)
    recipients = addresses(60)
    body = request(extra_recipients="\n".join(recipients))
    faults.fail_recipients = frozenset(recipients[50:])

    # When the admin sends, gets a 500, and sends the same request again with the same key
    failed = admin.bulk(body, key="hours-2026")
    assert_unfinished(failed, queued=50, total=60)
    assert "same Idempotency-Key" in failed.body["error"]["message"]
    faults.heal()
    retried = admin.bulk(body, key="hours-2026")

    # Then all 60 are queued, each recipient with one job and one queue message
    assert retried.status == 202, retried.body
    assert retried.body["queued"] == 60
    assert retried.body["bulk_id"] in failed.body["error"]["message"]
    assert_each_recipient_once(stack, recipients, retried.body)
    # And a further repeat gets that 202 back and queues nothing
    again = admin.bulk(body, key="hours-2026")
    assert again.status == 202
    assert again.body == retried.body
    assert queued_messages(stack) == []


def test_after_a_failure_part_way_the_key_still_refuses_another_request(
    admin: Admin, stack: Stack, faults: Faults
) -> None:
    recipients = addresses(60)
    faults.fail_recipients = frozenset(recipients[50:])
    assert_unfinished(admin.bulk(request(extra_recipients="\n".join(recipients)), key="k-1"), queued=50, total=60)
    faults.heal()
    first_messages = len(queued_messages(stack))

    other = admin.bulk(request(extra_recipients="\n".join(recipients), subject="Another subject"), key="k-1")

    assert_error(other, 409, "idempotency_key_reused")
    assert queued_messages(stack) == []
    assert first_messages == 50
    assert len(bulk_jobs(stack)) == 50


@pytest.mark.parametrize(
    ("where", "queued"),
    [
        ("bulk_record", 0),  # before anything was written
        ("first_job", 0),  # the first wave fails whole
    ],
)
def test_whatever_fails_first_the_retry_queues_each_recipient_once(
    admin: Admin, stack: Stack, faults: Faults, where: str, queued: int
) -> None:
    recipients = addresses(30)
    body = request(extra_recipients=" ".join(recipients))
    if where == "bulk_record":
        faults.fail_bulk_record = True
    else:
        faults.fail_recipients = frozenset(recipients)

    assert_unfinished(admin.bulk(body, key="k-2"), queued=queued, total=30)
    faults.heal()
    retried = admin.bulk(body, key="k-2")

    assert retried.status == 202, retried.body
    assert_each_recipient_once(stack, recipients, retried.body)


def test_a_write_whose_answer_was_lost_is_never_written_twice(admin: Admin, stack: Stack) -> None:
    # Given storage that writes one recipient's job but answers with an error
    recipients = addresses(20)
    lost = recipients[5]
    writer = boto3.client("dynamodb", region_name="us-east-1")

    def write_then_fail(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "PutItem" and params["Item"].get("recipient", {}).get("S") == lost:
            writer.put_item(TableName=params["TableName"], Item=params["Item"])
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "lost"}}, "PutItem")

    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb.PutItem", write_then_fail)
    body = request(extra_recipients=" ".join(recipients))
    assert_unfinished(admin.bulk(body, key="k-5"), queued=19, total=20)  # counted: the confirmed only
    aws.dynamodb().meta.events.unregister("before-parameter-build.dynamodb.PutItem", write_then_fail)

    # When the admin sends it again
    retried = admin.bulk(body, key="k-5")

    # Then every recipient has exactly one job, and no job has two messages
    assert retried.status == 202, retried.body
    jobs = bulk_jobs(stack)
    assert sorted(job["recipient"] for job in jobs) == sorted(recipients)
    messages = Counter(m["job_id"] for m in queued_messages(stack))
    assert set(messages.values()) == {1}
    # (the lost one's message is the sweeper's to send: its job waits queued, due)
    [lost_job] = [job for job in jobs if job["recipient"] == lost]
    assert lost_job["job_id"] not in messages
    assert (lost_job["status"], "due_at" in lost_job) == ("queued", True)


def test_a_retry_that_fails_too_is_finished_by_the_next(admin: Admin, stack: Stack, faults: Faults) -> None:
    # Given a first attempt that stored 20 of 40, and a retry whose read of what exists fails
    recipients = addresses(40)
    body = request(extra_recipients=",".join(recipients))
    faults.fail_recipients = frozenset(recipients[20:])
    assert_unfinished(admin.bulk(body, key="k-3"), queued=20, total=40)
    faults.heal()
    faults.fail_existence_read = True
    second = admin.bulk(body, key="k-3")
    assert_unfinished(second, queued=None, total=40)
    assert "could be told" in second.body["error"]["message"]
    faults.heal()

    # When the admin tries a third time
    third = admin.bulk(body, key="k-3")

    # Then every recipient has one job and one message
    assert third.status == 202, third.body
    assert_each_recipient_once(stack, recipients, third.body)


def test_when_the_202_could_not_be_kept_a_later_retry_queues_nothing_twice(
    stack: Stack, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Lambda with no time left, so that Powertools' in-progress lock lapses at once
    context = FakeLambdaContext()
    monkeypatch.setattr(FakeLambdaContext, "get_remaining_time_in_millis", staticmethod(lambda: 1))
    admin = Admin(context, domains="acme.com")
    recipients = addresses(12)
    body = request(extra_recipients=" ".join(recipients))
    # And a bulk send that queued everything, but whose 202 could not be kept
    faults.fail_idempotency_save = True
    lost = admin.bulk(body, key="k-4")
    assert_error(lost, 500, "internal_error")
    faults.heal()
    time.sleep(0.01)

    # When the admin sends it again
    retried = admin.bulk(body, key="k-4")

    # Then nothing more is created or queued
    assert retried.status == 202, retried.body
    assert_each_recipient_once(stack, recipients, retried.body)


def test_without_a_key_the_500_says_what_is_queued_and_that_a_retry_queues_all_again(
    admin: Admin, stack: Stack, faults: Faults
) -> None:
    # 25 requests per BatchWriteItem, the first with the bulk's body: the 50th to the 60th job
    faults.fail_batch_write_number = 3

    failed = admin.bulk(request(extra_recipients="\n".join(addresses(60))))

    assert_unfinished(failed, queued=49, total=60)
    assert "would queue all 60 again" in failed.body["error"]["message"]
    assert len(queued_messages(stack)) == 49


def test_a_1000_recipient_bulk_send_with_a_key_stays_within_aws_limits(
    admin: Admin, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick_queue_counts(monkeypatch)
    log = CallLog()
    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb", log)
    aws.sqs().meta.events.register("before-parameter-build.sqs", log)
    recipients = addresses(1000)

    started = time.monotonic()
    reply = admin.bulk(request(extra_recipients="\n".join(recipients)), key="big")
    seconds = time.monotonic() - started

    assert reply.status == 202, reply.body
    assert reply.body["queued"] == 1000
    puts = [p for p in log.of("PutItem") if p["TableName"] == stack.names["JobsTable"]]
    # the bulk send's record, its body, then one conditional put per job
    assert len(puts) == 1002
    assert all(p.get("ConditionExpression") for p in puts)
    # and its item for GET /bulks (the same values if written again; an update keeps a cancel's mark),
    # in one TransactWriteItems with its audit entry, then, once the jobs are stored, how many are
    (transaction,) = log.of("TransactWriteItems")
    update, audit = transaction["TransactItems"]
    assert update["Update"]["Key"]["pk"]["S"][:2] == "k#"
    assert audit["Put"]["Item"]["pk"]["S"].startswith("audit#")
    updates = [u for u in log.of("UpdateItem") if u["TableName"] == stack.names["JobsTable"]]
    assert [u["Key"]["pk"]["S"][:2] for u in updates] == ["k#"]
    assert updates[0]["ExpressionAttributeValues"][":n"] == {"N": "1000"}
    assert not log.of("BatchWriteItem") and not log.of("Scan")
    # A first attempt has no job to look for; it reads only the suppression list (100 addresses a call)
    reads = log.of("BatchGetItem")
    assert all(k["pk"]["S"].startswith("sup#") for r in reads for t in r["RequestItems"].values() for k in t["Keys"])
    assert len(reads) == 10
    batches = log.of("SendMessageBatch")
    assert len(batches) == 100 and all(len(b["Entries"]) <= 10 for b in batches)
    assert seconds < 29  # API Gateway's limit, even on moto
    assert len(queued_messages(stack)) == 1000


# ------------------------------------------------------------------ item 2: the answer kept for replays fits
def dynamodb_item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (names and values in UTF-8; a number
    counted by its digits, an upper bound)."""

    def size(value: dict[str, Any]) -> int:
        ((kind, inner),) = value.items()
        if kind in ("S", "N"):
            return len(str(inner).encode())
        if kind == "B":
            return len(inner)
        if kind in {"BOOL", "NULL"}:
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + size(v) for k, v in inner.items())
        if kind == "L":
            return 3 + sum(1 + size(v) for v in inner)
        return sum(len(str(v).encode()) for v in inner)  # SS, NS

    return sum(len(name.encode()) + size(value) for name, value in item.items())


def kept_answers(stack: Stack) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    return client.scan(TableName=stack.names["IdempotencyTable"])["Items"]


def _astral_run(start: int, count: int) -> str:
    """``count`` emoji: each 4 bytes of UTF-8 and 12 of JSON (a surrogate pair, escaped)."""
    return "".join(chr(0x1F300 + (start + j) % 0x2FF) for j in range(count))


def largest_typed_list() -> tuple[str, int]:
    """The longest extra_recipients the limits accept: 1,000 valid recipients,
    then distinct invalid tokens (the first 100 with long, emoji-laden reasons)
    and valid duplicates, to exactly the character limit. Returns the list and
    how many of its tokens are invalid."""
    valid = addresses(1000, tag="r")
    tokens = [f"a{i}@" + _astral_run(i, 150) for i in range(MAX_REJECTED_LISTED)]  # domain part not allowed
    tokens += valid
    length = sum(len(t) + 1 for t in tokens)
    invalid, i = len(tokens) - len(valid), 0
    while True:
        token = f"x{i}" if i % 3 else valid[i % 1000].upper()  # distinct invalid, or a duplicate
        if length + len(token) + 1 > MAX_EXTRA_RECIPIENTS_CHARS:
            break
        tokens.append(token)
        length += len(token) + 1
        invalid += 1 if i % 3 else 0
        i += 1
    text = " ".join(tokens)
    return text + " " * (MAX_EXTRA_RECIPIENTS_CHARS - len(text)), invalid


def test_the_answer_to_the_largest_request_fits_the_item_that_keeps_it(
    admin: Admin, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick_queue_counts(monkeypatch)
    # Given the largest typed-in list the limits accept
    typed, invalid = largest_typed_list()
    assert len(typed) == MAX_EXTRA_RECIPIENTS_CHARS
    body = request(extra_recipients=typed)

    # When the admin sends it with a key
    reply = admin.bulk(body, key="largest")

    # Then it is queued, and the answer lists the first 100 refusals, cut, and counts them all
    assert reply.status == 202, reply.body
    assert reply.body["queued"] == 1000
    assert reply.body["rejected_total"] == invalid > MAX_REJECTED_LISTED
    assert len(reply.body["rejected"]) == MAX_REJECTED_LISTED
    for entry in reply.body["rejected"]:
        assert len(entry["input"]) <= MAX_REJECTED_CHARS and len(entry["reason"]) <= MAX_REJECTED_CHARS
    assert reply.body["rejected"][0]["input"].startswith("a0@") and reply.body["rejected"][0]["input"].endswith("…")
    assert reply.body["duplicates"] > 0
    # And the item keeping it for replays is within DynamoDB's limit
    [kept] = kept_answers(stack)
    assert dynamodb_item_size(kept) < ITEM_LIMIT_BYTES
    assert json.loads(kept["data"]["S"]) == reply.body
    # And a repeat gets it back and queues nothing more
    assert len(queued_messages(stack)) == 1000
    again = admin.bulk(body, key="largest")
    assert (again.status, again.body) == (202, reply.body)
    assert queued_messages(stack) == []


def test_the_selected_rows_refused_are_listed_first_within_the_same_bound(admin: Admin) -> None:
    # The largest job_ids the limits accept: 1,000 ids of 64 characters, none a job of the domain
    ids = [f"{i:04d}" + _astral_run(i, 60) for i in range(1000)]
    reply = admin.bulk(request(job_ids=ids, extra_recipients="ann@example.org"))
    assert reply.status == 202, reply.body
    assert reply.body["rejected_total"] == 1000
    assert [r["input"] for r in reply.body["rejected"]] == ids[:MAX_REJECTED_LISTED]
