"""A whole run's results, made up but shaped like a real one, for rendering
docs/benchmarks.md without measuring: every figure, every branch of its text
that a real run can reach (a count above its minimum, a function over the cold
start goal, a list page that failed, a goal missed, a cancel handed on)."""

from __future__ import annotations

import dataclasses

from benchmarks import (
    calls,
    capacity,
    ceiling,
    coldstart,
    cost,
    drain,
    listing,
    pipeline,
    priority,
    report,
    schedule,
    writes,
)
from benchmarks.cancel import CancelCost
from benchmarks.fairness import Fairness
from benchmarks.fairness import Sample as FairSample
from benchmarks.harness import Usage
from benchmarks.ledger import TABLE, KeyUnits, Ledger, Write

MACHINE = report.Machine(
    arch="x86_64",
    cpu="Test CPU",
    cores=2,
    python="3.11.7",
    system="Linux 6.0",
    date="2026-01-01 00:00 UTC",
    commit="abc1234",
)


def _counts() -> calls.CallCounts:
    q = calls.QUERY
    cases = [
        calls.CaseResult(
            "enqueue 1",
            1,
            {calls.BWI: 1, calls.SMB: 1, calls.BATCH_GET: 1},
            calls.enqueue_needs(1),
            2,
            0.5,
        ),
        # A call the model does not need
        calls.CaseResult(
            "enqueue 100",
            100,
            {calls.BWI: 14, calls.SMB: 10, calls.BATCH_GET: 1, calls.PUT: 1},
            calls.enqueue_needs(100),
            0,
            2.0,
        ),
    ]
    worker = calls.WorkerResult(
        emails=101,
        calls={calls.UPDATE: 202, calls.SEND: 101, calls.RECEIVE: 12, calls.DELETE: 11, calls.BATCH_GET: 22},
        empty_polls=7,
        invocations=11,
    )
    events = calls.EventsResult(
        emails=101,
        calls={calls.UPDATE: 101, calls.RECEIVE: 11, calls.DELETE: 11},
        not_ours={calls.PUT_EVENTS: 101},
        empty_polls=3,
    )
    bulk = calls.CaseResult(
        "bulk send of 20",
        20,
        {calls.BWI: 1, calls.SMB: 2, q: 29, calls.UPDATE: 1, calls.BATCH_GET: 1},
        calls.bulk_needs(20),
        1,
        1.0,
    )
    bulk_worker = calls.WorkerResult(
        emails=20,
        calls={
            calls.UPDATE: 40,
            calls.GET: 20,
            calls.SEND: 20,
            calls.RECEIVE: 2,
            calls.DELETE: 2,
            calls.BATCH_GET: 3,
        },
        empty_polls=1,
        invocations=2,
    )
    bulk_events = calls.EventsResult(
        emails=20,
        calls={calls.UPDATE: 20, calls.RECEIVE: 2, calls.DELETE: 2},
        not_ours={calls.PUT_EVENTS: 20},
        empty_polls=0,
    )
    keyed = calls.CaseResult(
        "bulk send of 20, Idempotency-Key, 2 selected rows",
        20,
        {calls.PUT: 21, q: 29},
        calls.bulk_needs(20, selected=2, keyed=True),
        0,
        1.0,
    )
    return calls.CallCounts(
        rounds=[
            calls.Round(cases=cases, worker=worker, events=events),
            calls.Round(cases=[bulk], worker=bulk_worker, events=bulk_events),
            calls.Round(cases=[keyed], worker=None),
        ],
        enqueue_ms={"enqueue 1": 40.0},
    )


def _cold() -> coldstart.ColdStarts:
    cost_ = coldstart.ImportCost
    return coldstart.ColdStarts(
        boto3_ms=110.0,
        runs=15,
        functions=[
            coldstart.ColdStart(
                "EnqueueFunction",
                154.0,
                15,
                1.37,
                [cost_("botocore", 60.0, 90.0), cost_("pydantic", 30.0, 40.0)],
                [cost_("common.models.job", 5.0, 8.0)],
                middle_half=(1.31, 1.44),
                invoke_ms=60.0,
                floor_ms=170.0,
                clients=("dynamodb", "sqs"),
                ratio_to_floor=1.26,
                floor_middle_half=(1.2, 1.3),
            ),
            coldstart.ColdStart(
                "ListJobsFunction",
                180.0,
                15,
                1.64,
                [cost_("aws_lambda_powertools", 40.0, 70.0)],
                [],
                middle_half=(1.5, 1.7),
                invoke_ms=90.0,
                floor_ms=170.0,
                clients=("dynamodb", "secretsmanager"),
                ratio_to_floor=1.59,
                error="answered 500",
            ),
            coldstart.ColdStart(
                "PageFunction", 33.0, 15, 0.3, [], [], invoke_ms=2.0, floor_ms=110.0, ratio_to_floor=0.32
            ),
        ],
        python="3.13.0",
        runtime="python3.13",
        floors=[
            coldstart.Floor(
                "every function but the page", "import gc; gc.disable(); import botocore.session", 120.0, 1.09
            ),
            coldstart.Floor("the API functions", "import gc; gc.disable(); import x", 140.0, 1.27),
            coldstart.Floor(coldstart.BOTO3_PAUSED, "import gc; gc.disable(); import boto3", 100.0, 0.91),
        ],
        from_source=[coldstart.FromSource("EnqueueFunction", 700.0, 1.4)],
        boto3_from_source_ms=500.0,
    )


def _lists(*, alone: bool = False) -> listing.ListCosts:
    row = listing.ListCost
    return listing.ListCosts(
        jobs=4000,
        failed=1,
        limit=50,
        rows=[
            row("one domain", "domain=list-a.example", 2, 10, 5, 204, 100, 6.5, "ByDomain x8"),
            row("one domain", "type=escalation, recipient", 1, 3, 3, 60, 20, 2.0, "ByRecipient x3"),
            row("every domain (*)", "status=sent", 2, 400, 213, 17368, 100, 300.0, "ByScope x400"),
            row("every domain (*)", "status=queued", 0, 0, 0, 0, 0, 0.0, "—", "the page failed: 500"),
        ],
        statuses={"delivered": 2000, "sent": 1000, "queued": 1000},
        bulk_size=1000,
        alone=alone,
    )


def _pipeline(*, ratio_of_ceiling: float = 0.5) -> pipeline.Pipeline:
    return pipeline.Pipeline(
        emails=1000,
        seconds=1000 / (30 * ratio_of_ceiling),
        worker_invocations=100,
        worker_ms=250.0,
        bulk_ms=900.0,
        ceiling=ceiling.Ceiling(emails=300, calls=1800, seconds=10.0),  # 30 emails/s
    )


def _priority() -> priority.Priority:
    s = priority.Sample
    return priority.Priority(
        idle=[s(30.0, 0), s(28.0, 0), s(29.0, 0)],
        loaded=[s(80.0, 9000), s(90.0, 8800), s(86.0, 8600)],
        control=[s(60.0, 0), s(62.0, 0), s(64.0, 0)],
        bulks=10,
        bulk_size=1000,
        post_seconds=12.5,
        worker_single_ms=45.0,
    )


def _write(kind: str, before: str | None, after: str, entries: list[tuple[str, str, float]]) -> Write:
    table = sum(n for index, _, n in entries if index == TABLE)
    by_index: dict[str, float] = {}
    for index, _, n in entries:
        if index != TABLE:
            by_index[index] = by_index.get(index, 0.0) + n
    return Write("UpdateItem", kind, before, after, table, by_index, tuple(KeyUnits(*e) for e in entries))


def _life(job: str, *, bulk: str | None = None) -> list[Write]:
    on_bulk = [("ByBulk", f"{bulk}#0", 1.0)] if bulk else []
    return [
        _write(
            "job",
            None,
            "queued",
            [(TABLE, job, 1.0), ("ByDomain", "acme.com#0", 1.0), ("InFlight", "f#0", 1.0), *on_bulk],
        ),
        _write("job", "queued", "sending", [(TABLE, job, 1.0), *on_bulk]),
        _write("job", "sending", "sent", [(TABLE, job, 2.0), *on_bulk]),
        _write("job", "sent", "delivered", [(TABLE, job, 1.0), ("InFlight", "f#0", 1.0), *on_bulk]),
    ]


def _write_cases() -> writes.WriteCases:
    small = Ledger([*_life("J1"), _write("body", None, "queued", [(TABLE, "b#J1", 1.0)])], read_units=2.5)
    large = Ledger([*_life("J2"), _write("body", None, "queued", [(TABLE, "b#J2", 1.0)])], read_units=3.0)
    bulk = Ledger(
        [_write("bulk", None, "queued", [(TABLE, "k#B", 2.0)]), _write("body", None, "queued", [(TABLE, "b#B", 13.0)])]
        + [w for i in range(4) for w in _life(f"J{10 + i}", bulk="B")],
        read_units=10.0,
    )
    poll = writes.Poll({"dynamodb:GetItem": 1, "dynamodb:Query": 4}, queries=4, entries_read=4, read_units=2.5)
    one = Usage(
        {"EnqueueFunction": 1, "SendWorkerFunction": 1, "SesEventsFunction": 1},
        {"EnqueueFunction": 0.05, "SendWorkerFunction": 0.08, "SesEventsFunction": 0.04},
        1200,
        6,
    )
    many = Usage(
        {"BulkQueueFunction": 1, "SendWorkerFunction": 1, "SesEventsFunction": 1},
        {"BulkQueueFunction": 0.5, "SendWorkerFunction": 0.2, "SesEventsFunction": 0.1},
        3000,
        14,
    )
    return writes.WriteCases(
        [
            writes.WriteCase(
                "one email, 2 KB body",
                1,
                small,
                0,
                0,
                {},
                2000,
                usage=one,
                sqs_requests=6,
                ses_events=1,
                stored_bytes=2500,
            ),
            writes.WriteCase(
                "one email, 100,000-character body",
                1,
                large,
                1,
                1,
                {},
                100_000,
                usage=one,
                sqs_requests=6,
                ses_events=1,
                s3_bytes=60_000,
                stored_bytes=2500,
                secrets_calls=1,
            ),
            writes.WriteCase(
                "bulk send of 4, 50 KB HTML body",
                4,
                bulk,
                1,
                4,
                {},
                50_000,
                poll=poll,
                usage=many,
                sqs_requests=9,
                ses_events=4,
                s3_bytes=20_000,
                stored_bytes=9000,
            ),
        ]
    )


def _drain() -> drain.DrainFigure:
    return drain.DrainFigure(
        drain.Drain(
            emails=1000,
            rate=20.0,
            reported_rate=20.0,
            seconds=180.0,
            worker_invocations=100,
            worker_seconds=170.0,
            worker_memory_mb=512,
            throttled=12,
            retried=10,
            parameters={},
        ),
        drain.Backlog(
            emails=952,
            rate=20.0,
            seconds=340.0,
            drained=True,
            sent=952,
            sweeps=[drain.Sweep(900, 0, 0, 70, 900), drain.Sweep(800, 300, 300, 75, 1200)],
        ),
    )


def results(*, cancel: bool = True, fairness: bool = True, pace: float = 0.5) -> report.Results:
    """A run's results; ``pace``: the pipeline's share of the embedded AWS's ceiling."""
    counts = _counts()
    cases = _write_cases()
    figure = _drain()
    case_costs = [
        writes.case_usage(
            case,
            memory_mb={"BulkQueueFunction": 512},
            retention_days=90,
            worker_seconds_per_email=figure.drain.worker_seconds_per_email if case.emails > 1 else None,
            worker_source="figure 10",
        )
        for case in cases.cases
    ]
    poll = cases.cases[-1].poll
    model = capacity.model(
        [(c.name, c.ledger, c.emails) for c in cases.cases], poll_read_units=poll.read_units if poll else None
    )
    return report.Results(
        smoke=False,
        machine=MACHINE,
        calls=counts,
        cold=_cold(),
        lists=_lists(),
        pipeline=_pipeline(ratio_of_ceiling=pace),
        priority=_priority(),
        write_cases=cases,
        case_costs=case_costs,
        capacity=model,
        cancel=CancelCost(
            1000, 600, 400, 8.1, 14.2, {"dynamodb:GetItem": 3, "dynamodb:Query": 12, "dynamodb:UpdateItem": 1001}
        )
        if cancel
        else None,
        fairness=Fairness(
            [FairSample(200.0, 0), FairSample(210.0, 0)],
            [FairSample(320.0, 3000, 4000, 2.0), FairSample(330.0, 2800, 3900, 2.1)],
            backlog=5000,
        )
        if fairness
        else None,
        drain=figure if cancel else None,
        schedule=_schedule() if cancel else None,
        fixed=cost.fixed_monthly(),
    )


def _schedule() -> schedule.Schedules:
    return schedule.Schedules(
        lateness=[0.4, 0.6, 0.7, 0.9, 1.1, 1.3],
        leads=(70.0, 150.0),
        burst_bulk=1000,
        burst_lateness=[0.5, 0.8],
        bulk_last_seconds=61.5,
        schedule_seconds=60,
    )


def variants() -> dict[str, report.Results]:
    """Runs that take the text's other branches: every figure within its goal where it can be,
    figures 8 and 9 absent, a figure 1 at its minimum, figure 3 measured alone."""
    met = results(cancel=False, fairness=False, pace=0.95)
    at_minimum = calls.CallCounts(
        rounds=[dataclasses.replace(met.calls.rounds[0], cases=[met.calls.cases[0]])],
        enqueue_ms=met.calls.enqueue_ms,
    )
    # The worker at the first-principles minimum: per batch one read, per email a claim, a send, an outcome
    worker = calls.WorkerResult(101, {calls.UPDATE: 202, calls.SEND: 101, calls.BATCH_GET: 11}, 0, 11)
    at_minimum.rounds[0].worker = worker
    heavy = Ledger([_write("job", None, "queued", [(TABLE, "J", 1.0), ("ByDomain", "acme.com#0", 40.0)])])
    full = results()
    return {
        "full": full,
        "over capacity": dataclasses.replace(full, capacity=capacity.model([("heavy", heavy, 1)])),
        "met": dataclasses.replace(
            met,
            calls=at_minimum,
            cold=dataclasses.replace(met.cold, functions=met.cold.functions[:1], runtime="", from_source=[], floors=[]),
            lists=_lists(alone=True),
        ),
    }
