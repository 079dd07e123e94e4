"""Figure 10: a bulk send drained at SES's rate, and the sweeper under a backlog.

Each part runs on a local stack of its own, in a process of its own
(``python -m benchmarks.drain``; the rest of ``make bench`` runs on a stack
without an SES rate): the embedded SES's sending rate is set explicitly
(``EMAILOPS_SES_MAX_SEND_RATE``'s setting, contract section 6) and read back
with SES v2 ``GetAccount``, which the workers read too: they pace to it
(``common/logic/pacing.py``), as they pace to the account's rate in AWS.

- **The drain**: one bulk send of 1,000 from its ``POST`` to the last
  ``sent_at``, against the ideal at SES's rate (1,000 ÷ rate seconds); the
  goal is at most 1.2 x ideal + 60 s. The worker's invocations over the drain
  (their wall time, waits for its turn included: what Lambda bills) go to
  figure 6's cost.
- **The backlog**: a drain of 10,000 at the template's defaults (14 emails a
  second, a job due again 900 s after it was queued, a sweep every 5 minutes),
  reproduced on a scale this machine can run: the sweep grace at its minimum
  (60 s), sweeps every 20 s, and as many emails as keep the backlog's drain
  time in the same ratio to the grace. Every job the sweeper queues again
  while its first message still waits is a duplicate message; each sweep's
  DynamoDB requests and items read are set against the backlog it found.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchError, BenchStack, prepare_recording
from benchmarks.page import SummaryRow, table
from benchmarks.workload import addresses, bulk_request

DEFAULT_RATE = 20.0  # the embedded SES's default rate (contract section 6)
DRAIN_DOMAIN = "drain.example"
HEADLINE = "bulk drain ÷ ideal at SES's rate"
SLACK = 1.2  # the contract: N emails in at most 1.2 x N ÷ rate seconds + 60 s
GRACE_SECONDS = 60.0
# What the backlog part reproduces: a drain of 10,000 at the template's defaults.
AWS_BACKLOG = 10_000
AWS_RATE = 14.0  # a common production rate: the one the backlog of issue #28 was measured at
AWS_GRACE = 900.0  # SweepGraceSeconds' default
AWS_SWEEP = 300.0  # SweepSchedule's default, rate(5 minutes)
SCALED_GRACE = 60  # SweepGraceSeconds' minimum
SCALED_SWEEP = round(AWS_SWEEP * SCALED_GRACE / AWS_GRACE)  # the same share of the grace: 20 s
_BULK_LIMIT = 1_000  # recipients per POST /jobs/bulk
_RESULT = "drain-result.json"


@dataclass(frozen=True)
class Drain:
    emails: int
    rate: float  # the rate set
    reported_rate: float | None  # what GetAccount answered
    seconds: float  # POST to the last sent_at
    worker_invocations: int
    worker_seconds: float  # the worker's invocations over the drain, wall time summed
    worker_memory_mb: int
    throttled: int  # SES's refusals for its rate
    retried: int  # jobs sent more than once attempted
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters set

    @property
    def ideal(self) -> float:
        return self.emails / self.rate

    @property
    def ratio(self) -> float:
        return self.seconds / self.ideal

    @property
    def goal_ratio(self) -> float:
        return goal_ratio(self.emails, self.rate)

    @property
    def worker_seconds_per_email(self) -> float:
        return self.worker_seconds / self.emails if self.emails else 0.0


def goal_ratio(emails: int, rate: float) -> float:
    """The contract's drain time (1.2 x N ÷ rate + 60 s) over the ideal (N ÷ rate)."""
    ideal = emails / rate
    return (SLACK * ideal + 60) / ideal


def scaled_backlog(rate: float) -> int:
    """Emails whose drain at ``rate`` stands to a 60 s grace as 10,000 at 14 a second to 900 s."""
    return round(AWS_BACKLOG * (rate * SCALED_GRACE) / (AWS_RATE * AWS_GRACE))


@dataclass(frozen=True)
class Sweep:
    backlog: int  # messages on the bulk queue when it began
    found: int  # jobs past their due time, as it answered
    queued: int  # messages it sent: jobs queued again
    requests: int  # its DynamoDB requests
    items_read: int


@dataclass(frozen=True)
class Backlog:
    emails: int
    rate: float
    seconds: float  # POST of the first bulk send to the last sent_at
    drained: bool
    sent: int
    sweeps: list[Sweep]

    @property
    def duplicates(self) -> int:
        return sum(s.queued for s in self.sweeps)

    @property
    def duplicates_per_email(self) -> float:
        return self.duplicates / self.emails if self.emails else 0.0


@dataclass(frozen=True)
class DrainFigure:
    drain: Drain
    backlog: Backlog | None = None


def from_json(data: dict[str, Any]) -> DrainFigure:
    drain = Drain(**data["drain"])
    backlog = None
    if data.get("backlog"):
        raw = dict(data["backlog"])
        raw["sweeps"] = [Sweep(**s) for s in raw["sweeps"]]
        backlog = Backlog(**raw)
    return DrainFigure(drain, backlog)


def printed_line(figure: DrainFigure) -> str:
    """``bulk drain ÷ ideal at SES's rate: N`` (issue #28's wording)."""
    return f"{HEADLINE}: {figure.drain.ratio:.2f}"


# ---------------------------------------------------------------- measuring (in a process of its own)
def _stack(workdir: Path, rate: float, *, parameters: dict[str, str], schedule_seconds: int | None) -> BenchStack:
    recording = prepare_recording(workdir)
    from local import motofix  # noqa: PLC0415 - moto only once its recorder is pointed at its file

    motofix.apply()
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
    logging.getLogger("local").setLevel(logging.ERROR)
    return BenchStack(
        workdir,
        recording,
        ses_rate=rate,
        parameters=parameters,
        schedule_seconds=schedule_seconds,
        functions_log=workdir / "functions.log",
    )


def _rate(bench: BenchStack, rate: float) -> float:
    """The rate GetAccount reads back: the one set, or the figure would measure another."""
    reported = bench.reported_send_rate()
    if reported is None or abs(reported - rate) > 1e-6:
        raise BenchError(f"the embedded SES reports a send rate of {reported}, not the {rate:g} set")
    return reported


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _post(bench: BenchStack, emails: int, tag: str) -> list[str]:
    token = bench.token([DRAIN_DOMAIN])
    job_ids: list[str] = []
    for start in range(0, emails, _BULK_LIMIT):
        size = min(_BULK_LIMIT, emails - start)
        answer = bench.post_bulk(token, bulk_request(DRAIN_DOMAIN, addresses(size, tag=f"{tag}-{start}")))
        job_ids += [str(j) for j in answer["job_ids"]]
    return job_ids


def _timeout(emails: int, rate: float) -> float:
    return 20 * emails / rate + 300


def measure_drain(workdir: Path, *, emails: int, rate: float) -> Drain:
    bench = _stack(workdir, rate, parameters={}, schedule_seconds=None)
    with (workdir / "functions.log").open("w", encoding="utf-8") as log:
        stdout, sys.stdout = sys.stdout, log
        try:
            bench.start()
            reported = _rate(bench, rate)
            run_id = uuid.uuid4().hex[:6]
            bench.wait_sent(_post(bench, 2, f"drain-warm-{run_id}"), timeout=120)  # cold starts, not timed
            time.sleep(2)  # SES's bucket full again
            used, seen = bench.usage_mark(), bench.observer.snapshot()
            posted = time.time()
            job_ids = _post(bench, emails, f"drain-{run_id}")
            jobs = bench.wait_sent(job_ids, timeout=_timeout(emails, rate), interval=0.5)
            last = max(_parse(str(job["sent_at"])).timestamp() for job in jobs)
            usage, after = bench.usage_since(used), bench.observer.snapshot()
            attempts = bench.jobs(job_ids, more=["attempts"])
            memory = bench.memory_mb("SendWorkerFunction")
        finally:
            bench.stop()
            sys.stdout = stdout
    return Drain(
        emails=emails,
        rate=rate,
        reported_rate=reported,
        seconds=last - posted,
        worker_invocations=usage.invocations.get("SendWorkerFunction", 0),
        worker_seconds=usage.seconds.get("SendWorkerFunction", 0.0),
        worker_memory_mb=memory,
        throttled=after.ses_throttled - seen.ses_throttled,
        retried=sum(1 for job in attempts if int(job.get("attempts") or 1) > 1),
        parameters=dict(bench.parameters),
    )


def measure_backlog(workdir: Path, *, emails: int, rate: float) -> Backlog:
    bench = _stack(workdir, rate, parameters={"SweepGraceSeconds": str(SCALED_GRACE)}, schedule_seconds=SCALED_SWEEP)
    with (workdir / "functions.log").open("w", encoding="utf-8") as log:
        stdout, sys.stdout = sys.stdout, log
        try:
            bench.start()
            _rate(bench, rate)
            bench.before_schedule = lambda: bench.backlog("BulkQueue")
            run_id = uuid.uuid4().hex[:6]
            posted = time.time()
            job_ids = _post(bench, emails, f"backlog-{run_id}")
            drained, jobs = True, []
            try:
                jobs = bench.wait_sent(job_ids, timeout=_timeout(emails, rate), interval=1.0)
            except BenchError:
                drained = False
                jobs = bench.jobs(job_ids)
            sent = [job for job in jobs if job.get("sent_at")]
            last = max((_parse(str(job["sent_at"])).timestamp() for job in sent), default=time.time())
            sweeps = [
                Sweep(
                    backlog=int(run.noted or 0),
                    found=int((run.payload or {}).get("found", 0)),
                    queued=run.tally.messages_sent,
                    requests=run.tally.dynamodb_requests,
                    items_read=run.tally.items_read,
                )
                for run in bench.scheduled
                if isinstance(run.payload, dict)
            ]
        finally:
            bench.stop()
            sys.stdout = stdout
    return Backlog(emails, rate, last - posted, drained, len(sent), sweeps)


def main(argv: list[str] | None = None) -> int:
    """The child process: ``--part drain|backlog``; writes its result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drain")
    parser.add_argument("--part", choices=["drain", "backlog"], required=True)
    parser.add_argument("--emails", type=int, required=True)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.part == "drain":
            result: Any = measure_drain(args.workdir, emails=args.emails, rate=args.rate)
        else:
            result = measure_backlog(args.workdir, emails=args.emails, rate=args.rate)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    (args.workdir / _RESULT).write_text(json.dumps(dataclasses.asdict(result)), encoding="utf-8")
    return 0


def _child(part: str, *, emails: int, rate: float, workdir: Path, timeout: float) -> dict[str, Any]:
    where = Path(tempfile.mkdtemp(prefix=f"{part}-", dir=workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "MOTO_"))}
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "benchmarks.drain",
            "--part",
            part,
            "--emails",
            str(emails),
            "--rate",
            f"{rate:g}",
            "--workdir",
            str(where),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"figure 10's {part} failed: {done.stderr.strip()[-600:]}")
    loaded: dict[str, Any] = json.loads((where / _RESULT).read_text(encoding="utf-8"))
    return loaded


def measure(workdir: Path, *, emails: int, backlog: int | None, rate: float = DEFAULT_RATE) -> DrainFigure:
    """Both parts, each in a process of its own; ``backlog``: its emails (None: scaled from 10,000; 0: none)."""
    drain = _child("drain", emails=emails, rate=rate, workdir=workdir, timeout=_timeout(emails, rate) + 300)
    data: dict[str, Any] = {"drain": drain}
    size = scaled_backlog(rate) if backlog is None else backlog
    if size:
        data["backlog"] = _child("backlog", emails=size, rate=rate, workdir=workdir, timeout=_timeout(size, rate) + 300)
    return from_json(data)


# ---------------------------------------------------------------- its part of the page
def summary_rows(f: DrainFigure) -> list[SummaryRow]:
    d = f.drain
    rows = [
        SummaryRow(
            "10. Drain",
            f"bulk send of {d.emails:,} at SES's rate ({d.rate:g}/s), POST to all sent",
            f"{d.seconds:,.1f} s",
            f"ideal {d.ideal:,.1f} s (goal ≤ {d.goal_ratio:.2f}x)",
            d.ratio,
        )
    ]
    if f.backlog is not None:
        b = f.backlog
        rows.append(
            SummaryRow(
                "10. Drain",
                f"duplicate messages the sweeper queued per email, backlog of {b.emails:,} (scaled from 10,000)",
                f"{b.duplicates_per_email:.2f}",
                "goal 0",
                None,
            )
        )
    return rows


def notes(f: DrainFigure) -> list[str]:
    d = f.drain
    found = []
    if d.ratio > d.goal_ratio:
        found.append(
            f"- **Drain**: a bulk send of {d.emails:,} took {d.seconds:,.0f} s at SES's {d.rate:g} emails a second,"
            f" {d.ratio:.2f}x the ideal {d.ideal:,.0f} s (goal ≤ {d.goal_ratio:.2f}x: 1.2 x ideal + 60 s):"
            f" {d.emails / d.seconds:.1f} emails a second, {d.emails / d.seconds / d.rate:.0%} of the rate"
            f" ({d.throttled:,} sends throttled by SES) (figure 10)."
        )
    if f.backlog is not None and f.backlog.duplicates:
        b = f.backlog
        found.append(
            f"- **Sweeper**: under a backlog of {b.emails:,} (10,000 scaled) it queued {b.duplicates:,} jobs again"
            f" whose message still waited, {b.duplicates_per_email:.2f} duplicate messages per email (figure 10)."
        )
    return found


def section(f: DrainFigure) -> str:
    d = f.drain
    met = d.ratio <= d.goal_ratio
    if d.reported_rate is None:
        source = f"the embedded SES's own, set to {d.rate:g}; `GetAccount` did not answer it"
    else:
        source = f"the embedded SES's own, set to {d.rate:g} and read back with `GetAccount` ({d.reported_rate:g})"
    parameters = ", ".join(f"`{k}={v}`" for k, v in sorted(d.parameters.items())) or "none"
    rows = [
        ["emails", f"{d.emails:,}"],
        ["SES's rate", f"{d.rate:g} emails a second: {source}"],
        ["template parameters set", parameters],
        ["ideal at SES's rate", f"{d.ideal:,.1f} s"],
        ["POST to the last `sent_at`", f"{d.seconds:,.1f} s ({d.emails / d.seconds:,.1f} emails a second)"],
        ["÷ ideal", f"**{d.ratio:.2f}x**"],
        [
            "goal: 1.2 x ideal + 60 s",
            f"{SLACK * d.ideal + 60:,.1f} s, {d.goal_ratio:.2f}x: **{'met' if met else 'not met'}**",
        ],
        ["SES's refusals for its rate (`TooManyRequestsException`)", f"{d.throttled:,}"],
        ["jobs attempted more than once", f"{d.retried:,}"],
        [
            "the worker's invocations, their wall time",
            f"{d.worker_invocations:,}, {d.worker_seconds:,.1f} s ({1000 * d.worker_seconds_per_email:,.0f} ms per"
            f" email at {d.worker_memory_mb} MB: figure 6's cost)",
        ],
    ]
    text = [
        "## 10. Drain at SES's rate",
        "",
        "A bulk send of one domain alone, on a local stack of its own whose embedded SES has a sending rate, set",
        "explicitly and read back with SES v2 `GetAccount`, which the workers read too and pace to (no template",
        "parameter stands in for the account's rate). Timed from the `POST /jobs/bulk` to the last",
        "`sent_at` its jobs record. The contract: N emails drain in at most 1.2 x N ÷ rate seconds plus a",
        "minute, one bulk send alone using all of the rate. Locally each queue's event source has one execution",
        "environment (in AWS up to `BulkMaximumConcurrency` run at once).",
        "",
        table(["", "value"], rows),
        "",
        "```",
        printed_line(f),
        "```",
        "",
    ]
    if f.backlog is not None:
        b = f.backlog
        sweep_rows = [
            [str(i + 1), f"{s.backlog:,}", f"{s.found:,}", f"{s.queued:,}", f"{s.requests:,}", f"{s.items_read:,}"]
            for i, s in enumerate(b.sweeps)
        ]
        drained = (
            f"drained in {b.seconds:,.0f} s"
            if b.drained
            else f"not drained within {_timeout(b.emails, b.rate):,.0f} s ({b.sent:,} sent)"
        )
        text += [
            "### A backlog, and the sweeper",
            "",
            f"A bulk backlog of {AWS_BACKLOG:,} at the template's defaults ({AWS_RATE:g} emails a second, a job due",
            f"again {AWS_GRACE:,.0f} s after it was queued, a sweep every {AWS_SWEEP / 60:.0f} minutes) keeps its last",
            f"jobs queued {AWS_BACKLOG / AWS_RATE:,.0f} s at the full rate, and longer when the workers use less of",
            "it: past the grace, a sweep meets jobs past their due time whose first message still waits in the queue.",
            f"It is reproduced here on a scale this machine runs: the grace at its minimum ({SCALED_GRACE} s,",
            f"`SweepGraceSeconds`), a sweep every {SCALED_SWEEP} s (the same share of the grace), and"
            f" {b.emails:,} emails at {b.rate:g} a second,",
            f"which keeps the backlog's drain time in the same ratio to the grace ({AWS_BACKLOG:,} x {b.rate:g} x"
            f" {SCALED_GRACE} ÷ ({AWS_RATE:g} x {AWS_GRACE:,.0f})). Each job the sweeper queues again here still",
            "had its message: a duplicate, which a worker receives and claims in vain. Each sweep's DynamoDB",
            "requests and items read (its own SDK calls) are set beside the backlog it found: they should grow",
            "with the jobs due, not the backlog.",
            "",
            f"{b.emails:,} emails, {drained}; the sweeper queued {b.duplicates:,} jobs again:"
            f" **{b.duplicates_per_email:.2f} duplicate messages per email**.",
            "",
            table(
                [
                    "sweep",
                    "messages on the bulk queue",
                    "jobs past due",
                    "queued again",
                    "DynamoDB requests",
                    "items read",
                ],
                sweep_rows,
            )
            if sweep_rows
            else "No sweep ran before the backlog drained.",
            "",
        ]
    return "\n".join(text)


if __name__ == "__main__":
    sys.exit(main())
