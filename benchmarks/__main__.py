"""``python -m benchmarks``: start a local stack, measure, print the summary table.

python -m benchmarks                      # the full run; writes docs/benchmarks.md (make bench)
python -m benchmarks --smoke              # one small case of each figure, in minutes
python -m benchmarks --figure 2|3|10|11   # one figure alone, replaced in the page (with --smoke: small)
python -m benchmarks --figure 1|6         # figures 1 and 6 together (one stack; 6 takes 10's drain as input)
python -m benchmarks --output F --json J  # where the page and a JSON summary go
python -m benchmarks --keep               # keep the request log and the functions' logs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from benchmarks import (
    calls,
    cancel,
    capacity,
    coldstart,
    cost,
    drain,
    fairness,
    listing,
    pipeline,
    priority,
    report,
    schedule,
    writes,
)
from benchmarks.harness import BenchError, BenchStack, prepare_recording
from benchmarks.page import SummaryRow
from benchmarks.workload import DOMAIN, addresses, bulk_request, system_email
from local import motofix
from local.template import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    cold_runs: int
    cold_functions: tuple[str, ...] | None  # None: every handler
    batch: int
    bulk: int
    selected: int
    round_delay: int
    list_total: int
    list_limit: int
    list_pages: int
    pipeline: int
    ceiling: int
    samples: int
    bulks: int
    bulk_size: int
    write_bulk: int
    timeout: float
    cancel_bulk: int = 1000  # figure 8: the bulk send cancelled
    drain_emails: int = 1000  # figure 10: the bulk send drained at SES's rate
    backlog: int | None = None  # figure 10: the backlog (None: scaled from 10,000)
    drain_rate: float = drain.DEFAULT_RATE


FULL = Sizes(
    cold_runs=15,  # one run's ratio strays by 0.1-0.2 on a shared machine: the median needs many
    cold_functions=None,
    batch=100,
    bulk=1000,
    selected=100,
    round_delay=60,
    list_total=4_000,
    list_limit=50,
    list_pages=2,
    pipeline=1000,
    ceiling=300,
    samples=9,
    bulks=10,
    bulk_size=1000,
    write_bulk=1000,
    timeout=300,
)
SMOKE = Sizes(
    cold_runs=1,
    cold_functions=("EnqueueFunction",),
    batch=3,
    bulk=20,
    selected=2,
    round_delay=4,
    list_total=200,
    list_limit=10,
    list_pages=2,
    pipeline=20,
    ceiling=20,
    samples=1,
    bulks=2,
    bulk_size=100,
    write_bulk=20,
    timeout=60,
    cancel_bulk=20,
    drain_emails=20,
    backlog=20,
)


def _progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _warm_up(bench: BenchStack) -> None:
    """Every function imported once (its cold start), so that none is timed or counted."""
    job_ids = bench.enqueue(system_email(0))
    answer = bench.post_bulk(bench.token([DOMAIN]), bulk_request(DOMAIN, addresses(2, tag="warm-up")))
    bench.wait_sent([*job_ids, *answer["job_ids"]], timeout=60)
    bench.list_page(bench.token([DOMAIN]), {"domain": DOMAIN, "limit": "1"})


def _stack(workdir: Path, recording: Path) -> BenchStack:
    """The stack every figure but 10 runs on: the embedded SES without a sending rate (0, set
    explicitly), the functions' log to a file of the working folder."""
    return BenchStack(workdir, recording, ses_rate=0.0, functions_log=workdir / "functions.log")


def _case_costs(
    write_cases: writes.WriteCases, memory: dict[str, int], retention_days: float, drained: drain.DrainFigure
) -> list[cost.CaseUsage]:
    """Figure 6's cost of each case: a bulk's worker time from figure 10's drain."""
    return [
        writes.case_usage(
            case,
            memory_mb=memory,
            retention_days=retention_days,
            worker_seconds_per_email=drained.drain.worker_seconds_per_email if case.emails > 1 else None,
            worker_source=f"figure 10's drain of {drained.drain.emails:,} at {drained.drain.rate:g} emails a second",
        )
        for case in write_cases.cases
    ]


def run(sizes: Sizes, *, smoke: bool, workdir: Path) -> report.Results:
    recording = prepare_recording(workdir)
    motofix.apply()
    # The benchmarks purge a queue more than once a minute, which AWS (and moto,
    # by default) refuses: that rule is off in this process only.
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
    logging.getLogger("local").setLevel(logging.ERROR)
    # Two execution environments of the worker share Powertools' Metrics in this
    # process (figure 5): one may flush the other's, leaving it none to publish.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    _progress(f"working files (request log, functions' logs; removed at the end unless --keep): {workdir}")
    runtime, site = _runtime_site(workdir)

    bench = _stack(workdir, recording)
    functions_log = (workdir / "functions.log").open("w", encoding="utf-8")
    stdout = sys.stdout
    sys.stdout = functions_log  # the functions' structured logs, as CloudWatch would get them
    try:
        _progress("starting the local stack")
        bench.start()
        _warm_up(bench)
        # First: moto's TransactWriteItems copies every table it writes (its rollback), so a
        # keyed enqueue of 100 on a table of thousands of jobs outlasts the function's 30 s.
        _progress("AWS calls per email")
        counts = calls.measure(
            bench,
            batch=sizes.batch,
            bulk=sizes.bulk,
            selected=sizes.selected,
            delay=sizes.round_delay,
            timeout=sizes.timeout,
        )
        # Next: moto's Query reads the whole table, so the list figure runs before the
        # others add more jobs. Figure 1's are of another domain: only the * caller sees them.
        _progress(f"list cost: {sizes.list_total:,} jobs")
        lists = listing.measure(
            bench, total=sizes.list_total, limit=sizes.list_limit, pages=sizes.list_pages, alone=False
        )
        _progress("cold start: each handler imported and invoked once in fresh processes")
        cold = _cold_starts(bench, sizes, runtime=runtime, site=site, workdir=workdir)
        _progress(f"pipeline: a bulk send of {sizes.pipeline:,}, and the embedded AWS's ceiling")
        pipe = pipeline.measure(bench, size=sizes.pipeline, ceiling_size=sizes.ceiling, timeout=sizes.timeout)
        _progress(f"priority: escalations, idle and while {sizes.bulks} bulk sends of {sizes.bulk_size:,} drain")
        prio = priority.measure(bench, samples=sizes.samples, bulks=sizes.bulks, bulk_size=sizes.bulk_size)
        _progress(f"write units and cost per email: three cases, the last a bulk send of {sizes.write_bulk:,}")
        write_cases, write_segments = writes.measure(bench, bulk_size=sizes.write_bulk, timeout=sizes.timeout)
        _progress(f"cancelling a bulk send of {sizes.cancel_bulk:,}")
        canceled = cancel.measure(bench, size=sizes.cancel_bulk, timeout=sizes.timeout)
        # Last: its backlog's jobs stay in the table, where they would slow the list figure's queries.
        backlog = fairness.SMOKE_BACKLOG if smoke else fairness.FULL_BACKLOG
        _progress(f"fairness: a bulk send of {fairness.SMALL_BULK} while another domain's {backlog:,} drain")
        fair = fairness.measure(bench, backlog=backlog, samples=max(1, sizes.samples // 3), timeout=sizes.timeout)
        table_names = dict(bench.stack.names)
        memory = {name: function.config.memory_mb for name, function in bench.local.functions.items()}
        retention_days = float(bench.stack.parameters.get("RetentionDays", 90))
    finally:
        bench.stop()
        sys.stdout = stdout
        functions_log.close()

    drained = _drain(sizes, workdir)
    scheduled = _schedule(smoke, workdir)
    _progress("replaying the recorded writes")
    writes.replay(write_cases, write_segments, table_names)
    case_costs = _case_costs(write_cases, memory, retention_days, drained)
    poll = write_cases.cases[-1].poll
    model = capacity.model(
        [(case.name, case.ledger, case.emails) for case in write_cases.cases],
        poll_read_units=poll.read_units if poll else None,
    )
    return report.Results(
        smoke=smoke,
        machine=report.Machine.this_one(),
        calls=counts,
        cold=cold,
        lists=lists,
        pipeline=pipe,
        priority=prio,
        write_cases=write_cases,
        case_costs=case_costs,
        capacity=model,
        cancel=canceled,
        fairness=fair,
        drain=drained,
        schedule=scheduled,
        fixed=cost.fixed_monthly(),
    )


def _drain(sizes: Sizes, workdir: Path) -> drain.DrainFigure:
    """Figure 10, each part on a stack of its own in a process of its own."""
    size = sizes.backlog if sizes.backlog is not None else drain.scaled_backlog(sizes.drain_rate)
    _progress(
        f"drain at SES's rate ({sizes.drain_rate:g}/s): a bulk send of {sizes.drain_emails:,},"
        f" then a backlog of {size:,} with the sweeper"
    )
    return drain.measure(workdir, emails=sizes.drain_emails, backlog=size, rate=sizes.drain_rate)


def _schedule(smoke: bool, workdir: Path) -> schedule.Schedules:
    """Figure 11 on a stack of its own, in a process of its own."""
    plan = schedule.SMOKE if smoke else schedule.FULL
    _progress(
        f"scheduled sends: {plan.emails} escalations {plan.leads[0]:g}-{plan.leads[1]:g} s ahead, then"
        f" {plan.burst} due with a scheduled bulk of {plan.burst_bulk:,} (schedules every {plan.schedule_seconds} s)"
    )
    return schedule.measure_in_child(workdir, plan)


def run_list_figure(sizes: Sizes, *, workdir: Path) -> listing.ListCosts:
    """Figure 3 alone, on a stack of its own (``--figure 3``)."""
    recording = prepare_recording(workdir)
    motofix.apply()
    logging.getLogger("local").setLevel(logging.ERROR)
    bench = _stack(workdir, recording)
    functions_log = (workdir / "functions.log").open("w", encoding="utf-8")
    stdout = sys.stdout
    sys.stdout = functions_log
    try:
        _progress("starting the local stack")
        bench.start()
        bench.list_page(bench.token([DOMAIN]), {"domain": DOMAIN, "limit": "1"})  # the function imported once
        _progress(f"list cost: {sizes.list_total:,} jobs")
        return listing.measure(bench, total=sizes.list_total, limit=sizes.list_limit, pages=sizes.list_pages)
    finally:
        bench.stop()
        sys.stdout = stdout
        functions_log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--smoke", action="store_true", help="one small case of each figure (make test runs it)")
    parser.add_argument(
        "--output", type=Path, help=f"where the page goes (default: {DOC.relative_to(ROOT)}, or none with --smoke)"
    )
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the request log and the functions' logs")
    parser.add_argument(
        "--figure",
        type=int,
        choices=sorted(_ALONE),
        help="measure this figure alone and replace it (its section, summary rows, printed line and notes) in the page",
    )
    args = parser.parse_args(argv)
    if args.figure is not None:
        return _figure_alone(args, _ALONE[args.figure])
    output: Path | None = args.output or (None if args.smoke else DOC)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="emailops-bench-"))
    try:
        results = run(SMOKE if args.smoke else FULL, smoke=args.smoke, workdir=workdir)
    except BenchError as exc:
        print(f"error: {exc} (logs: {workdir})", file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report.render(results), encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps(report.summary_json(results), indent=2), encoding="utf-8")
    print(report.summary_table(results))
    print()
    print("\n".join(report.printed_lines(results)))
    if output is not None:
        print(f"\nDetails: {output}")
    _progress(f"done in {time.monotonic() - started:,.0f} s")
    return 0


def _cold_starts(bench: BenchStack, sizes: Sizes, *, runtime: str, site: Path, workdir: Path) -> coldstart.ColdStarts:
    """Figure 2: each handler's import and first invocation (a fresh event from the running
    stack), the libraries' floors, and each import from source, under the functions' runtime
    (Lambda's Python) when this machine has it."""
    events = coldstart.StackEvents(bench)
    try:
        cold = coldstart.measure(runs=sizes.cold_runs, site=site, events=events, functions=sizes.cold_functions)
    finally:
        events.close()
    environments = coldstart.template_environments()
    layer, functions_dir = coldstart.source_copy(site, workdir / "from-source")
    boto3_ms, from_source = coldstart.from_source(
        runs=sizes.cold_runs,
        layer=layer,
        functions_dir=functions_dir,
        environments=environments,
        functions=sizes.cold_functions,
    )
    return dataclasses.replace(
        cold,
        python=coldstart.python_version(),
        runtime=runtime,
        floors=coldstart.floors(runs=sizes.cold_runs, site=site),
        from_source=from_source,
        boto3_from_source_ms=boto3_ms,
    )


def _runtime_site(workdir: Path) -> tuple[str, Path]:
    """The interpreter figure 2 times imports with, and the layer's packages for
    it: the functions' runtime and a fresh install of them (returns its name, e.g.
    "python3.13"), else this interpreter and links to its own packages ("")."""
    python = coldstart.runtime_python()
    if python is not None:
        try:
            site = coldstart.runtime_site(python, workdir / "runtime-site")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            _progress(f"figure 2: the layer's packages did not install for {python} ({type(exc).__name__})")
        else:
            coldstart.use_python(python)
            return Path(python).name, site
    coldstart.use_python(sys.executable)
    return "", coldstart.lambda_like_site(workdir / "lambda-site")


def _remark(figure: int) -> str:
    machine = report.Machine.this_one()
    return (
        f"Figure {figure} was measured again alone (`python -m benchmarks --figure {figure}`), {machine.date}, at"
        f" commit {machine.commit}, with a load average of {os.getloadavg()[0]:.1f} on this machine; the"
        " other figures come from the full run above."
    )


def _measure_cold(sizes: Sizes, workdir: Path) -> coldstart.ColdStarts:
    """Figure 2 alone, on a stack of its own (``--figure 2``)."""
    recording = prepare_recording(workdir)
    motofix.apply()
    logging.getLogger("local").setLevel(logging.ERROR)
    runtime, site = _runtime_site(workdir)
    bench = _stack(workdir, recording)
    functions_log = (workdir / "functions.log").open("w", encoding="utf-8")
    stdout = sys.stdout
    sys.stdout = functions_log
    try:
        bench.start()
        _warm_up(bench)
        return _cold_starts(bench, sizes, runtime=runtime, site=site, workdir=workdir)
    finally:
        bench.stop()
        sys.stdout = stdout
        functions_log.close()


def run_calls_and_writes(
    sizes: Sizes, *, workdir: Path
) -> tuple[calls.CallCounts, writes.WriteCases, list[cost.CaseUsage], drain.DrainFigure]:
    """Figures 1 and 6 alone, on a stack of their own (``--figure 1`` or ``6``), as ``run``
    measures them; figure 10's drain is measured too, for figure 6's bulk worker time."""
    recording = prepare_recording(workdir)
    motofix.apply()
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
    logging.getLogger("local").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    bench = _stack(workdir, recording)
    functions_log = (workdir / "functions.log").open("w", encoding="utf-8")
    stdout = sys.stdout
    sys.stdout = functions_log
    try:
        _progress("starting the local stack")
        bench.start()
        _warm_up(bench)
        _progress("AWS calls per email")
        counts = calls.measure(
            bench,
            batch=sizes.batch,
            bulk=sizes.bulk,
            selected=sizes.selected,
            delay=sizes.round_delay,
            timeout=sizes.timeout,
        )
        _progress(f"write units and cost per email: three cases, the last a bulk send of {sizes.write_bulk:,}")
        write_cases, write_segments = writes.measure(bench, bulk_size=sizes.write_bulk, timeout=sizes.timeout)
        table_names = dict(bench.stack.names)
        memory = {name: function.config.memory_mb for name, function in bench.local.functions.items()}
        retention_days = float(bench.stack.parameters.get("RetentionDays", 90))
    finally:
        bench.stop()
        sys.stdout = stdout
        functions_log.close()
    drained = _drain(sizes, workdir)
    _progress("replaying the recorded writes")
    writes.replay(write_cases, write_segments, table_names)
    case_costs = _case_costs(write_cases, memory, retention_days, drained)
    return counts, write_cases, case_costs, drained


@dataclass(frozen=True)
class _Alone(Generic[T]):
    """How one figure is measured alone, put in the page, and printed."""

    label: str  # "figure 2", "figures 1 and 6"
    measure: Callable[[Sizes, Path], T]
    splice: Callable[[str, T], str]  # the page with the figure's parts replaced
    lines: Callable[[T], list[str]]  # what is printed
    as_json: Callable[[T], object] | None = None  # what --json writes, if anything


def _rows(rows: list[SummaryRow], printed: list[str]) -> list[str]:
    return [*(f"{row.what}: {row.measured}" for row in rows), *printed]


_ALONE: dict[int, _Alone[Any]] = {
    2: _Alone(
        "figure 2",
        _measure_cold,
        lambda page, cold: report.splice_cold_figure(page, cold, _remark(2)),
        lambda cold: [
            *(f"{row.what}: {row.measured} ({row.ratio:.2f}x)" for row in coldstart.summary_rows(cold)),
            coldstart.printed_line(cold),
        ],
    ),
    3: _Alone(
        "figure 3",
        lambda sizes, workdir: run_list_figure(sizes, workdir=workdir),
        lambda page, lists: report.splice_list_figure(page, lists, _remark(3)),
        lambda lists: _rows(listing.summary_rows(lists), [listing.printed_line(lists)]),
    ),
    10: _Alone(
        "figure 10",
        _drain,
        lambda page, figure: report.splice_drain_figure(page, figure, _remark(10)),
        lambda figure: _rows(drain.summary_rows(figure), [drain.printed_line(figure)]),
        dataclasses.asdict,
    ),
    11: _Alone(
        "figure 11",
        lambda sizes, workdir: _schedule(sizes is SMOKE, workdir),
        lambda page, figure: report.splice_schedule_figure(page, figure, _remark(11)),
        lambda figure: _rows(schedule.summary_rows(figure), [schedule.printed_line(figure)]),
        schedule.as_dict,
    ),
    1: _Alone(
        "figures 1 and 6",
        lambda sizes, workdir: run_calls_and_writes(sizes, workdir=workdir),
        lambda page, got: report.splice_calls_and_writes(page, *got),
        lambda got: _rows(
            [*calls.summary_rows(got[0]), *writes.summary_rows(got[1], got[2])],
            [calls.printed_line(got[0]), writes.printed_line(got[2])],
        ),
    ),
}
_ALONE[6] = _ALONE[1]


def _figure_alone(args: argparse.Namespace, alone: _Alone[Any]) -> int:
    """Measure one figure on a stack of its own and replace it in the page (its
    section, summary rows, printed line and notes); the rest of the page stays."""
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="emailops-bench-"))
    output: Path = args.output or DOC
    try:
        result = alone.measure(SMOKE if args.smoke else FULL, workdir)
    except BenchError as exc:
        print(f"error: {exc} (logs: {workdir})", file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    output.write_text(alone.splice(output.read_text(encoding="utf-8"), result), encoding="utf-8")
    if args.json is not None and alone.as_json is not None:
        args.json.write_text(json.dumps(alone.as_json(result), indent=2), encoding="utf-8")
    print("\n".join(alone.lines(result)))
    _progress(f"{alone.label} done in {time.monotonic() - started:,.0f} s; written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
