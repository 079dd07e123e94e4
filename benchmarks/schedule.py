"""Figure 11: scheduled sends, how late after ``send_at`` (issue #29).

Through the local stack, with its schedules run at the template's rate
(``SchedulerFunction``: every 60 s; locally a run starts that long after the
last one ended, one at a time): escalations enqueued one by one with a
``send_at`` 70 to 150 s ahead (scheduled more than a run's period ahead, the
case the design is for), then a scheduled bulk send whose jobs are due the
same second as a few escalations. Lateness is each job's own record: its
``sent_at`` (SES accepted it) minus its ``send_at``, so it includes the
worker's receive and the send as well as the scheduler's release.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchError, BenchStack, prepare_recording
from benchmarks.page import SummaryRow, table
from benchmarks.workload import DOMAIN, addresses, bulk_request, system_email

FIGURE = "11. Scheduled sends"
HEADLINE = "scheduled send lateness, p99 seconds"
GOAL_SECONDS = 60.0  # the contract: queued within 60 s after send_at
SCHEDULE_SECONDS = 60  # the template's rate(1 minute)


@dataclass(frozen=True)
class Schedules:
    lateness: list[float]  # seconds, sent_at - send_at, one per escalation scheduled alone
    leads: tuple[float, float]  # the send_at range, seconds ahead of enqueueing
    burst_bulk: int  # jobs of the scheduled bulk send due with the burst's escalations
    burst_lateness: list[float]  # the escalations due the same second as the bulk
    bulk_last_seconds: float | None  # the bulk's last job sent, seconds after send_at
    schedule_seconds: int

    @property
    def p99(self) -> float:
        return percentile(self.lateness, 99)

    @property
    def p50(self) -> float:
        return percentile(self.lateness, 50)

    @property
    def burst_max(self) -> float:
        return max(self.burst_lateness, default=0.0)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _lateness(bench: BenchStack, job_ids: list[str], send_at: dict[str, datetime], timeout: float) -> list[float]:
    jobs = bench.wait_sent(job_ids, timeout=timeout, interval=0.5)
    return [(_parse(str(job["sent_at"])) - send_at[str(job["job_id"])]).total_seconds() for job in jobs]


def measure_on(
    bench: BenchStack, *, emails: int, leads: tuple[float, float], spread: float, burst_bulk: int, burst: int
) -> Schedules:
    """On a started stack whose schedules run: ``emails`` escalations enqueued over
    ``spread`` seconds, each ``leads`` seconds ahead; then ``burst`` escalations
    and a bulk send of ``burst_bulk`` due the same second."""
    rng = random.Random(29)
    run_id = uuid.uuid4().hex[:6]
    send_at: dict[str, datetime] = {}
    started = time.monotonic()
    for index in range(emails):
        at = started + spread * index / max(1, emails)
        time.sleep(max(0.0, at - time.monotonic()))
        due = datetime.now(UTC) + timedelta(seconds=rng.uniform(*leads))
        request = system_email(index, kind="escalation") | {"send_at": _stamp(due)}
        (job_id,) = bench.enqueue(request)
        send_at[job_id] = _parse(_stamp(due))
    lateness = _lateness(bench, list(send_at), send_at, timeout=leads[1] + spread + 4 * SCHEDULE_SECONDS)

    burst_due = _parse(_stamp(datetime.now(UTC) + timedelta(seconds=leads[0])))
    burst_ids: list[str] = []
    bulk_ids: list[str] = []
    if burst_bulk:
        body = bulk_request(DOMAIN, addresses(burst_bulk, tag=f"sched-{run_id}")) | {"send_at": _stamp(burst_due)}
        answer = bench.post_bulk(bench.token([DOMAIN]), body)
        bulk_ids = [str(job_id) for job_id in answer["job_ids"]]
    for index in range(burst):
        request = system_email(1000 + index, kind="escalation") | {"send_at": _stamp(burst_due)}
        burst_ids += bench.enqueue(request)
    burst_times = dict.fromkeys([*burst_ids, *bulk_ids], burst_due)
    burst_lateness = _lateness(bench, burst_ids, burst_times, timeout=leads[0] + 4 * SCHEDULE_SECONDS) if burst else []
    last: float | None = None
    if bulk_ids:
        sent = bench.wait_sent(bulk_ids, timeout=leads[0] + 4 * SCHEDULE_SECONDS + burst_bulk, interval=1.0)
        last = max((_parse(str(job["sent_at"])) - burst_due).total_seconds() for job in sent)
    return Schedules(
        lateness=lateness,
        leads=leads,
        burst_bulk=burst_bulk,
        burst_lateness=burst_lateness,
        bulk_last_seconds=last,
        schedule_seconds=bench.schedule_seconds or SCHEDULE_SECONDS,
    )


def measure(
    workdir: Path,
    *,
    emails: int,
    leads: tuple[float, float],
    spread: float,
    burst_bulk: int,
    burst: int,
    schedule_seconds: int = SCHEDULE_SECONDS,
) -> Schedules:
    """Figure 11 on a stack of its own whose schedules run every ``schedule_seconds``."""
    recording = prepare_recording(workdir)
    from local import motofix  # noqa: PLC0415 - moto only once its recorder is pointed at its file

    motofix.apply()
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
    logging.getLogger("local").setLevel(logging.ERROR)
    bench = BenchStack(workdir, recording, ses_rate=0.0, schedule_seconds=schedule_seconds)
    with (workdir / "functions.log").open("w", encoding="utf-8") as log:
        stdout, sys.stdout = sys.stdout, log
        try:
            bench.start()
            bench.wait_sent(bench.enqueue(system_email(0, kind="escalation")), timeout=60)  # cold start, not timed
            return measure_on(bench, emails=emails, leads=leads, spread=spread, burst_bulk=burst_bulk, burst=burst)
        except BenchError:
            raise
        finally:
            bench.stop()
            sys.stdout = stdout


@dataclass(frozen=True)
class Plan:
    emails: int
    leads: tuple[float, float]
    spread: float
    burst_bulk: int
    burst: int
    schedule_seconds: int


FULL = Plan(emails=40, leads=(70.0, 150.0), spread=60.0, burst_bulk=1000, burst=5, schedule_seconds=SCHEDULE_SECONDS)
# make test's smoke run: seconds, not minutes (schedules every 2 s, a few seconds ahead).
SMOKE = Plan(emails=3, leads=(4.0, 6.0), spread=2.0, burst_bulk=20, burst=2, schedule_seconds=2)
_RESULT = "schedule-result.json"


def measure_in_child(workdir: Path, plan: Plan) -> Schedules:
    """Figure 11 in a process of its own (its own embedded AWS), as figure 10 is."""
    where = workdir / "schedule"
    where.mkdir(parents=True, exist_ok=True)
    smoke = ["--smoke"] if plan == SMOKE else []
    budget = plan.spread + plan.leads[1] + 10 * plan.schedule_seconds + plan.burst_bulk + 300
    done = subprocess.run(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "benchmarks.schedule", "--workdir", str(where), *smoke],
        timeout=budget,
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchError(f"figure 11 failed: {done.stderr[-500:]}")
    return from_json(json.loads((where / _RESULT).read_text(encoding="utf-8")))


def from_json(data: dict[str, Any]) -> Schedules:
    return Schedules(
        lateness=[float(v) for v in data["lateness"]],
        leads=(float(data["leads"][0]), float(data["leads"][1])),
        burst_bulk=int(data["burst_bulk"]),
        burst_lateness=[float(v) for v in data["burst_lateness"]],
        bulk_last_seconds=None if data["bulk_last_seconds"] is None else float(data["bulk_last_seconds"]),
        schedule_seconds=int(data["schedule_seconds"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.schedule")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    figure = measure(
        args.workdir,
        emails=plan.emails,
        leads=plan.leads,
        spread=plan.spread,
        burst_bulk=plan.burst_bulk,
        burst=plan.burst,
        schedule_seconds=plan.schedule_seconds,
    )
    data = {
        "lateness": figure.lateness,
        "leads": list(figure.leads),
        "burst_bulk": figure.burst_bulk,
        "burst_lateness": figure.burst_lateness,
        "bulk_last_seconds": figure.bulk_last_seconds,
        "schedule_seconds": figure.schedule_seconds,
    }
    (args.workdir / _RESULT).write_text(json.dumps(data), encoding="utf-8")
    return 0


# ---------------------------------------------------------------- the page
def printed_line(f: Schedules) -> str:
    """``scheduled send lateness, p99 seconds: N`` (issue #29's wording)."""
    return f"{HEADLINE}: {f.p99:.1f}"


def summary_rows(f: Schedules) -> list[SummaryRow]:
    rows = [
        SummaryRow(
            FIGURE,
            f"{len(f.lateness)} escalations scheduled {f.leads[0]:g}-{f.leads[1]:g} s ahead: sent_at - send_at, p99",
            f"{f.p99:.1f} s",
            f"≤ {GOAL_SECONDS:g} s (queued within 60 s after send_at)",
            f.p99 / GOAL_SECONDS,
        )
    ]
    if f.burst_lateness:
        rows.append(
            SummaryRow(
                FIGURE,
                f"{len(f.burst_lateness)} escalations due the same second as a scheduled bulk of"
                f" {f.burst_bulk:,}: latest",
                f"{f.burst_max:.1f} s",
                f"≤ {GOAL_SECONDS:g} s",
                f.burst_max / GOAL_SECONDS,
            )
        )
    return rows


def notes(f: Schedules) -> list[str]:
    if f.p99 <= GOAL_SECONDS and f.burst_max <= GOAL_SECONDS:
        return []
    return [
        f"- **Scheduled sends**: p99 {f.p99:.1f} s after send_at (escalations due with a bulk: at worst"
        f" {f.burst_max:.1f} s), over the {GOAL_SECONDS:g} s promised (figure 11)."
    ]


def _cadence(seconds: int) -> str:
    return "the template's rate" if seconds == SCHEDULE_SECONDS else "a smoke run: not the template's 60"


def section(f: Schedules) -> str:
    rows = [
        ["escalations scheduled alone", f"{len(f.lateness)}, each {f.leads[0]:g}-{f.leads[1]:g} s ahead"],
        ["lateness p50 / p99 / max", f"{f.p50:.1f} / {f.p99:.1f} / {max(f.lateness, default=0.0):.1f} s"],
        [
            "schedules run every",
            f"{f.schedule_seconds} s"
            + (
                " (the template's rate)"
                if f.schedule_seconds == SCHEDULE_SECONDS
                else " (a smoke run: not the template's 60)"
            ),
        ],
    ]
    if f.burst_lateness:
        rows.append(
            [
                f"escalations due with a scheduled bulk of {f.burst_bulk:,}",
                f"{len(f.burst_lateness)}, latest {f.burst_max:.1f} s after send_at",
            ]
        )
    if f.bulk_last_seconds is not None:
        rows.append(
            ["the bulk's last job sent", f"{f.bulk_last_seconds:.1f} s after send_at (drained at the stack's rate)"]
        )
    return "\n".join(
        [
            f"## {FIGURE}",
            "",
            "How late after its `send_at` a scheduled email is sent: each job's `sent_at` minus its",
            "`send_at`, through the local stack with its schedules run at the template's rate",
            "(`SchedulerFunction` every minute, docs/adr/0081-scheduled-sends-from-the-due-index.md). It",
            "includes the scheduler's release (within a second of `send_at`: a run waits for what is due in",
            "its minute), the worker's receive and SES's answer.",
            "",
            table(["", ""], rows),
            "",
            f"Printed: `{printed_line(f)}`.",
            "",
        ]
    )


def as_dict(f: Schedules) -> dict[str, Any]:
    return {
        "p50": f.p50,
        "p99": f.p99,
        "lateness": f.lateness,
        "burst_lateness": f.burst_lateness,
        "burst_bulk": f.burst_bulk,
        "bulk_last_seconds": f.bulk_last_seconds,
    }


if __name__ == "__main__":
    sys.exit(main())
