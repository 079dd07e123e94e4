"""Figure 6: DynamoDB write units (and S3 requests) per email, for the three cases of issue #9,
and what a million emails of each cost (priced with ``benchmarks.cost``).

Each case runs alone, recorded from its first request to its last: the
emails are queued (``EnqueueFunction`` or ``POST /jobs/bulk``), the worker
sends them all, then each job's delivery event is written by the store's own
transition (``StatusMoves.settle`` to ``delivered``, docs/storage.md section 12)
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

from benchmarks.cost import PRICES, PRICES_AS_OF, PRICES_REGION, CaseCost, EmailPath, JobWrites, index_names, item_size
from benchmarks.harness import BenchError, BenchStack
from benchmarks.ledger import READ_ACTIONS, WRITE_ACTIONS, Ledger, Replayer
from benchmarks.page import SummaryRow, number, table, times
from benchmarks.recording import Segment
from benchmarks.workload import DOMAIN, TEXT_SEED, addresses, html, prose
from common.models.job import JobStatus
from local.jobs_table import JobsTable
from local.template import Stack, default_parameters, load_template

GOAL_WRU = 15.0  # write units per email, each case (issue #9's goal)
GOAL_WRU_SPREAD = 0.20  # the two single-email cases within 20% of each other
GOAL_COST_RATIO = 1.10  # AWS cost ÷ SES's price
_ORDER = ("table", *index_names())  # the table, then its indexes as template.yaml lists them


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


# ---------------------------------------------------------------- its part of the page
def summary_rows(written: WriteCases, costs: list[CaseCost]) -> list[SummaryRow]:
    rows = [
        SummaryRow(
            "6. Cost",
            f"DynamoDB write units per email, {case.name}",
            number(round(case.wru_per_email, 2)),
            f"goal ≤ {GOAL_WRU:.0f}",
            case.wru_per_email / GOAL_WRU,
        )
        for case in written.cases
    ]
    rows += [
        SummaryRow(
            "6. Cost",
            f"a million emails, {c.name}",
            f"${c.total:,.2f}",
            f"SES alone: ${c.costs()['SES']:,.2f} (goal ≤ {GOAL_COST_RATIO:.2f}x)",
            c.ratio_to_ses,
        )
        for c in costs
    ]
    return rows


def notes(written: WriteCases, costs: list[CaseCost]) -> list[str]:
    """Figure 6's notes of "Far from the minimum, and why"."""
    found: list[str] = []
    heaviest = written.worst if written.cases else None
    if heaviest is not None:
        found.append(
            f"- **Write units**: worst {heaviest.wru_per_email:.2f} per email ({heaviest.name}; goal ≤ {GOAL_WRU:.0f}):"
            " the bulk's jobs add one `ByBulk` write at each status change (figure 6)."
        )
    over = [c for c in costs if c.ratio_to_ses > GOAL_COST_RATIO]
    for c in over:
        by_service = c.costs()
        found.append(
            f"- **Cost**: {c.ratio_to_ses:.3f}x SES's price for {c.name} (goal ≤ {GOAL_COST_RATIO:.2f}x): S3's"
            f" requests (a PUT and a GET per email) are ${by_service['S3 requests']:,.2f} a million emails, and"
            f" DynamoDB's writes ${by_service['DynamoDB writes']:,.2f}. One S3 object per large body is the design"
            " (docs/storage.md section 10); storing such bodies as up to 400 KB DynamoDB items instead would"
            " cost more in write units (figure 6)."
        )
    return found


def section(written: WriteCases, costs: list[CaseCost], job: JobWrites, paths: list[EmailPath]) -> str:
    """The three cases' write units and cost (``costs``: theirs, in their order), then the
    paths figure 1 measured (``paths``) and one job's writes (``job``) they are priced with."""
    return _units_section(written, costs) + "\n" + _paths_section(job, paths)


def _units_section(written: WriteCases, costs: list[CaseCost]) -> str:
    cases = written.cases
    summary = [
        [
            case.name,
            number(case.emails),
            f"{case.body_chars:,}",
            _u(sum(w.table_units for w in case.ledger.writes) / case.emails),
            _u(sum(sum(w.index_units.values()) for w in case.ledger.writes) / case.emails),
            f"**{case.wru_per_email:.2f}**",
            f"{case.rru_per_email:.2f}",
            f"{case.s3_puts / case.emails:.3f} / {case.s3_gets / case.emails:.3f}",
        ]
        for case in cases
    ]
    text = [
        "## 6. Write units per email, and cost",
        "",
        "Three cases, each run alone and recorded from its first request to its last: one email with a",
        "2,000-character body and one with a 100,000-character body (each one `EnqueueFunction` call), and",
        "a bulk send with a 50 KB HTML body (`POST /jobs/bulk` takes one plain-text body: the HTML source is",
        "that body). The bodies are words in a random order (seeded), which compress like ordinary writing.",
        "The worker sends every email; then each job's delivery event is written by the store's own",
        "transition, `StatusMoves.settle(job_id, delivered)` (one strongly consistent `GetItem` and one",
        "conditional `UpdateItem`; the next issue's event handler makes that write), through a client the",
        "request log records. The recorded DynamoDB requests are then replayed in their order against a fresh",
        "moto with `template.yaml`'s tables, each item read before and after each write: the table's units",
        "are the larger image per started KB (twice in a transaction), each index's from its key schema and",
        "projection applied to both images (an entry that appears or disappears: one write; a key change: a",
        "delete and a put; a projected attribute changed: one write). Reads are priced from the items they",
        "name (4 KB per unit, halved when eventually consistent). S3 requests are counted from the log.",
        "",
        table(
            [
                "case",
                "emails",
                "body (characters)",
                "table WRU / email",
                "index WRU / email",
                "total WRU / email",
                "RRU / email",
                "S3 PUT / GET per email",
            ],
            summary,
        ),
        "",
    ]
    single = [c.wru_per_email for c in cases if c.emails == 1]
    spread = (max(single) / min(single) - 1) if len(single) == 2 and min(single) else 0.0
    worst = written.worst
    met = worst.wru_per_email <= GOAL_WRU and spread <= GOAL_WRU_SPREAD
    text += [
        f"Goal: ≤ {GOAL_WRU:.0f} write units per email in each case, the two single emails within",
        f"{GOAL_WRU_SPREAD:.0%} of each other. Worst: {worst.wru_per_email:.2f} ({worst.name}); the single",
        f"emails differ by {spread:.0%}: **{'met' if met else 'not met'}**.",
        "",
    ]
    for case in cases:
        steps = case.by_step()
        wheres = [w for w in _ORDER if any(w in row for row in steps.values())]
        rows = [
            [step, *[_u(row.get(w, 0.0)) for w in wheres], _u(round(sum(row.values()), 4))]
            for step, row in steps.items()
        ]
        total = {w: sum(row.get(w, 0.0) for row in steps.values()) for w in wheres}
        rows.append(["**total**", *[f"**{_u(round(total[w], 4))}**" for w in wheres], f"**{case.wru_per_email:.2f}**"])
        text += [f"Write units per email, {case.name}, step by step:", "", table(["step", *wheres, "total"], rows), ""]
    text += [
        "Steps are named by the job's status before and after the write (`create (queued)`; `queued →",
        "sending` is the claim, `sending → sent` the outcome, `sent → delivered` the delivery event); a",
        "body or bulk item is the item of that name. The bulk send's item and body are written once and",
        "divided among its emails.",
        "",
    ]
    services = list(costs[0].costs()) if costs else []
    rows = [[service] + [f"${c.costs()[service]:,.2f}" for c in costs] for service in services]
    rows.append(["total"] + [f"**${c.total:,.2f}**" for c in costs])
    rows.append(["total ÷ SES alone"] + [f"**{c.ratio_to_ses:.3f}x**" for c in costs])
    over = [c for c in costs if c.ratio_to_ses > GOAL_COST_RATIO]
    text += [
        "US dollars per million emails of each case: DynamoDB and S3 from the case's own requests (above);",
        "SQS requests and Lambda time from the measured paths below (one email per Invoke, or a bulk send's",
        "drain), which do not depend on the body's size beyond a few milliseconds.",
        "",
        table(["$ per million emails", *[c.name for c in costs]], rows),
        "",
        f"Goal: ≤ {GOAL_COST_RATIO:.2f}x SES's price. "
        + (
            "Met in every case."
            if not over
            else "Over in: "
            + "; ".join(
                f"{c.name}, {c.ratio_to_ses:.3f}x (S3 ${c.costs()['S3 requests']:,.2f}, Lambda"
                f" ${c.costs()['Lambda']:,.2f}, DynamoDB ${c.costs()['DynamoDB writes']:,.2f})"
                for c in over
            )
            + "."
        ),
        "",
    ]
    return "\n".join(text)


def _paths_section(writes: JobWrites, paths: list[EmailPath]) -> str:
    step_rows = [
        [step.name, number(step.table), number(sum(step.indexes.values())), number(step.total)]
        for step in ([*writes.steps, writes.keyed_create] if writes.keyed_create else writes.steps)
    ]
    index_rows = [[name, number(n)] for name, n in sorted(writes.by_index().items(), key=lambda kv: (-kv[1], kv[0]))]
    services = ["Lambda", "DynamoDB", "SQS", "SES"]
    cost_rows = [[service] + [f"${path.costs()[service]:,.2f}" for path in paths] for service in services]
    cost_rows.append(["total"] + [f"${path.total:,.2f}" for path in paths])
    cost_rows.append(["total ÷ SES alone"] + [times(path.ratio_to_ses) for path in paths])
    usage_rows = [
        ["Lambda requests per email"] + [f"{path.lambda_requests:.3f}" for path in paths],
        ["Lambda GB-s per email (local durations)"] + [f"{path.lambda_gb_seconds:.5f}" for path in paths],
        ["DynamoDB write units per email"] + [f"{path.dynamodb_wru:.2f}" for path in paths],
        ["SQS requests per email"] + [f"{path.sqs_requests:.2f}" for path in paths],
    ]
    sizes = f"{_size(writes.created)} bytes as created, {_size(writes.claimed)} claimed, {_size(writes.sent)} sent"
    index_total = sum(writes.by_index().values())
    table_total = sum(step.table for step in writes.steps)
    return "\n".join(
        [
            "### The measured paths, for Lambda and SQS",
            "",
            f"Public list prices, {PRICES_REGION}, as published in {PRICES_AS_OF} (DynamoDB's after its",
            "1 November 2024 on-demand reduction); no free tier. Re-check them before relying on the figures.",
            "",
            *[f"- {text}" for _, text in PRICES.values()],
            "",
            "The paths figure 1 measured (a 1,500-character body, no delivery event), whose Lambda and SQS",
            "figures the three cases above use; their DynamoDB figures are the job's item and indexes only.",
            "US dollars per million emails:",
            "",
            table(["service", *[path.name for path in paths]], cost_rows),
            "",
            table(["usage", *[path.name for path in paths]], usage_rows),
            "",
            f"DynamoDB write units of one job's life ({sizes}, with a body of 1,500 characters):",
            "",
            table(["step", "table", "indexes", "total"], step_rows),
            "",
            "Index writes per sent email, by index:",
            "",
            table(["index", "write units"], index_rows),
            "",
            f"Without its body item and delivery event a job takes {table_total:.0f} write units on the table and",
            f"{index_total} on its indexes. The four indexes every job is in are keyed on what never changes and",
            "cost one write each, at creation; `InFlight` one at creation and one when the delivery event takes",
            "the job out of flight (the three cases above); `ByBulk` one per status change of a bulk job; the",
            "exact status indexes nothing on the happy path (docs/storage.md, sections 5 and 6). The body is an",
            "item of its own, written once, so the job's item stays under 1 KB whatever the body.",
            "",
            "Lambda time is measured on this machine through the local stack (not Lambda's durations, and",
            "inflated by the embedded AWS's tens of milliseconds per call) at the template's memory size. A",
            "quiet queue's event source also makes empty long-polls, a fixed cost per queue, not per email.",
            "Not modelled: CloudWatch Logs and metrics, X-Ray traces, API Gateway requests (one per bulk",
            "send), storage, and cold starts (INIT time).",
            "",
        ]
    )


def _u(value: float) -> str:
    return "" if not value else (f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}".rstrip("0"))


def _size(item: Any) -> str:
    return f"{item_size(item):,}"
