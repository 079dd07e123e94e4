"""Figure 6: DynamoDB write units (and S3 requests) per email, for the three cases of issue #9.

Each case runs alone, recorded from its first request to its last: the
emails are queued (``EnqueueFunction`` or ``POST /jobs/bulk``), the worker
sends them all, then each job's delivery event is written by the store's own
transition (``JobsTable.settle`` to ``delivered``, docs/storage.md section 12)
through a client the request log records like the functions' own. A bulk
case ends with one ``GET /bulks/{bulk_id}`` poll, recorded apart. The
recorded DynamoDB requests are then replayed (``benchmarks.ledger``) for
every write's units on the table and each index, and on each partition key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from benchmarks.harness import BenchError, BenchStack
from benchmarks.ledger import READ_ACTIONS, WRITE_ACTIONS, Ledger, Replayer
from benchmarks.recording import Segment
from benchmarks.workload import DOMAIN, TEXT_SEED, addresses, html, prose
from common.models.job import JobStatus
from local.jobs_table import JobsTable
from local.template import Stack, default_parameters, load_template


@dataclass
class WriteCase:
    name: str
    emails: int
    ledger: Ledger
    s3_puts: int
    s3_gets: int
    calls: dict[str, int]
    body_chars: int
    poll: Poll | None = None

    @property
    def wru_per_email(self) -> float:
        return self.ledger.write_units / self.emails

    @property
    def rru_per_email(self) -> float:
        return self.ledger.read_units / self.emails

    def by_step(self) -> dict[str, dict[str, float]]:
        """Units per email, by step and by table/index."""
        return {
            step: {where: n / self.emails for where, n in row.items()} for step, row in self.ledger.by_step().items()
        }


@dataclass(frozen=True)
class Poll:
    """One ``GET /bulks/{bulk_id}`` of a bulk whose jobs are all delivered."""

    calls: dict[str, int]
    queries: int
    entries_read: int
    read_units: float


@dataclass
class WriteCases:
    cases: list[WriteCase] = field(default_factory=list)

    @property
    def worst(self) -> WriteCase:
        return max(self.cases, key=lambda c: c.wru_per_email)


def _s3(segment: Segment) -> tuple[int, int]:
    puts = sum(n for call, n in segment.calls.items() if call.service == "s3" and call.action.startswith("PUT "))
    gets = sum(n for call, n in segment.calls.items() if call.service == "s3" and call.action.startswith("GET "))
    return puts, gets


def _labels(segment: Segment) -> dict[str, int]:
    out: dict[str, int] = {}
    for call, n in segment.calls.items():
        label = f"s3:{call.action.split(' ', 1)[0]}" if call.service == "s3" else f"{call.service}:{call.action}"
        out[label] = out.get(label, 0) + n
    return out


def _recorded_client(bench: BenchStack) -> Any:
    """A DynamoDB client whose requests the request log keeps (no ``BENCH_AGENT``)."""
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=bench.stack.region)  # noqa: S106
    return session.client("dynamodb", endpoint_url=bench.settings.aws_endpoint)


def _settle(bench: BenchStack, job_ids: Sequence[str]) -> None:
    table = JobsTable(_recorded_client(bench), bench.jobs_table)
    for job_id in job_ids:
        if not table.settle(job_id, JobStatus.DELIVERED):
            raise BenchError(f"the delivery event of job {job_id} found it no longer sent")


def _poll(bench: BenchStack, bulk_id: str) -> tuple[Segment, int, int]:
    recorder, observer = bench.recorder, bench.observer
    mark, seen = recorder.mark(), observer.snapshot()
    response = bench.http.get(
        f"{bench.settings.api_url}/bulks/{bulk_id}",
        headers={"Authorization": f"Bearer {bench.token([DOMAIN])}"},
        timeout=120,
    )
    if response.status_code != 200:
        raise BenchError(f"GET /bulks answered {response.status_code}: {response.text[:300]}")
    counts = response.json().get("counts", {})
    if counts.get("delivered") != response.json().get("total"):
        raise BenchError(f"GET /bulks counted {counts} for a bulk whose jobs are all delivered")
    after = observer.snapshot()
    return recorder.segment(mark, recorder.mark()), after.queries - seen.queries, after.items_read - seen.items_read


def _case(
    bench: BenchStack, name: str, body_chars: int, run: Callable[[], tuple[list[str], str | None]], *, timeout: float
) -> tuple[WriteCase, Segment, Segment | None, int, int]:
    recorder = bench.recorder
    mark = recorder.mark()
    job_ids, bulk_id = run()
    bench.wait_sent(job_ids, timeout=timeout)
    _settle(bench, job_ids)
    segment = recorder.segment(mark, recorder.mark())
    poll_segment, queries, entries = (None, 0, 0)
    if bulk_id is not None:
        poll_segment, queries, entries = _poll(bench, bulk_id)
    puts, gets = _s3(segment)
    case = WriteCase(name, len(job_ids), Ledger(), puts, gets, _labels(segment), body_chars)
    return case, segment, poll_segment, queries, entries


def measure(bench: BenchStack, *, bulk_size: int, timeout: float) -> tuple[WriteCases, list[Segment | None]]:
    """Run the three cases; returns them (ledgers still empty: ``replay`` fills them) and their recordings."""
    run_id = uuid.uuid4().hex[:8]
    small, large, page = prose(2_000), prose(100_000, seed=TEXT_SEED + 1), html(50_000)
    token = bench.token([DOMAIN])

    def one(body: str, n: int) -> Callable[[], tuple[list[str], str | None]]:
        def run() -> tuple[list[str], str | None]:
            request = {
                "type": "ai_followup",
                "domain": DOMAIN,
                "to": f"writes-{run_id}-{n}@example.org",
                "subject": "Your conversation with Acme, summarised",
                "body_text": body,
            }
            return bench.enqueue(request), None

        return run

    def bulk() -> tuple[list[str], str | None]:
        request = {
            "domain": DOMAIN,
            "extra_recipients": "\n".join(addresses(bulk_size, tag=f"writes-{run_id}")),
            "subject": "Our summer newsletter",
            "body": page,
        }
        answer = bench.post_bulk(token, request)
        return [str(j) for j in answer["job_ids"]], str(answer["bulk_id"])

    bench.set_queue_delay(0)
    # What the figure before left in flight (figure 5 purges its bulk sends mid-batch) would be
    # written in the first case's stretch, to jobs the replay never saw created.
    bench.wait_idle(timeout=timeout)
    bench.recorder.start()
    try:
        runs = [
            _case(bench, "one email, 2 KB body", len(small), one(small, 1), timeout=timeout),
            _case(bench, "one email, 100,000-character body", len(large), one(large, 2), timeout=timeout),
            _case(bench, f"bulk send of {bulk_size:,}, 50 KB HTML body", len(page), bulk, timeout=timeout),
        ]
    finally:
        bench.recorder.stop()
    cases = WriteCases([c for c, *_ in runs])
    segments: list[Segment | None] = []
    for case, segment, poll_segment, queries, entries in runs:
        segments += [segment, poll_segment]
        if poll_segment is not None:
            # The list function's calls (the queues' idle long-polls may fall in the same stretch)
            calls = {label: n for label, n in _labels(poll_segment).items() if not label.startswith("sqs:")}
            case.poll = Poll(calls, queries, entries, 0.0)
    return cases, segments


def replay(cases: WriteCases, segments: list[Segment | None], names: dict[str, str]) -> None:
    """Fill each case's ledger (and its poll's read units) by replaying the recorded
    requests in a fresh moto; run after the local stack has stopped."""
    # Imported here: moto's recorder must be pointed at its file before moto is first imported.
    from moto import mock_aws  # noqa: PLC0415

    dynamodb_tables = {logical: physical for logical, physical in names.items() if logical.endswith("Table")}
    with mock_aws():
        session = boto3.Session(aws_access_key_id="replay", aws_secret_access_key="replay", region_name="us-east-1")  # noqa: S106
        # AWS's own endpoint (which moto intercepts), whatever the environment names.
        client = session.client("dynamodb", endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        _create_tables(client, dynamodb_tables)
        replayer = Replayer(client, dynamodb_tables)
        jobs_table = dynamodb_tables["JobsTable"]
        for i, case in enumerate(cases.cases):
            segment, poll_segment = segments[2 * i], segments[2 * i + 1]
            assert segment is not None
            requests = [
                (call.action, body) for call, body in segment.requests if call.action in WRITE_ACTIONS | READ_ACTIONS
            ]
            case.ledger = replayer.replay(requests, tables=[jobs_table])
            if poll_segment is not None and case.poll is not None:
                poll = replayer.replay(
                    [(c.action, b) for c, b in poll_segment.requests if c.action in READ_ACTIONS], tables=[jobs_table]
                )
                case.poll = Poll(
                    case.poll.calls,
                    case.poll.queries,
                    case.poll.entries_read,
                    poll.read_units + replayer.query_units(jobs_table, "ByBulk", _bulk_keys(case.ledger)),
                )


def _bulk_keys(ledger: Ledger) -> list[str]:
    return sorted({k.key for w in ledger.writes for k in w.keys if k.index == "ByBulk"})


def _create_tables(client: Any, names: dict[str, str]) -> None:
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    for logical, physical in names.items():
        props = stack.resolve(template["Resources"][logical]["Properties"])
        kwargs: dict[str, Any] = {
            "TableName": physical,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        client.create_table(**kwargs)
