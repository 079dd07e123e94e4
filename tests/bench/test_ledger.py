"""Figure 6's ledger: recorded DynamoDB requests replayed for each write's units, index by index and key by key."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from benchmarks.cost import item_size, table_indexes
from benchmarks.ledger import TABLE, Replayer, read_units, wire
from benchmarks.workload import html, prose
from benchmarks.writes import _create_tables
from common.adapters import bodies
from common.adapters import index_keys as keys
from common.models.job import Bodies, Job, JobStatus, JobType, new_job_id
from local.jobs_table import JobsTable
from local.template import create_stack

NAMES = {"JobsTable": "emailops-JobsTable"}
ALWAYS = ("ByDomain", "ByDomainType", "ByScope", "ByPlatform", "ByRecipient")  # a job of no bulk send


def _recording_client(requests: list[tuple[str, dict[str, Any]]]) -> Any:
    """A DynamoDB client that keeps every request it makes (the low-level client's
    parameters are the request's JSON, as the request log has it)."""
    client = boto3.Session(region_name="us-east-1").client("dynamodb")

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        requests.append((model.name, wire(dict(params))))

    client.meta.events.register("provide-client-params.dynamodb.*", keep)
    return client


def _job(domain: str = "acme.com", bulk_id: str | None = None) -> Job:
    job_id, created_at = new_job_id()
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain=domain,
        type=JobType.MANUAL if bulk_id else JobType.AI_FOLLOWUP,
        recipient="visitor@example.org",
        subject="Hello",
        body=job_id,
        bulk_id=bulk_id,
    )


def _record(run: Any) -> list[tuple[str, dict[str, Any]]]:
    requests: list[tuple[str, dict[str, Any]]] = []
    with mock_aws():
        stack = create_stack(boto3.Session(region_name="us-east-1"))
        table = JobsTable(_recording_client(requests), stack.names["JobsTable"])
        run(table)
    return requests


def _replay(requests: list[tuple[str, dict[str, Any]]]) -> Any:
    with mock_aws():
        client = boto3.Session(region_name="us-east-1").client("dynamodb")
        _create_tables(client, NAMES)
        return Replayer(client, NAMES).replay(requests)


def test_a_created_job_writes_its_item_its_body_and_one_entry_in_each_index_it_belongs_to() -> None:
    # Given a job and its body item written together, as enqueue writes them
    job = _job()
    store = bodies.BodyStore(boto3.client("dynamodb", region_name="us-east-1"), "unused", None, None)
    body_item = store.item(job.job_id, job.domain, Bodies(text=prose(2_000)), expires_at=1)
    requests = _record(lambda table: table.put_new([job], due_at=0, bodies=[body_item]))

    # When the recorded requests are replayed
    ledger = _replay(requests)

    # Then the job costs one unit on the table and one on each index it is in
    # (InFlight and Due too: queued is in flight, and it is of no bulk send),
    # none on ByBulk or the exact status indexes
    (job_write,) = [w for w in ledger.writes if w.item_kind == "job"]
    assert job_write.step == "create (queued)"
    assert job_write.table_units == 1
    assert {name: n for name, n in job_write.index_units.items() if n} == dict.fromkeys(
        [*ALWAYS, "InFlight", "Due"], 1.0
    )
    # and the units land on the keys common.adapters.index_keys gives the job
    expected = keys.index_attributes(keys.KeyedJob.of(job))
    landed = {k.index: k.key for k in job_write.keys}
    assert landed[TABLE] == job.job_id
    assert landed["InFlight"] == expected["fk"]
    assert landed["Due"] == expected["wk"]
    assert landed["ByDomain"] == expected["dk"]
    # and the 2,000-character body's item is one unit, with no index entry
    (body_write,) = [w for w in ledger.writes if w.item_kind == "body"]
    assert body_write.total == 1


def test_the_delivery_event_takes_the_job_out_of_inflight_and_a_failed_condition_is_charged_without_index_writes() -> (
    None
):
    job = _job(bulk_id="01JGQ6Z1T8W3Y5K7M9P2R4S6V8")

    def life(table: JobsTable) -> None:
        table.put_new([job], due_at=0)
        table.settle(job.job_id, JobStatus.DELIVERED)  # queued -> delivered (a path the store allows)

    requests = _record(life)
    # then a write whose condition no longer holds
    requests.append(
        (
            "UpdateItem",
            {
                "TableName": NAMES["JobsTable"],
                "Key": {"pk": {"S": job.job_id}},
                "UpdateExpression": "SET #s = :s",
                "ConditionExpression": "#s = :old",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": "sent"}, ":old": {"S": "queued"}},
            },
        )
    )

    ledger = _replay(requests)

    create, event, refused = ledger.writes
    assert event.step == "queued → delivered"
    # InFlight: the entry disappears (one write, on the key it had); ByBulk: its projected status changes
    assert event.index_units["InFlight"] == 1
    assert event.index_units["ByBulk"] == 1
    assert [k.key for k in event.keys if k.index == "InFlight"] == [k.key for k in create.keys if k.index == "InFlight"]
    assert all(event.index_units[name] == 0 for name in ALWAYS)
    assert refused.failed and refused.table_units == 1 and refused.total == 1


def test_reads_are_priced_per_started_4_kb_and_halved_when_eventually_consistent() -> None:
    assert read_units(1, consistent=True) == 1
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(4097, consistent=False) == 1


def test_the_bodies_compress_like_writing_not_like_a_repeated_paragraph() -> None:
    # The 2 KB body fits a one-unit item; 100,000 characters go to S3; the HTML is about 50 KB
    assert bodies.compress(Bodies(text=prose(2_000))).size <= 1_000
    assert bodies.compress(Bodies(text=prose(100_000))).size > bodies.S3_THRESHOLD
    assert 49_000 <= len(html(50_000)) <= 50_000
    assert bodies.compress(Bodies(text=html(50_000))).size > bodies.S3_THRESHOLD


def test_the_bytes_a_case_leaves_are_its_items_and_their_index_entries_with_overhead() -> None:
    # Given a job and its body item, replayed
    job = _job()
    store = bodies.BodyStore(boto3.client("dynamodb", region_name="us-east-1"), "unused", None, None)
    body_item = store.item(job.job_id, job.domain, Bodies(text=prose(2_000)), expires_at=1)
    requests = _record(lambda table: table.put_new([job], due_at=0, bodies=[body_item]))

    with mock_aws():
        client = boto3.Session(region_name="us-east-1").client("dynamodb")
        _create_tables(client, NAMES)
        replayer = Replayer(client, NAMES)
        ledger = replayer.replay(requests)
        table = NAMES["JobsTable"]
        # When what the writes touched is measured as it was left
        stored = replayer.stored(table, ledger.items())
        items = [wire(client.get_item(TableName=table, Key={"pk": {"S": pk}})["Item"]) for pk in ledger.items()]

    # Then it is both items and the job's 7 index entries (queued: the 5 always,
    # InFlight and Due), 100 bytes more each
    table_keys, indexes = table_indexes()
    entries = [e for item in items for index in indexes if (e := index.entry(item, table_keys)) is not None]
    assert len(items) == 2 and len(entries) == 7
    assert stored == sum(item_size(i) + 100 for i in items) + sum(item_size(e) + 100 for e in entries)
