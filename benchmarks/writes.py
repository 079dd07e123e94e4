"""Figure 6: DynamoDB write units per email for the three cases of issue #9,
and what a million emails of each cost in AWS, every billed item (priced with
``benchmarks.cost``).

Each case runs alone, recorded from its first request until SES's delivery
event of its last email is applied: the emails are queued (``EnqueueFunction``
or ``POST /jobs/bulk``), the worker sends them all, the embedded SES's
delivery events are let go and ``SesEventsFunction`` applies them. Over that
stretch the case's usage is measured: the request log (every AWS request), the
functions' invocations and wall time, the bytes and lines they logged, the
objects the bodies bucket gained. A bulk case ends with one
``GET /bulks/{bulk_id}`` poll, recorded apart. The recorded DynamoDB requests
are then replayed (``benchmarks.ledger``) for every write's units on the table
and each index, on each partition key, and the bytes the items left.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from benchmarks.cost import (
    LAMBDA_LINES_BYTES,
    LOG_EVENT_OVERHEAD_BYTES,
    PRICES,
    PRICES_AS_OF,
    PRICES_REGION,
    CaseUsage,
    FixedItem,
    index_names,
    log_bytes_per_email,
    what_it_would_take,
)
from benchmarks.harness import BenchError, BenchStack, Usage
from benchmarks.ledger import READ_ACTIONS, WRITE_ACTIONS, Ledger, Replayer
from benchmarks.page import SummaryRow, number, table
from benchmarks.recording import Segment
from benchmarks.workload import DOMAIN, TEXT_SEED, addresses, html, prose
from local.template import Stack, default_parameters, load_template

GOAL_WRU = 15.0  # write units per email, each case (issue #9's goal)
GOAL_WRU_SPREAD = 0.20  # the two single-email cases within 20% of each other
GOAL_COST_RATIO = 1.10  # AWS cost ÷ SES's price, every case
EVENTS_QUEUE = "SesEventsQueue"
WORKER = "SendWorkerFunction"
SES_SOURCE = "aws.ses"
COST_LINE = "cost ÷ SES, worst case"
_ORDER = ("table", *index_names())  # the table, then its indexes as template.yaml lists them


@dataclass(frozen=True)
class Poll:
    """One ``GET /bulks/{bulk_id}`` of a bulk whose jobs are all delivered."""

    calls: dict[str, int]
    queries: int
    entries_read: int
    read_units: float


@dataclass
class WriteCase:
    name: str
    emails: int
    ledger: Ledger
    s3_puts: int
    s3_gets: int
    calls: dict[str, int]  # "service:Action" -> requests in the stretch (ReceiveMessage: all, empty included)
    body_chars: int
    poll: Poll | None = None
    usage: Usage = field(default_factory=lambda: Usage({}, {}))
    sqs_requests: int = 0  # every SQS request but the empty receives, EventBridge's deliveries included
    ses_events: int = 0  # SES's events on the default bus
    service_events: int = 0  # events the service put on EventBridge itself
    secrets_calls: int = 0
    s3_bytes: int = 0  # bytes the bodies bucket gained
    query_read_units: float = 0.0
    stored_bytes: int = 0  # filled by ``replay``

    @property
    def wru_per_email(self) -> float:
        return self.ledger.write_units / self.emails

    @property
    def rru_per_email(self) -> float:
        return (self.ledger.read_units + self.query_read_units) / self.emails

    def by_step(self) -> dict[str, dict[str, float]]:
        """Units per email, by step and by table/index."""
        return {
            step: {where: n / self.emails for where, n in row.items()} for step, row in self.ledger.by_step().items()
        }


@dataclass
class WriteCases:
    cases: list[WriteCase] = field(default_factory=list)

    @property
    def worst(self) -> WriteCase:
        return max(self.cases, key=lambda c: c.wru_per_email)


# ---------------------------------------------------------------- what a case used
def case_usage(
    case: WriteCase,
    *,
    memory_mb: Mapping[str, int],
    retention_days: float,
    worker_seconds_per_email: float | None = None,
    worker_source: str = "",
) -> CaseUsage:
    """The case's usage per email, priced by ``benchmarks.cost``. ``worker_seconds_per_email``:
    the worker's wall time per email measured elsewhere (a drain at SES's rate, where the
    worker waits for its turn inside its invocations), used when above the case's own."""
    seconds = dict(case.usage.seconds)
    notes: list[str] = []
    own = seconds.get(WORKER, 0.0) / case.emails
    if worker_seconds_per_email is not None and worker_seconds_per_email > own:
        seconds[WORKER] = worker_seconds_per_email * case.emails
        notes.append(
            f"the worker's time per email is {worker_source or 'measured elsewhere'}:"
            f" {1000 * worker_seconds_per_email:,.0f} ms (here {1000 * own:,.0f} ms, unpaced)"
        )
    gb_seconds = sum(s * memory_mb.get(f, 512) / 1024 for f, s in seconds.items())
    invocations = sum(case.usage.invocations.values())
    return CaseUsage(
        name=case.name,
        emails=case.emails,
        dynamodb_wru=case.wru_per_email,
        dynamodb_rru=case.rru_per_email,
        stored_bytes=case.stored_bytes / case.emails,
        s3_puts=case.s3_puts / case.emails,
        s3_gets=case.s3_gets / case.emails,
        s3_bytes=case.s3_bytes / case.emails,
        sqs_requests=case.sqs_requests / case.emails,
        lambda_requests=invocations / case.emails,
        lambda_gb_seconds=gb_seconds / case.emails,
        log_bytes=log_bytes_per_email(case.usage.log_bytes, case.usage.log_lines, invocations, case.emails),
        eventbridge_events=(case.ses_events + case.service_events) / case.emails,
        secrets_calls=case.secrets_calls / case.emails,
        retention_days=retention_days,
        notes=tuple(notes),
        table_wru=sum(w.table_units for w in case.ledger.writes) / case.emails,
    )


def worst_ratio(costs: Sequence[CaseUsage]) -> float:
    return max((c.ratio_to_ses for c in costs), default=0.0)


def printed_line(costs: Sequence[CaseUsage]) -> str:
    """``cost ÷ SES, worst case: N`` (issue #28's wording)."""
    return f"{COST_LINE}: {worst_ratio(costs):.2f}"


# ---------------------------------------------------------------- measuring
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


def _events(segment: Segment) -> tuple[int, int]:
    """Entries of the recorded PutEvents: SES's (the embedded SES publishes them as SES
    does) and any other (the service's own)."""
    ses, other = 0, 0
    for call, body in segment.requests:
        if call.service != "events" or call.action != "PutEvents":
            continue
        for entry in body.get("Entries") or []:
            if entry.get("Source") == SES_SOURCE:
                ses += 1
            else:
                other += 1
    return ses, other


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
    recorder, observer = bench.recorder, bench.observer
    objects = bench.stored_objects()
    mark, seen, used = recorder.mark(), observer.snapshot(), bench.usage_mark()
    bench.hold_ses_events()  # SES's events go once the worker is done, then are applied
    try:
        job_ids, bulk_id = run()
        bench.wait_sent(job_ids, timeout=timeout)
    finally:
        released = bench.release_ses_events()
    if released != len(job_ids):
        raise BenchError(f"{name}: SES accepted {released} sends for {len(job_ids)} jobs")
    bench.wait_sent(job_ids, timeout=timeout, status="delivered", queues=(EVENTS_QUEUE,))
    bench.wait_idle(timeout=timeout)
    segment = recorder.segment(mark, recorder.mark())
    after, usage = observer.snapshot(), bench.usage_since(used)
    poll_segment, queries, entries = (None, 0, 0)
    if bulk_id is not None:
        poll_segment, queries, entries = _poll(bench, bulk_id)
    puts, gets = _s3(segment)
    labels = _labels(segment)
    ses_events, service_events = _events(segment)
    receives = after.receives_with_messages - seen.receives_with_messages
    sqs = sum(n for label, n in labels.items() if label.startswith("sqs:") and label != "sqs:ReceiveMessage")
    new_objects = {key: size for key, size in bench.stored_objects().items() if key not in objects}
    case = WriteCase(
        name,
        len(job_ids),
        Ledger(),
        puts,
        gets,
        labels,
        body_chars,
        usage=usage,
        # EventBridge puts each of SES's events on the events queue with one SendMessage.
        sqs_requests=sqs + receives + ses_events,
        ses_events=ses_events,
        service_events=service_events,
        secrets_calls=sum(n for label, n in labels.items() if label.startswith("secretsmanager:")),
        s3_bytes=sum(new_objects.values()),
        query_read_units=after.query_read_units - seen.query_read_units,
    )
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
    """Fill each case's ledger, the bytes its items left and its poll's read units by
    replaying the recorded requests in a fresh moto; run after the local stack has stopped."""
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
            case.stored_bytes = replayer.stored(jobs_table, case.ledger.items())
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
def summary_rows(written: WriteCases, costs: list[CaseUsage]) -> list[SummaryRow]:
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
            f"a million emails, every billed item, {c.name}",
            f"${c.total:,.2f}",
            f"SES alone: ${c.costs()['SES']:,.2f} (goal ≤ {GOAL_COST_RATIO:.2f}x)",
            c.ratio_to_ses,
        )
        for c in costs
    ]
    return rows


def _beyond_ses(c: CaseUsage, top: int = 3) -> str:
    items = sorted(((k, v) for k, v in c.costs().items() if k != "SES"), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{k} ${v:,.2f}" for k, v in items)


def notes(written: WriteCases, costs: list[CaseUsage]) -> list[str]:
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
        found.append(
            f"- **Cost**: {c.ratio_to_ses:.3f}x SES's price for {c.name} (goal ≤ {GOAL_COST_RATIO:.2f}x), every billed"
            f" item counted; the largest beside SES, per million emails: {_beyond_ses(c)} (figure 6)."
        )
    return found


def section(
    written: WriteCases,
    costs: list[CaseUsage],
    *,
    fixed: Sequence[FixedItem] = (),
    worker_source: str = "",
) -> str:
    """The three cases' write units and cost (``costs``: theirs, in their order), and what
    the stack costs by the month whatever it sends (``fixed``)."""
    return _units_section(written) + "\n" + _cost_section(costs, fixed, worker_source=worker_source)


def _units_section(written: WriteCases) -> str:
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
        "Three cases, each run alone and recorded from its first request until the delivery event of its last",
        "email is applied: one email with a 2,000-character body and one with a 100,000-character body (each",
        "one `EnqueueFunction` call), and a bulk send with a 50 KB HTML body (`POST /jobs/bulk` takes one",
        "plain-text body: the HTML source is that body). The bodies are words in a random order (seeded), which",
        "compress like ordinary writing. The worker sends every email; then the embedded SES's delivery events",
        "(held until then) go through EventBridge onto `SesEventsQueue` and `SesEventsFunction` applies them, as",
        "in AWS. The recorded DynamoDB requests are then replayed in their order against a fresh moto with",
        "`template.yaml`'s tables, each item read before and after each write: the table's units are the larger",
        "image per started KB (twice in a transaction), each index's from its key schema and projection applied",
        "to both images (an entry that appears or disappears: one write; a key change: a delete and a put; a",
        "projected attribute changed: one write). Reads are priced from the items they name (4 KB per unit,",
        "halved when eventually consistent) and Queries from what they returned. S3 requests are counted from",
        "the log.",
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
    return "\n".join(text)


def _cost_section(costs: list[CaseUsage], fixed: Sequence[FixedItem], *, worker_source: str) -> str:
    if not costs:
        return ""
    services = list(costs[0].costs())
    rows = [[service] + [f"${c.costs()[service]:,.2f}" for c in costs] for service in services]
    rows.append(["total"] + [f"**${c.total:,.2f}**" for c in costs])
    rows.append(["total ÷ SES alone"] + [f"**{c.ratio_to_ses:.3f}x**" for c in costs])
    usage_names = list(costs[0].usage_rows())
    usage = [[name] + [c.usage_rows()[name] for c in costs] for name in usage_names]
    over = [c for c in costs if c.ratio_to_ses > GOAL_COST_RATIO]
    worst = max(costs, key=lambda c: c.ratio_to_ses)
    case_notes = [f"- {c.name}: {note}." for c in costs for note in c.notes]
    fixed_rows = [[f.what, f"${f.dollars_a_month:,.2f}", f.basis] for f in fixed]
    fixed_total = sum(f.dollars_a_month for f in fixed)
    verdict = (
        f"Goal: ≤ {GOAL_COST_RATIO:.2f}x SES's price at every body size: **met** (worst {worst.ratio_to_ses:.3f}x,"
        f" {worst.name})."
        if not over
        else f"Goal: ≤ {GOAL_COST_RATIO:.2f}x SES's price at every body size: **not met** in "
        + "; ".join(f"{c.name}, {c.ratio_to_ses:.3f}x" for c in over)
        + ". What stops it, per million emails, and what reaching it would take (each cut alone, every"
        + " other item as measured; docs/storage.md, section 13, says why none is taken): "
        + "; ".join(what_it_would_take(c, GOAL_COST_RATIO) for c in over)
        + "."
    )
    text = [
        "### What a million emails cost, every billed item",
        "",
        f"Public list prices, {PRICES_REGION}, as published in {PRICES_AS_OF} (DynamoDB's after its",
        "1 November 2024 on-demand reduction); no free tier. Re-check them before relying on the figures.",
        "",
        *[f"- {text}: <{url}>" for _, text, url in PRICES.values()],
        "",
        "Each item is priced from what the case used over its stretch, per email:",
        "",
        "- **SES**: one email.",
        "- **DynamoDB**: the write and read units above; storage of the items and index entries the email",
        "  left (each with DynamoDB's 100 bytes of overhead) for `RetentionDays` (the job's TTL), and",
        "  point-in-time recovery (enabled on both tables) of the same bytes.",
        "- **SQS**: every request on every queue from the request log (SendMessageBatch, DeleteMessageBatch,",
        "  SendMessage ...), the event source mappings' receives that returned messages (their empty long polls",
        "  are a cost by the month, below), and one SendMessage per SES event: EventBridge's delivery of the",
        "  event onto `SesEventsQueue`.",
        "- **S3**: the PUT and GET requests from the log, and the bytes the bodies bucket gained, stored until",
        "  the bucket's lifecycle rule expires them (`RetentionDays`).",
        "- **Lambda**: every invocation in the stretch and its wall time at the function's memory size (GB-seconds),",
        "  which is what Lambda bills: a worker that waits for its turn at SES's rate inside an invocation",
        "  pays for the wait. The bulk case's worker time comes from figure 10's drain at SES's rate when that",
        "  is longer than this stretch's (the stack here sends unpaced)"
        + (f": {worker_source}." if worker_source else "."),
        "  Times are this machine's against the embedded AWS (tens of milliseconds a call, AWS's are a few):",
        "  an upper bound.",
        "- **CloudWatch Logs**: the bytes the functions wrote to their log (their standard output, as Lambda",
        f"  sends it to CloudWatch Logs), {LOG_EVENT_OVERHEAD_BYTES} bytes per line (a log event), and Lambda's",
        f"  own START, END and REPORT lines, {LAMBDA_LINES_BYTES} bytes an invocation; ingestion only (the",
        "  functions' log groups set no retention, so storage is by the month, $0.03 a GB compressed).",
        "- **EventBridge**: SES's events on the default bus, one per event, priced at $1.00 per million (the",
        "  pricing page makes AWS management events free and charges custom and opt-in data events; SES's",
        "  delivery events are published only to a configuration set that opts in, so they are priced as",
        "  charged), and any event the service puts itself.",
        "- **Secrets Manager**: the calls in the log (each execution environment keeps a secret 5 minutes).",
        "- **KMS**: the jobs table's AWS managed key is asked by DynamoDB at most once every 5 minutes per",
        "  caller (it keeps the table key that long), not per email: by the month, below.",
        "",
        table(["$ per million emails", *[c.name for c in costs]], rows),
        "",
        "Usage per email:",
        "",
        table(["usage per email", *[c.name for c in costs]], usage),
        "",
        *(["Where a figure came from elsewhere:", "", *case_notes, ""] if case_notes else []),
        verdict,
        "",
        "```",
        printed_line(costs),
        "```",
        "",
    ]
    if fixed_rows:
        text += [
            "By the month, whatever the stack sends (not in the ratios above; at a million emails a month they",
            f"add ${fixed_total:,.2f}, {fixed_total / costs[0].costs()['SES']:.1%} of SES's price):",
            "",
            table(["item", "$ a month", "basis"], fixed_rows),
            "",
        ]
    return "\n".join(text)


def _u(value: float) -> str:
    return "" if not value else (f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}".rstrip("0"))
