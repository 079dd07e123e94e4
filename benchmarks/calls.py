"""Figure 1: AWS calls per email, from the embedded AWS's request log, against a
minimum written from first principles.

Cases run in rounds. During a round the queues hold every new message back
(``DelaySeconds``), so the worker sends nothing while the cases run and each
case's stretch of the log holds that case's calls only (plus the event
source's empty long-polls, counted apart). Then the delay is lifted, the
worker sends everything (that stretch of the log is the worker's), SES's
delivery events of what it sent are let go and applied (the events' stretch).
A bulk send of 1,000 has a round of its own, sent through to ``delivered``:
its three stretches give the figure's headline, ``calls per email, bulk of
1,000 to delivered``.

The minimum is a model of what any correct design of this pipeline must do
(``Need``), amortised only by AWS's own batch limits: it reads none of the
service's code or constants, so a call the service adds shows as a ratio
above 1.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from benchmarks.harness import BenchError, BenchStack
from benchmarks.page import SummaryRow, number, table, times
from benchmarks.recording import Call, Observed, Segment
from benchmarks.workload import DOMAIN, addresses, bulk_request, prose, system_email

Key = tuple[str, str]  # (service, action label)
BWI = ("dynamodb", "BatchWriteItem")
TWI = ("dynamodb", "TransactWriteItems")
PUT = ("dynamodb", "PutItem")
SMB = ("sqs", "SendMessageBatch")
UPDATE = ("dynamodb", "UpdateItem")
GET = ("dynamodb", "GetItem")
SEND = ("ses", "SendEmail")
RECEIVE = ("sqs", "ReceiveMessage")
DELETE = ("sqs", "DeleteMessageBatch")
BATCH_GET = ("dynamodb", "BatchGetItem")
QUERY = ("dynamodb", "Query")
S3_PUT = ("s3", "PutObject")
S3_GET = ("s3", "GetObject")
IDEMPOTENCY_PUT = ("dynamodb", "PutItem (IdempotencyTable)")
IDEMPOTENCY_UPDATE = ("dynamodb", "UpdateItem (IdempotencyTable)")
EVENTS_QUEUE = "SesEventsQueue"
PUT_EVENTS = ("events", "PutEvents")  # the emulated SES's: SES's side, not the service's
SES_SOURCE = "aws.ses"  # the source of SES's own events
# The event source mapping's: Lambda's pollers receive and delete, the functions never do.
EVENT_SOURCE = frozenset({RECEIVE, DELETE})
LONG_POLL_SECONDS = 1.5  # the local pollers' long poll, with a margin
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
FAR = 1.2  # a ratio above this is called out
EVENTS_ROW = "SES events, per delivered email"
HEADLINE = "calls per email, bulk of 1,000 to delivered"
BUDGET = 4.6  # issue #30's goal for the headline, statistics and status events included

# AWS's own limits, which any design amortises by (none of them is the service's choice).
WRITE_BATCH = 25  # items per BatchWriteItem
READ_BATCH = 100  # keys per BatchGetItem
SEND_BATCH = 10  # entries per SendMessageBatch
RECEIVE_BATCH = 10  # messages per ReceiveMessage: what one worker's batch holds
TRANSACTION = 100  # items per TransactWriteItems
PUT_EVENTS_BATCH = 10  # entries per PutEvents


# ---------------------------------------------------------------- the first-principles minimum
@dataclass(frozen=True)
class Need:
    """One thing any correct design of this pipeline must do, and its calls."""

    what: str
    calls: float


def _ceil(n: float, per: int) -> int:
    return math.ceil(n / per) if n > 0 else 0


def enqueue_needs(n: int, *, keyed: bool = False) -> list[Need]:
    """An enqueue of ``n`` emails of distinct recipients (one payload). Each email's body fits
    in its job's item (a DynamoDB item holds 400 KB), so the job is one item."""
    needs = [
        Need("read the recipients' suppression entries (a listed one is written suppressed)", _ceil(n, READ_BATCH))
    ]
    if keyed:
        needs.append(
            Need(
                "write each job with its key's marker, atomically (transactions of 100 items)",
                _ceil(2 * n, TRANSACTION),
            )
        )
    else:
        needs.append(Need("write each job (BatchWriteItem of 25)", _ceil(n, WRITE_BATCH)))
    needs.append(Need("queue each job's message (SendMessageBatch of 10)", _ceil(n, SEND_BATCH)))
    needs.append(Need("add the new jobs to the day's statistics counters (one write)", 1 if n else 0))
    return needs


def bulk_needs(n: int, *, selected: int = 0, keyed: bool = False) -> list[Need]:
    """``POST /jobs/bulk`` of ``n`` recipients, ``selected`` of them from rows of the log."""
    needs = []
    if selected:
        needs.append(Need("read the selected rows' recipients", _ceil(selected, READ_BATCH)))
    needs += [
        Need("read the recipients' suppression entries", _ceil(n, READ_BATCH)),
        Need("read the domain's standing for the pause check (one item)", 1),
    ]
    if keyed:
        needs += [
            Need("claim the Idempotency-Key (a conditional write)", 1),
            Need(
                "put the jobs only if new, the shared body and the bulk's record (transactions of 100)",
                _ceil(n + 2, TRANSACTION),
            ),
            Need("store the answer for a replay", 1),
        ]
    else:
        needs.append(
            Need(
                "write the jobs, their shared body and the bulk's record (BatchWriteItem of 25)",
                _ceil(n + 2, WRITE_BATCH),
            )
        )
    needs.append(Need("queue each job's message (SendMessageBatch of 10)", _ceil(n, SEND_BATCH)))
    needs.append(Need("add the new jobs to the day's statistics counters (one write)", 1 if n else 0))
    return needs


def worker_needs(emails: int) -> list[Need]:
    """The worker's, for ``emails`` emails received in full batches."""
    return [
        Need(
            "per batch of 10: read its recipients' suppression entries, its bulk's cancel mark and any body not"
            " yet read, in one BatchGetItem",
            _ceil(emails, RECEIVE_BATCH),
        ),
        Need("claim each job (a conditional write: SQS may deliver a message twice)", emails),
        Need("send each email (SES)", emails),
        Need("record each outcome", emails),
        Need(
            "per batch of 10: add its status changes to the statistics counters (one write)",
            _ceil(emails, RECEIVE_BATCH),
        ),
        Need("put each `sent` status event (PutEvents of 10)", _ceil(emails, PUT_EVENTS_BATCH)),
    ]


def event_needs(events: int) -> list[Need]:
    return [
        Need("apply each delivery event to its job (a conditional write)", events),
        Need(
            "per 100 events (a transaction's 100 items): add their status changes to the statistics counters",
            _ceil(events, TRANSACTION),
        ),
        Need("put each `delivered` status event (PutEvents of 10)", _ceil(events, PUT_EVENTS_BATCH)),
    ]


def bulk_to_delivered_needs(n: int) -> list[Need]:
    """A bulk send of ``n`` sent through to ``delivered``: the request, the worker, the events."""
    return [*bulk_needs(n), *worker_needs(n), *event_needs(n)]


def total(needs: list[Need]) -> float:
    return sum(need.calls for need in needs)


def counted(calls: Mapping[Key, int]) -> int:
    """Calls the figures count: all but the event source mapping's receives and deletes."""
    return sum(n for key, n in calls.items() if key not in EVENT_SOURCE)


# ---------------------------------------------------------------- what was measured
@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[], list[str]]  # returns the ids of the jobs it created
    needs: list[Need]
    s3_bodies: int = 0  # bodies it stores in S3: the worker reads each once


@dataclass
class CaseResult:
    name: str
    emails: int
    calls: dict[Key, int]
    needs: list[Need]
    idle_polls: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def total_minimum(self) -> float:
        return total(self.needs)


def _merged(a: Mapping[Key, int], b: Mapping[Key, int]) -> dict[Key, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in {*a, *b}}


@dataclass
class WorkerResult:
    emails: int
    calls: dict[Key, int]  # ReceiveMessage: the receives that returned messages
    empty_polls: int
    invocations: int
    s3_bodies: int = 0

    @property
    def needs(self) -> list[Need]:
        return worker_needs(self.emails)

    @property
    def counted(self) -> int:
        return counted(self.calls)

    def per_email(self, key: Key) -> float:
        return self.calls.get(key, 0) / self.emails if self.emails else 0.0

    def __add__(self, other: WorkerResult) -> WorkerResult:
        return WorkerResult(
            self.emails + other.emails,
            _merged(self.calls, other.calls),
            self.empty_polls + other.empty_polls,
            self.invocations + other.invocations,
            self.s3_bodies + other.s3_bodies,
        )


@dataclass
class EventsResult:
    """SES's delivery events of the emails the worker sent: SesEventsFunction's calls."""

    emails: int
    calls: dict[Key, int]  # ReceiveMessage: the receives that returned messages
    not_ours: dict[Key, int]  # SES's side: the emulated SES's PutEvents
    empty_polls: int

    @property
    def needs(self) -> list[Need]:
        return event_needs(self.emails)

    @property
    def counted(self) -> int:
        return counted(self.calls)

    def __add__(self, other: EventsResult) -> EventsResult:
        return EventsResult(
            self.emails + other.emails,
            _merged(self.calls, other.calls),
            _merged(self.not_ours, other.not_ours),
            self.empty_polls + other.empty_polls,
        )


@dataclass
class Round:
    cases: list[CaseResult]
    worker: WorkerResult | None  # None: the round's messages were purged, not sent
    segments: dict[str, Segment] = field(default_factory=dict)  # by case name, "worker" and "events"
    events: EventsResult | None = None  # the delivery events of what the worker sent


@dataclass(frozen=True)
class ToDelivered:
    """One bulk send sent through to ``delivered``: its request's, its worker's and its
    events' calls, each stretch its own."""

    name: str
    emails: int
    request: dict[Key, int]
    worker: dict[Key, int]
    events: dict[Key, int]

    @property
    def needs(self) -> list[Need]:
        return bulk_to_delivered_needs(self.emails)

    @property
    def sending_path(self) -> float:
        return (counted(self.request) + counted(self.worker)) / self.emails

    @property
    def event_path(self) -> float:
        return counted(self.events) / self.emails

    @property
    def per_email(self) -> float:
        return self.sending_path + self.event_path

    @property
    def minimum(self) -> float:
        return total(self.needs) / self.emails

    @property
    def ratio(self) -> float:
        return self.per_email / self.minimum


@dataclass
class CallCounts:
    rounds: list[Round]
    enqueue_ms: dict[str, float]  # mean EnqueueFunction / BulkQueueFunction time per case

    @property
    def cases(self) -> list[CaseResult]:
        return [case for r in self.rounds for case in r.cases]

    @property
    def worker(self) -> WorkerResult:
        measured = [r.worker for r in self.rounds if r.worker is not None]
        result = measured[0]
        for more in measured[1:]:
            result = result + more
        return result

    @property
    def events(self) -> EventsResult:
        measured = [r.events for r in self.rounds if r.events is not None]
        result = measured[0]
        for more in measured[1:]:
            result = result + more
        return result

    @property
    def to_delivered(self) -> ToDelivered | None:
        """The round of one plain bulk send, sent through to delivered."""
        for r in self.rounds:
            if len(r.cases) == 1 and r.cases[0].name.startswith("bulk send") and r.worker and r.events:
                case = r.cases[0]
                return ToDelivered(case.name, case.emails, case.calls, r.worker.calls, r.events.calls)
        return None

    def case(self, name: str) -> CaseResult:
        for case in self.cases:
            if case.name == name:
                return case
        raise KeyError(name)


def printed_line(counts: CallCounts) -> str:
    """``calls per email, bulk of 1,000 to delivered: N`` (issue #28's wording)."""
    found = counts.to_delivered
    return f"{HEADLINE}: {found.per_email:.2f}" if found else f"{HEADLINE}: not measured"


# ---------------------------------------------------------------- measuring
def _label(bench: BenchStack, call: Call) -> Key:
    if call.service == "s3":  # REST: named by method (the service's only S3 calls are object PUTs and GETs)
        method = call.action.split(" ", 1)[0]
        return call.service, {"PUT": "PutObject", "GET": "GetObject"}.get(method, call.action)
    if call.service == "dynamodb" and call.table and call.table != bench.jobs_table:
        logical = next((k for k, v in bench.stack.names.items() if v == call.table), call.table)
        return call.service, f"{call.action} ({logical})"
    return call.service, call.action


def _calls(bench: BenchStack, segment: Segment) -> dict[Key, int]:
    counted_: dict[Key, int] = {}
    for call, n in segment.calls.items():
        key = _label(bench, call)
        counted_[key] = counted_.get(key, 0) + n
    return counted_


def run_round(bench: BenchStack, cases: list[Case], *, delay: int, timeout: float, drain: bool = True) -> Round:
    """Run ``cases`` with the queues held back by ``delay`` seconds, then let
    the worker send what they queued (``drain``) or purge it."""
    recorder, observer = bench.recorder, bench.observer
    bench.set_queue_delay(delay)
    time.sleep(LONG_POLL_SECONDS)  # long polls begun before the delay end first
    recorder.start()
    observer.arm_claim_sample()
    mark, seen = recorder.mark(), observer.snapshot()
    started = time.monotonic()
    results: list[CaseResult] = []
    segments: dict[str, Segment] = {}
    created: list[str] = []
    for case in cases:
        case_started = time.perf_counter()
        job_ids = case.run()
        seconds = time.perf_counter() - case_started
        new_mark, new_seen = recorder.mark(), observer.snapshot()
        if new_seen.receives_with_messages != seen.receives_with_messages:
            raise BenchError(f"{case.name}: the worker received a message during the case (queue delay too short)")
        segment = recorder.segment(mark, new_mark)
        calls = _calls(bench, segment)
        idle = calls.pop(RECEIVE, 0)
        results.append(CaseResult(case.name, len(job_ids), calls, case.needs, idle, seconds))
        segments[case.name] = segment
        created += job_ids
        mark, seen = new_mark, new_seen
    elapsed = time.monotonic() - started
    if elapsed > delay - LONG_POLL_SECONDS:
        raise BenchError(f"the cases took {elapsed:.1f} s, too close to the queue delay of {delay} s: raise it")
    bench.set_queue_delay(0)
    if not drain:
        recorder.stop()
        bench.purge("PriorityQueue")
        bench.purge("BulkQueue")
        return Round(results, None, segments)
    return _drain(bench, Round(results, None, segments), cases, created=created, mark=mark, seen=seen, timeout=timeout)


def _drain(
    bench: BenchStack,
    round_: Round,
    cases: list[Case],
    *,
    created: list[str],
    mark: int,
    seen: Observed,
    timeout: float,
) -> Round:
    """The worker sends what the cases queued (its stretch of the log), then SES's
    delivery events of those emails are let go and applied (the events' stretch)."""
    recorder, observer = bench.recorder, bench.observer
    invocations_before = bench.durations.count("SendWorkerFunction")
    unique = list(dict.fromkeys(created))
    bench.hold_ses_events()  # SES's events wait until the worker's stretch ends
    resume = bench.pause_poller(EVENTS_QUEUE)
    try:
        bench.wait_sent(unique, timeout=timeout)
        end_mark, end_seen = recorder.mark(), observer.snapshot()
        # The events go onto their queue while its consumer waits, then it drains a full queue.
        released = bench.release_ses_events()
        if released != len(unique):
            raise BenchError(f"SES accepted {released} sends for {len(unique)} jobs")
        bench.wait_until(
            lambda: bench.visible(EVENTS_QUEUE) >= released, timeout=timeout, what="SES's events reaching their queue"
        )
    finally:
        bench.release_ses_events()
        resume()
    bench.wait_sent(unique, timeout=timeout, status="delivered", queues=(EVENTS_QUEUE,))
    events_mark, events_seen = recorder.mark(), observer.snapshot()
    recorder.stop()
    segment = recorder.segment(mark, end_mark)
    calls = _calls(bench, segment)
    productive = end_seen.receives_with_messages - seen.receives_with_messages
    recorded_receives = calls.pop(RECEIVE, 0)
    calls[RECEIVE] = productive
    round_.segments["worker"] = segment
    round_.worker = WorkerResult(
        emails=len(unique),
        calls=calls,
        empty_polls=max(recorded_receives - productive, 0),
        invocations=bench.durations.count("SendWorkerFunction") - invocations_before,
        s3_bodies=sum(case.s3_bodies for case in cases),
    )
    events_segment = recorder.segment(end_mark, events_mark)
    round_.segments["events"] = events_segment
    round_.events = _events(bench, events_segment, len(unique), end_seen, events_seen)
    return round_


def _events(bench: BenchStack, segment: Segment, emails: int, before: Observed, after: Observed) -> EventsResult:
    """The stretch from the worker's last send until every job reads ``delivered``:
    the emulated SES's PutEvents, then SesEventsFunction's receives, writes and deletes
    (a PutEvents of the service's own, of events that are not SES's, is counted)."""
    calls = _calls(bench, segment)
    ses = sum(
        1
        for call, body in segment.requests
        if (call.service, call.action) == PUT_EVENTS
        and all(entry.get("Source") == SES_SOURCE for entry in body.get("Entries") or [{}])
    )
    puts = calls.pop(PUT_EVENTS, 0)
    not_ours = {PUT_EVENTS: min(ses, puts)}
    if puts > ses:
        calls[PUT_EVENTS] = puts - ses
    productive = after.receives_with_messages - before.receives_with_messages
    recorded_receives = calls.pop(RECEIVE, 0)
    calls[RECEIVE] = productive
    return EventsResult(emails, calls, not_ours, max(recorded_receives - productive, 0))


def _enqueue_cases(bench: BenchStack, batch: int, keep: dict[str, list[str]]) -> list[Case]:
    run_id = uuid.uuid4().hex[:8]

    def one() -> list[str]:
        return bench.enqueue(system_email(0))

    def one_large() -> list[str]:
        return bench.enqueue({**system_email(2), "body_text": prose(100_000)})

    def one_keyed() -> list[str]:
        return bench.enqueue(system_email(1, key=f"bench-{run_id}-single"))

    def many() -> list[str]:
        ids = bench.enqueue({"jobs": [system_email(100 + i) for i in range(batch)]})
        keep["batch"] = ids
        return ids

    def many_keyed() -> list[str]:
        return bench.enqueue({"jobs": [system_email(1000 + i, key=f"bench-{run_id}-{i}") for i in range(batch)]})

    return [
        Case("enqueue 1", one, enqueue_needs(1)),
        # Its body compresses to more than 4 KB: the service stores it in S3 (one PUT), the worker reads it back.
        Case("enqueue 1, 100,000-character body", one_large, enqueue_needs(1), s3_bodies=1),
        Case("enqueue 1, idempotency key", one_keyed, enqueue_needs(1, keyed=True)),
        Case(f"enqueue {batch}", many, enqueue_needs(batch)),
        Case(f"enqueue {batch}, idempotency keys", many_keyed, enqueue_needs(batch, keyed=True)),
    ]


def _bulk_case(bench: BenchStack, size: int) -> Case:
    token = bench.token([DOMAIN])
    run_id = uuid.uuid4().hex[:8]

    def plain() -> list[str]:
        answer = bench.post_bulk(token, bulk_request(DOMAIN, addresses(size, tag=f"bulk-{run_id}")))
        return [str(job_id) for job_id in answer["job_ids"]]

    return Case(f"bulk send of {size:,}", plain, bulk_needs(size))


def _keyed_bulk_case(bench: BenchStack, size: int, selected: list[str]) -> Case:
    token = bench.token([DOMAIN])
    run_id = uuid.uuid4().hex[:8]

    def keyed() -> list[str]:
        typed = addresses(size - len(selected), tag=f"bulk-key-{run_id}")
        answer = bench.post_bulk(token, bulk_request(DOMAIN, typed, selected), idempotency_key=f"bench-{run_id}")
        if answer["queued"] != size:
            raise BenchError(f"the bulk send with selected rows queued {answer['queued']}, not {size}")
        return [str(job_id) for job_id in answer["job_ids"]]

    return Case(
        f"bulk send of {size:,}, Idempotency-Key, {len(selected)} selected rows",
        keyed,
        bulk_needs(size, selected=len(selected), keyed=True),
    )


def measure(bench: BenchStack, *, batch: int, bulk: int, selected: int, delay: int, timeout: float) -> CallCounts:
    """Three rounds: the enqueue cases, then a plain bulk send, each sent through to
    ``delivered``; then a bulk send with an Idempotency-Key and selected rows, whose
    messages are purged. ``delay``: the first round's hold (the second's is twice that)."""
    kept: dict[str, list[str]] = {}
    enqueue_before = bench.durations.count("EnqueueFunction")
    first = run_round(bench, _enqueue_cases(bench, batch, kept), delay=delay, timeout=timeout)
    enqueue_times = bench.durations.seconds["EnqueueFunction"][enqueue_before:]
    bulk_before = bench.durations.count("BulkQueueFunction")
    # A bulk send's request takes seconds on a loaded machine: twice the hold.
    second = run_round(bench, [_bulk_case(bench, bulk)], delay=2 * delay, timeout=timeout)
    # Its messages are purged, not sent (the worker's calls per email are the other rounds'),
    # so they may be held back as long as SQS allows: a keyed bulk send takes seconds.
    third = run_round(
        bench,
        [_keyed_bulk_case(bench, bulk, kept["batch"][:selected])],
        delay=MAX_DELAY_SECONDS,
        timeout=timeout,
        drain=False,
    )
    bulk_times = bench.durations.seconds["BulkQueueFunction"][bulk_before:]
    names = [case.name for case in first.cases] + [case.name for case in (*second.cases, *third.cases)]
    times_ = [*enqueue_times, *bulk_times]
    return CallCounts([first, second, third], {name: 1000 * t for name, t in zip(names, times_, strict=False)})


# ---------------------------------------------------------------- its part of the page
def summary_rows(counts: CallCounts) -> list[SummaryRow]:
    rows: list[SummaryRow] = []
    found = counts.to_delivered
    if found is not None:
        rows.append(
            SummaryRow(
                "1. AWS calls",
                f"{found.name} to delivered (per email; budget {BUDGET})",
                number(round(found.per_email, 2)),
                f"first principles: {found.minimum:.2f}",
                found.ratio,
            )
        )
    for case in counts.cases:
        per = case.emails or 1
        measured = counted(case.calls) / per
        minimum = case.total_minimum / per
        rows.append(
            SummaryRow(
                "1. AWS calls",
                f"{case.name} (per email)",
                number(round(measured, 2)),
                number(round(minimum, 3)),
                measured / minimum if minimum else None,
            )
        )
    worker, events = counts.worker, counts.events
    for name, result_counted, needs, emails in (
        ("worker, per sent email", worker.counted, worker.needs, worker.emails),
        (EVENTS_ROW, events.counted, events.needs, events.emails),
    ):
        measured = result_counted / emails
        minimum = total(needs) / emails
        rows.append(
            SummaryRow("1. AWS calls", name, number(round(measured, 2)), number(round(minimum, 3)), measured / minimum)
        )
    return rows


def notes(counts: CallCounts) -> list[str]:
    """Figure 1's note of "Far from the minimum, and why"."""
    found = counts.to_delivered
    head = []
    if found is not None:
        verdict = "within" if found.per_email <= BUDGET else "over"
        head = [
            f"a bulk send of {found.emails:,} to delivered makes {found.per_email:.2f} calls per email ({verdict} the"
            f" budget of {BUDGET}; first principles {found.minimum:.2f}, {found.ratio:.2f}x)"
        ]
    far = [
        f"{row.what}: {row.ratio:.2f}x" for row in summary_rows(counts)[1 if found else 0 :] if (row.ratio or 1) > FAR
    ]
    parts = head + far
    return ["- **AWS calls**: " + "; ".join(parts) + ". See figure 1."] if parts else []


def _ratio(measured: float, minimum: float) -> float | None:
    return measured / minimum if minimum else None


def _need_rows(needs: list[Need], emails: int) -> list[list[str]]:
    return [[need.what, number(need.calls), f"{need.calls / emails:.3f}"] for need in needs]


def section(
    counts: CallCounts,
    *,
    poll: Mapping[str, int] | None = None,
    poll_read_units: float = 0.0,
    bulk_emails: int = 0,
) -> str:
    """``poll``: the calls of one ``GET /bulks`` poll (``"service:Action"`` -> count) of a
    bulk send of ``bulk_emails`` whose jobs are all delivered, and its read units
    (figure 6 measures it on its bulk send); ``None``: none was measured."""
    text = [
        "## 1. AWS calls per email",
        "",
        "Counted from the embedded AWS's own request log (moto's recorder), per service and action. During the",
        "cases the queues hold every new message back (`DelaySeconds`), so the worker sends nothing meanwhile",
        "and each case's stretch of the log is its own; then the delay is lifted and the worker's stretch is",
        "counted, divided by the emails it sent; then SES's delivery events of those emails (the embedded SES",
        "emulates them as its mailbox simulator does, one delivery per email), held until the worker's stretch",
        "ends, are let go at once onto `SesEventsQueue` while its event source waits, and counted apart until",
        "every job reads `delivered`. A plain bulk send has a round of its own, sent through to `delivered`.",
        "",
        "Not counted (shown, not added): the event source mappings' `ReceiveMessage` and",
        "`DeleteMessageBatch` (in AWS Lambda's pollers make them, not the functions; SQS bills them, and",
        "figure 6 prices them), their empty long polls, and the emulated SES's `events:PutEvents` (SES's",
        "own publishing). Every other request in a stretch is counted, whatever it is: a call the service",
        "adds shows here. The statistics counters (`dynamodb:TransactWriteItems`, one per batch of changes:",
        "the bulk send's, each worker batch's, each batch of SES's events) and the status events for Privas",
        "services (the service's own `events:PutEvents`, 10 events a call) are counted in their stretch.",
        "",
    ]
    found = counts.to_delivered
    if found is not None:
        verdict = "**within**" if found.per_email <= BUDGET else "**over**"
        breakdown = [
            [
                "the request (`POST /jobs/bulk`)",
                number(counted(found.request)),
                f"{counted(found.request) / found.emails:.3f}",
            ],
            ["the worker", number(counted(found.worker)), f"{counted(found.worker) / found.emails:.3f}"],
            ["sending path", "", f"**{found.sending_path:.3f}**"],
            ["SES's events (SesEventsFunction)", number(counted(found.events)), f"**{found.event_path:.3f}**"],
            [
                "**total**",
                number(counted(found.request) + counted(found.worker) + counted(found.events)),
                f"**{found.per_email:.3f}**",
            ],
        ]
        detail = [
            [
                where,
                f"{key[0]}:{key[1]}",
                number(n),
                f"{n / found.emails:.3f}",
                "not counted" if key in EVENT_SOURCE else "",
            ]
            for where, calls in (("request", found.request), ("worker", found.worker), ("events", found.events))
            for key, n in sorted(calls.items())
        ]
        text += [
            f"### A bulk send of {found.emails:,}, to delivered",
            "",
            table(["stretch", "calls", "per email"], breakdown),
            "",
            table(["stretch", "call", "count", "per email", ""], detail),
            "",
            f"Budget: {BUDGET} calls per email: {verdict} ({found.per_email:.2f}).",
            "",
            "The minimum, from first principles: what any correct design of this pipeline must do for a bulk",
            f"send of {found.emails:,} through to delivery, whatever its storage, amortised only by AWS's own",
            f"batch limits ({WRITE_BATCH} items per `BatchWriteItem`, {READ_BATCH} keys per `BatchGetItem`,",
            f"{SEND_BATCH} entries per `SendMessageBatch`, {RECEIVE_BATCH} messages per `ReceiveMessage`, which",
            "makes a worker's batch). It reads none of the service's code or constants. Each job is one item (a",
            "body fits in it),",
            "the body of a bulk send is one item shared by its jobs; the pause check reads one item of the domain's",
            "standing; the claim is a conditional write because SQS may deliver a message twice and an email must",
            "be sent once; the outcome and each delivery event are a write each, because `GET /jobs` shows them.",
            "",
            table(["what any correct design must do", "calls", "per email"], _need_rows(found.needs, found.emails)),
            "",
            f"Minimum: {found.minimum:.3f} calls per email; measured {found.per_email:.3f}, {found.ratio:.2f}x.",
            "",
            "```",
            printed_line(counts),
            "```",
            "",
        ]
    rows: list[list[str]] = []
    for case in counts.cases:
        for key in sorted(case.calls):
            rows.append([case.name, number(case.emails), key[0], key[1], number(case.calls[key]), ""])
        rows.append(
            [
                f"**{case.name}**",
                "",
                "",
                "**total (first principles)**",
                f"**{number(counted(case.calls))}**",
                f"{number(case.total_minimum)} ({times(_ratio(counted(case.calls), case.total_minimum))})",
            ]
        )
    worker, events = counts.worker, counts.events
    for name, emails, calls, needs in (
        ("worker, per sent email", worker.emails, worker.calls, worker.needs),
        (EVENTS_ROW, events.emails, events.calls, events.needs),
    ):
        for key in sorted(calls):
            note = " (event source mapping: not counted)" if key in EVENT_SOURCE else ""
            rows.append([name, number(emails), key[0], key[1] + note, f"{calls[key] / emails:.3f}", ""])
        measured = counted(calls) / emails
        minimum = total(needs) / emails
        rows.append(
            [
                f"**{name}**",
                "",
                "",
                "**total (first principles)**",
                f"**{measured:.3f}**",
                f"{minimum:.3f} ({times(measured / minimum)})",
            ]
        )
    for key, count in sorted(events.not_ours.items()):
        rows.append(
            [
                f"{EVENTS_ROW}: SES's side, not the service's",
                number(events.emails),
                key[0],
                key[1],
                f"{count / events.emails:.3f}",
                "",
            ]
        )
    if poll is not None:
        for label in sorted(poll):
            service, action = label.split(":", 1)
            rows.append(
                [f"GET /bulks, one poll of a bulk of {bulk_emails:,}", "—", service, action, number(poll[label]), ""]
            )
    idle = sum(case.idle_polls for case in counts.cases)
    text += [
        "### Every case",
        "",
        "Each case's minimum is the same model: an enqueue of N reads its recipients' suppression entries",
        "(⌈N/100⌉), writes each job (⌈N/25⌉, or with idempotency keys each job with its key's marker in",
        "transactions of 100 items, ⌈2N/100⌉) and queues each message (⌈N/10⌉); a bulk send of N adds one",
        "read of the domain's standing and writes its shared body and its record with the jobs (⌈(N+2)/25⌉),",
        "with an Idempotency-Key a conditional claim of the key, conditional puts in transactions of 100",
        "(⌈(N+2)/100⌉) and the stored answer, and ⌈s/100⌉ reads of s selected rows. The worker: per batch",
        "of 10 one read, per email a claim, a send and an outcome; an event: one write.",
        f"Empty long polls left out: {idle} during the cases and {worker.empty_polls} while the worker sent (the",
        "local poller long-polls for 1 s; Lambda's for up to 20 s: a cost by the month, not per email).",
        "One `GET /bulks/{bulk_id}` poll, measured on figure 6's bulk send once all its jobs are delivered"
        + (f", read {poll_read_units:.1f} read units." if poll is not None else "."),
        "",
        table(["case", "emails", "service", "action", "calls", "first-principles minimum"], rows),
        "",
    ]
    return "\n".join(text)


def per_email_of_bulk(counts: CallCounts) -> float:
    """A bulk send's calls per email, its worker's included (every call, the event
    source's receives and deletes too: the ceiling loop of figure 4 makes them)."""
    found = counts.to_delivered
    if found is None:
        return 0.0
    return (sum(found.request.values()) + sum(found.worker.values())) / found.emails
