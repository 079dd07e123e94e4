"""The benchmarks' figures as one summary table, and as ``docs/benchmarks.md``."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import coldstart, fairness
from benchmarks.calls import CallCounts
from benchmarks.cancel import CancelCost
from benchmarks.cancel import section as cancel_section
from benchmarks.cancel import summary_row as cancel_summary_row
from benchmarks.capacity import READ_LIMIT, WRITE_LIMIT, CapacityModel
from benchmarks.capacity import printed_lines as _printed
from benchmarks.coldstart import ColdStarts
from benchmarks.cost import (
    PRICES,
    PRICES_AS_OF,
    PRICES_REGION,
    CaseCost,
    EmailPath,
    JobWrites,
    index_names,
    item_size,
)
from benchmarks.fairness import Fairness
from benchmarks.listing import NEAR, ListCosts
from benchmarks.pipeline import Pipeline
from benchmarks.priority import TARGET_RATIO, Priority
from benchmarks.writes import WriteCases
from local.template import ROOT

FAR = 1.2  # a ratio above this is called out
COLD_TARGET = 1.5  # each handler's import, over import boto3's
EVENTS_ROW = "SES events, per delivered email"
# Issue #9's goals for figures 6 and 7.
GOAL_WRU = 15.0  # write units per email, each case
GOAL_WRU_SPREAD = 0.20  # the two single-email cases within 20% of each other
GOAL_COST_RATIO = 1.10  # AWS cost ÷ SES's price
GOAL_PLATFORM = 10_000.0  # emails/s, 1,000 Zipf domains
GOAL_ONE_DOMAIN = 500.0  # emails/s, one domain alone
AT_PACE = 0.9  # a pipeline this close to its ceiling runs at the embedded AWS's pace


@dataclass(frozen=True)
class Machine:
    arch: str
    cpu: str
    cores: int
    python: str
    system: str
    date: str
    commit: str

    @classmethod
    def this_one(cls) -> Machine:
        cpu = platform.processor() or "unknown CPU"
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.exists():
            for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except OSError:
            commit = ""
        return cls(
            arch=platform.machine(),
            cpu=cpu,
            cores=os.cpu_count() or 0,
            python=platform.python_version(),
            system=f"{platform.system()} {platform.release()}",
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            commit=commit or "unknown",
        )


@dataclass(frozen=True)
class Results:
    smoke: bool
    machine: Machine
    calls: CallCounts
    cold: ColdStarts
    lists: ListCosts
    pipeline: Pipeline
    priority: Priority
    writes: JobWrites
    paths: list[EmailPath]
    write_cases: WriteCases
    case_costs: list[CaseCost]
    capacity: CapacityModel
    cancel: CancelCost | None = None  # figure 8 (benchmarks/cancel.py)
    fairness: Fairness | None = None  # figure 9 (benchmarks/fairness.py)


@dataclass(frozen=True)
class SummaryRow:
    figure: str
    what: str
    measured: str
    reference: str
    ratio: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "what": self.what,
            "measured": self.measured,
            "reference": self.reference,
            "ratio": self.ratio,
        }


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _middle_half(quartiles: tuple[float, float] | None) -> str:
    return "—" if quartiles is None else f"{quartiles[0]:.2f}x to {quartiles[1]:.2f}x"


def _n(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- summary
def list_summary_rows(lists: ListCosts) -> list[SummaryRow]:
    """Figure 3's rows of the summary: the worst ratio of one partition and of a merge."""
    rows: list[SummaryRow] = []
    single = [row for row in lists.rows if row.partitions == 1]
    merged = [row for row in lists.rows if row.partitions > 1]
    for label, group in (("one index partition", single), ("several partitions, merged", merged)):
        if group:
            worst = max(group, key=lambda row: row.ratio)
            rows.append(
                SummaryRow(
                    "3. List cost",
                    f"items read ÷ returned, {label} (worst: {worst.caller}, {worst.filters})",
                    f"{worst.ratio:.2f}",
                    "1",
                    worst.ratio,
                )
            )
    return rows


def cold_summary_rows(cold_starts: ColdStarts) -> list[SummaryRow]:
    return [
        SummaryRow(
            "2. Cold start",
            f"import of {cold.function}",
            f"{cold.median_ms:,.0f} ms",
            f"import boto3: {cold_starts.boto3_ms:,.0f} ms",
            cold.ratio_to_boto3,
        )
        for cold in cold_starts.functions
    ]


def summary_rows(r: Results) -> list[SummaryRow]:
    rows: list[SummaryRow] = []
    for case in r.calls.cases:
        per = case.emails or 1
        rows.append(
            SummaryRow(
                "1. AWS calls",
                f"{case.name} (per email)",
                _n(case.total / per),
                _n(case.total_minimum / per),
                case.total / case.total_minimum if case.total_minimum else None,
            )
        )
    worker = r.calls.worker
    measured = sum(worker.calls.values()) / worker.emails
    minimum = sum(worker.minimum.values()) / worker.emails
    rows.append(SummaryRow("1. AWS calls", "worker, per sent email", _n(measured), _n(minimum), measured / minimum))
    events = r.calls.events
    measured = sum(events.calls.values()) / events.emails
    minimum = sum(events.minimum.values()) / events.emails
    rows.append(SummaryRow("1. AWS calls", EVENTS_ROW, _n(measured), _n(minimum), measured / minimum))
    rows += cold_summary_rows(r.cold)
    rows += list_summary_rows(r.lists)
    p = r.pipeline
    rows.append(
        SummaryRow(
            "4. Pipeline",
            f"bulk send of {p.emails:,}, POST to all sent",
            f"{p.emails_per_second:,.1f} emails/s",
            f"embedded AWS's ceiling: {p.ceiling_emails_per_second:,.1f} emails/s",
            p.ratio,
        )
    )
    q = r.priority
    rows.append(
        SummaryRow(
            "5. Priority",
            f"escalation latency while {q.bulks} bulk sends of {q.bulk_size:,} drain",
            f"{q.loaded_ms:,.0f} ms",
            f"idle: {q.idle_ms:,.0f} ms (target ≤ {TARGET_RATIO:.0f}x); "
            f"same work, no bulk send: {q.control_ms:,.0f} ms",
            q.ratio,
        )
    )
    for written in r.write_cases.cases:
        rows.append(
            SummaryRow(
                "6. Cost",
                f"DynamoDB write units per email, {written.name}",
                _n(round(written.wru_per_email, 2)),
                f"goal ≤ {GOAL_WRU:.0f}",
                written.wru_per_email / GOAL_WRU,
            )
        )
    for c in r.case_costs:
        rows.append(
            SummaryRow(
                "6. Cost",
                f"a million emails, {c.name}",
                f"${c.total:,.2f}",
                f"SES alone: ${c.costs()['SES']:,.2f} (goal ≤ {GOAL_COST_RATIO:.2f}x)",
                c.ratio_to_ses,
            )
        )
    m = r.capacity
    rows.append(
        SummaryRow(
            "7. Capacity",
            "sustainable emails/s, 1,000 domains (Zipf 1)",
            f"{m.platform.emails_per_second:,.0f}",
            f"goal ≥ {GOAL_PLATFORM:,.0f}",
            m.platform.emails_per_second / GOAL_PLATFORM,
        )
    )
    rows.append(
        SummaryRow(
            "7. Capacity",
            "sustainable emails/s, one domain alone",
            f"{m.one_domain.emails_per_second:,.0f}",
            f"goal ≥ {GOAL_ONE_DOMAIN:,.0f}",
            m.one_domain.emails_per_second / GOAL_ONE_DOMAIN,
        )
    )
    if r.cancel is not None:
        rows.append(cancel_summary_row(r.cancel))
    if r.fairness is not None:
        rows.append(fairness.summary_row(r.fairness))
    return rows


def printed_lines(r: Results) -> list[str]:
    """Issue #9's three lines, exactly: the worst case's write units and the two rates."""
    return _printed(r.write_cases.worst.wru_per_email, r.capacity)


def summary_table(r: Results) -> str:
    return _table(
        ["figure", "what", "measured", "minimum / reference", "ratio"],
        [[row.figure, row.what, row.measured, row.reference, _ratio(row.ratio)] for row in summary_rows(r)],
    )


# ---------------------------------------------------------------- details
def _per_email_rows(
    rows: list[list[str]],
    far: list[str],
    names: tuple[str, str],  # the rows' name, and the short one of a note
    *,
    emails: int,
    calls: dict[tuple[str, str], int],
    minimums: dict[tuple[str, str], int],
) -> None:
    for key in sorted(set(calls) | set(minimums)):
        count, minimum = calls.get(key, 0), minimums.get(key, 0)
        ratio = count / minimum if minimum else None
        per = f"{count / emails:.3f}"
        rows.append([names[0], _n(emails), key[0], key[1], per, f"{minimum / emails:.3f}", _ratio(ratio)])
        if (ratio is None and count) or (ratio is not None and ratio > FAR):
            far.append(f"{names[1]}: {key[0]} {key[1]} ({per} per email)")


def _calls_section(r: Results) -> str:
    rows: list[list[str]] = []
    far: list[str] = []
    for case in r.calls.cases:
        keys = sorted(set(case.calls) | set(case.minimum))
        for key in keys:
            count, minimum = case.calls.get(key, 0), case.minimum.get(key, 0)
            ratio = count / minimum if minimum else None
            rows.append([case.name, _n(case.emails), key[0], key[1], _n(count), _n(minimum), _ratio(ratio)])
            if (ratio is None and count) or (ratio is not None and ratio > FAR):
                far.append(f"{case.name}: {key[0]} {key[1]} ({_n(count)} for a minimum of {_n(minimum)})")
    worker, events = r.calls.worker, r.calls.events
    for names, emails, calls, minimums in (
        (("worker, per sent email", "worker"), worker.emails, worker.calls, worker.minimum),
        ((EVENTS_ROW, "SES events"), events.emails, events.calls, events.minimum),
    ):
        _per_email_rows(rows, far, names, emails=emails, calls=calls, minimums=minimums)
    for key, count in sorted(events.not_ours.items()):
        rows.append(
            [
                f"{EVENTS_ROW}: SES's side, not the service's",
                _n(events.emails),
                key[0],
                key[1],
                f"{count / events.emails:.3f}",
                "—",
                "—",
            ]
        )
    poll = r.write_cases.cases[-1].poll if r.write_cases.cases else None
    if poll is not None:
        bulk = r.write_cases.cases[-1]
        poll_minimum = {"dynamodb:GetItem": 1, "dynamodb:Query": 4}
        for label in sorted(set(poll.calls) | set(poll_minimum)):
            count, minimum = poll.calls.get(label, 0), poll_minimum.get(label, 0)
            service, action = label.split(":", 1)
            ratio = count / minimum if minimum else None
            rows.append(
                [
                    f"GET /bulks, one poll of a bulk of {bulk.emails:,}",
                    "—",
                    service,
                    action,
                    _n(count),
                    _n(minimum),
                    _ratio(ratio),
                ]
            )
            if (ratio is None and count) or (ratio is not None and ratio > FAR):
                far.append(f"GET /bulks: {service} {action} ({_n(count)} for a minimum of {_n(minimum)})")
    idle = sum(case.idle_polls for case in r.calls.cases)
    checks = next((c.minimum.get(("dynamodb", "Query"), 0) for c in r.calls.cases if c.name.startswith("bulk")), 0)
    text = [
        "## 1. AWS calls per email",
        "",
        "Counted from the embedded AWS's own request log (moto's recorder), per service and action. During the",
        "enqueue and bulk cases the queues hold every new message back (`DelaySeconds`), so the worker sends",
        "nothing meanwhile and each case's stretch of the log is its own; then the delay is lifted and the",
        "worker's stretch is counted, divided by the emails it sent. The event source's ReceiveMessage and",
        "DeleteMessageBatch are counted with the worker: in AWS the event source mapping makes them (they are",
        "not billed to the function) but they are SQS requests. Its empty long-polls are left out of the",
        f"figures: {idle} during the cases and {worker.empty_polls} while the worker sent (the local poller",
        "long-polls for 1 s; Lambda's for up to 20 s: a fixed cost per queue, not per email).",
        "",
        "Design minimums (each job's body is an item of its own, a bulk send's one for all its jobs; a body",
        "over 4 KB compressed adds one S3 PUT, and one S3 GET by the worker: the 100,000-character case).",
        "Every path reads its recipients' suppression entries before it writes: ⌈N/100⌉ BatchGetItem (N",
        "distinct addresses; 100 keys per BatchGetItem). An enqueue of N without idempotency keys: that read",
        "+ ⌈2N/25⌉ BatchWriteItem + ⌈N/10⌉ SendMessageBatch; with keys, ⌈N/100⌉ BatchGetItem more (the keys'",
        "markers, read first) + N TransactWriteItems (marker, job, body) + ⌈N/10⌉ SendMessageBatch. A bulk",
        f"send: the suppression read, the pause check ({checks} Queries, `common/logic/reputation.py`: the domain's",
        "`ByDomain` shards and its `ByDomainStatus` partitions of the statuses counted, while none holds more",
        "than a page of the window), one UpdateItem (the bulk's item, for GET /bulks) + ⌈(N+1)/25⌉",
        "BatchWriteItem + ⌈N/10⌉ SendMessageBatch, plus one BatchGetItem per 100 selected rows and, with an",
        "Idempotency-Key, one PutItem for the bulk send's record, one UpdateItem for its item, one PutItem for",
        "its body and one conditional PutItem per job instead of the BatchWriteItem, and the idempotency",
        "layer's PutItem (claim the key) and",
        "UpdateItem (store the response); the worker, per email, one UpdateItem to claim, one SES SendEmail,",
        "one UpdateItem to record the outcome (and, for a bulk send's email, one GetItem of its bulk's",
        "cancel mark, after the claim), and per batch of 10 one ReceiveMessage, one",
        "DeleteMessageBatch, one BatchGetItem of the bodies it has not cached and one BatchGetItem of its",
        "recipients' suppression entries (an address suppressed after it was queued is not sent).",
        "SES's delivery events of the emails the worker sent (the embedded SES emulates them, as its",
        "mailbox simulator does: one delivery per email) are held until the worker's stretch ends, then let",
        "go at once onto SesEventsQueue while its event source waits, and counted apart until every job reads",
        "`delivered`: per event one conditional UpdateItem of its job by SesEventsFunction, and per 10 events",
        "one ReceiveMessage and one DeleteMessageBatch (the event source mapping's, draining a full queue; at",
        "a trickle of events its receives return fewer). The emulated SES's `events:PutEvents` (one per",
        "event, onto EventBridge, whose rule puts it on the queue) is SES's side: shown apart, not counted.",
        "One `GET /bulks/{bulk_id}`",
        "poll: one GetItem (the bulk's item: its domain is checked before anything else is read) and one",
        "Query per `ByBulk` shard (4; more only past 1 MB of entries in a shard, which 1,000 jobs never reach),",
        "measured on figure 6's bulk send once all its jobs are delivered"
        + (f": {poll.read_units:.1f} read units." if poll is not None else "."),
        "",
        _table(["case", "emails", "service", "action", "calls", "design minimum", "ratio"], rows),
        "",
    ]
    if far:
        text += ["Far from the minimum: " + "; ".join(far) + ".", ""]
    else:
        text += ["Every count is at its design minimum.", ""]
    return "\n".join(text)


def _cold_section(r: Results) -> str:
    return cold_section(r.cold)


def _interpreter(cold_starts: ColdStarts) -> str:
    """Which Python the imports ran under: the functions' runtime, or this machine's."""
    if cold_starts.runtime:
        return (
            f"Python {cold_starts.python}, the functions' runtime ({cold_starts.runtime}), with the layer's"
            " packages installed for it as `layer/Makefile` installs them (this machine's platform, not arm64)."
        )
    return f"Python {cold_starts.python or platform.python_version()}, this machine's: Lambda's was not found here."


def cold_section(cold_starts: ColdStarts) -> str:
    from_source = {f.function: f for f in cold_starts.from_source}

    def source_cell(function: str) -> str:
        found = from_source.get(function)
        return f"{found.median_ms:,.0f} ms ({found.ratio_to_boto3:.2f}x)" if found else "—"

    rows = [
        [
            cold.function,
            f"{cold.median_ms:,.0f} ms",
            _ratio(cold.ratio_to_boto3),
            _middle_half(cold.middle_half),
            source_cell(cold.function),
            ", ".join(f"{c.module} {c.self_ms:,.0f}" for c in cold.dominant),
            ", ".join(f"{c.module} {c.self_ms:,.0f}" for c in cold.heaviest_own),
        ]
        for cold in cold_starts.functions
    ]
    floor_rows = [
        [floor.functions, f"`{floor.statement}`", f"{floor.median_ms:,.0f} ms", _ratio(floor.ratio_to_boto3)]
        for floor in cold_starts.floors
    ]
    floors = (
        [
            "The floors: the libraries alone, none of the service's code, timed the same way (each run paired with",
            "one of `import boto3`, collection paused as the handlers pause it). No change to the service's own",
            "code can bring a function below its floor. The API functions' floor loads Powertools' packages as they",
            "do, without their `__init__` (`common.adapters.deferred_imports`, the one module of the service's it",
            "runs). The last row is no floor but `import boto3` itself with",
            "collection paused: how much lower a handler's figure is for the pause alone.",
            "",
            _table(["functions", "imports", "import", "÷ boto3"], floor_rows),
            "",
        ]
        if floor_rows
        else []
    )
    source = (
        [
            "From source: the same imports with no bytecode of the layer's or the function's, none written",
            f"either, beside `import boto3` from the same layer ({cold_starts.boto3_from_source_ms:,.0f} ms). That is",
            "what Lambda does with a layer that ships no bytecode (its file system is read-only, so nothing it",
            "compiles is kept): `sam build`'s Python builder makes such a layer, so `layer/Makefile` builds this",
            "one and ships the runtime's bytecode of every module",
            "(docs/adr/0034-layer-and-built-artifacts.md).",
            "",
        ]
        if cold_starts.from_source
        else []
    )
    return "\n".join(
        [
            "## 2. Cold start",
            "",
            f"CPU time of importing each handler module in a fresh process, median of {cold_starts.runs} runs,",
            f"beside `import boto3` alone ({cold_starts.boto3_ms:,.0f} ms; one run of it just before each run of a",
            "handler, so that on a shared machine both see the same load). Each ratio is the median of the runs'",
            "own ratios (a handler's run over the boto3 run paired with it); the middle half of them (first to",
            "third quartile) shows how far one run strays on this machine, and a difference between two functions",
            "or two commits smaller than that spread says little.",
            "Each run sees what a deployed function sees: its folder, then the layer (the `common` package and",
            "exactly the packages `requirements.txt` installs, boto3 among them), no site-packages, and",
            "the template's environment with Lambda's variables (`TraceSdkCalls` at its default, `false`: no",
            "X-Ray SDK). What dominates comes from one more run under `python -X importtime` (wall time): each",
            "package's modules' own import times, summed (ms), and the three modules that cost most by",
            f"themselves. {_interpreter(cold_starts)}",
            "",
            _table(
                [
                    "function",
                    "import",
                    "÷ boto3",
                    "runs' middle half",
                    "from source (÷ boto3)",
                    "by package (ms)",
                    "heaviest modules (ms)",
                ],
                rows,
            ),
            "",
            *floors,
            *source,
            "botocore is a floor every function but the page pays. The clients are botocore's and no function",
            "imports boto3: bulk sends keep Powertools' idempotency records over their botocore client",
            "(docs/adr/0020-bulk-send-idempotency.md), and the functions that read",
            "a secret keep it themselves (docs/adr/0014-secrets-read-at-run-time.md).",
            "Each handler pauses garbage collection while it imports",
            "(docs/adr/0033-cold-starts.md). Above the floor:",
            "pydantic and its compiled core, the models the service defines (built on first use:",
            "`defer_build`; only the function's own),",
            "Powertools' logger and metrics, and for the API functions Powertools' event handler: its resolver",
            "for HTTP APIs and that event's class, its packages loaded without their `__init__`, which imports",
            "every resolver and every event class (docs/adr/0033-cold-starts.md).",
            "Not imported any more: boto3 and",
            "s3transfer, the X-Ray SDK (only with `TraceSdkCalls`), Powertools' batch utility (it built the",
            "parser's models of every event source), the admin API's models and settings where a function sends,",
            "Powertools' parameters, pydantic's serializers module, and, on first use only, email-validator and",
            "inscriptis",
            "(docs/adr/0033-cold-starts.md).",
            "",
        ]
    )


def _list_section(r: Results) -> str:
    return list_section(r.lists)


def list_section(lists: ListCosts) -> str:
    rows = [
        [
            row.caller,
            row.filters,
            f"{row.indexes} x{row.partitions}",
            _n(row.pages),
            _n(row.queries),
            _n(row.items_read),
            _n(row.jobs_fetched),
            _n(row.items_returned),
            f"**{row.ratio:.2f}**" if row.ratio > NEAR else f"{row.ratio:.2f}",
            f"{row.fetch_ratio:.2f}",
            f"{row.read_units / row.pages:.1f}" if row.pages else "—",
            row.bound,
        ]
        for row in lists.rows
    ]
    limit = lists.limit
    mix = ", ".join(f"{status} {n:,}" for status, n in sorted(lists.statuses.items(), key=lambda kv: -kv[1]))
    near = sum(1 for row in lists.rows if max(row.ratio, row.fetch_ratio) <= NEAR)
    unbounded = [row for row in lists.rows if row.bound == "none identified"]
    return "\n".join(
        [
            "## 3. List cost",
            "",
            f"{lists.jobs:,} jobs over two domains and every type ({mix}; docs/storage.md section 12's mix),",
            f"one recipient receiving 2% of them, and a bulk send of {lists.bulk_size:,} still draining (45%",
            f"`queued`), read through `GET /jobs` with `limit={limit}`, up to"
            f" {max(row.pages for row in lists.rows)} pages per combination. Entries read are the",
            "`ScannedCount` of each Query the list function made on a listing index; jobs fetched, the job items",
            "its `BatchGetItem` returned; read units, both priced (a Query per started 4 KB of what it read, a",
            "fetched item per 4 KB, halved: eventually consistent), per page. The request log holds requests,",
            "not responses, so these come from the function's SDK client.",
            (
                "Figure 3 was measured alone (`python -m benchmarks --figure 3`), on a table of its own jobs"
                if lists.alone
                else "Figure 3 runs second, after figure 1 (whose jobs, of `acme.com`, share the table: only the"
                " every-domain rows can read them; `python -m benchmarks --figure 3` measures it alone)"
            )
            + " (moto's Query reads its whole table, so the other figures' jobs would only slow it down).",
            "The index column names the plan's partitions or ranges (`common.logic.listing.plan`).",
            "",
            _table(
                [
                    "caller",
                    "filters",
                    "index x partitions",
                    "pages",
                    "Query calls",
                    "entries read",
                    "jobs fetched",
                    "returned",
                    "read ÷ returned",
                    "fetched ÷ returned",
                    "RRU / page",
                    "bound (above 1.1)",
                ],
                rows,
            ),
            "",
            f"{near} of {len(lists.rows)} combinations read at most 1.1 entries and fetch at most 1.1 jobs per",
            "row returned. A page reads one entry more than it returns (the look-ahead that makes the last",
            "page's `next_cursor` null). What bounds the others, as the last column says (docs/storage.md,",
            "section 8): a merge over n ranges (a caller's domains, a domain's 4 or 8 shards, the 5 types of a",
            "recipient's or of an exact status's partitions, `*`'s 16 shards per type) reads ⌈(limit + 1) ÷ n⌉",
            "entries from each, then no more than the rows still wanted from those that may hold the next row:",
            "at most limit + 1 + n x ⌈(limit + 1) ÷ n⌉ a page, whatever the table holds. A status that has no",
            "partition of its own (`queued`, `sending`, `sent` over the domain's `InFlight` shards; `delivered`,",
            "and a `*` caller's in-flight statuses, over the immutable indexes) is checked on the job, its reads",
            "doubling from Query to Query, within the page's budget: a page that reaches it returns what it found",
            "and a cursor below the last entry read. `status` with `bulk_id` is checked on `ByBulk`'s projected",
            "status, within the bulk's ≤ 1,000 entries."
            + (
                " Above 1.1 with no bound named: "
                + "; ".join(f"{row.caller}, {row.filters} ({row.ratio:.2f})" for row in unbounded)
                + "."
                if unbounded
                else ""
            ),
            "",
        ]
    )


def _pipeline_section(r: Results) -> str:
    p = r.pipeline
    c = p.ceiling
    per_email = _calls_per_email_of_bulk(r)
    return "\n".join(
        [
            "## 4. Pipeline",
            "",
            _table(
                ["figure", "value"],
                [
                    ["bulk send, POST to the last `sent_at`", f"{p.emails:,} emails in {p.seconds:,.1f} s"],
                    ["pipeline", f"{p.emails_per_second:,.1f} emails/s"],
                    [
                        "embedded AWS, same call mix in a plain loop",
                        f"{c.calls:,} calls in {c.seconds:,.1f} s = {c.calls_per_second:,.0f} calls/s",
                    ],
                    ["calls per email (that loop; figure 1 gives " + f"{per_email:.2f})", f"{c.calls_per_email:.2f}"],
                    ["embedded AWS's ceiling", f"{p.ceiling_emails_per_second:,.1f} emails/s"],
                    ["pipeline ÷ ceiling", _ratio(p.ratio)],
                    [
                        "worker invocations (batches)",
                        f"{p.worker_invocations:,}, {p.worker_ms:,.0f} ms each on average",
                    ],
                ],
            ),
            "",
            "The ceiling is the same requests (the same adapters' BatchWriteItem, SendMessageBatch, claim,",
            "read of the bulk's cancel mark, SendEmail, final write, ReceiveMessage and DeleteMessageBatch)",
            "made one after another on one",
            "thread: the most emails per second this embedded AWS can take, measured in the same run. Locally",
            "the worker is one execution environment (the local stack runs one invocation of a function at a",
            "time), so the pipeline is sequential as well.",
            "",
            _pipeline_verdict(p),
            "",
            "In AWS the worker scales out (up to `BulkMaximumConcurrency` batches at once) and DynamoDB and SES",
            "answer in milliseconds: this figure tracks the service's overhead, not AWS's throughput.",
            "",
        ]
    )


def _pipeline_verdict(p: Pipeline) -> str:
    per_call_ms = 1000 * p.ceiling.seconds / p.ceiling.calls
    added = (
        "what the service adds per email (the poller and the Lambda event, Powertools' batch processing, a log "
        "line and a metric per email, pydantic validation of each item read back)"
    )
    if p.ratio >= AT_PACE:
        return (
            f"The pipeline runs at the embedded AWS's pace ({p.ratio:.2f}x its ceiling): moto takes "
            f"{per_call_ms:.0f} ms a call on average, and {added} is lost in that. It can come out above 1 "
            "because the POST's writes overlap the worker's sends, which the loop makes one after the other."
        )
    return (
        f"The pipeline reaches {p.ratio:.2f}x of the embedded AWS's ceiling (moto takes {per_call_ms:.0f} ms a call on "
        f"average); the gap is {added}."
    )


def _calls_per_email_of_bulk(r: Results) -> float:
    bulk = next(
        (case for case in r.calls.cases if case.name.startswith("bulk send") and "Idempotency" not in case.name), None
    )
    worker = r.calls.worker
    enqueue = bulk.total / bulk.emails if bulk and bulk.emails else 0.0
    return enqueue + sum(worker.calls.values()) / worker.emails


def _priority_section(r: Results) -> str:
    q = r.priority

    def row(label: str, samples: list[Any], median: float) -> list[str]:
        return [
            label,
            ", ".join(f"{s.latency_ms:,.0f}" for s in samples),
            f"{median:,.0f} ms",
            _ratio(median / q.idle_ms),
            ", ".join(f"{s.bulk_backlog:,}" for s in samples),
        ]

    load = f"{q.bulks} bulk sends of {q.bulk_size:,} draining"
    rows = [
        row("idle stack", q.idle, q.idle_ms),
        row("no bulk send, the bulk worker's calls made by a plain loop (control)", q.control, q.control_ms),
        row(f"{load}, one execution environment per event source (as in Lambda)", q.loaded, q.loaded_ms),
    ]
    verdict = "within" if q.ratio <= TARGET_RATIO else "over"
    return "\n".join(
        [
            "## 5. Priority under load",
            "",
            "An escalation email's latency is its job's own record: `created_at` (EnqueueFunction made it) to",
            f"`sent_at` (SES accepted it). The load: {q.bulks} bulk sends of {q.bulk_size:,} posted back to back",
            f"({q.post_seconds:,.1f} s), then escalations enqueued while their messages wait on the bulk queue.",
            "",
            _table(["stack", "latencies (ms)", "median", "÷ idle", "bulk messages waiting"], rows),
            "",
            "Escalations go on the priority queue, so the bulk messages never stand in front of them, and in",
            "each event source's batches run in execution environments of their own, in Lambda",
            "(`PriorityMaximumConcurrency`, `BulkMaximumConcurrency`) as on the local stack: the third row is",
            "the figure held to the",
            f"target, {q.ratio:.2f}x, {verdict} {TARGET_RATIO:.0f}x. It is {q.ratio_to_control:.2f}x the control",
            "row, where no bulk send exists but a plain loop makes the bulk worker's calls (claim, read of the",
            "bulk's cancel mark, SendEmail, final write) on a queue of its own: the bulk send itself adds",
            "nothing. The rest of the difference",
            "from an idle stack is local. The embedded AWS serves DynamoDB one request at a time (the local",
            "stack's guard against moto's races), so the escalation's three DynamoDB calls queue behind the",
            "other worker's (moto takes tens of milliseconds each), and both workers and moto share one Python",
            "interpreter, so any busy thread about halves the escalation's share of it. Neither exists in",
            "AWS; on this 2-core machine the ratio moves by a few tenths either side of 2 between runs.",
            "",
        ]
    )


def _cost_section(r: Results) -> str:
    writes = r.writes
    step_rows = [
        [step.name, _n(step.table), _n(sum(step.indexes.values())), _n(step.total)]
        for step in ([*writes.steps, writes.keyed_create] if writes.keyed_create else writes.steps)
    ]
    index_rows = [[name, _n(n)] for name, n in sorted(writes.by_index().items(), key=lambda kv: (-kv[1], kv[0]))]
    services = ["Lambda", "DynamoDB", "SQS", "SES"]
    cost_rows = [[service] + [f"${path.costs()[service]:,.2f}" for path in r.paths] for service in services]
    cost_rows.append(["total"] + [f"${path.total:,.2f}" for path in r.paths])
    cost_rows.append(["total ÷ SES alone"] + [_ratio(path.ratio_to_ses) for path in r.paths])
    usage_rows = [
        ["Lambda requests per email"] + [f"{path.lambda_requests:.3f}" for path in r.paths],
        ["Lambda GB-s per email (local durations)"] + [f"{path.lambda_gb_seconds:.5f}" for path in r.paths],
        ["DynamoDB write units per email"] + [f"{path.dynamodb_wru:.2f}" for path in r.paths],
        ["SQS requests per email"] + [f"{path.sqs_requests:.2f}" for path in r.paths],
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
            _table(["service", *[path.name for path in r.paths]], cost_rows),
            "",
            _table(["usage", *[path.name for path in r.paths]], usage_rows),
            "",
            f"DynamoDB write units of one job's life ({sizes}, with a body of 1,500 characters):",
            "",
            _table(["step", "table", "indexes", "total"], step_rows),
            "",
            "Index writes per sent email, by index:",
            "",
            _table(["index", "write units"], index_rows),
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


def _size(item: Any) -> str:
    return f"{item_size(item):,}"


def list_notes(lists: ListCosts) -> list[str]:
    """Figure 3's notes of "Far from the minimum, and why"."""
    notes: list[str] = []
    failed_lists = [row for row in lists.rows if row.bound.startswith("the page failed")]
    if failed_lists:
        notes.append(
            "- **List pages that failed**: "
            + "; ".join(f"{row.caller}, {row.filters}: {row.bound}" for row in failed_lists)
            + " (figure 3)."
        )
    far_lists = [row for row in lists.rows if row.ratio > NEAR]
    single = [row for row in far_lists if row.partitions == 1]
    if far_lists:
        worst = max(far_lists, key=lambda row: row.ratio)
        notes.append(
            f"- **List cost**: {len(far_lists)} of {len(lists.rows)} filter combinations read more than 1.1"
            f" entries per row returned ({len(single)} of them from one partition); the worst, {worst.ratio:.2f}"
            f" ({worst.caller}, {worst.filters}), is bounded by: {worst.bound}. Each figure's bound is in figure 3."
        )
    return notes


def cold_notes(cold_starts: ColdStarts) -> list[str]:
    over = [c for c in cold_starts.functions if c.ratio_to_boto3 > COLD_TARGET]
    if not cold_starts.functions or not over:
        return []
    low = min(c.ratio_to_boto3 for c in cold_starts.functions)
    high = max(c.ratio_to_boto3 for c in cold_starts.functions)
    floors = "; ".join(
        f"{floor.functions}: {floor.ratio_to_boto3:.2f}x"
        for floor in cold_starts.floors
        if floor.functions != coldstart.BOTO3_PAUSED
    )
    names = ", ".join(c.function for c in over)
    return [
        f"- **Cold start**: {low:.1f}x to {high:.1f}x `import boto3` (goal ≤ {COLD_TARGET}x; {len(over)} of"
        f" {len(cold_starts.functions)} functions over it: {names}). Above boto3 are pydantic, the models the"
        " service defines, Powertools' logger and metrics, and for the API functions Powertools' event handler"
        " and the API's models (figure 2)."
        + (f" The libraries alone, without the service's code, are already {floors}." if floors else "")
    ]


def _far_section(r: Results) -> str:
    """Each figure far from its minimum or target, and why."""
    notes: list[str] = []
    far_calls = [row for row in summary_rows(r) if row.figure == "1. AWS calls" and (row.ratio or 1) > FAR]
    if far_calls:
        notes.append(
            "- **AWS calls**: "
            + "; ".join(f"{row.what}: {row.ratio:.2f}x" for row in far_calls if row.ratio)
            + ". See figure 1."
        )
    else:
        notes.append("- **AWS calls**: none. Every case makes exactly the design's minimum of calls.")
    notes += cold_notes(r.cold)
    notes += list_notes(r.lists)
    p = r.pipeline
    notes.append(
        f"- **Pipeline**: {p.ratio:.2f}x the embedded AWS's ceiling"
        + (": the service runs as fast as moto lets it." if p.ratio >= AT_PACE else "; see figure 4 for why.")
    )
    q = r.priority
    notes.append(
        f"- **Priority**: {q.ratio:.2f}x the idle latency with each event source in its own execution environment,"
        f" as in Lambda ({'within' if q.ratio <= TARGET_RATIO else 'over'} the {TARGET_RATIO:.0f}x target), and"
        f" {q.ratio_to_control:.2f}x the latency under the same work without any bulk send: what is left is this"
        " process's contention (one interpreter, and moto's DynamoDB one request at a time), not the bulk queue"
        " (figure 5)."
    )
    heaviest = r.write_cases.worst if r.write_cases.cases else None
    if heaviest is not None:
        notes.append(
            f"- **Write units**: worst {heaviest.wru_per_email:.2f} per email ({heaviest.name}; goal ≤ {GOAL_WRU:.0f}):"
            " the bulk's jobs add one `ByBulk` write at each status change (figure 6)."
        )
    over = [c for c in r.case_costs if c.ratio_to_ses > GOAL_COST_RATIO]
    for c in over:
        costs = c.costs()
        notes.append(
            f"- **Cost**: {c.ratio_to_ses:.3f}x SES's price for {c.name} (goal ≤ {GOAL_COST_RATIO:.2f}x): S3's"
            f" requests (a PUT and a GET per email) are ${costs['S3 requests']:,.2f} a million emails, and"
            f" DynamoDB's writes ${costs['DynamoDB writes']:,.2f}. One S3 object per large body is the design"
            " (docs/storage.md section 10); storing such bodies as up to 400 KB DynamoDB items instead would"
            " cost more in write units (figure 6)."
        )
    m = r.capacity
    if m.platform.emails_per_second < GOAL_PLATFORM or m.one_domain.emails_per_second < GOAL_ONE_DOMAIN:
        index, key, _ = m.platform.hottest[0]
        notes.append(
            f"- **Capacity**: {m.platform.emails_per_second:,.0f} emails/s for 1,000 domains (goal"
            f" {GOAL_PLATFORM:,.0f}), {m.one_domain.emails_per_second:,.0f} for one (goal {GOAL_ONE_DOMAIN:,.0f});"
            f" the hottest key is {index} `{key}` (figure 7)."
        )
    return "\n".join(["## Far from the minimum, and why", "", *notes, ""])


def render(r: Results) -> str:
    m = r.machine
    header = [
        "# Benchmarks",
        "",
        "`make bench` writes this page: it starts a local stack (docs/local-stack.md) on free ports of",
        "127.0.0.1, measures, and prints the summary below. Figures from another machine, or another run,",
        "differ in time but not in counts.",
        "",
        _table(
            ["run", ""],
            [
                ["date", m.date],
                ["machine", f"{m.arch}, {m.cpu}, {m.cores} cores, {m.system}"],
                ["Python", m.python],
                ["commit", m.commit],
            ],
        ),
        "",
        "## Summary",
        "",
        summary_table(r),
        "",
        "```",
        *printed_lines(r),
        "```",
        "",
        _far_section(r),
        "The embedded AWS is moto, run in the benchmarks' process with three speed-ups of its SQS",
        "(local/motofix.py, which `make run` applies too: it scanned every message of a queue, several",
        "times, for each message sent or received). Counts do not depend on them; throughput is compared",
        "with a ceiling measured on the same embedded AWS.",
        "",
    ]
    sections = [
        _calls_section(r),
        _cold_section(r),
        _list_section(r),
        _pipeline_section(r),
        _priority_section(r),
        _writes_section(r),
        _cost_section(r),
        _capacity_section(r),
    ]
    if r.cancel is not None:
        sections.append(cancel_section(r.cancel))
    if r.fairness is not None:
        sections.append(fairness.section(r.fairness))
    return "\n".join(header) + "\n" + "\n".join(sections)


def summary_json(r: Results) -> dict[str, Any]:
    return {
        "smoke": r.smoke,
        "machine": r.machine.__dict__,
        "summary": [row.as_dict() for row in summary_rows(r)],
        "calls": [
            {
                "case": case.name,
                "emails": case.emails,
                "calls": {f"{k[0]}:{k[1]}": v for k, v in case.calls.items()},
                "minimum": {f"{k[0]}:{k[1]}": v for k, v in case.minimum.items()},
            }
            for case in r.calls.cases
        ],
        "printed": printed_lines(r),
        "cancel": None if r.cancel is None else r.cancel.__dict__,
        "lists": [
            {
                "caller": row.caller,
                "filters": row.filters,
                "partitions": row.partitions,
                "read_per_returned": row.ratio,
                "fetched_per_returned": row.fetch_ratio,
                "bound": row.bound,
            }
            for row in r.lists.rows
        ],
        "poll": (
            {"calls": r.write_cases.cases[-1].poll.calls, "read_units": r.write_cases.cases[-1].poll.read_units}
            if r.write_cases.cases and r.write_cases.cases[-1].poll
            else None
        ),
        "writes": [
            {
                "case": case.name,
                "emails": case.emails,
                "wru_per_email": case.wru_per_email,
                "rru_per_email": case.rru_per_email,
                "s3_puts": case.s3_puts,
                "s3_gets": case.s3_gets,
                "by_step": case.by_step(),
            }
            for case in r.write_cases.cases
        ],
        "cost": [{"case": c.name, "costs": c.costs(), "ratio_to_ses": c.ratio_to_ses} for c in r.case_costs],
        "capacity": {
            "loads": {c.index: c.units for c in r.capacity.loads},
            "all_domains": r.capacity.platform.emails_per_second,
            "one_domain": r.capacity.one_domain.emails_per_second,
            "one_bulk": r.capacity.per_bulk.emails_per_second,
            "one_address": r.capacity.per_address,
            "hottest": [list(h) for h in r.capacity.platform.hottest],
            "poll_read_units": r.capacity.poll_read_units,
        },
        "fairness": r.fairness.as_dict() if r.fairness is not None else None,
        "worker": {
            "emails": r.calls.worker.emails,
            "calls": {f"{k[0]}:{k[1]}": v for k, v in r.calls.worker.calls.items()},
            "minimum": {f"{k[0]}:{k[1]}": v for k, v in r.calls.worker.minimum.items()},
        },
        "ses_events": {
            "emails": r.calls.events.emails,
            "calls": {f"{k[0]}:{k[1]}": v for k, v in r.calls.events.calls.items()},
            "minimum": {f"{k[0]}:{k[1]}": v for k, v in r.calls.events.minimum.items()},
            "not_ours": {f"{k[0]}:{k[1]}": v for k, v in r.calls.events.not_ours.items()},
        },
    }


# ---------------------------------------------------------------- figures 6 (three cases) and 7
_ORDER = ("table", *index_names())  # the table, then its indexes as template.yaml lists them


def _u(value: float) -> str:
    return "" if not value else (f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}".rstrip("0"))


def _writes_section(r: Results) -> str:
    cases = r.write_cases.cases
    summary = [
        [
            case.name,
            _n(case.emails),
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
        "transition, `JobsTable.settle(job_id, delivered)` (one strongly consistent `GetItem` and one",
        "conditional `UpdateItem`; the next issue's event handler makes that write), through a client the",
        "request log records. The recorded DynamoDB requests are then replayed in their order against a fresh",
        "moto with `template.yaml`'s tables, each item read before and after each write: the table's units",
        "are the larger image per started KB (twice in a transaction), each index's from its key schema and",
        "projection applied to both images (an entry that appears or disappears: one write; a key change: a",
        "delete and a put; a projected attribute changed: one write). Reads are priced from the items they",
        "name (4 KB per unit, halved when eventually consistent). S3 requests are counted from the log.",
        "",
        _table(
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
    worst = r.write_cases.worst
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
        text += [f"Write units per email, {case.name}, step by step:", "", _table(["step", *wheres, "total"], rows), ""]
    text += [
        "Steps are named by the job's status before and after the write (`create (queued)`; `queued →",
        "sending` is the claim, `sending → sent` the outcome, `sent → delivered` the delivery event); a",
        "body or bulk item is the item of that name. The bulk send's item and body are written once and",
        "divided among its emails.",
        "",
    ]
    costs = r.case_costs
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
        _table(["$ per million emails", *[c.name for c in costs]], rows),
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


def _capacity_section(r: Results) -> str:
    m = r.capacity
    load_rows = [[c.index, f"{c.units:.3f}", c.case] for c in m.loads]
    hot = [
        [label, index, key, f"{units:.4f}", f"{WRITE_LIMIT / units:,.0f}" if units else "—"]
        for label, cap in (("1,000 domains", m.platform), ("one domain", m.one_domain), ("one bulk send", m.per_bulk))
        for index, key, units in cap.hottest
    ]
    poll = (
        f"One `GET /bulks/{{bulk_id}}` poll of the bulk send of figure 6 (all its jobs delivered) read "
        f"{m.poll_read_units:.1f} read units over its {4} `ByBulk` shards: one bulk may be polled "
        f"{m.polls_per_second:,.0f} times a second before a shard passes {READ_LIMIT:,.0f} read units a second "
        f"(1,000 open pages polling every 3 s make {1000 / 3:,.0f})."
        if m.poll_read_units and m.polls_per_second
        else "No `GET /bulks` poll was measured."
    )
    return "\n".join(
        [
            "## 7. Capacity: the hottest partition keys",
            "",
            "From figure 6's replayed writes, the write units each key class takes per email (the largest of",
            "the three cases; for the table, only the items several emails share: a bulk send's item and",
            "body). Then docs/storage.md section 11's model: 1,000 domains `d0.example` … `d999.example` with",
            "Zipf volume (exponent 1: the largest sends 13.4% of all mail), or one domain alone, mapped onto",
            "partition key values with the service's key functions (`common.logic.keys`); a domain's emails spread",
            "evenly over its shards. Worst cases where a key depends on more than the domain: all of a",
            "domain's mail of one type and in one bulk send at a time, all the platform's mail of one type,",
            "and the exact status indexes as if every email took their measured units (none on this happy",
            "path: an incident puts 1 to 3 units per email on a domain's `ByDomainStatus` key, throttled",
            "writes, never lost ones, docs/storage.md section 11). The rate is the one at which the hottest",
            f"key value reaches {WRITE_LIMIT:,.0f} write units a second. A bulk send's own keys (its `ByBulk`",
            "shards, its item and body) bound how fast that one bulk may drain, not the platform's or a",
            'domain\'s rate: they are shown apart ("one bulk send"), as is `ByRecipient` (one address).',
            "",
            _table(["key class", "write units per email", "measured in"], load_rows),
            "",
            _table(["model", "index", "hottest keys", "units per email", "emails/s at 1,000 WRU/s"], hot),
            "",
            f"`ByRecipient` is keyed by the address: {m.per_address:,.0f} emails a second to one address.",
            f"One bulk send may drain at {m.per_bulk.emails_per_second:,.0f} emails a second before one of its",
            "own keys passes the limit; the bulk queue drains far slower (`BulkMaximumConcurrency` workers, each",
            "paced to its share of `MaxSendRate`), so a domain sending several bulks at once is bound by the",
            "rates above. A job's own items are written a handful of times in its life, never at a rate.",
            "",
            poll,
            "",
            f"Goals: ≥ {GOAL_PLATFORM:,.0f} emails/s for the platform, ≥ {GOAL_ONE_DOMAIN:,.0f} for one domain:",
            f"{m.platform.emails_per_second:,.0f} and {m.one_domain.emails_per_second:,.0f}, "
            + (
                "**met**."
                if m.platform.emails_per_second >= GOAL_PLATFORM and m.one_domain.emails_per_second >= GOAL_ONE_DOMAIN
                else "**not met**."
            ),
            "",
            "```",
            *printed_lines(r),
            "```",
            "",
        ]
    )


def _splice_figure(
    page: str,
    *,
    figure: str,
    rows: list[SummaryRow],
    own_notes: tuple[str, ...],
    notes: list[str],
    notes_before: tuple[str, ...],
    section: str,
) -> str:
    """``page`` (docs/benchmarks.md as a full run wrote it) with one figure
    measured again: its summary rows (``| <figure> |``), its notes (lines
    starting with ``own_notes``, put back before the first note starting with
    ``notes_before``) and its section (``## <figure>`` up to the next ``## ``)
    replaced by the new ones; the rest kept."""
    lines = page.split("\n")
    table = [f"| {row.figure} | {row.what} | {row.measured} | {row.reference} | {_ratio(row.ratio)} |" for row in rows]
    at = next(i for i, line in enumerate(lines) if line.startswith(f"| {figure} |"))
    lines = [line for line in lines if not line.startswith(f"| {figure} |")]
    lines[at:at] = table
    kept = [line for line in lines if not line.startswith(own_notes)]
    notes_at = next(i for i, line in enumerate(kept) if line.startswith(notes_before))
    kept[notes_at:notes_at] = notes
    text = "\n".join(kept)
    start = text.index(f"## {figure}")
    end = text.index("\n## ", start + 1)
    return text[:start] + section.rstrip("\n") + "\n" + text[end:]


def splice_list_figure(page: str, lists: ListCosts) -> str:
    """``page`` with figure 3 measured again (``_splice_figure``)."""
    return _splice_figure(
        page,
        figure="3. List cost",
        rows=list_summary_rows(lists),
        own_notes=("- **List cost**", "- **List pages that failed**"),
        notes=list_notes(lists),
        notes_before=("- **Pipeline**",),
        section=list_section(lists),
    )


def splice_cold_figure(page: str, cold_starts: ColdStarts, remark: str = "") -> str:
    """``page`` with figure 2 measured again (``_splice_figure``), its section followed by ``remark``."""
    return _splice_figure(
        page,
        figure="2. Cold start",
        rows=cold_summary_rows(cold_starts),
        own_notes=("- **Cold start**",),
        notes=cold_notes(cold_starts),
        notes_before=("- **List", "- **Pipeline**"),
        section=cold_section(cold_starts).rstrip("\n") + ("\n\n" + remark if remark else ""),
    )
