"""Figure 1: AWS calls per email, from the embedded AWS's request log.

Cases run in rounds. During a round the queues hold every new message back
(``DelaySeconds``), so the worker sends nothing while the cases run and each
case's stretch of the log holds that case's calls only (plus the event
source's empty long-polls, counted apart). Then the delay is lifted, the
worker sends everything, and that stretch of the log is the worker's.
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
LONG_POLL_SECONDS = 1.5  # the local pollers' long poll, with a margin
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
FAR = 1.2  # a ratio above this is called out
EVENTS_ROW = "SES events, per delivered email"


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[], list[str]]  # returns the ids of the jobs it created
    minimum: dict[Key, int]
    s3_bodies: int = 0  # bodies it stores in S3: the worker reads each once


@dataclass
class CaseResult:
    name: str
    emails: int
    calls: dict[Key, int]
    minimum: dict[Key, int]
    idle_polls: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def total_minimum(self) -> int:
        return sum(self.minimum.values())


@dataclass
class WorkerResult:
    emails: int
    calls: dict[Key, int]  # ReceiveMessage: the receives that returned messages
    empty_polls: int
    invocations: int
    s3_bodies: int = 0

    @property
    def minimum(self) -> dict[Key, int]:
        batches = math.ceil(self.emails / 10)
        # Per batch, one read of the bodies it names (none cached: every job has its own)
        # and one of its recipients' suppression entries; one S3 GET per body stored there.
        minimum = {
            UPDATE: 2 * self.emails,
            SEND: self.emails,
            RECEIVE: batches,
            DELETE: batches,
            BATCH_GET: 2 * batches,
        }
        if self.s3_bodies:
            minimum[S3_GET] = self.s3_bodies
        return minimum

    def per_email(self, key: Key) -> float:
        return self.calls.get(key, 0) / self.emails if self.emails else 0.0

    def __add__(self, other: WorkerResult) -> WorkerResult:
        calls = dict(self.calls)
        for key, n in other.calls.items():
            calls[key] = calls.get(key, 0) + n
        return WorkerResult(
            self.emails + other.emails,
            calls,
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
    def minimum(self) -> dict[Key, int]:
        # Per event one conditional UpdateItem of its job; SQS returns at most 10 messages a
        # receive, and the event source mapping deletes what it received, 10 per call.
        batches = math.ceil(self.emails / 10)
        return {UPDATE: self.emails, RECEIVE: batches, DELETE: batches}

    def __add__(self, other: EventsResult) -> EventsResult:
        def merged(a: dict[Key, int], b: dict[Key, int]) -> dict[Key, int]:
            return {key: a.get(key, 0) + b.get(key, 0) for key in {*a, *b}}

        return EventsResult(
            self.emails + other.emails,
            merged(self.calls, other.calls),
            merged(self.not_ours, other.not_ours),
            self.empty_polls + other.empty_polls,
        )


@dataclass
class Round:
    cases: list[CaseResult]
    worker: WorkerResult | None  # None: the round's messages were purged, not sent
    segments: dict[str, Segment] = field(default_factory=dict)  # by case name, "worker" and "events"
    events: EventsResult | None = None  # the delivery events of what the worker sent


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
        total = measured[0]
        for more in measured[1:]:
            total = total + more
        return total

    @property
    def events(self) -> EventsResult:
        measured = [r.events for r in self.rounds if r.events is not None]
        total = measured[0]
        for more in measured[1:]:
            total = total + more
        return total

    def case(self, name: str) -> CaseResult:
        for case in self.cases:
            if case.name == name:
                return case
        raise KeyError(name)


def _label(bench: BenchStack, call: Call) -> Key:
    if call.service == "s3":  # REST: named by method (the service's only S3 calls are object PUTs and GETs)
        method = call.action.split(" ", 1)[0]
        return call.service, {"PUT": "PutObject", "GET": "GetObject"}.get(method, call.action)
    if call.service == "dynamodb" and call.table and call.table != bench.jobs_table:
        logical = next((k for k, v in bench.stack.names.items() if v == call.table), call.table)
        return call.service, f"{call.action} ({logical})"
    return call.service, call.action


def _calls(bench: BenchStack, segment: Segment) -> dict[Key, int]:
    counted: dict[Key, int] = {}
    for call, n in segment.calls.items():
        key = _label(bench, call)
        counted[key] = counted.get(key, 0) + n
    return counted


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
        results.append(CaseResult(case.name, len(job_ids), calls, case.minimum, idle, seconds))
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
    the emulated SES's PutEvents, then SesEventsFunction's receives, writes and deletes."""
    calls = _calls(bench, segment)
    not_ours = {PUT_EVENTS: calls.pop(PUT_EVENTS, 0)}
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

    # Every payload reads its recipients' suppression entries first: one BatchGetItem
    # per 100 distinct addresses (common/logic/suppressions.py); with keys, the keys'
    # markers are read too, 100 per BatchGetItem.
    suppressed = math.ceil(batch / 100)
    return [
        Case("enqueue 1", one, {BATCH_GET: 1, BWI: 1, SMB: 1}),
        # Its body compresses to more than 4 KB: an S3 object, PUT before the items are written.
        Case("enqueue 1, 100,000-character body", one_large, {BATCH_GET: 1, S3_PUT: 1, BWI: 1, SMB: 1}, s3_bodies=1),
        Case("enqueue 1, idempotency key", one_keyed, {BATCH_GET: 1 + 1, TWI: 1, SMB: 1}),
        # Each job with its body item: 2 requests per job, 25 per BatchWriteItem.
        Case(
            f"enqueue {batch}",
            many,
            {BATCH_GET: suppressed, BWI: math.ceil(2 * batch / 25), SMB: math.ceil(batch / 10)},
        ),
        Case(
            f"enqueue {batch}, idempotency keys",
            many_keyed,
            {BATCH_GET: math.ceil(batch / 100) + suppressed, TWI: batch, SMB: math.ceil(batch / 10)},
        ),
    ]


def _bulk_cases(bench: BenchStack, size: int, selected: list[str]) -> list[Case]:
    # Imported here, once the local stack has set the functions' environment:
    # the service's modules read Powertools' settings when first imported.
    from common.logic import reputation  # noqa: PLC0415

    token = bench.token([DOMAIN])
    run_id = uuid.uuid4().hex[:8]

    def plain() -> list[str]:
        answer = bench.post_bulk(token, bulk_request(DOMAIN, addresses(size, tag=f"bulk-{run_id}")))
        return [str(job_id) for job_id in answer["job_ids"]]

    def keyed() -> list[str]:
        typed = addresses(size - len(selected), tag=f"bulk-key-{run_id}")
        answer = bench.post_bulk(token, bulk_request(DOMAIN, typed, selected), idempotency_key=f"bench-{run_id}")
        if answer["queued"] != size:
            raise BenchError(f"the bulk send with selected rows queued {answer['queued']}, not {size}")
        return [str(job_id) for job_id in answer["job_ids"]]

    # Every bulk send reads its recipients' suppression entries (one BatchGetItem per 100)
    # and makes the pause check (common/logic/reputation.py): one Query per partition of
    # the domain's window.
    suppressed = math.ceil(size / 100)
    every_bulk = {SMB: math.ceil(size / 10), QUERY: reputation.CHECK_QUERIES}
    return [
        # The bulk's item for GET /bulks/{bulk_id} (one UpdateItem: a replay keeps a
        # cancel's mark), then its jobs and their one body item, 25 per BatchWriteItem.
        Case(
            f"bulk send of {size:,}",
            plain,
            {UPDATE: 1, BWI: math.ceil((size + 1) / 25), BATCH_GET: suppressed, **every_bulk},
        ),
        Case(
            f"bulk send of {size:,}, Idempotency-Key, {len(selected)} selected rows",
            keyed,
            # The bulk send's record, its body, then one conditional PutItem per job; its item.
            {
                PUT: 2 + size,
                UPDATE: 1,
                **every_bulk,
                # The selected rows' recipients, 100 per BatchGetItem, then the suppression read.
                BATCH_GET: math.ceil(len(selected) / 100) + suppressed,
                IDEMPOTENCY_PUT: 1,
                IDEMPOTENCY_UPDATE: 1,
            },
        ),
    ]


def measure(bench: BenchStack, *, batch: int, bulk: int, selected: int, delay: int, timeout: float) -> CallCounts:
    """Two rounds: the enqueue cases (whose messages the worker then sends), and
    the bulk cases (whose messages are purged). ``delay``: the first round's hold."""
    kept: dict[str, list[str]] = {}
    enqueue_before = bench.durations.count("EnqueueFunction")
    first = run_round(bench, _enqueue_cases(bench, batch, kept), delay=delay, timeout=timeout)
    enqueue_times = bench.durations.seconds["EnqueueFunction"][enqueue_before:]
    bulk_before = bench.durations.count("BulkQueueFunction")
    # The bulk round's cases take seconds each: a longer hold on the queues.
    # The bulk round's messages are purged, not sent (the worker's calls per
    # email are the first round's; the pipeline figure sends a bulk send), so
    # they may be held back as long as SQS allows.
    second = run_round(
        bench,
        _bulk_cases(bench, bulk, kept["batch"][:selected]),
        delay=MAX_DELAY_SECONDS,
        timeout=timeout,
        drain=False,
    )
    bulk_times = bench.durations.seconds["BulkQueueFunction"][bulk_before:]
    names = [case.name for case in first.cases] + [case.name for case in second.cases]
    times = [*enqueue_times, *bulk_times]
    return CallCounts([first, second], {name: 1000 * t for name, t in zip(names, times, strict=False)})


# ---------------------------------------------------------------- its part of the page
def summary_rows(counts: CallCounts) -> list[SummaryRow]:
    rows: list[SummaryRow] = []
    for case in counts.cases:
        per = case.emails or 1
        rows.append(
            SummaryRow(
                "1. AWS calls",
                f"{case.name} (per email)",
                number(case.total / per),
                number(case.total_minimum / per),
                case.total / case.total_minimum if case.total_minimum else None,
            )
        )
    worker = counts.worker
    measured = sum(worker.calls.values()) / worker.emails
    minimum = sum(worker.minimum.values()) / worker.emails
    rows.append(
        SummaryRow("1. AWS calls", "worker, per sent email", number(measured), number(minimum), measured / minimum)
    )
    events = counts.events
    measured = sum(events.calls.values()) / events.emails
    minimum = sum(events.minimum.values()) / events.emails
    rows.append(SummaryRow("1. AWS calls", EVENTS_ROW, number(measured), number(minimum), measured / minimum))
    return rows


def notes(counts: CallCounts) -> list[str]:
    """Figure 1's note of "Far from the minimum, and why"."""
    far_calls = [row for row in summary_rows(counts) if (row.ratio or 1) > FAR]
    if far_calls:
        return [
            "- **AWS calls**: "
            + "; ".join(f"{row.what}: {row.ratio:.2f}x" for row in far_calls if row.ratio)
            + ". See figure 1."
        ]
    return ["- **AWS calls**: none. Every case makes exactly the design's minimum of calls."]


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
    rows: list[list[str]] = []
    far: list[str] = []
    for case in counts.cases:
        keys = sorted(set(case.calls) | set(case.minimum))
        for key in keys:
            count, minimum = case.calls.get(key, 0), case.minimum.get(key, 0)
            ratio = count / minimum if minimum else None
            rows.append([case.name, number(case.emails), key[0], key[1], number(count), number(minimum), times(ratio)])
            if (ratio is None and count) or (ratio is not None and ratio > FAR):
                far.append(f"{case.name}: {key[0]} {key[1]} ({number(count)} for a minimum of {number(minimum)})")
    worker, events = counts.worker, counts.events
    for names, emails, calls, minimums in (
        (("worker, per sent email", "worker"), worker.emails, worker.calls, worker.minimum),
        ((EVENTS_ROW, "SES events"), events.emails, events.calls, events.minimum),
    ):
        _per_email_rows(rows, far, names, emails=emails, calls=calls, minimums=minimums)
    for key, count in sorted(events.not_ours.items()):
        rows.append(
            [
                f"{EVENTS_ROW}: SES's side, not the service's",
                number(events.emails),
                key[0],
                key[1],
                f"{count / events.emails:.3f}",
                "—",
                "—",
            ]
        )
    if poll is not None:
        poll_minimum = {"dynamodb:GetItem": 1, "dynamodb:Query": 4}
        for label in sorted(set(poll) | set(poll_minimum)):
            count, minimum = poll.get(label, 0), poll_minimum.get(label, 0)
            service, action = label.split(":", 1)
            ratio = count / minimum if minimum else None
            rows.append(
                [
                    f"GET /bulks, one poll of a bulk of {bulk_emails:,}",
                    "—",
                    service,
                    action,
                    number(count),
                    number(minimum),
                    times(ratio),
                ]
            )
            if (ratio is None and count) or (ratio is not None and ratio > FAR):
                far.append(f"GET /bulks: {service} {action} ({number(count)} for a minimum of {number(minimum)})")
    idle = sum(case.idle_polls for case in counts.cases)
    checks = next((c.minimum.get(("dynamodb", "Query"), 0) for c in counts.cases if c.name.startswith("bulk")), 0)
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
        + (f": {poll_read_units:.1f} read units." if poll is not None else "."),
        "",
        table(["case", "emails", "service", "action", "calls", "design minimum", "ratio"], rows),
        "",
    ]
    if far:
        text += ["Far from the minimum: " + "; ".join(far) + ".", ""]
    else:
        text += ["Every count is at its design minimum.", ""]
    return "\n".join(text)


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
        rows.append([names[0], number(emails), key[0], key[1], per, f"{minimum / emails:.3f}", times(ratio)])
        if (ratio is None and count) or (ratio is not None and ratio > FAR):
            far.append(f"{names[1]}: {key[0]} {key[1]} ({per} per email)")


def per_email_of_bulk(counts: CallCounts) -> float:
    """A bulk send's calls per email (without an Idempotency-Key), its worker's included."""
    bulk = next(
        (case for case in counts.cases if case.name.startswith("bulk send") and "Idempotency" not in case.name), None
    )
    worker = counts.worker
    enqueue = bulk.total / bulk.emails if bulk and bulk.emails else 0.0
    return enqueue + sum(worker.calls.values()) / worker.emails
