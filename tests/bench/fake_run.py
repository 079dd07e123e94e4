"""A whole run's results, made up but shaped like a real one, for rendering
docs/benchmarks.md without measuring: every figure, every branch of its text
that a real run can reach (a count above its minimum, a function over the cold
start goal, a list page that failed, a goal missed, a cancel handed on)."""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmarks import calls, capacity, ceiling, coldstart, cost, listing, pipeline, priority, report, writes
from benchmarks.cancel import CancelCost
from benchmarks.fairness import Fairness
from benchmarks.fairness import Sample as FairSample
from benchmarks.ledger import TABLE, KeyUnits, Ledger, Write
from common.adapters.index_keys import KeyedJob, index_attributes
from common.models.job import JobStatus, JobType

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
            {calls.BWI: 1, calls.SMB: 1, calls.BATCH_GET: 1},
            2,
            0.5,
        ),
        # One call above its minimum, and one the design does not make at all
        calls.CaseResult(
            "enqueue 100",
            100,
            {calls.BWI: 14, calls.SMB: 10, calls.BATCH_GET: 1, calls.PUT: 1},
            {calls.BWI: 8, calls.SMB: 10, calls.BATCH_GET: 1},
            0,
            2.0,
        ),
        calls.CaseResult(
            "bulk send of 20",
            20,
            {calls.BWI: 1, calls.SMB: 2, q: 29, calls.UPDATE: 1},
            {calls.BWI: 1, calls.SMB: 2, q: 29, calls.UPDATE: 1},
            1,
            1.0,
        ),
        calls.CaseResult(
            "bulk send of 20, Idempotency-Key, 2 selected rows",
            20,
            {calls.PUT: 21, q: 29},
            {calls.PUT: 21, q: 29},
            0,
            1.0,
        ),
    ]
    worker = calls.WorkerResult(
        emails=141,
        calls={calls.UPDATE: 282, calls.SEND: 141, calls.RECEIVE: 16, calls.DELETE: 15, calls.BATCH_GET: 30},
        empty_polls=7,
        invocations=15,
    )
    events = calls.EventsResult(
        emails=141,
        calls={calls.UPDATE: 141, calls.RECEIVE: 15, calls.DELETE: 15},
        not_ours={calls.PUT_EVENTS: 141},
        empty_polls=3,
    )
    return calls.CallCounts(
        rounds=[calls.Round(cases=cases, worker=worker, events=events)],
        enqueue_ms={"enqueue 1": 40.0, "enqueue 1, idempotency key": 55.0},
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
            ),
            coldstart.ColdStart(
                "ListJobsFunction",
                180.0,
                15,
                1.64,
                [cost_("aws_lambda_powertools", 40.0, 70.0)],
                [],
                middle_half=(1.5, 1.7),
            ),
            coldstart.ColdStart("PageFunction", 33.0, 15, 0.3, [], []),
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
            row("one domain", "domain=list-a.example", "ByDomain", 4, 2, 8, 102, 100, 100, 6.5, ""),
            row("one domain", "type=escalation, recipient", "ByRecipient", 1, 2, 4, 433, 100, 100, 20.0, "the filter"),
            row("every domain (*)", "status=sent", "ByScope", 16, 2, 60, 17368, 100, 100, 300.0, "none identified"),
            row("two domains", "status=queued", "InFlight", 8, 1, 3, 0, 0, 0, 0.0, "the page failed: 500"),
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


def _job_writes() -> cost.JobWrites:
    job = KeyedJob("01JGQ6Z1T8W3Y5K7M9P2R4S6V8", "acme.com", JobType.AI_FOLLOWUP, "a@b.org", JobStatus.QUEUED)
    common = {"pk": {"S": job.job_id}, "job_id": {"S": job.job_id}, "body_text": {"S": "x" * 1500}}

    def state(status: JobStatus, attempts: str, **more: dict[str, str]) -> dict[str, Any]:
        keyed = {name: {"S": value} for name, value in index_attributes(job._replace(status=status)).items()}
        return {**common, **keyed, "attempts": {"N": attempts}, **more}

    created = state(JobStatus.QUEUED, "0", due_at={"N": "100"})
    claimed = state(JobStatus.SENDING, "1", due_at={"N": "160"})
    sent = state(JobStatus.SENT, "1", sent_at={"S": "2026-01-01T00:00:00.000Z"})
    marker = {"pk": {"S": "idem#k"}, "job_id": {"S": job.job_id}}
    return cost.job_writes(created, claimed, sent, marker)


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
    return writes.WriteCases(
        [
            writes.WriteCase("one email, 2 KB body", 1, small, 0, 0, {}, 2000),
            writes.WriteCase("one email, 100,000-character body", 1, large, 1, 1, {}, 100_000),
            writes.WriteCase("bulk send of 4, 50 KB HTML body", 4, bulk, 1, 4, {}, 50_000, poll=poll),
        ]
    )


def results(*, cancel: bool = True, fairness: bool = True, pace: float = 0.5) -> report.Results:
    """A run's results; ``pace``: the pipeline's share of the embedded AWS's ceiling."""
    counts = _counts()
    job = _job_writes()
    inputs = cost.CostInputs(
        memory_gb=0.25,
        enqueue_ms=40.0,
        enqueue_keyed_ms=55.0,
        bulk_ms=900.0,
        bulk_size=1000,
        worker_single_ms=45.0,
        worker_batch_ms=250.0,
        worker_invocations_per_email=0.1,
        sqs_per_email_alone=3.0,
        sqs_per_email_bulk=0.3,
        idempotency_wru_per_bulk=4.0,
    )
    paths = cost.paths(inputs, job)
    cases = _write_cases()
    case_costs = [
        cost.CaseCost(
            case.name,
            case.wru_per_email,
            case.rru_per_email,
            case.s3_puts / case.emails,
            case.s3_gets / case.emails,
            paths[-1] if case.emails > 1 else paths[0],
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
        writes=job,
        paths=paths,
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
    )


def variants() -> dict[str, report.Results]:
    """Runs that take the text's other branches: every figure within its goal where it can be,
    figures 8 and 9 absent, a figure 1 at its minimum, figure 3 measured alone."""
    met = results(cancel=False, fairness=False, pace=0.95)
    at_minimum = calls.CallCounts(
        rounds=[dataclasses.replace(met.calls.rounds[0], cases=[met.calls.cases[0], *met.calls.cases[2:]])],
        enqueue_ms=met.calls.enqueue_ms,
    )
    worker = dataclasses.replace(at_minimum.rounds[0].worker, calls=dict(at_minimum.rounds[0].worker.minimum))  # type: ignore[arg-type]
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
